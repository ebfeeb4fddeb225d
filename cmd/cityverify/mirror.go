package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/citylog/citylog/internal/durable"
	"github.com/citylog/citylog/internal/store/dirstore"
	"github.com/citylog/citylog/internal/store/s3store"
	"github.com/citylog/citylog/verifier"
	"github.com/citylog/citylog/verifier/mirror"
	"github.com/spf13/cobra"
)

func mirrorCmd(e *env) *cobra.Command {
	var f logFlags
	var to string
	var follow bool
	var interval time.Duration
	var workers int
	cmd := &cobra.Command{
		Use:   "mirror --log SRC --key KEY --to DEST [--follow]",
		Short: "Keep a verified copy of a log's public tree in a directory or a bucket",
		Long: `mirror copies a log's public tree from SRC (a directory, an http(s) URL or
s3://BUCKET/PREFIX) to DEST (a directory or s3://BUCKET/PREFIX), verifying
everything first: the source's checkpoint under --key (and the witnesses of
--witness/--quorum), its consistency with the mirror's last checkpoint, every
new entry bundle against the signed root, and every hash tile against the one
its entries give. Only then are the files written, the checkpoint last; a
tampered or forked source is refused (exit 1) and the mirror keeps its last
good state. Only what is new is copied; a run cut off is simply run again.
With --follow it keeps up with a live log, a round every --interval.

DEST is itself a static log: serve it, and cityverify reads it like the source.
Buckets take the AWS environment variables (AWS_ENDPOINT_URL, AWS_REGION,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).`,
		Example: `  cityverify mirror --log https://cities.example.org/log --key vkey.txt --to ./mirror
  cityverify mirror --log ./reg/public --key ./reg/state/vkey --to s3://mirror/cities --follow --interval 30s --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := f.open()
			if err != nil {
				return err
			}
			dest, err := openDest(to)
			if err != nil {
				return err
			}
			if !strings.HasPrefix(to, "s3://") {
				// One run at a time on a directory, whose checkpoint
				// swap is a plain replace: a second, slower run would
				// roll the mirror back. (A bucket's swaps are
				// conditional: there the slower run stops.)
				unlock, err := durable.Lock(filepath.Join(to, mirrorLockFile))
				if err != nil {
					return fmt.Errorf("%w: --to %s: %v (is another cityverify mirror running on it?)", verifier.ErrInput, to, err)
				}
				defer unlock()
			}
			m := mirror.New(l, dest)
			m.Workers = workers
			for {
				bar := progress(e, "verifying")
				if bar != nil {
					m.Progress = func(done, all uint64) {
						bar.ChangeMax64(int64(all))
						bar.Set64(int64(done))
					}
				}
				rep, err := m.Round(cmd.Context())
				if bar != nil {
					bar.Finish()
					fmt.Fprintln(e.stderr)
				}
				if err != nil {
					if rep.Evidence != nil {
						path := fmt.Sprintf("fork-evidence-%s.json", time.Now().UTC().Format("20060102T150405Z"))
						if werr := os.WriteFile(path, append(rep.Evidence, '\n'), 0o644); werr == nil {
							fmt.Fprintf(e.stderr, "evidence written to %s\n", path)
						}
					}
					if errors.Is(err, mirror.ErrDest) {
						err = &hinted{err: err, hint: "the mirror (--to) could not be read or written: check the directory or bucket, its permissions and the AWS variables; if another run writes it, stop one"}
					}
					if !follow || !isUnchecked(err) {
						return err
					}
					fmt.Fprintf(e.stderr, "round failed (will retry): %v\n", err)
				} else if f.asJSON {
					writeJSONLine(e, rep)
				} else {
					fmt.Fprintf(e.stdout, "mirrored %s: size %d -> %d (%d entries, %d files) in %.2fs\n", l.Key().Name(), rep.From, rep.To, rep.Entries, rep.Files, rep.Seconds)
				}
				if !follow {
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(interval):
				}
			}
		},
	}
	f.add(cmd, true)
	cmd.Flags().StringVar(&to, "to", "", "where the mirror is: a directory or s3://BUCKET/PREFIX (required)")
	cmd.MarkFlagRequired("to")
	cmd.Flags().BoolVar(&follow, "follow", false, "keep mirroring, a round every --interval")
	cmd.Flags().DurationVar(&interval, "interval", time.Minute, "time between rounds with --follow")
	cmd.Flags().IntVar(&workers, "workers", 16, "files fetched or written at once (a bucket's requests each wait a round trip)")
	return cmd
}

// mirrorLockFile, in a directory mirror, is held by the run writing it.
// A dot-file: citylog serve does not serve it.
const mirrorLockFile = ".cityverify-mirror.lock"

// openDest opens a mirror's destination.
func openDest(to string) (mirror.Dest, error) {
	if strings.HasPrefix(to, "s3://") {
		cfg, err := s3store.FromEnv(to)
		if err != nil {
			return nil, fmt.Errorf("%w: --to: %v", verifier.ErrInput, err)
		}
		s, err := s3store.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("%w: --to: %v", verifier.ErrInput, err)
		}
		return s, nil
	}
	if strings.Contains(to, "://") {
		return nil, fmt.Errorf("%w: --to %q: a directory or s3://BUCKET/PREFIX", verifier.ErrInput, to)
	}
	if err := os.MkdirAll(filepath.Clean(to), 0o755); err != nil {
		return nil, fmt.Errorf("%w: --to: %v", verifier.ErrInput, err)
	}
	return dirstore.New(to)
}

func isUnchecked(err error) bool {
	return exitCode(err) == exitUnchecked
}

// writeJSONLine prints v as one line: --follow prints a line a round.
func writeJSONLine(e *env, v any) {
	b, _ := json.Marshal(v)
	fmt.Fprintln(e.stdout, string(b))
}
