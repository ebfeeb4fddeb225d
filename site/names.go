package site

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/citylog/citylog/internal/parallel"
)

// The name index is a trie of small files, so that a search by name
// costs about one small fetch at any size of log, in any script:
//
//	site/names/leaves.txt     "citylog-names/v1", then one leaf key per line (hex)
//	site/names/k<hex>.tsv     a leaf: "<folded>\t<name>\t<code>" lines, sorted
//	site/names/tail.txt       the tail index (tail.go)
//	site/names/t<N>.tsv       its chunks, as leaves
//
// The main index holds the names of the settled entries (settledSize),
// the tail index those of the entries past them. A search looks in both
// at once.
//
// A name (folded, see Fold) belongs to the leaf found by walking from the
// empty key: while the key is split, add the name's next character, or
// "$" once the name is used up (so "$" marks the leaf of the names equal
// to a split key). A key is split when more than leafCapacity names
// share it, and a split is never undone; the shape is therefore a function
// of the set of names, whatever the order they came in, and an
// incremental update gives the same files as a full build. Keys whose
// names are all equal are never split: a leaf ending in "$", or holding
// one name only, may grow past the capacity. The search script
// (assets/app.js) fetches leaves.txt once, walks the same way with the
// query, and fetches the one leaf (or, for a query that stops at a split
// key, a few of the leaves under it).
const (
	namesDir     = "site/names"
	leavesPath   = namesDir + "/leaves.txt"
	leavesHeader = "citylog-names/v1"
	exactMark    = "$" // Fold never leaves a '$'
)

// nameLine is one line of a leaf.
type nameLine struct{ folded, name, code string }

func (l nameLine) append(b []byte) []byte {
	b = append(b, l.folded...)
	b = append(b, '\t')
	b = append(b, l.name...)
	b = append(b, '\t')
	b = append(b, l.code...)
	return append(b, '\n')
}

func compareLines(a, b nameLine) int {
	if c := strings.Compare(a.folded, b.folded); c != 0 {
		return c
	}
	return strings.Compare(a.code, b.code)
}

func leafPath(key string) string { return namesDir + "/k" + hex.EncodeToString([]byte(key)) + ".tsv" }

// nameTrie is the set of leaf keys; every proper prefix of a leaf key
// (and, for "K$", K itself) is split.
type nameTrie struct {
	leaves map[string]bool
	split  map[string]bool
}

func newTrie() *nameTrie { return &nameTrie{leaves: map[string]bool{}, split: map[string]bool{}} }

// leafFor walks from the empty key to the leaf a folded name belongs to.
func (t *nameTrie) leafFor(folded string) string {
	k := 0
	for {
		key := folded[:k]
		if !t.split[key] {
			return key
		}
		if k == len(folded) {
			return key + exactMark
		}
		_, n := utf8.DecodeRuneInString(folded[k:])
		k += n
	}
}

func (t *nameTrie) addLeaf(key string) {
	t.leaves[key] = true
	k := strings.TrimSuffix(key, exactMark)
	if k != key {
		t.split[k] = true
	}
	for i := range k {
		if i > 0 {
			t.split[k[:i]] = true
		}
	}
	if len(k) > 0 || k != key {
		t.split[""] = true
	}
}

// marshalLeaves is leaves.txt.
func (t *nameTrie) marshalLeaves() []byte {
	keys := slices.Sorted(maps.Keys(t.leaves))
	return marshalKeyList(leavesHeader, keys)
}

// parseLeaves reads leaves.txt.
func parseLeaves(b []byte) (*nameTrie, error) {
	keys, err := parseKeyList(leavesPath, leavesHeader, b)
	if err != nil {
		return nil, err
	}
	t := newTrie()
	for _, k := range keys {
		t.addLeaf(k)
	}
	return t, nil
}

// marshalKeyList writes keys (leaves.txt's leaf keys, tail.txt's first
// names) in the order given: a header line, then each in hex on a line.
func marshalKeyList(header string, keys []string) []byte {
	b := []byte(header + "\n")
	for _, k := range keys {
		b = append(hex.AppendEncode(b, []byte(k)), '\n')
	}
	return b
}

// parseKeyList reads what marshalKeyList writes, naming path in errors.
func parseKeyList(path, header string, b []byte) ([]string, error) {
	lines := strings.Split(string(b), "\n")
	if len(lines) < 2 || lines[0] != header || lines[len(lines)-1] != "" {
		return nil, fmt.Errorf("%s is not a %s file: %w", path, header, ErrDamaged)
	}
	keys := make([]string, 0, len(lines)-2)
	for _, l := range lines[1 : len(lines)-1] {
		k, err := hex.DecodeString(l)
		if err != nil {
			return nil, fmt.Errorf("%s: bad key %q: %w", path, l, ErrDamaged)
		}
		keys = append(keys, string(k))
	}
	return keys, nil
}

// divideLeaves divides sorted lines, all under key, into leaves, as
// streamLeaves divides a stream of them.
func divideLeaves(key string, lines []nameLine, emit func(key string, lines []nameLine) error) error {
	s := sliceStream(lines)
	if err := streamLeaves(key, s, emit); err != nil {
		return err
	}
	if l, ok := s.peek(); ok {
		return fmt.Errorf("the name %q is not under the leaf %q it was filed in", l.folded, key)
	}
	return nil
}

func allEqual(lines []nameLine) bool {
	for _, l := range lines[1:] {
		if l.folded != lines[0].folded {
			return false
		}
	}
	return true
}

func marshalLeaf(lines []nameLine) []byte { return appendLeaf(nil, lines) }

