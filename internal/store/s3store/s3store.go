// Package s3store keeps a log's public tree in an S3-compatible bucket
// (AWS S3, MinIO, Ceph, R2, versitygw, ...) under a prefix, for the writer
// and for mirrors. The keys are exactly the static layout, each object
// with the Content-Type and Cache-Control citylog serve sends for it, so
// the bucket can be served as a static website or through a CDN as it is.
//
// Conditional writes are the lock between writers on different machines:
// tiles and bundles are created with If-None-Match: * (an object that
// exists with the same bytes is success, a retry after a lost answer; with
// other bytes, store.ErrImmutable), and replaced files with If-Match: the
// ETag this store last read or wrote (store.ErrLostRace if another writer
// replaced it since).
//
// Every request is retried a bounded number of times, with backoff and a
// timeout per attempt, on what passes: 5xx, 429 and SlowDown, timeouts,
// connection resets. The SDK's own retries are off, so that the policy is
// this package's, in one place.
package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/citylog/citylog/internal/store"
	"github.com/citylog/citylog/tiles/source"
)

// Config says where the tree is and how to reach it.
type Config struct {
	Bucket, Prefix string // the tree's keys are Prefix + "/" + path
	// Endpoint is the service's base URL (AWS_ENDPOINT_URL); empty means
	// AWS S3 itself.
	Endpoint string
	Region   string // AWS_REGION; default us-east-1
	// Credentials; all empty means anonymous requests (a public bucket).
	AccessKey, SecretKey, SessionToken string
	// PathStyle addresses the bucket in the path (http://host/bucket/key),
	// as most S3-compatible servers want, rather than as a host name.
	PathStyle bool
	// Attempts bounds the tries of one request (default 6), each limited
	// to AttemptTimeout (default 20 s).
	Attempts       int
	AttemptTimeout time.Duration
	// HTTPClient, if set, carries the requests (tests put a fault proxy
	// in front of the server).
	HTTPClient *http.Client
}

// ParseURL splits s3://BUCKET/PREFIX.
func ParseURL(u string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(u, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%q is not an s3://BUCKET/PREFIX URL", u)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	prefix = strings.Trim(prefix, "/")
	if bucket == "" || strings.ContainsAny(bucket, " \t\n") {
		return "", "", fmt.Errorf("%q names no bucket: write s3://BUCKET/PREFIX", u)
	}
	return bucket, prefix, nil
}

// FromEnv returns the Config of s3://BUCKET/PREFIX from the standard AWS
// environment variables: AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_S3),
// AWS_REGION (or AWS_DEFAULT_REGION), AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN. A custom endpoint is
// addressed path-style.
func FromEnv(u string) (Config, error) {
	bucket, prefix, err := ParseURL(u)
	if err != nil {
		return Config{}, err
	}
	c := Config{Bucket: bucket, Prefix: prefix,
		Endpoint:  firstEnv("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
		Region:    firstEnv("AWS_REGION", "AWS_DEFAULT_REGION"),
		AccessKey: os.Getenv("AWS_ACCESS_KEY_ID"), SecretKey: os.Getenv("AWS_SECRET_ACCESS_KEY"), SessionToken: os.Getenv("AWS_SESSION_TOKEN")}
	c.PathStyle = c.Endpoint != ""
	return c, nil
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// Store is a public tree in a bucket. It is safe for concurrent use.
type Store struct {
	cfg    Config
	client *s3.Client

	mu    sync.Mutex
	etags map[string]string // replaced files: the ETag last read or written
}

// New returns the store of cfg. It makes no request.
func New(cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3: no bucket")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 6
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = 20 * time.Second
	}
	if cfg.Endpoint != "" {
		if u, err := url.Parse(cfg.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("s3: endpoint %q is not an http(s) URL", cfg.Endpoint)
		}
	}
	var creds aws.CredentialsProvider = aws.AnonymousCredentials{}
	if cfg.AccessKey != "" || cfg.SecretKey != "" {
		creds = credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken)
	}
	var httpClient aws.HTTPClient = awshttp.NewBuildableClient()
	if cfg.HTTPClient != nil {
		httpClient = cfg.HTTPClient
	}
	awsCfg := aws.Config{Region: cfg.Region, Credentials: creds, HTTPClient: httpClient, Retryer: func() aws.Retryer { return aws.NopRetryer{} }}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		// Many S3-compatible servers refuse the checksums the SDK adds by
		// default; send and check them only where an operation needs them.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	return &Store{cfg: cfg, client: client, etags: map[string]string{}}, nil
}

// String names the tree, as s3://BUCKET/PREFIX.
func (s *Store) String() string {
	if s.cfg.Prefix == "" {
		return "s3://" + s.cfg.Bucket
	}
	return "s3://" + s.cfg.Bucket + "/" + s.cfg.Prefix
}

func (s *Store) key(p string) (string, error) {
	if !fs.ValidPath(p) || p == "." {
		return "", fmt.Errorf("invalid store path %q", p)
	}
	if s.cfg.Prefix == "" {
		return p, nil
	}
	return s.cfg.Prefix + "/" + p, nil
}

// ReadFile returns the object at p; a missing object is an error wrapping
// fs.ErrNotExist. Its ETag is kept for a later ReplaceFile of p.
func (s *Store) ReadFile(ctx context.Context, p string) ([]byte, error) {
	key, err := s.key(p)
	if err != nil {
		return nil, err
	}
	data, etag, err := s.get(ctx, key, 1<<40)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	s.mu.Lock()
	s.etags[key] = etag
	s.mu.Unlock()
	return data, nil
}

// Fetch reads the object at p for a verifier (tiles/source.Source): at
// most source.MaxSize(p) bytes, so a hostile bucket cannot make the reader
// allocate without bound; a missing object is source.ErrNotFound, one the
// service would not give, source.ErrUnavailable.
func (s *Store) Fetch(ctx context.Context, p string) ([]byte, error) {
	key, err := s.key(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", source.ErrUnavailable, err)
	}
	data, _, err := s.get(ctx, key, source.MaxSize(p))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s: %s: %w", s, p, source.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("%s: %s: %w: %v", s, p, source.ErrUnavailable, err)
	}
	return data, nil
}

