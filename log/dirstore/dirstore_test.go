package dirstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestCreateFileNeverReplaces(t *testing.T) {
	ctx := context.Background()
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateFile(ctx, "tile/0/x001/000", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateFile(ctx, "tile/0/x001/000", []byte("one")); err != nil {
		t.Errorf("same bytes again: %v", err)
	}
	if err := s.CreateFile(ctx, "tile/0/x001/000", []byte("two")); !errors.Is(err, ErrImmutable) {
		t.Errorf("other bytes: %v, want ErrImmutable", err)
	}
	if b, _ := s.ReadFile(ctx, "tile/0/x001/000"); string(b) != "one" {
		t.Errorf("file now holds %q", b)
	}
	entries, _ := os.ReadDir(filepath.Join(s.Root(), "tile/0/x001"))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	for _, p := range []string{"../escape", "/abs", "", "a/../../b"} {
		if err := s.CreateFile(ctx, p, nil); err == nil || !strings.Contains(err.Error(), "invalid store path") {
			t.Errorf("path %q: %v", p, err)
		}
	}
}

func TestPutAndReplace(t *testing.T) {
	ctx := context.Background()
	s, _ := New(t.TempDir())
	for _, data := range []string{"a", "bb"} {
		if err := s.PutFile(ctx, "index/ids/0", []byte(data)); err != nil {
			t.Fatal(err)
		}
		if err := s.ReplaceFile(ctx, "checkpoint", []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"index/ids/0", "checkpoint"} {
		if b, _ := s.ReadFile(ctx, p); string(b) != "bb" {
			t.Errorf("%s = %q", p, b)
		}
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := New(filepath.Join(s.Root(), "checkpoint")); err == nil {
		t.Error("a file accepted as a store directory")
	}
}

func TestLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	unlock, err := Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v", err)
	}
	unlock()
	unlock2, err := Lock(path)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock2()
}

// TestOverwriteDurableKeepsTheInode: the point of OverwriteDurable is to
// free no inode, so the file must stay the same inode, holding exactly
// the last bytes written, longer or shorter.
func TestOverwriteDurableKeepsTheInode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "slot")
	var ino uint64
	for i, data := range []string{"first, fairly long content", "short", "a third write, longer than the second"} {
		half := len(data) / 2
		if err := OverwriteDurable(path, 0o600, []byte(data[:half]), []byte(data[half:])); err != nil {
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
		n := st.Sys().(*syscall.Stat_t).Ino
		if i > 0 && n != ino {
			t.Fatalf("write %d replaced the file (inode %d -> %d)", i, ino, n)
		}
		ino = n
	}
}
