package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/citylog/citylog/internal/durable"
	"github.com/citylog/citylog/internal/store/s3store"
	"github.com/citylog/citylog/log"
	"github.com/spf13/cobra"
)

// storageFile, in state/, names where the log's public tree lives when it
// is not DIR/public: an s3://BUCKET/PREFIX URL, written by init. It holds
// no credential.
const storageFile = "storage"

// storageFlags say where a log's public tree is.
type storageFlags struct {
	url       string
	endpoint  string
	region    string
	pathStyle string // "", "true" or "false"
}

func (f *storageFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.url, "storage", "", "where the public tree is: s3://BUCKET/PREFIX (default: what init recorded, else DIR/public)")
	fl.StringVar(&f.endpoint, "s3-endpoint", "", "the S3 service's URL (default $AWS_ENDPOINT_URL, else AWS S3)")
	fl.StringVar(&f.region, "s3-region", "", "the S3 region (default $AWS_REGION, else us-east-1)")
	fl.StringVar(&f.pathStyle, "s3-path-style", "", "address the bucket in the URL path (true/false; default true with a custom endpoint)")
}

// resolve returns the storage URL the flags or state/storage name ("" for
// the local directory).
func (f *storageFlags) resolve(dir string) (string, error) {
	if f.url != "" {
		return f.url, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, log.StateDir, storageFile))
	if os.IsNotExist(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// open returns the log's storage (nil for DIR/public) and its URL.
func (f *storageFlags) open(dir string) (log.Storage, string, error) {
	u, err := f.resolve(dir)
	if err != nil || u == "" {
		return nil, "", err
	}
	if !strings.HasPrefix(u, "s3://") {
		return nil, "", usageError("--storage %q: only s3://BUCKET/PREFIX is supported (the default is DIR/public)", u)
	}
	cfg, err := s3store.FromEnv(u)
	if err != nil {
		return nil, "", usageError("--storage: %v", err)
	}
	if f.endpoint != "" {
		cfg.Endpoint, cfg.PathStyle = f.endpoint, true
	}
	if f.region != "" {
		cfg.Region = f.region
	}
	switch f.pathStyle {
	case "true":
		cfg.PathStyle = true
	case "false":
		cfg.PathStyle = false
	case "":
	default:
		return nil, "", usageError("--s3-path-style %q: true or false", f.pathStyle)
	}
	s, err := s3store.New(cfg)
	if err != nil {
		return nil, "", usageError("%v", err)
	}
	return s, u, nil
}

// openLog opens the writer of the log at dir on its storage.
func openLog(ctx context.Context, dir string, f *storageFlags) (*log.Writer, error) {
	st, _, err := f.open(dir)
	if err != nil {
		return nil, err
	}
	return openStore(ctx, dir, st)
}

// openStore opens the log of DIR with its public tree in st (nil:
// DIR/public).
func openStore(ctx context.Context, dir string, st log.Storage) (*log.Writer, error) {
	cfg := log.Config{Dir: dir}
	if st != nil {
		cfg.Store = st
		cfg.Workers = 16 // a remote store: many uploads in flight hide its latency
	}
	return log.Open(ctx, cfg)
}

// recordStorage writes state/storage for later commands.
func recordStorage(dir, u string) error {
	if u == "" {
		return nil
	}
	if err := durable.WriteFile(filepath.Join(dir, log.StateDir, storageFile), []byte(u+"\n"), 0o600); err != nil {
		return fmt.Errorf("couldn't record the storage: %w", err)
	}
	return nil
}
