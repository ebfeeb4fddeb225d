package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/citylog/citylog/verifier"
	"github.com/spf13/cobra"
)

func consistencyCmd(e *env) *cobra.Command {
	var f logFlags
	var since, evidence string
	var update bool
	cmd := &cobra.Command{
		Use:   "consistency --since OLD_CHECKPOINT --log SRC --key KEY",
		Short: "Prove the log's current checkpoint extends an older one",
		Long: `consistency verifies the old checkpoint you kept (a signed note file) and the
log's current one, and proves with the log's tiles that the old tree is a
prefix of the new. If it is not — the log forked or rolled back — it exits 1
and writes an evidence file with both signed checkpoints, which anyone with
the log's key can check. With --update, a verified newer checkpoint replaces
the old file, so a cron job can follow the log.`,
		Example: `  cityverify consistency --since last.checkpoint --log https://cities.example.org/log --key vkey.txt --update
  cityverify consistency --since testdata/vectors/tessera-log/checkpoint.3 --log testdata/vectors/tessera-log --key example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := f.open()
			if err != nil {
				return err
			}
			oldSigned, err := os.ReadFile(since)
			if err != nil {
				return fmt.Errorf("%w: couldn't read --since: %v", verifier.ErrInput, err)
			}
			key, _ := f.verifierKey()
			p, err := f.policy()
			if err != nil {
				return err
			}
			old, err := verifier.OpenCheckpoint(oldSigned, key, p)
			if err != nil {
				return fmt.Errorf("--since %s: %w", since, err)
			}
			cur, err := l.Checkpoint(cmd.Context())
			if err != nil {
				return err
			}
			_, ev, err := l.ProveConsistency(cmd.Context(), old, cur)
			if ev != nil {
				path := evidence
				if path == "" {
					path = fmt.Sprintf("fork-evidence-%s.json", time.Now().UTC().Format("20060102T150405Z"))
				}
				b, merr := ev.MarshalJSON()
				if merr == nil {
					merr = os.WriteFile(path, append(b, '\n'), 0o644)
				}
				if merr != nil {
					fmt.Fprintf(e.stderr, "cityverify: could not write evidence: %v\n", merr)
				} else {
					fmt.Fprintf(e.stderr, "evidence written to %s\n", path)
				}
			}
			if err != nil {
				return err
			}
			if update && cur.Size > old.Size {
				if err := replaceFile(since, cur.Signed); err != nil {
					return fmt.Errorf("couldn't update --since: %w", err)
				}
			}
			if f.asJSON {
				return writeJSON(e.stdout, map[string]any{"verified": true, "origin": cur.Origin, "old_size": old.Size, "new_size": cur.Size, "new_root": cur.Root[:]})
			}
			_, err = fmt.Fprintf(e.stdout, "consistent: %s grew from %d to %d entries\n", cur.Origin, old.Size, cur.Size)
			return err
		},
	}
	f.add(cmd, true)
	cmd.Flags().StringVar(&since, "since", "", "a checkpoint of the log you verified before (required)")
	cmd.MarkFlagRequired("since")
	cmd.Flags().StringVar(&evidence, "evidence", "", "where to write fork evidence (default fork-evidence-<time>.json)")
	cmd.Flags().BoolVar(&update, "update", false, "replace the --since file with the newer checkpoint once verified")
	return cmd
}

// replaceFile atomically replaces path.
func replaceFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".cityverify-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
