package main

import (
	"fmt"

	"github.com/citylog/citylog/log"
	"github.com/spf13/cobra"
)

func initCmd(e *env) *cobra.Command {
	var dir, origin string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "init --dir DIR --origin ORIGIN",
		Short: "Create a new, empty log with a fresh signing key",
		Long: `init creates DIR/public (exactly what a static host serves: checkpoint, tiles,
entry bundles) and DIR/state (the signing key, mode 0600, and writer state;
never publish it). It prints the log's verifier key: give it to everyone who
verifies codes.`,
		Example: `  citylog init --dir reg --origin cities.example.org/log
  citylog init --dir reg --origin cities.example.org/log --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			vkey, err := log.Init(dir, origin)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(e.stdout, map[string]string{"origin": origin, "vkey": vkey})
			}
			fmt.Fprintf(e.stdout, "%s\n", vkey)
			fmt.Fprintf(e.stderr, "created log %s in %s\nserve %s/public with any static web server; keep %s/state private\nnext: citylog allocate --dir %s ... or citylog import --dir %s FILE\n", origin, dir, dir, dir, dir, dir)
			return nil
		},
	}
	dirFlag(cmd, &dir)
	cmd.Flags().StringVar(&origin, "origin", "", "the log's origin, a schemeless URL such as cities.example.org/log (required)")
	cmd.MarkFlagRequired("origin")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print {\"origin\":..,\"vkey\":..} for scripts")
	return cmd
}
