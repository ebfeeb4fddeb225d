// Package fptable is the fingerprint table behind the dedup index of the
// writer and of the monitor: an open-addressing hash table from identifier
// fingerprints to leaf indices, in memory or in a file.
//
// A table holds fingerprints, not identifiers, so it stays small (16 bytes
// a slot), and opening one costs one mmap whatever the log's size: pages
// come in as lookups touch them. A fingerprint match is only a candidate;
// the caller confirms it against the entry in the log, so a collision
// (even a crafted one) costs a lookup, never a wrong answer.
//
// The writer stacks tables (log/idindex): tables on disk that are never
// written again, and the session's table in memory, written as a new table
// on a clean close. The monitor uses one table on disk, changed in place
// (OpenShared). Either way the files say which log size they completely
// cover; after a crash that size no longer matches the log, and the index
// is rebuilt from the log.
//
// Where the platform has mmap (Linux, macOS, the BSDs) a file's table is
// mapped shared, so its pages come and go with the page cache; elsewhere
// (Windows) the table is read into memory and written back by Save, with
// the same crash guarantees (mem_*.go).
package fptable

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"os"

	"github.com/citylog/citylog/internal/durable"
)

const (
	magic      = "citylog-idindex3"
	headerSize = 64
	slotSize   = 16
	minSlots   = 1 << 16
)

// Table is an open table. It is not safe for concurrent use.
type Table struct {
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
func OpenShared(path string, size uint64) (*Table, error) {
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
func mapTable(path string, writable bool) (*Table, error) {
	flags := os.O_RDONLY
	if writable {
		flags = os.O_RDWR
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStale, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %v", ErrStale, err)
	}
	var h [headerSize]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s: header: %v", ErrStale, path, err)
	}
	slots, count := le64(h[16:]), le64(h[24:])
	if string(h[:16]) != magic || slots < minSlots || slots&(slots-1) != 0 || slots > 1<<40 ||
		uint64(st.Size()) != headerSize+slots*slotSize || count*10 > slots*6 {
		f.Close()
		return nil, fmt.Errorf("%w: %s: the header is damaged", ErrStale, path)
	}
	mem, err := mapFile(f, int(st.Size()), writable)
	if err != nil {
		return nil, fmt.Errorf("%w: couldn't map %s: %v", ErrStale, path, err)
	}
	return &Table{path: path, mem: mem, mask: slots - 1, count: count, shared: writable}, nil
}

// OpenReadOnly maps the table at path read-only, whatever log size it
// covers (a level of the writer's stack, whose manifest says that).
func OpenReadOnly(path string) (*Table, error) { return mapTable(path, false) }

func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// CreateShared returns a new, empty on-disk index at path (see
// OpenShared), sized for about expected fingerprints so that it need not
// grow (each growth rewrites and syncs the whole file).
func CreateShared(path string, expected uint64) (*Table, error) {
	slots := uint64(minSlots)
	for slots*6 < expected*10 && slots < 1<<40 {
		slots *= 2
	}
	mem, err := mapNewFile(path, slots, nil)
	if err != nil {
		return nil, err
	}
	return &Table{path: path, mem: mem, mask: slots - 1, shared: true}, nil
}

// mapNewFile creates path as a zeroed table of slots (header copied from
// header, if given) and maps it shared.
func mapNewFile(path string, slots uint64, header []byte) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("couldn't create index: %w", err)
	}
	size := int(headerSize + slots*slotSize)
	if err := f.Truncate(int64(size)); err != nil {
		f.Close()
		return nil, fmt.Errorf("couldn't create index: %w", err)
	}
	mem, err := mapFile(f, size, true)
	if err != nil {
		return nil, fmt.Errorf("couldn't map index: %w", err)
	}
	copy(mem, header)
	copy(mem, magic)
	binary.LittleEndian.PutUint64(mem[16:], slots)
	return mem, nil
}

