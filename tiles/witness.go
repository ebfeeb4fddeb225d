package tiles

import (
	"encoding/base64"
	"strconv"
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
