package tiles

import (
	"bytes"
	"strings"
	"testing"
)

func TestAddCheckpointBody(t *testing.T) {
	var h1, h2 Hash
	h1[0], h2[31] = 1, 2
	cp := []byte("example.org/log\n5\nroot\n\n— example.org/log sig\n")
	for _, tc := range []struct {
		old   uint64
		proof []Hash
		want  string
	}{
		{0, nil, "old 0\n\n" + string(cp)},
		{3, []Hash{h1, h2}, "old 3\nAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAI=\n\n" + string(cp)},
	} {
		if got := string(AddCheckpointBody(tc.old, tc.proof, cp)); got != tc.want {
			t.Errorf("old %d: got %q, want %q", tc.old, got, tc.want)
		}
	}
}

func TestParseAddCheckpoint(t *testing.T) {
	var h Hash
	h[0] = 1
	good := AddCheckpointBody(3, []Hash{h, h}, []byte("cp\n\n— sig\n"))
	old, proof, signed, err := ParseAddCheckpoint(good)
	if err != nil || old != 3 || len(proof) != 2 || proof[0] != h || string(signed) != "cp\n\n— sig\n" {
		t.Fatalf("ParseAddCheckpoint = %d, %v, %q, %v", old, proof, signed, err)
	}
	for _, tc := range []struct{ body, want string }{
		{"old 3\ncp", "no blank line"},
		{"new 3\n\ncp", `not "old <size>"`},
		{"old 03\n\ncp", `not "old <size>"`},
		{"old -1\n\ncp", `not "old <size>"`},
		{"old 3\nnot base64\n\ncp", "proof line 1"},
		{"old 3\nAQID\n\ncp", "proof line 1"}, // 3 bytes
		{"old 3\n" + strings.Repeat("AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", MaxProofHashes) + "\ncp", "more than"},
	} {
		if _, _, _, err := ParseAddCheckpoint([]byte(tc.body)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseAddCheckpoint(%.30q) = %v, want an error saying %q", tc.body, err, tc.want)
		}
	}
}

// FuzzParseAddCheckpoint: a witness reads bodies from anyone; parsing
// never panics, and what parses re-encodes to the same bytes.
func FuzzParseAddCheckpoint(f *testing.F) {
	f.Add([]byte("old 0\n\ncp\n"))
	f.Add([]byte("old 3\nAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\nexample.org/log\n5\nroot\n\n— example.org/log sig\n"))
	f.Add([]byte("old 18446744073709551615\n\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		old, proof, signed, err := ParseAddCheckpoint(body)
		if err != nil {
			return
		}
		if again := AddCheckpointBody(old, proof, signed); !bytes.Equal(again, body) {
			t.Fatalf("%q parses, but re-encodes to %q", body, again)
		}
	})
}
