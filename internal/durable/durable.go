// Package durable owns every write that must survive a crash, for the
// writer (citylog) and for the verifier side (the monitor's and the
// witness's state, the mirror): a file appears whole or not at all, and
// once a call that promises durability returns, a power cut cannot take
// it back.
//
// The sequences, per platform:
//
//   - WriteFile: a temporary file in the same directory, written, fsynced,
//     renamed over the target, then the directory fsynced (on Windows:
//     FlushFileBuffers, then MoveFileEx with MOVEFILE_WRITE_THROUGH, which
//     is what makes a rename durable there; directories cannot be synced).
//   - Batch: many new files made durable together. On Linux a file is an
//     unnamed O_TMPFILE inode linked into place when complete (a crash
//     leaves no temporary file) and one syncfs(2) flushes the whole batch;
//     elsewhere each file is fsynced before it is linked or moved into
//     place without replacing, and Sync fsyncs the directories touched.
//   - Overwrite: in place, then fdatasync (fsync where there is none), for
//     files rewritten many times a second whose torn states the caller
//     detects.
//
// Build with the tag citylog_portable to use the code of the other
// platforms on Linux: the tests run both.
//
// BUG(durable): outside Linux, a crash while a Batch creates a file can
// leave its temporary file (.tmp-*) in that file's directory; RemoveTemps
// clears the directories it is given, and static hosts never serve
// dot-files of ours.
//
// BUG(durable): on Windows a rename fails while another process holds the
// target open without FILE_SHARE_DELETE (Go's own os.Open does not grant
// it); WriteFile retries for a short while and then reports the error.
package durable

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// WriteFile atomically replaces path with data and makes the new bytes
// durable before it returns: readers see the old file or the new one,
// never a mix, and a crash keeps whichever the last return promised.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("couldn't write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op after the rename
	if err := writeAndSync(f, data, perm); err != nil {
		return fmt.Errorf("couldn't write %s: %w", path, err)
	}
	if err := replace(tmp, path); err != nil {
		return fmt.Errorf("couldn't write %s: %w", path, err)
	}
	return SyncDir(dir)
}

// writeAndSync fills a new file, sets its mode, fsyncs and closes it.
func writeAndSync(f *os.File, data []byte, perm os.FileMode) error {
	err := f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// SyncDir fsyncs a directory, making the names created, renamed or removed
// in it durable. On Windows, where directories cannot be synced, it does
// nothing: the renames of this package are write-through there.
func SyncDir(dir string) error {
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("couldn't sync directory %s: %w", dir, err)
	}
	return nil
}

// Overwrite writes the parts, one after another, over the start of path
// in place, cuts the file to their length and syncs its data; the file is
// created (and its directory synced) only the first time. Unlike WriteFile
// it frees no inode, which matters for a file rewritten many times a
// second: on ext4 without a journal every new inode allocation steps over
// the inodes of its block group freed in the last minute (six while their
// inode table block is dirty; recently_deleted in fs/ext4/ialloc.c). The
// price is that a crash mid-write can leave the file torn, so callers must
// detect that (a checksum) and keep what they cannot afford to lose
// elsewhere.
func Overwrite(path string, perm os.FileMode, parts ...[]byte) error {
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
	if err := syncData(f); err != nil {
		return fmt.Errorf("couldn't sync %s: %w", path, err)
	}
	if created {
		return SyncDir(filepath.Dir(path))
	}
	return nil
}

// Batch creates and replaces files under one root and makes them all
// durable at once with Sync: a log's batch writes thousands of tiles and
// bundles, and one flush for all of them is what makes an import of a
// million entries take seconds. It is safe for concurrent use.
type Batch struct {
	root string
	mu   sync.Mutex
	dirs map[string]bool // directories whose entries Sync must flush (portable code)
}

// NewBatch returns a batch of files under root, which must exist.
func NewBatch(root string) *Batch { return &Batch{root: root, dirs: map[string]bool{}} }

