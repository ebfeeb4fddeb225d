package tokens

import (
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAddCheckRevoke(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	tok, err := Add(path, "paris", 0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), tok) {
		t.Fatal("the token itself is stored")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	c, err := NewChecker(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if name, ok := c.Check(tok); !ok || name != "paris" {
		t.Fatalf("Check = %q %v", name, ok)
	}
	for _, bad := range []string{"", tok + "x", tok[:len(tok)-1], "cl_AAAA"} {
		if _, ok := c.Check(bad); ok {
			t.Errorf("accepted %q", bad)
		}
	}
	if _, err := Add(path, "paris", 0); err == nil {
		t.Error("duplicate name accepted")
	}
	if _, err := Add(path, "bad name", 0); err == nil {
		t.Error("bad name accepted")
	}
	if err := Revoke(path, "paris"); err != nil {
		t.Fatal(err)
	}
	c.checked = time.Time{} // skip the once-a-second wait
	c.mtime = time.Time{}
	if _, ok := c.Check(tok); ok {
		t.Error("revoked token accepted")
	}
	if err := Revoke(path, "paris"); err == nil {
		t.Error("revoking twice succeeded")
	}
}

func TestRateLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	if _, err := Add(path, "slow", 10); err != nil {
		t.Fatal(err)
	}
	if _, err := Add(path, "bulk", 0); err != nil {
		t.Fatal(err)
	}
	c, _ := NewChecker(path, nil)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	allowed := 0
	for i := 0; i < 20; i++ {
		if c.Allow("slow", 1) {
			allowed++
		}
	}
	if allowed != 10 {
		t.Errorf("allowed %d of 20 at 10/s burst, want 10", allowed)
	}
	now = now.Add(500 * time.Millisecond)
	if !c.Allow("slow", 5) || c.Allow("slow", 1) {
		t.Error("half a second should refill 5")
	}
	for i := 0; i < 10000; i++ {
		if !c.Allow("bulk", 1) {
			t.Fatal("unlimited token limited")
		}
	}
}

func TestDamagedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	os.WriteFile(path, []byte("{not json"), 0o600)
	if _, err := NewChecker(path, nil); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("NewChecker on a damaged file: %v", err)
	}
	if _, err := Add(path, "x", 0); err == nil {
		t.Error("Add over a damaged file succeeded")
	}
}

// TestSlowRate: a rate below one a second still admits requests (the
// bucket holds at least one), at that rate.
func TestSlowRate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	if _, err := Add(path, "trickle", 0.5); err != nil {
		t.Fatal(err)
	}
	c, _ := NewChecker(path, nil)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	var got []bool
	for range 3 {
		got = append(got, c.Allow("trickle", 1))
		now = now.Add(time.Second)
	}
	now = now.Add(time.Second)
	got = append(got, c.Allow("trickle", 1))
	if fmt.Sprint(got) != "[true false true true]" {
		t.Errorf("0.5/s over 0, 1, 2, 4 s: %v, want [true false true true]", got)
	}
	for _, bad := range []float64{-1, math.NaN(), math.Inf(1)} {
		if _, err := Add(path, "bad", bad); err == nil {
			t.Errorf("rate %v accepted", bad)
		}
	}
}

// TestFileDamagedWhileRunning: a tokens file overwritten with garbage, or
// with JSON that is no token list, keeps the last good set in force and is
// reported (Problem, the log) until it reads again.
func TestFileDamagedWhileRunning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	tok, err := Add(path, "paris", 0)
	if err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	c, err := NewChecker(path, slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c.now = func() time.Time { return now }
	good, _ := os.ReadFile(path)
	for _, garbage := range []string{"{not json", `[{"name":"x","sha256":"nothex"}]`, `[{"name":"a b","sha256":"` + strings.Repeat("0", 64) + `"}]`} {
		os.WriteFile(path, []byte(garbage), 0o600)
		now = now.Add(2 * time.Second)
		os.Chtimes(path, now, now)
		if err := c.Problem(); err == nil || !strings.Contains(err.Error(), "damaged") {
			t.Errorf("%q: Problem() = %v", garbage, err)
		}
		if name, ok := c.Check(tok); !ok || name != "paris" {
			t.Errorf("%q: the last good token stopped working", garbage)
		}
	}
	if !strings.Contains(logged.String(), "tokens file unreadable") {
		t.Errorf("nothing logged: %q", logged.String())
	}
	os.WriteFile(path, good, 0o600)
	now = now.Add(2 * time.Second)
	os.Chtimes(path, now, now)
	if err := c.Problem(); err != nil {
		t.Errorf("after the file was mended: %v", err)
	}
}
