package site

import (
	"bufio"
	"container/heap"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// sortBudget is the most bytes of a spill partition's names (their
// text, as spilled) that a build sorts in memory: a larger partition is
// sorted in runs of that size, on disk, and the runs merged as the leaves
// are made. In memory the names take about three times their text (a
// line's header, its strings), and writers partitions are sorted at once:
// about 100 MB at most. A partition holds the names of a few first
// characters, so it grows with the log (a tenth of all names start with
// s), and held whole, four at ten million cities would take far more.
var sortBudget int64 = 8 << 20

// lineStream gives a sorted run of lines one at a time, with a look at
// the next and lines given back.
type lineStream struct {
	next func() (nameLine, bool)
	back []nameLine // given back, in order, before next's
	head nameLine   // next's, looked at
	has  bool
}

// sliceStream gives lines, held, as a stream.
func sliceStream(lines []nameLine) *lineStream {
	return &lineStream{next: func() (nameLine, bool) {
		if len(lines) == 0 {
			return nameLine{}, false
		}
		l := lines[0]
		lines = lines[1:]
		return l, true
	}}
}

func (s *lineStream) peek() (nameLine, bool) {
	if len(s.back) > 0 {
		return s.back[0], true
	}
	if !s.has {
		s.head, s.has = s.next()
	}
	return s.head, s.has
}

func (s *lineStream) skip() {
	if len(s.back) > 0 {
		s.back = s.back[1:]
		return
	}
	s.has = false
}

func (s *lineStream) unread(ls []nameLine) { s.back = append(slices.Clip(ls), s.back...) }

// under takes the next line if its folded name starts with prefix.
func (s *lineStream) under(prefix string) (nameLine, bool) {
	return s.take(func(l nameLine) bool { return strings.HasPrefix(l.folded, prefix) })
}

// exactly takes the next line if its folded name is folded.
func (s *lineStream) exactly(folded string) (nameLine, bool) {
	return s.take(func(l nameLine) bool { return l.folded == folded })
}

func (s *lineStream) take(want func(nameLine) bool) (nameLine, bool) {
	l, ok := s.peek()
	if !ok || !want(l) {
		return nameLine{}, false
	}
	s.skip()
	return l, true
}

// streamLeaves divides the sorted lines starting with key that come next
// in s into leaves: one if they fit in leafCapacity or all have one
// folded name, else split by the next character (the names equal to key
// in key+"$"). It calls emit for each leaf, holding at most
// leafCapacity+1 lines at a time (more only while they all have one
// folded name).
func streamLeaves(key string, s *lineStream, emit func(key string, lines []nameLine) error) error {
	var buf []nameLine
	for len(buf) <= leafCapacity {
		l, ok := s.under(key)
		if !ok {
			return emit(key, buf) // all of them, few enough for one leaf
		}
		buf = append(buf, l)
	}
	if allEqual(buf) {
		for l, ok := s.exactly(buf[0].folded); ok; l, ok = s.exactly(buf[0].folded) {
			buf = append(buf, l)
		}
		if l, ok := s.peek(); !ok || !strings.HasPrefix(l.folded, key) {
			return emit(key, buf)
		}
	}
	// Split: the names equal to key, then a subtree per next character.
	s.unread(buf)
	var exact []nameLine
	for l, ok := s.exactly(key); ok; l, ok = s.exactly(key) {
		exact = append(exact, l)
	}
	if len(exact) > 0 {
		if err := emit(key+exactMark, exact); err != nil {
			return err
		}
	}
	for {
		l, ok := s.peek()
		if !ok || !strings.HasPrefix(l.folded, key) {
			return nil
		}
		_, n := utf8.DecodeRuneInString(l.folded[len(key):])
		if err := streamLeaves(l.folded[:len(key)+n], s, emit); err != nil {
			return err
		}
	}
}

// divideSpill divides the names of the spill partition at path, whole
// subtrees of the root, into leaves (streamLeaves) as they come sorted.
// A leaf is emitted only while every line before it was read: a run that
// cannot be read to its end must not look like the end of the names, or
// the leaves being made would be written short of the rest.
func divideSpill(path string, emit func(key string, lines []nameLine) error) error {
	next, failed, cleanup, err := sortedLines(path)
	if err != nil {
		return err
	}
	defer cleanup()
	checked := func(key string, lines []nameLine) error {
		if err := failed(); err != nil {
			return err
		}
		return emit(key, lines)
	}
	lines := &lineStream{next: next}
	for {
		l, ok := lines.peek()
		if !ok {
			return failed()
		}
		if l.folded == "" {
			var exact []nameLine
			for l, ok := lines.exactly(""); ok; l, ok = lines.exactly("") {
				exact = append(exact, l)
			}
			if err := checked(exactMark, exact); err != nil {
				return err
			}
			continue
		}
		_, n := utf8.DecodeRuneInString(l.folded)
		if err := streamLeaves(l.folded[:n], lines, checked); err != nil {
			return err
		}
	}
}

// sortedLines returns the lines of the spill file at path sorted,
// without repeats, one a call (and then the error that stopped it, if
// any), and a function that removes what sorting left on disk. A file
// within sortBudget is sorted in memory; a larger one in runs.
func sortedLines(path string) (next func() (nameLine, bool), failed func() error, cleanup func(), err error) {
	none := func() {}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, none, err
	}
	if fi.Size() <= sortBudget {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, none, err
		}
		lines, err := parseLeaf(path, raw)
		if err != nil {
			return nil, nil, none, err
		}
		slices.SortFunc(lines, compareLines)
		next := mergeRuns(func() (nameLine, bool) { return nameLine{}, false }, lines)
		return next, func() error { return nil }, none, nil
	}
	runs, err := sortRuns(path)
	cleanup = func() {
		for _, r := range runs {
			r.f.Close()
			os.Remove(r.f.Name())
		}
	}
	if err != nil {
		cleanup()
		return nil, nil, none, err
	}
	m := &runMerge{}
	for _, r := range runs {
		if l, ok := r.read(); ok {
			m.heads = append(m.heads, runHead{l, r})
		} else if r.err != nil {
			cleanup()
			return nil, nil, none, r.err
		}
	}
	heap.Init(m)
	take := func() (nameLine, bool) {
		if m.err != nil || len(m.heads) == 0 {
			return nameLine{}, false
		}
		top := &m.heads[0]
		l := top.line
		if next, ok := top.r.read(); ok {
			top.line = next
			heap.Fix(m, 0)
		} else {
			if top.r.err != nil {
				m.err = top.r.err
			}
			heap.Pop(m)
		}
		return l, true
	}
	return mergeRuns(take, nil), func() error { return m.err }, cleanup, nil
}

