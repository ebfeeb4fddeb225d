package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/citylog/citylog/tiles/cosig"
	"github.com/citylog/citylog/verifier"
	"github.com/citylog/citylog/verifier/witness"
	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"
)

func witnessCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "witness",
		Short: "Run a C2SP tlog-witness that cosigns only consistent checkpoints",
		Example: `  cityverify witness keygen witness.example.org --out witness.key
  cityverify witness serve --key witness.key --state wstate --listen :7380 --log cities.example.org/log+4095fd3b+AY1G...`,
	}
	cmd.AddCommand(witnessKeygenCmd(e), witnessServeCmd(e))
	return cmd
}

func witnessKeygenCmd(e *env) *cobra.Command {
	var out string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "keygen NAME [--out FILE]",
		Short: "Make a witness key pair",
		Long: `keygen prints the signer key (sumdb/note PRIVATE+KEY form) and the
cosignature/v1 verifier key, or with --out writes the signer key to FILE (mode
0600, refusing to overwrite) and prints only the verifier key.`,
		Example: `  cityverify witness keygen witness.example.org --out witness.key`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			skey, vkey, err := cosig.GenerateKey(args[0])
			if err != nil {
				return fmt.Errorf("%w: %v", verifier.ErrInput, err)
			}
			if out != "" {
				f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if err != nil {
					return fmt.Errorf("%w: couldn't create --out: %v", verifier.ErrInput, err)
				}
				_, err = f.WriteString(skey + "\n")
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(e.stdout, map[string]string{"name": args[0], "vkey": vkey, "key_file": out})
				}
				fmt.Fprintln(e.stdout, vkey)
				return nil
			}
			if asJSON {
				return writeJSON(e.stdout, map[string]string{"name": args[0], "vkey": vkey, "skey": skey})
			}
			fmt.Fprintf(e.stdout, "%s\n%s\n", skey, vkey)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "write the signer key to this file (0600) and print only the verifier key")
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"name":..,"vkey":..} and "key_file" or "skey"`)
	return cmd
}

func witnessServeCmd(e *env) *cobra.Command {
	var keyFile, state, listen string
	var logs []string
	cmd := &cobra.Command{
		Use:   "serve --key FILE --state DIR --log VKEY... [--listen ADDR]",
		Short: "Serve add-checkpoint (C2SP tlog-witness) for the given logs",
		Long: `serve answers POST /add-checkpoint: it cosigns a log's checkpoint only if a
consistency proof ties it to the last checkpoint it cosigned for that log
(409 with its size if the client's "old" is stale, 422 if inconsistent). Its
state is persisted durably before it answers, and every cosigned checkpoint
is kept in DIR so a fork can be proven. GET /<hex(SHA-256(origin))>/checkpoint
serves the latest cosigned checkpoint.`,
		Example: `  cityverify witness serve --key witness.key --state wstate --log cities.example.org/log+4095fd3b+AY1G... --listen 127.0.0.1:7380`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			skey, err := os.ReadFile(keyFile)
			if err != nil {
				return fmt.Errorf("%w: couldn't read --key: %v", verifier.ErrInput, err)
			}
			signer, err := cosig.NewSigner(string(skey), nil)
			if err != nil {
				return fmt.Errorf("%w: --key: %v", verifier.ErrInput, err)
			}
			var keys []note.Verifier
			for _, l := range logs {
				_, vkey, ok := strings.Cut(l, "=")
				if !ok {
					vkey = l
				}
				v, err := verifier.ParseKey(vkey)
				if err != nil {
					return err
				}
				keys = append(keys, v)
			}
			w, err := witness.New(signer, keys, state)
			if err != nil {
				return err
			}
			defer w.Close()
			logger := slog.New(slog.NewJSONHandler(e.stderr, nil))
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("couldn't listen: %w", err)
			}
			srv := &http.Server{Handler: w, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
			logger.Info("witness serving", "addr", ln.Addr().String(), "name", signer.Name(), "vkey", signer.VerifierKey(), "logs", len(keys))
			go func() {
				<-cmd.Context().Done()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				srv.Shutdown(ctx)
			}()
			if err := srv.Serve(ln); err != http.ErrServerClosed {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "the witness signer key file (from keygen --out)")
	cmd.Flags().StringVar(&state, "state", "", "directory for the witness state")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:7380", "address to listen on")
	cmd.Flags().StringArrayVar(&logs, "log", nil, "a log to witness: its verifier key, or ORIGIN=VKEY (repeatable)")
	cmd.MarkFlagRequired("key")
	cmd.MarkFlagRequired("state")
	cmd.MarkFlagRequired("log")
	return cmd
}
