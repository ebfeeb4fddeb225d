package site

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// buildLeaves is how the name index divided names into leaves before it
// streamed them, holding them all: kept as streamLeaves' reference.
func buildLeaves(key string, lines []nameLine, emit func(key string, lines []nameLine) error) error {
	if len(lines) <= leafCapacity || allEqual(lines) {
		return emit(key, lines)
	}
	i := 0
	for i < len(lines) && len(lines[i].folded) == len(key) {
		i++
	}
	if i > 0 {
		if err := emit(key+exactMark, lines[:i]); err != nil {
			return err
		}
	}
	for i < len(lines) {
		_, n := utf8.DecodeRuneInString(lines[i].folded[len(key):])
		child := lines[i].folded[:len(key)+n]
		j := i
		for j < len(lines) && strings.HasPrefix(lines[j].folded, child) {
			j++
		}
		if err := buildLeaves(child, lines[i:j], emit); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// TestStreamLeaves: dividing a sorted stream of names into leaves gives
// the leaves buildLeaves gives holding them all, whatever the names: many
// equal, equal to a key, sharing long prefixes, in several scripts.
func TestStreamLeaves(t *testing.T) {
	defer func(c int) { leafCapacity = c }(leafCapacity)
	leafCapacity = 4
	alphabet := []string{"a", "b", "s", "sa", "san", "ß", "é", "北", "z"}
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 7))
		var lines []nameLine
		for i := range r.IntN(60) {
			var b strings.Builder
			for range r.IntN(4) {
				b.WriteString(alphabet[r.IntN(len(alphabet))])
			}
			if r.IntN(5) == 0 && len(lines) > 0 { // a name again, another city
				b.Reset()
				b.WriteString(lines[r.IntN(len(lines))].folded)
			}
			lines = append(lines, nameLine{b.String(), b.String(), fmt.Sprintf("XX-0-%04d", i)})
		}
		slices.SortFunc(lines, compareLines)
		type leaf struct {
			key   string
			lines []nameLine
		}
		var want, got []leaf
		record := func(to *[]leaf) func(string, []nameLine) error {
			return func(key string, ls []nameLine) error {
				*to = append(*to, leaf{key, slices.Clone(ls)})
				return nil
			}
		}
		// As a build divides them: the names equal to the root's key, then
		// a subtree per first character.
		i := 0
		for i < len(lines) && lines[i].folded == "" {
			i++
		}
		if i > 0 {
			record(&want)(exactMark, lines[:i])
		}
		for i < len(lines) {
			first := string([]rune(lines[i].folded)[:1])
			j := i
			for j < len(lines) && strings.HasPrefix(lines[j].folded, first) {
				j++
			}
			if err := buildLeaves(first, lines[i:j], record(&want)); err != nil {
				t.Fatal(err)
			}
			i = j
		}
		s := sliceStream(lines)
		var exact []nameLine
		for l, ok := s.exactly(""); ok; l, ok = s.exactly("") {
			exact = append(exact, l)
		}
		if len(exact) > 0 {
			record(&got)(exactMark, exact)
		}
		for l, ok := s.peek(); ok; l, ok = s.peek() {
			if err := streamLeaves(string([]rune(l.folded)[:1]), s, record(&got)); err != nil {
				t.Fatal(err)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("seed %d: streamed into\n%v\nheld all at once, into\n%v", seed, got, want)
		}
	}
}

// TestBuildSortsNamesInRuns: a build whose name partitions exceed the
// sort budget (sorted in runs on disk, then merged) writes the site a
// build within it writes.
func TestBuildSortsNamesInRuns(t *testing.T) {
	l := newTestLog(t, 1500)
	l.grow(t, 1500, 1500)
	want := l.built(t)
	defer func(b int64) { sortBudget = b }(sortBudget)
	sortBudget = 300 // a few lines a run
	sameTrees(t, "site whose names were sorted in runs", l.built(t), want)
}

// TestDivideSpillCutShort: a sorted run that ends early while it is read
// back (cut mid-line, or at a line's end) fails its partition, and no
// leaf is written short of its names: each one emitted holds what it
// holds when every run is read whole.
func TestDivideSpillCutShort(t *testing.T) {
	defer func(b int64) { sortBudget = b }(sortBudget)
	sortBudget = 200 << 10 // runs larger than a run's read buffer
	dir := t.TempDir()
	path := filepath.Join(dir, "0")
	var raw []byte
	for i := range 40000 {
		name := fmt.Sprintf("s%05d", i*7919%40000) // not in order
		raw = nameLine{name, name, fmt.Sprintf("XX-0-%05d", i)}.append(raw)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	whole := map[string]string{}
	if err := divideSpill(path, func(k string, ls []nameLine) error { whole[k] = fmt.Sprint(ls); return nil }); err != nil {
		t.Fatal(err)
	}
	for _, cut := range []struct {
		name  string
		chars func(size int64) int64
	}{
		{"mid-line", func(size int64) int64 { return size * 2 / 3 }},
		{"at a line's end", func(size int64) int64 { return size - int64(len(raw))/40000 }},
	} {
		t.Run(cut.name, func(t *testing.T) {
			emitted, truncated := 0, false
			err := divideSpill(path, func(k string, ls []nameLine) error {
				if !truncated { // the runs exist once the first leaf comes
					run := path + ".run1"
					fi, err := os.Stat(run)
					if err != nil {
						t.Fatal(err)
					}
					if err := os.Truncate(run, cut.chars(fi.Size())); err != nil {
						t.Fatal(err)
					}
					truncated = true
				}
				if got := fmt.Sprint(ls); got != whole[k] {
					t.Errorf("leaf %q written with %d names, not the %s it holds whole", k, len(ls), whole[k][:40])
				}
				emitted++
				return nil
			})
			if err == nil || !strings.Contains(err.Error(), ".run1") {
				t.Errorf("a run cut short: %v, want an error naming it", err)
			}
			if emitted >= len(whole) {
				t.Errorf("%d leaves written of %d: the cut went unseen", emitted, len(whole))
			}
		})
	}
}

// TestDivideLeavesRefusesStrays: a name filed under a leaf it does not
// start with is an error, not left out of the index.
func TestDivideLeavesRefusesStrays(t *testing.T) {
	lines := []nameLine{{"sa", "Sa", "XX-0-0001"}, {"sb", "Sb", "XX-0-0002"}}
	var emitted int
	err := divideLeaves("sa", lines, func(string, []nameLine) error { emitted++; return nil })
	if err == nil || !strings.Contains(err.Error(), `"sb"`) {
		t.Errorf("a name outside its leaf: %v (%d leaves written), want an error naming it", err, emitted)
	}
}
