package durable

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestWriteFileReplacesWhole(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "checkpoint")
	for _, data := range []string{"first, the longer one", "second"} {
		if err := WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(path); err != nil || string(got) != data {
			t.Fatalf("file holds %q, %v; want %q", got, err, data)
		}
	}
	assertOnly(t, dir, "checkpoint")
	if err := WriteFile(filepath.Join(dir, "no", "such", "dir"), nil, 0o600); err == nil || !strings.Contains(err.Error(), "couldn't write") {
		t.Errorf("write into a missing directory: %v", err)
	}
}

func TestBatchCreateNeverReplaces(t *testing.T) {
	root := t.TempDir()
	b := NewBatch(root)
	path := filepath.Join(root, "tile", "0", "x001", "000")
	if err := b.Create(path, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := b.Create(path, []byte("two"), 0o644); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second create: %v, want fs.ErrExist", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "one" {
		t.Errorf("file now holds %q", got)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v; want 0644", st.Mode().Perm(), err)
	}
	assertOnly(t, filepath.Dir(path), "000")
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
}

// TestBatchConcurrent: many goroutines creating files in the same new
// directories, as the writer's uploads do, and racing on one name: one
// creation of each name wins, the others see fs.ErrExist.
func TestBatchConcurrent(t *testing.T) {
	root := t.TempDir()
	b := NewBatch(root)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := map[string]int{}
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				name := filepath.Join(root, "tile", fmt.Sprint(i%5), fmt.Sprintf("%03d", i))
				err := b.Create(name, []byte(fmt.Sprint(g)), 0o644)
				if err != nil && !errors.Is(err, fs.ErrExist) {
					t.Error(err)
				}
				if err == nil {
					mu.Lock()
					wins[name]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(wins) != 50 {
		t.Errorf("%d names created, want 50", len(wins))
	}
	for name, n := range wins {
		if n != 1 {
			t.Errorf("%s created %d times", name, n)
		}
	}
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
}

func TestBatchPut(t *testing.T) {
	root := t.TempDir()
	b := NewBatch(root)
	path := filepath.Join(root, "index", "ids", "0")
	for _, data := range []string{"a", "bb", ""} {
		if err := b.Put(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(path); string(got) != data {
			t.Fatalf("file holds %q, want %q", got, data)
		}
	}
	assertOnly(t, filepath.Dir(path), "0")
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
}

func TestLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	unlock, err := Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Lock(path)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), fmt.Sprint(os.Getpid())) {
		t.Fatalf("second lock: %v, want ErrLocked naming pid %d", err, os.Getpid())
	}
	unlock()
	unlock2, err := Lock(path)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock2()
}

// TestOverwriteKeepsTheFile: Overwrite must leave exactly the last bytes
// written, longer or shorter, in the same file: it frees no inode.
func TestOverwriteKeepsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "slot")
	var first os.FileInfo
	for i, data := range []string{"first, fairly long content", "short", "a third write, longer than the second"} {
		half := len(data) / 2
		if err := Overwrite(path, 0o600, []byte(data[:half]), []byte(data[half:])); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != data {
			t.Fatalf("write %d: file holds %q, %v; want %q", i, got, err, data)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("mode %v, want 0600", st.Mode().Perm())
		}
		if first == nil {
			first = st
		} else if !os.SameFile(first, st) {
			t.Fatalf("write %d replaced the file", i)
		}
	}
}

func TestScratchLeavesNoName(t *testing.T) {
	dir := t.TempDir()
	f, err := Scratch(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("spooled"); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 7)
	if _, err := f.ReadAt(got, 0); err != nil || string(got) != "spooled" {
		t.Fatalf("read back %q, %v", got, err)
	}
	assertOnly(t, dir)
}

// assertOnly fails unless dir holds exactly names (no temporary files).
func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if fmt.Sprint(got) != fmt.Sprint(names) {
		t.Errorf("%s holds %v, want %v", dir, got, names)
	}
}
