package api

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/citylog/citylog/internal/store"
	"github.com/citylog/citylog/tiles/source"
)

// serveStatic serves the public tree read-only, as a static host would,
// with the headers tlog-tiles clients and CDNs rely on: full tiles and
// bundles are immutable for a year, the checkpoint and everything mutable
// must be revalidated, partial tiles are cached briefly.
//
// Files are opened through an os.Root of the public tree: no path, and no
// symbolic link, leads out of it (a stray link to ../state must not serve
// the signing key); links, dot-files and anything but a regular file are
// 404. Reads are open to every origin (CORS), preflights included: the
// log is public, and the site and third-party pages read it across
// origins.
func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	if r.Method == http.MethodOptions {
		// A CORS preflight: what a cross-origin reader may send.
		h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "If-None-Match, If-Modified-Since, Range, Cache-Control")
		h.Set("Access-Control-Max-Age", "86400")
		h.Set("Allow", "GET, HEAD, OPTIONS")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD, OPTIONS")
		writeError(w, http.StatusMethodNotAllowed, "method not allowed", "the public tree is read-only: use GET or HEAD")
		return
	}
	h.Set("Access-Control-Expose-Headers", "ETag, Content-Length, Last-Modified")
	p := strings.TrimPrefix(r.URL.Path, "/")
	if p == "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "citylog registry %s\n\nlog (C2SP tlog-tiles): this URL; checkpoint at /checkpoint\nallocate: POST /api/v1/allocate with a bearer token\n", s.w.Origin())
		return
	}
	if !fs.ValidPath(p) || strings.Contains(p, "\\") || hiddenSegment(p) {
		http.NotFound(w, r)
		return
	}
	if s.cfg.Public != nil {
		s.serveFetched(w, r, p)
		return
	}
	f, st, err := s.openPublic(p)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	h.Set("ETag", fmt.Sprintf(`"%x-%x"`, st.Size(), st.ModTime().UnixNano()))
	h.Set("X-Content-Type-Options", "nosniff")
	contentType, cacheControl := store.Metadata(p)
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", cacheControl)
	http.ServeContent(w, r, "", st.ModTime(), f)
}

// serveFetched serves the file at p of a public tree in a bucket: the
// same headers as from a directory, an ETag from the content's hash.
func (s *Server) serveFetched(w http.ResponseWriter, r *http.Request, p string) {
	data, err := s.cfg.Public.Fetch(r.Context(), p)
	switch {
	case errors.Is(err, source.ErrNotFound):
		http.NotFound(w, r)
		return
	case err != nil:
		s.log.Warn("couldn't read the public tree's bucket", "path", p, "err", err)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the log's storage did not answer; retry later")
		return
	}
	h := w.Header()
	sum := sha256.Sum256(data)
	h.Set("ETag", fmt.Sprintf(`"%x"`, sum[:16]))
	h.Set("X-Content-Type-Options", "nosniff")
	contentType, cacheControl := store.Metadata(p)
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", cacheControl)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

// openPublic opens the regular file at p (slash-separated) of the public
// tree: never a directory (no listings), never a symbolic link, never
// outside the tree.
func (s *Server) openPublic(p string) (*os.File, fs.FileInfo, error) {
	if s.public == nil {
		return nil, nil, fs.ErrNotExist
	}
	name := filepath.FromSlash(p)
	if st, err := s.public.Lstat(name); err != nil || !st.Mode().IsRegular() {
		return nil, nil, fs.ErrNotExist
	}
	f, err := s.public.Open(name)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, fs.ErrNotExist
	}
	return f, st, nil
}

// hiddenSegment reports a path segment starting with a dot: temporary
// files in the public tree are never served.
func hiddenSegment(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		if strings.HasPrefix(seg, ".") {
			return true
		}
	}
	return false
}
