package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/citylog/citylog/log"
	"github.com/spf13/cobra"
)

func initCmd(e *env) *cobra.Command {
	var dir, origin, keyPath string
	var asJSON bool
	var sf storageFlags
	cmd := &cobra.Command{
		Use:   "init --dir DIR (--origin ORIGIN | --key FILE) [--storage s3://BUCKET/PREFIX]",
		Short: "Create a new, empty log with a fresh signing key, or take over one with its key",
		Long: `init creates DIR/public (exactly what a static host serves: checkpoint, tiles,
entry bundles) and DIR/state (the signing key, mode 0600, and writer state;
never publish it). It prints the log's verifier key: give it to everyone who
verifies codes.

With --storage s3://BUCKET/PREFIX the public tree is in that bucket (endpoint,
region and credentials from the AWS environment variables or the --s3-*
flags), and DIR holds only the private state; later commands on DIR use the
bucket without repeating --storage.

With --key FILE (a signing key from a backup) instead of --origin, init makes
DIR the writer of the log that key signs: if the public tree (DIR/public or
the bucket) already holds that log, it is taken over as it is, and the next
command rebuilds the private state from it (the machine-loss recovery of
docs/OPERATIONS.md).`,
		Example: `  citylog init --dir reg --origin cities.example.org/log
  citylog init --dir reg --origin cities.example.org/log --json
  AWS_ENDPOINT_URL=https://s3.example.net citylog init --dir reg --origin cities.example.org/log --storage s3://cities/log
  citylog init --dir new-machine --key backup/key --storage s3://cities/log`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (origin == "") == (keyPath == "") {
				return usageError("give --origin for a new log, or --key FILE to take over an existing one")
			}
			store, storageURL, err := sf.open(dir)
			if err != nil {
				return err
			}
			skey := ""
			if keyPath != "" {
				b, err := os.ReadFile(keyPath)
				if err != nil {
					return &cliError{code: exitUsage, err: fmt.Errorf("couldn't read --key: %w", err), hint: "give the file holding the log's PRIVATE+KEY+... signing key"}
				}
				skey = string(b)
			} else {
				if err := log.CheckOrigin(origin); err != nil {
					return err
				}
				if skey, err = log.GenerateKey(origin); err != nil {
					return err
				}
			}
			vkey, adopted, err := log.InitStore(cmd.Context(), dir, skey, store)
			if err != nil {
				return err
			}
			if err := recordStorage(dir, storageURL); err != nil {
				return err
			}
			where := filepath.Join(dir, "public")
			if storageURL != "" {
				where = storageURL
			}
			name, _, _ := strings.Cut(vkey, "+")
			if asJSON {
				return writeJSON(e.stdout, map[string]any{"origin": name, "vkey": vkey, "storage": where, "adopted": adopted})
			}
			fmt.Fprintf(e.stdout, "%s\n", vkey)
			if adopted {
				fmt.Fprintf(e.stderr, "took over the log %s in %s; its private state in %s is rebuilt by the next command\n", name, where, dir)
				return nil
			}
			fmt.Fprintf(e.stderr, "created log %s in %s\nserve %s with any static web server or CDN; keep %s/state private\nnext: citylog allocate --dir %s ... or citylog import --dir %s FILE\n", name, where, where, dir, dir, dir)
			return nil
		},
	}
	dirFlag(cmd, &dir)
	sf.add(cmd)
	cmd.Flags().StringVar(&origin, "origin", "", "a new log's origin, a schemeless URL such as cities.example.org/log")
	cmd.Flags().StringVar(&keyPath, "key", "", "take over the log this signing key (a file) signs, instead of creating one")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print {\"origin\":..,\"vkey\":..} for scripts")
	return cmd
}