// sortRuns cuts the spill file at path into runs of at most sortBudget
// bytes, each sorted, on disk beside it.
func sortRuns(path string) ([]*sortRun, error) {
	in, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	r := bufio.NewReaderSize(in, 64<<10)
	var runs []*sortRun
	for eof := false; !eof; {
		var lines []nameLine
		var size int64
		for size < sortBudget {
			text, err := r.ReadString('\n')
			if err == io.EOF && text == "" {
				eof = true
				break
			}
			if err != nil && err != io.EOF {
				return runs, err
			}
			l, _, perr := nextLine(path, text)
			if perr != nil {
				return runs, perr
			}
			lines = append(lines, l)
			size += int64(len(text))
		}
		if len(lines) == 0 {
			break
		}
		slices.SortFunc(lines, compareLines)
		f, err := os.Create(path + ".run" + strconv.Itoa(len(runs)))
		if err != nil {
			return runs, err
		}
		run := &sortRun{f: f, lines: len(lines)}
		runs = append(runs, run)
		w := bufio.NewWriterSize(f, 64<<10)
		var line []byte
		for _, l := range lines {
			line = l.append(line[:0])
			w.Write(line)
		}
		if err := w.Flush(); err != nil {
			return runs, err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return runs, err
		}
		run.r = bufio.NewReaderSize(f, 64<<10)
	}
	return runs, nil
}

// sortRun is one sorted run on disk, read back a line at a time; it
// fails if it ends before the lines written to it.
type sortRun struct {
	f            *os.File
	r            *bufio.Reader
	lines, given int
	err          error
}

func (r *sortRun) read() (nameLine, bool) {
	text, err := r.r.ReadString('\n')
	switch {
	case err == io.EOF && text == "" && r.given == r.lines:
		return nameLine{}, false
	case err == io.EOF:
		r.err = fmt.Errorf("%s: cut short after %d of its %d names", r.f.Name(), r.given, r.lines)
		return nameLine{}, false
	case err != nil:
		r.err = fmt.Errorf("%s: %w", r.f.Name(), err)
		return nameLine{}, false
	}
	r.given++
	l, _, err := nextLine(r.f.Name(), text)
	if err != nil {
		r.err = err
		return nameLine{}, false
	}
	return l, true
}

// runMerge is a heap of the runs' next lines, the least on top.
type runMerge struct {
	heads []runHead
	err   error
}

type runHead struct {
	line nameLine
	r    *sortRun
}

func (m *runMerge) Len() int           { return len(m.heads) }
func (m *runMerge) Less(i, j int) bool { return compareLines(m.heads[i].line, m.heads[j].line) < 0 }
func (m *runMerge) Swap(i, j int)      { m.heads[i], m.heads[j] = m.heads[j], m.heads[i] }
func (m *runMerge) Push(x any)         { m.heads = append(m.heads, x.(runHead)) }
func (m *runMerge) Pop() any {
	h := m.heads[len(m.heads)-1]
	m.heads = m.heads[:len(m.heads)-1]
	return h
}
