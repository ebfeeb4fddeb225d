package source

import (
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults for HTTPOptions. A tile is at most 16 MiB and usually 8 KiB, so
// 10 s per request is generous for a working host and short enough that a
// stalled one is given up on; three attempts ride out a CDN hiccup without
// turning an outage into a long wait.
const (
	DefaultTimeout   = 10 * time.Second
	DefaultAttempts  = 3
	DefaultBackoff   = 100 * time.Millisecond
	DefaultUserAgent = "cityverify (+https://github.com/citylog/citylog)"
)

// maxBackoff caps the wait between attempts, however many are allowed.
const maxBackoff = 5 * time.Second

// maxRedirects bounds the redirects one request follows: static hosts
// redirect once or twice (http to https, a bucket to its CDN), so more
// than this is a loop or a misconfiguration.
const maxRedirects = 5

// HTTPOptions tunes an HTTP source. The zero value gives the defaults.
type HTTPOptions struct {
	Timeout   time.Duration // each attempt, headers and body together; DefaultTimeout if 0
	Attempts  int           // tries per Fetch, counting the first; DefaultAttempts if 0
	Backoff   time.Duration // wait before the first retry, doubling after; DefaultBackoff if 0
	UserAgent string        // DefaultUserAgent if ""
}

// HTTP is a public tree on a static HTTP(S) host, as C2SP tlog-tiles
// serves it. It trusts nothing the host says: every attempt has a deadline
// that covers the body, every body is size-limited after decompression,
// and only failures that may pass (network errors, timeouts, 5xx, 429)
// are retried.
type HTTP struct {
	base   *url.URL
	opts   HTTPOptions
	client *http.Client
}

// NewHTTP returns a source fetching <base>/<path>. The base must be an
// http or https URL without query or fragment; a final "/" is optional.
func NewHTTP(base string, opts HTTPOptions) (*HTTP, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("couldn't parse base URL %q: %w", base, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("base URL %q is not an http(s)://host/path URL", base)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Attempts <= 0 {
		opts.Attempts = DefaultAttempts
	}
	if opts.Backoff <= 0 {
		opts.Backoff = DefaultBackoff
	}
	if opts.UserAgent == "" {
		opts.UserAgent = DefaultUserAgent
	}
	return &HTTP{
		base: u,
		opts: opts,
		// The default transport: shared connection pools and proxy
		// settings from the environment. It leaves gzip to us because we
		// set Accept-Encoding ourselves, so the size limit sees the
		// decompressed bytes.
		client: &http.Client{Transport: http.DefaultTransport, CheckRedirect: checkRedirect},
	}, nil
}

// checkRedirect keeps redirects few and on the web: a redirect to file:,
// data: or a custom scheme is never what a static host means.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > maxRedirects {
		return redirectError(fmt.Sprintf("more than %d redirects", maxRedirects))
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return redirectError("redirect to non-http(s) URL " + req.URL.Redacted())
	}
	return nil
}

// redirectError is a redirect checkRedirect refused. Retrying repeats it.
type redirectError string

func (e redirectError) Error() string { return string(e) }

// String returns the base URL, without any password.
func (h *HTTP) String() string { return h.base.Redacted() }

// Fetch gets <base>/<path>, retrying transient failures with exponential
// backoff until the attempts run out or ctx is done.
func (h *HTTP) Fetch(ctx context.Context, path string) ([]byte, error) {
	if !fs.ValidPath(path) || path == "." || strings.Contains(path, "\\") {
		return nil, fmt.Errorf("invalid path %q", path)
	}
	// JoinPath takes escaped elements: escape each one, so a name with
	// "%", "?" or "#" stays one file.
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	target := h.base.JoinPath(strings.Join(segs, "/"))
	u, shown := target.String(), target.Redacted() // no password in messages
	max := MaxSize(path)
	wait := h.opts.Backoff
	for attempt := 1; ; attempt++ {
		b, fail := h.get(ctx, u, max)
		if fail == nil {
			return b, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("couldn't fetch %s: %w: %w", shown, ErrUnavailable, context.Cause(ctx))
		}
		if !fail.retry || attempt == h.opts.Attempts {
			after := ""
			if attempt > 1 {
				after = fmt.Sprintf(" after %d attempts", attempt)
			}
			return nil, fmt.Errorf("couldn't fetch %s: %s%s: %w", shown, fail.what, after, fail.kind)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("couldn't fetch %s: %w: %w", shown, ErrUnavailable, context.Cause(ctx))
		case <-t.C:
		}
		wait = min(2*wait, maxBackoff)
	}
}