// appendLeaf appends a leaf's lines to b, grown once to their size: an
// update writes tens of leaves, and growing each from nothing was a third
// of the time it took to write them.
func appendLeaf(b []byte, lines []nameLine) []byte {
	n := 0
	for _, l := range lines {
		n += len(l.folded) + len(l.name) + len(l.code) + 3
	}
	b = slices.Grow(b, n)
	for _, l := range lines {
		b = l.append(b)
	}
	return b
}

// parseLeaf reads a leaf's lines; they share one string, the leaf's.
func parseLeaf(path string, b []byte) ([]nameLine, error) {
	return appendLeafLines(make([]nameLine, 0, bytes.Count(b, []byte("\n"))), path, b)
}

// appendLeafLines appends a leaf's lines to out.
func appendLeafLines(out []nameLine, path string, b []byte) ([]nameLine, error) {
	for s := string(b); len(s) > 0; {
		l, rest, err := nextLine(path, s)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
		s = rest
	}
	return out, nil
}

// nextLine reads the first line of s, the text of the leaf at path, and
// returns the text after it.
func nextLine(path, s string) (nameLine, string, error) {
	line, rest, ok := strings.Cut(s, "\n")
	if !ok {
		return nameLine{}, "", fmt.Errorf("%s: the last line is cut short", path)
	}
	folded, tail, ok1 := strings.Cut(line, "\t")
	name, code, ok2 := strings.Cut(tail, "\t")
	if !ok1 || !ok2 || strings.Contains(code, "\t") {
		return nameLine{}, "", fmt.Errorf("%s: line %q is not folded, name and code", path, line)
	}
	return nameLine{folded, name, code}, rest, nil
}

// updateNames adds lines to the name index in st, reading and rewriting
// only the leaves they fall in (and splitting those that overflow).
func updateNames(ctx context.Context, st Store, add []nameLine) error {
	t := newTrie()
	b, err := st.ReadFile(ctx, leavesPath)
	switch {
	case err == nil:
		if t, err = parseLeaves(b); err != nil {
			return err
		}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	touched := map[string][]nameLine{}
	for _, l := range add {
		key := t.leafFor(l.folded)
		touched[key] = append(touched[key], l)
	}
	keys := make([]string, 0, len(touched))
	for k := range touched {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	// The leaves are independent: each is read, merged and written by one
	// of a few workers; the trie is shared.
	var mu sync.Mutex
	var gone []string // the leaves that split
	exists := func(key string) bool {
		mu.Lock()
		defer mu.Unlock()
		return t.leaves[key]
	}
	return parallelLeaves(ctx, keys, func(ctx context.Context, key string) error {
		lines := touched[key]
		if exists(key) {
			old, err := st.ReadFile(ctx, leafPath(key))
			if errors.Is(err, fs.ErrNotExist) { // leaves.txt lists it
				return fmt.Errorf("%s is missing: %w", leafPath(key), ErrDamaged)
			}
			if err != nil {
				return fmt.Errorf("couldn't read the name index: %w", err)
			}
			have, err := parseLeaf(leafPath(key), old)
			if err != nil {
				return err
			}
			lines = append(have, lines...)
		}
		slices.SortFunc(lines, compareLines)
		lines = slices.CompactFunc(lines, func(a, b nameLine) bool { return compareLines(a, b) == 0 })
		emit := func(k string, ls []nameLine) error {
			mu.Lock()
			t.addLeaf(k)
			mu.Unlock()
			return st.PutFile(ctx, leafPath(k), marshalLeaf(ls))
		}
		if strings.HasSuffix(key, exactMark) {
			return emit(key, lines) // names equal to a split key: never split
		}
		split := false
		err := divideLeaves(key, lines, func(k string, ls []nameLine) error {
			split = split || k != key
			return emit(k, ls)
		})
		if err != nil || !split || !exists(key) {
			return err
		}
		mu.Lock()
		delete(t.leaves, key)
		gone = append(gone, key)
		mu.Unlock()
		return nil
	}, func() error {
		if err := st.PutFile(ctx, leavesPath, t.marshalLeaves()); err != nil {
			return err
		}
		// A leaf that split goes only once leaves.txt no longer lists
		// it: an update cut short before leaves.txt is done again from
		// the old leaves.txt, which reads it.
		slices.Sort(gone)
		for _, key := range gone {
			if err := st.RemoveFile(ctx, leafPath(key)); err != nil {
				return err
			}
		}
		return nil
	})
}

// parallelLeaves runs update on each touched leaf with a few workers,
// then done once all succeeded.
func parallelLeaves(ctx context.Context, keys []string, update func(context.Context, string) error, done func() error) error {
	if err := parallel.Each(ctx, len(keys), writers, func(ctx context.Context, i int) error { return update(ctx, keys[i]) }); err != nil {
		return err
	}
	return done()
}

// mergeRuns merges two sorted runs of lines, the first read one a call,
// into one read the same way, without repeats (a line equal to the last
// one given, cheaper told by its code, which names one entry and so one
// folded name).
func mergeRuns(a func() (nameLine, bool), b []nameLine) func() (nameLine, bool) {
	x, more := a()
	var last nameLine
	gave := false
	return func() (nameLine, bool) {
		for {
			var l nameLine
			switch {
			case more && (len(b) == 0 || compareLines(x, b[0]) <= 0):
				l = x
				x, more = a()
			case len(b) > 0:
				l, b = b[0], b[1:]
			default:
				return nameLine{}, false
			}
			if gave && last.code == l.code && last.folded == l.folded {
				continue
			}
			last, gave = l, true
			return l, true
		}
	}
}
