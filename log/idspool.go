package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"

	"github.com/citylog/citylog/log/idshard"
	"golang.org/x/sys/unix"
)

const (
	// spoolLimit is how many bytes of identifier lines a spool holds in
	// memory before it moves them to its files: about a million entries.
	spoolLimit = 64 << 20
	// spoolBits: a spill files each line by the first spoolBits bits of
	// its identifier's hash, so PublishIDIndex reads about 1/64 of the
	// spilled lines at a time (1/16 or 1/32 for an index of 4 or 5 bits,
	// which holds at most 131,072 identifiers).
	spoolBits = 6
)

// idSpool collects the "identifier TAB leaf NL" lines of the entries
// published since the identifier index was brought up to from, for
// PublishIDIndex. Lines stay in memory, in pointer-free buffers (one per
// batch) that the garbage collector need not scan, until they pass the
// spool's limit; then they move to nameless files in state/, each line
// after the first four bytes of its identifier's SHA-256 (its shard at
// any width, see idshard) and filed by the first spoolBits of them. So
// one import of any size, or a rebuild of the index from the bundles,
// holds a bounded share of its identifiers in memory, and PublishIDIndex
// hashes no spilled line twice. The files have no name and vanish with
// the process: after a crash, the index is brought up to date from the
// bundles instead.
type idSpool struct {
	from  uint64 // the log size the index had reached when the spool started
	dir   string // where the files are created
	limit int

	mu       sync.Mutex
	mem      [][]byte
	memBytes int
	files    []*os.File // nil until the first spill
	err      error      // the first spill failure: the spool's lines are lost
}

func newSpool(dir string, from uint64, limit int) *idSpool {
	return &idSpool{from: from, dir: dir, limit: limit}
}

// add takes lines (whole "identifier TAB leaf NL" lines), which the
// caller must not change afterwards.
func (s *idSpool) add(lines []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil && len(lines) > 0 {
		s.mem = append(s.mem, lines)
		s.memBytes += len(lines)
	}
}

// spillIfFull moves the lines in memory to the files once they pass the
// limit. A failure is kept for PublishIDIndex, which then reads the
// lines from the bundles again; the lines are dropped so that memory
// stays bounded.
func (s *idSpool) spillIfFull() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.memBytes >= s.limit {
		s.spill()
	}
}

// finish makes the spool ready to be read: if any lines were spilled,
// the rest follow them, so that every unit comes from the files.
func (s *idSpool) finish() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.files != nil && s.memBytes > 0 {
		s.spill()
	}
	return s.err
}

func (s *idSpool) spill() {
	defer func() { s.mem, s.memBytes = nil, 0 }()
	if s.err != nil {
		return
	}
	if s.files == nil {
		for range 1 << spoolBits {
			// O_TMPFILE: a file with no name, which no crash can leave behind.
			fd, err := unix.Open(s.dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
			if err != nil {
				s.fail(&fs.PathError{Op: "open", Path: s.dir, Err: err})
				return
			}
			s.files = append(s.files, os.NewFile(uintptr(fd), filepath.Join(s.dir, "(identifier spool)")))
		}
	}
	out := groupLines(s.mem, hashPrefixes(s.mem), spoolBits, true)
	for g, b := range out {
		if _, err := s.files[g].Write(b); err != nil {
			s.fail(err)
			return
		}
	}
}

func (s *idSpool) fail(err error) {
	s.err = fmt.Errorf("couldn't spool identifiers for the index in %s: %w", s.dir, err)
}

// units returns into how many units the spool's lines are read at the
// given shard width: 1 (all in memory) until it spilled.
func (s *idSpool) units(bits int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.files == nil {
		return 1
	}
	return 1 << min(spoolBits, bits)
}

// unit returns the lines of unit u of n, grouped by shard at width bits:
// element k holds the lines of shard u*len + k. Call finish first.
func (s *idSpool) unit(u, n, bits int) ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	if s.files == nil {
		if n != 1 {
			return nil, errors.New("identifier spool: units of an unspilled spool")
		}
		return groupByShard(s.mem, bits), nil
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
	// Twice through the records: first the size of each shard, so that
	// each is allocated once.
	shards := make([][]byte, (1<<bits)/n)
	first := uint32(u * len(shards))
	sizes := make([]int, len(shards))
	for pass := range 2 {
		for b := recs; len(b) > 0; {
			end := bytes.IndexByte(b[min(4, len(b)):], '\n') + 5
			if len(b) < 5 || end < 5 {
				return nil, errors.New("identifier spool: a record is cut short")
			}
			k := binary.BigEndian.Uint32(b)>>(32-bits) - first
			if k >= uint32(len(shards)) {
				return nil, errors.New("identifier spool: a record is in the wrong file")
			}
			if pass == 0 {
				sizes[k] += end - 4
			} else {
				shards[k] = append(shards[k], b[4:end]...)
			}
			b = b[end:]
		}
		if pass == 0 {
			for k, size := range sizes {
				shards[k] = make([]byte, 0, size)
			}
		}
	}
	return shards, nil
}

// close releases the spool's files.
func (s *idSpool) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.files {
		f.Close()
	}
	s.files, s.mem, s.memBytes = nil, nil, 0
}

// hashPrefixes returns the first four bytes of the SHA-256 of the
// identifier of every line of every buffer, hashing on all cores.
func hashPrefixes(bufs [][]byte) [][]uint32 {
	out := make([][]uint32, len(bufs))
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for k := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := k; n < len(bufs); n += workers {
				out[n] = make([]uint32, 0, bytes.Count(bufs[n], []byte{'\n'}))
				eachLine(bufs[n], func(line []byte) {
					id, _, _ := bytes.Cut(line, []byte{'\t'})
					out[n] = append(out[n], idshard.ShardIndexBytes(id, 32))
				})
			}
		}()
	}
	wg.Wait()
	return out
}

// groupByShard splits buffers of raw "identifier TAB leaf NL" lines by
// shard at width bits.
func groupByShard(bufs [][]byte, bits int) [][]byte {
	return groupLines(bufs, hashPrefixes(bufs), bits, false)
}

// groupLines splits buffers of lines, whose identifiers' hash prefixes
// are given, by the first bits of those prefixes, with each line's
// prefix ahead of it if withPrefix. Each group is allocated once.
func groupLines(bufs [][]byte, prefixes [][]uint32, bits int, withPrefix bool) [][]byte {
	extra := 0
	if withPrefix {
		extra = 4
	}
	sizes := make([]int, 1<<bits)
	for n, buf := range bufs {
		i := 0
		eachLine(buf, func(line []byte) {
			sizes[prefixes[n][i]>>(32-bits)] += extra + len(line)
			i++
		})
	}
	groups := make([][]byte, 1<<bits)
	for g, size := range sizes {
		groups[g] = make([]byte, 0, size)
	}
	for n, buf := range bufs {
		i := 0
		eachLine(buf, func(line []byte) {
			p := prefixes[n][i]
			i++
			g := p >> (32 - bits)
			if withPrefix {
				groups[g] = binary.BigEndian.AppendUint32(groups[g], p)
			}
			groups[g] = append(groups[g], line...)
		})
	}
	return groups
}