// attemptError is why one attempt failed.
type attemptError struct {
	what  string // for the message: "status 503", "dial tcp …: connection refused"
	kind  error  // ErrNotFound or ErrUnavailable
	retry bool   // whether another attempt may succeed
}

func unavailable(retry bool, format string, args ...any) *attemptError {
	return &attemptError{what: fmt.Sprintf(format, args...), kind: ErrUnavailable, retry: retry}
}

// get makes one attempt. Its deadline covers reading the body, so a host
// that sends headers and then stalls fails the attempt instead of hanging.
func (h *HTTP) get(ctx context.Context, u string, max int64) ([]byte, *attemptError) {
	ctx, cancel := context.WithTimeout(ctx, h.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, unavailable(false, "%v", err)
	}
	req.Header.Set("User-Agent", h.opts.UserAgent)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := h.client.Do(req)
	if err != nil {
		if re := redirectError(""); errors.As(err, &re) {
			return nil, unavailable(false, "%s", re)
		}
		return nil, h.transient(ctx, err)
	}
	defer resp.Body.Close()

	switch c := resp.StatusCode; {
	case c == http.StatusOK:
	case c == http.StatusNotFound || c == http.StatusGone:
		drain(resp.Body)
		return nil, &attemptError{what: fmt.Sprintf("status %d", c), kind: ErrNotFound}
	case c == http.StatusTooManyRequests || c >= 500:
		drain(resp.Body)
		return nil, unavailable(true, "status %d", c)
	default:
		drain(resp.Body)
		return nil, &attemptError{what: fmt.Sprintf("status %d", c), kind: refused{}}
	}

	enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding")))
	limit := max // on the bytes on the wire
	if enc == "gzip" {
		limit = maxCompressed(max)
	}
	if resp.ContentLength > limit {
		return nil, unavailable(false, "Content-Length %d is more than the %d bytes allowed", resp.ContentLength, limit)
	}
	var body io.Reader = resp.Body
	switch enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return nil, h.bodyError(ctx, err)
		}
		body = zr
	default:
		return nil, unavailable(false, "unrequested Content-Encoding %q", enc)
	}
	// The limit applies to what we keep, after decompression, so a gzip
	// bomb stops at max+1 bytes.
	b, err := ReadLimited(body, max)
	if errors.Is(err, ErrUnavailable) {
		return nil, unavailable(false, "body is more than the %d bytes allowed", max)
	}
	if err != nil {
		return nil, h.bodyError(ctx, err)
	}
	return b, nil
}

// bodyError tells a malformed gzip stream, which the host will send again,
// from a cut connection or a deadline, which may pass.
func (h *HTTP) bodyError(ctx context.Context, err error) *attemptError {
	var corrupt flate.CorruptInputError
	if ctx.Err() == nil && (errors.Is(err, gzip.ErrHeader) || errors.Is(err, gzip.ErrChecksum) ||
		errors.As(err, &corrupt) || errors.Is(err, io.EOF)) {
		return unavailable(false, "bad gzip body: %v", err)
	}
	return h.transient(ctx, err)
}

// transient describes a failure of the connection or of the attempt's
// deadline, both worth another attempt.
func (h *HTTP) transient(ctx context.Context, err error) *attemptError {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return unavailable(true, "no complete response within %v", h.opts.Timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its message repeats the URL
	}
	return unavailable(true, "%v", err)
}

// maxCompressed bounds the gzip encoding of max bytes. Hash tiles do not
// compress, and gzip's stored blocks add 5 bytes per 64 KiB plus a header
// and trailer, so an honest host stays well inside this.
func maxCompressed(max int64) int64 { return max + max/64 + 1024 }

// drain reads a little of an error body so the connection can be reused.
func drain(r io.Reader) { io.Copy(io.Discard, io.LimitReader(r, 4096)) }
