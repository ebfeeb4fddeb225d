package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a testing.TB that records a skip or a failure instead of
// ending the test.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()                      {}
func (r *recorder) Skipf(f string, args ...any)  { r.skipped = fmt.Sprintf(f, args...) }
func (r *recorder) Fatalf(f string, args ...any) { r.failed = fmt.Sprintf(f, args...) }

func TestMissingToolSkipsOrFails(t *testing.T) {
	for _, require := range []string{"", "1"} {
		t.Setenv(RequireVar, require)
		r := &recorder{TB: t}
		if got := Tool(r, "citylog-no-such-tool"); got != "" {
			t.Fatalf("found %q", got)
		}
		switch {
		case require == "1" && (r.failed == "" || r.skipped != ""):
			t.Errorf("with %s=1: failed %q, skipped %q; want a failure", RequireVar, r.failed, r.skipped)
		case require == "" && (r.skipped == "" || r.failed != ""):
			t.Errorf("without %s: failed %q, skipped %q; want a skip", RequireVar, r.failed, r.skipped)
		}
		if msg := r.failed + r.skipped; !strings.Contains(msg, "citylog-no-such-tool") || !strings.Contains(msg, ".ci/test") {
			t.Errorf("message %q does not name the tool and the set-up command", msg)
		}
	}
}

func TestToolPrefersRepositoryBin(t *testing.T) {
	root, ok := repoRoot()
	if !ok {
		t.Fatal("no repository root above the test's directory")
	}
	bin := filepath.Join(root, ".bin")
	os.MkdirAll(bin, 0o755)
	p := filepath.Join(bin, "citylog-testenv-probe")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(p)
	if got := Tool(t, "citylog-testenv-probe"); got != p {
		t.Errorf("Tool = %q, want %q", got, p)
	}
	if got := Tool(t, "sh-alias", "sh"); got == "" || filepath.Base(got) != "sh" {
		t.Errorf("Tool fell back to %q, want sh from PATH", got)
	}
}
