// Package idindex is the persistent dedup index of the writer and of the
// monitor: open-addressing hash tables from identifier fingerprints to
// leaf indices.
//
// A table holds fingerprints, not identifiers, so it stays small (16 bytes
// a slot), and opening one costs one mmap whatever the log's size: pages
// come in as lookups touch them. A fingerprint match is only a candidate;
// the caller confirms it against the entry in the log, so a collision
// (even a crafted one) costs a lookup, never a wrong answer.
//
// The writer uses a Stack: tables on disk that are never written again,
// and the session's table in memory, written as a new table on a clean
// close. The monitor uses one table on disk, changed in place (OpenShared).
// Either way the files say which log size they completely cover; after a
// crash that size no longer matches the log, and the index is rebuilt from
// the log.
package idindex

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

const (
	magic      = "citylog-idindex3"
	headerSize = 64
	slotSize   = 16
	minSlots   = 1 << 16
)

// Index is an open index. It is not safe for concurrent use.
type Index struct {
	path  string
	mem   []byte // header, then the slots
	mask  uint64
	count uint64
	// shared: the table is the file itself (MAP_SHARED): pages are written
	// back and evicted by the kernel, so memory does not grow with the
	// table. Otherwise it lives in private memory and Save copies it out.
	shared bool
	sink   uint64 // where Prefetch puts what it reads, so its loads stay
}

// ErrStale means the index cannot be used and must be rebuilt.
var ErrStale = errors.New("dedup index is missing, damaged or out of date")

// OpenShared maps the index at path, which must cover exactly the log
// size size (any other state returns an error wrapping ErrStale), for a
// table that stays on disk: changes go to the file as they are made, and
// the kernel may evict its pages, so a table far larger than memory works.
// Use it with CreateShared; entries made after the last Save may be in the
// file after a crash, so callers must tolerate extra candidates.
func OpenShared(path string, size uint64) (*Index, error) {
	x, err := mapTable(path, true)
	if err != nil {
		return nil, err
	}
	if covered := le64(x.mem[32:]); covered != size {
		x.Close()
		return nil, fmt.Errorf("%w: it covers log size %d, the log has %d", ErrStale, covered, size)
	}
	return x, nil
}

// mapTable maps the table file at path, shared, after checking its header
// against the file's size; read-only unless writable. Any failure wraps
// ErrStale.
func mapTable(path string, writable bool) (*Index, error) {
	flags, prot := os.O_RDONLY, unix.PROT_READ
	if writable {
		flags, prot = os.O_RDWR, unix.PROT_READ|unix.PROT_WRITE
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStale, err)
	}
	defer f.Close() // the mapping outlives the descriptor
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStale, err)
	}
	var h [headerSize]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return nil, fmt.Errorf("%w: %s: header: %v", ErrStale, path, err)
	}
	slots, count := le64(h[16:]), le64(h[24:])
	if string(h[:16]) != magic || slots < minSlots || slots&(slots-1) != 0 || slots > 1<<40 ||
		uint64(st.Size()) != headerSize+slots*slotSize || count*10 > slots*6 {
		return nil, fmt.Errorf("%w: %s: the header is damaged", ErrStale, path)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), prot, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("%w: couldn't map %s: %v", ErrStale, path, err)
	}
	return &Index{path: path, mem: mem, mask: slots - 1, count: count, shared: writable}, nil
}

func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// CreateShared returns a new, empty on-disk index at path (see
// OpenShared), sized for about expected fingerprints so that it need not
// grow (each growth rewrites and syncs the whole file).
func CreateShared(path string, expected uint64) (*Index, error) {
	slots := uint64(minSlots)
	for slots*6 < expected*10 && slots < 1<<40 {
		slots *= 2
	}
	mem, err := mapNewFile(path, slots, nil)
	if err != nil {
		return nil, err
	}
	return &Index{path: path, mem: mem, mask: slots - 1, shared: true}, nil
}

// mapNewFile creates path as a zeroed table of slots (header copied from
// header, if given) and maps it shared.
func mapNewFile(path string, slots uint64, header []byte) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("couldn't create index: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(int64(headerSize + slots*slotSize)); err != nil {
		return nil, fmt.Errorf("couldn't create index: %w", err)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, int(headerSize+slots*slotSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("couldn't map index: %w", err)
	}
	copy(mem, header)
	copy(mem, magic)
	binary.LittleEndian.PutUint64(mem[16:], slots)
	return mem, nil
}

// Create returns a new, empty index in memory that CloseClean will write
// to path.
func Create(path string) (*Index, error) {
	x, err := anonymousIndex(minSlots)
	if err != nil {
		return nil, err
	}
	x.path = path
	return x, nil
}

