//go:build !unix || citylog_portable

package fptable

import (
	"io"
	"os"
)

// mapFile reads size bytes of f into memory and closes f. Without mmap a
// shared table lives in the heap; flush writes it back.
func mapFile(f *os.File, size int, _ bool) ([]byte, error) {
	defer f.Close()
	mem := make([]byte, size)
	if _, err := io.ReadFull(f, mem); err != nil {
		return nil, err
	}
	return mem, nil
}

// flush writes mem over the start of path and syncs it: what msync does
// for a mapping. No descriptor stays open between flushes, so the file
// can be renamed (Windows refuses to rename an open file).
func flush(path string, mem []byte) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(mem, 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func unmap([]byte) error { return nil }

func anonymous(slots uint64) ([]byte, error) {
	return make([]byte, headerSize+slots*slotSize), nil
}
