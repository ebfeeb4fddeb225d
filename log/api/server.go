// Package api is citylog's HTTP server: the write API that pools
// allocation requests into batches, and the read path that serves the
// public tree as any static host would, so the server's base URL is a log
// source for cityverify.
package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/citylog/citylog/log"
	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/log/tokens"
	"github.com/citylog/citylog/tiles/source"
)

// Config configures a Server.
type Config struct {
	PublicDir string // the log's public tree
	// Public, if set, is where the read path reads the public tree
	// instead of PublicDir: a bucket (the writer's store read through
	// its verifier-side Fetch, which keeps no state the writer's
	// compare-and-swap depends on). The bucket or its CDN is the read
	// path to give the public; this keeps the server's URL a log source.
	Public   source.Source
	StateDir string          // the writer's private state (named, never shown, by /healthz)
	Tokens   *tokens.Checker // who may write
	// Interval is the least time between the starts of two batches (0:
	// none, group commit alone decides); it bounds the storage requests
	// of a busy server.
	Interval time.Duration
	MaxBatch int // most requests in one batch (default 4096)
	// IndexEvery is how often the identifier index for cityverify find is
	// brought up to date (default one minute; also on Close).
	IndexEvery time.Duration
	Logger     *slog.Logger
	// Published, if set, is called after each batch is published (from
	// the publishing goroutine: it must not block), e.g. to bring a web
	// site up to date.
	Published func()
}

// Server answers the write API and serves the read path.
type Server struct {
	w       *log.Writer
	cfg     Config
	public  *os.Root // the public tree, which the read path never leaves
	log     *slog.Logger
	queue   chan *pending
	metrics *metrics
	// refusals rate-limits the log lines of refused requests: a flood of
	// bad requests must not become a flood of log lines.
	refusals refusalLog
	answers  sync.Pool // *answerBuffers

	mu         sync.Mutex
	submitting sync.WaitGroup // submits between their check and the queue
	closing    bool
	failed     error         // writes are refused: the writer failed (and is recovering, unless permanent)
	permanent  bool          // failed is evidence of corruption: no recovery
	done       chan struct{} // closed when the pool has stopped
	stop       chan struct{}
	wake       chan struct{} // a writer failure wakes the pooling loop to heal
	full       chan struct{} // the queue holds a full batch
}

// New returns a server over an open writer; call Run to start pooling.
func New(w *log.Writer, cfg Config) *Server {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 4096
	}
	if cfg.IndexEvery <= 0 {
		cfg.IndexEvery = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	s := &Server{w: w, cfg: cfg, log: cfg.Logger, queue: make(chan *pending, cfg.MaxBatch),
		metrics: newMetrics(), done: make(chan struct{}), stop: make(chan struct{}), wake: make(chan struct{}, 1),
		full: make(chan struct{}, 1)}
	if cfg.Public != nil {
		// The read path is the bucket.
	} else if root, err := os.OpenRoot(cfg.PublicDir); err == nil {
		s.public = root
	} else {
		s.log.Error("couldn't open the public tree; the read path serves nothing", "err", err)
	}
	m := s.metrics
	m.describe("citylog_allocations_total", "counter", "Allocation requests answered, by result.")
	m.describe("citylog_batches_total", "counter", "Batches published.")
	m.describe("citylog_batch_size", "histogram", "Requests per batch.")
	m.describe("citylog_integration_seconds", "histogram", "Time from a batch closing to its checkpoint being durably published.")
	m.describe("citylog_http_requests_total", "counter", "API requests by status code.")
	m.describe("citylog_errors_total", "counter", "Writer errors.")
	m.describe("citylog_log_size", "gauge", "Entries in the published log.")
	m.describe("citylog_writer_degraded", "gauge", "1 while the writer recovers from a transient error and writes are refused.")
	m.describe("citylog_writer_recoveries_total", "counter", "Times the writer recovered by itself from a transient error.")
	m.set("citylog_log_size", float64(w.Size()))
	m.set("citylog_writer_degraded", 0)
	return s
}

// ServeHTTP routes the API, operations endpoints and the read path.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/api/v1/allocate":
		s.allocate(w, r)
	case strings.HasPrefix(r.URL.Path, "/api/"):
		writeError(w, http.StatusNotFound, "not found", "the API has POST /api/v1/allocate")
	case r.URL.Path == "/healthz":
		s.healthz(w, r)
	case r.URL.Path == "/metrics":
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		s.metrics.write(w)
	default:
		s.serveStatic(w, r)
	}
}

