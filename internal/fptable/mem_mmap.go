//go:build unix && !citylog_portable

package fptable

import (
	"os"

	"golang.org/x/sys/unix"
)

// mapFile maps size bytes of f shared (read-only unless writable) and
// closes f: the mapping outlives the descriptor.
func mapFile(f *os.File, size int, writable bool) ([]byte, error) {
	defer f.Close()
	prot := unix.PROT_READ
	if writable {
		prot |= unix.PROT_WRITE
	}
	return unix.Mmap(int(f.Fd()), 0, size, prot, unix.MAP_SHARED)
}

// flush makes mem, the start of a shared mapping of path, durable.
func flush(_ string, mem []byte) error { return unix.Msync(mem, unix.MS_SYNC) }

func unmap(mem []byte) error { return unix.Munmap(mem) }

// anonymous maps zeroed private memory for a table of the given number of
// slots: outside the Go heap, so the collector never scans it.
func anonymous(slots uint64) ([]byte, error) {
	mem, err := unix.Mmap(-1, 0, int(headerSize+slots*slotSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return nil, err
	}
	adviseHuge(mem)
	return mem, nil
}
