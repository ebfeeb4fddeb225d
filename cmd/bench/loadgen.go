package main

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// The load generator shares the 2 cores with the server it measures, so
// it is as lean as wrk: a few event loops speaking HTTP/1.1 themselves on
// non-blocking sockets (loadgen_linux.go). net/http's client cost about as
// much CPU per request as the server, and a goroutine per client with the
// runtime's poller about a third of it (20 µs of the server's 58).

var (
	crlf     = []byte("\r\n")
	headEnd  = []byte("\r\n\r\n")
	errHuge  = errors.New("response headers over 64 KiB")
	maxHeads = 64 << 10
)

// parseResponse reads the HTTP/1.1 response at the start of b and returns
// its status code and its length in b, or a length of 0 while b holds
// only part of it. It understands Content-Length and chunked bodies.
func parseResponse(b []byte) (status, n int, err error) {
	end := bytes.Index(b, headEnd)
	if end < 0 {
		if len(b) > maxHeads {
			return 0, 0, errHuge
		}
		return 0, 0, nil
	}
	line, rest, _ := bytes.Cut(b[:end], crlf)
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, 0, fmt.Errorf("bad status line %q", line)
	}
	if status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, 0, fmt.Errorf("bad status line %q", line)
	}
	length, chunked := -1, false
	for len(rest) > 0 {
		var h []byte
		h, rest, _ = bytes.Cut(rest, crlf)
		k, v, _ := bytes.Cut(h, []byte(":"))
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(v)); err != nil || length < 0 {
				return 0, 0, fmt.Errorf("bad Content-Length %q", v)
			}
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(v, []byte("chunked"))
		}
	}
	body := end + len(headEnd)
	switch {
	case chunked:
		at := body
		for {
			l := bytes.Index(b[at:], crlf)
			if l < 0 {
				return 0, 0, nil
			}
			size, err := strconv.ParseInt(string(b[at:at+l]), 16, 32)
			if err != nil || size < 0 {
				return 0, 0, fmt.Errorf("bad chunk size %q", b[at:at+l])
			}
			at += l + len(crlf) + int(size) + len(crlf) // no trailers
			if at > len(b) {
				return 0, 0, nil
			}
			if size == 0 {
				return status, at, nil
			}
		}
	case length >= 0:
		if len(b) < body+length {
			return 0, 0, nil
		}
		return status, body + length, nil
	}
	return 0, 0, errors.New("response has neither Content-Length nor chunked encoding")
}
