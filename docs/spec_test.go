// Package docs holds the project's documents; its test holds the
// specification's worked examples to the document and to the code.
package docs

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/log/idcode"
	"github.com/citylog/citylog/tiles"
)

// fenced returns the lines of the fenced block of SPEC.md tagged info.
func fenced(t *testing.T, info string) []string {
	t.Helper()
	f, err := os.Open("SPEC.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "```"+info:
			in = true
		case in && line == "```":
			return out
		case in:
			out = append(out, line)
		}
	}
	t.Fatalf("SPEC.md has no ```%s block", info)
	return nil
}

// checkCharacter is §1.1 of SPEC.md, written out as the document says it,
// not as idcode computes it.
func checkCharacter(s string) byte {
	value := func(c byte) int {
		if c >= '0' && c <= '9' {
			return int(c - '0')
		}
		return int(c-'A') + 10
	}
	p := 36
	for i := 0; i < len(s); i++ {
		if s[i] == '-' {
			continue
		}
		sum := (p + value(s[i])) % 36
		if sum == 0 {
			sum = 36
		}
		p = 2 * sum % 37
	}
	c := (37 - p) % 36
	if c < 10 {
		return byte('0' + c)
	}
	return byte('A' + c - 10)
}

// serial is §1's serial of an index, as the document says it.
func serial(index uint64) string {
	const digits = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	s := ""
	for index > 0 || len(s) < 4 {
		s = string(digits[index%32]) + s
		index /= 32
	}
	return s
}

// TestWorkedCheckCharacters: a reader with only SPEC.md re-derives the
// check character of each example code, and the implementation agrees.
func TestWorkedCheckCharacters(t *testing.T) {
	codes := fenced(t, "check-characters")
	if len(codes) < 3 {
		t.Fatalf("%d worked codes, want at least 3", len(codes))
	}
	if got := checkCharacter("A12425GABC1234002"); got != 'M' {
		t.Errorf("the standard's example gives %c, want M", got)
	}
	for _, code := range codes {
		body, check := code[:len(code)-2], code[len(code)-1]
		if got := checkCharacter(body); got != check {
			t.Errorf("%s: the specification's rule gives %c", code, got)
		}
		c, err := idcode.Parse(code)
		if err != nil || c.String() != code {
			t.Errorf("%s: idcode.Parse = %v, %v", code, c, err)
			continue
		}
		parts := strings.Split(code, "-")
		if serial(c.Index) != parts[2] {
			t.Errorf("%s: index %d is serial %s by the specification", code, c.Index, serial(c.Index))
		}
	}
	for _, tc := range []struct {
		index uint64
		want  string
	}{{0, "0000"}, {300, "009C"}, {1_000_000, "YGJ0"}, {1 << 20, "10000"}} {
		if got := serial(tc.index); got != tc.want {
			t.Errorf("serial(%d) = %s, the document says %s", tc.index, got, tc.want)
		}
	}
}

// TestWorkedLeafHash: the example entry's leaf hash, computed as §4 says
// (SHA-256 of 0x00 and the entry's bytes), is the one the document gives;
// the entry is canonical and valid for the implementation, and its hash is
// the implementation's.
func TestWorkedLeafHash(t *testing.T) {
	lines := fenced(t, "leaf-hash")
	if len(lines) != 2 {
		t.Fatalf("the leaf-hash block has %d lines, want the entry and its hash", len(lines))
	}
	raw := []byte(lines[0])
	h := sha256.Sum256(append([]byte{0}, raw...))
	if got := hex.EncodeToString(h[:]); got != lines[1] {
		t.Errorf("leaf hash %s, the document says %s", got, lines[1])
	}
	e, err := entry.DefaultRules().Decode(raw)
	if err != nil {
		t.Fatalf("the example entry is not valid: %v", err)
	}
	if e.Code.String() != "CN-TJ-0007-E" || checkCharacter("CNTJ0007") != 'E' {
		t.Errorf("entry code %s", e.Code)
	}
	if lh := tiles.HashLeaf(raw); hex.EncodeToString(lh[:]) != lines[1] {
		t.Errorf("the implementation's leaf hash differs")
	}
	// The document points at the receipt that carries this entry.
	proof, err := os.ReadFile("../verifier/testdata/receipt/receipt.tlog-proof")
	if err != nil {
		t.Fatal(err)
	}
	p, err := tiles.ParseTLogProof(proof)
	if err != nil || string(p.Extra) != lines[0] {
		t.Errorf("the receipt's entry is not the document's: %v", err)
	}
}
