package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestParseResponse reads responses the way net/http writes them, whole
// and cut at every byte: a cut response is incomplete, never an error or
// a status.
func TestParseResponse(t *testing.T) {
	for _, tc := range []struct {
		name, resp string
		status     int
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello", 200},
		{"empty", "HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n", 204},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\na\r\n0123456789\r\n0\r\n\r\n", 200},
		{"error", "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy", 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(tc.resp + "HTTP/1.1 ...") // the next response must not be read
			status, n, err := parseResponse(b)
			if err != nil || status != tc.status || n != len(tc.resp) {
				t.Fatalf("parseResponse = %d, %d, %v; want %d, %d", status, n, err, tc.status, len(tc.resp))
			}
			for cut := range len(tc.resp) {
				if status, n, err := parseResponse([]byte(tc.resp[:cut])); status != 0 || n != 0 || err != nil {
					t.Fatalf("cut at %d: parseResponse = %d, %d, %v; want incomplete", cut, status, n, err)
				}
			}
		})
	}
	for _, bad := range []string{
		"HTTP/1.0 200 OK\r\n\r\n",
		"HTTP/1.1 2x0 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\n\r\n",
	} {
		if _, _, err := parseResponse([]byte(bad)); err == nil {
			t.Errorf("parseResponse(%q) took it", bad)
		}
	}
}

// TestRunClients drives net/http's server with the event-loop clients:
// every client keeps its connection and sends its own cities, answers
// other than 200 are counted as failures, and a connection the server
// closes is dialled again.
func TestRunClients(t *testing.T) {
	var served, closed atomic.Int64
	seen := sync.Map{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		var body [200]byte
		n, _ := r.Body.Read(body[:])
		if _, dup := seen.LoadOrStore(string(body[:n]), true); dup {
			http.Error(w, "same city twice", http.StatusConflict)
			return
		}
		if served.Add(1)%50 == 0 && closed.Add(1) <= 3 {
			w.Header().Set("Connection", "close")
		}
		if strings.Contains(string(body[:n]), "Bench 2") {
			w.Write([]byte(strings.Repeat("x", 10_000))) // past net/http's buffer: chunked
			return
		}
		fmt.Fprint(w, `{"code":"DE-BY-0000-X"}`)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	now := time.Now()
	lat, bad, err := runClients(addr, "tok", 0, 4, now, now.Add(200*time.Millisecond))
	if err != nil || bad > 3 || len(lat) < 100 {
		t.Fatalf("runClients: %d measured, %d failed, %v; want 100 or more, at most the 3 closed connections' in-flight requests", len(lat), bad, err)
	}
	if closed.Load() < 3 {
		t.Fatalf("the server closed %d connections, want 3", closed.Load())
	}
	lat, bad, err = runClients(addr, "wrong", 0, 2, now, time.Now().Add(50*time.Millisecond))
	if err != nil || len(lat) != 0 || bad == 0 {
		t.Fatalf("runClients with a wrong token: %d measured, %d failed, %v; want every request failed", len(lat), bad, err)
	}
}
