package testenv

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Fault is what a FaultProxy does to one request.
type Fault int

const (
	Pass        Fault = iota // forward it
	Drop                     // never answer: the client's attempt times out
	Delay                    // answer late (FaultProxy.Delay)
	Status500                // answer 500 InternalError without forwarding
	SlowDown                 // answer 503 SlowDown without forwarding
	Reset                    // cut the connection without forwarding
	StoredReset              // forward it, then cut the connection: the server stored what the client never hears of
	Stored500                // forward it, then answer 500: likewise
)

var faultNames = []string{"pass", "drop", "delay", "500", "503 SlowDown", "reset", "stored, then reset", "stored, then 500"}

func (f Fault) String() string { return faultNames[f] }

// Faults are the fault kinds a store must survive.
var Faults = []Fault{Drop, Delay, Status500, SlowDown, Reset, StoredReset, Stored500}

// FaultProxy stands between a client and a real server and injects
// faults: the one fake the storage tests allow, for what a real server
// does not do on demand.
type FaultProxy struct {
	URL   string
	Delay time.Duration // for Delay (default 300 ms)
	// Plan decides each request's fault; nil passes everything.
	plan     atomic.Pointer[func(r *http.Request) Fault]
	injected atomic.Int64
	hold     chan struct{} // closed when the proxy stops: releases dropped requests
	once     sync.Once
}

// StartFaultProxy starts a proxy in front of target (an http URL).
func StartFaultProxy(t testing.TB, target string) *FaultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &FaultProxy{Delay: 300 * time.Millisecond, hold: make(chan struct{})}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(u)
		pr.Out.Host = pr.In.Host // the request is signed for the host the client saw
	}, ErrorLog: nil}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := Pass
		if plan := p.plan.Load(); plan != nil {
			f = (*plan)(r)
		}
		if f != Pass {
			p.injected.Add(1)
		}
		switch f {
		case Drop:
			io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-p.hold:
			}
			return
		case Delay:
			time.Sleep(p.Delay)
		case Status500:
			io.Copy(io.Discard, r.Body)
			writeS3Error(w, http.StatusInternalServerError, "InternalError")
			return
		case SlowDown:
			io.Copy(io.Discard, r.Body)
			writeS3Error(w, http.StatusServiceUnavailable, "SlowDown")
			return
		case Reset:
			io.Copy(io.Discard, r.Body)
			resetConn(w)
			return
		case StoredReset, Stored500:
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
			if f == StoredReset {
				resetConn(w)
			} else {
				writeS3Error(w, http.StatusInternalServerError, "InternalError")
			}
			return
		}
		rp.ServeHTTP(w, r)
	}))
	p.URL = srv.URL
	t.Cleanup(func() {
		p.once.Do(func() { close(p.hold) })
		srv.CloseClientConnections()
		srv.Close()
	})
	return p
}

// SetPlan sets how requests are faulted from now on (nil: none).
func (p *FaultProxy) SetPlan(plan func(r *http.Request) Fault) {
	if plan == nil {
		p.plan.Store(nil)
		return
	}
	p.plan.Store(&plan)
}

// Injected returns how many faults the proxy has injected.
func (p *FaultProxy) Injected() int64 { return p.injected.Load() }

// EveryNth returns a plan that gives fault f to every n-th request that
// match accepts, counting from the first.
func EveryNth(n int64, f Fault, match func(r *http.Request) bool) func(r *http.Request) Fault {
	var count atomic.Int64
	return func(r *http.Request) Fault {
		if match != nil && !match(r) {
			return Pass
		}
		if count.Add(1)%n == 0 {
			return f
		}
		return Pass
	}
}

func writeS3Error(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>`+code+`</Code><Message>injected by the fault proxy</Message></Error>`)
}

// resetConn cuts the client's connection with a TCP reset.
func resetConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("fault proxy: cannot hijack")
	}
	c, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0) // RST, not FIN
	}
	c.Close()
}
