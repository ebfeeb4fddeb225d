// Package tokens keeps the bearer tokens that may write to a registry.
// Only SHA-256 hashes of tokens are stored, so the file does not give
// write access to whoever reads it; a token is shown once, when added.
package tokens

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"regexp"
	"sync"
	"time"

	"github.com/citylog/citylog/internal/durable"
)

// Token is one stored token.
type Token struct {
	Name    string    `json:"name"`
	Hash    string    `json:"sha256"`         // hex SHA-256 of the token
	Rate    float64   `json:"rate,omitempty"` // allocations per second; 0: unlimited
	Created time.Time `json:"created"`
}

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Load reads a tokens file; a missing file holds no tokens.
func Load(path string) ([]Token, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't read tokens: %w", err)
	}
	var ts []Token
	if err := json.Unmarshal(b, &ts); err != nil {
		return nil, fmt.Errorf("%s is damaged: %v", path, err)
	}
	if err := check(ts); err != nil {
		return nil, fmt.Errorf("%s is damaged: %v", path, err)
	}
	return ts, nil
}

// check validates tokens read from a file: a file that parses as JSON can
// still hold what Add never writes.
func check(ts []Token) error {
	names := map[string]bool{}
	for i, t := range ts {
		if !validName.MatchString(t.Name) {
			return fmt.Errorf("token %d: name %q is not 1-64 of [A-Za-z0-9._-]", i+1, t.Name)
		}
		if names[t.Name] {
			return fmt.Errorf("token %q is listed twice", t.Name)
		}
		names[t.Name] = true
		if h, err := hex.DecodeString(t.Hash); err != nil || len(h) != sha256.Size || hex.EncodeToString(h) != t.Hash {
			return fmt.Errorf("token %q: sha256 is not 64 lower-case hex digits", t.Name)
		}
		if !(t.Rate >= 0) || math.IsInf(t.Rate, 0) {
			return fmt.Errorf("token %q: rate %v is not a number of allocations per second", t.Name, t.Rate)
		}
	}
	return nil
}

func save(path string, ts []Token) error {
	b, err := json.MarshalIndent(ts, "", "  ")
	if err != nil {
		return err
	}
	return durable.WriteFile(path, append(b, '\n'), 0o600)
}

// Add creates a token named name and returns it; only its hash is kept.
func Add(path, name string, rate float64) (string, error) {
	if !validName.MatchString(name) {
		return "", fmt.Errorf("token name %q: use 1-64 of [A-Za-z0-9._-], starting with a letter or digit", name)
	}
	if !(rate >= 0) || math.IsInf(rate, 0) {
		return "", fmt.Errorf("rate %v must be a number of allocations per second, 0 for unlimited", rate)
	}
	ts, err := Load(path)
	if err != nil {
		return "", err
	}
	for _, t := range ts {
		if t.Name == name {
			return "", fmt.Errorf("a token named %q exists; revoke it first", name)
		}
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	token := "cl_" + base64.RawURLEncoding.EncodeToString(raw[:])
	ts = append(ts, Token{Name: name, Hash: hash(token), Rate: rate, Created: time.Now().UTC().Truncate(time.Second)})
	if err := save(path, ts); err != nil {
		return "", err
	}
	return token, nil
}

// Revoke removes the token named name.
func Revoke(path, name string) error {
	ts, err := Load(path)
	if err != nil {
		return err
	}
	for i, t := range ts {
		if t.Name == name {
			return save(path, append(ts[:i], ts[i+1:]...))
		}
	}
	return fmt.Errorf("no token named %q", name)
}

func hash(token string) string {
	h := hashOf(token)
	return string(h[:])
}

// hashOf is a token's stored form, SHA-256 in hex, in an array: every
// request is checked, and Check allocates nothing for it.
func hashOf(token string) (h [2 * sha256.Size]byte) {
	sum := sha256.Sum256([]byte(token))
	hex.Encode(h[:], sum[:])
	return h
}

// Checker authenticates bearer tokens and rate-limits them. It rereads
// the file when it changes, so added and revoked tokens take effect
// without a restart. A file that no longer reads (a bad hand edit, a
// truncated copy) leaves the last good set in force, and is reported at
// once in the log and by Problem until it reads again.
type Checker struct {
	path string
	now  func() time.Time
	log  *slog.Logger

	mu      sync.Mutex
	tokens  []Token
	mtime   time.Time
	checked time.Time
	problem error
	buckets map[string]*bucket
}

// NewChecker returns a Checker of the tokens file at path, which must
// read; logger (nil for none) hears of later changes and problems.
func NewChecker(path string, logger *slog.Logger) (*Checker, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Checker{path: path, now: time.Now, log: logger, buckets: map[string]*bucket{}}
	if err := c.reload(true); err != nil {
		return nil, err
	}
	return c, nil
}

// Problem rereads the file if it changed (at most once a second) and
// returns why it does not read, or nil.
func (c *Checker) Problem() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reload(false)
	return c.problem
}

// reload rereads the file if it changed; it looks at most once a second.
func (c *Checker) reload(force bool) error {
	now := c.now()
	if !force && now.Sub(c.checked) < time.Second {
		return nil
	}
	c.checked = now
	st, err := os.Stat(c.path)
	var mtime time.Time
	if err == nil {
		mtime = st.ModTime()
	}
	if !force && mtime.Equal(c.mtime) {
		return nil
	}
	ts, err := Load(c.path)
	if err != nil {
		if c.problem == nil || c.problem.Error() != err.Error() {
			c.log.Error("tokens file unreadable; the last good tokens stay in force", "error", err.Error(), "tokens", len(c.tokens))
		}
		c.problem = err
		return err
	}
	if c.problem != nil || !force {
		c.log.Info("tokens reloaded", "tokens", len(ts))
	}
	c.tokens, c.mtime, c.problem = ts, mtime, nil
	return nil
}

// Check returns the name of the token presented, if it is valid. Every
// stored hash is compared in constant time.
func (c *Checker) Check(presented string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reload(false) // on error keep the tokens we have
	h := hashOf(presented)
	name, ok := "", false
	for _, t := range c.tokens {
		if subtle.ConstantTimeCompare(h[:], []byte(t.Hash)) == 1 {
			name, ok = t.Name, true
		}
	}
	return name, ok
}

// Allow takes n allocations from the token's rate limit and reports
// whether they fit. Tokens without a rate are never limited.
func (c *Checker) Allow(name string, n int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	var rate float64
	for _, t := range c.tokens {
		if t.Name == name {
			rate = t.Rate
		}
	}
	if rate <= 0 {
		return true
	}
	b := c.buckets[name]
	if b == nil || b.rate != rate {
		b = &bucket{rate: rate, level: capacity(rate), last: c.now()}
		c.buckets[name] = b
	}
	return b.take(c.now(), float64(n))
}

// bucket is a token bucket holding one second of allowance, and at least
// one request: a rate of 0.5/s is one request every two seconds, not none.
type bucket struct {
	rate, level float64
	last        time.Time
}

func capacity(rate float64) float64 { return max(rate, 1) }

func (b *bucket) take(now time.Time, n float64) bool {
	b.level = min(capacity(b.rate), b.level+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.level < n {
		return false
	}
	b.level -= n
	return true
}
