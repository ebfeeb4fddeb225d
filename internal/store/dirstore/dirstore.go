// Package dirstore keeps a log's public tree in a local directory: the
// writer's Storage driver for a disk. The durable writes themselves
// (atomic creation, one flush per batch, the platform's fast paths) are
// internal/durable's; this package adds the store's rules: paths stay
// inside the root, and an immutable file is never given other bytes.
package dirstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/citylog/citylog/internal/durable"
	"github.com/citylog/citylog/internal/store"
)

// ErrImmutable reports an attempt to put different bytes at a path that
// already holds a file that must never change.
var ErrImmutable = store.ErrImmutable

// Store is a directory holding a log's public tree. It is safe for
// concurrent use.
type Store struct {
	root  string
	batch *durable.Batch
}

// New returns a Store rooted at dir, which must exist.
func New(dir string) (*Store, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("couldn't open store: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("couldn't open store: %s is not a directory", dir)
	}
	return &Store{root: dir, batch: durable.NewBatch(dir)}, nil
}

// Root returns the store's directory.
func (s *Store) Root() string { return s.root }

func (s *Store) path(p string) (string, error) {
	if !fs.ValidPath(p) || p == "." {
		return "", fmt.Errorf("invalid store path %q", p)
	}
	return filepath.Join(s.root, filepath.FromSlash(p)), nil
}

// ReadFile returns the file at p; a missing file is an error wrapping
// fs.ErrNotExist.
func (s *Store) ReadFile(_ context.Context, p string) ([]byte, error) {
	full, err := s.path(p)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(full)
}

// CreateFile makes p hold data. If p exists with the same bytes nothing
// happens (a recovered batch writes the same files again); with other
// bytes it fails with ErrImmutable and leaves p as it was. The file is
// durable only after Sync.
//
// Readers never see a partial file (see durable.Batch.Create).
func (s *Store) CreateFile(_ context.Context, p string, data []byte) error {
	full, err := s.path(p)
	if err != nil {
		return err
	}
	err = s.batch.Create(full, data, 0o644)
	if errors.Is(err, fs.ErrExist) {
		old, rerr := os.ReadFile(full)
		if rerr != nil {
			return fmt.Errorf("couldn't read existing %s: %w", p, rerr)
		}
		if !bytes.Equal(old, data) {
			return fmt.Errorf("%s: %w", p, ErrImmutable)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("couldn't create %s: %w", p, err)
	}
	return nil
}

// PutFile atomically replaces p with data (temporary file, rename); it is
// durable after Sync.
func (s *Store) PutFile(_ context.Context, p string, data []byte) error {
	full, err := s.path(p)
	if err != nil {
		return err
	}
	if err := s.batch.Put(full, data, 0o644); err != nil {
		return fmt.Errorf("couldn't write %s: %w", p, err)
	}
	return nil
}

// ReplaceFile atomically replaces p with data and makes it durable before
// returning: readers see the old or the new bytes, never a mix, and never
// a file that a crash could take back.
func (s *Store) ReplaceFile(_ context.Context, p string, data []byte) error {
	full, err := s.path(p)
	if err != nil {
		return err
	}
	return durable.WriteFile(full, data, 0o644)
}

// SwapFile is ReplaceFile: on a directory one writer holds the lock, so
// there is no other writer to lose to.
func (s *Store) SwapFile(ctx context.Context, p string, data []byte) error {
	return s.ReplaceFile(ctx, p, data)
}

// RemoveFile removes p; a missing file is not an error.
func (s *Store) RemoveFile(_ context.Context, p string) error {
	full, err := s.path(p)
	if err != nil {
		return err
	}
	if err := os.Remove(full); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("couldn't remove %s: %w", p, err)
	}
	return nil
}

// RemoveTemps removes the temporary files a crash left where the store
// writes replaced files (the root, with the checkpoint, and the index
// directories below index/); it returns how many. Call it at start, under
// the writer's lock. (On Linux, tiles and bundles never have temporary
// files: they are unnamed until complete.)
func (s *Store) RemoveTemps() (int, error) {
	n, err := durable.RemoveTemps(s.root)
	if err != nil {
		return n, err
	}
	err = filepath.WalkDir(filepath.Join(s.root, "index"), func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || !d.IsDir() {
			return err
		}
		k, err := durable.RemoveTemps(path)
		n += k
		return err
	})
	return n, err
}

// RemoveAll removes the directory p and everything under it; a missing
// directory is not an error.
func (s *Store) RemoveAll(_ context.Context, p string) error {
	full, err := s.path(p)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(full); err != nil {
		return fmt.Errorf("couldn't remove %s: %w", p, err)
	}
	return nil
}

// Sync makes every file created or put so far durable (on Linux, one
// syncfs(2) for the whole file system).
func (s *Store) Sync(context.Context) error {
	return s.batch.Sync()
}
