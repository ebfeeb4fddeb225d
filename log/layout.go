package log

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/citylog/citylog/internal/durable"
	"github.com/citylog/citylog/internal/store/dirstore"
	"github.com/citylog/citylog/tiles"
	"golang.org/x/mod/sumdb/note"
)

// The layout of a log directory. public/ is exactly what a static host
// serves; state/ is private to the writer.
const (
	PublicDir        = "public"
	StateDir         = "state"
	CheckpointPath   = "checkpoint"             // in public/
	ExtraSubdivsPath = "extra-subdivisions.txt" // in public/: operator-added subdivisions
	keyFile          = "key"                    // in state/: the note signing key, 0600
	vkeyFile         = "vkey"                   // in state/: the note verifier key
	lockFile         = "lock"                   // in state/
	stagingFile      = "staging"                // in state/: staging.0 and .1, the last staged batches
	indexFile        = "ids.idx"                // in state/: the dedup index (idindex.Stack manifest; levels ids.idx.N)
	WitnessesFile    = "witnesses.json"         // in state/: the witness policy (witnessclient.Config)
)

const extraSubdivsHeader = `# Subdivisions newer than the ISO 3166-2 data module citylog was built with.
# One CC-SSS per line (e.g. CN-XQ). Auditors apply this file exactly as the
# writer does, so add lines only; never remove one that entries use.
`

// ErrBadOrigin means an origin is not of the form the log's checkpoints
// and keys need.
var ErrBadOrigin = errors.New("not a log origin")

// CheckOrigin checks a log origin: a schemeless URL naming the log
// (c2sp.org/tlog-checkpoint), such as cities.example.org/log. It is the
// first line of every checkpoint and the name of the signing key, so it
// holds no space, no '+' (note key names) and no scheme.
func CheckOrigin(origin string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: %q %s; write it as a schemeless URL such as cities.example.org/log", ErrBadOrigin, origin, why)
	}
	switch {
	case origin == "":
		return bad("is empty")
	case strings.Contains(origin, "://"):
		return bad("has a scheme")
	case len(origin) > 255:
		return bad("is longer than 255 bytes")
	case strings.HasPrefix(origin, "/") || strings.HasPrefix(origin, "."):
		return bad("does not start with a host name")
	}
	for _, c := range origin {
		if c <= ' ' || c > '~' || c == '+' {
			return bad(fmt.Sprintf("holds %q (printable ASCII only, no spaces or '+')", c))
		}
	}
	return nil
}

// ErrNotInitialized means the directory holds no log.
var ErrNotInitialized = errors.New("no citylog log here")

// GenerateKey returns a fresh Ed25519 note signing key named origin.
func GenerateKey(origin string) (string, error) {
	if err := CheckOrigin(origin); err != nil {
		return "", err
	}
	skey, _, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return "", fmt.Errorf("couldn't generate key for origin %q: %w", origin, err)
	}
	return skey, nil
}

// Init creates a new log in dir: public/ with a signed empty checkpoint,
// and state/ with a fresh Ed25519 signing key. It returns the verifier
// key, which is what users of the log need to trust it.
func Init(dir, origin string) (vkey string, err error) {
	skey, err := GenerateKey(origin)
	if err != nil {
		return "", err
	}
	return InitWithKey(dir, skey)
}

// InitWithKey is Init with a signing key the caller already holds (a
// note signing key, PRIVATE+KEY+<origin>+...): the origin is the key's
// name. It returns the verifier key.
func InitWithKey(dir, skey string) (vkey string, err error) {
	vkey, _, err = InitStore(context.Background(), dir, skey, nil)
	return vkey, err
}

