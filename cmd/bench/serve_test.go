package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestRoundTrip drives the load generator's HTTP/1.1 client against
// net/http's server: bodies sent with Content-Length and chunked, status
// codes passed through, several requests on one keep-alive connection.
func TestRoundTrip(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" || r.ContentLength <= 0 {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if strings.Contains(r.URL.RawQuery, "big") {
			w.Write([]byte(strings.Repeat("x", 10_000))) // over net/http's buffer: chunked
			return
		}
		w.Write([]byte(`{"code":"DE-BY-0000-X"}`))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	c, err := dialHTTP(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i, tc := range []struct {
		req  string
		want int
	}{
		{string(allocateRequest(nil, addr, "tok", 1)), 200},
		{strings.Replace(string(allocateRequest(nil, addr, "tok", 2)), "allocate", "allocate?big", 1), 200},
		{string(allocateRequest(nil, addr, "wrong", 3)), 400},
		{string(allocateRequest(nil, addr, "tok", 4)), 200},
	} {
		status, err := c.roundTrip([]byte(tc.req))
		if err != nil || status != tc.want {
			t.Fatalf("request %d: status %d, %v; want %d", i, status, err, tc.want)
		}
	}
	mine, bad := runClient(addr, "tok", 0, time.Now(), time.Now().Add(50*time.Millisecond))
	if len(mine) == 0 || bad != 0 {
		t.Fatalf("runClient: %d measured, %d errors", len(mine), bad)
	}
}
