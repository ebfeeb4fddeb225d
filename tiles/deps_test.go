package tiles

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportDirection keeps the arrows of DESIGN.md at the bottom: the
// data model and the tile format depend on nothing of ours above them, and
// do no I/O. (That the verifier side never imports the writer is
// verifier's TestNoWriterImports.)
func TestImportDirection(t *testing.T) {
	const mod = "github.com/citylog/citylog/"
	for _, tc := range []struct {
		pkg    string
		allow  []string // non-standard import path prefixes allowed
		forbid []string // standard packages forbidden (no I/O in pure packages)
	}{
		{"tiles", []string{"github.com/transparency-dev/merkle"}, []string{"os", "net", "net/http"}},
		{"log/idcode", nil, []string{"os", "net"}},
		{"log/entry", []string{mod + "log/idcode", "github.com/biter777/countries", "golang.org/x/text"}, []string{"os", "net"}},
		{"log/idshard", nil, []string{"os", "net"}},
	} {
		direct, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, mod+tc.pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", tc.pkg, err)
		}
		for _, path := range strings.Fields(string(direct)) {
			for _, f := range tc.forbid {
				if path == f {
					t.Errorf("%s imports %s, but must do no I/O", tc.pkg, path)
				}
			}
		}
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}}", mod+tc.pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", tc.pkg, err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			path, std, _ := strings.Cut(line, " ")
			if path == mod+tc.pkg || std == "true" {
				continue
			}
			ok := false
			for _, a := range tc.allow {
				ok = ok || strings.HasPrefix(path, a)
			}
			if !ok {
				t.Errorf("%s depends on %s, which DESIGN.md does not allow", tc.pkg, path)
			}
		}
	}
}