// Create returns a new, empty table in memory that Save or CloseClean
// will write to path (SaveTo names another).
func Create(path string) (*Table, error) {
	mem, err := anonymous(minSlots)
	if err != nil {
		return nil, err
	}
	return &Table{path: path, mem: mem, mask: minSlots - 1}, nil
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
func (x *Table) home(fp uint64) uint64 {
	return (fp * 0x9E3779B97F4A7C15) >> (64 - bits.Len64(x.mask))
}

func (x *Table) slot(i uint64) []byte {
	off := headerSize + i*slotSize
	return x.mem[off : off+slotSize : off+slotSize]
}

// Prefetch reads the home slots of fps, so that the Lookups and Inserts
// that follow find them in cache: issued together, the loads' cache
// misses overlap instead of each stalling a probe in turn (a lookup in a
// table far larger than the cache costs about one memory latency).
func (x *Table) Prefetch(fps []uint64) {
	var sum uint64
	for _, fp := range fps {
		sum += uint64(x.mem[headerSize+x.home(fp)*slotSize])
	}
	x.sink = sum
}

// Lookup calls found with each leaf filed under fingerprint fp, in
// insertion order, until found returns true; it reports whether it did.
func (x *Table) Lookup(fp uint64, found func(leaf uint64) bool) bool {
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
func (x *Table) Insert(fp, leaf uint64) error {
	if (x.count+1)*10 > (x.mask+1)*6 {
		if err := x.grow(); err != nil {
			return err
		}
	}
	x.put(fp, leaf+1)
	x.count++
	return nil
}

func (x *Table) put(fp, value uint64) {
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
func (x *Table) Reserve(n uint64) error {
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
func (x *Table) grow() error { return x.growTo((x.mask + 1) * 2) }

// growTo moves every slot into a table of the given number of slots, a
// larger power of two.
func (x *Table) growTo(slots uint64) error {
	var mem []byte
	var err error
	grown := x.path + ".grow"
	if x.shared {
		// The new file keeps the old header's saved size: it holds every
		// entry the old one did.
		mem, err = mapNewFile(grown, slots, x.mem[:headerSize])
	} else {
		mem, err = anonymous(slots)
	}
	if err != nil {
		return err
	}
	bigger := &Table{path: x.path, mem: mem, mask: slots - 1, count: x.count, shared: x.shared}
	x.putAll(bigger)
	if x.shared {
		// Durable before it replaces the old file, whose saved size its
		// header repeats.
		if err := flush(grown, mem); err != nil {
			unmap(mem)
			return fmt.Errorf("couldn't grow index: %w", err)
		}
		if err := os.Rename(grown, x.path); err != nil {
			unmap(mem)
			return fmt.Errorf("couldn't grow index: %w", err)
		}
	}
	unmap(x.mem)
	*x = *bigger
	return nil
}

// CopyTo files every fingerprint of x in dst, which must have room for
// them (see Reserve; CreateShared sizes a table for them).
func (x *Table) CopyTo(dst *Table) {
	x.putAll(dst)
	dst.count += x.count
}

// putAll files every fingerprint of x in dst (whose count the caller
// keeps).
func (x *Table) putAll(dst *Table) {
	for i := uint64(0); i <= x.mask; i++ {
		s := x.slot(i)
		if fp := le64(s); fp != 0 {
			dst.put(fp, le64(s[8:]))
		}
	}
}

// Slots returns the table's capacity in slots (it grows at 60% full).
func (x *Table) Slots() uint64 { return x.mask + 1 }

// Len returns the number of fingerprints filed.
func (x *Table) Len() uint64 { return x.count }

// Close drops the index's changes: the file keeps the state it had, which
// no longer matches a log that has grown, so the next Open asks for a
// rebuild. Use it when the writer stops on an error.
func (x *Table) Close() error {
	if x.mem == nil {
		return nil
	}
	err := unmap(x.mem)
	x.mem = nil
	return err
}

// CloseClean writes the index, complete for log size covered, durably to
// its file, so the next Open can use it without a rebuild.
func (x *Table) CloseClean(covered uint64) error {
	if x.mem == nil {
		return nil
	}
	err := x.Save(covered)
	if cerr := x.Close(); err == nil {
		err = cerr
	}
	return err
}

// SaveTo names path as the table's file and saves it there (see Save):
// for a table made in memory.
func (x *Table) SaveTo(path string, covered uint64) error {
	x.path = path
	return x.Save(covered)
}

// Save writes the index, complete for log size covered, durably to its
// file and keeps it open: a long run saves now and then so a restart
// resumes from there.
func (x *Table) Save(covered uint64) error {
	h := x.mem[:headerSize]
	if x.shared {
		// The slots first, then the header that says they are complete:
		// a crash in between leaves the previous save's header, which the
		// slots on disk still cover (they only ever gain entries).
		if err := flush(x.path, x.mem); err != nil {
			return fmt.Errorf("couldn't save index: %w", err)
		}
	}
	copy(h, magic)
	binary.LittleEndian.PutUint64(h[16:], x.mask+1)
	binary.LittleEndian.PutUint64(h[24:], x.count)
	binary.LittleEndian.PutUint64(h[32:], covered)
	if x.shared {
		if err := flush(x.path, x.mem[:headerSize]); err != nil {
			return fmt.Errorf("couldn't save index: %w", err)
		}
		return nil
	}
	if err := durable.WriteFile(x.path, x.mem, 0o600); err != nil {
		return fmt.Errorf("couldn't save dedup index: %w", err)
	}
	return nil
}
