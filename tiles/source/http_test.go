package source

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// testServer serves handler under /log/ and counts the requests it gets.
type testServer struct {
	*httptest.Server
	requests atomic.Int32
}

func newTestServer(t *testing.T, handler func(w http.ResponseWriter, r *http.Request, n int32)) *testServer {
	t.Helper()
	s := &testServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler(w, r, s.requests.Add(1))
	}))
	t.Cleanup(s.Close)
	return s
}

// newTestHTTP returns an HTTP source for s with fast retries.
func newTestHTTP(t *testing.T, s *testServer, opts HTTPOptions) *HTTP {
	t.Helper()
	if opts.Backoff == 0 {
		opts.Backoff = time.Millisecond
	}
	h, err := NewHTTP(s.URL+"/log/", opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// stall blocks until the client goes away (or a bound, so a broken test
// cannot hang the server's Close).
func stall(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(5 * time.Second):
	}
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func TestHTTPFetch(t *testing.T) {
	tile := make([]byte, MaxTileSize)
	rand.Read(tile) // incompressible, like hashes: gzip makes it larger
	ok := func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("User-Agent") != DefaultUserAgent {
			http.Error(w, "no user agent", http.StatusBadRequest)
			return
		}
		w.Write(tile)
	}
	status := func(codes ...int) func(http.ResponseWriter, *http.Request, int32) {
		return func(w http.ResponseWriter, r *http.Request, n int32) {
			if int(n) <= len(codes) {
				http.Error(w, "no", codes[n-1])
				return
			}
			ok(w, r)
		}
	}
	redirect := func(to string) func(http.ResponseWriter, *http.Request, int32) {
		return func(w http.ResponseWriter, r *http.Request, n int32) {
			if r.URL.Path == "/log/tile/0/000" {
				http.Redirect(w, r, to, http.StatusFound)
				return
			}
			ok(w, r)
		}
	}
	for _, tc := range []struct {
		name     string
		path     string // "tile/0/000" if empty
		opts     HTTPOptions
		handler  func(w http.ResponseWriter, r *http.Request, n int32)
		wantErr  error  // nil, ErrNotFound or ErrUnavailable
		wantMsg  string // in the error message
		requests int32
	}{
		{name: "plain", handler: func(w http.ResponseWriter, r *http.Request, _ int32) { ok(w, r) }, requests: 1},
		{name: "gzip", requests: 1, handler: func(w http.ResponseWriter, r *http.Request, _ int32) {
			if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
				http.Error(w, "no gzip", http.StatusBadRequest)
				return
			}
			z := gzipped(tile)
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("Content-Length", fmt.Sprint(len(z)))
			w.Write(z)
		}},
		{name: "404", handler: status(404), wantErr: ErrNotFound, requests: 1,
			wantMsg: "/log/tile/0/000: status 404: file does not exist"},
		{name: "410", handler: status(410), wantErr: ErrNotFound, requests: 1},
		{name: "503 twice", handler: status(503, 503), requests: 3},
		{name: "503 then 404", handler: status(503, 404), wantErr: ErrNotFound, requests: 2},
		{name: "503 forever", handler: status(503, 503, 503, 503), wantErr: ErrUnavailable, requests: 3,
			wantMsg: "/log/tile/0/000: status 503 after 3 attempts: source unavailable"},
		{name: "429 forever", handler: status(429, 429, 429, 429), wantErr: ErrUnavailable, requests: 3},
		{name: "attempts option", opts: HTTPOptions{Attempts: 5}, handler: status(500, 500, 500, 500, 500, 500),
			wantErr: ErrUnavailable, requests: 5},
		{name: "403", handler: status(403), wantErr: ErrRefused, requests: 1, wantMsg: "status 403: source unavailable"},
		{name: "401", handler: status(401), wantErr: ErrRefused, requests: 1},
		{name: "Content-Length too large", wantErr: ErrUnavailable, requests: 1, wantMsg: "Content-Length 1073741824",
			handler: func(w http.ResponseWriter, r *http.Request, _ int32) {
				w.Header().Set("Content-Length", fmt.Sprint(1<<30))
				w.WriteHeader(200)
				w.(http.Flusher).Flush()
				stall(r) // reading the body would time out instead
			}},
		{name: "chunked too large", wantErr: ErrUnavailable, requests: 1, wantMsg: "more than the 8192 bytes",
			handler: func(w http.ResponseWriter, r *http.Request, _ int32) {
				for range 9 {
					w.Write(make([]byte, 1024))
					w.(http.Flusher).Flush()
				}
			}},
		{name: "checkpoint too large", path: "checkpoint", wantErr: ErrUnavailable, requests: 1,
			handler: func(w http.ResponseWriter, r *http.Request, _ int32) {
				w.Write(make([]byte, MaxCheckpointSize+1))
			}},
		{name: "gzip bomb", wantErr: ErrUnavailable, requests: 1, wantMsg: "more than the 8192 bytes",
			handler: func(w http.ResponseWriter, r *http.Request, _ int32) {
				w.Header().Set("Content-Encoding", "gzip")
				w.Write(gzipped(make([]byte, 1<<20))) // 1 KiB on the wire
			}},
		{name: "bad gzip", wantErr: ErrUnavailable, requests: 1, wantMsg: "bad gzip body",
			handler: func(w http.ResponseWriter, r *http.Request, _ int32) {
				w.Header().Set("Content-Encoding", "gzip")
				w.Write(tile)
			}},
		{name: "unrequested encoding", wantErr: ErrUnavailable, requests: 1, wantMsg: `Content-Encoding "br"`,
			handler: func(w http.ResponseWriter, r *http.Request, _ int32) {
				w.Header().Set("Content-Encoding", "br")
				w.Write(tile)
			}},
		{name: "body stalls", opts: HTTPOptions{Timeout: 200 * time.Millisecond, Attempts: 1},
			wantErr: ErrUnavailable, requests: 1, wantMsg: "no complete response within 200ms",
			handler: func(w http.ResponseWriter, r *http.Request, _ int32) {
				w.Header().Set("Content-Length", fmt.Sprint(len(tile)))
				w.Write(tile[:100])
				w.(http.Flusher).Flush()
				stall(r)
			}},
		{name: "headers stall", opts: HTTPOptions{Timeout: 100 * time.Millisecond},
			wantErr: ErrUnavailable, requests: 3, wantMsg: "after 3 attempts",
			handler: func(w http.ResponseWriter, r *http.Request, _ int32) { stall(r) }},
		{name: "redirect", handler: redirect("/elsewhere/tile"), requests: 2},
		{name: "redirect chain of 5", requests: 6, handler: func(w http.ResponseWriter, r *http.Request, n int32) {
			if n <= 5 {
				http.Redirect(w, r, fmt.Sprintf("/hop/%d", n), http.StatusMovedPermanently)
				return
			}
			ok(w, r)
		}},
		{name: "redirect loop", handler: redirect("/log/tile/0/000"), wantErr: ErrUnavailable, requests: 6,
			wantMsg: "more than 5 redirects"},
		{name: "redirect to file", handler: redirect("file:///etc/passwd"), wantErr: ErrUnavailable, requests: 1,
			wantMsg: "redirect to non-http(s) URL file:///etc/passwd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t, tc.handler)
			h := newTestHTTP(t, s, tc.opts)
			path := tc.path
			if path == "" {
				path = "tile/0/000"
			}
			start := time.Now()
			b, err := h.Fetch(t.Context(), path)
			t.Logf("Fetch: %v", err)
			if took := time.Since(start); took > 800*time.Millisecond {
				t.Errorf("Fetch took %v", took)
			}
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("Fetch: %v", err)
			case tc.wantErr == nil && !bytes.Equal(b, tile):
				t.Errorf("Fetch returned %d bytes, want the %d of the tile", len(b), len(tile))
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Errorf("Fetch error = %v, want %v", err, tc.wantErr)
			case tc.wantErr != nil && !strings.Contains(err.Error(), "couldn't fetch "+s.URL+"/log/"+path):
				t.Errorf("Fetch error %q does not name the URL", err)
			}
			if errors.Is(err, ErrRefused) != (tc.wantErr == ErrRefused) || errors.Is(err, ErrRefused) && !errors.Is(err, ErrUnavailable) {
				t.Errorf("Fetch error = %v: a refusal is exactly a 4xx answer other than 404 and 410, and always unavailable", err)
			}
			if tc.wantMsg != "" && (err == nil || !strings.Contains(err.Error(), tc.wantMsg)) {
				t.Errorf("Fetch error = %v, want it to contain %q", err, tc.wantMsg)
			}
			if got := s.requests.Load(); got != tc.requests {
				t.Errorf("server got %d requests, want %d", got, tc.requests)
			}
		})
	}
}

