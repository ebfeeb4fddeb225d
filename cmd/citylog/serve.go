package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/citylog/citylog/log"
	"github.com/citylog/citylog/log/api"
	"github.com/citylog/citylog/log/tokens"
	"github.com/spf13/cobra"
)

func serveCmd(e *env) *cobra.Command {
	var dir, listen string
	var interval time.Duration
	var maxBatch int
	cmd := &cobra.Command{
		Use:   "serve --dir DIR [--listen ADDR]",
		Short: "Serve the allocation API and the log's public tree over HTTP",
		Long: `serve runs the registry: POST /api/v1/allocate (bearer token, see citylog
token) pools requests into one checkpoint per batch and answers each with its
code and an offline receipt once the checkpoint is durably published; every
other path serves DIR/public as a static host would, so the server's URL is a
log source for cityverify. /healthz and /metrics (Prometheus) are for
operators. SIGTERM stops it gracefully: requests already received are
published and answered.`,
		Example: `  citylog serve --dir reg
  citylog serve --dir reg --listen :8080 --interval 200ms
  curl -H "Authorization: Bearer $TOKEN" -d '{"country":"FR","subdivision":"IDF","name":"Paris","ids":["unlocode:FRPAR"]}' localhost:8080/api/v1/allocate`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), e, dir, listen, interval, maxBatch, nil)
		},
	}
	dirFlag(cmd, &dir)
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "address to listen on")
	cmd.Flags().DurationVar(&interval, "interval", 500*time.Millisecond, "longest a request waits for its batch to close")
	cmd.Flags().IntVar(&maxBatch, "max-batch", 4096, "most requests in one batch")
	return cmd
}

// serve runs the server until ctx ends; ready, if set, gets the bound
// address.
func serve(ctx context.Context, e *env, dir, listen string, interval time.Duration, maxBatch int, ready func(addr string)) error {
	logger := slog.New(slog.NewJSONHandler(e.stderr, nil))
	w, err := log.Open(ctx, log.Config{Dir: dir})
	if err != nil {
		return err
	}
	checker, err := tokens.NewChecker(filepath.Join(dir, log.StateDir, tokensFile), logger)
	if err != nil {
		w.Close()
		return err
	}
	s := api.New(w, api.Config{PublicDir: filepath.Join(dir, log.PublicDir), StateDir: filepath.Join(dir, log.StateDir),
		Tokens: checker, Interval: interval, MaxBatch: maxBatch, Logger: logger})
	go s.Run()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		s.Close()
		w.Close()
		return &cliError{code: exitFailure, err: fmt.Errorf("couldn't listen on %s: %w", listen, err), hint: "another program may use this address: pick another with --listen"}
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	logger.Info("serving", "addr", ln.Addr().String(), "origin", w.Origin(), "size", w.Size(), "interval", interval.String())
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err = <-errc:
	case <-ctx.Done():
		logger.Info("shutting down: answering requests in flight")
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = srv.Shutdown(sctx)
		cancel()
	}
	s.Close() // publishes and answers everything already queued
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	logger.Info("stopped", "size", w.Size())
	return err
}
