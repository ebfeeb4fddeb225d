// Command cityverify checks a citylog log, or any C2SP tlog-tiles log,
// trusting nothing but the log's public key: it proves a city's code, an
// offline receipt, a leaf's inclusion, or that the log only grew.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/citylog/citylog/cmd/internal/cli"
	"github.com/citylog/citylog/log/idcode"
	"github.com/citylog/citylog/verifier"
	"github.com/spf13/cobra"
)

// Exit codes.
const (
	exitVerified  = 0
	exitFailed    = 1 // a signature, proof or entry does not check out
	exitInput     = 2 // usage or input error, including a mistyped code
	exitUnchecked = 3 // could not check: source unreachable, timed out, incomplete
)

func main() { os.Exit(runMain()) }

// runMain runs this process's command line, stopping gracefully on
// SIGINT or SIGTERM.
func runMain() int { return cli.RunMain(run) }

type env struct {
	stdout, stderr io.Writer
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:     "cityverify",
		Version: cli.VersionString(),
		Short:   "Verify city codes and the citylog log, trusting only the log's key",
		Long: `cityverify checks what a citylog registry publishes, from a local copy or any
static mirror, and trusts nothing but the log's public key (--key): every
checkpoint, tile, bundle and receipt it reads is verified before it says so.

Exit status: 0 verified, 1 verification failed (evidence against the log or
the mirror), 2 usage or input error (including a mistyped code), 3 could not
check (source unreachable or incomplete).`,
		Example: `  cityverify code CN-HE-00AB-1 --log https://cities.example.org/log --key cities.example.org/log+4095fd3b+AY1G...
  cityverify receipt paris.tlog-proof --key vkey.txt
  cityverify consistency --log https://mirror.example/log --key vkey.txt --since last-checkpoint --update`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(codeCmd(e), findCmd(e), inclusionCmd(e), consistencyCmd(e), receiptCmd(e), monitorCmd(e), witnessCmd(e), mirrorCmd(e))
	err := cli.Execute(ctx, root, args, stdin, stdout, stderr, func(err error) error { return fmt.Errorf("%w: %v", verifier.ErrInput, err) })
	if err == nil {
		return exitVerified
	}
	return report(stderr, err)
}

// hinted is an error with the hint that fits it better than its kind's.
type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() }
func (h *hinted) Unwrap() error { return h.err }

// report prints err with a hint and returns the exit code its kind means.
func report(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "cityverify: error: %v\n", err)
	fmt.Fprintf(stderr, "hint: %s\n", hintFor(err))
	return exitCode(err)
}

// exitCode is the exit status err's kind means.
func exitCode(err error) int {
	var ce *idcode.CheckError
	switch {
	case errors.As(err, &ce) || errors.Is(err, verifier.ErrInput) || cli.IsUsage(err):
		return exitInput
	case errors.Is(err, verifier.ErrNoCode) || errors.Is(err, verifier.ErrFailed):
		return exitFailed
	}
	return exitUnchecked
}

// hintFor says what the user can do about err.
func hintFor(err error) string {
	var h *hinted
	var ce *idcode.CheckError
	switch {
	case errors.As(err, &h):
		return h.hint
	case errors.As(err, &ce):
		return "a character of the code is probably mistyped: compare it with the original"
	case errors.Is(err, verifier.ErrInput) || cli.IsUsage(err):
		return "run with --help for usage and examples"
	case errors.Is(err, verifier.ErrWrongKey):
		// Not evidence: most often the key of another log, or a --log that
		// serves another log.
		return "is --key the key of this log, and does --log serve this log?"
	case errors.Is(err, verifier.ErrNoCode):
		return "check the identifier's spelling (scheme:value, e.g. unlocode:CNSJW)"
	case errors.Is(err, verifier.ErrFailed):
		return "do not rely on this; if the log itself misbehaved, the evidence can be shown to others"
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return "timed out or interrupted; try again or use another mirror"
	}
	return "the source could not be read; try again, check --log, or use another mirror"
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
