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
	firsts []string   // tail.txt's
	listed bool       // tail.txt exists and parses
	chunks [][]byte   // the chunks' bytes
	names  []nameLine // their names, if kept
}

// readTail reads the tail index, and parses its names if keep.
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
	lines := 0
	for _, raw := range t.chunks {
		lines += bytes.Count(raw, []byte("\n"))
	}
	t.names = make([]nameLine, 0, lines)
	for i, raw := range t.chunks {
		if t.names, err = appendLeafLines(t.names, tailChunkPath(i), raw); err != nil {
			return nil, fmt.Errorf("%w (run citylog site --full to rebuild the site)", err)
		}
	}
	return t, nil
}

// holds reports whether the names kept are those of the entries [lo, hi),
// one each, as meta says the tail holds. An update cut short leaves a
// tail that is not: some chunks rewritten with names shifted out of them
// into chunks tail.txt does not list yet, or the tail of a settling.
func (t *oldTail) holds(lo, hi uint64) bool {
	if uint64(len(t.names)) != hi-lo {
		return false
	}
	seen := make([]bool, hi-lo)
	for _, l := range t.names {
		i, ok := idcode.CanonicalIndex(l.code)
		if !ok || i < lo || i >= hi || seen[i-lo] {
			return false
		}
		seen[i-lo] = true
	}
	return true
}

// write rewrites the tail index to hold add and the names kept: the
// chunks whose bytes change are written, then the chunks past the new
// last are removed, then tail.txt. Removed while tail.txt still lists
// them, they are removed again by a run that was cut short; tail.txt
// written first, a chunk whose removal failed would stay for good.
func (t *oldTail) write(ctx context.Context, st Store, add []nameLine) error {
	old, chunks, listed, have := t.firsts, t.chunks, t.listed, t.names
	lines := mergeLines(have, add)
	var firsts []string
	for i := 0; i < len(lines); i += tailChunk {
		firsts = append(firsts, lines[i].folded)
	}
	// Each chunk is made in a recycled buffer and written if its bytes
	// changed: fresh memory for tens of chunks cost more than the writes.
	err := parallel.Each(ctx, len(firsts), writers, func(ctx context.Context, n int) error {
		chunk := lines[n*tailChunk : min((n+1)*tailChunk, len(lines))]
		buf := pageBuffers.Get().(*[]byte)
		defer pageBuffers.Put(buf)
		*buf = appendLeaf((*buf)[:0], chunk)
		if n < len(chunks) && bytes.Equal(chunks[n], *buf) {
			return nil
		}
		return st.PutFile(ctx, tailChunkPath(n), *buf)
	})
	if err != nil {
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
