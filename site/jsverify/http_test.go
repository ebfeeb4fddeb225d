package jsverify

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// honestSmallLog returns the files of the small log that the honest vectors
// read, and the key and a code of it.
func honestSmallLog(t testing.TB, vs *Vectors) (files map[string][]byte, key, code string) {
	files = map[string][]byte{}
	for _, v := range vs.Vectors {
		if strings.HasPrefix(v.Name, "small/") && strings.Contains(v.Name, "/honest/index") {
			for p, b := range v.Files {
				files[p] = vs.Blobs[b]
			}
			key = v.Key
			if strings.HasSuffix(v.Name, "/index 5") {
				code = v.Code
			}
		}
	}
	if code == "" || files["checkpoint.edge"] == nil || files["checkpoint"] == nil {
		t.Fatal("the vectors have no honest small log")
	}
	return files, key, code
}

// hostileHost serves the small log under /<mode>/, each mode a way a real
// host behaves, and the test page under any /<mode>/page.html.
func hostileHost(t testing.TB, vs *Vectors) http.Handler {
	files, _, _ := honestSmallLog(t, vs)
	noEdge := maps.Clone(files)
	delete(noEdge, "checkpoint.edge")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mode, path, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		self, _, _ := strings.Cut(r.RequestURI, "?") // the path as the browser asked for it
		if path == "page.html" {
			w.Write([]byte(testPage))
			return
		}
		fs := files
		if mode == "noedge" {
			fs = noEdge
		}
		body, ok := fs[path]
		switch {
		case mode == "missing" || !ok && mode != "loop":
			http.NotFound(w, r)
		case mode == "gzip":
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			zw.Write(body)
			zw.Close()
		case mode == "redirect" && strings.HasPrefix(path, "tile/") && r.URL.RawQuery == "":
			http.Redirect(w, r, self+"?moved", http.StatusFound)
		case mode == "loop":
			http.Redirect(w, r, self, http.StatusFound)
		case mode == "endless" && path == "tile/entries/000":
			chunk := bytes.Repeat([]byte{0, 1, 'x'}, 4096)
			for r.Context().Err() == nil {
				if _, err := w.Write(chunk); err != nil {
					break
				}
			}
		case mode == "stall" && strings.HasPrefix(path, "checkpoint"):
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			w.Write(body[:10])
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		default:
			w.Write(body)
		}
	})
}

// testOverHTTP verifies the small log from hosts over real HTTP, with the
// browser's own fetch and bases relative to the page.
func testOverHTTP(t *testing.T, ctx context.Context, url string) {
	vs := readVectors(t)
	_, key, code := honestSmallLog(t, vs)
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/logs/honest/page.html")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!window.jsverify`)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		base    string
		timeout int
		want    string
		fetched []string
	}{
		{".", 0, "verified", []string{"checkpoint.edge", "tile/entries/000"}},
		{"./", 0, "verified", nil},
		{"../honest", 0, "verified", nil},
		{url + "/logs/honest", 0, "verified", nil},
		{"../noedge/", 0, "verified", []string{"checkpoint.edge", "checkpoint", "tile/entries/000", "tile/0/001.p/44"}},
		{"../gzip/", 0, "verified", nil},
		{"../redirect/", 0, "verified", nil},
		{"../endless/", 0, "unchecked", nil},
		{"../stall/", 300, "unchecked", []string{"checkpoint.edge"}},
		{"../loop/", 0, "unchecked", nil},
		{"../missing/", 0, "unchecked", []string{"checkpoint.edge", "checkpoint"}},
	} {
		args, _ := json.Marshal(map[string]any{"base": c.base, "key": key, "code": code, "timeout": c.timeout})
		start := time.Now()
		r, err := chromedp.Run(ctx, chromedp.Evaluate[jsResult](fmt.Sprintf(`(async (a) => {
			if (!a.timeout) delete a.timeout;
			const r = await jsverify.verifyCode(a);
			return { verdict: r.verdict, detail: r.detail, fetched: r.fetched };
		})(%s)`, args), chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		if r.Verdict != c.want || c.fetched != nil && strings.Join(r.Fetched, " ") != strings.Join(c.fetched, " ") {
			t.Errorf("base %q: %s (%s), fetched %q; want %s, fetched %q", c.base, r.Verdict, r.Detail, r.Fetched, c.want, c.fetched)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("base %q took %v", c.base, d)
		}
	}
}
