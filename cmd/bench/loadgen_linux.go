package main

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"syscall"
	"time"
	"unsafe"
)

// loadConn is one client: a keep-alive connection with one request in
// flight at a time.
type loadConn struct {
	fd   int
	id   int       // numbers the client's cities apart from the others'
	sent int       // requests sent
	t0   time.Time // when the request in flight was sent
	buf  []byte    // the response so far
}

// runClients drives n clients, numbered from first, from one OS thread
// with epoll, as wrk does: each sends an allocation, waits for the answer
// and sends the next, until deadline. It returns the latencies of the
// requests sent after measureFrom and the count of failed ones (not 200,
// or a connection lost; a lost connection is dialled again). An error is
// returned only if the loop cannot go on.
func runClients(addr, token string, first, n int, measureFrom, deadline time.Time) ([]time.Duration, int, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	to, err := sockaddr(addr)
	if err != nil {
		return nil, 0, err
	}
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, 0, fmt.Errorf("epoll: %w", err)
	}
	defer syscall.Close(ep)
	byFD := map[int32]*loadConn{}
	defer func() {
		for _, c := range byFD {
			syscall.Close(c.fd)
		}
	}()
	var req []byte
	send := func(c *loadConn) error {
		req = allocateRequest(req[:0], addr, token, c.id*10_000_000+c.sent)
		c.sent++
		c.t0 = time.Now()
		w, err := rawIO(syscall.SYS_WRITE, c.fd, req)
		if err == nil && w < len(req) {
			// An idle connection's send buffer takes a 300-byte request
			// whole; anything else is a fault worth seeing.
			err = fmt.Errorf("short write: %d of %d bytes", w, len(req))
		}
		return err
	}
	open := func(c *loadConn) error {
		fd, err := dialNonblocking(to)
		if err != nil {
			return err
		}
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}
		if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
			syscall.Close(fd)
			return fmt.Errorf("epoll: %w", err)
		}
		c.fd, c.buf = fd, c.buf[:0]
		byFD[int32(fd)] = c
		return send(c)
	}
	// reopen replaces a connection that failed; a client whose connection
	// cannot be dialled again ends the run loudly rather than quietly
	// lowering the load.
	reopen := func(c *loadConn) error {
		delete(byFD, int32(c.fd))
		syscall.Close(c.fd)
		if err := open(c); err != nil {
			return fmt.Errorf("client %d: dialling again: %w", c.id, err)
		}
		return nil
	}
	for i := range n {
		if err := open(&loadConn{id: first + i, buf: make([]byte, 0, 16<<10)}); err != nil {
			return nil, 0, fmt.Errorf("client %d: %w", first+i, err)
		}
	}
	var lat []time.Duration
	bad := 0
	events := make([]syscall.EpollEvent, 256)
	for time.Now().Before(deadline) {
		k, err := pollEvents(ep, events)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return lat, bad, fmt.Errorf("epoll: %w", err)
		}
		for _, ev := range events[:k] {
			c := byFD[ev.Fd]
			if c == nil {
				continue
			}
			if len(c.buf) == cap(c.buf) {
				c.buf = append(c.buf, make([]byte, cap(c.buf))...)[:len(c.buf)]
			}
			r, err := rawIO(syscall.SYS_READ, c.fd, c.buf[len(c.buf):cap(c.buf)])
			if errors.Is(err, syscall.EAGAIN) {
				continue
			}
			if err == nil && r == 0 {
				err = errors.New("closed by the server")
			}
			var status, m int
			if err == nil {
				c.buf = c.buf[:len(c.buf)+r]
				if status, m, err = parseResponse(c.buf); err == nil && m != 0 && m != len(c.buf) {
					err = fmt.Errorf("%d bytes after the response", len(c.buf)-m)
				}
			}
			if err != nil {
				bad++
				if err := reopen(c); err != nil {
					return lat, bad, err
				}
				continue
			}
			if m == 0 {
				continue // more to come
			}
			c.buf = c.buf[:0]
			switch {
			case status != 200:
				bad++
			case c.t0.After(measureFrom):
				lat = append(lat, time.Since(c.t0))
			}
			if time.Now().Before(deadline) {
				if err := send(c); err != nil {
					bad++
					if err := reopen(c); err != nil {
						return lat, bad, err
					}
				}
			}
		}
	}
	return lat, bad, nil
}

// rawIO reads or writes a non-blocking socket without telling the
// runtime: a syscall that cannot block needs no hand-off of the thread's
// P, and announcing every one of them kept the runtime's monitor waking
// every 20 µs to take Ps back (a fifth of the load generator's CPU).
func rawIO(call uintptr, fd int, b []byte) (int, error) {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	n, _, errno := syscall.RawSyscall(call, uintptr(fd), uintptr(p), uintptr(len(b)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// pollEvents returns the ready connections, waiting up to 10 ms for one,
// in a raw syscall too: the loop's thread is its own (and the runtime
// keeps a P spare), and a wait the runtime knows of is one it hands the P
// off from and back.
func pollEvents(ep int, events []syscall.EpollEvent) (int, error) {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 10, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// sockaddr resolves a numeric host:port.
func sockaddr(addr string) (*syscall.SockaddrInet4, error) {
	a, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return nil, err
	}
	sa := &syscall.SockaddrInet4{Port: a.Port}
	copy(sa.Addr[:], a.IP.To4())
	return sa, nil
}

// dialNonblocking connects a TCP socket to `to` (from clientAddr if set),
// without Nagle's delay, and makes it non-blocking.
func dialNonblocking(to *syscall.SockaddrInet4) (int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("socket: %w", err)
	}
	fail := func(what string, err error) (int, error) {
		syscall.Close(fd)
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	if clientAddr != nil {
		from := &syscall.SockaddrInet4{}
		copy(from.Addr[:], clientAddr.IP.To4())
		if err := syscall.Bind(fd, from); err != nil {
			return fail("bind", err)
		}
	}
	if err := syscall.Connect(fd, to); err != nil {
		return fail("connect", err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1); err != nil {
		return fail("TCP_NODELAY", err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		return fail("non-blocking", err)
	}
	return fd, nil
}
