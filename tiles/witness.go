package tiles

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// AddCheckpointBody is the body of a c2sp.org/tlog-witness add-checkpoint
// request: "old N", the consistency proof from size N to the checkpoint's
// size (one base64 hash a line), a blank line, and the signed checkpoint.
func AddCheckpointBody(old uint64, proof []Hash, signed []byte) []byte {
	b := strconv.AppendUint([]byte("old "), old, 10)
	b = append(b, '\n')
	for _, h := range proof {
		b = base64.StdEncoding.AppendEncode(b, h[:])
		b = append(b, '\n')
	}
	b = append(b, '\n')
	return append(b, signed...)
}

// ParseAddCheckpoint reads an add-checkpoint body strictly (see
// AddCheckpointBody): the old size in canonical decimal, at most
// MaxProofHashes-1 proof lines each the canonical base64 of a hash, a
// blank line, and the signed checkpoint, returned as it is (the caller
// verifies it).
func ParseAddCheckpoint(body []byte) (old uint64, proof []Hash, signed []byte, err error) {
	head, signed, ok := bytes.Cut(body, []byte("\n\n"))
	if !ok {
		return 0, nil, nil, errors.New("body has no blank line before the checkpoint")
	}
	lines := strings.Split(string(head), "\n")
	oldStr, ok := strings.CutPrefix(lines[0], "old ")
	old, perr := strconv.ParseUint(oldStr, 10, 64)
	if !ok || perr != nil || strconv.FormatUint(old, 10) != oldStr {
		return 0, nil, nil, errors.New(`first line is not "old <size>"`)
	}
	if len(lines)-1 > MaxProofHashes-1 {
		return 0, nil, nil, fmt.Errorf("consistency proof has more than %d hashes", MaxProofHashes-1)
	}
	for i, l := range lines[1:] {
		h, err := base64.StdEncoding.DecodeString(l)
		if err != nil || len(h) != HashSize || base64.StdEncoding.EncodeToString(h) != l {
			return 0, nil, nil, fmt.Errorf("proof line %d is not a base64 hash", i+1)
		}
		proof = append(proof, Hash(h))
	}
	return old, proof, signed, nil
}
