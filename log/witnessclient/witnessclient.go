// Package witnessclient is the log's side of C2SP tlog-witness: it sends
// each new checkpoint, with a consistency proof from the size the witness
// last cosigned, to the configured witnesses and collects their
// cosignatures, so the writer publishes only checkpoints that enough
// witnesses vouch for.
package witnessclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/citylog/citylog/tiles"
	"github.com/citylog/citylog/tiles/cosig"
	"golang.org/x/mod/sumdb/note"
)

// Config is the witness policy of a log, kept in state/witnesses.json.
type Config struct {
	Witnesses []Witness `json:"witnesses"`
	Quorum    int       `json:"quorum"`              // cosignatures needed to publish
	Timeout   string    `json:"timeout,omitempty"`   // per round, e.g. "5s" (default 5s)
	FailOpen  bool      `json:"fail_open,omitempty"` // publish without quorum (not recommended)
}

// Witness is one configured witness.
type Witness struct {
	URL  string `json:"url"`  // submission prefix; add-checkpoint is appended
	VKey string `json:"vkey"` // cosignature/v1 verifier key
}

// Load reads a policy file; a missing file means no witnesses.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s is damaged: %v", path, err)
	}
	return &c, c.Check()
}

// Check validates the policy. A witness listed twice (by URL, name or
// key) is refused: it would count twice towards the quorum.
func (c *Config) Check() error {
	var seen []*cosig.Verifier
	for _, w := range c.Witnesses {
		v, err := cosig.NewVerifier(w.VKey)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(w.URL, "http://") && !strings.HasPrefix(w.URL, "https://") {
			return fmt.Errorf("witness URL %q is not http(s)", w.URL)
		}
		for j, o := range seen {
			switch {
			case strings.TrimSuffix(c.Witnesses[j].URL, "/") == strings.TrimSuffix(w.URL, "/"):
				return fmt.Errorf("witness %s is listed twice (URL %s): one witness cannot count twice towards the quorum", v.Name(), w.URL)
			case o.Name() == v.Name():
				return fmt.Errorf("witness %s is listed twice (by name): one witness cannot count twice towards the quorum", v.Name())
			case o.PublicKey().Equal(v.PublicKey()):
				return fmt.Errorf("witnesses %s and %s have the same key: one witness cannot count twice towards the quorum", o.Name(), v.Name())
			}
		}
		seen = append(seen, v)
	}
	if c.Quorum < 0 || c.Quorum > len(c.Witnesses) {
		return fmt.Errorf("quorum %d is not between 0 and the %d witnesses", c.Quorum, len(c.Witnesses))
	}
	if c.Timeout != "" {
		if _, err := time.ParseDuration(c.Timeout); err != nil {
			return fmt.Errorf("timeout %q: %v", c.Timeout, err)
		}
	}
	return nil
}

// Client cosigns checkpoints under a policy. It remembers each witness's
// size between rounds.
type Client struct {
	cfg       Config
	timeout   time.Duration
	verifiers []*cosig.Verifier
	http      *http.Client

	mu    sync.Mutex
	sizes []int64 // last size each witness cosigned; -1 unknown
}

// New returns a client for the policy.
func New(cfg Config) (*Client, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, timeout: 5 * time.Second, http: &http.Client{}}
	if cfg.Timeout != "" {
		c.timeout, _ = time.ParseDuration(cfg.Timeout)
	}
	for _, w := range cfg.Witnesses {
		v, _ := cosig.NewVerifier(w.VKey)
		c.verifiers = append(c.verifiers, v)
		c.sizes = append(c.sizes, -1)
	}
	return c, nil
}

// ErrNoQuorum means too few witnesses cosigned.
var ErrNoQuorum = errors.New("witness quorum not met")

// Cosign asks every witness to cosign signed (a checkpoint of size) and
// returns it with the cosignatures appended. proof gives a consistency
// proof from an older size. Unless the policy fails open, fewer than
// Quorum cosignatures is an error naming the witnesses that failed.
func (c *Client) Cosign(ctx context.Context, signed []byte, size uint64, proof func(old uint64) ([]tiles.Hash, error)) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	lines := make([][]byte, len(c.cfg.Witnesses))
	errs := make([]error, len(c.cfg.Witnesses))
	var wg sync.WaitGroup
	for i := range c.cfg.Witnesses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lines[i], errs[i] = c.ask(ctx, i, signed, size, proof)
		}()
	}
	wg.Wait()
	out := append([]byte(nil), signed...)
	got := 0
	var failed []string
	for i, l := range lines {
		if errs[i] != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", c.verifiers[i].Name(), errs[i]))
			continue
		}
		out = append(out, l...)
		got++
	}
	if got < c.cfg.Quorum && !c.cfg.FailOpen {
		return nil, fmt.Errorf("%w: %d of %d cosignatures (%s)", ErrNoQuorum, got, c.cfg.Quorum, strings.Join(failed, "; "))
	}
	return out, nil
}

// ask gets one witness's cosignature line, learning its size from a 409.
func (c *Client) ask(ctx context.Context, i int, signed []byte, size uint64, proof func(uint64) ([]tiles.Hash, error)) ([]byte, error) {
	c.mu.Lock()
	known := c.sizes[i]
	c.mu.Unlock()
	old := uint64(0)
	if known >= 0 {
		old = uint64(known)
	}
	for attempt := 0; attempt < 2; attempt++ {
		if old > size {
			return nil, fmt.Errorf("the witness has cosigned size %d, larger than this checkpoint's %d", old, size)
		}
		var p []tiles.Hash
		if old > 0 && old < size {
			var err error
			if p, err = proof(old); err != nil {
				return nil, err
			}
		}
		body := bytes.NewReader(tiles.AddCheckpointBody(old, p, signed))
		req, err := http.NewRequestWithContext(ctx, "POST", strings.TrimSuffix(c.cfg.Witnesses[i].URL, "/")+"/add-checkpoint", body)
		if err != nil {
			return nil, err
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		switch resp.StatusCode {
		case http.StatusOK:
			if err := c.checkLine(i, signed, b); err != nil {
				return nil, err
			}
			c.mu.Lock()
			c.sizes[i] = int64(size)
			c.mu.Unlock()
			return b, nil
		case http.StatusConflict:
			n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("409 without a size")
			}
			old = n
			continue
		default:
			return nil, fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
		}
	}
	return nil, fmt.Errorf("the witness's size kept changing")
}

// checkLine verifies a witness's answer before it is appended.
func (c *Client) checkLine(i int, signed, line []byte) error {
	if !bytes.HasPrefix(line, []byte("— ")) || !bytes.HasSuffix(line, []byte("\n")) {
		return fmt.Errorf("answer is not a signature line")
	}
	n, err := note.Open(append(append([]byte(nil), signed...), line...), note.VerifierList(c.verifiers[i]))
	if err != nil {
		return fmt.Errorf("cosignature does not verify: %v", err)
	}
	for _, s := range n.Sigs {
		if s.Name == c.verifiers[i].Name() && s.Hash == c.verifiers[i].KeyHash() {
			return nil
		}
	}
	return fmt.Errorf("no cosignature from %s in the answer", c.verifiers[i].Name())
}
