package log

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenDamagedLog edits or truncates one file of a log at a time:
// Open must refuse with an error naming the problem, and change nothing.
func TestOpenDamagedLog(t *testing.T) {
	other := newLog(t) // a second log, for a checkpoint under another key
	for _, tc := range []struct {
		name   string
		damage func(dir string) error
		want   string
	}{
		{"truncated checkpoint", func(d string) error { return truncate(d, "public/checkpoint", 20) }, "does not verify"},
		{"foreign checkpoint", func(d string) error {
			b, _ := os.ReadFile(filepath.Join(other, "public/checkpoint"))
			return os.WriteFile(filepath.Join(d, "public/checkpoint"), b, 0o644)
		}, "does not verify"},
		{"edited hash tile", func(d string) error { return flip(d, "public/tile/0/002.p/88", 40) }, "edited or truncated"},
		{"truncated hash tile", func(d string) error { return truncate(d, "public/tile/0/002.p/88", 100) }, "tile/0/002.p/88"},
		{"missing level-1 tile", func(d string) error { return os.Remove(filepath.Join(d, "public/tile/1/000.p/2")) }, "tile/1/000.p/2"},
		{"edited bundle", func(d string) error { return flip(d, "public/tile/entries/002.p/88", 30) }, "does not hash"},
		{"truncated bundle", func(d string) error { return truncate(d, "public/tile/entries/002.p/88", 500) }, "tile/entries/002.p/88"},
		{"missing partial bundle", func(d string) error { return os.Remove(filepath.Join(d, "public/tile/entries/002.p/88")) }, "missing"},
		{"damaged staging", func(d string) error { return flip(d, "state/staging", 100) }, "checksum"},
		{"truncated staging", func(d string) error { return truncate(d, "state/staging", 10) }, "damaged"},
		{"bad extra subdivisions", func(d string) error {
			return os.WriteFile(filepath.Join(d, "public/extra-subdivisions.txt"), []byte("CN-XQ\nbogus\n"), 0o644)
		}, "line 2"},
		{"damaged witness policy", func(d string) error {
			return os.WriteFile(filepath.Join(d, "state/witnesses.json"), []byte(`{"witnesses":[{"url":"http://w","vkey":"bad"}],"quorum":1}`), 0o600)
		}, "witness key"},
		{"bad key", func(d string) error {
			return os.WriteFile(filepath.Join(d, "state/key"), []byte("PRIVATE+KEY+x\n"), 0o600)
		}, "not a note signing key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := newLog(t)
			w := openLog(t, dir)
			mustAllocate(t, w, genRequests(0, 600))
			w.Close()
			if err := tc.damage(dir); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, dir)
			_, err := Open(context.Background(), Config{Dir: dir})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open = %v, want an error mentioning %q", err, tc.want)
			}
			if after := snapshot(t, dir); after != before {
				t.Error("a refused Open changed the public tree")
			}
		})
	}
}

func TestDamagedIndexIsRebuilt(t *testing.T) {
	dir := newLog(t)
	w := openLog(t, dir)
	mustAllocate(t, w, genRequests(0, 300))
	w.Close()
	if err := os.WriteFile(filepath.Join(dir, StateDir, indexFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	w = openLog(t, dir)
	defer w.Close()
	if res := mustAllocate(t, w, genRequests(5, 1)); !res[0].Existing || res[0].Index != 5 {
		t.Fatalf("after rebuild: %+v", res[0])
	}
}

func truncate(dir, rel string, n int64) error { return os.Truncate(filepath.Join(dir, rel), n) }

func flip(dir, rel string, at int) error {
	p := filepath.Join(dir, rel)
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	b[at] ^= 0x01
	return os.WriteFile(p, b, 0o644)
}

// snapshot lists the public tree's files and sizes.
func snapshot(t *testing.T, dir string) string {
	var sb strings.Builder
	filepath.Walk(filepath.Join(dir, PublicDir), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b, _ := os.ReadFile(p)
			sb.WriteString(p + ":" + string(b) + "\n")
		}
		return nil
	})
	return sb.String()
}
