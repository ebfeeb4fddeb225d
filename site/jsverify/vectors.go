package jsverify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/citylog/citylog/log/idcode"
	"github.com/citylog/citylog/tiles/source"
	"github.com/citylog/citylog/verifier"
)

// Vectors are the shared test vectors of verify.js: logs as a static host
// serves them, what to verify in each, and what the Go verifier said.
type Vectors struct {
	// Blobs holds each file's bytes once, by name (base64 in JSON): the
	// vectors of one log share its files and differ in one or two.
	Blobs   map[string][]byte `json:"blobs"`
	Vectors []Vector          `json:"vectors"`
}

// Vector is one case: verify Code in the log Files make up, under Key and
// the witness policy.
type Vector struct {
	Name string `json:"name"`
	// Files maps each path the host serves (relative to the log's base,
	// e.g. "tile/0/000") to its blob. Other paths are 404.
	Files map[string]string `json:"files"`
	// Status maps a path ("*" for every path) to the HTTP status the host
	// answers instead, with no usable body.
	Status    map[string]int `json:"status,omitempty"`
	Key       string         `json:"key"`
	Witnesses []string       `json:"witnesses"`
	Quorum    int            `json:"quorum"`
	Code      string         `json:"code"`
	Want      Want           `json:"want"`
}

// Want is the Go verifier's answer to a vector: verify.js must give the
// same verdict and fetch the same files.
type Want struct {
	// Verdict is "verified", "failed" or "unchecked", as Verdict
	// classifies the Go verifier's error.
	Verdict string `json:"verdict"`
	// Input is set when the vector's input is wrong (a malformed code or
	// key, verifier.ErrInput): verdict "failed", nothing fetched.
	Input bool `json:"input,omitempty"`
	// Detail, if set, must appear in verify.js's detail: the file a
	// failure is about.
	Detail string `json:"detail,omitempty"`
	// Fetched is every path the Go verifier asked for, sorted.
	Fetched []string `json:"fetched"`
	// Error is the Go verifier's error, for a reader of the vectors.
	Error string `json:"go_error,omitempty"`
}

// Verdict classifies an error of package verifier as verify.js reports
// it, following cityverify's exit status: nil is "verified" (exit 0),
// ErrFailed "failed" (1), ErrInput or a mistyped code "failed" with input
// set (2: the input is wrong, no evidence against the log), anything else
// "unchecked" (3).
func Verdict(err error) (verdict string, input bool) {
	var ce *idcode.CheckError
	switch {
	case err == nil:
		return "verified", false
	case errors.As(err, &ce) || errors.Is(err, verifier.ErrInput):
		return "failed", true
	case errors.Is(err, verifier.ErrFailed):
		return "failed", false
	}
	return "unchecked", false
}

// Source returns v's files as a source.Source that answers as an HTTP
// host would (source.HTTP): 404 as source.ErrNotFound, 429 and 5xx as
// ErrUnavailable, other statuses as refused, and a file larger than
// source.MaxSize as unavailable. fetched, if not nil, is called with
// every path asked for.
func (vs *Vectors) Source(v *Vector, fetched func(path string)) source.Source {
	return source.Func{Name: "vector " + v.Name, Read: func(_ context.Context, path string) ([]byte, error) {
		if fetched != nil {
			fetched(path)
		}
		st, ok := v.Status[path]
		if !ok {
			st, ok = v.Status["*"]
		}
		blob, have := v.Files[path]
		switch {
		case !ok && have && int64(len(vs.Blobs[blob])) > source.MaxSize(path):
			return nil, fmt.Errorf("%s: %w: more than %d bytes", path, source.ErrUnavailable, source.MaxSize(path))
		case !ok && have:
			return vs.Blobs[blob], nil
		case !ok || st == 404 || st == 410:
			return nil, fmt.Errorf("%s: status 404: %w", path, source.ErrNotFound)
		case st == 429 || st >= 500:
			return nil, fmt.Errorf("%s: status %d: %w", path, st, source.ErrUnavailable)
		}
		return nil, fmt.Errorf("%s: status %d: %w (%w)", path, st, source.ErrUnavailable, source.ErrRefused)
	}}
}

