package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/citylog/citylog/log"
	"github.com/citylog/citylog/log/tokens"
	"github.com/citylog/citylog/site"
	"github.com/spf13/cobra"
)

func demoCmd(e *env) *cobra.Command {
	var dir, sample, origin, listen string
	var noServe, asJSON bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a demo registry of 25,000 real cities on localhost",
		Long: `demo creates a log in --dir (if it does not exist yet), imports the bundled
sample of real cities, creates a demo token, and serves the allocation API and
the log's public tree on --listen until Ctrl-C, printing how to allocate with
curl and verify with cityverify. Run it from the repository root. It is safe
to run again: the sample's cities then all keep their codes.`,
		Example: `  go run ./cmd/citylog demo
  go run ./cmd/citylog demo --dir /tmp/reg --listen 127.0.0.1:9090
  go run ./cmd/citylog demo --no-serve`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			first, err := demoLoad(cmd.Context(), e, dir, sample, origin, asJSON)
			if err != nil {
				return err
			}
			tokens.Revoke(tokensPath(dir), "demo") // a new demo token on every run
			token, err := tokens.Add(tokensPath(dir), "demo", 0)
			if err != nil {
				return err
			}
			vkeyPath := filepath.Join(dir, log.StateDir, "vkey")
			demo := func(url string) error {
				vkey, err := os.ReadFile(vkeyPath)
				if err != nil {
					return err
				}
				site := filepath.Join(dir, log.PublicDir, "index.html")
				if url != "" {
					site = url + "/index.html"
				}
				return writeJSON(e.stdout, map[string]string{"dir": dir, "url": url, "site": site, "token": token, "vkey": strings.TrimSpace(string(vkey)), "first_code": first})
			}
			if noServe {
				if asJSON {
					return demo("")
				}
				fmt.Fprintf(e.stdout, "demo token: %s\nthe site: %s\nnext: go run ./cmd/citylog serve --dir %s\n", token, filepath.Join(dir, log.PublicDir, "index.html"), dir)
				return nil
			}
			o := defaultServeOptions()
			o.listen = listen
			return serve(cmd.Context(), e, dir, o, func(addr string) {
				if asJSON {
					demo("http://" + addr)
					return
				}
				fmt.Fprintf(e.stdout, `
the registry is running on http://%[1]s (Ctrl-C stops it)

its web site, which verifies codes in your browser:
  http://%[1]s/index.html

allocate a code (answers once it is durably in the log, with a receipt):
  curl -H 'Authorization: Bearer %[2]s' \
       -d '{"country":"VA","subdivision":"0","name":"Vatican City","ids":["geonames:6691831"]}' \
       http://%[1]s/api/v1/allocate

verify a code against the live log, trusting only its key:
  go run ./cmd/cityverify code %[3]s --log http://%[1]s --key %[4]s
  go run ./cmd/cityverify find geonames:1796236 --log http://%[1]s --key %[4]s

the log's public tree, as any static host would serve it:
  curl http://%[1]s/checkpoint
`, addr, token, first, vkeyPath)
			})
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "demo", "the demo log directory")
	cmd.Flags().StringVar(&sample, "sample", filepath.Join("testdata", "cities.jsonl"), "the requests to import")
	cmd.Flags().StringVar(&origin, "origin", "demo.citylog.example/log", "the demo log's origin")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "address to serve on")
	cmd.Flags().BoolVar(&noServe, "no-serve", false, "only create and load the registry")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"dir","url","site","token","vkey","first_code"} once the registry is ready`)
	return cmd
}

// demoLoad creates the demo log if needed and imports the sample; it
// returns the first code.
func demoLoad(ctx context.Context, e *env, dir, sample, origin string, asJSON bool) (string, error) {
	f, err := os.Open(sample)
	if err != nil {
		return "", &cliError{code: exitFailure, err: fmt.Errorf("couldn't open the sample: %w", err), hint: "run from the repository root, or pass --sample FILE"}
	}
	defer f.Close()
	if _, err := os.Stat(filepath.Join(dir, log.StateDir)); errors.Is(err, os.ErrNotExist) {
		if _, err := log.Init(dir, origin); err != nil {
			return "", err
		}
		fmt.Fprintf(e.stderr, "created log %s in %s\n", origin, dir)
	}
	w, err := log.Open(ctx, log.Config{Dir: dir})
	if err != nil {
		return "", err
	}
	var first string
	stats, err := w.Import(ctx, f, log.ImportOptions{}, func(lr log.LineResult) error {
		if first == "" && lr.Err == nil {
			first = lr.Code.String()
		}
		return nil
	})
	size := w.Size()
	if err = endWrite(ctx, w, err); err != nil {
		return "", err
	}
	cfg, err := siteConfig(dir, nil)
	if err != nil {
		return "", err
	}
	if _, err := site.Update(ctx, cfg); err != nil {
		return "", fmt.Errorf("couldn't write the site: %w", err)
	}
	out := e.stdout
	if asJSON {
		out = e.stderr // stdout holds one JSON document
	}
	fmt.Fprintf(out, "imported %s: %d allocated, %d already there, %d refused; the log holds %d cities\n",
		sample, stats.Allocated, stats.Existing, stats.Refused, size)
	return first, nil
}
