// Package mirror keeps a verified copy of a log's public tree, for
// organisations that want the log to stay verifiable whatever happens to
// its operator's host: every bundle and tile is checked against the
// source's signed checkpoint (and witness policy) before anything is
// written, the new checkpoint must be consistent with the mirror's last
// one, and the mirror's own checkpoint is replaced last. A tampered or
// forked source is refused and the mirror keeps its last good state.
//
// A round is two passes. The first fetches the source's level-0 hash tiles
// of the new entries and checks them against the signed checkpoint's
// root, then fetches the new entry bundles, refusing each whose entries do
// not hash to those leaves as it arrives (so a hostile source cannot make
// a round spool more than the log's own bundles), spools them to a
// scratch file, recomputes the higher hash tiles from the entries and
// compares each with the source's. Only then does the second write the
// bundles (from the spool), the recomputed tiles, the edge and the
// checkpoint to the mirror.
// Files beyond the mirror's checkpoint are written with the same bytes
// any round would write, so a round cut off by a crash is simply run
// again.
package mirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/citylog/citylog/internal/durable"
	"github.com/citylog/citylog/internal/parallel"
	"github.com/citylog/citylog/internal/store"
	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/log/idshard"
	"github.com/citylog/citylog/tiles"
	"github.com/citylog/citylog/tiles/source"
	"github.com/citylog/citylog/verifier"
)

// Dest is where the mirror is written: a directory (internal/store/
// dirstore) or a bucket (internal/store/s3store). The methods are those of
// the writer's storage, with the same contracts.
type Dest interface {
	ReadFile(ctx context.Context, path string) ([]byte, error)
	CreateFile(ctx context.Context, path string, data []byte) error
	PutFile(ctx context.Context, path string, data []byte) error
	ReplaceFile(ctx context.Context, path string, data []byte) error
	SwapFile(ctx context.Context, path string, data []byte) error
	RemoveFile(ctx context.Context, path string) error
	RemoveAll(ctx context.Context, dir string) error
	Sync(ctx context.Context) error
}

// Mirror copies one log.
type Mirror struct {
	src     *verifier.Log
	dest    Dest
	scratch string // where a round spools bundles (default os.TempDir)
	// Workers is how many files a round fetches, compares or writes at
	// once (default 8): an object store answers each request a round trip
	// later, so a mirror into a bucket wants more.
	Workers int
	// Progress, if set, hears of the entries verified so far in a round.
	Progress func(done, total uint64)
}

// ErrDest marks a failure of the mirror's own store (reading or writing
// the destination), as against the source's: the user checks --to, not
// --log. A verification failure of the source wraps verifier.ErrFailed.
var ErrDest = errors.New("the mirror's store failed")

// destError is an error of the mirror's store: its message as it is, and
// ErrDest for errors.Is.
type destError struct{ err error }

func (e destError) Error() string   { return e.err.Error() }
func (e destError) Unwrap() []error { return []error{e.err, ErrDest} }

// New returns a mirror of the log l into dest.
func New(l *verifier.Log, dest Dest) *Mirror {
	return &Mirror{src: l, dest: dest, scratch: os.TempDir(), Workers: 8}
}

// Report says what a round did.
type Report struct {
	From     uint64  `json:"from"`    // the mirror's size before
	To       uint64  `json:"to"`      // and after
	Entries  uint64  `json:"entries"` // entries verified and copied
	Files    int     `json:"files"`   // files written
	Seconds  float64 `json:"seconds"` // the round's duration
	Index    bool    `json:"index"`   // the identifier index was copied
	Evidence []byte  `json:"-"`       // for a fork: both checkpoints, as JSON
}

