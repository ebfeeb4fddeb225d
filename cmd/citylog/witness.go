package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/citylog/citylog/internal/durable"
	"github.com/citylog/citylog/log"
	"github.com/citylog/citylog/log/witnessclient"
	"github.com/spf13/cobra"
)

func witnessesPath(dir string) string { return filepath.Join(dir, log.StateDir, log.WitnessesFile) }

func witnessCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "witness",
		Short: "Configure the witnesses that must cosign every checkpoint",
		Long: `With witnesses configured, the writer sends each new checkpoint, with a
consistency proof, to every witness (C2SP tlog-witness) and publishes it only
once --quorum of them have cosigned (fail-closed unless --fail-open). The API
and receipts then carry cosigned checkpoints; verifiers demand them with
cityverify --witness VKEY --quorum N.`,
		Example: `  citylog witness add --dir reg --url https://witness.example.org --vkey witness.example.org+b8a2cf20+BFLN...
  citylog witness policy --dir reg --quorum 1 --timeout 5s
  citylog witness list --dir reg --json
  citylog witness remove --dir reg --url https://witness.example.org`,
	}
	cmd.AddCommand(witnessAddCmd(e), witnessRemoveCmd(e), witnessPolicyCmd(e), witnessListCmd(e))
	return cmd
}

func loadWitnesses(dir string) (witnessclient.Config, error) {
	if err := requireLog(dir); err != nil {
		return witnessclient.Config{}, err
	}
	c, err := witnessclient.Load(witnessesPath(dir))
	if err != nil || c == nil {
		return witnessclient.Config{}, err
	}
	return *c, nil
}

func saveWitnesses(dir string, c witnessclient.Config) error {
	if err := c.Check(); err != nil {
		return usageError("%v", err)
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	return durable.WriteFile(witnessesPath(dir), append(b, '\n'), 0o600)
}

// printPolicy reports the policy after a change: JSON on stdout for
// scripts, a line on stderr for people.
func printPolicy(e *env, c witnessclient.Config, asJSON bool) error {
	if asJSON {
		return writeJSON(e.stdout, c)
	}
	fmt.Fprintf(e.stderr, "%d witnesses, quorum %d, timeout %s, fail-open %v; restart the writer to apply\n", len(c.Witnesses), c.Quorum, c.Timeout, c.FailOpen)
	return nil
}

func witnessAddCmd(e *env) *cobra.Command {
	var dir, url, vkey string
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "add --dir DIR --url URL --vkey VKEY",
		Short:   "Add a witness (its quorum stays as set by witness policy)",
		Long:    "add appends a witness to the policy. A witness whose URL, name or key is already listed is refused: one witness must never count twice towards a quorum.",
		Example: "  citylog witness add --dir reg --url http://127.0.0.1:7380 --vkey witness.example.org+b8a2cf20+BFLN...",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadWitnesses(dir)
			if err != nil {
				return err
			}
			c.Witnesses = append(c.Witnesses, witnessclient.Witness{URL: url, VKey: vkey})
			if c.Quorum == 0 {
				c.Quorum = 1 // a first witness is required by default: fail-closed
			}
			if err := saveWitnesses(dir, c); err != nil {
				return err
			}
			return printPolicy(e, c, asJSON)
		},
	}
	dirFlag(cmd, &dir)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the new policy as JSON")
	cmd.Flags().StringVar(&url, "url", "", "the witness's submission URL (add-checkpoint is appended)")
	cmd.Flags().StringVar(&vkey, "vkey", "", "the witness's cosignature/v1 verifier key")
	cmd.MarkFlagRequired("url")
	cmd.MarkFlagRequired("vkey")
	return cmd
}

func witnessPolicyCmd(e *env) *cobra.Command {
	var dir string
	var quorum int
	var timeout time.Duration
	var failOpen, asJSON bool
	cmd := &cobra.Command{
		Use:     "policy --dir DIR --quorum K [--timeout D] [--fail-open]",
		Short:   "Set how many witnesses must cosign (k of n)",
		Example: "  citylog witness policy --dir reg --quorum 2 --timeout 5s",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadWitnesses(dir)
			if err != nil {
				return err
			}
			c.Quorum, c.Timeout, c.FailOpen = quorum, timeout.String(), failOpen
			if err := saveWitnesses(dir, c); err != nil {
				return err
			}
			return printPolicy(e, c, asJSON)
		},
	}
	dirFlag(cmd, &dir)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the new policy as JSON")
	cmd.Flags().IntVar(&quorum, "quorum", 1, "cosignatures needed to publish a checkpoint")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for witnesses per checkpoint")
	cmd.Flags().BoolVar(&failOpen, "fail-open", false, "publish even without the quorum (not recommended)")
	return cmd
}

func witnessRemoveCmd(e *env) *cobra.Command {
	var dir, url, vkey string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "remove --dir DIR (--url URL | --vkey VKEY | NAME)",
		Short: "Remove a witness from the policy",
		Long: `remove takes a witness out of the policy, named by its URL, its verifier
key or its name. A removal that would leave fewer witnesses than the quorum
is refused: lower the quorum first (witness policy).`,
		Example: `  citylog witness remove --dir reg --url https://witness.example.org
  citylog witness remove --dir reg witness.example.org`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			given := 0
			for _, x := range []string{url, vkey, name} {
				if x != "" {
					given++
				}
			}
			if given != 1 {
				return usageError("name the witness by exactly one of --url, --vkey or its name")
			}
			c, err := loadWitnesses(dir)
			if err != nil {
				return err
			}
			kept := c.Witnesses[:0:0]
			for _, w := range c.Witnesses {
				wname, _, _ := strings.Cut(w.VKey, "+")
				if url != "" && strings.TrimSuffix(w.URL, "/") == strings.TrimSuffix(url, "/") ||
					vkey != "" && w.VKey == vkey || name != "" && wname == name {
					continue
				}
				kept = append(kept, w)
			}
			if len(kept) == len(c.Witnesses) {
				return &cliError{code: exitUsage, err: fmt.Errorf("no configured witness is %s", firstOf(url, vkey, name)), hint: "citylog witness list --dir DIR shows them"}
			}
			if c.Quorum > len(kept) {
				return &cliError{code: exitUsage, err: fmt.Errorf("removing it leaves %d witnesses, fewer than the quorum of %d", len(kept), c.Quorum),
					hint: fmt.Sprintf("lower the quorum first: citylog witness policy --dir %s --quorum %d", dir, len(kept))}
			}
			c.Witnesses = kept
			if err := saveWitnesses(dir, c); err != nil {
				return err
			}
			return printPolicy(e, c, asJSON)
		},
	}
	dirFlag(cmd, &dir)
	cmd.Flags().StringVar(&url, "url", "", "the witness's URL")
	cmd.Flags().StringVar(&vkey, "vkey", "", "the witness's verifier key")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the new policy as JSON")
	return cmd
}

func firstOf(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func witnessListCmd(e *env) *cobra.Command {
	var dir string
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list --dir DIR",
		Short:   "Show the witness policy",
		Example: "  citylog witness list --dir reg --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadWitnesses(dir)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(e.stdout, c)
			}
			fmt.Fprintf(e.stdout, "quorum %d of %d, timeout %s, fail-open %v\n", c.Quorum, len(c.Witnesses), c.Timeout, c.FailOpen)
			for _, w := range c.Witnesses {
				fmt.Fprintf(e.stdout, "%s\t%s\n", w.URL, w.VKey)
			}
			return nil
		},
	}
	dirFlag(cmd, &dir)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the policy as JSON")
	return cmd
}
