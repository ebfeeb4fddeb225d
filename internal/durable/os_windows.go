package durable

import (
	"errors"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/windows"
)

// replace moves old over new, write-through: the move is durable when it
// returns, which on Windows stands in for syncing the directory. Another
// process that has new open (a reader of the checkpoint, a virus scanner)
// makes the move fail for a moment, so it is retried for up to a second.
func replace(old, new string) error {
	return move(old, new, windows.MOVEFILE_REPLACE_EXISTING|windows.MOVEFILE_WRITE_THROUGH)
}

// linkNoReplace moves old to new unless new exists (MoveFileEx without
// MOVEFILE_REPLACE_EXISTING fails then, wrapping fs.ErrExist).
func linkNoReplace(old, new string) error {
	return move(old, new, windows.MOVEFILE_WRITE_THROUGH)
}

func move(old, new string, flags uint32) error {
	from, err := syscall.UTF16PtrFromString(old)
	if err != nil {
		return err
	}
	to, err := syscall.UTF16PtrFromString(new)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(time.Second)
	for {
		err = windows.MoveFileEx(from, to, flags)
		if err == nil {
			return nil
		}
		busy := errors.Is(err, windows.ERROR_ACCESS_DENIED) || errors.Is(err, windows.ERROR_SHARING_VIOLATION)
		if !busy || time.Now().After(deadline) {
			return &os.LinkError{Op: "move", Old: old, New: new, Err: err}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// syncDir does nothing: Windows cannot sync a directory; moves here are
// write-through instead.
func syncDir(string) error { return nil }

// scratchFile creates a file that Windows deletes when it is closed (or
// the process ends).
func scratchFile(dir string) (*os.File, error) {
	f, err := os.CreateTemp(dir, ".scratch-*")
	if err != nil {
		return nil, err
	}
	name := f.Name()
	f.Close()
	p, err := syscall.UTF16PtrFromString(name)
	if err != nil {
		return nil, err
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE, 0, nil, windows.TRUNCATE_EXISTING,
		windows.FILE_ATTRIBUTE_TEMPORARY|windows.FILE_FLAG_DELETE_ON_CLOSE, 0)
	if err != nil {
		os.Remove(name)
		return nil, err
	}
	return os.NewFile(uintptr(h), name), nil
}
