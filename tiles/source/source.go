// Package source fetches the files of a log's public tree, read-only, from
// a local directory or any static HTTP(S) host. Nothing it returns is
// trusted: callers check every byte against the log's signed checkpoint.
// What a source must guarantee is that a hostile host cannot make the
// caller allocate without bound or wait forever.
package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/citylog/citylog/tiles"
)

// Source fetches one file of a public tree.
type Source interface {
	// Fetch returns the file at path, slash-separated and relative to the
	// log's prefix ("checkpoint", "tile/0/x001/005.p/17"). A file the
	// source does not have is an error wrapping ErrNotFound; a source that
	// cannot be reached, times out or misbehaves, ErrUnavailable.
	Fetch(ctx context.Context, path string) ([]byte, error)
	// String names the source in messages (a directory or a URL).
	String() string
}

var (
	// ErrNotFound means the source answered that it has no such file.
	ErrNotFound = fs.ErrNotExist
	// ErrUnavailable means the source could not be asked, or its answer
	// was cut off, too large or otherwise unusable.
	ErrUnavailable = errors.New("source unavailable")
	// ErrRefused, always with ErrUnavailable, means the source answered
	// but refused the file (HTTP 401, 403, ...). S3 answers 403 for a
	// missing file when listing is not allowed, so the file may not exist.
	ErrRefused = errors.New("source refused the file")
)

// refused is the kind of a refusal: ErrUnavailable and ErrRefused at once,
// with ErrUnavailable's message.
type refused struct{}

func (refused) Error() string { return ErrUnavailable.Error() }

func (refused) Is(target error) bool { return target == ErrUnavailable || target == ErrRefused }

// Limits on what one file may hold, by kind. They bound what a hostile
// source can make a reader allocate.
const (
	MaxCheckpointSize = 1 << 16                                // a signed note with many cosignatures
	MaxTileSize       = tiles.Width * tiles.HashSize           // 8 KiB
	MaxBundleSize     = tiles.Width * (2 + tiles.MaxEntrySize) // 16 MiB: 256 maximal entries
	MaxOtherSize      = 4 << 20                                // anything else (indexes, metadata)
)

// MaxSize returns the largest acceptable size of the file at path.
func MaxSize(path string) int64 {
	switch path {
	case "checkpoint":
		return MaxCheckpointSize
	case tiles.EdgePath:
		return tiles.MaxEdgeSize(MaxCheckpointSize)
	}
	if t, err := tiles.ParsePath(path); err == nil {
		if t.Level == tiles.EntriesLevel {
			return int64(t.Width) * (2 + tiles.MaxEntrySize)
		}
		return int64(t.Width) * tiles.HashSize
	}
	return MaxOtherSize
}

// ReadLimited reads all of r, failing if it holds more than max bytes.
func ReadLimited(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrUnavailable, max)
	}
	return b, nil
}

// Dir is a public tree in a local directory.
type Dir string

// Fetch reads path under the directory.
func (d Dir) Fetch(_ context.Context, path string) ([]byte, error) {
	if !fs.ValidPath(path) || strings.Contains(path, "\\") {
		return nil, fmt.Errorf("invalid path %q", path)
	}
	f, err := os.Open(filepath.Join(string(d), filepath.FromSlash(path)))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %s: %w", d, path, ErrNotFound)
		}
		return nil, fmt.Errorf("%s: %w: %v", d, ErrUnavailable, err)
	}
	defer f.Close()
	b, err := ReadLimited(f, MaxSize(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", d, path, err)
	}
	return b, nil
}

func (d Dir) String() string { return string(d) }

// Func is a Source made of a read function, such as a writer's storage
// (whose reads are fs.ErrNotExist for missing files, as ErrNotFound is):
// the writer reads its own log with the readers' partial-tile fallback.
type Func struct {
	Name string
	Read func(ctx context.Context, path string) ([]byte, error)
}

func (f Func) Fetch(ctx context.Context, path string) ([]byte, error) { return f.Read(ctx, path) }
func (f Func) String() string                                         { return f.Name }

// Tiles reads hash tiles from a Source for tiles' proof builders. A
// partial tile the source no longer has is read from the full tile that
// replaced it (tlog-tiles allows logs to delete partials), keeping the
// first Width hashes.
type Tiles struct{ Source Source }

// ReadTiles fetches the tiles, in parallel.
func (r Tiles) ReadTiles(ctx context.Context, ts []tiles.Tile) ([][]byte, error) {
	out := make([][]byte, len(ts))
	errs := make([]error, len(ts))
	done := make(chan struct{})
	for i, t := range ts {
		go func() {
			defer func() { done <- struct{}{} }()
			out[i], errs[i] = FetchTile(ctx, r.Source, t)
		}()
	}
	for range ts {
		<-done
	}
	return out, errors.Join(errs...)
}

// FetchTile fetches one hash tile, falling back from a missing partial
// to the first hashes of its full tile.
func FetchTile(ctx context.Context, s Source, t tiles.Tile) ([]byte, error) {
	b, err := s.Fetch(ctx, t.Path())
	if err == nil || t.Full() || !errors.Is(err, ErrNotFound) {
		return b, err
	}
	full := t
	full.Width = tiles.Width
	b, ferr := s.Fetch(ctx, full.Path())
	if ferr != nil {
		return nil, err // report the partial that was asked for
	}
	if len(b) >= t.Width*tiles.HashSize {
		b = b[:t.Width*tiles.HashSize]
	}
	return b, nil
}

// FetchBundle fetches and splits entry bundle t (t.Level must be
// tiles.EntriesLevel), falling back from a missing partial bundle to the
// first entries of the full one.
func FetchBundle(ctx context.Context, s Source, t tiles.Tile) ([][]byte, error) {
	b, err := s.Fetch(ctx, t.Path())
	if err == nil {
		entries, perr := tiles.ParseBundle(b, t.Width)
		if perr != nil {
			return nil, fmt.Errorf("%s: %w", t.Path(), perr)
		}
		return entries, nil
	}
	if t.Full() || !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	full := t
	full.Width = tiles.Width
	b, ferr := s.Fetch(ctx, full.Path())
	if ferr != nil {
		return nil, err
	}
	entries, perr := tiles.ParseBundle(b, tiles.Width)
	if perr != nil {
		return nil, fmt.Errorf("%s: %w", full.Path(), perr)
	}
	return entries[:t.Width], nil
}
