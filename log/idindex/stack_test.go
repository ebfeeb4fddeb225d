package idindex

import (
	"errors"
	"fmt"
	"github.com/citylog/citylog/internal/fptable"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func stackLookup(s *Stack, id string) []uint64 {
	var out []uint64
	s.Lookup(Fingerprint(id), func(leaf uint64) bool { out = append(out, leaf); return false })
	return out
}

func id(i uint64) string { return fmt.Sprint("geonames:", i) }

// TestStackSessions runs sessions of different sizes, as imports into a
// growing log would, and checks after each that every fingerprint is
// found, the levels follow the counter rule, and no stray file is left.
func TestStackSessions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ids.idx")
	s, err := CreateStack(path)
	if err != nil {
		t.Fatal(err)
	}
	size := uint64(0)
	for run, n := range []uint64{50000, 1000, 1000, 1000, 1000, 30000, 0, 70000, 5} {
		if run > 0 {
			if s, err = OpenStack(path, size); err != nil {
				t.Fatalf("run %d: %v", run, err)
			}
		}
		for i := size; i < size+n; i++ {
			if err := s.Insert(Fingerprint(id(i)), i); err != nil {
				t.Fatal(err)
			}
		}
		size += n
		if s.Len() != size {
			t.Fatalf("run %d: Len %d, want %d", run, s.Len(), size)
		}
		if err := s.CloseClean(size); err != nil {
			t.Fatal(err)
		}
		s, err = OpenStack(path, size)
		if err != nil {
			t.Fatalf("run %d: reopen: %v", run, err)
		}
		for _, i := range []uint64{0, 1, size / 2, size - 1} {
			if got := stackLookup(s, id(i)); !slices.Equal(got, []uint64{i}) {
				t.Errorf("run %d: lookup %d = %v", run, i, got)
			}
		}
		if got := stackLookup(s, "geonames:absent"); len(got) != 0 {
			t.Errorf("run %d: absent id found: %v", run, got)
		}
		for k := 1; k < len(s.levels); k++ {
			if s.levels[k].x.Len()*2 >= s.levels[k-1].x.Len() {
				t.Errorf("run %d: level %d (%d) is not less than half of the one below (%d)", run, k, s.levels[k].x.Len(), s.levels[k-1].x.Len())
			}
		}
		files, _ := filepath.Glob(path + "*")
		if len(files) != 1+len(s.levels) {
			t.Errorf("run %d: files %v for %d levels", run, files, len(s.levels))
		}
		s.Close()
	}
}

// TestStackOldestFirst: an identifier filed twice (by two sessions, as a
// reused leaf after a crash could) is reported oldest first, and found
// stops the search.
func TestStackOldestFirst(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ids.idx")
	s, _ := CreateStack(path)
	s.Insert(Fingerprint("x"), 7)
	if err := s.CloseClean(8); err != nil {
		t.Fatal(err)
	}
	s, err := OpenStack(path, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Insert(Fingerprint("x"), 9)
	if got := stackLookup(s, "x"); !slices.Equal(got, []uint64{7, 9}) {
		t.Errorf("lookup = %v, want [7 9]", got)
	}
	calls := 0
	s.Lookup(Fingerprint("x"), func(uint64) bool { calls++; return true })
	if calls != 1 {
		t.Errorf("found returned true, but was called %d times", calls)
	}
}

// TestStackCloseDrops: a session closed without CloseClean leaves the
// files as they were.
func TestStackCloseDrops(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ids.idx")
	s, _ := CreateStack(path)
	s.Insert(Fingerprint(id(1)), 1)
	if err := s.CloseClean(2); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	s, err := OpenStack(path, 2)
	if err != nil {
		t.Fatal(err)
	}
	s.Insert(Fingerprint(id(2)), 2)
	s.Close()
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Error("Close changed the manifest")
	}
	if s, err = OpenStack(path, 2); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := stackLookup(s, id(2)); len(got) != 0 {
		t.Errorf("dropped fingerprint found: %v", got)
	}
}

