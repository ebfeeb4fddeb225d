package tiles

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/bits"
)

// EdgePath is where a citylog log publishes its checkpoint together with
// the right edge of its tree. Named after the checkpoint so that a host's
// short-cache rule for "checkpoint*" covers both.
const EdgePath = "checkpoint.edge"

// edgeHeader opens every edge file; the version names the format.
const edgeHeader = "citylog.org/checkpoint-edge/v1\n"

// Edge is a signed checkpoint with the hashes of its tree's right edge:
// the perfect subtrees of the compact range [0, size), left to right.
//
// Why it exists: an inclusion proof is the leaf's path inside its perfect
// subtree plus hashes folded from these subtrees. With tiles alone the
// small ones lie in the partial tiles at the tree's right edge, one more
// request per level; with the edge they come with the checkpoint. Nothing
// in it is trusted: the hashes must fold to the signed root (Check), and
// a reader of any tlog-tiles log can ignore the file.
type Edge struct {
	Checkpoint []byte // the signed note, byte for byte as in "checkpoint"
	Hashes     []Hash
}

// MaxEdgeSize bounds an edge file: a signed checkpoint (at most
// maxNote bytes) and up to 64 hashes, one per bit of the tree size.
func MaxEdgeSize(maxNote int64) int64 {
	return int64(len(edgeHeader)+64*(base64.StdEncoding.EncodedLen(HashSize)+1)+1) + maxNote
}

// Marshal encodes the edge: the header line, one base64 hash per line, an
// empty line, then the signed checkpoint.
func (e Edge) Marshal() []byte {
	n := len(edgeHeader) + len(e.Hashes)*(base64.StdEncoding.EncodedLen(HashSize)+1) + 1 + len(e.Checkpoint)
	b := make([]byte, 0, n)
	b = append(b, edgeHeader...)
	for _, h := range e.Hashes {
		b = base64.StdEncoding.AppendEncode(b, h[:])
		b = append(b, '\n')
	}
	b = append(b, '\n')
	return append(b, e.Checkpoint...)
}

// IsEdge reports whether b claims to be an edge file (starts with its
// header), whether or not the rest is well formed.
func IsEdge(b []byte) bool { return bytes.HasPrefix(b, []byte(edgeHeader)) }

// ParseEdge splits an edge file strictly. It checks the form only; Check
// relates the hashes to the checkpoint once the caller has verified it.
func ParseEdge(b []byte) (Edge, error) {
	rest, ok := bytes.CutPrefix(b, []byte(edgeHeader))
	if !ok {
		return Edge{}, fmt.Errorf("edge does not start with %q", edgeHeader[:len(edgeHeader)-1])
	}
	var e Edge
	for {
		line, after, ok := bytes.Cut(rest, []byte("\n"))
		if !ok {
			return Edge{}, fmt.Errorf("edge ends before the empty line that precedes its checkpoint")
		}
		rest = after
		if len(line) == 0 {
			break
		}
		if len(e.Hashes) == 64 {
			return Edge{}, fmt.Errorf("edge has more than 64 hashes")
		}
		var buf [HashSize + 1]byte // 44 characters can decode to 33 bytes
		n, err := 0, error(nil)
		if len(line) == base64.StdEncoding.EncodedLen(HashSize) {
			n, err = base64.StdEncoding.Strict().Decode(buf[:], line)
		}
		if n != HashSize || err != nil {
			return Edge{}, fmt.Errorf("edge hash %d (%.50q) is not the base64 of 32 bytes", len(e.Hashes)+1, line)
		}
		e.Hashes = append(e.Hashes, Hash(buf[:HashSize]))
	}
	if len(rest) == 0 {
		return Edge{}, fmt.Errorf("edge holds no checkpoint")
	}
	e.Checkpoint = rest
	return e, nil
}

// Check reports whether the edge's hashes are the right edge of the tree
// cp describes: one per set bit of its size, folding to its root.
func (e Edge) Check(cp Checkpoint) error {
	if want := bits.OnesCount64(cp.Size); len(e.Hashes) != want {
		return fmt.Errorf("edge has %d hashes, a tree of size %d has %d perfect subtrees", len(e.Hashes), cp.Size, want)
	}
	if cp.Size == 0 {
		return nil
	}
	if FoldRight(e.Hashes) != cp.Root {
		return fmt.Errorf("edge hashes do not fold to the checkpoint's root")
	}
	return nil
}
