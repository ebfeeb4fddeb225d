package tiles

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// Checkpoint is the body of a signed checkpoint (c2sp.org/tlog-checkpoint).
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   Hash
}

// Marshal returns the checkpoint body: origin, size and root, each on a
// line. citylog writes no extension lines.
func (c Checkpoint) Marshal() []byte {
	return []byte(c.Origin + "\n" + strconv.FormatUint(c.Size, 10) + "\n" + base64.StdEncoding.EncodeToString(c.Root[:]) + "\n")
}

// ParseCheckpoint reads a checkpoint body strictly: every field has one
// accepted spelling, and a size-0 checkpoint must carry the empty root.
// Extension lines are returned, not interpreted.
func ParseCheckpoint(text []byte) (Checkpoint, []string, error) {
	s := string(text)
	if !strings.HasSuffix(s, "\n") {
		return Checkpoint{}, nil, fmt.Errorf("checkpoint does not end in a newline")
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if len(lines) < 3 {
		return Checkpoint{}, nil, fmt.Errorf("checkpoint has %d lines, want at least origin, size and root", len(lines))
	}
	var c Checkpoint
	c.Origin = lines[0]
	if c.Origin == "" {
		return Checkpoint{}, nil, fmt.Errorf("checkpoint origin is empty")
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return Checkpoint{}, nil, fmt.Errorf("checkpoint size %q is not a decimal number without leading zeros", lines[1])
	}
	c.Size = size
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != HashSize || base64.StdEncoding.EncodeToString(root) != lines[2] {
		return Checkpoint{}, nil, fmt.Errorf("checkpoint root %q is not the base64 of 32 bytes", lines[2])
	}
	c.Root = Hash(root)
	if c.Size == 0 && c.Root != EmptyRoot {
		return Checkpoint{}, nil, fmt.Errorf("checkpoint of size 0 does not carry the empty root")
	}
	ext := lines[3:]
	for _, l := range ext {
		if l == "" {
			return Checkpoint{}, nil, fmt.Errorf("checkpoint has an empty extension line")
		}
	}
	return c, ext, nil
}
