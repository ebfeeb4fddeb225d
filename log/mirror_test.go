package log

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/citylog/citylog/internal/store/dirstore"
	"github.com/citylog/citylog/internal/testenv"
	"github.com/citylog/citylog/tiles/source"
	"github.com/citylog/citylog/verifier"
	"github.com/citylog/citylog/verifier/mirror"
)

// TestMirrorFollowsLiveLog: a mirror follows a log while it grows, from
// its directory to a bucket, and a second mirror follows the bucket into
// a directory; after every batch both mirrors verify, with every code
// acknowledged so far.
func TestMirrorFollowsLiveLog(t *testing.T) {
	srv := testenv.StartS3(t)
	ctx := context.Background()
	dir := newLog(t)
	w := openLog(t, dir)
	defer w.Close()
	key, err := verifier.ParseKey(filepath.Join(dir, StateDir, vkeyFile))
	if err != nil {
		t.Fatal(err)
	}
	bucket := bucketStore(t, srv, "mirror")
	toBucket := mirror.New(verifier.New(source.Dir(filepath.Join(dir, PublicDir)), key), bucket)
	downDir := t.TempDir()
	down, err := dirstore.New(downDir)
	if err != nil {
		t.Fatal(err)
	}
	toDir := mirror.New(verifier.New(source.Source(bucketStore(t, srv, "mirror")), key), down)
	var acked []Result
	for i, n := range []int{1, 299, 256, 1000, 37} {
		acked = append(acked, mustAllocate(t, w, genRequests(len(acked), n))...)
		if i == 3 {
			w.PublishIDIndex(ctx)
		}
		// Every other round to the bucket is a new process (cron): its
		// store has seen none of the bucket's versions yet.
		if i%2 == 1 {
			toBucket = mirror.New(verifier.New(source.Dir(filepath.Join(dir, PublicDir)), key), bucketStore(t, srv, "mirror"))
		}
		for _, m := range []*mirror.Mirror{toBucket, toDir} {
			if _, err := m.Round(ctx); err != nil {
				t.Fatalf("after %d entries: %v", len(acked), err)
			}
		}
		for _, src := range []source.Source{bucketStore(t, srv, "mirror"), source.Dir(downDir)} {
			l := verifier.New(src, key)
			cp, err := l.Checkpoint(ctx)
			if err != nil || cp.Size != uint64(len(acked)) {
				t.Fatalf("mirror %s: size %d, %v; want %d", src, cp.Size, err, len(acked))
			}
			for _, r := range []Result{acked[0], acked[len(acked)/2], acked[len(acked)-1]} {
				if _, err := l.VerifyCode(ctx, r.Code.String()); err != nil {
					t.Errorf("mirror %s: %s: %v", src, r.Code, err)
				}
			}
		}
	}
}
