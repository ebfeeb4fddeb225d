package verifier

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/citylog/citylog/tiles/cosig"
	"golang.org/x/mod/sumdb/note"
)

// TestOpenCheckpointSaysWhy: each way a checkpoint fails to open has its
// own kind, so that the CLI says "wrong key?" only where no signature by
// the key is present, and "evidence" only for a bad signature by the right
// key, and the witness answers 400 for malformed bodies, 403 otherwise.
func TestOpenCheckpointSaysWhy(t *testing.T) {
	key := fixtureKey(t)
	signed := readFile(t, fixture+"/checkpoint")
	_, otherKey := testSigner(t, fixtureOrigin) // same name, another key
	signer, self := testSigner(t, fixtureOrigin)
	sigAt := bytes.LastIndexByte(signed, ' ') + 10
	flipped := append([]byte(nil), signed...)
	flipped[sigAt] ^= 1
	for _, tc := range []struct {
		name     string
		signed   []byte
		key      note.Verifier
		wrongKey bool
		bad      bool
	}{
		{"another key of the same name", signed, otherKey, true, false},
		{"another log's key", signed, fixtureOther(t), true, false},
		{"bad signature by the key", flipped, key, false, false},
		{"not a note", []byte("hello\n"), key, false, true},
		{"body not a checkpoint", resign(t, signer, "hello\n"), self, false, true},
		{"origin not the key's", resign(t, signer, "other.example/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"), self, false, true},
	} {
		_, err := OpenCheckpoint(tc.signed, tc.key)
		if !errors.Is(err, ErrFailed) || errors.Is(err, ErrWrongKey) != tc.wrongKey || errors.Is(err, ErrMalformed) != tc.bad {
			t.Errorf("%s: %v; want ErrFailed, ErrWrongKey %v, ErrMalformed %v", tc.name, err, tc.wrongKey, tc.bad)
		}
	}
	if _, err := OpenCheckpoint(signed, key); err != nil {
		t.Fatalf("honest checkpoint: %v", err)
	}
}

// fixtureOther is the verifier key of a log other than the fixture's.
func fixtureOther(t *testing.T) note.Verifier {
	_, v := testSigner(t, "other.example/log")
	return v
}

// TestParseWitnessesRefusesTwins: one witness, named twice or under two
// names with one key, must not count twice towards a quorum.
func TestParseWitnessesRefusesTwins(t *testing.T) {
	wa := witnessKey("witness.example/a", 1)
	wb := witnessKey("witness.example/b", 2)
	waAgain := witnessKey("witness.example/a", 3) // same name, another key
	wbAlias := witnessKey("witness.example/alias", 2)
	if _, err := ParseWitnesses([]string{wa, wb}, 2); err != nil {
		t.Fatalf("two witnesses: %v", err)
	}
	for _, keys := range [][]string{{wa, wa}, {wa, waAgain}, {wb, wbAlias}} {
		if _, err := ParseWitnesses(keys, 2); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "twice") {
			t.Errorf("%v: %v, want ErrInput saying twice", keys, err)
		}
	}
}

// witnessKey returns the cosignature/v1 verifier key of a witness whose
// Ed25519 seed is all seed.
func witnessKey(name string, seed byte) string {
	pub := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	return cosig.VerifierKey(name, pub)
}

// TestFixtureIsReproducible: the fixture logs come from a deterministic
// program; running it again must give identical bytes, so the fixture in
// the repository is what the writer makes, and a change to the writer that
// changes the fixture shows as a diff.
func TestFixtureIsReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the fixture generator")
	}
	out := t.TempDir()
	cmd := exec.Command("go", "run", "./testdata/gen", "-out", out, "-cities", "../testdata/cities.jsonl")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run ./testdata/gen: %v\n%s", err, b)
	}
	n := 0
	filepath.WalkDir(out, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(out, path)
		n++
		if got, want := readFile(t, path), readFile(t, filepath.Join("testdata", rel)); !bytes.Equal(got, want) {
			t.Errorf("%s differs from the generator's output: run go run ./verifier/testdata/gen -out verifier/testdata", rel)
		}
		return nil
	})
	if n < 30 {
		t.Fatalf("the generator wrote %d files", n)
	}
	// And nothing in the fixture that the generator does not write.
	for _, d := range []string{"log", "fork", "receipt"} {
		filepath.WalkDir(filepath.Join("testdata", d), func(path string, e os.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			rel, _ := filepath.Rel("testdata", path)
			if _, err := os.Stat(filepath.Join(out, rel)); err != nil {
				t.Errorf("%s is in the fixture but the generator does not write it", rel)
			}
			return nil
		})
	}
}
