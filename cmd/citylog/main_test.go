package main

import (
	"context"
	"os"
	"testing"

	"github.com/citylog/citylog/cmd/internal/scripttest"
	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	if os.Getenv("CITYLOG_TEST_MAIN") == "1" {
		// The test binary runs as citylog itself, for tests that kill it.
		os.Exit(runMain())
	}
	testscript.Main(m, map[string]func(){
		"citylog": func() { os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{Dir: "testdata/script", Cmds: scripttest.Cmds})
}
