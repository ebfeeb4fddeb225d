package jsverify

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/log/idcode"
	"github.com/citylog/citylog/tiles"
	"github.com/citylog/citylog/tiles/cosig"
	"golang.org/x/mod/sumdb/note"
)

// The vectors' logs are built here from the tiles package and note
// signing directly, not with the writer (package log): the reading side
// must not import it, and a hostile log needs entries the writer would
// refuse. Everything is fixed (keys from seeds, one clock), so Generate
// always writes the same bytes.

// epoch is the clock of every log and witness of the vectors.
var epoch = time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)

// newSigner returns the note signer and verifier key of name, from a seed
// that label and name make.
func newSigner(label, name string) (note.Signer, string, error) {
	seed := sha256.Sum256([]byte("citylog jsverify vectors: " + label + ": " + name))
	skey, vkey, err := note.GenerateKey(bytes.NewReader(seed[:]), name)
	if err != nil {
		return nil, "", err
	}
	s, err := note.NewSigner(skey)
	return s, vkey, err
}

// witnessSeed is the Ed25519 seed of witness name.
func witnessSeed(name string) [32]byte {
	return sha256.Sum256([]byte("citylog jsverify vectors: witness: " + name))
}

// newWitness returns a cosignature/v1 signer of name and its verifier key.
func newWitness(name string) (*cosig.Signer, string, error) {
	seed := witnessSeed(name)
	skey, _, err := note.GenerateKey(bytes.NewReader(seed[:]), name)
	if err != nil {
		return nil, "", err
	}
	w, err := cosig.NewSigner(skey, func() time.Time { return epoch })
	if err != nil {
		return nil, "", err
	}
	return w, w.VerifierKey(), nil
}

// impostor signs under another signer's name and key ID: a cosignature
// line that names a known witness but does not verify.
type impostor struct {
	note.Signer
	as note.Signer
}

func (i impostor) Name() string    { return i.as.Name() }
func (i impostor) KeyHash() uint32 { return i.as.KeyHash() }

// cosignedAt cosigns as w, at a fixed time that w's own signer refuses
// to write (0, or beyond 2^63-1): a cosignature that must not verify.
type cosignedAt struct {
	w  *cosig.Signer
	ts uint64
}

func (c cosignedAt) Name() string    { return c.w.Name() }
func (c cosignedAt) KeyHash() uint32 { return c.w.KeyHash() }
func (c cosignedAt) Sign(text []byte) ([]byte, error) {
	seed := witnessSeed(c.w.Name())
	priv := ed25519.NewKeyFromSeed(seed[:]) // as note.GenerateKey made it from the seed
	sig := binary.BigEndian.AppendUint64(nil, c.ts)
	return append(sig, ed25519.Sign(priv, cosig.Message(string(text), c.ts))...), nil
}

// tree is a log: its key and its entries, any bytes at all.
type tree struct {
	origin  string
	signer  note.Signer
	vkey    string
	entries [][]byte
}

func newTree(origin string, entries [][]byte) (*tree, error) {
	s, vkey, err := newSigner("log", origin)
	if err != nil {
		return nil, err
	}
	return &tree{origin: origin, signer: s, vkey: vkey, entries: entries}, nil
}

// publish returns the public tree of the first size entries, as a
// citylog writer leaves it: full and partial tiles and bundles, the
// checkpoint signed by the log and the cosigners, and checkpoint.edge.
func (t *tree) publish(size int, cosigners ...note.Signer) (map[string][]byte, error) {
	files := map[string][]byte{}
	b, err := tiles.NewBuilder(0, nil, nil)
	if err != nil {
		return nil, err
	}
	b.Full = func(tl tiles.Tile, data []byte) { files[tl.Path()] = bytes.Clone(data) }
	var bundle []byte
	for i, e := range t.entries[:size] {
		if err := b.Append(tiles.HashLeaf(e)); err != nil {
			return nil, err
		}
		if bundle, err = tiles.AppendBundleEntry(bundle, e); err != nil {
			return nil, err
		}
		if (i+1)%tiles.Width == 0 {
			files[tiles.Bundle(uint64(i/tiles.Width), uint64(size)).Path()] = bundle
			bundle = nil
		}
	}
	for _, et := range tiles.EdgeTiles(uint64(size)) {
		if et.Level == tiles.EntriesLevel {
			files[et.Path()] = bundle
		} else {
			files[et.Path()] = bytes.Clone(b.EdgeTile(et.Level))
		}
	}
	body := tiles.Checkpoint{Origin: t.origin, Size: uint64(size), Root: b.Root()}.Marshal()
	signed, err := note.Sign(&note.Note{Text: string(body)}, append([]note.Signer{t.signer}, cosigners...)...)
	if err != nil {
		return nil, err
	}
	files["checkpoint"] = signed
	var edge []tiles.Hash
	for _, h := range b.Range() {
		edge = append(edge, tiles.Hash(h))
	}
	files[tiles.EdgePath] = tiles.Edge{Checkpoint: signed, Hashes: edge}.Marshal()
	return files, nil
}

