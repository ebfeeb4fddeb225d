package idpublish

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"

	"github.com/citylog/citylog/internal/durable"
)

const (
	// spoolLimit is how many bytes of identifier lines a spool holds in
	// memory before it moves them to its files: about a million entries.
	spoolLimit = 64 << 20
	// spoolBits: a spill files each line by the first spoolBits bits of
	// its identifier's hash, so Publish reads about 1/64 of the
	// spilled lines at a time (1/16 or 1/32 for an index of 4 or 5 bits,
	// which holds at most 131,072 identifiers).
	spoolBits = 6
)

// Spool collects the records (see AppendRecord) of the identifiers of
// the entries published since the identifier index was brought up to from,
// for Publish. Records stay in memory, in pointer-free buffers (one
// per batch) that the garbage collector need not scan, until they pass the
// spool's limit; then they move to nameless files in state/, filed by the
// first spoolBits bits of their keys. So one import of any size, or a
// rebuild of the index from the bundles, holds a bounded share of its
// identifiers in memory. The files have no name and vanish with the
// process: after a crash, the index is brought up to date from the bundles
// instead.
type Spool struct {
	from  uint64 // the log size the index had reached when the spool started
	dir   string // where the files are created
	limit int

	mu       sync.Mutex
	mem      [][]byte
	memBytes int
	files    []*os.File // nil until the first spill
	err      error      // the first spill failure: the spool's lines are lost
}

func newSpool(dir string, from uint64, limit int) *Spool {
	return &Spool{from: from, dir: dir, limit: limit}
}

// add takes records (whole ones), which the caller must not change
// afterwards.
func (s *Spool) add(lines []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil && len(lines) > 0 {
		s.mem = append(s.mem, lines)
		s.memBytes += len(lines)
	}
}

// spillIfFull moves the lines in memory to the files once they pass the
// limit. A failure is kept for Publish, which then reads the
// lines from the bundles again; the lines are dropped so that memory
// stays bounded.
func (s *Spool) spillIfFull() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.memBytes >= s.limit {
		s.spill()
	}
}

// finish makes the spool ready to be read: if any lines were spilled,
// the rest follow them, so that every unit comes from the files.
func (s *Spool) finish() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.files != nil && s.memBytes > 0 {
		s.spill()
	}
	return s.err
}

func (s *Spool) spill() {
	defer func() { s.mem, s.memBytes = nil, 0 }()
	if s.err != nil {
		return
	}
	if s.files == nil {
		for range 1 << spoolBits {
			// A file with no name, which no crash can leave behind.
			f, err := durable.Scratch(s.dir)
			if err != nil {
				s.fail(err)
				return
			}
			s.files = append(s.files, f)
		}
	}
	out, err := groupRecords(s.mem, spoolBits, 0, 1<<spoolBits, true)
	if err != nil {
		s.fail(err)
		return
	}
	for g, b := range out {
		if _, err := s.files[g].Write(b); err != nil {
			s.fail(err)
			return
		}
	}
}

// lost reports whether a spill failed, losing the spool's lines.
func (s *Spool) lost() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err != nil
}

func (s *Spool) fail(err error) {
	s.err = fmt.Errorf("couldn't spool identifiers for the index in %s: %w", s.dir, err)
}

// units returns into how many units the spool's lines are read at the
// given shard width: 1 (all in memory) until it spilled.
func (s *Spool) units(bits int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.files == nil {
		return 1
	}
	return 1 << min(spoolBits, bits)
}

// unit returns the lines of unit u of n, grouped by shard at width bits:
// element k holds the lines of shard u*len + k. Call finish first.
func (s *Spool) unit(u, n, bits int) ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	if s.files == nil {
		if n != 1 {
			return nil, errors.New("identifier spool: units of an unspilled spool")
		}
		return groupRecords(s.mem, bits, 0, 1<<bits, false)
	}
	per := len(s.files) / n
	var recs []byte
	for _, f := range s.files[u*per : (u+1)*per] {
		st, err := f.Stat()
		if err != nil {
			return nil, err
		}
		recs = slices.Grow(recs, int(st.Size()))
		b := recs[len(recs) : len(recs)+int(st.Size())]
		if _, err := f.ReadAt(b, 0); err != nil {
			return nil, fmt.Errorf("couldn't read the identifier spool: %w", err)
		}
		recs = recs[:len(recs)+len(b)]
	}
	count := (1 << bits) / n
	return groupRecords([][]byte{recs}, bits, uint32(u*count), count, false)
}

// Drop releases the spool and its records, unpublished (Publish reads
// them from the bundles next time).
func (s *Spool) Drop() { s.close() }

// close releases the spool's files.
func (s *Spool) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.files {
		f.Close()
	}
	s.files, s.mem, s.memBytes = nil, nil, 0
}

// A record is an identifier line ("identifier TAB leaf NL") after the
// first four bytes of the identifier's SHA-256, big-endian (idshard.Key):
// the line's shard at any width, computed once, where the identifier was
// parsed.

// AppendRecord appends the record of identifier id at leaf; key is
// idshard.Key(id), computed where the identifier was parsed.
func AppendRecord(b []byte, key uint32, id string, leaf uint64) []byte {
	b = append(binary.BigEndian.AppendUint32(b, key), id...)
	b = append(b, '\t')
	return append(strconv.AppendUint(b, leaf, 10), '\n')
}

// eachRecord calls fn with the key and the line (newline included) of
// every record of b.
func eachRecord(b []byte, fn func(key uint32, line []byte)) error {
	for len(b) > 0 {
		end := bytes.IndexByte(b[min(4, len(b)):], '\n') + 5
		if len(b) < 5 || end < 5 {
			return errors.New("identifier spool: a record is cut short")
		}
		fn(binary.BigEndian.Uint32(b), b[4:end])
		b = b[end:]
	}
	return nil
}

// groupRecords splits buffers of records by the first bits of their
// keys, into the groups first ... first+count-1 (a record outside them is
// an error), each allocated once; keepKeys keeps each line's key ahead
// of it.
func groupRecords(bufs [][]byte, bits int, first uint32, count int, keepKeys bool) ([][]byte, error) {
	extra := 0
	if keepKeys {
		extra = 4
	}
	sizes := make([]int, count)
	outside := false
	for _, buf := range bufs {
		if err := eachRecord(buf, func(key uint32, line []byte) {
			if g := key>>(32-bits) - first; g < uint32(count) {
				sizes[g] += extra + len(line)
			} else {
				outside = true
			}
		}); err != nil {
			return nil, err
		}
	}
	if outside {
		return nil, errors.New("identifier spool: a record is in the wrong file")
	}
	groups := make([][]byte, count)
	for g, size := range sizes {
		groups[g] = make([]byte, 0, size)
	}
	for _, buf := range bufs {
		eachRecord(buf, func(key uint32, line []byte) {
			g := key>>(32-bits) - first
			if keepKeys {
				groups[g] = binary.BigEndian.AppendUint32(groups[g], key)
			}
			groups[g] = append(groups[g], line...)
		})
	}
	return groups, nil
}
