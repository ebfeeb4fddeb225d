package tiles

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestTLogProofVectors(t *testing.T) {
	cp15, err := os.ReadFile(vectors + "/tessera-log/checkpoint.15")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file   string
		index  uint64
		extra  string
		hashes int
		leaf   string
	}{
		{"tessera-log-index3.tlog-proof", 3, "", 4, "four"},
		{"tessera-log-index14-extra.tlog-proof", 14, "fivten", 3, "fivten"},
	} {
		data, err := os.ReadFile(vectors + "/derived/" + tc.file)
		if err != nil {
			t.Fatal(err)
		}
		p, err := ParseTLogProof(data)
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if p.Index != tc.index || string(p.Extra) != tc.extra || len(p.Hashes) != tc.hashes || !bytes.Equal(p.Checkpoint, cp15) {
			t.Errorf("%s: %+v", tc.file, p)
		}
		if !bytes.Equal(p.Marshal(), data) {
			t.Errorf("%s: Marshal does not give the file back", tc.file)
		}
		body := string(cp15[:bytes.Index(cp15, []byte("\n\n"))+1])
		cp, _, err := ParseCheckpoint([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		leaf := HashLeaf([]byte(tc.leaf))
		if err := VerifyInclusion(p.Index, cp.Size, leaf[:], HashSlices(p.Hashes), cp.Root[:]); err != nil {
			t.Errorf("%s: %v", tc.file, err)
		}
	}
}

func TestParseTLogProofRejects(t *testing.T) {
	const h = "Zx8UbF5HHooag6PCFM5LqQe486WIjRTMjNPOdbsS75Q="
	const cp = "o\n1\n" + h + "\n\n— o sig\n"
	for _, tc := range []struct{ in, want string }{
		{"c2sp.org/tlog-proof@v1\nindex 3\n" + h + "\n", "blank line"},
		{"c2sp.org/tlog-proof@v2\nindex 3\n\n" + cp, "does not start"},
		{"c2sp.org/tlog-proof@v1\n\n" + cp, "no index"},
		{"c2sp.org/tlog-proof@v1\nindex 03\n\n" + cp, "leading zeros"},
		{"c2sp.org/tlog-proof@v1\nindex -1\n\n" + cp, "decimal"},
		{"c2sp.org/tlog-proof@v1\nextra !!\nindex 3\n\n" + cp, "extra"},
		{"c2sp.org/tlog-proof@v1\nextra \nindex 3\n\n" + cp, "extra"},
		{"c2sp.org/tlog-proof@v1\nindex 3\n" + h[:40] + "\n\n" + cp, "hash 1"},
		{"c2sp.org/tlog-proof@v1\nindex 3\n" + strings.Repeat(h+"\n", 65) + "\n" + cp, "more than 64"},
		{"c2sp.org/tlog-proof@v1\nindex 3\n\n", "no checkpoint"},
		{"c2sp.org/tlog-proof@v1\r\nindex 3\n\n" + cp, "does not start"},
	} {
		if _, err := ParseTLogProof([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseTLogProof(%.50q) = %v, want %q", tc.in, err, tc.want)
		}
	}
}

func FuzzParseTLogProof(f *testing.F) {
	for _, name := range []string{"tessera-log-index3.tlog-proof", "tessera-log-index14-extra.tlog-proof"} {
		if b, err := os.ReadFile(vectors + "/derived/" + name); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseTLogProof(b)
		if err != nil {
			return
		}
		if !bytes.Equal(p.Marshal(), b) {
			t.Fatalf("ParseTLogProof accepted %q, which re-encodes differently", b)
		}
	})
}

// TestTLogProofAppend: Append appends what Marshal returns, and Marshal
// allocates its exact size.
func TestTLogProofAppend(t *testing.T) {
	for _, p := range []TLogProof{
		{Index: 0, Checkpoint: []byte("cp\n")},
		{Extra: []byte("entry"), Index: 9, Hashes: make([]Hash, 3), Checkpoint: []byte("cp\n")},
		{Extra: []byte{}, Index: 10, Hashes: make([]Hash, 1), Checkpoint: []byte("cp\n")},
		{Extra: []byte("e"), Index: 1<<64 - 1, Hashes: make([]Hash, 64), Checkpoint: []byte("cp\n")},
	} {
		m := p.Marshal()
		if len(m) != cap(m) {
			t.Errorf("index %d: Marshal gives %d bytes in %d", p.Index, len(m), cap(m))
		}
		if got := p.Append([]byte("prefix")); string(got) != "prefix"+string(m) {
			t.Errorf("index %d: Append gives %q, Marshal %q", p.Index, got, m)
		}
	}
}
