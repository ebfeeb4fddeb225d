// Package idindex is the writer's persistent dedup index: a stack of
// fingerprint tables (internal/fptable) from identifiers to the leaves
// that hold them.
package idindex

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/citylog/citylog/internal/durable"
	"github.com/citylog/citylog/internal/fptable"
)

// ErrStale means the index cannot be used and must be rebuilt.
var ErrStale = fptable.ErrStale

// Fingerprint is the 64-bit hash the index files an identifier under.
func Fingerprint(id string) uint64 { return fptable.Fingerprint(id) }

// Stack is the writer's dedup index: tables on disk that are never
// written again (levels), oldest first, and the table of this session in
// memory (top).
//
// Why not one table: filing a run's identifiers into one large table
// touches nearly every page of it, so an import into a big log copied the
// whole table into memory and wrote all of it back on close — 1 GiB of
// each for a 10M-entry log, whatever the import's size. With a stack, a
// run's memory and writes grow with the run: lookups read the levels
// through read-only shared mappings (page cache, which the kernel may
// evict), inserts go to the top, and a clean close writes the top as a
// new level. Levels are merged like a binary counter (a level at least
// half the size of the one below it joins it), so there are O(log n) of
// them and each fingerprint is rewritten O(log n) times in all.
//
// On disk: path is the manifest (magic, covered log size, the levels);
// each level is path.<seq>, a table in fptable's file format. A level file
// is written durably before a manifest names it, and the manifest is
// replaced atomically, so a crash leaves the previous clean state (which
// no longer matches the log's size, so the writer rebuilds) or the new one.
type Stack struct {
	path   string
	levels []level
	top    *fptable.Table
	// maxTop bounds the session's table: when it is full it is written
	// as a level (named by no manifest until CloseClean), so a session's
	// private memory stays bounded however many identifiers it files.
	maxTop uint64
}

// DefaultMaxTop is the number of fingerprints the session's table holds
// before it is written out: its table is then 128 MiB.
const DefaultMaxTop = 1 << 22

type level struct {
	seq int
	x   *fptable.Table
}

const stackMagic = "citylog-idstack1"

// OpenStack opens the index at path, which must cover exactly log size
// size; any other state returns an error wrapping ErrStale.
func OpenStack(path string, size uint64) (*Stack, error) {
	m, err := readManifest(path)
	if err != nil {
		return nil, err
	}
	if m.covered != size {
		return nil, fmt.Errorf("%w: it covers log size %d, the log has %d", ErrStale, m.covered, size)
	}
	s := &Stack{path: path, maxTop: DefaultMaxTop}
	for _, l := range m.levels {
		x, err := openLevel(levelPath(path, l.seq))
		if err == nil && x.Len() != l.count {
			x.Close()
			err = fmt.Errorf("%w: level %d holds %d fingerprints, the manifest says %d", ErrStale, l.seq, x.Len(), l.count)
		}
		if err != nil {
			s.Close()
			return nil, err
		}
		s.levels = append(s.levels, level{l.seq, x})
	}
	if s.top, err = fptable.Create(""); err != nil {
		s.Close()
		return nil, err
	}
	s.removeUnused()
	return s, nil
}

// CreateStack returns a new, empty index that CloseClean will write at
// path.
func CreateStack(path string) (*Stack, error) {
	top, err := fptable.Create("")
	if err != nil {
		return nil, err
	}
	return &Stack{path: path, top: top, maxTop: DefaultMaxTop}, nil
}

// SetMaxTop changes the bound on the session's table (for tests).
func (s *Stack) SetMaxTop(n uint64) { s.maxTop = max(n, 1) }

// openLevel maps a level file read-only: its pages are the page cache's.
func openLevel(path string) (*fptable.Table, error) { return fptable.OpenReadOnly(path) }

// Prefetch reads the home slots of fps in every table (see fptable.Table.Prefetch).
func (s *Stack) Prefetch(fps []uint64) {
	for _, l := range s.levels {
		l.x.Prefetch(fps)
	}
	s.top.Prefetch(fps)
}

// Lookup calls found with each leaf filed under fingerprint fp, oldest
// first, until found returns true; it reports whether it did.
func (s *Stack) Lookup(fp uint64, found func(leaf uint64) bool) bool {
	for _, l := range s.levels {
		if l.x.Lookup(fp, found) {
			return true
		}
	}
	return s.top.Lookup(fp, found)
}

// Insert files leaf under fingerprint fp, in this session's table.
func (s *Stack) Insert(fp, leaf uint64) error {
	if s.top.Len() >= s.maxTop {
		if err := s.flushTop(); err != nil {
			return err
		}
	}
	return s.top.Insert(fp, leaf)
}

// Reserve makes room for n more fingerprints in this session's table, up
// to its bound.
func (s *Stack) Reserve(n uint64) error {
	return s.top.Reserve(min(n, s.maxTop-min(s.top.Len(), s.maxTop)))
}

// flushTop writes the session's table as a new level, durably (a later
// manifest may name it), and starts an empty one.
func (s *Stack) flushTop() error {
	seq := s.nextSeq()
	path := levelPath(s.path, seq)
	if err := s.top.SaveTo(path, 0); err != nil {
		return err
	}
	x, err := openLevel(path)
	if err != nil {
		return err
	}
	top, err := fptable.Create("")
	if err != nil {
		x.Close()
		return err
	}
	s.top.Close()
	s.levels = append(s.levels, level{seq, x})
	s.top = top
	return nil
}