var errTooLarge = errors.New("object larger than its kind may be")

func (s *Store) get(ctx context.Context, key string, max int64) ([]byte, string, error) {
	var data []byte
	var etag string
	err := s.retry(ctx, "GET "+key, func(ctx context.Context) error {
		out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: &key})
		if err != nil {
			return err
		}
		defer out.Body.Close()
		if out.ContentLength != nil && *out.ContentLength > max {
			return fmt.Errorf("%w: %d bytes, at most %d", errTooLarge, *out.ContentLength, max)
		}
		var buf bytes.Buffer
		if out.ContentLength != nil && *out.ContentLength > 0 {
			buf.Grow(int(*out.ContentLength))
		}
		if _, err := io.Copy(&buf, io.LimitReader(out.Body, max+1)); err != nil {
			return err
		}
		if int64(buf.Len()) > max {
			return fmt.Errorf("%w: more than %d bytes", errTooLarge, max)
		}
		data, etag = buf.Bytes(), aws.ToString(out.ETag)
		return nil
	})
	return data, etag, err
}

// CreateFile makes p hold data unless p exists: If-None-Match: *. An
// object already there with the same bytes is success (a retry whose
// first answer was lost, or a batch applied again); with other bytes it
// is store.ErrImmutable and the object stays. The object is durable when
// CreateFile returns.
func (s *Store) CreateFile(ctx context.Context, p string, data []byte) error {
	key, err := s.key(p)
	if err != nil {
		return err
	}
	_, err = s.put(ctx, key, data, putIf{noneMatch: true})
	if !errors.Is(err, errPrecondition) {
		return err
	}
	old, _, gerr := s.get(ctx, key, int64(len(data)))
	if errors.Is(gerr, errTooLarge) {
		return fmt.Errorf("%s: %w", p, store.ErrImmutable)
	}
	if gerr != nil {
		return fmt.Errorf("%s exists; couldn't read it to compare: %w", p, gerr)
	}
	if !bytes.Equal(old, data) {
		return fmt.Errorf("%s: %w", p, store.ErrImmutable)
	}
	return nil
}

