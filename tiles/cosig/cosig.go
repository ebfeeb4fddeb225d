// Package cosig implements C2SP cosignature/v1 (Ed25519, key type 0x04),
// the signatures witnesses add to a log's checkpoint, as note.Signer and
// note.Verifier so they plug into sumdb/note. x/mod's note only knows type
// 0x01 keys; a cosignature signs a different message (it commits to a
// time) and so needs its own key type.
package cosig

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

const algCosignatureV1 = 0x04

// Message returns the bytes a cosignature/v1 signs for a checkpoint's text.
func Message(text string, timestamp uint64) []byte {
	return []byte("cosignature/v1\ntime " + strconv.FormatUint(timestamp, 10) + "\n" + text)
}

// KeyID is the cosignature/v1 key ID: SHA-256(name || 0A || 04 || key)[:4].
func KeyID(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write([]byte{algCosignatureV1})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// VerifierKey returns the published form of a witness key:
// <name>+<hex key ID>+<base64(04 || key)>.
func VerifierKey(name string, pub ed25519.PublicKey) string {
	return fmt.Sprintf("%s+%08x+%s", name, KeyID(name, pub), base64.StdEncoding.EncodeToString(append([]byte{algCosignatureV1}, pub...)))
}

// GenerateKey makes a witness key pair: the signer key in sumdb/note's
// PRIVATE+KEY form (as the log's own key is kept) and the cosignature/v1
// verifier key.
func GenerateKey(name string) (skey, vkey string, err error) {
	skey, _, err = note.GenerateKey(rand.Reader, name)
	if err != nil {
		return "", "", err
	}
	s, err := NewSigner(skey, nil)
	if err != nil {
		return "", "", err
	}
	return skey, s.VerifierKey(), nil
}

// Signer cosigns checkpoints.
type Signer struct {
	name string
	priv ed25519.PrivateKey
	id   uint32
	now  func() time.Time
}

// NewSigner reads a PRIVATE+KEY+<name>+<hash>+<base64(01||seed)> key.
// now gives cosignature times (nil: time.Now).
func NewSigner(skey string, now func() time.Time) (*Signer, error) {
	parts := strings.SplitN(strings.TrimSpace(skey), "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" || parts[2] == "" {
		return nil, errors.New("witness key is not PRIVATE+KEY+<name>+<hash>+<key>")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 0x01 {
		return nil, errors.New("witness key does not hold an Ed25519 seed")
	}
	if now == nil {
		now = time.Now
	}
	priv := ed25519.NewKeyFromSeed(raw[1:])
	name := parts[2]
	return &Signer{name: name, priv: priv, id: KeyID(name, priv.Public().(ed25519.PublicKey)), now: now}, nil
}

// Name returns the witness name.
func (s *Signer) Name() string { return s.name }

// KeyHash returns the cosignature/v1 key ID.
func (s *Signer) KeyHash() uint32 { return s.id }

// Sign returns timestamp || Ed25519 signature of the cosignature message.
func (s *Signer) Sign(text []byte) ([]byte, error) {
	ts := uint64(s.now().Unix())
	if ts == 0 {
		return nil, errors.New("a cosignature time must not be 0")
	}
	sig := binary.BigEndian.AppendUint64(nil, ts)
	return append(sig, ed25519.Sign(s.priv, Message(string(text), ts))...), nil
}

// VerifierKey returns the verifier key of this signer.
func (s *Signer) VerifierKey() string {
	return VerifierKey(s.name, s.priv.Public().(ed25519.PublicKey))
}

// Verifier checks cosignature/v1 signatures.
type Verifier struct {
	name string
	pub  ed25519.PublicKey
	id   uint32
}

// NewVerifier reads a <name>+<hex id>+<base64(04||key)> verifier key.
func NewVerifier(vkey string) (*Verifier, error) {
	parts := strings.SplitN(strings.TrimSpace(vkey), "+", 3) // base64 may contain +
	if len(parts) != 3 || parts[0] == "" || len(parts[1]) != 8 {
		return nil, fmt.Errorf("witness key %q is not <name>+<key id>+<key>", vkey)
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != algCosignatureV1 {
		return nil, fmt.Errorf("witness key %q is not a cosignature/v1 (type 04) Ed25519 key", vkey)
	}
	id, err := hex.DecodeString(parts[1])
	pub := ed25519.PublicKey(raw[1:])
	if err != nil || binary.BigEndian.Uint32(id) != KeyID(parts[0], pub) {
		return nil, fmt.Errorf("witness key %q: key ID does not match the key", vkey)
	}
	return &Verifier{name: parts[0], pub: pub, id: KeyID(parts[0], pub)}, nil
}

// Name returns the witness name.
func (v *Verifier) Name() string { return v.name }

// String returns the verifier key.
func (v *Verifier) String() string { return VerifierKey(v.name, v.pub) }

// KeyHash returns the key ID.
func (v *Verifier) KeyHash() uint32 { return v.id }

// PublicKey returns the witness's Ed25519 public key.
func (v *Verifier) PublicKey() ed25519.PublicKey { return v.pub }

// Verify checks sig = timestamp || signature over the cosignature message.
func (v *Verifier) Verify(text, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	ts := binary.BigEndian.Uint64(sig)
	if ts == 0 || ts > 1<<63-1 {
		return false
	}
	return ed25519.Verify(v.pub, Message(string(text), ts), sig[8:])
}
