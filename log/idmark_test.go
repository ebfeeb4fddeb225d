package log

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
)

func TestParseIndexMark(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want indexMark
		ok   bool
	}{
		{"rewrite 8 9\n", indexMark{widths: []int{8, 9}}, true},
		{"cleanup 4\n", indexMark{cleanup: true, widths: []int{4}}, true},
		{"rewrite\n", indexMark{}, true},
		{"", indexMark{}, false},            // citylog's first marks were empty
		{"rewrite 8 9", indexMark{}, false}, // cut short
		{"rewrite 3\n", indexMark{}, false},
		{"rewrite 17\n", indexMark{}, false},
		{"rewrite x\n", indexMark{}, false},
		{"tidy 8\n", indexMark{}, false},
	} {
		got, ok := parseIndexMark(tc.in)
		if ok != tc.ok || got.cleanup != tc.want.cleanup || !slices.Equal(got.widths, tc.want.widths) {
			t.Errorf("parseIndexMark(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzParseIndexMark: parsing never panics, and a mark that parses
// encodes back to a mark that parses the same.
func FuzzParseIndexMark(f *testing.F) {
	for _, s := range []string{"rewrite 8 9\n", "cleanup 4 12 16\n", "rewrite\n", "", "rewrite  8\t9\n", "cleanup -4\n", "rewrite 08\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, ok := parseIndexMark(s)
		if !ok {
			return
		}
		again, ok := parseIndexMark(m.marshal())
		if !ok || again.cleanup != m.cleanup || !slices.Equal(again.widths, m.widths) {
			t.Fatalf("%q parses to %+v, which encodes to %q", s, m, m.marshal())
		}
	})
}

// faultyIndexStore makes PutFile fail from the failPut-th call on and
// RemoveFile fail while failRemove is set: a crash or a full disk during
// a split, a rebuild or its cleanup.
type faultyIndexStore struct {
	Storage
	puts       atomic.Int64
	failPut    atomic.Int64
	failRemove atomic.Bool
}

func (s *faultyIndexStore) PutFile(ctx context.Context, p string, b []byte) error {
	if n, at := s.puts.Add(1), s.failPut.Load(); at > 0 && n >= at {
		return errInjected
	}
	return s.Storage.PutFile(ctx, p, b)
}

func (s *faultyIndexStore) RemoveFile(ctx context.Context, p string) error {
	if s.failRemove.Load() {
		return errInjected
	}
	return s.Storage.RemoveFile(ctx, p)
}

// shardCounts returns how many shard files of 1 to 4 hex digits a log's
// public identifier index holds.
func shardCounts(t *testing.T, dir string) [5]int {
	t.Helper()
	var n [5]int
	for name := range indexFiles(t, dir) {
		if name != "meta" && len(name) <= 4 {
			n[len(name)]++
		}
	}
	return n
}

// TestIndexCleanupSurvivesFaults: whatever cuts a split, a rebuild or
// their cleanup short, later publications leave only the shards of the
// published width.
func TestIndexCleanupSurvivesFaults(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, w *Writer, st *faultyIndexStore, dir string, width *int)
		want [5]int // shard files of 1-4 digits at the end
	}{
		{
			// The split writes the highest shards first, so shard 0 of the
			// new width is missing; then a larger import widens further.
			name: "split cut off, then a wider rebuild",
			run: func(t *testing.T, w *Writer, st *faultyIndexStore, dir string, width *int) {
				*width = 9
				mustAllocate(t, w, genRequests(500, 100))
				st.failPut.Store(st.puts.Load() + 300)
				if err := w.PublishIDIndex(ctx); !errors.Is(err, errInjected) {
					t.Fatalf("split: %v", err)
				}
				st.failPut.Store(0)
				*width = 13
			},
			want: [5]int{4: 8192},
		},
		{
			// A damaged meta: a rebuild not started by a split.
			name: "rebuild's cleanup fails",
			run: func(t *testing.T, w *Writer, st *faultyIndexStore, dir string, width *int) {
				if err := os.WriteFile(filepath.Join(dir, PublicDir, "index/ids/meta"), []byte("garbage"), 0o644); err != nil {
					t.Fatal(err)
				}
				*width = 9
				st.failRemove.Store(true)
				if err := w.PublishIDIndex(ctx); !errors.Is(err, errInjected) {
					t.Fatalf("rebuild: %v", err)
				}
				st.failRemove.Store(false)
				if m := publishedMeta(t, dir); m.Bits != 9 {
					t.Fatalf("meta %+v after the rebuild", m)
				}
			},
			want: [5]int{3: 512},
		},
		{
			// Fewer bits with as many hex digits: shards 32-255 go.
			name: "rebuild to a narrower width",
			run: func(t *testing.T, w *Writer, st *faultyIndexStore, dir string, width *int) {
				*width = 5
			},
			want: [5]int{2: 32},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := newLog(t)
			st := &faultyIndexStore{Storage: mustStore(t, filepath.Join(dir, PublicDir))}
			w, err := Open(ctx, Config{Dir: dir, Now: fixedClock(), Store: st})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			width := 8
			w.shardBits = func(uint64) int { return width }
			mustAllocate(t, w, genRequests(0, 500))
			if err := w.PublishIDIndex(ctx); err != nil {
				t.Fatal(err)
			}
			tc.run(t, w, st, dir, &width)
			var res []Result
			for i := range 2 {
				res = mustAllocate(t, w, genRequests(700+10*i, 10))
				if err := w.PublishIDIndex(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if got := shardCounts(t, dir); got != tc.want {
				t.Errorf("shards of 1-4 digits: %v, want %v", got[1:], tc.want[1:])
			}
			if _, err := os.Stat(filepath.Join(dir, StateDir, idSplitFile)); err == nil {
				t.Error("the mark survived")
			}
			if got := lookupPublished(t, dir, "geonames:711"); len(got) != 1 || got[0] != res[0].Index {
				t.Errorf("geonames:711 -> %v, want [%d]", got, res[0].Index)
			}
		})
	}
}