// Round brings the mirror up to the source's current checkpoint. A
// source that does not check out is an error wrapping verifier.ErrFailed,
// and the mirror is unchanged.
func (m *Mirror) Round(ctx context.Context) (Report, error) {
	start := time.Now()
	cp, err := m.src.Checkpoint(ctx)
	if err != nil {
		return Report{}, err
	}
	mine, edgeFile, err := m.mirrored(ctx)
	if err != nil {
		return Report{}, err
	}
	rep := Report{From: mine.Size, To: mine.Size}
	switch {
	case cp.Size < mine.Size:
		return rep, fmt.Errorf("%w: the source's checkpoint (size %d) is older than the mirror's (size %d): a stale or rolled-back source", verifier.ErrFailed, cp.Size, mine.Size)
	case mine.Size > 0:
		if _, ev, err := m.src.ProveConsistency(ctx, mine, cp); err != nil {
			if ev != nil {
				rep.Evidence, _ = ev.MarshalJSON()
			}
			return rep, fmt.Errorf("the source's checkpoint is not an extension of the mirror's: %w", err)
		}
	}
	if cp.Size == mine.Size && bytes.Equal(cp.Signed, mine.Signed) {
		rep.Seconds = time.Since(start).Seconds()
		return rep, m.repairEdge(ctx, mine, edgeFile)
	}
	files, err := m.verify(ctx, mine, cp)
	if err != nil {
		return rep, err
	}
	defer files.close()
	n, err := m.write(ctx, files, mine.Size, cp)
	if err != nil {
		return rep, err
	}
	rep.To, rep.Entries, rep.Files = cp.Size, cp.Size-mine.Size, n
	rep.Index = m.copyIndex(ctx, cp.Size) == nil
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

// mirrored returns the mirror's checkpoint (size 0 if it has none yet),
// verified under the log's key: its bytes are the source's, signed; and
// its edge file as it is (nil: there is none).
func (m *Mirror) mirrored(ctx context.Context) (verifier.Checkpoint, []byte, error) {
	// The edge file is swapped over the version this run last saw (on a
	// bucket, If-Match on its ETag): see it first, as the checkpoint.
	edgeFile, err := m.dest.ReadFile(ctx, tiles.EdgePath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return verifier.Checkpoint{}, nil, destError{fmt.Errorf("couldn't read the mirror's %s: %w", tiles.EdgePath, err)}
	}
	b, err := m.dest.ReadFile(ctx, "checkpoint")
	if errors.Is(err, fs.ErrNotExist) {
		return verifier.Checkpoint{Checkpoint: tiles.Checkpoint{Origin: m.src.Key().Name(), Root: tiles.EmptyRoot}}, edgeFile, nil
	}
	if err != nil {
		return verifier.Checkpoint{}, nil, destError{fmt.Errorf("couldn't read the mirror's checkpoint: %w", err)}
	}
	cp, err := verifier.OpenCheckpoint(b, m.src.Key())
	if err != nil {
		return verifier.Checkpoint{}, nil, fmt.Errorf("the mirror's own checkpoint does not verify (was the mirror changed?): %w", err)
	}
	return cp, edgeFile, nil
}

// roundFiles is a verified round: the bundles spooled, the tiles
// recomputed, the edge.
type roundFiles struct {
	spool   *os.File
	bundles []spooled
	tiles   []tileFile
	edge    []tiles.Hash
	leaves  map[uint64][]byte // the full level-0 tiles among tiles, by index
}

type spooled struct {
	tile     tiles.Tile
	off, len int64
}

type tileFile struct {
	tile tiles.Tile
	data []byte
}

func (f *roundFiles) close() {
	if f.spool != nil {
		f.spool.Close()
	}
}

// verify is the first pass (see the package doc).
func (m *Mirror) verify(ctx context.Context, mine, cp verifier.Checkpoint) (*roundFiles, error) {
	b, err := m.builder(ctx, mine)
	if err != nil {
		return nil, err
	}
	out := &roundFiles{leaves: map[uint64][]byte{}}
	b.Full = func(t tiles.Tile, data []byte) {
		tf := tileFile{t, append([]byte(nil), data...)}
		out.tiles = append(out.tiles, tf)
		if t.Level == 0 {
			out.leaves[t.Index] = tf.data
		}
	}
	if out.spool, err = durable.Scratch(m.scratch); err != nil {
		return nil, err
	}
	var offset int64
	var h tiles.Hasher
	// The first bundle, fetched at the new size, holds entries the mirror
	// has already: they must be the ones it verified (its level-0 edge
	// tile), or the rewritten bundle would carry changed old entries.
	known := append([]byte(nil), b.EdgeTile(0)...)
	// The tree is grown from the leaf hashes of the level-0 tiles, checked
	// against the root; the entries must hash to them: to the full tiles
	// the tree completed, or to its edge tile for the last bundle.
	if err := m.leafHashes(ctx, b, known, mine, cp); err != nil {
		out.close()
		return nil, err
	}
	first, end := mine.Size/tiles.Width, (cp.Size+tiles.Width-1)/tiles.Width
	for lo := first; lo < end; lo += fetchAtOnce {
		hi := min(lo+fetchAtOnce, end)
		got := make([][][]byte, hi-lo)
		raw := make([][]byte, hi-lo)
		err := parallel.Each(ctx, int(hi-lo), m.Workers, func(ctx context.Context, i int) error {
			bt := tiles.Bundle(lo+uint64(i), cp.Size)
			entries, err := source.FetchBundle(ctx, m.src.Source(), bt)
			if err != nil {
				return fmt.Errorf("%w: %s from %s: %v", sourceKind(err), bt.Path(), m.src.Source(), err)
			}
			got[i] = entries
			var enc []byte
			for _, e := range entries {
				if enc, err = tiles.AppendBundleEntry(enc, e); err != nil {
					return fmt.Errorf("%w: %s: %v", verifier.ErrFailed, bt.Path(), err)
				}
			}
			raw[i] = enc
			return nil
		})
		if err != nil {
			out.close()
			return nil, err
		}
		for i, entries := range got {
			bi := lo + uint64(i)
			// The hashes the signed tree holds for this bundle's entries.
			want := out.leaves[bi]
			if want == nil {
				want = b.EdgeTile(0)
			}
			for k, e := range entries {
				leaf, lh, at := bi*tiles.Width+uint64(k), h.Leaf(e), k*tiles.HashSize
				switch {
				case leaf < mine.Size && !bytes.Equal(lh[:], known[at:at+tiles.HashSize]):
					out.close()
					return nil, fmt.Errorf("%w: entry %d in %s from %s is not the one the mirror verified before: the source changed an old entry",
						verifier.ErrFailed, leaf, tiles.Bundle(bi, cp.Size).Path(), m.src.Source())
				case leaf >= mine.Size && (len(want) < at+tiles.HashSize || !bytes.Equal(lh[:], want[at:at+tiles.HashSize])):
					out.close()
					return nil, fmt.Errorf("%w: entry %d in %s from %s is not the log's: it does not hash to the leaf the signed tree holds (in %s)",
						verifier.ErrFailed, leaf, tiles.Bundle(bi, cp.Size).Path(), m.src.Source(), tiles.Tile{Level: 0, Index: bi, Width: len(entries)}.Path())
				}
			}
			if _, err := out.spool.WriteAt(raw[i], offset); err != nil {
				out.close()
				return nil, err
			}
			out.bundles = append(out.bundles, spooled{tiles.Bundle(bi, cp.Size), offset, int64(len(raw[i]))})
			offset += int64(len(raw[i]))
		}
		if m.Progress != nil {
			m.Progress(min(hi*tiles.Width, cp.Size)-mine.Size, cp.Size-mine.Size)
		}
	}
	for _, et := range tiles.EdgeTiles(cp.Size) {
		if et.Level != tiles.EntriesLevel {
			out.tiles = append(out.tiles, tileFile{et, append([]byte(nil), b.EdgeTile(et.Level)...)})
		}
	}
	for _, h := range b.Range() {
		out.edge = append(out.edge, tiles.Hash(h))
	}
	// The source's tiles must be the ones its entries give: a mirror that
	// copied a tampered tile would serve it.
	if err := m.compareTiles(ctx, out.tiles); err != nil {
		out.close()
		return nil, err
	}
	return out, nil
}

// fetchAtOnce is how many bundles or tiles a round fetches before it
// checks them (a variable for tests).
var fetchAtOnce uint64 = 64

// leafHashes fetches the source's level-0 hash tiles of the entries past
// the mirror's, checks them against the hashes the mirror verified (known:
// the first may hold some), appends the new ones to b and checks its root
// against the signed checkpoint's (b hands the completed tiles to Full).
func (m *Mirror) leafHashes(ctx context.Context, b *tiles.Builder, known []byte, mine, cp verifier.Checkpoint) error {
	first, end := mine.Size/tiles.Width, (cp.Size+tiles.Width-1)/tiles.Width
	for lo := first; lo < end; lo += fetchAtOnce {
		hi := min(lo+fetchAtOnce, end)
		got := make([][]byte, hi-lo)
		err := parallel.Each(ctx, int(hi-lo), m.Workers, func(ctx context.Context, i int) error {
			t := tiles.Tile{Level: 0, Index: lo + uint64(i), Width: tiles.TileWidth(0, lo+uint64(i), cp.Size)}
			data, err := source.FetchTile(ctx, m.src.Source(), t)
			if err != nil {
				return fmt.Errorf("%w: %s from %s: %v", sourceKind(err), t.Path(), m.src.Source(), err)
			}
			if err := tiles.CheckHashTile(data, t.Width); err != nil {
				return fmt.Errorf("%w: %s from %s: %v", verifier.ErrFailed, t.Path(), m.src.Source(), err)
			}
			got[i] = data
			return nil
		})
		if err != nil {
			return err
		}
		for i, data := range got {
			bi := lo + uint64(i)
			for k, lh := range tiles.DecodeHashes(data) {
				leaf := bi*tiles.Width + uint64(k)
				if leaf < mine.Size {
					if !bytes.Equal(lh[:], known[k*tiles.HashSize:(k+1)*tiles.HashSize]) {
						return fmt.Errorf("%w: %s from %s holds another hash for entry %d than the one the mirror verified",
							verifier.ErrFailed, tiles.Tile{Level: 0, Index: bi, Width: len(data) / tiles.HashSize}.Path(), m.src.Source(), leaf)
					}
					continue
				}
				if err := b.Append(lh); err != nil {
					return err
				}
			}
		}
	}
	if root := b.Root(); root != cp.Root {
		return fmt.Errorf("%w: the level-0 hash tiles from %s hash to root %x, but the signed checkpoint of size %d says %x: a tile was changed",
			verifier.ErrFailed, m.src.Source(), root, cp.Size, cp.Root)
	}
	return nil
}

// sourceKind sorts a fetch error: a missing or unreachable file cannot be
// checked; anything else is the source's fault.
func sourceKind(err error) error {
	if errors.Is(err, source.ErrNotFound) || errors.Is(err, source.ErrUnavailable) {
		return verifier.ErrUnchecked
	}
	return verifier.ErrFailed
}

// builder continues the mirror's tree from its own files at its size,
// checked against its checkpoint's root.
func (m *Mirror) builder(ctx context.Context, mine verifier.Checkpoint) (*tiles.Builder, error) {
	r := source.Tiles{Source: source.Func{Name: "the mirror", Read: m.dest.ReadFile}}
	hashes, err := tiles.CompactRange(ctx, r, mine.Size)
	if err != nil {
		return nil, destError{fmt.Errorf("couldn't read the mirror's tiles at size %d: %w", mine.Size, err)}
	}
	var edge [][]byte
	for _, et := range tiles.EdgeTiles(mine.Size) {
		if et.Level == tiles.EntriesLevel {
			continue
		}
		data, err := source.FetchTile(ctx, source.Func{Name: "the mirror", Read: m.dest.ReadFile}, et)
		if err != nil {
			return nil, destError{fmt.Errorf("couldn't read the mirror's %s: %w", et.Path(), err)}
		}
		for len(edge) <= et.Level {
			edge = append(edge, nil)
		}
		edge[et.Level] = data
	}
	b, err := tiles.NewBuilder(mine.Size, tiles.HashSlices(hashes), edge)
	if err != nil {
		return nil, err
	}
	if b.Root() != mine.Root {
		return nil, fmt.Errorf("the mirror's tiles do not give its checkpoint's root: the mirror was changed; start it afresh")
	}
	return b, nil
}

// compareTiles checks the source's copy of every tile above level 0
// against the one recomputed from the entries (level 0's were checked
// first, and every entry against them).
func (m *Mirror) compareTiles(ctx context.Context, ts []tileFile) error {
	return parallel.Each(ctx, len(ts), m.Workers, func(ctx context.Context, i int) error {
		t := ts[i]
		if t.tile.Level == 0 {
			return nil
		}
		got, err := source.FetchTile(ctx, m.src.Source(), t.tile)
		if err != nil {
			return fmt.Errorf("%w: %s from %s: %v", sourceKind(err), t.tile.Path(), m.src.Source(), err)
		}
		if !bytes.Equal(got, t.data) {
			return fmt.Errorf("%w: %s from %s is not the tile its entries give: the source's tile was changed", verifier.ErrFailed, t.tile.Path(), m.src.Source())
		}
		return nil
	})
}

// write is the second pass: bundles, tiles, then the edge and the
// checkpoint, which replaces the mirror's last.
func (m *Mirror) write(ctx context.Context, f *roundFiles, from uint64, cp verifier.Checkpoint) (int, error) {
	err := parallel.Each(ctx, len(f.bundles), m.Workers, func(ctx context.Context, i int) error {
		b := f.bundles[i]
		data := make([]byte, b.len)
		if _, err := f.spool.ReadAt(data, b.off); err != nil && err != io.EOF {
			return err
		}
		return m.create(ctx, b.tile.Path(), data)
	})
	if err == nil {
		err = parallel.Each(ctx, len(f.tiles), m.Workers, func(ctx context.Context, i int) error {
			return m.create(ctx, f.tiles[i].tile.Path(), f.tiles[i].data)
		})
	}
	if err == nil {
		err = m.dest.Sync(ctx)
	}
	// The checkpoint first (on a bucket a compare-and-swap: a second run
	// on the same mirror that is behind stops here), then the edge file,
	// which holds a checkpoint too and which readers prefer, and which
	// therefore never shows one the mirror did not publish.
	if err == nil {
		err = m.dest.SwapFile(ctx, "checkpoint", cp.Signed)
	}
	if err == nil {
		err = m.dest.SwapFile(ctx, tiles.EdgePath, tiles.Edge{Checkpoint: cp.Signed, Hashes: f.edge}.Marshal())
	}
	if err != nil {
		return 0, destError{fmt.Errorf("couldn't write the mirror: %w", err)}
	}
	// Partials that the new full tiles replace go, as the writer's do.
	// Only the tiles at the mirror's last edge can have them, so only
	// those are looked at (on a bucket each look is a listing: one per
	// new full tile made a first mirror of 1M entries list 8,000 times).
	full := map[tiles.Tile]bool{}
	for _, t := range append(f.tiles, bundleFiles(f.bundles)...) {
		if t.tile.Full() {
			full[t.tile] = true
		}
	}
	var gone []tiles.Tile
	for _, et := range tiles.EdgeTiles(from) {
		et.Width = tiles.Width
		if full[et] {
			gone = append(gone, et)
		}
	}
	parallel.Each(ctx, len(gone), m.Workers, func(ctx context.Context, i int) error {
		return m.dest.RemoveAll(ctx, gone[i].Path()+".p")
	})
	m.copyExtraSubdivisions(ctx)
	return len(f.bundles) + len(f.tiles) + 2, m.dest.Sync(ctx)
}

// create writes a new file of the round. Every such file is beyond the
// mirror's checkpoint, which references none of them, and its bytes were
// just verified; a file already there with other bytes is a leftover of a
// round a crash cut short (torn, or empty after a power loss before the
// sync), which would otherwise stop every later round: it is replaced.
func (m *Mirror) create(ctx context.Context, path string, data []byte) error {
	err := m.dest.CreateFile(ctx, path, data)
	if errors.Is(err, store.ErrImmutable) {
		if err = m.dest.RemoveFile(ctx, path); err == nil {
			err = m.dest.CreateFile(ctx, path, data)
		}
	}
	return err
}

// copyExtraSubdivisions copies the operator's extra subdivisions, which
// are unsigned at the source too (the rules' extension, see
// verifier.ReadRules), but only a file that parses: some static hosts
// answer a missing file with a page and status 200, and that page would
// make every code in such a subdivision fail against the mirror. A file
// the source no longer has goes.
func (m *Mirror) copyExtraSubdivisions(ctx context.Context) {
	b, err := m.src.Source().Fetch(ctx, verifier.ExtraSubdivisionsPath)
	switch {
	case err == nil && entry.DefaultRules().ParseExtraSubdivisions(b) == nil:
		m.dest.PutFile(ctx, verifier.ExtraSubdivisionsPath, b)
	case errors.Is(err, source.ErrNotFound):
		m.dest.RemoveFile(ctx, verifier.ExtraSubdivisionsPath)
	}
}

// repairEdge rewrites the mirror's edge file when it does not hold the
// mirror's checkpoint (a run cut off between the two, or a second run
// that lost the race after writing it), from the mirror's own tiles.
// edgeFile is the file as mirrored read it (nil: there is none).
func (m *Mirror) repairEdge(ctx context.Context, mine verifier.Checkpoint, edgeFile []byte) error {
	if mine.Size == 0 {
		return nil
	}
	if edgeFile != nil {
		if e, err := tiles.ParseEdge(edgeFile); err == nil && bytes.Equal(e.Checkpoint, mine.Signed) {
			return nil
		}
	}
	own := source.Tiles{Source: source.Func{Name: "the mirror", Read: m.dest.ReadFile}}
	edge, err := tiles.CompactRange(ctx, own, mine.Size)
	if err == nil {
		err = m.dest.SwapFile(ctx, tiles.EdgePath, tiles.Edge{Checkpoint: mine.Signed, Hashes: edge}.Marshal())
	}
	if err != nil {
		return destError{fmt.Errorf("couldn't rebuild the mirror's %s: %w", tiles.EdgePath, err)}
	}
	return nil
}

func bundleFiles(bs []spooled) []tileFile {
	out := make([]tileFile, len(bs))
	for i, b := range bs {
		out[i] = tileFile{tile: b.tile}
	}
	return out
}

// copyIndex copies the source's identifier index when it covers the
// mirrored size: a hint, never trusted, which verifiers prove anyway, so
// that cityverify find works against the mirror.
func (m *Mirror) copyIndex(ctx context.Context, size uint64) error {
	b, err := m.src.Source().Fetch(ctx, idshard.MetaPath)
	if err != nil {
		return err
	}
	meta, err := idshard.ParseMeta(b)
	if err != nil || meta.Size != size {
		return fmt.Errorf("the source's index does not cover size %d", size)
	}
	if old, err := m.dest.ReadFile(ctx, idshard.MetaPath); err == nil && bytes.Equal(old, b) {
		return nil
	}
	err = parallel.Each(ctx, 1<<meta.Bits, m.Workers, func(ctx context.Context, i int) error {
		p := idshard.ShardPath(uint32(i), meta.Bits)
		shard, err := m.src.Source().Fetch(ctx, p)
		if errors.Is(err, source.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := idshard.Parse(shard); err != nil {
			return fmt.Errorf("%s from the source: %w", p, err)
		}
		return m.dest.PutFile(ctx, p, shard)
	})
	if err != nil {
		return err
	}
	if err := m.dest.Sync(ctx); err != nil {
		return err
	}
	return m.dest.ReplaceFile(ctx, idshard.MetaPath, b)
}
