package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/citylog/citylog/tiles"
)

// Cache keeps the immutable files of a Source on disk: every tile and
// entry bundle, full or partial, since the bytes at a tile path never
// change (a partial's path names its width). The checkpoint and any other
// path are always fetched, so a cache never holds back a log's growth.
//
// Files are stored as <dir>/<key>/<path>, where key is the first 16 hex
// digits of the SHA-256 of the source's String, so sources sharing a
// directory never share entries.
//
// The cache does not verify: callers check every byte against the signed
// checkpoint. It only checks that a file has the shape its path implies
// (a hash tile's length, a bundle's entry count), which keeps an HTML
// error page served with status 200, or a file cut short by a crash, from
// being stored or returned.
type Cache struct {
	src Source
	dir string // <dir>/<key>
}

// NewCache returns a cache of src under dir, which is created as needed.
func NewCache(src Source, dir string) *Cache {
	sum := sha256.Sum256([]byte(src.String()))
	return &Cache{src: src, dir: filepath.Join(dir, hex.EncodeToString(sum[:])[:16])}
}

// DefaultCacheDir returns the directory cityverify caches tiles in by
// default: cityverify under the user's cache directory.
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("couldn't find the user cache directory: %w", err)
	}
	return filepath.Join(d, "cityverify"), nil
}

// Purge forgets everything cached for this source. A verifier calls it
// when cached bytes fail verification: the cache cannot tell a bad tile
// from a good one, so a bad one would otherwise fail every later check.
func (c *Cache) Purge() error { return os.RemoveAll(c.dir) }

// String names the cached source itself, so a cache of a cache keys its
// files as the inner one does.
func (c *Cache) String() string { return c.src.String() }

// Fetch returns a tile from disk if it is there, and otherwise fetches it
// from the source and stores it. Failing to store it does not fail the
// Fetch: the cache only saves work.
func (c *Cache) Fetch(ctx context.Context, path string) ([]byte, error) {
	t, err := tiles.ParsePath(path)
	if err != nil {
		return c.src.Fetch(ctx, path) // not immutable: never cached
	}
	// ParsePath accepts only canonical tile/... paths of digits and
	// letters, so the name cannot leave the cache directory.
	name := filepath.Join(c.dir, filepath.FromSlash(path))
	if b, ok := c.read(name, t, path); ok {
		return b, nil
	}
	b, err := c.src.Fetch(ctx, path)
	if err != nil {
		return nil, err
	}
	if checkShape(t, b) == nil {
		c.write(name, b)
	}
	return b, nil
}

// read returns the cached file, if there is one of the right size and
// shape. A file that is not is removed, to be fetched again.
func (c *Cache) read(name string, t tiles.Tile, path string) ([]byte, bool) {
	f, err := os.Open(name)
	if err != nil {
		return nil, false
	}
	b, err := ReadLimited(f, MaxSize(path))
	f.Close()
	if err == nil {
		err = checkShape(t, b)
	}
	if err != nil {
		os.Remove(name)
		return nil, false
	}
	return b, true
}

// write stores b at name atomically: a temporary file in the same
// directory, renamed over name, so a concurrent reader sees all of the
// file or none. It does not fsync: a file a crash cuts short fails
// checkShape on the next read and is fetched again.
func (c *Cache) write(name string, b []byte) {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tmp-*")
	if err != nil {
		return
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		os.Remove(f.Name())
	}
}

// checkShape checks that b could be tile t: a hash tile of exactly its
// width, or a bundle of exactly its width entries.
func checkShape(t tiles.Tile, b []byte) error {
	if t.Level == tiles.EntriesLevel {
		_, err := tiles.ParseBundle(b, t.Width)
		return err
	}
	return tiles.CheckHashTile(b, t.Width)
}