// PutFile replaces p with data, unconditionally (mutable files other than
// the checkpoint: the identifier index, the site).
func (s *Store) PutFile(ctx context.Context, p string, data []byte) error {
	key, err := s.key(p)
	if err != nil {
		return err
	}
	etag, err := s.put(ctx, key, data, putIf{})
	if err == nil {
		s.mu.Lock()
		s.etags[key] = etag
		s.mu.Unlock()
	}
	return err
}

// ReplaceFile replaces p with data, unconditionally; the object is
// durable when it returns (the edge file, the index's meta).
func (s *Store) ReplaceFile(ctx context.Context, p string, data []byte) error {
	return s.PutFile(ctx, p, data)
}

// SwapFile replaces p with data only if p is still the object this
// store last read or wrote (If-Match: its ETag), or creates it if this
// store saw it missing (If-None-Match: *). Otherwise another writer
// replaced it: store.ErrLostRace, and nothing is written. A retry whose
// first answer was lost finds its own bytes there and succeeds. The
// checkpoint and the writer's claim are swapped: on a bucket, the lock
// between writers.
func (s *Store) SwapFile(ctx context.Context, p string, data []byte) error {
	key, err := s.key(p)
	if err != nil {
		return err
	}
	s.mu.Lock()
	prev, known := s.etags[key]
	s.mu.Unlock()
	cond := putIf{noneMatch: true}
	if known && prev != "" {
		cond = putIf{match: prev}
	}
	etag, err := s.put(ctx, key, data, cond)
	if errors.Is(err, errPrecondition) {
		cur, curTag, gerr := s.get(ctx, key, 1<<40)
		switch {
		case gerr == nil && bytes.Equal(cur, data):
			etag, err = curTag, nil // our own write, whose answer was lost
		case gerr == nil || errors.Is(gerr, fs.ErrNotExist):
			seen := "missing"
			if prev != "" {
				seen = "version " + prev
			}
			return fmt.Errorf("%s in %s: %w (this writer last saw it %s): stop this writer; only one may write a log", p, s, store.ErrLostRace, seen)
		default:
			return fmt.Errorf("%s: the conditional write failed and the object could not be read: %w", p, gerr)
		}
	}
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.etags[key] = etag
	s.mu.Unlock()
	return nil
}

// putIf is a PUT's precondition.
type putIf struct {
	noneMatch bool   // If-None-Match: *
	match     string // If-Match: this ETag
}

var errPrecondition = errors.New("precondition failed")

func (s *Store) put(ctx context.Context, key string, data []byte, cond putIf) (string, error) {
	contentType, cacheControl := store.Metadata(strings.TrimPrefix(strings.TrimPrefix(key, s.cfg.Prefix), "/"))
	var etag string
	err := s.retry(ctx, "PUT "+key, func(ctx context.Context) error {
		in := &s3.PutObjectInput{Bucket: &s.cfg.Bucket, Key: &key, Body: bytes.NewReader(data),
			ContentLength: aws.Int64(int64(len(data))), ContentType: &contentType, CacheControl: &cacheControl}
		if cond.noneMatch {
			in.IfNoneMatch = aws.String("*")
		}
		if cond.match != "" {
			in.IfMatch = aws.String(cond.match)
		}
		out, err := s.client.PutObject(ctx, in)
		if err != nil {
			return err
		}
		etag = aws.ToString(out.ETag)
		return nil
	})
	return etag, err
}