// Oracle runs the Go verifier on v, as cityverify code would, and returns
// the paths it fetched, sorted, and its verdict: the error, nil if the
// code verified.
func (vs *Vectors) Oracle(ctx context.Context, v *Vector) (fetched []string, verdict error) {
	var mu sync.Mutex
	seen := map[string]bool{}
	src := vs.Source(v, func(p string) {
		mu.Lock()
		seen[p] = true
		mu.Unlock()
	})
	verdict = verify(ctx, src, v)
	fetched = make([]string, 0, len(seen))
	for p := range seen {
		fetched = append(fetched, p)
	}
	sort.Strings(fetched)
	return fetched, verdict
}

// verify is cityverify code: the key and witnesses, then the code.
func verify(ctx context.Context, src source.Source, v *Vector) error {
	key, err := verifier.ParseKey(v.Key)
	if err != nil {
		return err
	}
	pol, err := verifier.ParseWitnesses(v.Witnesses, v.Quorum)
	if err != nil {
		return err
	}
	_, err = verifier.New(src, key, pol).VerifyCode(ctx, v.Code)
	return err
}

// add files a case: it runs the oracle over all of files, then keeps of
// them only what the Go verifier fetched, so the vectors stay small. The
// vector is self-contained: the verifier reads nothing else.
func (vs *Vectors) add(ctx context.Context, c testCase, files map[string][]byte) error {
	if c.name == "" || slices.ContainsFunc(vs.Vectors, func(v Vector) bool { return v.Name == c.name }) {
		return fmt.Errorf("vector name %q is empty or given twice", c.name)
	}
	if c.witnesses == nil {
		c.witnesses = []string{}
	}
	v := Vector{Name: c.name, Files: map[string]string{}, Status: c.status, Key: c.key, Witnesses: c.witnesses, Quorum: c.quorum, Code: c.code}
	for p, b := range files {
		v.Files[p] = vs.blob(b)
	}
	fetched, err := vs.Oracle(ctx, &v)
	for p := range v.Files {
		if !slices.Contains(fetched, p) {
			delete(v.Files, p)
		}
	}
	verdict, input := Verdict(err)
	v.Want = Want{Verdict: verdict, Input: input, Detail: c.detail, Fetched: fetched}
	if err != nil {
		v.Want.Error = err.Error()
	}
	if c.want != "" && c.want != verdict {
		return fmt.Errorf("vector %s: the Go verifier says %s (%v), the case expects %s", c.name, verdict, err, c.want)
	}
	vs.Vectors = append(vs.Vectors, v)
	return nil
}

// blob stores b and returns its name: the first 8 bytes of its SHA-256.
func (vs *Vectors) blob(b []byte) string {
	h := sha256.Sum256(b)
	name := hex.EncodeToString(h[:8])
	vs.Blobs[name] = b
	return name
}

// gc drops the blobs no vector uses any more.
func (vs *Vectors) gc() {
	used := map[string]bool{}
	for _, v := range vs.Vectors {
		for _, b := range v.Files {
			used[b] = true
		}
	}
	for name := range vs.Blobs {
		if !used[name] {
			delete(vs.Blobs, name)
		}
	}
}

// Encode returns vectors.json: one vector a line, then the blobs sorted
// by name, so that the same vectors always give the same bytes.
func (vs *Vectors) Encode() ([]byte, error) {
	var b []byte
	b = append(b, "{\n\"vectors\": [\n"...)
	for i, v := range vs.Vectors {
		line, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		b = append(b, line...)
		if i < len(vs.Vectors)-1 {
			b = append(b, ',')
		}
		b = append(b, '\n')
	}
	b = append(b, "],\n\"blobs\": {\n"...)
	names := make([]string, 0, len(vs.Blobs))
	for n := range vs.Blobs {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		k, _ := json.Marshal(n)
		val, _ := json.Marshal(vs.Blobs[n])
		b = append(append(append(b, k...), ": "...), val...)
		if i < len(names)-1 {
			b = append(b, ',')
		}
		b = append(b, '\n')
	}
	return append(b, "}\n}\n"...), nil
}

// ReadVectors parses vectors.json.
func ReadVectors(data []byte) (*Vectors, error) {
	var vs struct {
		Blobs   map[string][]byte `json:"blobs"`
		Vectors []Vector          `json:"vectors"`
	}
	if err := json.Unmarshal(data, &vs); err != nil {
		return nil, fmt.Errorf("vectors: %w", err)
	}
	return &Vectors{Blobs: vs.Blobs, Vectors: vs.Vectors}, nil
}
