// Package dirstore keeps a log's files in a local directory. It owns every
// durable write the project makes to local disk: files appear atomically
// (temporary file, then link or rename) and become durable with one
// syncfs(2) per batch instead of an fsync per file, which is what makes
// importing a million entries in seconds possible.
package dirstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrImmutable reports an attempt to put different bytes at a path that
// already holds a file that must never change.
var ErrImmutable = errors.New("immutable file already exists with different bytes")

// Store is a directory holding a log's public tree. It is safe for
// concurrent use.
type Store struct {
	root string
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
	return &Store{root: dir}, nil
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
// The data goes into an unnamed O_TMPFILE inode that is linked into place
// only when complete: readers never see a partial file, a crash leaves no
// temporary file behind, and the link fails rather than replace.
func (s *Store) CreateFile(_ context.Context, p string, data []byte) error {
	full, err := s.path(p)
	if err != nil {
		return err
	}
	err = createTmpfile(full, data)
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

func createTmpfile(full string, data []byte) error {
	dir := filepath.Dir(full)
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err == unix.ENOENT {
		if err = os.MkdirAll(dir, 0o755); err == nil {
			fd, err = unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		}
	}
	if err != nil {
		return &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	for rest := data; len(rest) > 0; {
		n, err := unix.Write(fd, rest)
		if err != nil {
			return &fs.PathError{Op: "write", Path: full, Err: err}
		}
		rest = rest[n:]
	}
	// Linking an O_TMPFILE inode by its descriptor needs AT_EMPTY_PATH
	// (CAP_DAC_READ_SEARCH) or the /proc/self/fd path, which works for all.
	err = unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), unix.AT_FDCWD, full, unix.AT_SYMLINK_FOLLOW)
	if err != nil {
		return &fs.PathError{Op: "link", Path: full, Err: err}
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
	dir := filepath.Dir(full)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("couldn't write %s: %w", p, err)
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("couldn't write %s: %w", p, err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), full)
	}
	if err != nil {
		os.Remove(f.Name())
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
	return WriteFileDurable(full, data, 0o644)
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

// Sync makes every file written so far durable: one syncfs(2) flushes the
// whole file system, data and directory entries alike.
func (s *Store) Sync(context.Context) error {
	return SyncFS(s.root)
}

// WriteFileDurable atomically replaces path with data and fsyncs the file
// and its directory, so the new bytes survive a crash once it returns.
func WriteFileDurable(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("couldn't write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("couldn't write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("couldn't write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("couldn't sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("couldn't write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("couldn't write %s: %w", path, err)
	}
	return SyncDir(dir)
}

// OverwriteDurable writes the parts, one after another, over the start of
// path in place, cuts the file to their length and fdatasyncs it; the file
// is created (and its directory synced) only the first time. Unlike
// WriteFileDurable it frees no inode, which matters for a file rewritten
// many times a second: on ext4 without a journal every new inode
// allocation steps over the inodes of its block group freed in the last
// minute (six while their inode table block is dirty; recently_deleted in
// fs/ext4/ialloc.c). The price is that a crash mid-write can leave the
// file torn, so callers must detect that (a checksum) and keep what they
// cannot afford to lose elsewhere.
func OverwriteDurable(path string, perm os.FileMode, parts ...[]byte) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	created := false
	if errors.Is(err, fs.ErrNotExist) {
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		created = true
	}
	if err != nil {
		return fmt.Errorf("couldn't write %s: %w", path, err)
	}
	defer f.Close()
	var off int64
	for _, p := range parts {
		if _, err := f.WriteAt(p, off); err != nil {
			return fmt.Errorf("couldn't write %s: %w", path, err)
		}
		off += int64(len(p))
	}
	if err := f.Truncate(off); err != nil {
		return fmt.Errorf("couldn't write %s: %w", path, err)
	}
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return fmt.Errorf("couldn't sync %s: %w", path, err)
	}
	if created {
		return SyncDir(filepath.Dir(path))
	}
	return nil
}

// SyncDir fsyncs a directory, making renames and creations in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("couldn't sync directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("couldn't sync directory %s: %w", dir, err)
	}
	return nil
}

// SyncFS flushes the file system holding dir with syncfs(2).
func SyncFS(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("couldn't sync file system of %s: %w", dir, err)
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return fmt.Errorf("couldn't sync file system of %s: %w", dir, err)
	}
	return nil
}

// Lock takes an exclusive, non-blocking lock on path (created if needed)
// and records the holder's pid in it. A second writer fails at once with
// an error naming the holder. The lock goes away with the process, so a
// crash never leaves a stale lock behind.
func Lock(path string) (unlock func() error, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("couldn't open lock file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			pid := strings.TrimSpace(string(holder))
			if pid == "" {
				pid = "unknown"
			}
			return nil, fmt.Errorf("%w: %s is held by another citylog writer (pid %s); only one writer may run on a log", ErrLocked, path, pid)
		}
		return nil, fmt.Errorf("couldn't lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f.Close, nil // closing the descriptor releases the lock
}

// ErrLocked reports that another writer holds the log.
var ErrLocked = errors.New("log is locked")
