package jsverify

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoWriterImports keeps the browser verifier on the reading side, as
// verifier.TestNoWriterImports keeps cityverify: the tiles, the verifier,
// the data model (log/entry, log/idcode, log/idshard) and internal/, and
// nothing of the writer (package log, its storage, its API).
func TestNoWriterImports(t *testing.T) {
	const mod = "github.com/citylog/citylog"
	out, err := exec.Command("go", "list", "-deps", ".", "./gen").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, pkg := range strings.Fields(string(out)) {
		rest, ok := strings.CutPrefix(pkg, mod+"/")
		if !ok {
			continue
		}
		checked++
		allowed := rest == "log/entry" || rest == "log/idcode" || rest == "log/idshard"
		for _, p := range []string{"tiles", "verifier", "internal", "site/jsverify"} {
			allowed = allowed || rest == p || strings.HasPrefix(rest, p+"/")
		}
		if !allowed {
			t.Errorf("site/jsverify depends on %s: only the tiles, the verifier, the data model and internal/ are allowed", pkg)
		}
	}
	if checked < 4 {
		t.Fatalf("go list named only %d of the module's packages: the walk is broken", checked)
	}
}
