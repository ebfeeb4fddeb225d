package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/citylog/citylog/log"
	"github.com/citylog/citylog/log/tokens"
	"github.com/spf13/cobra"
)

const tokensFile = "tokens.json"

func tokensPath(dir string) string { return filepath.Join(dir, log.StateDir, tokensFile) }

func tokenCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage the bearer tokens that may allocate through citylog serve",
		Long: `Tokens are stored hashed in DIR/state/tokens.json; a new token is printed once.
A running server picks up changes within a second.`,
		Example: `  citylog token add paris-city-hall --dir reg
  citylog token add bulk-importer --dir reg --rate 0 --json
  citylog token list --dir reg
  citylog token revoke paris-city-hall --dir reg`,
	}
	cmd.AddCommand(tokenAddCmd(e), tokenListCmd(e), tokenRevokeCmd(e))
	return cmd
}

func tokenAddCmd(e *env) *cobra.Command {
	var dir, rate string
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "add NAME --dir DIR [--rate N/s]",
		Short:   "Create a token and print it (only its hash is stored)",
		Example: "  citylog token add paris-city-hall --dir reg --rate 5/s",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := strconv.ParseFloat(strings.TrimSuffix(rate, "/s"), 64)
			if err != nil || r < 0 {
				return usageError("--rate %q is not a number of allocations per second, e.g. 5/s", rate)
			}
			if err := requireLog(dir); err != nil {
				return err
			}
			tok, err := tokens.Add(tokensPath(dir), args[0], r)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(e.stdout, map[string]string{"name": args[0], "token": tok})
			}
			fmt.Fprintln(e.stdout, tok)
			fmt.Fprintf(e.stderr, "token %q created; it is shown only now\n", args[0])
			return nil
		},
	}
	dirFlag(cmd, &dir)
	cmd.Flags().StringVar(&rate, "rate", "0", "allocations per second allowed (0: unlimited)")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"name":..,"token":..}`)
	return cmd
}

func tokenListCmd(e *env) *cobra.Command {
	var dir string
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list --dir DIR",
		Short:   "List tokens (names, rates, creation times; never the tokens)",
		Example: "  citylog token list --dir reg --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireLog(dir); err != nil {
				return err
			}
			ts, err := tokens.Load(tokensPath(dir))
			if err != nil {
				return err
			}
			if asJSON {
				type item struct {
					Name    string    `json:"name"`
					Rate    float64   `json:"rate"`
					Created time.Time `json:"created"`
				}
				out := []item{}
				for _, t := range ts {
					out = append(out, item{t.Name, t.Rate, t.Created})
				}
				return writeJSON(e.stdout, out)
			}
			for _, t := range ts {
				rate := "unlimited"
				if t.Rate > 0 {
					rate = fmt.Sprintf("%g/s", t.Rate)
				}
				fmt.Fprintf(e.stdout, "%s\t%s\t%s\n", t.Name, rate, t.Created.Format(time.RFC3339))
			}
			return nil
		},
	}
	dirFlag(cmd, &dir)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

func tokenRevokeCmd(e *env) *cobra.Command {
	var dir string
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "revoke NAME --dir DIR",
		Short:   "Revoke a token",
		Example: "  citylog token revoke paris-city-hall --dir reg",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireLog(dir); err != nil {
				return err
			}
			if err := tokens.Revoke(tokensPath(dir), args[0]); err != nil {
				return err
			}
			if asJSON {
				return writeJSON(e.stdout, map[string]any{"name": args[0], "revoked": true})
			}
			fmt.Fprintf(e.stderr, "token %q revoked\n", args[0])
			return nil
		},
	}
	dirFlag(cmd, &dir)
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"name":..,"revoked":true}`)
	return cmd
}

// requireLog fails unless dir holds a log.
func requireLog(dir string) error {
	return log.CheckLogDir(dir)
}
