package verifier

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/citylog/citylog/tiles"
	"github.com/transparency-dev/merkle/compact"
)

// servedTile is a tile as a proof read it: where it was asked for and
// the hashes it gave (level 0 is the bundle's leaf hashes).
type servedTile struct {
	path   string
	level  int
	index  uint64
	hashes []tiles.Hash
}

// blame finds which served file broke an inclusion proof, so that the
// failure names it alone instead of "one of the files read". Each tile is
// held, from the highest level down, to the nodes already known to be
// the log's: those of checkpoint.edge (whose fold to the signed root was
// checked when the checkpoint was opened), then those of the tiles that
// passed. A tile whose hashes fold to another value than a known node
// over the same entries is not the log's. It returns "" when no file can
// be singled out: no edge, or no known node over the tiles' entries.
// site/jsverify's verify.js does the same.
func blame(cp Checkpoint, served []servedTile) string {
	if cp.edge == nil {
		return ""
	}
	type node struct {
		hash tiles.Hash
		from string
	}
	known := map[compact.NodeID]node{}
	for i, id := range compact.RangeNodes(0, cp.Size, nil) {
		known[id] = node{cp.edge[i], tiles.EdgePath}
	}
	served = slices.Clone(served)
	slices.SortStableFunc(served, func(a, b servedTile) int { return cmp.Compare(b.level, a.level) })
	for _, t := range served {
		h0 := uint(8 * t.level)
		first := t.index * tiles.Width
		end := first + uint64(len(t.hashes))
		ids := make([]compact.NodeID, 0, len(known))
		for id := range known {
			ids = append(ids, id)
		}
		slices.SortFunc(ids, func(a, b compact.NodeID) int {
			return cmp.Or(cmp.Compare(b.Level, a.Level), cmp.Compare(a.Index, b.Index))
		})
		for _, id := range ids {
			if id.Level < h0 || id.Level-h0 >= 64 {
				continue
			}
			lo, hi := id.Index<<(id.Level-h0), (id.Index+1)<<(id.Level-h0)
			if lo < first || hi > end {
				continue
			}
			span := t.hashes[lo-first : hi-first]
			if n := known[id]; tiles.SubtreeRoot(span) != n.hash {
				what := "its hashes of entries"
				if t.level == 0 {
					what = "its entries"
				}
				return fmt.Sprintf("%s is not the log's: %s %d to %d do not hash to the signed tree's node over them (from %s)",
					t.path, what, lo<<h0, hi<<h0-1, n.from)
			}
			for j, x := range span {
				known[compact.NodeID{Level: h0, Index: lo + uint64(j)}] = node{x, t.path}
			}
		}
	}
	return ""
}

// recordingReader remembers the hash tiles a proof read, for blame.
type recordingReader struct {
	next tiles.TileReader
	mu   sync.Mutex
	read []servedTile
}

func (r *recordingReader) ReadTiles(ctx context.Context, ts []tiles.Tile) ([][]byte, error) {
	out, err := r.next.ReadTiles(ctx, ts)
	if err == nil {
		r.mu.Lock()
		for i, t := range ts {
			r.read = append(r.read, servedTile{t.Path(), t.Level, t.Index, tiles.DecodeHashes(out[i])})
		}
		r.mu.Unlock()
	}
	return out, err
}