// RemoveFile removes p; a missing object is not an error.
func (s *Store) RemoveFile(ctx context.Context, p string) error {
	key, err := s.key(p)
	if err != nil {
		return err
	}
	err = s.retry(ctx, "DELETE "+key, func(ctx context.Context) error {
		_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.cfg.Bucket, Key: &key})
		return err
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// RemoveAll removes every object under the prefix dir.
func (s *Store) RemoveAll(ctx context.Context, dir string) error {
	keys, err := s.List(ctx, dir)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := s.RemoveFile(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// List returns the paths of the objects under dir, relative to the
// store's prefix, in key order.
func (s *Store) List(ctx context.Context, dir string) ([]string, error) {
	key, err := s.key(dir)
	if err != nil {
		return nil, err
	}
	prefix := key + "/"
	var out []string
	var token *string
	for {
		var page *s3.ListObjectsV2Output
		err := s.retry(ctx, "LIST "+prefix, func(ctx context.Context) error {
			var err error
			page, err = s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &s.cfg.Bucket, Prefix: &prefix, ContinuationToken: token})
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			if s.cfg.Prefix != "" {
				k = strings.TrimPrefix(k, s.cfg.Prefix+"/")
			}
			out = append(out, k)
		}
		if !aws.ToBool(page.IsTruncated) || page.NextContinuationToken == nil {
			return out, nil
		}
		token = page.NextContinuationToken
	}
}

// Shared says that writers on several machines may share this store: the
// writer then claims each batch in it before applying it.
func (s *Store) Shared() bool { return true }

// Sync does nothing: an object is durable when its PUT returns.
func (s *Store) Sync(context.Context) error { return nil }

// CreateBucket creates the store's bucket if it does not exist (for
// tests and first set-ups; production buckets are made by their owner).
func (s *Store) CreateBucket(ctx context.Context) error {
	err := s.retry(ctx, "CREATE BUCKET "+s.cfg.Bucket, func(ctx context.Context) error {
		_, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &s.cfg.Bucket})
		return err
	})
	var owned *types.BucketAlreadyOwnedByYou
	var exists *types.BucketAlreadyExists
	if errors.As(err, &owned) || errors.As(err, &exists) {
		return nil
	}
	return err
}

// ErrUnavailable wraps the last error of a request that failed on every
// attempt with a transient error (the service is down, throttling, or
// unreachable): the caller may try again later.
var ErrUnavailable = errors.New("s3: unavailable")

// retry runs op up to the configured attempts while it fails with a
// transient error, with exponential backoff and jitter, each attempt
// bounded by AttemptTimeout. Errors are mapped: a missing object to
// fs.ErrNotExist, a failed precondition to errPrecondition.
func (s *Store) retry(ctx context.Context, what string, op func(ctx context.Context) error) error {
	wait := 50 * time.Millisecond
	var last error
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, s.cfg.AttemptTimeout)
		err := op(actx)
		cancel()
		if err == nil {
			return nil
		}
		err = classify(err)
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, ctx.Err())
		}
		if !transient(err) {
			return fmt.Errorf("%s: %w", what, err)
		}
		last = err
		if attempt >= s.cfg.Attempts {
			return fmt.Errorf("%s: %w after %d attempts: %w", what, ErrUnavailable, attempt, last)
		}
		jittered := wait/2 + time.Duration(rand.Int64N(int64(wait)))
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-time.After(jittered):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// statusError is an S3 answer with a status: the API error's code and
// the HTTP status.
type statusError struct {
	status int
	code   string
	err    error
}

func (e *statusError) Error() string {
	if e.code != "" {
		return fmt.Sprintf("%d %s: %v", e.status, e.code, e.err)
	}
	return fmt.Sprintf("HTTP %d: %v", e.status, e.err)
}
func (e *statusError) Unwrap() error { return e.err }

// classify maps SDK errors to what callers branch on.
func classify(err error) error {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return fmt.Errorf("%w: %v", fs.ErrNotExist, err)
	}
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	code := ""
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	switch {
	case status == http.StatusPreconditionFailed || code == "PreconditionFailed":
		return fmt.Errorf("%w: %v", errPrecondition, err)
	case status == http.StatusNotFound && (code == "NoSuchKey" || code == "NotFound" || code == ""):
		return fmt.Errorf("%w: %v", fs.ErrNotExist, err)
	case status != 0:
		return &statusError{status: status, code: code, err: err}
	}
	return err
}

// transient reports whether an attempt's error may pass: a server error,
// throttling, a timeout, a connection cut.
func transient(err error) bool {
	var se *statusError
	if errors.As(err, &se) {
		// 409 ConditionalRequestConflict: another conditional write of
		// the key is in progress (perhaps this writer's own earlier
		// attempt, timed out here); S3 says to retry, and the retry
		// meets 412 if another writer won. Read as a lost race, it
		// would stop a healthy writer for good.
		return se.status >= 500 || se.status == http.StatusTooManyRequests || se.code == "ConditionalRequestConflict" ||
			se.code == "SlowDown" || se.code == "Throttling" || se.code == "ThrottlingException" || se.code == "RequestTimeout"
	}
	if errors.Is(err, errPrecondition) || errors.Is(err, fs.ErrNotExist) {
		return false
	}
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		errors.As(err, &ne) || strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe")
}
