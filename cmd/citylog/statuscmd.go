package main

import (
	"encoding/base64"
	"fmt"
	"time"

	"github.com/citylog/citylog/log"
	"github.com/spf13/cobra"
)

func statusCmd(e *env) *cobra.Command {
	var dir string
	var asJSON bool
	var sf storageFlags
	cmd := &cobra.Command{
		Use:   "status --dir DIR",
		Short: "Show the log's origin, size, root and last checkpoint time",
		Long: `status reads and verifies the published checkpoint. It does not take the
writer's lock, so it can run while an import or server is writing.`,
		Example: `  citylog status --dir reg
  citylog status --dir reg --json | jq .size`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, _, err := sf.open(dir)
			if err != nil {
				return err
			}
			st, err := log.ReadStatus(cmd.Context(), dir, store)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(e.stdout, st)
			}
			when := "-"
			if st.CheckpointTime != nil {
				when = st.CheckpointTime.Format(time.RFC3339)
			}
			fmt.Fprintf(e.stdout, "origin:     %s\nvkey:       %s\nsize:       %d\nroot:       %s\ncheckpoint: %s\n",
				st.Origin, st.VerifierKey, st.Size, base64.StdEncoding.EncodeToString(st.Root), when)
			return nil
		},
	}
	dirFlag(cmd, &dir)
	sf.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON for scripts")
	return cmd
}
