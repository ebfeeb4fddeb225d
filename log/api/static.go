package api

import (
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/citylog/citylog/tiles"
)

// serveStatic serves the public tree read-only, as a static host would,
// with the headers tlog-tiles clients and CDNs rely on: full tiles and
// bundles are immutable for a year, the checkpoint and everything mutable
// must be revalidated, partial tiles are cached briefly.
func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method not allowed", "the public tree is read-only: use GET or HEAD")
		return
	}
	w.Header().Set("Access-Control-Allow-Origin", "*")
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
	f, err := os.Open(filepath.Join(s.cfg.PublicDir, filepath.FromSlash(p)))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		http.NotFound(w, r) // no directory listings
		return
	}
	h := w.Header()
	h.Set("ETag", fmt.Sprintf(`"%x-%x"`, st.Size(), st.ModTime().UnixNano()))
	h.Set("X-Content-Type-Options", "nosniff")
	switch t, err := tiles.ParsePath(p); {
	case err == nil && t.Full():
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	case err == nil:
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Cache-Control", "public, max-age=10")
	default:
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, "", st.ModTime(), f)
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
