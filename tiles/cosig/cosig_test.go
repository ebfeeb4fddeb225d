package cosig

import (
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

const (
	vectors  = "../../testdata/vectors/sunlight-witness/witness"
	witVKey  = "witness.example.org+b8a2cf20+BFLN3yikSfFkVAJtrnh/CiY3Zozkoy7clp+P7XB28qUN"
	witVKey2 = "witness.example.org+b8a2cf21+BFLN3yikSfFkVAJtrnh/CiY3Zozkoy7clp+P7XB28qUN"
)

// TestSunlightVector verifies a real witness cosignature (Sunlight's test
// data) through note.Open.
func TestSunlightVector(t *testing.T) {
	data, err := os.ReadFile(vectors + "/000de184301123b9278c086a7d9f68c9577e83872224c197058fd90784ea9706/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(witVKey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(data, note.VerifierList(v))
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Sigs) != 1 || n.Sigs[0].Name != "witness.example.org" {
		t.Fatalf("sigs %+v", n.Sigs)
	}
	if _, err := NewVerifier(witVKey2); err == nil {
		t.Error("a key ID that does not match the key was accepted")
	}
	if _, err := NewVerifier("example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx"); err == nil {
		t.Error("a type 01 key was accepted as a witness key")
	}
	// Altering the signed text breaks it.
	bad := strings.Replace(string(data), "\n300\n", "\n301\n", 1)
	if _, err := note.Open([]byte(bad), note.VerifierList(v)); err == nil {
		t.Error("cosignature verified over other text")
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	skey, vkey, err := GenerateKey("witness.test")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1767139200, 0)
	s, err := NewSigner(skey, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	if s.VerifierKey() != vkey {
		t.Fatal("VerifierKey differs from GenerateKey's")
	}
	v, err := NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := note.Sign(&note.Note{Text: "o\n1\n0Nc2CrefWKseHj/mStd+LqC8B+NrX0btIiPt2SmN+ek=\n"}, s)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Sigs) != 1 || n.Sigs[0].Hash != s.KeyHash() {
		t.Errorf("sigs %+v", n.Sigs)
	}
	if !strings.Contains(string(signed), "— witness.test ") {
		t.Errorf("signature line: %q", signed)
	}
	if _, err := NewSigner("PRIVATE+KEY+x", nil); err == nil {
		t.Error("malformed signer key accepted")
	}
}

// FuzzNewVerifier: witness keys come from flags and config files; parsing
// never panics, and a key that parses prints as one that parses the same.
func FuzzNewVerifier(f *testing.F) {
	_, vkey, err := GenerateKey("witness.example")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(vkey)
	f.Add("witness.example+00000000+BA==")
	f.Add("a+b+c")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := NewVerifier(s)
		if err != nil {
			return
		}
		again, err := NewVerifier(v.String())
		if err != nil || again.Name() != v.Name() || again.KeyHash() != v.KeyHash() || again.String() != v.String() {
			t.Fatalf("%q parses to %s, which parses to %v, %v", s, v, again, err)
		}
	})
}
