package dirstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
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
