// Package scripttest holds what the CLIs' testscript tests share.
package scripttest

import (
	"errors"
	"os/exec"
	"strconv"

	"github.com/rogpeppe/go-internal/testscript"
)

// Exits implements "exits N CMD ARGS...": it runs CMD and checks that it
// exits with status N, keeping its stdout and stderr for the assertions
// that follow. testscript's own exec only tells zero from non-zero.
func Exits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits N CMD [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: %v", err)
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exits: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}

// Cmds are the custom commands every CLI script may use.
var Cmds = map[string]func(*testscript.TestScript, bool, []string){"exits": Exits}
