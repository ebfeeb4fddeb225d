// Package tiles is the C2SP tlog-tiles data model: tile paths, hash-tile
// and entry-bundle codecs, and Merkle proofs built from tiles. It is pure:
// it does no I/O of its own, so the writer, the verifier and the browser
// share exactly one reading of the format.
package tiles

import (
	"fmt"
	"strconv"
	"strings"
)

const (
	// Height is the number of tree levels one tile spans.
	Height = 8
	// Width is the number of hashes (or entries) in a full tile (bundle).
	Width = 1 << Height
	// HashSize is the size of one hash in a hash tile.
	HashSize = 32
	// MaxLevel is the highest hash-tile level a path may name.
	MaxLevel = 63
	// EntriesLevel is the Level of an entry bundle.
	EntriesLevel = -1
)

// Tile names one hash tile or entry bundle.
type Tile struct {
	Level int    // 0..63, or EntriesLevel for an entry bundle
	Index uint64 // N: the tile's position in its level
	Width int    // 1..256; Width means a full tile
}

// Full reports whether t is a full tile, whose bytes never change.
func (t Tile) Full() bool { return t.Width == Width }

// Path returns the tile's path relative to the log prefix, e.g.
// tile/0/x001/234/067.p/12 or tile/entries/000.
func (t Tile) Path() string {
	var b strings.Builder
	b.Grow(32)
	b.WriteString("tile/")
	if t.Level == EntriesLevel {
		b.WriteString("entries")
	} else {
		b.WriteString(strconv.Itoa(t.Level))
	}
	b.WriteByte('/')
	b.WriteString(indexPath(t.Index))
	if t.Width < Width {
		b.WriteString(".p/")
		b.WriteString(strconv.Itoa(t.Width))
	}
	return b.String()
}

// indexPath splits N into zero-padded 3-digit groups, each but the last
// prefixed with x.
func indexPath(n uint64) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		s = fmt.Sprintf("x%03d/%s", n%1000, s)
	}
	return s
}

// ParsePath reads a tile path as Path writes it. It parses by round trip,
// so every path has exactly one accepted spelling.
func ParsePath(p string) (Tile, error) {
	rest, ok := strings.CutPrefix(p, "tile/")
	if !ok {
		return Tile{}, fmt.Errorf("tile path %q does not start with tile/", p)
	}
	levelStr, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return Tile{}, fmt.Errorf("tile path %q has no index", p)
	}
	t := Tile{Width: Width}
	if levelStr == "entries" {
		t.Level = EntriesLevel
	} else {
		l, err := strconv.Atoi(levelStr)
		if err != nil || l < 0 || l > MaxLevel {
			return Tile{}, fmt.Errorf("tile path %q: level %q is not 0-%d or entries", p, levelStr, MaxLevel)
		}
		t.Level = l
	}
	if idx, w, ok := strings.Cut(rest, ".p/"); ok {
		width, err := strconv.Atoi(w)
		if err != nil || width < 1 || width >= Width {
			return Tile{}, fmt.Errorf("tile path %q: partial width %q is not 1-%d", p, w, Width-1)
		}
		t.Width, rest = width, idx
	}
	var n uint64
	groups := strings.Split(rest, "/")
	for i, g := range groups {
		if i < len(groups)-1 {
			g = strings.TrimPrefix(g, "x")
		}
		if len(g) != 3 {
			return Tile{}, fmt.Errorf("tile path %q: index group %q is not three digits", p, g)
		}
		d, err := strconv.ParseUint(g, 10, 64)
		if err != nil || n > (^uint64(0))/1000 {
			return Tile{}, fmt.Errorf("tile path %q: bad index group %q", p, g)
		}
		n = n*1000 + d
	}
	t.Index = n
	if t.Path() != p {
		return Tile{}, fmt.Errorf("tile path %q is not canonical (want %q)", p, t.Path())
	}
	return t, nil
}

// TileForNode returns the tile holding node (level, index) of a tree with
// size leaves, and the range [start, end) of hashes within it whose NH-tree
// is the node's hash. The node must be a perfect subtree inside size.
func TileForNode(level uint, index, size uint64) (t Tile, start, end int, err error) {
	if level >= 64 || index >= (size>>level) {
		return Tile{}, 0, 0, fmt.Errorf("node (%d, %d) is not inside a tree of size %d", level, index, size)
	}
	l := level / Height
	r := level % Height
	first := index << r // position of the first covered hash in level l*8
	t = Tile{Level: int(l), Index: first / Width}
	t.Width = TileWidth(t.Level, t.Index, size)
	start = int(first % Width)
	return t, start, start + 1<<r, nil
}

// TileWidth returns the width of hash tile (level, index) in a tree of the
// given size: Width for a full tile, less for the partial one at the right
// edge, 0 if the tree has no such tile.
func TileWidth(level int, index, size uint64) int {
	if level < 0 {
		level = 0 // entry bundles follow level 0
	}
	n := size >> (Height * uint(level)) // hashes at this level
	switch {
	case n/Width > index:
		return Width
	case n/Width == index:
		return int(n % Width)
	}
	return 0
}

// Bundle returns entry bundle number n of a tree of the given size, full
// or partial (Width 0 if the tree has no such bundle).
func Bundle(n, size uint64) Tile {
	return Tile{Level: EntriesLevel, Index: n, Width: TileWidth(EntriesLevel, n, size)}
}

// BundleOf returns the entry bundle of a tree of the given size that holds
// leaf.
func BundleOf(leaf, size uint64) Tile { return Bundle(leaf/Width, size) }

// EdgeTiles returns the partial tiles a tree of the given size implies at
// its right edge, level by level (hash tiles, then the entry bundle).
func EdgeTiles(size uint64) []Tile {
	var out []Tile
	for l := 0; l <= MaxLevel; l++ {
		n := size >> (Height * uint(l))
		if n == 0 {
			break
		}
		if w := int(n % Width); w > 0 {
			out = append(out, Tile{Level: l, Index: n / Width, Width: w})
		}
	}
	if w := int(size % Width); w > 0 {
		out = append(out, BundleOf(size, size))
	}
	return out
}
