package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/citylog/citylog/log"
	"github.com/spf13/cobra"
)

func demoCmd(e *env) *cobra.Command {
	var dir, sample, origin string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Create a demo registry from the bundled sample of 25,000 real cities",
		Long: `demo creates a log in --dir (if it does not exist yet), imports the sample
file into it and says what to try next. Run it from the repository root. It is
safe to run again: the sample's cities then all get their existing codes.`,
		Example: `  go run ./cmd/citylog demo
  go run ./cmd/citylog demo --dir /tmp/reg --sample my-cities.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := os.Open(sample)
			if err != nil {
				return &cliError{code: exitFailure, err: fmt.Errorf("couldn't open the sample: %w", err), hint: "run from the repository root, or pass --sample FILE"}
			}
			defer f.Close()
			if _, err := os.Stat(filepath.Join(dir, log.StateDir)); errors.Is(err, os.ErrNotExist) {
				if _, err := log.Init(dir, origin); err != nil {
					return err
				}
				fmt.Fprintf(e.stderr, "created log %s in %s\n", origin, dir)
			}
			w, err := log.Open(cmd.Context(), log.Config{Dir: dir})
			if err != nil {
				return err
			}
			var first string
			stats, err := w.Import(cmd.Context(), f, log.ImportOptions{}, func(lr log.LineResult) error {
				if first == "" && lr.Err == nil {
					first = lr.Code.String()
				}
				return nil
			})
			if err == nil {
				err = w.PublishIDIndex(cmd.Context())
			}
			vkey, size := w.VerifierKey(), w.Size()
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, `imported %s: %d allocated, %d already there, %d refused; the log now holds %d cities.

verifier key: %s
first code:   %s

next:
  go run ./cmd/citylog status --dir %s
  go run ./cmd/citylog allocate --dir %s --country VA --subdivision 0 --name "Vatican City" --id geonames:6691831
  serve %s/public with any static web server, e.g.  python3 -m http.server -d %s/public 8080
`, sample, stats.Allocated, stats.Existing, stats.Refused, size, vkey, first, dir, dir, dir, dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "demo", "the demo log directory")
	cmd.Flags().StringVar(&sample, "sample", filepath.Join("testdata", "cities.jsonl"), "the requests to import")
	cmd.Flags().StringVar(&origin, "origin", "demo.citylog.example/log", "the demo log's origin")
	return cmd
}
