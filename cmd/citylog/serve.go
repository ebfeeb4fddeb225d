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
	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/log/tokens"
	"github.com/citylog/citylog/site"
	"github.com/citylog/citylog/tiles/source"
	"github.com/spf13/cobra"
)

// serveOptions are serve's flags.
type serveOptions struct {
	listen        string
	interval      time.Duration
	maxBatch      int
	storage       storageFlags
	limits        api.Limits
	headerTimeout time.Duration
	idleTimeout   time.Duration
	siteEvery     time.Duration // least time between two updates of the web site
}

func defaultServeOptions() serveOptions {
	return serveOptions{listen: "127.0.0.1:8080", maxBatch: 4096,
		headerTimeout: 5 * time.Second, idleTimeout: 30 * time.Second, siteEvery: time.Second}
}

func serveCmd(e *env) *cobra.Command {
	var dir string
	o := defaultServeOptions()
	cmd := &cobra.Command{
		Use:   "serve --dir DIR [--listen ADDR]",
		Short: "Serve the allocation API and the log's public tree over HTTP",
		Long: `serve runs the registry: POST /api/v1/allocate (bearer token, see citylog
token) pools requests into one checkpoint per batch and answers each with its
code and an offline receipt once the checkpoint is durably published; every
other path serves DIR/public as a static host would, so the server's URL is a
log source for cityverify (on a bucket, --storage, the read path is read from
the bucket; give the public the bucket or its CDN). /healthz and /metrics (Prometheus) are for
operators. SIGTERM stops it gracefully: requests already received are
published and answered.

It is meant to face the public: connections are capped in total
(--max-conns, by default the descriptor limit less a reserve for the
writer's files) and per remote address (--max-conns-per-addr), and cut when
a client is slow to send its headers (--header-timeout 5s) or idle between
requests (--idle-timeout 30s). Connections over a cap are closed at once;
the writer never runs out of descriptors for them. A transient writer error
(full disk, descriptor shortage, I/O error) fails the batch in flight with
503 and the server recovers by itself once the condition clears. Behind a
reverse proxy, see docs/OPERATIONS.md.`,
		Example: `  citylog serve --dir reg
  citylog serve --dir reg --listen :8080 --interval 50ms   # a bucket: bound the requests a second
  curl -H "Authorization: Bearer $TOKEN" -d '{"country":"FR","subdivision":"IDF","name":"Paris","ids":["unlocode:FRPAR"]}' localhost:8080/api/v1/allocate`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), e, dir, o, nil)
		},
	}
	dirFlag(cmd, &dir)
	o.storage.add(cmd)
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", o.listen, "address to listen on")
	f.DurationVar(&o.interval, "interval", o.interval, "least time between the starts of two batches (default 0: a batch starts as soon as the last is published, with what arrived meanwhile)")
	f.IntVar(&o.maxBatch, "max-batch", o.maxBatch, "most requests in one batch")
	f.IntVar(&o.limits.Max, "max-conns", 0, fmt.Sprintf("most connections held at once (default %d here: the descriptor limit less the writer's reserve)", api.DefaultMaxConns()))
	f.IntVar(&o.limits.PerAddr, "max-conns-per-addr", 0, "most connections one remote address may hold (default max-conns/8, at least 8)")
	f.DurationVar(&o.headerTimeout, "header-timeout", o.headerTimeout, "time a client has to send a request's headers")
	f.DurationVar(&o.idleTimeout, "idle-timeout", o.idleTimeout, "how long an idle keep-alive connection is kept")
	f.DurationVar(&o.siteEvery, "site-every", o.siteEvery, "least time between two updates of the log's web site (citylog site), each covering every batch since the last")
	return cmd
}

// serve runs the server until ctx ends; ready, if set, gets the bound
// address.
func serve(ctx context.Context, e *env, dir string, o serveOptions, ready func(addr string)) error {
	listen, interval, maxBatch := o.listen, o.interval, o.maxBatch
	logger := slog.New(slog.NewJSONHandler(e.stderr, nil))
	st, _, err := o.storage.open(dir)
	if err != nil {
		return err
	}
	w, err := openStore(ctx, dir, st)
	if err != nil {
		return err
	}
	// On a bucket the read path is the bucket, read as a verifier reads
	// it (never through the writer's own view of its versions).
	var public source.Source
	if fetcher, ok := st.(source.Source); ok {
		public = fetcher
	}
	checker, err := tokens.NewChecker(filepath.Join(dir, log.StateDir, tokensFile), logger)
	if err != nil {
		w.Close()
		return err
	}
	// A log with a web site keeps it up to date while serving.
	var updater *siteUpdater
	siteCtx, stopSite := context.WithCancel(ctx)
	defer stopSite()
	if cfg, err := siteConfig(dir, st); err == nil && site.Exists(ctx, cfg.Store) {
		updater = startSiteUpdater(siteCtx, cfg, o.siteEvery, logger)
	}
	published := func() {}
	if updater != nil {
		published = updater.published
	}
	s := api.New(w, api.Config{PublicDir: filepath.Join(dir, log.PublicDir), Public: public, StateDir: filepath.Join(dir, log.StateDir),
		Tokens: checker, Interval: interval, MaxBatch: maxBatch, Logger: logger, Published: published})
	go s.Run()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		s.Close()
		w.Close()
		return &cliError{code: exitFailure, err: fmt.Errorf("couldn't listen on %s: %w", listen, err), hint: "another program may use this address: pick another with --listen"}
	}
	limited := api.Listen(ln, o.limits, logger)
	lim := limited.Limits()
	// A body is one request of at most 16 KiB: four times that is
	// refused before the handler reads it.
	srv := s.NewHTTPServer(api.Timeouts{Header: o.headerTimeout, Read: 15 * time.Second, Write: 60 * time.Second, Idle: o.idleTimeout},
		4*entry.MaxRequestSize)
	logger.Info("serving", "addr", ln.Addr().String(), "origin", w.Origin(), "size", w.Size(), "interval", interval.String(),
		"max_conns", lim.Max, "max_conns_per_addr", lim.PerAddr, "header_timeout", o.headerTimeout.String(), "idle_timeout", o.idleTimeout.String())
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(limited) }()
	select {
	case err = <-errc:
	case <-ctx.Done():
		logger.Info("shutting down: answering requests in flight")
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = srv.ShutdownWithContext(sctx)
		cancel()
	}
	s.Close() // publishes and answers everything already queued
	if updater != nil {
		stopSite()
		updater.finish(context.Background())
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	logger.Info("stopped", "size", w.Size())
	return err
}
