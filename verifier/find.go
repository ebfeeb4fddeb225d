package verifier

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/log/idshard"
	"github.com/citylog/citylog/tiles"
	"github.com/citylog/citylog/tiles/source"
)

// MaxScan is how many entries past the identifier index Find reads
// itself; a log whose index lags more is searched only up to the index.
const MaxScan = 64 * tiles.Width

// ErrNoCode means no code holds the identifier, as far as Find could see.
var ErrNoCode = errors.New("no code holds this identifier")

// Find returns the allocation holding identifier id. The log's published
// identifier index only suggests leaves: each is proven by inclusion and
// checked to hold id, and the entries the index does not cover yet are
// scanned, so a stale or lying index can hide a code but never forge one.
func (l *Log) Find(ctx context.Context, id string) (Allocation, error) {
	id = canonicalID(id)
	if scheme, _, ok := strings.Cut(id, ":"); !ok || !slices.Contains(entry.Schemes, scheme) {
		return Allocation{}, fmt.Errorf("%w: identifier %q is not scheme:value with a known scheme (%s), e.g. unlocode:FRPAR or geonames:2988507",
			ErrInput, id, strings.Join(entry.Schemes, ", "))
	}
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		return Allocation{}, err
	}
	covered := uint64(0)
	var candidates []uint64
	if mb, err := l.src.Fetch(ctx, idshard.MetaPath); err == nil {
		if meta, err := idshard.ParseMeta(mb); err == nil && meta.Size <= cp.Size {
			if sb, err := l.src.Fetch(ctx, idshard.Shard(id, meta.Bits)); err == nil {
				if lines, err := idshard.Parse(sb); err == nil {
					candidates, covered = idshard.Lookup(lines, id), meta.Size
				}
			}
		}
	} else if !errors.Is(err, source.ErrNotFound) {
		return Allocation{}, unchecked(err)
	}
	for _, leaf := range candidates {
		if leaf >= cp.Size {
			continue
		}
		a, err := l.proveHolder(ctx, cp, leaf, id)
		if err == nil || !errors.Is(err, errNotHolder) {
			return a, err
		}
	}
	if cp.Size-covered > MaxScan {
		return Allocation{}, fmt.Errorf("%w: %s is not in the log's identifier index, which covers %d of %d entries; the %d newer entries are too many to scan",
			ErrNoCode, id, covered, cp.Size, cp.Size-covered)
	}
	for leaf := covered; leaf < cp.Size; {
		bt := tiles.BundleOf(leaf, cp.Size)
		entries, err := source.FetchBundle(ctx, l.src, bt)
		if err != nil {
			return Allocation{}, unchecked(err)
		}
		for i := leaf % tiles.Width; i < uint64(len(entries)); i++ {
			if strings.Contains(string(entries[i]), `"`+id+`"`) {
				a, err := l.proveHolder(ctx, cp, bt.Index*tiles.Width+i, id)
				if err == nil || !errors.Is(err, errNotHolder) {
					return a, err
				}
			}
		}
		leaf = (bt.Index + 1) * tiles.Width
	}
	return Allocation{}, fmt.Errorf("%w: %s (searched all %d entries)", ErrNoCode, id, cp.Size)
}

var errNotHolder = errors.New("entry does not hold the identifier")

// proveHolder proves leaf's inclusion and that its entry lists id.
func (l *Log) proveHolder(ctx context.Context, cp Checkpoint, leaf uint64, id string) (Allocation, error) {
	inc, err := l.ProveInclusion(ctx, cp, leaf)
	if err != nil {
		return Allocation{}, err
	}
	a, err := l.checkEntry(ctx, inc)
	if err != nil {
		return Allocation{}, err
	}
	if !slices.Contains(a.IDs, id) {
		return Allocation{}, errNotHolder
	}
	return a, nil
}

// canonicalID spells an identifier as entries do: lower-case scheme, and
// upper-case values for the schemes whose values are codes.
func canonicalID(id string) string {
	scheme, value, ok := strings.Cut(strings.TrimSpace(id), ":")
	if !ok {
		return id
	}
	scheme = strings.ToLower(scheme)
	if scheme == "unlocode" || scheme == "iso3166-2" {
		value = strings.ToUpper(value)
	}
	return scheme + ":" + value
}
