package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/citylog/citylog/internal/durable"
	"github.com/citylog/citylog/internal/store/dirstore"
	"github.com/citylog/citylog/log"
	"github.com/citylog/citylog/site"
	"github.com/citylog/citylog/tiles/source"
	"github.com/spf13/cobra"
)

// siteURLFile, in state/, keeps the URL the site shows in its commands.
const siteURLFile = "site-url"

// siteMemoryLimit is the Go runtime's soft memory limit while site runs.
// A build holds the last page of every subdivision (about 70 MiB of live
// heap for a log of a million cities, bounded by the number of
// subdivisions, not by the log), and the collector's default pacing lets
// the heap grow to several times that: with 192 MiB the process stays
// near 210 MiB instead of 270 (the collector works harder only when the
// heap nears the limit). GOMEMLIMIT, when set, wins.
func siteMemoryLimit() int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1)
	}
	return 192 << 20
}

func siteCmd(e *env) *cobra.Command {
	var dir, url string
	var full, asJSON bool
	var sf storageFlags
	cmd := &cobra.Command{
		Use:   "site --dir DIR [--url URL] [--full]",
		Short: "Write the registry's web site into the log's public tree",
		Long: `site writes the registry's static web site into DIR/public (or the bucket),
next to the tiles, so that one static host serves both: the home page, search,
browse, download and a code page that verifies a code in the reader's browser
against the log's key. Everything works from any static host or mirror, under
any path: links are relative, and nothing comes from another host.

Once a log has a site, citylog import, allocate and serve bring it up to date
after they publish, in time that grows with the new entries. Run site again
after changing the witness policy or upgrading citylog; --full rebuilds it from
the log alone.

--url is the public URL of the log (where checkpoint is served), shown in the
cityverify commands of the home page; it is kept for later updates.`,
		Example: `  citylog site --dir reg
  citylog site --dir reg --url https://cities.example.org/log
  citylog site --dir reg --full --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := log.CheckLogDir(dir); err != nil {
				return err
			}
			if url != "" {
				if !strings.HasPrefix(url, "https://") && !strings.HasPrefix(url, "http://") {
					return usageError("--url %q: an http(s) URL, where the log's checkpoint is served", url)
				}
				if err := durable.WriteFile(filepath.Join(dir, log.StateDir, siteURLFile), []byte(url+"\n"), 0o644); err != nil {
					return err
				}
			}
			st, _, err := sf.open(dir)
			if err != nil {
				return err
			}
			cfg, err := siteConfig(dir, st)
			if err != nil {
				return err
			}
			bar := newProgress(e.stderr, 0)
			if bar != nil {
				cfg.Progress = func(done, total uint64) {
					bar.ChangeMax64(int64(total))
					bar.Set64(int64(done))
				}
			}
			run := site.Update
			if full {
				run = site.Build
			}
			defer debug.SetMemoryLimit(debug.SetMemoryLimit(siteMemoryLimit()))
			rep, err := run(cmd.Context(), cfg)
			if bar != nil {
				bar.Finish()
				fmt.Fprintln(e.stderr)
			}
			if err != nil {
				return &cliError{code: exitFailure, err: fmt.Errorf("couldn't write the site: %w", err), hint: siteHint(err, dir)}
			}
			if asJSON {
				return writeJSON(e.stdout, rep)
			}
			where := filepath.Join(dir, log.PublicDir)
			if st != nil {
				where = "the bucket"
			}
			if rep.Rebuilt {
				fmt.Fprintln(e.stderr, "the page layout, the scripts or the log's settings changed: the whole site was written again")
			}
			fmt.Fprintf(e.stdout, "site of %d entries written into %s (%d files, %.2fs): open index.html there, or serve it\n", rep.To, where, rep.Files, rep.Seconds)
			return nil
		},
	}
	dirFlag(cmd, &dir)
	sf.add(cmd)
	cmd.Flags().StringVar(&url, "url", "", "the log's public URL, shown in the home page's cityverify commands (kept for later updates)")
	cmd.Flags().BoolVar(&full, "full", false, "rebuild the whole site from the log")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

// siteConfig is the site configuration of the log at dir whose public
// tree is st (nil: DIR/public).
func siteConfig(dir string, st log.Storage) (site.Config, error) {
	var store site.Store = st
	var src source.Source
	if st == nil {
		ds, err := dirstore.New(filepath.Join(dir, log.PublicDir))
		if err != nil {
			return site.Config{}, err
		}
		store, src = ds, source.Func{Name: "the log's public tree", Read: ds.ReadFile}
	} else if f, ok := st.(source.Source); ok {
		src = f
	} else {
		src = source.Func{Name: "the log's storage", Read: st.ReadFile}
	}
	vkey, err := os.ReadFile(filepath.Join(dir, log.StateDir, "vkey"))
	if err != nil {
		return site.Config{}, err
	}
	cfg := site.Config{Store: store, Source: src, Key: strings.TrimSpace(string(vkey))}
	if b, err := os.ReadFile(filepath.Join(dir, log.StateDir, siteURLFile)); err == nil {
		cfg.URL = strings.TrimSpace(string(b))
	}
	ws, err := loadWitnesses(dir)
	if err != nil {
		return site.Config{}, err
	}
	for _, w := range ws.Witnesses {
		cfg.Witnesses = append(cfg.Witnesses, w.VKey)
	}
	cfg.Quorum = ws.Quorum
	return cfg, nil
}

// roomyGC lets garbage pile up to about three times what is live before
// the collector runs, until restore is called, unless GOGC is set. Next
// to the small live heap of an import, a site update ran the collector a
// dozen times at the default, most of its time (a refresh of a 1M log's
// site after 16,384 cities: 200-240 ms, against 110-140 ms). More room
// costs more than it saves, now that an update allocates less: memory
// the process never used costs a page fault a page (10-15 µs each on a
// small VM), and at 800 an update faulted 5,000-6,000 pages where at 200
// it reuses the import's (over 6 updates each, interleaved: 100-140 ms
// at 200, 130-150 ms at 800, 110-150 ms at 100).
func roomyGC() (restore func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	old := debug.SetGCPercent(200)
	return func() { debug.SetGCPercent(old) }
}

// refreshSite brings the log's site up to date after a command
// published, if the log has one, taking the entries fresh holds (if not
// nil) as they are. The allocations are durable whatever happens here: a
// failure is reported, and the next update catches up.
func refreshSite(ctx context.Context, e *env, dir string, sf *storageFlags, fresh *site.Fresh) {
	warn := func(err error) {
		fmt.Fprintf(e.stderr, "citylog: warning: the site was not updated (the allocations are durable): %v\ncitylog: hint: %s\n", err, siteHint(err, dir))
	}
	st, _, err := sf.open(dir)
	var cfg site.Config
	if err == nil {
		cfg, err = siteConfig(dir, st)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist): // nothing says where a site would be
		return
	case err != nil:
		warn(err)
		return
	case !site.Exists(ctx, cfg.Store):
		return
	}
	cfg.Fresh = fresh
	restore := roomyGC()
	rep, err := site.Update(ctx, cfg)
	restore()
	if err != nil {
		// Whatever it wraps: a file of the site missing is news.
		warn(err)
		return
	}
	switch {
	case rep.Rebuilt:
		fmt.Fprintf(e.stderr, "site made again whole (the page layout, the scripts or the log's settings changed): %d entries, %d files in %.2fs\n", rep.To, rep.Files, rep.Seconds)
	case rep.To > rep.From:
		fmt.Fprintf(e.stderr, "site updated: entries %d to %d, %d files in %.2fs\n", rep.From, rep.To, rep.Files, rep.Seconds-rep.SettleSeconds)
	}
	if rep.SettleSeconds > 0 {
		fmt.Fprintf(e.stderr, "site settled: the lists hold entries 0 to %d, in %.2fs more\n", rep.Settled, rep.SettleSeconds)
	}
}

// siteHint says what mends a site that an update failed to write: a build
// if its files disagree (site.ErrDamaged), else the update again.
func siteHint(err error, dir string) string {
	if errors.Is(err, site.ErrDamaged) {
		return fmt.Sprintf("citylog site --dir %s --full makes it anew from the log", dir)
	}
	return fmt.Sprintf("fix the cause and run citylog site --dir %s: it continues where it stopped", dir)
}

// siteUpdater keeps a serving log's site up to date: a publication asks
// for a refresh, and refreshes run one at a time, at least every apart,
// each covering everything published since the last; settling the lists
// (seconds, once every 65,536 entries) waits until no publication came
// for every (or until a refresh must settle: site.Refresh).
type siteUpdater struct {
	ctx    context.Context
	cfg    site.Config
	every  time.Duration
	logger *slog.Logger
	wake   chan struct{}
	done   chan struct{}
}

func startSiteUpdater(ctx context.Context, cfg site.Config, every time.Duration, logger *slog.Logger) *siteUpdater {
	u := &siteUpdater{ctx: ctx, cfg: cfg, every: every, logger: logger, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go u.loop()
	return u
}

// published asks for an update; it never blocks the publisher.
func (u *siteUpdater) published() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

func (u *siteUpdater) loop() {
	defer close(u.done)
	unsettled := true // an Update when idle settles what refreshes left
	for {
		var idle <-chan time.Time
		if unsettled {
			idle = time.After(u.every)
		}
		run := site.Refresh
		select {
		case <-u.ctx.Done():
			return
		case <-u.wake:
			unsettled = true
		case <-idle:
			run, unsettled = site.Update, false
		}
		start := time.Now()
		// Not with roomyGC: next to a server's heap it tripled the peak
		// RSS under load (374 MiB against 123) and worsened p99.
		rep, err := run(u.ctx, u.cfg)
		switch {
		case err != nil && u.ctx.Err() == nil:
			u.logger.Warn("couldn't update the site; the next publication tries again", "err", err)
			unsettled = true
		case err == nil && (rep.To > rep.From || rep.SettleSeconds > 0):
			u.logger.Info("site updated", "from", rep.From, "to", rep.To, "files", rep.Files, "seconds", rep.Seconds,
				"settled", rep.Settled, "settle_seconds", rep.SettleSeconds, "rebuilt", rep.Rebuilt)
		}
		select {
		case <-u.ctx.Done():
			return
		case <-time.After(u.every - time.Since(start)):
		}
	}
}

// finish runs a last update (for what was published while stopping) and
// stops the updater.
func (u *siteUpdater) finish(ctx context.Context) {
	<-u.done
	if _, err := site.Update(ctx, u.cfg); err != nil {
		u.logger.Warn("couldn't update the site", "err", err)
	}
}
