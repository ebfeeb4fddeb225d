package main

import (
	"github.com/citylog/citylog/verifier"
	"github.com/spf13/cobra"
)

func findCmd(e *env) *cobra.Command {
	var f logFlags
	cmd := &cobra.Command{
		Use:   "find SCHEME:VALUE --log SRC --key KEY",
		Short: "Find and prove the code that holds an identifier",
		Long: `find looks the identifier up in the log's published identifier index, then
proves the answer: the entry's inclusion in the signed tree and that it lists
the identifier. Entries newer than the index are scanned. The index is only a
hint: a stale or lying index can hide a code, never forge one.`,
		Example: `  cityverify find unlocode:CNSJW --log https://cities.example.org/log --key vkey.txt
  cityverify find geonames:1795270 --log ./reg/public --key ./reg/state/vkey --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return proveAllocation(cmd.Context(), e, &f, args[0], (*verifier.Log).Find)
		},
	}
	f.add(cmd, true)
	return cmd
}
