package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/citylog/citylog/internal/store"
	"github.com/citylog/citylog/internal/testenv"
)

// newStore returns a store on a fresh bucket of a real S3 server.
func newStore(t *testing.T, srv *testenv.S3, bucket, prefix string) *Store {
	t.Helper()
	s, err := New(Config{Bucket: bucket, Prefix: prefix, Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBucket(context.Background()); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	return s
}

func TestStoreAgainstVersitygw(t *testing.T) {
	srv := testenv.StartS3(t)
	ctx := context.Background()
	s := newStore(t, srv, "tree", "logs/cities")

	// Immutable files: created once, same bytes again is success, other
	// bytes are refused and the object stays.
	if err := s.CreateFile(ctx, "tile/0/000", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateFile(ctx, "tile/0/000", []byte("one")); err != nil {
		t.Errorf("same bytes again: %v", err)
	}
	if err := s.CreateFile(ctx, "tile/0/000", []byte("two")); !errors.Is(err, store.ErrImmutable) {
		t.Errorf("other bytes: %v, want ErrImmutable", err)
	}
	if b, err := s.ReadFile(ctx, "tile/0/000"); err != nil || string(b) != "one" {
		t.Errorf("tile holds %q, %v", b, err)
	}
	if _, err := s.ReadFile(ctx, "tile/0/001"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing object: %v, want fs.ErrNotExist", err)
	}

	// The checkpoint: created when this store saw it missing, replaced
	// only over the ETag it knows.
	if _, err := s.ReadFile(ctx, "checkpoint"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	if err := s.SwapFile(ctx, "checkpoint", []byte("cp 1")); err != nil {
		t.Fatal(err)
	}
	if err := s.SwapFile(ctx, "checkpoint", []byte("cp 2")); err != nil {
		t.Fatal(err)
	}
	other := newStore(t, srv, "tree", "logs/cities")
	if _, err := other.ReadFile(ctx, "checkpoint"); err != nil {
		t.Fatal(err)
	}
	if err := other.SwapFile(ctx, "checkpoint", []byte("cp 3 by another writer")); err != nil {
		t.Fatal(err)
	}
	if err := s.SwapFile(ctx, "checkpoint", []byte("cp 3")); !errors.Is(err, store.ErrLostRace) {
		t.Errorf("replacing over another writer's checkpoint: %v, want ErrLostRace", err)
	}
	if b, _ := other.ReadFile(ctx, "checkpoint"); string(b) != "cp 3 by another writer" {
		t.Errorf("the checkpoint now holds %q", b)
	}
	fresh := newStore(t, srv, "tree", "logs/cities")
	if err := fresh.SwapFile(ctx, "checkpoint", []byte("blind")); !errors.Is(err, store.ErrLostRace) {
		t.Errorf("creating a checkpoint that exists: %v, want ErrLostRace", err)
	}

	// Mutable files, listing, removal.
	for _, p := range []string{"tile/0/001.p/3", "tile/0/001.p/7", "index/ids/meta"} {
		if err := s.PutFile(ctx, p, []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.List(ctx, "tile/0/001.p"); err != nil || fmt.Sprint(got) != "[tile/0/001.p/3 tile/0/001.p/7]" {
		t.Errorf("List = %v, %v", got, err)
	}
	if err := s.RemoveAll(ctx, "tile/0/001.p"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.List(ctx, "tile/0/001.p"); len(got) != 0 {
		t.Errorf("after RemoveAll: %v", got)
	}
	if err := s.RemoveFile(ctx, "index/ids/meta"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveFile(ctx, "index/ids/meta"); err != nil {
		t.Errorf("removing a missing object: %v", err)
	}
}

// TestObjectMetadata: each object carries the Content-Type and
// Cache-Control citylog serve sends for it, so the bucket can be served
// as it is.
func TestObjectMetadata(t *testing.T) {
	srv := testenv.StartS3(t)
	ctx := context.Background()
	s := newStore(t, srv, "meta", "")
	for _, p := range []string{"tile/0/000", "tile/0/001.p/5", "checkpoint", "index/ids/meta"} {
		if err := s.PutFile(ctx, p, []byte("x")); err != nil {
			t.Fatal(err)
		}
		out, err := s.client.HeadObject(ctx, headInput("meta", p))
		if err != nil {
			t.Fatal(err)
		}
		ct, cc := store.Metadata(p)
		if deref(out.ContentType) != ct || deref(out.CacheControl) != cc {
			t.Errorf("%s: %q, %q; want %q, %q", p, deref(out.ContentType), deref(out.CacheControl), ct, cc)
		}
	}
}

// TestRacingCreates: many writers creating one immutable object with
// different bytes: exactly one wins, the others are refused.
func TestRacingCreates(t *testing.T) {
	srv := testenv.StartS3(t)
	ctx := context.Background()
	s := newStore(t, srv, "race", "")
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := newStore(t, srv, "race", "")
			err := w.CreateFile(ctx, "tile/entries/000", bytes.Repeat([]byte{byte(i)}, 100))
			if err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if !errors.Is(err, store.ErrImmutable) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d writers won, want 1", wins)
	}
	_ = s
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct{ in, bucket, prefix, err string }{
		{"s3://b/p/q", "b", "p/q", ""},
		{"s3://b", "b", "", ""},
		{"s3://b/", "b", "", ""},
		{"s3:///p", "", "", "names no bucket"},
		{"https://b/p", "", "", "not an s3://"},
	} {
		b, p, err := ParseURL(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || b != tc.bucket || p != tc.prefix {
			t.Errorf("%s = %q, %q, %v", tc.in, b, p, err)
		}
	}
	_ = http.StatusOK
}
