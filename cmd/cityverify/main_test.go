package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/citylog/citylog/cmd/internal/scripttest"
	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"cityverify": func() { os.Exit(runMain()) },
	})
}

// TestScript runs the txtar scripts with $FIXTURE (the verifier's fixture
// logs), $TESSERA (a log written by Tessera), and $URL, a real HTTP server
// serving the fixture log; $WORK/requests counts the requests it served.
func TestScript(t *testing.T) {
	fixture, _ := filepath.Abs("../../verifier/testdata")
	tessera, _ := filepath.Abs("../../testdata/vectors/tessera-log")
	testscript.Run(t, testscript.Params{
		Dir:  "testdata/script",
		Cmds: scripttest.Cmds,
		Setup: func(e *testscript.Env) error {
			var mu sync.Mutex
			var n int64
			files := http.FileServer(http.Dir(filepath.Join(fixture, "log")))
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				n++
				os.WriteFile(filepath.Join(e.WorkDir, "requests"), []byte(itoa(n)+"\n"), 0o644)
				mu.Unlock()
				http.StripPrefix("/log", files).ServeHTTP(w, r)
			}))
			e.Defer(srv.Close)
			e.Setenv("FIXTURE", fixture)
			e.Setenv("TESSERA", tessera)
			e.Setenv("URL", srv.URL+"/log")
			e.Setenv("XDG_CACHE_HOME", filepath.Join(e.WorkDir, ".cache"))
			return nil
		},
	})
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