// errorBody is every API error: a short reason and what to do.
type errorBody struct {
	Error  string `json:"error"`
	Detail string `json:"detail"`
}

// requestsSeries names the request counter of an HTTP status.
func requestsSeries(status int) string {
	if status == http.StatusOK {
		return `citylog_http_requests_total{code="200"}` // the common case builds no string
	}
	return fmt.Sprintf("citylog_http_requests_total{code=\"%d\"}", status)
}

func writeError(w http.ResponseWriter, status int, short, detail string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(appendErrorBody(nil, short, detail))
}

// answerBuffers are what an answer is encoded in: handlers take them from
// a pool, so that a busy server allocates none per answer.
type answerBuffers struct{ receipt, answer []byte }

// allocateResponse is the answer to one allocation, as
// appendAllocateResponse writes it.
type allocateResponse struct {
	Code     string           `json:"code"`
	Index    uint64           `json:"index"`
	Existing bool             `json:"existing"`
	Differs  *log.Differences `json:"differs,omitempty"` // where a resubmission differs from the entry
	Receipt  string           `json:"receipt"`           // c2sp.org/tlog-proof text
}

func (s *Server) allocate(w http.ResponseWriter, r *http.Request) {
	buf := s.answerBuffers()
	status := s.allocateOne(httpAllocation{w, r}, buf)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(buf.answer)
	s.answers.Put(buf)
	s.metrics.add(requestsSeries(status), 1)
}

// bearerToken returns the token of an "Authorization: Bearer <token>"
// header; the scheme is case-insensitive (RFC 7235).
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// allocation is a request to /api/v1/allocate, as either HTTP server
// (net/http or the fasthttp front, fast.go) hands it over.
type allocation interface {
	post() bool
	authorization() string
	// body reads the request body, errBodyTooLarge past limit bytes.
	body(limit int) ([]byte, error)
	setHeader(key, value string)
	remoteAddr() string
}

var errBodyTooLarge = errors.New("request body too large")

// httpAllocation is an allocation through net/http.
type httpAllocation struct {
	w http.ResponseWriter
	r *http.Request
}

func (a httpAllocation) post() bool            { return a.r.Method == http.MethodPost }
func (a httpAllocation) authorization() string { return a.r.Header.Get("Authorization") }
func (a httpAllocation) setHeader(k, v string) { a.w.Header().Set(k, v) }
func (a httpAllocation) remoteAddr() string    { return a.r.RemoteAddr }

func (a httpAllocation) body(limit int) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(a.w, a.r.Body, int64(limit)))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, errBodyTooLarge
	}
	return b, err
}

func (s *Server) answerBuffers() *answerBuffers {
	if buf, _ := s.answers.Get().(*answerBuffers); buf != nil {
		return buf
	}
	return new(answerBuffers)
}

// allocateOne answers a request to /api/v1/allocate: it returns the
// status and leaves the JSON body (the answer, or an errorBody) in
// buf.answer.
func (s *Server) allocateOne(a allocation, buf *answerBuffers) int {
	name := "" // the token's, once known
	fail := func(status int, short, detail string) int {
		buf.answer = appendErrorBody(buf.answer[:0], short, detail)
		s.refusals.log(s.log, a.remoteAddr(), status, short, detail, name)
		return status
	}
	if !a.post() {
		a.setHeader("Allow", "POST")
		return fail(http.StatusMethodNotAllowed, "method not allowed", "allocate with POST and a JSON request body")
	}
	bearer, ok := bearerToken(a.authorization())
	name, valid := s.cfg.Tokens.Check(bearer)
	if !ok || !valid {
		name = ""
		a.setHeader("WWW-Authenticate", `Bearer realm="citylog"`)
		return fail(http.StatusUnauthorized, "unauthorized", "send Authorization: Bearer <token>; the operator creates tokens with citylog token add")
	}
	if !s.cfg.Tokens.Allow(name, 1) {
		a.setHeader("Retry-After", "1")
		return fail(http.StatusTooManyRequests, "rate limited", "this token's rate limit is exceeded; retry after a second")
	}
	body, err := a.body(entry.MaxRequestSize)
	if errors.Is(err, errBodyTooLarge) {
		return fail(http.StatusRequestEntityTooLarge, "request too large", fmt.Sprintf("a request is at most %d bytes", entry.MaxRequestSize))
	}
	if err != nil {
		return fail(http.StatusBadRequest, "unreadable request", err.Error())
	}
	req, err := entry.ParseRequest(body)
	if err == nil {
		err = s.w.Rules().Normalize(&req)
	}
	if err != nil {
		return fail(http.StatusBadRequest, "invalid request", err.Error())
	}
	p := &pending{req: req, reply: make(chan reply, 1)}
	if !s.submit(p) {
		a.setHeader("Retry-After", "5")
		return fail(http.StatusServiceUnavailable, "unavailable", "the registry is shutting down or recovering from an error; retry later (resubmitting is safe)")
	}
	rep := <-p.reply // always answered: the pool never drops a submitted request
	switch {
	case rep.err != nil:
		a.setHeader("Retry-After", "5")
		return fail(http.StatusServiceUnavailable, "unavailable", "the allocation could not be published; retry later (resubmitting is safe)")
	case errors.Is(rep.res.Err, log.ErrConflict):
		return fail(http.StatusConflict, "conflict", rep.res.Err.Error())
	case rep.res.Err != nil:
		return fail(http.StatusBadRequest, "invalid request", rep.res.Err.Error())
	}
	buf.receipt = rep.receipts.Append(buf.receipt[:0], rep.i)
	buf.answer = appendAllocateResponse(buf.answer[:0], rep.res, buf.receipt)
	return http.StatusOK
}