// withCheckpoint returns files serving signed as the checkpoint, in the
// edge file too if files has one (keeping its hashes).
func withCheckpoint(files map[string][]byte, signed []byte) (map[string][]byte, error) {
	out := maps.Clone(files)
	out["checkpoint"] = signed
	if b, ok := files[tiles.EdgePath]; ok {
		e, err := tiles.ParseEdge(b)
		if err != nil {
			return nil, err
		}
		out[tiles.EdgePath] = tiles.Edge{Checkpoint: signed, Hashes: e.Hashes}.Marshal()
	}
	return out, nil
}

// edit returns files with the given files replaced, or removed where
// the new content is nil.
func edit(files map[string][]byte, changes map[string][]byte) map[string][]byte {
	out := maps.Clone(files)
	for p, b := range changes {
		if b == nil {
			delete(out, p)
		} else {
			out[p] = b
		}
	}
	return out
}

func flip(b []byte, at int) []byte {
	c := bytes.Clone(b)
	c[at] ^= 1
	return c
}

// resign changes the first signature of a signed note with edit, keeping
// it base64 of the same length: a signature that does not verify.
func resign(signed []byte, edit func(sig []byte)) ([]byte, error) {
	text := body(signed)
	line, rest, _ := strings.Cut(string(signed[len(text)+1:]), "\n")
	sp := strings.LastIndexByte(line, ' ')
	sig, err := base64.StdEncoding.DecodeString(line[sp+1:])
	if err != nil {
		return nil, err
	}
	edit(sig)
	return []byte(text + "\n" + line[:sp+1] + base64.StdEncoding.EncodeToString(sig) + "\n" + rest), nil
}

// bundleOf encodes entries as one bundle.
func bundleOf(parts ...[][]byte) []byte {
	var b []byte
	for _, p := range parts {
		for _, e := range p {
			b, _ = tiles.AppendBundleEntry(b, e)
		}
	}
	return b
}

func sign(body string, signers ...note.Signer) ([]byte, error) {
	return note.Sign(&note.Note{Text: body}, signers...)
}

// body returns the signed text of a note.
func body(signed []byte) string {
	i := bytes.LastIndex(signed, []byte("\n\n"))
	return string(signed[:i+1])
}

// cityEntries turns allocation requests (JSON lines) into the canonical
// entries of leaves 0, 1, ..., as the writer would, each checked by the
// Go verifier's own decoder.
func cityEntries(rules *entry.Rules, lines []string) ([][]byte, error) {
	out := make([][]byte, len(lines))
	for i, line := range lines {
		req, err := entry.ParseRequestString(line)
		if err == nil {
			err = rules.Normalize(&req)
		}
		if err != nil {
			return nil, fmt.Errorf("city %d (%s): %w", i, line, err)
		}
		code, err := idcode.New(req.Country, req.Subdivision, uint64(i))
		if err != nil {
			return nil, err
		}
		e := entry.Entry{Request: req, Code: code, Time: epoch.Add(time.Duration(i) * time.Second)}
		out[i] = e.AppendJSON(nil)
		if d, err := rules.Decode(out[i]); err != nil || d.Code != code {
			return nil, fmt.Errorf("entry %d does not decode as itself: %v", i, err)
		}
	}
	return out, nil
}

// codeAt returns the code a valid entry carries.
func codeAt(rules *entry.Rules, e []byte) (string, error) {
	d, err := rules.Decode(e)
	if err != nil {
		return "", err
	}
	return d.Code.String(), nil
}

// code returns the code of index in cc-sub.
func code(cc, sub string, index uint64) string {
	c, err := idcode.New(cc, sub, index)
	if err != nil {
		panic(err) // the vectors name valid codes
	}
	return c.String()
}

// mistype returns code with another check character.
func mistype(c string) string {
	last := c[len(c)-1]
	other := byte('0')
	if last == '0' {
		other = '1'
	}
	return c[:len(c)-1] + string(other)
}

// citiesLines returns n request lines from cities, cycling through them.
func citiesLines(cities []byte, n int) ([]string, error) {
	all := strings.Split(strings.TrimSpace(string(cities)), "\n")
	if len(all) < 600 {
		return nil, fmt.Errorf("cities: %d lines, want at least 600", len(all))
	}
	out := make([]string, n)
	for i := range out {
		out[i] = all[i%len(all)]
	}
	return out, nil
}
