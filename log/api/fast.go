package api

import (
	"errors"
	"fmt"
	"log/slog"
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
// 58 µs in all; fasthttp answers an allocation in 42 µs, and takes the
// server from about 20,000 allocations/s with a median of 24 ms to 25,000
// with 20 ms. Only the allocation path is written for it; everything else
// (the read path, /healthz, /metrics, any other method) goes through the
// net/http handler by fasthttp's adaptor, as before.

// Timeouts bound what one connection may hold the server for.
type Timeouts struct {
	Header time.Duration // to send a request's headers (slow clients)
	Read   time.Duration // to send its body, once the headers are in
	Write  time.Duration // to take the answer
	Idle   time.Duration // between requests on a keep-alive connection
}

// NewHTTPServer returns the HTTP server answering for s: Serve it on a
// listener, ShutdownWithContext it to stop. Bodies past maxBody bytes are
// refused before a handler sees them; the allocation path refuses any
// past entry.MaxRequestSize itself, with its own error.
func (s *Server) NewHTTPServer(t Timeouts, maxBody int) *fasthttp.Server {
	rest := fasthttpadaptor.NewFastHTTPHandler(s)
	return &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			if ctx.IsPost() && string(ctx.Path()) == "/api/v1/allocate" {
				s.fastAllocate(ctx)
				return
			}
			rest(ctx)
		},
		// fasthttp has one read timeout a request: the headers' first,
		// then the body's once they are in.
		ReadTimeout: t.Header,
		HeaderReceived: func(*fasthttp.RequestHeader) fasthttp.RequestConfig {
			return fasthttp.RequestConfig{ReadTimeout: t.Read}
		},
		WriteTimeout:       t.Write,
		IdleTimeout:        t.Idle,
		MaxRequestBodySize: maxBody,
		ReadBufferSize:     8 << 10, // the longest request head taken, as nginx's default

		NoDefaultServerHeader: true,
		Logger:                slogPrintf{s.log},
		// What fasthttp refuses itself is answered as the API answers.
		ErrorHandler: func(ctx *fasthttp.RequestCtx, err error) {
			status, short, detail := http.StatusBadRequest, "malformed request", err.Error()
			if errors.Is(err, fasthttp.ErrBodyTooLarge) {
				status, short, detail = http.StatusRequestEntityTooLarge, "request too large", fmt.Sprintf("a request is at most %d bytes", entry.MaxRequestSize)
			}
			ctx.SetStatusCode(status)
			ctx.SetContentType("application/json")
			ctx.SetBody(appendErrorBody(nil, short, detail))
			ctx.SetConnectionClose()
			s.refusals.log(s.log, ctx.RemoteAddr().String(), status, short, detail, "")
			s.metrics.add(requestsSeries(status), 1)
		},
	}
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

// fastAllocation is an allocation through fasthttp, whose body is read
// whole (within the server's MaxRequestBodySize) before the handler runs.
type fastAllocation struct{ ctx *fasthttp.RequestCtx }

func (a fastAllocation) authorization() string {
	return string(a.ctx.Request.Header.Peek("Authorization"))
}
func (a fastAllocation) setHeader(k, v string) { a.ctx.Response.Header.Set(k, v) }
func (a fastAllocation) remoteAddr() string    { return a.ctx.RemoteAddr().String() }

func (a fastAllocation) body(limit int) ([]byte, error) {
	b := a.ctx.PostBody()
	if len(b) > limit {
		return nil, errBodyTooLarge
	}
	return b, nil
}

// slogPrintf logs fasthttp's messages (a connection it gave up on) as
// warnings, as net/http's ErrorLog did.
type slogPrintf struct{ l *slog.Logger }

func (p slogPrintf) Printf(format string, args ...any) { p.l.Warn(fmt.Sprintf(format, args...)) }

var _ http.Handler = (*Server)(nil)