// appendErrorBody appends an errorBody in JSON, and a newline.
func appendErrorBody(b []byte, short, detail string) []byte {
	j, _ := json.Marshal(errorBody{short, detail})
	return append(append(b, j...), '\n')
}

// redact replaces the log's directories in a message with their role, so
// that /healthz does not show the file system's layout.
func (s *Server) redact(msg string) string {
	for _, d := range []struct{ dir, name string }{{s.cfg.PublicDir, "public"}, {s.cfg.StateDir, "state"}} {
		if d.dir != "" {
			msg = strings.ReplaceAll(msg, d.dir, d.name)
		}
	}
	return msg
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	failed, permanent, closing := s.failed, s.permanent, s.closing
	s.mu.Unlock()
	problem, recovering := "", false
	switch {
	case failed != nil && permanent:
		problem = "writer stopped for good (an operator must look): " + failed.Error()
	case failed != nil:
		problem, recovering = "writer recovering from a transient error; writes refused meanwhile: "+failed.Error(), true
	case closing:
		problem = "shutting down"
	}
	// Degraded, not unhealthy: the server still works as it did.
	degraded := ""
	if err := s.cfg.Tokens.Problem(); err != nil {
		degraded = "tokens file unreadable; the last good tokens stay in force: " + err.Error()
	}
	// No disk write, no file opened: an unauthenticated request costs
	// nothing but this answer. A disk that cannot be written shows as the
	// writer's failure at the next batch, and the writer recovers from it.
	problem, degraded = s.redact(problem), s.redact(degraded)
	w.Header().Set("Content-Type", "application/json")
	if problem != "" {
		status := "unhealthy"
		if recovering {
			status = "degraded"
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]any{"status": status, "detail": problem})
		return
	}
	if degraded != "" {
		json.NewEncoder(w).Encode(map[string]any{"status": "degraded", "detail": degraded, "size": s.w.Size(), "origin": s.w.Origin()})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"status": "ok", "size": s.w.Size(), "origin": s.w.Origin()})
}

// refusalLog logs refused requests, at most refusalBurst at once and
// refusalRate a second; the lines it drops are counted in the next one.
type refusalLog struct {
	mu         sync.Mutex
	allowance  float64
	last       time.Time
	suppressed int
}

const refusalRate, refusalBurst = 10.0, 20.0

func (l *refusalLog) log(logger *slog.Logger, remote string, status int, reason, detail, token string) {
	l.mu.Lock()
	now := time.Now()
	if l.last.IsZero() {
		l.allowance = refusalBurst
	} else {
		l.allowance = min(refusalBurst, l.allowance+now.Sub(l.last).Seconds()*refusalRate)
	}
	l.last = now
	if l.allowance < 1 {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	l.allowance--
	suppressed := l.suppressed
	l.suppressed = 0
	l.mu.Unlock()
	attrs := []any{"status", status, "reason", reason, "detail", detail, "remote", remote}
	if token != "" {
		attrs = append(attrs, "token", token) // the token's name, never the token
	}
	if suppressed > 0 {
		attrs = append(attrs, "suppressed_before", suppressed)
	}
	logger.Warn("request refused", attrs...)
}
