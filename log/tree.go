package log

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"github.com/citylog/citylog/tiles"
)

// tree is the writer's in-memory right edge of the log: the tile builder
// (compact range and the unfinished tile of every level) and the
// unfinished entry bundle, from which the next files are cut.
type tree struct {
	size   uint64
	tiles  *tiles.Builder
	bundle []byte // the partial bundle
	hasher tiles.Hasher
	full   []file // full tiles and bundles completed since the last cut
	// edge are the partial tiles and bundle of the last cut, which the
	// next cut leaves out if they are still the tree's (see cut).
	edge []tiles.Tile
}

// file is one tile or bundle to publish.
type file struct {
	tile tiles.Tile
	data []byte
}

// storageReader reads tiles from a Storage. A partial tile that was
// collected once its full tile existed (see collectPartials) is read as
// the first hashes of the full tile, as every reader of a tlog-tiles log
// must.
type storageReader struct{ s Storage }

func (r storageReader) ReadTiles(ctx context.Context, ts []tiles.Tile) ([][]byte, error) {
	out := make([][]byte, len(ts))
	for i, t := range ts {
		b, err := r.s.ReadFile(ctx, t.Path())
		if errors.Is(err, fs.ErrNotExist) && !t.Full() {
			full := t
			full.Width = tiles.Width
			if fb, ferr := r.s.ReadFile(ctx, full.Path()); ferr == nil && len(fb) == tiles.Width*tiles.HashSize {
				b, err = fb[:t.Width*tiles.HashSize], nil
			}
		}
		if err != nil {
			return nil, fmt.Errorf("couldn't read %s: %w", t.Path(), err)
		}
		out[i] = b
	}
	return out, nil
}

// loadTree rebuilds the right edge of a published tree of the given size
// and checks that its tiles give the checkpoint's root and that the
// partial bundle hashes to the partial level-0 tile.
func loadTree(ctx context.Context, s Storage, size uint64, root tiles.Hash) (*tree, error) {
	t := &tree{size: size}
	r := storageReader{s}
	hashes, err := tiles.CompactRange(ctx, r, size)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, corrupt(fmt.Errorf("the public tree is incomplete for size %d: %w", size, err))
	}
	if err != nil {
		return nil, err
	}
	var edge [][]byte
	for _, et := range tiles.EdgeTiles(size) {
		data, err := s.ReadFile(ctx, et.Path())
		if errors.Is(err, fs.ErrNotExist) {
			return nil, corrupt(fmt.Errorf("%s is missing: the public tree is incomplete for size %d", et.Path(), size))
		}
		if err != nil {
			return nil, fmt.Errorf("couldn't read %s: %w", et.Path(), err)
		}
		if et.Level == tiles.EntriesLevel {
			t.bundle = data
			continue
		}
		if err := tiles.CheckHashTile(data, et.Width); err != nil {
			return nil, corrupt(fmt.Errorf("%s: %w", et.Path(), err))
		}
		for len(edge) <= et.Level {
			edge = append(edge, nil)
		}
		edge[et.Level] = data
	}
	if t.tiles, err = tiles.NewBuilder(size, tiles.HashSlices(hashes), edge); err != nil {
		return nil, err
	}
	t.tiles.Full = func(tile tiles.Tile, data []byte) { t.full = append(t.full, file{tile, data}) }
	if got := t.root(); got != root {
		return nil, corrupt(fmt.Errorf("the public tiles give root %x for size %d, but the checkpoint says %x: a tile was edited or truncated", got, size, root))
	}
	if err := t.checkEdgeBundle(); err != nil {
		return nil, corrupt(err)
	}
	return t, nil
}

// checkEdgeBundle checks the partial bundle against the partial level-0
// tile, which the root check above has already tied to the checkpoint.
func (t *tree) checkEdgeBundle() error {
	w := int(t.size % tiles.Width)
	if w == 0 {
		return nil
	}
	bt := tiles.BundleOf(t.size, t.size)
	entries, err := tiles.ParseBundle(t.bundle, w)
	if err != nil {
		return fmt.Errorf("%s: %w", bt.Path(), err)
	}
	for i, e := range entries {
		h := t.hasher.Leaf(e)
		if string(h[:]) != string(t.tiles.EdgeTile(0)[i*tiles.HashSize:(i+1)*tiles.HashSize]) {
			return fmt.Errorf("%s: entry %d does not hash to the level-0 tile: the bundle was edited", bt.Path(), i)
		}
	}
	return nil
}

func (t *tree) root() tiles.Hash { return t.tiles.Root() }

// rightEdge returns a copy of the compact range [0, size): what the edge
// file publishes beside the checkpoint.
func (t *tree) rightEdge() []tiles.Hash {
	r := t.tiles.Range()
	out := make([]tiles.Hash, len(r))
	for i, h := range r {
		out[i] = tiles.Hash(h)
	}
	return out
}

// append adds one entry's leaf hash to the tree. Its bytes reach the
// entry bundles per batch, through addBundles.
func (t *tree) append(entry []byte) error { return t.appendHash(t.hasher.Leaf(entry)) }

// appendHash adds the next leaf hash.
func (t *tree) appendHash(leaf tiles.Hash) error {
	t.size++
	return t.tiles.Append(leaf)
}

// appendHashes adds the next leaf hashes, which the tree may keep.
func (t *tree) appendHashes(leaves []tiles.Hash) error {
	t.size += uint64(len(leaves))
	return t.tiles.AppendAll(leaves)
}

// addBundles adds a batch's staged entries (bundle-encoded, from leaf
// start on; offsets says where each starts in staged) to the entry
// bundles. The staged encoding is the bundle encoding, so a full bundle
// within the batch is a slice of staged, not a copy; only the bundle the
// batch started part-way through is joined. The offsets take it from one
// bundle's end to the next without reading the entries between.
func (t *tree) addBundles(staged []byte, offsets []int, start uint64) {
	from := 0
	// Entry i completes a bundle when leaf start+i+1 is a multiple of
	// the bundle width.
	for i := tiles.Width - 1 - int(start%tiles.Width); i < len(offsets); i += tiles.Width {
		end := len(staged)
		if i+1 < len(offsets) {
			end = offsets[i+1]
		}
		data := staged[from:end]
		if len(t.bundle) > 0 {
			data = append(t.bundle, data...)
			t.bundle = nil
		}
		t.full = append(t.full, file{tiles.Tile{Level: tiles.EntriesLevel, Index: (start + uint64(i)) / tiles.Width, Width: tiles.Width}, data})
		from = end
	}
	t.bundle = append(t.bundle, staged[from:]...)
}

// cut returns the files that publish the tree at its current size: the
// full tiles completed since the last cut, then copies of the partial ones
// that changed since. A partial tile that the last cut published already
// (a level above 0 whose tile below did not fill) is left out: the batch
// of that cut is published before this one, since batches commit in
// order and a failure stops the writer until Recover or Open loads a new
// tree, whose first cut has them all. Writing it again cost an inode, a
// failed link and a read-back per batch, for the same bytes.
func (t *tree) cut() []file {
	files := t.full
	t.full = nil
	last := t.edge
	t.edge = tiles.EdgeTiles(t.size)
	for _, et := range t.edge {
		if slices.Contains(last, et) {
			continue
		}
		src := t.bundle
		if et.Level != tiles.EntriesLevel {
			src = t.tiles.EdgeTile(et.Level)
		}
		files = append(files, file{et, append([]byte(nil), src...)})
	}
	return files
}
