// Package cli holds what citylog and cityverify share as command-line
// programs: how they start and how they recognise usage errors.
package cli

import (
	"context"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// RunMain runs a program's command line with a context that ends on SIGINT
// or SIGTERM, so long work (imports, servers, audits) stops gracefully.
func RunMain(run func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
}

// Execute runs root on args with the given streams; flagError turns a
// bad flag into the program's usage error.
func Execute(ctx context.Context, root *cobra.Command, args []string, stdin io.Reader, stdout, stderr io.Writer, flagError func(error) error) error {
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return flagError(err) })
	return root.ExecuteContext(ctx)
}

// IsUsage reports whether err is cobra's complaint about the command line
// (cobra returns plain errors for these, so their text is all there is).
func IsUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "accepts ", "requires at least", "required flag", "arg(s)"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// Version is the release a binary was built as, set by the release script
// (-ldflags -X); empty otherwise.
var Version = ""

// VersionString is what --version prints: the release, or the module
// version go install recorded (cmd@v1.2.3), or "(devel)".
func VersionString() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
