// Command citylog runs a citylog registry: it creates the log, allocates
// city codes one at a time or from a file, and reports the log's state.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/citylog/citylog/cmd/internal/cli"
	"github.com/citylog/citylog/internal/durable"
	"github.com/citylog/citylog/log"
	"github.com/spf13/cobra"
)

// Exit codes, shared by every command.
const (
	exitOK      = 0
	exitFailure = 1 // the operation could not be done (I/O, lock, damaged log)
	exitUsage   = 2 // the command line was wrong
	exitRefused = 3 // a request was refused (invalid, conflicting)
)

// cliError carries an exit code and a hint for the user.
type cliError struct {
	code int
	err  error
	hint string
}

func (e *cliError) Error() string { return e.err.Error() }
func (e *cliError) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return &cliError{code: exitUsage, err: fmt.Errorf(format, args...), hint: "run with --help for usage and examples"}
}

func main() { os.Exit(runMain()) }

// runMain runs this process's command line, stopping gracefully on
// SIGINT or SIGTERM.
func runMain() int { return cli.RunMain(run) }

// env is what commands read and write, so tests can run them in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:     "citylog",
		Version: cli.VersionString(),
		Short:   "Run a citylog registry: an append-only, verifiable log of city codes",
		Long: `citylog allocates one global code per city (CC-SSS-NNNN-K) and records every
allocation in a C2SP tlog-tiles Merkle log with a signed checkpoint, published
as static files under DIR/public that any web server or CDN can serve.`,
		Example: `  citylog init --dir reg --origin cities.example.org/log
  citylog allocate --dir reg --country FR --subdivision IDF --name Paris --id unlocode:FRPAR
  citylog import --dir reg testdata/cities.jsonl
  citylog status --dir reg`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(initCmd(e), allocateCmd(e), importCmd(e), statusCmd(e), demoCmd(e), serveCmd(e), siteCmd(e), tokenCmd(e), witnessCmd(e))
	err := cli.Execute(ctx, root, args, stdin, stdout, stderr, func(err error) error { return usageError("%v", err) })
	if err == nil {
		return exitOK
	}
	return report(stderr, err)
}

// report prints an error the way every citylog command does and returns
// its exit code.
func report(stderr io.Writer, err error) int {
	code, hint := exitFailure, ""
	var ce *cliError
	if errors.As(err, &ce) {
		code, hint = ce.code, ce.hint
	} else if cli.IsUsage(err) {
		code, hint = exitUsage, "run with --help for usage and examples"
	}
	switch {
	case hint != "":
	case errors.Is(err, log.ErrBadOrigin):
		code, hint = exitUsage, "the origin names the log in every checkpoint and key: e.g. --origin cities.example.org/log"
	case errors.Is(err, log.ErrNotInitialized):
		hint = "create a log first: citylog init --dir DIR --origin ORIGIN"
	case errors.Is(err, durable.ErrLocked):
		hint = "wait for the other writer to finish, or stop it; never run two writers on one log"
	case errors.Is(err, context.Canceled):
		hint = "interrupted; everything reported before the interruption is durably allocated"
	}
	fmt.Fprintf(stderr, "citylog: error: %v\n", err)
	if hint != "" {
		fmt.Fprintf(stderr, "hint: %s\n", hint)
	}
	return code
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func dirFlag(cmd *cobra.Command, dir *string) {
	cmd.Flags().StringVar(dir, "dir", "", "the log directory (required)")
	cmd.MarkFlagRequired("dir")
}

// endWrite ends a command's work on a log. After success it publishes
// the identifier index and saves the dedup index, together
// (Writer.Finish); after a failure it only releases the log, and err
// stands.
func endWrite(ctx context.Context, w *log.Writer, err error) error {
	if err != nil {
		w.Close()
		return err
	}
	return w.Finish(ctx)
}
