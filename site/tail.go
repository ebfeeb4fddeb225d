package site

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/citylog/citylog/internal/parallel"
	"github.com/citylog/citylog/log/idcode"
	"golang.org/x/sync/errgroup"
)

// The tail index holds the names of the entries past the settled ones
// (fewer than settleEvery), and every update rewrites it whole, so it is
// made of few files: the names sorted, cut into chunks of tailChunk.
// (A trie like the main index's cut 48,000 names into 400 leaves, and
// writing them was most of an update's time.)
//
//	site/names/tail.txt   "citylog-names-tail/v1", then each chunk's first folded name (hex), a line each
//	site/names/t<N>.tsv   chunk N: "<folded>\t<name>\t<code>" lines, sorted
//
// The names starting with a query are in the chunks from the last whose
// first name sorts before it, up to the first whose first name sorts
// after every name starting with it (tailChunksFor; assets/app.js does
// the same).
const (
	tailPath   = namesDir + "/tail.txt"
	tailHeader = "citylog-names-tail/v1"
)

func tailChunkPath(n int) string { return namesDir + "/t" + strconv.Itoa(n) + ".tsv" }

// parseTail reads tail.txt: the first folded name of each chunk.
func parseTail(b []byte) ([]string, error) { return parseKeyList(tailPath, tailHeader, b) }

func marshalTail(firsts []string) []byte { return marshalKeyList(tailHeader, firsts) }

// tailChunksFor returns the chunks that may hold names starting with the
// folded query q, given each chunk's first name: [lo, hi).
func tailChunksFor(firsts []string, q string) (lo, hi int) {
	for lo+1 < len(firsts) && firsts[lo+1] < q {
		lo++
	}
	hi = lo
	for hi < len(firsts) && (hi == lo || firsts[hi] < q || strings.HasPrefix(firsts[hi], q)) {
		hi++
	}
	return lo, hi
}

// oldTail is the tail index as an update finds it.
type oldTail struct {
	firsts []string // tail.txt's
	listed bool     // tail.txt exists and parses
	chunks [][]byte // the chunks' bytes
	// The chunks' text, if kept, every line checked, and how many names
	// it holds. Its names are read from it as the new tail is written,
	// never held as lines: tens of thousands of them, twice (the old
	// and the merged), were a fifth of a fresh update's memory.
	texts []string
	count int
}

// readTail reads the tail index, and checks and keeps its names if keep.
func readTail(ctx context.Context, st Store, keep bool) (*oldTail, error) {
	t := &oldTail{}
	switch raw, err := st.ReadFile(ctx, tailPath); {
	case err == nil:
		// One that does not parse is replaced, if its names are not
		// needed.
		if t.firsts, err = parseTail(raw); err != nil && keep {
			return nil, err
		}
		t.listed = err == nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	t.chunks = make([][]byte, len(t.firsts))
	err := parallel.Each(ctx, len(t.firsts), writers, func(ctx context.Context, i int) error {
		raw, err := st.ReadFile(ctx, tailChunkPath(i))
		if err != nil && !errors.Is(err, fs.ErrNotExist) { // a missing chunk: an update cut short
			return fmt.Errorf("couldn't read the tail of the name index: %w", err)
		}
		t.chunks[i] = raw
		return nil
	})
	if err != nil || !keep {
		return t, err
	}
	t.texts = make([]string, len(t.chunks))
	for i, raw := range t.chunks {
		text := string(raw)
		for rest := text; rest != ""; t.count++ {
			if _, rest, err = nextLine(tailChunkPath(i), rest); err != nil {
				return nil, fmt.Errorf("%w: %w", err, ErrDamaged)
			}
		}
		t.texts[i] = text
	}
	return t, nil
}

// forget drops the names kept: the new tail is made without them.
func (t *oldTail) forget() { t.texts, t.count = nil, 0 }

// kept returns the names kept, in their order, one a call.
func (t *oldTail) kept() func() (nameLine, bool) {
	texts, rest := t.texts, ""
	return func() (nameLine, bool) {
		for rest == "" {
			if len(texts) == 0 {
				return nameLine{}, false
			}
			rest, texts = texts[0], texts[1:]
		}
		l, after, _ := nextLine("", rest) // checked by readTail
		rest = after
		return l, true
	}
}

// holds reports whether the names kept are those of the entries [lo, hi),
// one each and in order, as meta says the tail holds. An update cut
// short leaves a tail that is not: some chunks rewritten with names
// shifted out of them into chunks tail.txt does not list yet, or the
// tail of a settling.
func (t *oldTail) holds(lo, hi uint64) bool {
	if uint64(t.count) != hi-lo {
		return false
	}
	seen := make([]bool, hi-lo)
	next := t.kept()
	var prev nameLine
	for n := 0; ; n++ {
		l, ok := next()
		if !ok {
			return true
		}
		i, ok := idcode.CanonicalIndex(l.code)
		if !ok || i < lo || i >= hi || seen[i-lo] || n > 0 && compareLines(prev, l) >= 0 {
			return false
		}
		seen[i-lo], prev = true, l
	}
}

// write rewrites the tail index to hold add and the names kept: the
// chunks whose bytes change are written, then the chunks past the new
// last are removed, then tail.txt. Removed while tail.txt still lists
// them, they are removed again by a run that was cut short; tail.txt
// written first, a chunk whose removal failed would stay for good.
func (t *oldTail) write(ctx context.Context, st Store, add []nameLine) error {
	old, chunks, listed := t.firsts, t.chunks, t.listed
	if !slices.IsSortedFunc(add, compareLines) {
		slices.SortFunc(add, compareLines)
	}
	next := mergeRuns(t.kept(), add)
	// Each chunk is made in a recycled buffer as the names come, and
	// written beside the merge if its bytes changed: fresh memory for
	// tens of chunks cost more than the writes.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(writers)
	var firsts []string
	for l, ok := next(); ok; {
		buf := pageBuffers.Get().(*[]byte)
		b := (*buf)[:0]
		firsts = append(firsts, l.folded)
		for k := 0; ok && k < tailChunk; k++ {
			b = l.append(b)
			l, ok = next()
		}
		*buf = b
		n := len(firsts) - 1
		g.Go(func() error {
			defer pageBuffers.Put(buf)
			if n < len(chunks) && bytes.Equal(chunks[n], *buf) {
				return nil
			}
			return st.PutFile(gctx, tailChunkPath(n), *buf)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for n := len(firsts); n < len(old); n++ {
		if err := st.RemoveFile(ctx, tailChunkPath(n)); err != nil {
			return err
		}
	}
	if !listed || !slices.Equal(old, firsts) {
		return st.PutFile(ctx, tailPath, marshalTail(firsts))
	}
	return nil
}