// Create makes path hold data, complete, if path does not exist yet;
// otherwise it fails with an error wrapping fs.ErrExist and leaves the
// file as it was. Missing directories are created. The file is durable
// only after Sync.
func (b *Batch) Create(path string, data []byte, perm os.FileMode) error {
	err := b.createNew(path, data, perm)
	if errors.Is(err, fs.ErrNotExist) {
		if err = b.mkdirAll(filepath.Dir(path)); err == nil {
			err = b.createNew(path, data, perm)
		}
	}
	return err
}

// Put atomically replaces path with data (a temporary file, then a
// rename); it is durable only after Sync. Missing directories are created.
func (b *Batch) Put(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := b.mkdirAll(dir); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	if err := b.fill(f, data, perm); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := replace(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	b.touched(dir)
	return nil
}

// Sync makes every Create and Put that returned before it durable.
func (b *Batch) Sync() error {
	if err := b.sync(); err != nil {
		return fmt.Errorf("couldn't sync %s: %w", b.root, err)
	}
	return nil
}

// mkdirAll creates dir and its missing parents, noting each directory
// whose entries changed.
func (b *Batch) mkdirAll(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := b.mkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	b.touched(filepath.Dir(dir))
	return nil
}

// touched notes that dir's entries changed, for the portable Sync.
func (b *Batch) touched(dir string) {
	if !needDirSync {
		return
	}
	b.mu.Lock()
	b.dirs[dir] = true
	b.mu.Unlock()
}

// syncTouched fsyncs every directory noted since the last call.
func (b *Batch) syncTouched() error {
	b.mu.Lock()
	dirs := b.dirs
	b.dirs = map[string]bool{}
	b.mu.Unlock()
	for d := range dirs {
		if err := syncDir(d); err != nil {
			b.mu.Lock()
			for d := range dirs { // try them all again next time
				b.dirs[d] = true
			}
			b.mu.Unlock()
			return err
		}
	}
	return nil
}

// ErrLocked reports that another process holds a lock.
var ErrLocked = errors.New("locked by another process")

// Lock takes an exclusive, non-blocking lock on path (created if needed)
// and records the holder's process id in it. A second holder fails at once
// with an error wrapping ErrLocked that names the first one. The lock goes
// away with the process, so a crash never leaves a stale lock behind.
func Lock(path string) (unlock func() error, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("couldn't open lock file: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, ErrLocked) {
			return nil, fmt.Errorf("%w: %s is held by process %s", ErrLocked, path, holder(path))
		}
		return nil, fmt.Errorf("couldn't lock %s: %w", path, err)
	}
	writePID(f)
	return f.Close, nil // closing the descriptor releases the lock
}

// IsTemp reports whether name is one of the temporary files this package
// creates (and a crash may leave behind): ".<name>.tmp-*", ".tmp-*" or
// ".scratch-*".
func IsTemp(name string) bool {
	return strings.HasPrefix(name, ".") && (strings.Contains(name, ".tmp-") || strings.HasPrefix(name, ".scratch-"))
}

// RemoveTemps removes the temporary files a crash left in dir (not below
// it) and returns how many it removed. Call it only where no write is in
// progress: at start, under the writer's lock.
func RemoveTemps(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if e.Type().IsRegular() && IsTemp(e.Name()) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// Scratch returns a new file in dir for data that must not outlive the
// process: it has no name (or loses it at once), so no crash leaves it
// behind. Closing it frees its space.
func Scratch(dir string) (*os.File, error) {
	f, err := scratch(dir)
	if err != nil {
		return nil, fmt.Errorf("couldn't create a scratch file in %s: %w", dir, err)
	}
	return f, nil
}

func writePID(f *os.File) {
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(fmt.Sprintf("%d\n", os.Getpid())), 0)
	}
}

// holder returns the process id a lock file records.
func holder(path string) string {
	b, _ := os.ReadFile(path)
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	if len(b) == 0 {
		return "unknown"
	}
	return string(b)
}