// TestStackDamaged: every damaged or foreign state is ErrStale (the
// writer then rebuilds from the log), never a wrong or partial index.
func TestStackDamaged(t *testing.T) {
	build := func(t *testing.T) string {
		path := filepath.Join(t.TempDir(), "ids.idx")
		s, _ := CreateStack(path)
		for i := uint64(0); i < 1000; i++ {
			s.Insert(Fingerprint(id(i)), i)
		}
		if err := s.CloseClean(1000); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		name   string
		damage func(path string) error
	}{
		{"missing manifest", func(p string) error { return os.Remove(p) }},
		{"missing level", func(p string) error { return os.Remove(p + ".1") }},
		{"truncated level", func(p string) error { return os.Truncate(p+".1", 1000) }},
		{"manifest cut short", func(p string) error { return os.Truncate(p, 20) }},
		{"manifest of another size", func(p string) error {
			return os.WriteFile(p, []byte(stackMagic+"\ncovered 999\nlevel 1 1000\n"), 0o600)
		}},
		{"count differs from the level's", func(p string) error {
			return os.WriteFile(p, []byte(stackMagic+"\ncovered 1000\nlevel 1 999\n"), 0o600)
		}},
		{"malformed level line", func(p string) error {
			return os.WriteFile(p, []byte(stackMagic+"\ncovered 1000\nlevel one 1000\n"), 0o600)
		}},
		{"single-table index of an older citylog", func(p string) error {
			x, err := fptable.Create(p)
			if err != nil {
				return err
			}
			return x.CloseClean(1000)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := build(t)
			if err := tc.damage(path); err != nil {
				t.Fatal(err)
			}
			if s, err := OpenStack(path, 1000); !errors.Is(err, ErrStale) {
				if err == nil {
					s.Close()
				}
				t.Fatalf("OpenStack = %v, want ErrStale", err)
			}
		})
	}
}

// TestStackRemovesStrayLevels: a level file a crash left behind, named by
// no manifest, is removed on open.
func TestStackRemovesStrayLevels(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ids.idx")
	s, _ := CreateStack(path)
	s.Insert(Fingerprint(id(1)), 1)
	if err := s.CloseClean(2); err != nil {
		t.Fatal(err)
	}
	for _, stray := range []string{path + ".7", path + ".1.tmp"} {
		if err := os.WriteFile(stray, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err := OpenStack(path, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if files, _ := filepath.Glob(path + "*"); !slices.Equal(files, []string{path, path + ".1"}) {
		t.Errorf("files after open: %v", files)
	}
}

// TestStackBoundedTop: a session that files more than its table may hold
// writes it out as levels as it goes, finds everything throughout, and
// leaves an index that follows the counter rule.
func TestStackBoundedTop(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ids.idx")
	s, err := CreateStack(path)
	if err != nil {
		t.Fatal(err)
	}
	s.SetMaxTop(1000)
	if err := s.Reserve(1 << 30); err != nil || s.top.Slots() > 1<<16 {
		t.Fatalf("Reserve past the bound: %v, %d slots", err, s.top.Slots())
	}
	const n = 10500
	for i := uint64(0); i < n; i++ {
		if err := s.Insert(Fingerprint(id(i)), i); err != nil {
			t.Fatal(err)
		}
		if s.top.Len() > 1000 {
			t.Fatalf("the session's table holds %d fingerprints", s.top.Len())
		}
	}
	if len(s.levels) != 10 || s.Len() != n {
		t.Fatalf("%d levels, Len %d", len(s.levels), s.Len())
	}
	for _, i := range []uint64{0, 999, 1000, 5555, n - 1} {
		if got := stackLookup(s, id(i)); !slices.Equal(got, []uint64{i}) {
			t.Errorf("during the session: lookup %d = %v", i, got)
		}
	}
	if err := s.CloseClean(n); err != nil {
		t.Fatal(err)
	}
	if s, err = OpenStack(path, n); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.levels) != 1 || s.Len() != n {
		t.Errorf("after close: %d levels, Len %d; want one level of %d", len(s.levels), s.Len(), n)
	}
	for i := uint64(0); i < n; i += 7 {
		if got := stackLookup(s, id(i)); !slices.Equal(got, []uint64{i}) {
			t.Fatalf("after close: lookup %d = %v", i, got)
		}
	}
	if files, _ := filepath.Glob(path + "*"); len(files) != 2 {
		t.Errorf("files %v", files)
	}
}
