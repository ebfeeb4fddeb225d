package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/citylog/citylog/verifier"
	"github.com/spf13/cobra"
)

func codeCmd(e *env) *cobra.Command {
	var f logFlags
	cmd := &cobra.Command{
		Use:   "code CODE --log SRC --key KEY",
		Short: "Prove that a city code is allocated in the log, and show its entry",
		Long: `code checks the code's syntax and check character (a typo is reported as a
typo), fetches the log's signed checkpoint, the code's entry and the tiles of
its inclusion proof, proves the entry is in the signed tree, and checks that
the entry is valid and carries exactly this code.`,
		Example: `  cityverify code CN-HE-00AB-1 --log https://cities.example.org/log --key cities.example.org/log+4095fd3b+AY1G...
  cityverify code cn-he-ooab-1 --log ./reg/public --key ./reg/state/vkey --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return proveAllocation(cmd.Context(), e, &f, args[0], (*verifier.Log).VerifyCode)
		},
	}
	f.add(cmd, true)
	return cmd
}

// proveAllocation runs a check that proves one allocation (a code, an
// identifier) and prints it.
func proveAllocation(ctx context.Context, e *env, f *logFlags, arg string,
	prove func(*verifier.Log, context.Context, string) (verifier.Allocation, error)) error {
	var a verifier.Allocation
	err := f.check(func(l *verifier.Log) (err error) {
		a, err = prove(l, ctx, arg)
		return err
	})
	if err != nil {
		return err
	}
	return printAllocation(e, a, f.asJSON)
}

func printAllocation(e *env, a verifier.Allocation, asJSON bool) error {
	if asJSON {
		return writeJSON(e.stdout, struct {
			Verified bool `json:"verified"`
			verifier.Allocation
		}{true, a})
	}
	loc := "-"
	if a.Lat != nil {
		loc = fmt.Sprintf("%v, %v", *a.Lat, *a.Lon)
	}
	_, err := fmt.Fprintf(e.stdout, `verified:    %s
name:        %s
country:     %s
subdivision: %s
ids:         %s
location:    %s
allocated:   %s
index:       %d of %d
root:        %s
log:         %s
`, a.Code, a.Name, a.Country, a.Subdivision, strings.Join(a.IDs, " "), loc, a.Time.Format(time.RFC3339),
		a.Index, a.TreeSize, base64.StdEncoding.EncodeToString(a.Root), a.Origin)
	return err
}
