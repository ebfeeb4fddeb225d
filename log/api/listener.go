package api

import (
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Limits bound the connections a server holds, so that no client, and no
// flood of idle or slow connections, can take the file descriptors the
// writer needs: the writer must never be the one that fails.
type Limits struct {
	// Max is the most connections held at once; 0 means DefaultMaxConns.
	Max int
	// PerAddr is the most one remote address may hold; 0 means Max/8
	// (at least 8), so one client cannot take them all.
	PerAddr int
}

// fdReserve is the share of the process's descriptors left to the writer
// and its files (staging, tiles in flight, index shards and spool, dedup
// levels): at least 256, or a quarter of the limit.
func fdReserve(limit int) int { return max(256, limit/4) }

// DefaultMaxConns derives the connection cap from the process's
// descriptor limit, leaving the writer its reserve (at least 64).
func DefaultMaxConns() int {
	limit := fdLimit()
	return max(64, limit-fdReserve(limit))
}

func (l Limits) withDefaults() Limits {
	if l.Max <= 0 {
		l.Max = DefaultMaxConns()
	}
	if l.PerAddr <= 0 {
		l.PerAddr = max(8, l.Max/8)
	}
	l.PerAddr = min(l.PerAddr, l.Max)
	return l
}

// LimitListener accepts connections within the limits and closes the
// others at once: a refused client sees its connection reset and may try
// again; it costs the server one accept and one close.
type LimitListener struct {
	net.Listener
	lim Limits
	log *slog.Logger

	mu      sync.Mutex
	total   int
	perAddr map[string]int
	refused atomic.Int64 // since the last log line
	logged  time.Time
}

// Listen wraps ln with the limits.
func Listen(ln net.Listener, lim Limits, logger *slog.Logger) *LimitListener {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &LimitListener{Listener: ln, lim: lim.withDefaults(), log: logger, perAddr: map[string]int{}}
}

// Limits returns the limits in force.
func (l *LimitListener) Limits() Limits { return l.lim }

func (l *LimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := remoteHost(c)
		l.mu.Lock()
		ok := l.total < l.lim.Max && l.perAddr[addr] < l.lim.PerAddr
		if ok {
			l.total++
			l.perAddr[addr]++
		}
		l.mu.Unlock()
		if ok {
			return &limitedConn{Conn: c, release: func() { l.release(addr) }}, nil
		}
		c.Close()
		l.noteRefusal(addr)
	}
}

func (l *LimitListener) release(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perAddr[addr]--; l.perAddr[addr] <= 0 {
		delete(l.perAddr, addr)
	}
}

// noteRefusal logs refused connections, once a second at most.
func (l *LimitListener) noteRefusal(addr string) {
	n := l.refused.Add(1)
	l.mu.Lock()
	due := time.Since(l.logged) >= time.Second
	if due {
		l.logged = time.Now()
	}
	total, mine := l.total, l.perAddr[addr]
	l.mu.Unlock()
	if due {
		l.refused.Add(-n)
		l.log.Warn("connections refused at the cap", "refused", n, "last_from", addr, "held_by_it", mine, "held", total,
			"max", l.lim.Max, "max_per_addr", l.lim.PerAddr)
	}
}

// remoteHost is a connection's remote address without its port.
func remoteHost(c net.Conn) string {
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
