package log

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenDamagedLog edits or truncates one file of a log at a time:
// Open must refuse with an error naming the problem, and change nothing.
func TestOpenDamagedLog(t *testing.T) {
	other := newLog(t) // a second log, for a checkpoint under another key
	for _, tc := range []struct {
		name   string
		damage func(dir string) error
		want   string
	}{
		{"truncated checkpoint", func(d string) error { return truncate(d, "public/checkpoint", 20) }, "does not verify"},
		{"foreign checkpoint", func(d string) error {
			b, _ := os.ReadFile(filepath.Join(other, "public/checkpoint"))
			return os.WriteFile(filepath.Join(d, "public/checkpoint"), b, 0o644)
		}, "does not verify"},
		{"edited hash tile", func(d string) error { return flip(d, "public/tile/0/002.p/88", 40) }, "edited or truncated"},
		{"truncated hash tile", func(d string) error { return truncate(d, "public/tile/0/002.p/88", 100) }, "tile/0/002.p/88"},
		{"missing level-1 tile", func(d string) error { return os.Remove(filepath.Join(d, "public/tile/1/000.p/2")) }, "tile/1/000.p/2"},
		{"edited bundle", func(d string) error { return flip(d, "public/tile/entries/002.p/88", 30) }, "does not hash"},
		{"truncated bundle", func(d string) error { return truncate(d, "public/tile/entries/002.p/88", 500) }, "tile/entries/002.p/88"},
		{"missing partial bundle", func(d string) error { return os.Remove(filepath.Join(d, "public/tile/entries/002.p/88")) }, "missing"},
		// One batch was staged, in slot 0: damage to it cannot be a torn
		// write (that would have left the checkpoint at size 0).
		{"damaged staging", func(d string) error { return flip(d, "state/staging.0", 100) }, "checksum"},
		{"truncated staging", func(d string) error { return truncate(d, "state/staging.0", 10) }, "damaged"},
		{"bad extra subdivisions", func(d string) error {
			return os.WriteFile(filepath.Join(d, "public/extra-subdivisions.txt"), []byte("CN-XQ\nbogus\n"), 0o644)
		}, "line 2"},
		{"damaged witness policy", func(d string) error {
			return os.WriteFile(filepath.Join(d, "state/witnesses.json"), []byte(`{"witnesses":[{"url":"http://w","vkey":"bad"}],"quorum":1}`), 0o600)
		}, "witness key"},
		{"bad key", func(d string) error {
			return os.WriteFile(filepath.Join(d, "state/key"), []byte("PRIVATE+KEY+x\n"), 0o600)
		}, "not a note signing key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := newLog(t)
			w := openLog(t, dir)
			mustAllocate(t, w, genRequests(0, 600))
			w.Close()
			if err := tc.damage(dir); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, dir)
			_, err := Open(context.Background(), Config{Dir: dir})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open = %v, want an error mentioning %q", err, tc.want)
			}
			if after := snapshot(t, dir); after != before {
				t.Error("a refused Open changed the public tree")
			}
		})
	}
}

// TestTornStagingSlot: a crash while staging batch N+1 tears the slot that
// held batch N-1; the other slot holds batch N, which the checkpoint
// covers, so Open must accept the torn slot, and the log must go on.
func TestTornStagingSlot(t *testing.T) {
	for _, tc := range []struct {
		name    string
		batches int
		torn    string
		damage  func(dir, rel string) error
		wantErr string
	}{
		{"older slot torn", 2, "state/staging.0", func(d, rel string) error { return flip(d, rel, 100) }, ""},
		{"older slot cut short", 2, "state/staging.0", func(d, rel string) error { return truncate(d, rel, 10) }, ""},
		{"first batch torn", 0, "state/staging.0", func(d, rel string) error {
			return os.WriteFile(filepath.Join(d, rel), []byte("citylog-stag"), 0o600)
		}, ""},
		{"newest slot damaged", 2, "state/staging.1", func(d, rel string) error { return flip(d, rel, 100) }, "checksum"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := newLog(t)
			w := openLog(t, dir)
			for i := range tc.batches {
				mustAllocate(t, w, genRequests(i*100, 100))
			}
			w.Close()
			if err := tc.damage(dir, tc.torn); err != nil {
				t.Fatal(err)
			}
			w, err := Open(context.Background(), Config{Dir: dir})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Open = %v, want an error mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open refused a slot a crash could have torn: %v", err)
			}
			defer w.Close()
			res := mustAllocate(t, w, genRequests(1000, 3))
			if want := uint64(tc.batches * 100); res[0].Index != want || res[0].Existing {
				t.Fatalf("after the torn slot: %+v, want new index %d", res[0], want)
			}
			if b, err := os.ReadFile(filepath.Join(dir, tc.torn)); err != nil || parseErr(b) != nil {
				t.Fatalf("the torn slot was not rewritten by the next batch: %v %v", err, parseErr(b))
			}
		})
	}
}

func parseErr(b []byte) error { _, err := parseStaging(b); return err }

func TestDamagedIndexIsRebuilt(t *testing.T) {
	dir := newLog(t)
	w := openLog(t, dir)
	mustAllocate(t, w, genRequests(0, 300))
	w.Close()
	if err := os.WriteFile(filepath.Join(dir, StateDir, indexFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	w = openLog(t, dir)
	defer w.Close()
	if res := mustAllocate(t, w, genRequests(5, 1)); !res[0].Existing || res[0].Index != 5 {
		t.Fatalf("after rebuild: %+v", res[0])
	}
}

func truncate(dir, rel string, n int64) error { return os.Truncate(filepath.Join(dir, rel), n) }

func flip(dir, rel string, at int) error {
	p := filepath.Join(dir, rel)
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	b[at] ^= 0x01
	return os.WriteFile(p, b, 0o644)
}

// snapshot lists the public tree's files and sizes.
func snapshot(t *testing.T, dir string) string {
	var sb strings.Builder
	filepath.Walk(filepath.Join(dir, PublicDir), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b, _ := os.ReadFile(p)
			sb.WriteString(p + ":" + string(b) + "\n")
		}
		return nil
	})
	return sb.String()
}
