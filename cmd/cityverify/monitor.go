package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/citylog/citylog/verifier"
	"github.com/citylog/citylog/verifier/monitor"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func monitorCmd(e *env) *cobra.Command {
	var f logFlags
	var state string
	var follow bool
	var interval, maxAge time.Duration
	cmd := &cobra.Command{
		Use:   "monitor --log SRC --key KEY --state DIR [--follow]",
		Short: "Audit the log: consistency, every entry against the rule, the tree, the index",
		Long: `monitor keeps the last audited checkpoint in --state. Each round it verifies
the log's new checkpoint (and witness quorum, if given), proves it consistent
with the last one, downloads every new entry, recomputes the hash tiles and
root from the entries, and replays the allocation rule over each entry:
canonical bytes, valid fields, code = f(index, country, subdivision) with a
valid check character, no identifier held by two codes, integration times
never decreasing, and the published identifier index truthful and complete.

Every violation of a round is printed as a JSON line with its evidence (the
entry, the signed checkpoint); the exit status is then 1. An interrupted
monitor resumes where it stopped. With --follow it runs a round every
--interval until interrupted; a source that cannot be reached is reported and
retried.`,
		Example: `  cityverify monitor --log https://cities.example.org/log --key vkey.txt --state ./audit
  cityverify monitor --log https://mirror.example/log --key vkey.txt --state ./audit --follow --interval 1m --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Getenv("GOGC") == "" {
				// The audit's live heap is a few MB, so the default would
				// collect every few MB allocated; 400 takes ~15% off a full
				// audit for ~10 MB more memory.
				debug.SetGCPercent(400)
			}
			l, err := f.open()
			if err != nil {
				return err
			}
			m, err := monitor.New(l, state)
			if err != nil {
				return err
			}
			defer m.Close()
			total := 0
			for {
				n, err := auditRound(cmd.Context(), e, m, &f, follow, maxAge, interval)
				total += n
				if err != nil {
					return err
				}
				if !follow {
					break
				}
				select {
				case <-cmd.Context().Done():
					follow = false
				case <-time.After(interval):
				}
				if !follow {
					break
				}
			}
			if total > 0 {
				return fmt.Errorf("%w: %d violations of the log's promises (see above)", verifier.ErrFailed, total)
			}
			return nil
		},
	}
	f.add(cmd, true)
	cmd.Flags().StringVar(&state, "state", "", "directory for the monitor's state (required)")
	cmd.MarkFlagRequired("state")
	cmd.Flags().BoolVar(&follow, "follow", false, "keep auditing every --interval")
	cmd.Flags().DurationVar(&interval, "interval", time.Minute, "time between rounds with --follow")
	cmd.Flags().DurationVar(&maxAge, "max-age", 0, "report when the log's checkpoint has not changed for this long (0: never)")
	return cmd
}

// auditRound runs one round and reports it; it returns the number of
// violations, and an error only for a round that could not be done (in
// follow mode an unreachable source is a health report instead).
func auditRound(ctx context.Context, e *env, m *monitor.Monitor, f *logFlags, follow bool, maxAge, interval time.Duration) (int, error) {
	start := time.Now()
	bar := progress(e, "auditing")
	if bar != nil {
		m.Progress = func(done, all uint64) {
			bar.ChangeMax64(int64(all))
			bar.Set64(int64(done))
		}
	}
	vs, cp, err := m.Round(ctx)
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(e.stderr)
	}
	for _, v := range vs {
		printViolation(e, v, f.asJSON)
	}
	switch {
	case err != nil && follow && errors.Is(err, verifier.ErrUnchecked):
		health(e, f.asJSON, err.Error())
	case err != nil:
		return len(vs), err
	default:
		if f.asJSON {
			// Every round ends with a line, so a script can tell "all is
			// well" from "nothing ran".
			b, _ := json.Marshal(roundJSON{Round: "audited", Origin: cp.Origin, Size: cp.Size, Root: cp.Root[:], Violations: len(vs),
				Time: time.Now().UTC().Format(time.RFC3339)})
			fmt.Fprintln(e.stdout, string(b))
		}
		fmt.Fprintf(e.stderr, "audited %s up to size %d: %d violations\n", cp.Origin, cp.Size, len(vs))
		if since := m.Since(); maxAge > 0 && time.Since(since) > maxAge {
			health(e, f.asJSON, fmt.Sprintf("the log's checkpoint has not changed since %s (more than %v)", since.Format(time.RFC3339), maxAge))
		}
	}
	if took := time.Since(start); follow && took > interval {
		health(e, f.asJSON, fmt.Sprintf("falling behind: the round took %v, longer than --interval %v", took.Round(time.Second), interval))
	}
	return len(vs), nil
}

// roundJSON is the line a --json round ends with.
type roundJSON struct {
	Round      string `json:"round"`
	Origin     string `json:"origin"`
	Size       uint64 `json:"size"`
	Root       []byte `json:"root"`
	Violations int    `json:"violations"`
	Time       string `json:"time"`
}

func printViolation(e *env, v monitor.Violation, asJSON bool) {
	if asJSON {
		b, _ := json.Marshal(v)
		fmt.Fprintln(e.stdout, string(b))
		return
	}
	fmt.Fprintf(e.stdout, "VIOLATION at index %d: %s: %s\n", v.Index, v.Kind, v.Detail)
	if v.Entry != "" {
		fmt.Fprintf(e.stdout, "  entry: %s\n", v.Entry)
	}
}

func health(e *env, asJSON bool, detail string) {
	if asJSON {
		b, _ := json.Marshal(map[string]string{"health": "warning", "detail": detail, "time": time.Now().UTC().Format(time.RFC3339)})
		fmt.Fprintln(e.stdout, string(b))
		return
	}
	fmt.Fprintf(e.stderr, "health: %s\n", detail)
}

// progress returns a progress bar on a terminal stderr.
func progress(e *env, what string) *progressbar.ProgressBar {
	f, ok := e.stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return progressbar.NewOptions64(-1, progressbar.OptionSetWriter(f), progressbar.OptionSetDescription(what), progressbar.OptionShowCount(), progressbar.OptionThrottle(100*time.Millisecond))
}
