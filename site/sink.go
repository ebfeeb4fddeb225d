package site

import (
	"bufio"
	"context"
	"hash/fnv"
	"os"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/citylog/citylog/internal/parallel"
)

// nameSink collects a build's new names for the name index.
type nameSink interface {
	add(nameLine)
	finish(ctx context.Context, b *builder) error
	close()
}

// memorySink holds an update's names, which are few, and adds them to
// the leaves they fall in.
type memorySink struct{ lines []nameLine }

func (s *memorySink) add(l nameLine) { s.lines = append(s.lines, l) }
func (s *memorySink) close()         {}

func (s *memorySink) finish(ctx context.Context, b *builder) error {
	if len(s.lines) == 0 {
		return nil
	}
	return updateNames(ctx, countingStore{b}, s.lines)
}

// spillSink is a full build's: the names of a whole log do not fit the
// memory a build may take, so they are spilled to partition files by
// their first character (a subtree of the trie each), and each
// partition is sorted and divided into leaves in turn. Memory is one
// partition's names.
type spillSink struct {
	dir   string
	parts [spillParts]*bufio.Writer
	files [spillParts]*os.File
	total int
	line  []byte // the line being spilled
	err   error
}

const spillParts = 64

func newSpillSink() *spillSink { return &spillSink{} }

func (s *spillSink) add(l nameLine) {
	if s.err != nil {
		return
	}
	if s.dir == "" {
		if s.dir, s.err = os.MkdirTemp("", "citylog-site-names-"); s.err != nil {
			return
		}
	}
	r, _ := utf8.DecodeRuneInString(l.folded)
	h := fnv.New32a()
	h.Write([]byte(string(r)))
	p := h.Sum32() % spillParts
	if s.parts[p] == nil {
		f, err := os.Create(s.dir + "/" + strconv.Itoa(int(p)))
		if err != nil {
			s.err = err
			return
		}
		s.files[p], s.parts[p] = f, bufio.NewWriterSize(f, 64<<10)
	}
	s.line = l.append(s.line[:0])
	s.parts[p].Write(s.line)
	s.total++
}

func (s *spillSink) close() {
	for _, f := range s.files {
		if f != nil {
			f.Close()
		}
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

func (s *spillSink) finish(ctx context.Context, b *builder) error {
	if s.err != nil {
		return s.err
	}
	if s.total == 0 {
		return nil
	}
	st := countingStore{b}
	t := newTrie()
	var mu sync.Mutex // t, shared by the partitions' workers
	emit := func(key string, lines []nameLine) error {
		mu.Lock()
		t.addLeaf(key)
		mu.Unlock()
		return st.PutFile(ctx, leafPath(key), marshalLeaf(lines))
	}
	for _, w := range s.parts {
		if w != nil {
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
	if s.total <= leafCapacity { // a log whose names fit one leaf
		var all []nameLine
		for _, f := range s.files {
			if f == nil {
				continue
			}
			raw, err := os.ReadFile(f.Name())
			if err != nil {
				return err
			}
			if all, err = appendLeafLines(all, f.Name(), raw); err != nil {
				return err
			}
		}
		slices.SortFunc(all, compareLines)
		all = slices.CompactFunc(all, func(a, b nameLine) bool { return compareLines(a, b) == 0 })
		if err := divideLeaves("", all, emit); err != nil {
			return err
		}
		return st.PutFile(ctx, leavesPath, t.marshalLeaves())
	}
	// The root is split: each first character is a subtree, and each
	// partition holds whole subtrees, so partitions are divided into
	// leaves independently, a few at a time, each sorted within
	// sortBudget (sortedLines) and divided as it streams by.
	err := parallel.Each(ctx, spillParts, writers, func(ctx context.Context, p int) error {
		if s.files[p] == nil {
			return nil
		}
		return divideSpill(s.files[p].Name(), emit)
	})
	if err != nil {
		return err
	}
	return st.PutFile(ctx, leavesPath, t.marshalLeaves())
}

// countingStore counts the builder's writes.
type countingStore struct{ b *builder }

func (c countingStore) ReadFile(ctx context.Context, p string) ([]byte, error) {
	return c.b.st.ReadFile(ctx, p)
}
func (c countingStore) PutFile(ctx context.Context, p string, data []byte) error {
	return c.b.put(ctx, p, data)
}
func (c countingStore) RemoveFile(ctx context.Context, p string) error {
	return c.b.st.RemoveFile(ctx, p)
}
func (c countingStore) Sync(ctx context.Context) error { return c.b.st.Sync(ctx) }