func TestHTTPInvalidPath(t *testing.T) {
	s := newTestServer(t, func(w http.ResponseWriter, r *http.Request, _ int32) {})
	h := newTestHTTP(t, s, HTTPOptions{})
	for _, path := range []string{"../x", "/abs", `a\b`, "", ".", "a/../b", "a//b", "a/", "tile/../../x"} {
		if _, err := h.Fetch(t.Context(), path); err == nil || !strings.Contains(err.Error(), "invalid path") {
			t.Errorf("Fetch(%q) error = %v, want invalid path", path, err)
		}
	}
	if n := s.requests.Load(); n != 0 {
		t.Errorf("server got %d requests for invalid paths", n)
	}
}

func TestHTTPURL(t *testing.T) {
	for _, tc := range []struct{ base, path, want string }{
		{"/log", "checkpoint", "/log/checkpoint"},
		{"/log/", "checkpoint", "/log/checkpoint"},
		{"", "tile/0/x001/005.p/17", "/tile/0/x001/005.p/17"},
		{"/", "checkpoint", "/checkpoint"},
		{"/a/b", "file with space?#", "/a/b/file%20with%20space%3F%23"},
		{"/a%20b", "100%41", "/a%20b/100%2541"},
	} {
		var got atomic.Value
		s := newTestServer(t, func(w http.ResponseWriter, r *http.Request, _ int32) {
			got.Store(r.URL.EscapedPath())
		})
		h, err := NewHTTP(s.URL+tc.base, HTTPOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if h.String() != s.URL+tc.base {
			t.Errorf("String() = %q, want %q", h.String(), s.URL+tc.base)
		}
		if _, err := h.Fetch(t.Context(), tc.path); err != nil {
			t.Errorf("Fetch(%q): %v", tc.path, err)
		}
		if got.Load() != tc.want {
			t.Errorf("base %q, path %q: server saw %v, want %q", tc.base, tc.path, got.Load(), tc.want)
		}
	}
}

func TestNewHTTPBadBase(t *testing.T) {
	for _, base := range []string{"", "example.com/log", "ftp://example.com/", "file:///tmp/log", "https://", "https://h/log?x=1", "https://h/log#f", "http://[::1"} {
		if _, err := NewHTTP(base, HTTPOptions{}); err == nil {
			t.Errorf("NewHTTP(%q) succeeded", base)
		}
	}
	h, err := NewHTTP("https://example.com/log", HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := (HTTPOptions{DefaultTimeout, DefaultAttempts, DefaultBackoff, DefaultUserAgent}); h.opts != want {
		t.Errorf("default options = %+v, want %+v", h.opts, want)
	}
}

func TestHTTPContext(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    HTTPOptions
		handler func(w http.ResponseWriter, r *http.Request, n int32)
		ctx     func(context.Context) (context.Context, context.CancelFunc)
		wantErr error
	}{
		{"canceled while waiting", HTTPOptions{},
			func(w http.ResponseWriter, r *http.Request, _ int32) { stall(r) },
			func(ctx context.Context) (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(ctx)
				time.AfterFunc(50*time.Millisecond, cancel)
				return ctx, cancel
			}, context.Canceled},
		{"deadline during backoff", HTTPOptions{Backoff: 10 * time.Second},
			func(w http.ResponseWriter, r *http.Request, _ int32) {
				http.Error(w, "busy", http.StatusServiceUnavailable)
			},
			func(ctx context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeout(ctx, 100*time.Millisecond)
			}, context.DeadlineExceeded},
		{"deadline shorter than timeout", HTTPOptions{},
			func(w http.ResponseWriter, r *http.Request, _ int32) { stall(r) },
			func(ctx context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeout(ctx, 100*time.Millisecond)
			}, context.DeadlineExceeded},
		{"canceled before", HTTPOptions{},
			func(w http.ResponseWriter, r *http.Request, _ int32) {
				http.Error(w, "busy", http.StatusServiceUnavailable)
			},
			func(ctx context.Context) (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(ctx)
				cancel()
				return ctx, cancel
			}, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t, tc.handler)
			h := newTestHTTP(t, s, tc.opts)
			ctx, cancel := tc.ctx(t.Context())
			defer cancel()
			start := time.Now()
			_, err := h.Fetch(ctx, "checkpoint")
			t.Logf("Fetch: %v", err)
			if took := time.Since(start); took > 500*time.Millisecond {
				t.Errorf("Fetch took %v after the context ended", took)
			}
			if !errors.Is(err, tc.wantErr) || !errors.Is(err, ErrUnavailable) {
				t.Errorf("Fetch error = %v, want %v and %v", err, tc.wantErr, ErrUnavailable)
			}
			if n := s.requests.Load(); n > 1 {
				t.Errorf("server got %d requests, want at most 1", n)
			}
		})
	}
}