// InitStore makes dir a log directory for the signing key skey, whose
// public tree is in store (nil: dir/public). If the store already holds a
// log signed by this key (a writer's machine was lost, and a new one
// takes over with the key and the bucket), the log is adopted as it is
// and adopted is true; the next Open rebuilds the private state from it.
// A store holding a checkpoint of another key or origin is refused.
func InitStore(ctx context.Context, dir, skey string, store Storage) (vkey string, adopted bool, err error) {
	signer, err := note.NewSigner(strings.TrimSpace(skey))
	if err != nil {
		return "", false, fmt.Errorf("not a note signing key: %w", err)
	}
	if err := CheckOrigin(signer.Name()); err != nil {
		return "", false, err
	}
	if vkey, err = verifierKeyOf(skey); err != nil {
		return "", false, err
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return "", false, err
	}
	state := filepath.Join(dir, StateDir)
	if _, err := os.Stat(filepath.Join(state, keyFile)); err == nil {
		return "", false, fmt.Errorf("%s already holds a log (found %s)", dir, filepath.Join(state, keyFile))
	}
	if store == nil {
		if err := os.MkdirAll(filepath.Join(dir, PublicDir), 0o755); err != nil {
			return "", false, fmt.Errorf("couldn't create log: %w", err)
		}
		if store, err = dirstore.New(filepath.Join(dir, PublicDir)); err != nil {
			return "", false, err
		}
	}
	if err := os.MkdirAll(state, 0o700); err != nil {
		return "", false, fmt.Errorf("couldn't create log: %w", err)
	}
	switch _, _, err := readCheckpoint(ctx, store, verifier); {
	case err == nil:
		adopted = true // the log is there, signed by this key: take it over
	case errors.Is(err, fs.ErrNotExist):
		if err := publishEmpty(ctx, store, signer); err != nil {
			return "", false, err
		}
	default:
		return "", false, fmt.Errorf("the public tree already holds something that is not this key's log: %w", err)
	}
	if err := durable.WriteFile(filepath.Join(state, vkeyFile), []byte(vkey+"\n"), 0o644); err != nil {
		return "", false, err
	}
	// Last: the key's presence means "initialised".
	if err := durable.WriteFile(filepath.Join(state, keyFile), []byte(strings.TrimSpace(skey)+"\n"), 0o600); err != nil {
		return "", false, err
	}
	return vkey, adopted, nil
}

// publishEmpty publishes a new log's files: the extra subdivisions' header,
// then the signed empty checkpoint and its edge.
func publishEmpty(ctx context.Context, store Storage, signer note.Signer) error {
	cp := tiles.Checkpoint{Origin: signer.Name(), Size: 0, Root: tiles.EmptyRoot}
	signed, err := note.Sign(&note.Note{Text: string(cp.Marshal())}, signer)
	if err != nil {
		return fmt.Errorf("couldn't sign the empty checkpoint: %w", err)
	}
	if err := store.PutFile(ctx, ExtraSubdivsPath, []byte(extraSubdivsHeader)); err != nil {
		return err
	}
	if err := store.Sync(ctx); err != nil {
		return err
	}
	return publishCheckpoint(ctx, store, signed, nil)
}

// verifierKeyOf derives the verifier key of an Ed25519 note signing key
// (PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>).
func verifierKeyOf(skey string) (string, error) {
	parts := strings.SplitN(strings.TrimSpace(skey), "+", 5) // base64 may hold +
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return "", fmt.Errorf("not a note signing key (PRIVATE+KEY+<name>+<hash>+<key>)")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return "", fmt.Errorf("the signing key of %q is not an Ed25519 note key", parts[2])
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey := parts[2] + "+" + parts[3] + "+" + base64.StdEncoding.EncodeToString(append([]byte{1}, pub...))
	if _, err := note.NewVerifier(vkey); err != nil {
		return "", fmt.Errorf("the signing key of %q does not match its key hash: %w", parts[2], err)
	}
	return vkey, nil
}

// readKeys loads the signing and verifier keys from state/.
func readKeys(state string) (note.Signer, note.Verifier, error) {
	skey, err := os.ReadFile(filepath.Join(state, keyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w: %s is missing (run citylog init first)", ErrNotInitialized, filepath.Join(state, keyFile))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("couldn't read signing key: %w", err)
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		return nil, nil, fmt.Errorf("%s is not a note signing key: %w", filepath.Join(state, keyFile), err)
	}
	vkey, err := os.ReadFile(filepath.Join(state, vkeyFile))
	if err != nil {
		return nil, nil, fmt.Errorf("couldn't read verifier key: %w", err)
	}
	verifier, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		return nil, nil, fmt.Errorf("%s is not a note verifier key: %w", filepath.Join(state, vkeyFile), err)
	}
	if verifier.Name() != signer.Name() || verifier.KeyHash() != signer.KeyHash() {
		return nil, nil, fmt.Errorf("%s and %s do not belong together", keyFile, vkeyFile)
	}
	return signer, verifier, nil
}
