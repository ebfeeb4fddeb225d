package tiles

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// TLogProofHeader is the first line of a c2sp.org/tlog-proof@v1 file.
const TLogProofHeader = "c2sp.org/tlog-proof@v1"

// MaxProofHashes bounds the hashes of an inclusion proof (a tree of 2^64
// leaves needs 64).
const MaxProofHashes = 64

// TLogProof is an offline inclusion proof (c2sp.org/tlog-proof@v1): a
// leaf index, its inclusion path, and the signed checkpoint it leads to.
// citylog puts the entry itself in Extra, so a receipt is self-contained;
// Extra is not authenticated by the format, only by the proof that its
// leaf hash is in the tree.
type TLogProof struct {
	Extra      []byte // optional
	Index      uint64
	Hashes     []Hash
	Checkpoint []byte // the complete signed note, verbatim
}

// Marshal encodes p in the tlog-proof format.
func (p *TLogProof) Marshal() []byte {
	return p.Append(make([]byte, 0, p.size())) // one allocation
}

// size is the length of p's encoding.
func (p *TLogProof) size() int {
	enc := base64.StdEncoding
	digits := 1
	for i := p.Index; i >= 10; i /= 10 {
		digits++
	}
	n := len(TLogProofHeader) + 1 + len("index ") + digits + 1 +
		len(p.Hashes)*(enc.EncodedLen(HashSize)+1) + 1 + len(p.Checkpoint)
	if p.Extra != nil {
		n += len("extra ") + enc.EncodedLen(len(p.Extra)) + 1
	}
	return n
}

// Append appends p's encoding to b: a server answering many allocations
// encodes their receipts into buffers it reuses.
func (p *TLogProof) Append(b []byte) []byte {
	enc := base64.StdEncoding
	b = slices.Grow(b, p.size())
	b = append(b, TLogProofHeader+"\n"...)
	if p.Extra != nil {
		b = append(b, "extra "...)
		b = append(enc.AppendEncode(b, p.Extra), '\n')
	}
	b = append(b, "index "...)
	b = append(strconv.AppendUint(b, p.Index, 10), '\n')
	for _, h := range p.Hashes {
		b = append(enc.AppendEncode(b, h[:]), '\n')
	}
	b = append(b, '\n')
	return append(b, p.Checkpoint...)
}

// ParseTLogProof reads a tlog-proof strictly: it splits at the first blank
// line, and every field before it has exactly one accepted spelling. The
// checkpoint is returned verbatim for the caller to verify.
func ParseTLogProof(data []byte) (*TLogProof, error) {
	head, cp, ok := bytes.Cut(data, []byte("\n\n"))
	if !ok {
		return nil, fmt.Errorf("proof has no blank line before its checkpoint")
	}
	lines := strings.Split(string(head), "\n")
	if lines[0] != TLogProofHeader {
		return nil, fmt.Errorf("proof does not start with %q", TLogProofHeader)
	}
	lines = lines[1:]
	p := &TLogProof{Checkpoint: cp}
	if len(lines) > 0 && strings.HasPrefix(lines[0], "extra ") {
		v := strings.TrimPrefix(lines[0], "extra ")
		extra, err := base64.StdEncoding.DecodeString(v)
		if err != nil || base64.StdEncoding.EncodeToString(extra) != v || len(extra) == 0 {
			return nil, fmt.Errorf("proof's extra line is not canonical, non-empty base64")
		}
		p.Extra, lines = extra, lines[1:]
	}
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "index ") {
		return nil, fmt.Errorf("proof has no index line")
	}
	v := strings.TrimPrefix(lines[0], "index ")
	idx, err := strconv.ParseUint(v, 10, 64)
	if err != nil || strconv.FormatUint(idx, 10) != v {
		return nil, fmt.Errorf("proof index %q is not a decimal number without leading zeros", v)
	}
	p.Index, lines = idx, lines[1:]
	if len(lines) > MaxProofHashes {
		return nil, fmt.Errorf("proof has %d hashes, more than %d", len(lines), MaxProofHashes)
	}
	for i, l := range lines {
		h, err := base64.StdEncoding.DecodeString(l)
		if err != nil || len(h) != HashSize || base64.StdEncoding.EncodeToString(h) != l {
			return nil, fmt.Errorf("proof hash %d is not the base64 of 32 bytes", i+1)
		}
		p.Hashes = append(p.Hashes, Hash(h))
	}
	if len(cp) == 0 {
		return nil, fmt.Errorf("proof has no checkpoint after the blank line")
	}
	return p, nil
}

// HashSlices returns hs as byte slices, as merkle's verifiers take them.
func HashSlices(hs []Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}
