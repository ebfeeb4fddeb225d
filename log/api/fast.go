package api

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/citylog/citylog/log/entry"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// The HTTP/1.1 front is fasthttp, not net/http: with 512 clients on 2
// cores, net/http's connection handling (a goroutine waking for the
// background read of every request, deadlines set and reset, a response
// writer per request) was two thirds of the server's CPU per allocation,
// 60-62 µs in all; fasthttp answers one in 40-51 µs, and takes the
// server from 21,000 allocations/s with a median of 23-24 ms to
// 23,000-29,000 with 17-22 ms. Only the allocation path is written for
// it; everything else (the read path, /healthz, /metrics, any other
// method) goes through the net/http handler by fasthttp's adaptor.

// headBytes is the longest request head (request line and headers) the
// front takes: nginx's default. net/http took up to 1 MiB.
const headBytes = 8 << 10

// Timeouts bound what one connection may hold the server for.
type Timeouts struct {
	Header time.Duration // to send a request's headers (slow clients)
	Read   time.Duration // to send its body, once the headers are in
	Write  time.Duration // to take the answer
	Idle   time.Duration // between requests on a keep-alive connection
}

// NewHTTPServer returns the HTTP server answering for s: Serve it on a
// listener, ShutdownWithContext it to stop. The allocation path refuses a
// body past entry.MaxRequestSize, any other path one past maxBody or of
// no given length, unread: nothing else takes a body.
func (s *Server) NewHTTPServer(t Timeouts, maxBody int) *fasthttp.Server {
	rest := fasthttpadaptor.NewFastHTTPHandler(s)
	return &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			switch {
			case ctx.IsPost() && string(ctx.Path()) == "/api/v1/allocate":
				s.fastAllocate(ctx)
			case bodyOver(ctx, maxBody):
				// No other path takes a body, and the adaptor would read
				// one whole into memory.
				s.fastRefuse(ctx, http.StatusRequestEntityTooLarge, "request too large", fmt.Sprintf("a request is at most %d bytes", entry.MaxRequestSize))
			default:
				rest(ctx)
			}
		},
		// Bodies reach the handler as streams: a body past its limit is
		// refused unread, and fasthttp reads and drops up to 256 KiB of it
		// so that the client, still sending, reads the answer (past that
		// the connection closes), as net/http does.
		StreamRequestBody: true,
		// fasthttp has one read timeout a request: the headers' first,
		// then the body's once they are in.
		ReadTimeout: t.Header,
		HeaderReceived: func(*fasthttp.RequestHeader) fasthttp.RequestConfig {
			return fasthttp.RequestConfig{ReadTimeout: t.Read}
		},
		WriteTimeout:          t.Write,
		IdleTimeout:           t.Idle,
		MaxRequestBodySize:    maxBody,
		ReadBufferSize:        8 << 10, // the longest request head taken, as nginx's default
		NoDefaultServerHeader: true,
		Logger:                slogPrintf{s.log},
		// What fasthttp refuses itself is answered as the API answers.
		ErrorHandler: func(ctx *fasthttp.RequestCtx, err error) {
			status, short, detail := http.StatusBadRequest, "malformed request", err.Error()
			var small *fasthttp.ErrSmallBuffer
			var netErr net.Error
			switch {
			case errors.Is(err, fasthttp.ErrBodyTooLarge):
				status, short, detail = http.StatusRequestEntityTooLarge, "request too large", fmt.Sprintf("a request is at most %d bytes", entry.MaxRequestSize)
			case errors.As(err, &small):
				status, short, detail = http.StatusRequestHeaderFieldsTooLarge, "request head too large", fmt.Sprintf("the request line and headers are at most %d bytes", headBytes)
			case errors.As(err, &netErr) && netErr.Timeout():
				status, short, detail = http.StatusRequestTimeout, "request timeout", "the request did not arrive in time"
			}
			s.fastRefuse(ctx, status, short, detail)
			ctx.SetConnectionClose()
		},
	}
}

// fastRefuse answers a request the front refuses itself as the API
// refuses one.
func (s *Server) fastRefuse(ctx *fasthttp.RequestCtx, status int, short, detail string) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(appendErrorBody(nil, short, detail))
	s.refusals.log(s.log, ctx.RemoteAddr().String(), status, short, detail, "")
	s.metrics.add(requestsSeries(status), 1)
}

// fastAllocate answers a POST to /api/v1/allocate.
func (s *Server) fastAllocate(ctx *fasthttp.RequestCtx) {
	buf := s.answerBuffers()
	status := s.allocateOne(fastAllocation{ctx}, buf)
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(buf.answer) // copies
	s.answers.Put(buf)
	s.metrics.add(requestsSeries(status), 1)
}

// bodyOver says the request's body is longer than limit, or of a length
// not given (chunked).
func bodyOver(ctx *fasthttp.RequestCtx, limit int) bool {
	n := ctx.Request.Header.ContentLength()
	return n > limit || n == -1
}

// fastAllocation is an allocation through fasthttp.
type fastAllocation struct{ ctx *fasthttp.RequestCtx }

func (a fastAllocation) post() bool { return a.ctx.IsPost() }
func (a fastAllocation) authorization() string {
	return string(a.ctx.Request.Header.Peek("Authorization"))
}
func (a fastAllocation) setHeader(k, v string) { a.ctx.Response.Header.Set(k, v) }
func (a fastAllocation) remoteAddr() string    { return a.ctx.RemoteAddr().String() }

func (a fastAllocation) body(limit int) ([]byte, error) {
	if n := a.ctx.Request.Header.ContentLength(); n > limit {
		return nil, errBodyTooLarge // refused unread
	}
	r := a.ctx.RequestBodyStream()
	if r == nil {
		return a.ctx.PostBody(), nil
	}
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if len(b) > limit {
		return nil, errBodyTooLarge
	}
	return b, err
}

// slogPrintf logs fasthttp's messages (a connection it gave up on) as
// warnings, as net/http's ErrorLog did.
type slogPrintf struct{ l *slog.Logger }

func (p slogPrintf) Printf(format string, args ...any) { p.l.Warn(fmt.Sprintf(format, args...)) }