func (s *Stack) nextSeq() int {
	next := 1
	for _, l := range s.levels {
		next = max(next, l.seq+1)
	}
	return next
}

// Len returns the number of fingerprints filed.
func (s *Stack) Len() uint64 {
	n := s.top.Len()
	for _, l := range s.levels {
		n += l.x.Len()
	}
	return n
}

// Close drops this session's fingerprints and releases the index; the
// files keep their last clean state.
func (s *Stack) Close() error {
	var first error
	for _, l := range s.levels {
		if err := l.x.Close(); first == nil {
			first = err
		}
	}
	s.levels = nil
	if s.top != nil {
		if err := s.top.Close(); first == nil {
			first = err
		}
		s.top = nil
	}
	return first
}

// CloseClean writes this session's fingerprints as a new level, merges
// levels as the counter rule says, records that the index is complete for
// log size covered, and releases it.
func (s *Stack) CloseClean(covered uint64) error {
	if s.top == nil {
		return nil // closed already
	}
	err := s.save(covered)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		s.removeUnused()
	}
	return err
}

func (s *Stack) save(covered uint64) error {
	next := s.nextSeq()
	// Merge in memory first: the top, then each level below that is not
	// at least twice its size. Only the result is written.
	// The top, and each level below that is not at least twice its
	// size, become one new level; the others stay as they are.
	keep := len(s.levels)
	count := s.top.Len()
	for keep > 0 && s.top.Len() > 0 && count*2 >= s.levels[keep-1].x.Len() {
		keep--
		count += s.levels[keep].x.Len()
	}
	levels := s.levels[:keep:keep]
	if s.top.Len() > 0 {
		path := levelPath(s.path, next)
		var merged *fptable.Table
		if keep == len(s.levels) {
			merged = s.top // written as it is: its size is the session's
			if err := merged.SaveTo(path, covered); err != nil {
				return err
			}
		} else {
			tables := []*fptable.Table{}
			for _, l := range s.levels[keep:] {
				tables = append(tables, l.x)
			}
			m, err := mergeTables(path, count, append(tables, s.top))
			if err != nil {
				return err
			}
			defer m.Close()
			if err := m.Save(covered); err != nil {
				return err
			}
			merged = m
		}
		levels = append(levels, level{next, merged})
	}
	return writeManifest(s.path, covered, levels)
}

// mergeTables writes a new table at path holding the fingerprints of
// tables, in their order. It is built in the file's shared mapping, not
// in private memory: merging into the bottom level rewrites a table as
// large as the log's, whose pages the kernel can write back and drop.
func mergeTables(path string, count uint64, tables []*fptable.Table) (*fptable.Table, error) {
	m, err := fptable.CreateShared(path, count)
	if err != nil {
		return nil, err
	}
	for _, x := range tables {
		x.CopyTo(m)
	}
	return m, nil
}

func levelPath(path string, seq int) string { return path + "." + strconv.Itoa(seq) }

// removeUnused deletes level files the manifest does not name (left by a
// merge or a crash). Failing to is harmless: they are only disk space.
func (s *Stack) removeUnused() {
	m, err := readManifest(s.path)
	if err != nil {
		return
	}
	used := map[string]bool{}
	for _, l := range m.levels {
		used[levelPath(s.path, l.seq)] = true
	}
	files, _ := filepath.Glob(s.path + ".*")
	for _, f := range files {
		if !used[f] {
			os.Remove(f)
		}
	}
}

type manifest struct {
	covered uint64
	levels  []struct {
		seq   int
		count uint64
	}
}

// readManifest reads path strictly; anything unexpected is ErrStale.
func readManifest(path string) (manifest, error) {
	var m manifest
	b, err := os.ReadFile(path)
	if err != nil {
		return m, fmt.Errorf("%w: %v", ErrStale, err)
	}
	bad := func(why string) (manifest, error) {
		return manifest{}, fmt.Errorf("%w: %s: %s", ErrStale, path, why)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	if !sc.Scan() || sc.Text() != stackMagic {
		return bad("not a " + stackMagic + " manifest")
	}
	if !sc.Scan() {
		return bad("no covered size")
	}
	v, ok := strings.CutPrefix(sc.Text(), "covered ")
	if m.covered, err = strconv.ParseUint(v, 10, 64); !ok || err != nil {
		return bad("malformed covered size")
	}
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		var l struct {
			seq   int
			count uint64
		}
		var err1, err2 error
		if len(f) == 3 && f[0] == "level" {
			l.seq, err1 = strconv.Atoi(f[1])
			l.count, err2 = strconv.ParseUint(f[2], 10, 64)
		}
		if len(f) != 3 || f[0] != "level" || err1 != nil || err2 != nil || l.seq <= 0 {
			return bad("malformed level line")
		}
		m.levels = append(m.levels, l)
	}
	if !bytes.HasSuffix(b, []byte("\n")) {
		return bad("cut short")
	}
	return m, nil
}

func writeManifest(path string, covered uint64, levels []level) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\ncovered %d\n", stackMagic, covered)
	for _, l := range levels {
		fmt.Fprintf(&b, "level %d %d\n", l.seq, l.x.Len())
	}
	if err := durable.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("couldn't save dedup index: %w", err)
	}
	return nil
}
