package store

import "testing"

// TestMetadata: each kind of file of the public tree, the site's among
// them, gets the headers a static host or bucket must serve it with.
func TestMetadata(t *testing.T) {
	for _, tc := range []struct{ path, contentType, cache string }{
		{"tile/0/000", "application/octet-stream", "public, max-age=31536000, immutable"},
		{"tile/entries/001.p/7", "application/octet-stream", "public, max-age=10"},
		{"checkpoint", "text/plain; charset=utf-8", "no-cache"},
		{"checkpoint.edge", "text/plain; charset=utf-8", "no-cache"},
		{"index.html", "text/html; charset=utf-8", "no-cache"},
		{"site/c/FR.json", "application/json", "no-cache"},
		{"site/verify.js", "text/javascript; charset=utf-8", "no-cache"},
		{"site/style.css", "text/css; charset=utf-8", "no-cache"},
		{"site/feed.atom", "application/atom+xml", "no-cache"},
		{"site/csv/cities-0.csv", "text/csv; charset=utf-8", "no-cache"},
		{"site/names/k61.tsv", "text/plain; charset=utf-8", "no-cache"},
	} {
		ct, cc := Metadata(tc.path)
		if ct != tc.contentType || cc != tc.cache {
			t.Errorf("Metadata(%q) = %q, %q; want %q, %q", tc.path, ct, cc, tc.contentType, tc.cache)
		}
	}
}
