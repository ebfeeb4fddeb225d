//go:build linux && !citylog_portable

package durable

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// needDirSync is false: syncfs flushes directory entries too.
const needDirSync = false

// createNew writes data into an unnamed O_TMPFILE inode and links it into
// place only when complete: readers never see a partial file, a crash
// leaves no temporary file behind, and the link fails rather than replace.
// File systems without O_TMPFILE get the portable sequence.
func (b *Batch) createNew(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err == unix.EOPNOTSUPP || err == unix.EISDIR {
		return b.createPortable(path, data, perm)
	}
	if err != nil {
		return &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	for rest := data; len(rest) > 0; {
		n, err := unix.Write(fd, rest)
		if err != nil {
			return &fs.PathError{Op: "write", Path: path, Err: err}
		}
		rest = rest[n:]
	}
	// Linking an O_TMPFILE inode by its descriptor needs AT_EMPTY_PATH
	// (CAP_DAC_READ_SEARCH) or the /proc/self/fd path, which works for all.
	err = unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
	if err != nil {
		return &fs.PathError{Op: "link", Path: path, Err: err}
	}
	return nil
}

// fill writes a Put's temporary file; Sync's syncfs makes it durable.
func (b *Batch) fill(f *os.File, data []byte, perm os.FileMode) error {
	err := f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// sync flushes the file system holding the batch with one syncfs(2), data
// and directory entries alike (and whatever the portable fallback noted).
func (b *Batch) sync() error {
	d, err := os.Open(b.root)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return &fs.PathError{Op: "syncfs", Path: b.root, Err: err}
	}
	b.mu.Lock()
	clear(b.dirs)
	b.mu.Unlock()
	return nil
}

func syncData(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }

// scratch opens an O_TMPFILE: a file that never had a name.
func scratch(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) {
		return scratchFile(dir)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	return os.NewFile(uintptr(fd), filepath.Join(dir, "(scratch)")), nil
}
