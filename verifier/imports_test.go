package verifier

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestNoWriterImports keeps the verifier apart from the writer: a city
// installs cityverify only, on any OS, and the browser verifier is held to
// the same checks. Everything under verifier/ and cmd/cityverify may use
// the tiles, the registry's data model (log/idcode, log/entry,
// log/idshard: pure, no I/O) and the shared plumbing under internal/ —
// no other package of the module, in particular nothing of the writer
// (package log, its storage, API, tokens, drivers).
func TestNoWriterImports(t *testing.T) {
	const mod = "github.com/citylog/citylog"
	allowed := func(pkg string) bool {
		for _, prefix := range []string{"/tiles", "/verifier", "/internal/", "/cmd/internal/cli", "/cmd/cityverify"} {
			if p, ok := strings.CutPrefix(pkg, mod+prefix); ok && (p == "" || p[0] == '/' || strings.HasSuffix(prefix, "/")) {
				return true
			}
		}
		return slices.Contains([]string{mod + "/log/idcode", mod + "/log/entry", mod + "/log/idshard"}, pkg)
	}
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...", "../cmd/cityverify").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	importers := map[string][]string{} // package -> the module's packages that import it
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		for _, imp := range f[1:] {
			if strings.HasPrefix(f[0], mod) {
				importers[imp] = append(importers[imp], f[0])
			}
		}
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg := strings.Fields(line)[0]
		if pkg != mod && !strings.HasPrefix(pkg, mod+"/") {
			continue
		}
		checked++
		if !allowed(pkg) {
			t.Errorf("the verifier side depends on %s (imported by %s): only tiles, the data model and internal/ are allowed",
				pkg, strings.Join(importers[pkg], ", "))
		}
	}
	if checked < 5 {
		t.Fatalf("go list named only %d of the module's packages: the walk is broken", checked)
	}
}
