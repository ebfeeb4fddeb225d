package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/verifier"
	"github.com/spf13/cobra"
)

func receiptCmd(e *env) *cobra.Command {
	var f logFlags
	cmd := &cobra.Command{
		Use:   "receipt FILE --key KEY [--log SRC]",
		Short: "Verify an offline receipt (c2sp.org/tlog-proof) of a city's code",
		Long: `receipt checks a receipt written by citylog (allocate --receipt, import
--receipts) with no network: the checkpoint's signature, the entry's
inclusion proof, and the entry against the allocation rule. With --log, it
also proves that the receipt's checkpoint is consistent with the log's
current one, so the code was not dropped by a fork.`,
		Example: `  cityverify receipt CN-HE-00AB-1.tlog-proof --key cities.example.org/log+4095fd3b+AY1G...
  cityverify receipt paris.tlog-proof --key vkey.txt --log https://cities.example.org/log --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("%w: couldn't read receipt: %v", verifier.ErrInput, err)
			}
			key, err := f.verifierKey()
			if err != nil {
				return err
			}
			p, err := f.policy()
			if err != nil {
				return err
			}
			if f.log == "" {
				r, err := verifier.VerifyReceipt(data, key, nil, p)
				if errors.Is(err, entry.ErrUnknownSubdivision) && errors.Is(err, verifier.ErrUnchecked) {
					return &hinted{err, "pass --log with the log's URL or directory: the log publishes the subdivisions its operator added"}
				}
				if err != nil {
					return err
				}
				return printAllocation(e, r.Allocation, f.asJSON)
			}
			l, err := f.open()
			if err != nil {
				return err
			}
			// The log's published rules judge the entry, as the monitor's do.
			rules, err := l.Rules(cmd.Context())
			if err != nil {
				return err
			}
			r, err := verifier.VerifyReceipt(data, key, rules, p)
			if err != nil {
				return err
			}
			cur, err := l.Checkpoint(cmd.Context())
			if err != nil {
				return err
			}
			if _, _, err := l.ProveConsistency(cmd.Context(), r.Checkpoint, cur); err != nil {
				return err
			}
			r.Allocation.TreeSize, r.Allocation.Root = cur.Size, cur.Root[:]
			fmt.Fprintf(e.stderr, "the receipt's checkpoint (size %d) is consistent with the log's current one (size %d)\n", r.Checkpoint.Size, cur.Size)
			return printAllocation(e, r.Allocation, f.asJSON)
		},
	}
	f.add(cmd, false)
	return cmd
}
