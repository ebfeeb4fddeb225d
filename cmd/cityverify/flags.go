package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/citylog/citylog/internal/store/s3store"
	"github.com/citylog/citylog/tiles/source"
	"github.com/citylog/citylog/verifier"
	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"
)

// logFlags are the flags every command that reads a log shares.
type logFlags struct {
	log     string
	key     string
	cache   string
	noCache bool
	timeout time.Duration
	asJSON  bool
	witness []string
	quorum  int
}

func (f *logFlags) add(cmd *cobra.Command, needLog bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.log, "log", "", "the log's public tree: a directory, an http(s) base URL, or s3://BUCKET/PREFIX (AWS_* environment variables)")
	fl.StringVar(&f.key, "key", "", "the log's note verifier key, or a file holding it (required)")
	fl.StringVar(&f.cache, "cache", "", "cache directory for immutable tiles (default: the user cache dir)")
	fl.BoolVar(&f.noCache, "no-cache", false, "do not read or write the tile cache")
	fl.DurationVar(&f.timeout, "timeout", 10*time.Second, "timeout of each HTTP request")
	fl.BoolVar(&f.asJSON, "json", false, "print the result as JSON")
	fl.StringArrayVar(&f.witness, "witness", nil, "a witness's cosignature/v1 verifier key (repeatable); checkpoints need --quorum of them")
	fl.IntVar(&f.quorum, "quorum", -1, "how many --witness cosignatures a checkpoint needs (default: all given)")
	cmd.MarkFlagRequired("key")
	if needLog {
		cmd.MarkFlagRequired("log")
	}
}

func (f *logFlags) verifierKey() (note.Verifier, error) {
	v, err := verifier.ParseKey(f.key)
	if err != nil {
		return nil, fmt.Errorf("--key: %w", err)
	}
	return v, nil
}

// policy returns the witness policy the flags ask for.
func (f *logFlags) policy() (verifier.Policy, error) {
	q := f.quorum
	if q < 0 {
		q = len(f.witness)
	}
	p, err := verifier.ParseWitnesses(f.witness, q)
	if err != nil {
		return verifier.Policy{}, fmt.Errorf("--witness/--quorum: %w", err)
	}
	return p, nil
}

// check runs fn on the log the flags name. If it fails verification
// while tiles came from the cache, the cache is purged and fn runs once
// more on fresh bytes: a tile cached from a bad mirror must not fail every
// later check, and a log that really fails, fails twice.
func (f *logFlags) check(fn func(*verifier.Log) error) error {
	l, err := f.open()
	if err != nil {
		return err
	}
	err = fn(l)
	if c, ok := l.Source().(*source.Cache); ok && errors.Is(err, verifier.ErrFailed) {
		if c.Purge() == nil {
			err = fn(l)
		}
	}
	return err
}

// open returns the log the flags name.
func (f *logFlags) open() (*verifier.Log, error) {
	key, err := f.verifierKey()
	if err != nil {
		return nil, err
	}
	p, err := f.policy()
	if err != nil {
		return nil, err
	}
	src, err := f.source()
	if err != nil {
		return nil, err
	}
	return verifier.New(src, key, p), nil
}

// logDirInstead reports whether dir is a log directory made by citylog
// init (public/ and state/) rather than the public tree itself: a common
// slip.
func logDirInstead(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, "checkpoint")); err == nil {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, "public", "checkpoint"))
	return err == nil
}

func (f *logFlags) source() (source.Source, error) {
	if strings.HasPrefix(f.log, "s3://") {
		// A bucket: the AWS environment variables say where and as whom;
		// with no credentials the requests are anonymous (a public bucket).
		cfg, err := s3store.FromEnv(f.log)
		if err != nil {
			return nil, fmt.Errorf("%w: --log: %v", verifier.ErrInput, err)
		}
		cfg.AttemptTimeout = f.timeout
		cfg.Attempts = 3
		s, err := s3store.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("%w: --log: %v", verifier.ErrInput, err)
		}
		return s, nil
	}
	if !strings.HasPrefix(f.log, "http://") && !strings.HasPrefix(f.log, "https://") {
		if strings.Contains(f.log, "://") {
			return nil, fmt.Errorf("%w: --log %q: only directories, http(s) URLs and s3://BUCKET/PREFIX are supported", verifier.ErrInput, f.log)
		}
		if logDirInstead(f.log) {
			public := filepath.Join(f.log, "public")
			return nil, &hinted{fmt.Errorf("%w: --log %s is a citylog log directory, not its public tree", verifier.ErrInput, f.log),
				fmt.Sprintf("use --log %s (what a static host serves)", public)}
		}
		return source.Dir(f.log), nil
	}
	h, err := source.NewHTTP(f.log, source.HTTPOptions{Timeout: f.timeout})
	if err != nil {
		return nil, fmt.Errorf("%w: --log %q: %v", verifier.ErrInput, f.log, err)
	}
	var src source.Source = h
	if f.noCache {
		return src, nil
	}
	dir := f.cache
	if dir == "" {
		d, err := source.DefaultCacheDir()
		if err != nil {
			return src, nil // no cache dir: work without one
		}
		dir = d
	}
	return source.NewCache(src, dir), nil
}
