// Package testenv finds the programs some tests need beside Go (a real
// S3-compatible server, a headless browser). Plain `go test` works on any
// machine: a test whose program is absent skips, naming the command that
// installs it. Under the README's test command (.ci/test), which installs
// them and sets CITYLOG_REQUIRE_TOOLS=1, such a test fails instead, so the
// suite can never pass by skipping.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// RequireVar is the environment variable that turns a skip for want of a
// tool into a failure.
const RequireVar = "CITYLOG_REQUIRE_TOOLS"

// Tool returns the path of the program name: in the repository's .bin/
// (where .ci/test installs it), else the first of names (name if none are
// given) found on PATH. If there is none, it skips t, or fails it under
// .ci/test, and returns "".
func Tool(t testing.TB, name string, names ...string) string {
	t.Helper()
	if root, ok := repoRoot(); ok {
		p := filepath.Join(root, ".bin", name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	if len(names) == 0 {
		names = []string{name}
	}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	Missing(t, "%s is not installed", name)
	return ""
}

// Missing skips t for a missing prerequisite, or fails it under .ci/test.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv(RequireVar) == "1" {
		t.Fatalf(format+" (%s=1: a missing tool is a failure; .ci/test installs it)", append(args, RequireVar)...)
		return
	}
	t.Skipf(format+"; run .ci/test, which installs it into .bin/ and runs the whole suite", args...)
}

// repoRoot finds the directory holding the module's go.mod, upwards from
// the test's working directory.
func repoRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, ".ci")); err == nil {
				return dir, true
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}
