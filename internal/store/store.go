// Package store holds what every store of a log's public tree shares, the
// writer's and a mirror's alike: the errors callers branch on, and the
// HTTP metadata each kind of file is published with. Its subpackages are
// the stores: dirstore (a local directory) and s3store (an S3-compatible
// bucket).
package store

import (
	"errors"
	"strings"

	"github.com/citylog/citylog/tiles"
)

// ErrImmutable reports an attempt to put different bytes at a path that
// already holds a file that must never change: evidence that the tree
// was changed by someone else, or by a second writer.
var ErrImmutable = errors.New("immutable file already exists with different bytes")

// ErrLostRace reports that a replaced file (the checkpoint) is no longer
// the one this store last read or wrote: another writer replaced it. The
// writer must stop at once.
var ErrLostRace = errors.New("the file was replaced by another writer")

// Metadata returns the Content-Type and Cache-Control a file of the public
// tree is served with, by citylog serve and in a bucket alike: full tiles
// and bundles never change (immutable for a year), partial ones are
// replaced as the log grows (a few seconds), and everything else
// (checkpoint, edge, index, site) must be revalidated.
func Metadata(path string) (contentType, cacheControl string) {
	if t, err := tiles.ParsePath(path); err == nil {
		if t.Full() {
			return "application/octet-stream", "public, max-age=31536000, immutable"
		}
		return "application/octet-stream", "public, max-age=10"
	}
	switch {
	case strings.HasSuffix(path, ".json"):
		return "application/json", "no-cache"
	case strings.HasSuffix(path, ".html"):
		return "text/html; charset=utf-8", "no-cache"
	case strings.HasSuffix(path, ".js"):
		return "text/javascript; charset=utf-8", "no-cache"
	case strings.HasSuffix(path, ".css"):
		return "text/css; charset=utf-8", "no-cache"
	case strings.HasSuffix(path, ".svg"):
		return "image/svg+xml", "no-cache"
	case strings.HasSuffix(path, ".atom"):
		return "application/atom+xml", "no-cache"
	case strings.HasSuffix(path, ".csv"):
		return "text/csv; charset=utf-8", "no-cache"
	}
	return "text/plain; charset=utf-8", "no-cache"
}