// anonymous maps zeroed memory for a table of the given number of slots.
func anonymous(slots uint64) ([]byte, error) {
	mem, err := unix.Mmap(-1, 0, int(headerSize+slots*slotSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("couldn't allocate dedup index: %w", err)
	}
	unix.Madvise(mem, unix.MADV_HUGEPAGE) // fewer TLB misses on random probes; advisory
	return mem, nil
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

// home returns the first slot to probe for fp. FNV-1a's low bits vary
// little between identifiers that differ in their last characters
// (geonames:1, geonames:2, ...), so the fingerprint is mixed and its high
// bits taken (Fibonacci hashing); using the low bits directly made long
// probe runs.
func (x *Index) home(fp uint64) uint64 {
	return (fp * 0x9E3779B97F4A7C15) >> (64 - bits.Len64(x.mask))
}

func (x *Index) slot(i uint64) []byte {
	off := headerSize + i*slotSize
	return x.mem[off : off+slotSize : off+slotSize]
}

// Prefetch reads the home slots of fps, so that the Lookups and Inserts
// that follow find them in cache: issued together, the loads' cache
// misses overlap instead of each stalling a probe in turn (a lookup in a
// table far larger than the cache costs about one memory latency).
func (x *Index) Prefetch(fps []uint64) {
	var sum uint64
	for _, fp := range fps {
		sum += uint64(x.mem[headerSize+x.home(fp)*slotSize])
	}
	x.sink = sum
}

// Lookup calls found with each leaf filed under fingerprint fp, in
// insertion order, until found returns true; it reports whether it did.
func (x *Index) Lookup(fp uint64, found func(leaf uint64) bool) bool {
	for i := x.home(fp); ; i = (i + 1) & x.mask {
		s := x.slot(i)
		got := binary.LittleEndian.Uint64(s)
		if got == 0 {
			return false
		}
		if got == fp && found(binary.LittleEndian.Uint64(s[8:])-1) {
			return true
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
	for i := x.home(fp); ; i = (i + 1) & x.mask {
		s := x.slot(i)
		if binary.LittleEndian.Uint64(s) == 0 {
			binary.LittleEndian.PutUint64(s, fp)
			binary.LittleEndian.PutUint64(s[8:], value)
			return
		}
	}
}

// Reserve makes room for n more fingerprints at once, so that filing
// them does not grow (and rehash) the table step by step.
func (x *Index) Reserve(n uint64) error {
	slots := x.mask + 1
	for (x.count+n)*10 > slots*6 {
		slots *= 2
	}
	if slots == x.mask+1 {
		return nil
	}
	return x.growTo(slots)
}

// grow moves every slot into a table twice the size.
func (x *Index) grow() error { return x.growTo((x.mask + 1) * 2) }

// growTo moves every slot into a table of the given number of slots, a
// larger power of two.
func (x *Index) growTo(slots uint64) error {
	var mem []byte
	var err error
	if x.shared {
		// The new file keeps the old header's saved size: it holds every
		// entry the old one did.
		mem, err = mapNewFile(x.path+".grow", slots, x.mem[:headerSize])
	} else {
		mem, err = anonymous(slots)
	}
	if err != nil {
		return err
	}
	bigger := &Index{path: x.path, mem: mem, mask: slots - 1, count: x.count, shared: x.shared}
	x.putAll(bigger)
	if x.shared {
		// Durable before it replaces the old file, whose saved size its
		// header repeats.
		if err := unix.Msync(mem, unix.MS_SYNC); err != nil {
			unix.Munmap(mem)
			return fmt.Errorf("couldn't grow index: %w", err)
		}
		if err := os.Rename(x.path+".grow", x.path); err != nil {
			unix.Munmap(mem)
			return fmt.Errorf("couldn't grow index: %w", err)
		}
	}
	unix.Munmap(x.mem)
	*x = *bigger
	return nil
}

// putAll files every fingerprint of x in dst (whose count the caller
// keeps).
func (x *Index) putAll(dst *Index) {
	for i := uint64(0); i <= x.mask; i++ {
		s := x.slot(i)
		if fp := le64(s); fp != 0 {
			dst.put(fp, le64(s[8:]))
		}
	}
}

// Len returns the number of fingerprints filed.
func (x *Index) Len() uint64 { return x.count }

// Close drops the index's changes: the file keeps the state it had, which
// no longer matches a log that has grown, so the next Open asks for a
// rebuild. Use it when the writer stops on an error.
func (x *Index) Close() error {
	if x.mem == nil {
		return nil
	}
	err := unix.Munmap(x.mem)
	x.mem = nil
	return err
}

// CloseClean writes the index, complete for log size covered, durably to
// its file, so the next Open can use it without a rebuild.
func (x *Index) CloseClean(covered uint64) error {
	if x.mem == nil {
		return nil
	}
	err := x.Save(covered)
	if cerr := x.Close(); err == nil {
		err = cerr
	}
	return err
}

// Save writes the index, complete for log size covered, durably to its
// file and keeps it open: a long run saves now and then so a restart
// resumes from there.
func (x *Index) Save(covered uint64) error {
	h := x.mem[:headerSize]
	if x.shared {
		// The slots first, then the header that says they are complete:
		// a crash in between leaves the previous save's header, which the
		// slots on disk still cover (they only ever gain entries).
		if err := unix.Msync(x.mem, unix.MS_SYNC); err != nil {
			return fmt.Errorf("couldn't save index: %w", err)
		}
	}
	copy(h, magic)
	binary.LittleEndian.PutUint64(h[16:], x.mask+1)
	binary.LittleEndian.PutUint64(h[24:], x.count)
	binary.LittleEndian.PutUint64(h[32:], covered)
	if x.shared {
		if err := unix.Msync(x.mem[:unix.Getpagesize()], unix.MS_SYNC); err != nil {
			return fmt.Errorf("couldn't save index: %w", err)
		}
		return nil
	}
	if err := writeDurable(x.path, x.mem); err != nil {
		return fmt.Errorf("couldn't save dedup index: %w", err)
	}
	return nil
}

// writeDurable replaces path with data: temporary file, fsync, rename,
// directory fsync.
func writeDurable(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
