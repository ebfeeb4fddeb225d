// Package idindex is the writer's persistent dedup index: a memory-mapped
// open-addressing hash table from identifier fingerprints to leaf indices.
//
// It holds fingerprints, not identifiers, so it stays small (16 bytes a
// slot) and opening it costs one mmap whatever the log's size: pages come
// in as lookups touch them. A fingerprint match is only a candidate; the
// caller confirms it against the entry in the log, so a collision (even a
// crafted one) costs a lookup, never a wrong answer.
//
// The index is derived state. Its header records the log size it covers
// and whether it was closed cleanly; anything else (missing, torn, dirty,
// other size) means: rebuild it from the log.
package idindex

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

const (
	magic      = "citylog-idindex1"
	headerSize = 64
	slotSize   = 16
	minSlots   = 1 << 16
)

// Index is an open index. It is not safe for concurrent use.
type Index struct {
	path  string
	f     *os.File
	mem   []byte
	mask  uint64
	count uint64
}

// ErrStale means the index cannot be trusted and must be rebuilt.
var ErrStale = errors.New("dedup index is missing, unclean or out of date")

// Open maps an existing index that was closed cleanly at log size size,
// and marks it in use. Any other state returns an error wrapping ErrStale.
func Open(path string, size uint64) (*Index, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStale, err)
	}
	x, err := mapFile(path, f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %v", ErrStale, err)
	}
	h := x.mem[:headerSize]
	clean := h[40] == 1
	covered := binary.LittleEndian.Uint64(h[32:])
	if !clean || covered != size {
		x.Close()
		return nil, fmt.Errorf("%w: clean=%v, covers size %d, log size %d", ErrStale, clean, covered, size)
	}
	h[40] = 0 // in use: a crash from here on forces a rebuild
	return x, nil
}

// Create makes a new empty index at path, replacing any old one.
func Create(path string) (*Index, error) {
	return create(path, minSlots)
}

func create(path string, slots uint64) (*Index, error) {
	tmp := path + ".new"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("couldn't create dedup index: %w", err)
	}
	if err := f.Truncate(int64(headerSize + slots*slotSize)); err != nil {
		f.Close()
		return nil, fmt.Errorf("couldn't create dedup index: %w", err)
	}
	var h [headerSize]byte
	copy(h[:], magic)
	binary.LittleEndian.PutUint64(h[16:], slots)
	if _, err := f.WriteAt(h[:], 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("couldn't create dedup index: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		f.Close()
		return nil, fmt.Errorf("couldn't create dedup index: %w", err)
	}
	return mapFile(path, f)
}

func mapFile(path string, f *os.File) (*Index, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() < headerSize {
		return nil, fmt.Errorf("index file is %d bytes, shorter than its header", st.Size())
	}
	var h [headerSize]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return nil, err
	}
	slots := binary.LittleEndian.Uint64(h[16:])
	if string(h[:16]) != magic || slots < minSlots || slots&(slots-1) != 0 || uint64(st.Size()) != headerSize+slots*slotSize {
		return nil, fmt.Errorf("index file header is damaged")
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("couldn't map index: %w", err)
	}
	return &Index{path: path, f: f, mem: mem, mask: slots - 1, count: binary.LittleEndian.Uint64(h[24:])}, nil
}

// Fingerprint is the 64-bit hash the index files an identifier under.
func Fingerprint(id string) uint64 {
	fp := uint64(14695981039346656037) // FNV-1a, inlined to avoid an allocation
	for i := 0; i < len(id); i++ {
		fp ^= uint64(id[i])
		fp *= 1099511628211
	}
	if fp == 0 {
		fp = 1 // 0 marks an empty slot
	}
	return fp
}

func (x *Index) slot(i uint64) []byte {
	off := headerSize + i*slotSize
	return x.mem[off : off+slotSize : off+slotSize]
}

// Lookup calls found with each leaf filed under id's fingerprint, in
// insertion order, until found returns true.
func (x *Index) Lookup(fp uint64, found func(leaf uint64) bool) {
	for i := fp & x.mask; ; i = (i + 1) & x.mask {
		s := x.slot(i)
		got := binary.LittleEndian.Uint64(s)
		if got == 0 {
			return
		}
		if got == fp && found(binary.LittleEndian.Uint64(s[8:])-1) {
			return
		}
	}
}

// Insert files leaf under fingerprint fp.
func (x *Index) Insert(fp, leaf uint64) error {
	if (x.count+1)*10 > (x.mask+1)*6 {
		if err := x.grow(); err != nil {
			return err
		}
	}
	x.put(fp, leaf+1)
	x.count++
	return nil
}

func (x *Index) put(fp, value uint64) {
	for i := fp & x.mask; ; i = (i + 1) & x.mask {
		s := x.slot(i)
		if binary.LittleEndian.Uint64(s) == 0 {
			binary.LittleEndian.PutUint64(s, fp)
			binary.LittleEndian.PutUint64(s[8:], value)
			return
		}
	}
}

// grow moves every slot into a table twice the size.
func (x *Index) grow() error {
	bigger, err := create(x.path+".grow", (x.mask+1)*2)
	if err != nil {
		return err
	}
	for i := uint64(0); i <= x.mask; i++ {
		s := x.slot(i)
		if fp := binary.LittleEndian.Uint64(s); fp != 0 {
			bigger.put(fp, binary.LittleEndian.Uint64(s[8:]))
		}
	}
	bigger.count = x.count
	if err := os.Rename(bigger.path, x.path); err != nil {
		bigger.Close()
		return fmt.Errorf("couldn't grow dedup index: %w", err)
	}
	bigger.path = x.path
	unix.Munmap(x.mem)
	x.f.Close()
	*x = *bigger
	return nil
}

// Len returns the number of fingerprints filed.
func (x *Index) Len() uint64 { return x.count }

// Close unmaps the index without marking it complete: the next Open will
// ask for a rebuild. Use it when the writer stops on an error.
func (x *Index) Close() error {
	return x.close(0, false)
}

// CloseClean flushes the index and marks it complete for log size covered,
// so the next Open can use it without a rebuild.
func (x *Index) CloseClean(covered uint64) error {
	return x.close(covered, true)
}

func (x *Index) close(covered uint64, clean bool) error {
	if x.mem == nil {
		return nil
	}
	var err error
	if clean {
		binary.LittleEndian.PutUint64(x.mem[24:], x.count)
		binary.LittleEndian.PutUint64(x.mem[32:], covered)
		// Flush the slots before the header says they are complete.
		if err = unix.Msync(x.mem, unix.MS_SYNC); err == nil {
			x.mem[40] = 1
			err = unix.Msync(x.mem[:unix.Getpagesize()], unix.MS_SYNC)
		}
	}
	if uerr := unix.Munmap(x.mem); err == nil {
		err = uerr
	}
	x.mem = nil
	if cerr := x.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("couldn't close dedup index: %w", err)
	}
	return nil
}
