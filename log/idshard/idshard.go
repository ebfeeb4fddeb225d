// Package idshard is the format of the static identifier index a citylog
// log publishes next to its tiles, so a verifier can find which code holds
// an identifier without a server:
//
//	index/ids/meta              {"v":2,"size":N,"bits":B}: layout version, the log size the index covers, shard bits
//	index/ids/<B>/<shard>       lines "<identifier>\t<leaf index>\n", sorted
//
// An identifier's shard is the first B bits of SHA-256(identifier), as a
// number in (B+3)/4 lower-case hex digits; each width has its directory,
// so a writer builds a wider index beside the published one and switches
// the meta. The index is only a hint: a verifier proves every answer by the
// entry's inclusion, so a missing, stale or lying index can hide an
// answer but never forge one.
//
// It is part of the registry's data model with log/idcode and log/entry:
// pure (no I/O), shared by the writer (log/idpublish writes the index)
// and the verifiers (cityverify find, the monitor's audit of the index).
package idshard

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

const (
	// Dir is where the index lives in the public tree.
	Dir = "index/ids/"
	// MetaPath is the index's metadata file.
	MetaPath = Dir + "meta"
	// MinBits and MaxBits bound the shard bits.
	MinBits, MaxBits = 4, 16
	// TargetPerShard is about how many identifiers a shard holds.
	TargetPerShard = 4096
	// MaxShardSize bounds one shard file a reader accepts.
	MaxShardSize = 16 << 20
)

// Version is the index layout this package reads and writes. (The first
// layout, without a version, put every width's shards in index/ids/.)
const Version = 2

// Meta describes a published index.
type Meta struct {
	Size uint64 // the log size the index covers
	Bits int
}

type metaJSON struct {
	V    int    `json:"v"`
	Size uint64 `json:"size"`
	Bits int    `json:"bits"`
}

// ParseMeta reads the metadata file strictly.
func ParseMeta(b []byte) (Meta, error) {
	var j metaJSON
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return Meta{}, fmt.Errorf("identifier index meta: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Meta{}, fmt.Errorf("identifier index meta: data after the object")
	}
	if j.V != Version {
		return Meta{}, fmt.Errorf("identifier index meta: layout version %d, this software reads %d", j.V, Version)
	}
	m := Meta{Size: j.Size, Bits: j.Bits}
	if m.Bits < MinBits || m.Bits > MaxBits {
		return Meta{}, fmt.Errorf("identifier index meta: bits %d is not %d-%d", m.Bits, MinBits, MaxBits)
	}
	return m, nil
}

// Marshal encodes the metadata.
func (m Meta) Marshal() []byte {
	b, _ := json.Marshal(metaJSON{V: Version, Size: m.Size, Bits: m.Bits})
	return append(b, '\n')
}

// BitsFor returns the shard bits for an index of n identifiers.
func BitsFor(n uint64) int {
	bits := MinBits
	for bits < MaxBits && n > TargetPerShard<<bits {
		bits++
	}
	return bits
}

// Shard returns the path of the shard holding id.
func Shard(id string, bits int) string { return ShardPath(ShardIndex(id, bits), bits) }

// ShardIndex returns the number of the shard holding id: the first bits
// bits of SHA-256(id).
func ShardIndex(id string, bits int) uint32 { return Key(id) >> (32 - bits) }

// Key returns the first 32 bits of SHA-256(id): its shard at any width is
// Key(id) >> (32 - bits), so a writer can compute it once.
func Key(id string) uint32 {
	var buf [64]byte // most identifiers fit: no allocation
	return ShardIndexBytes(append(buf[:0], id...), 32)
}

// ShardIndexBytes is ShardIndex for an identifier held as bytes.
func ShardIndexBytes(id []byte, bits int) uint32 {
	h := sha256.Sum256(id)
	return binary.BigEndian.Uint32(h[:4]) >> (32 - bits)
}

// NameDigits returns how many hex digits name a shard at width bits.
func NameDigits(bits int) int { return (bits + 3) / 4 }

// WidthDir returns the directory of the shards of width bits.
func WidthDir(bits int) string { return Dir + strconv.Itoa(bits) + "/" }

// ShardPath returns the path of shard number i at width bits.
func ShardPath(i uint32, bits int) string {
	const digits = "0123456789abcdef"
	dir := WidthDir(bits)
	b := make([]byte, len(dir)+NameDigits(bits))
	copy(b, dir)
	for k := len(b) - 1; k >= len(dir); k-- {
		b[k] = digits[i&15]
		i >>= 4
	}
	return string(b)
}

// Line is one identifier and the leaf holding it.
type Line struct {
	ID   string
	Leaf uint64
}

// Parse reads a shard strictly: sorted lines, no empty fields.
func Parse(b []byte) ([]Line, error) {
	var out []Line
	if err := scan(b, func(_ int, l Line) { out = append(out, l) }); err != nil {
		return nil, err
	}
	return out, nil
}

// scan checks shard b line by line, calling fn with the offset in b where
// each line starts and its fields, in order, until the first error.
func scan(b []byte, fn func(start int, l Line)) error {
	if len(b) > MaxShardSize {
		return fmt.Errorf("identifier shard is larger than %d bytes", MaxShardSize)
	}
	s := string(b) // one copy; identifiers are substrings of it
	var prev Line
	for n, pos := 1, 0; pos < len(s); n++ {
		end := strings.IndexByte(s[pos:], '\n')
		if end < 0 {
			return fmt.Errorf("identifier shard line %d does not end in a newline", n)
		}
		line := s[pos : pos+end]
		tab := strings.IndexByte(line, '\t')
		leaf, valid := parseLeaf(line[tab+1:])
		if tab <= 0 || !valid {
			return fmt.Errorf("identifier shard line %d is not <identifier>TAB<index>", n)
		}
		cur := Line{line[:tab], leaf}
		if n > 1 && compare(prev, cur) >= 0 {
			return fmt.Errorf("identifier shard line %d is out of order", n)
		}
		prev = cur
		fn(pos, cur)
		pos += end + 1
	}
	return nil
}

func compare(a, b Line) int {
	if c := strings.Compare(a.ID, b.ID); c != 0 {
		return c
	}
	return cmp.Compare(a.Leaf, b.Leaf)
}

// Marshal encodes lines as a shard, sorted (in place), without repeated
// lines: a merge into an empty shard.
func Marshal(lines []Line) []byte {
	b, _ := Merge(nil, lines) // nothing to parse, nothing to fail
	return b
}

// Lookup returns the leaves a shard lists for id.
func Lookup(lines []Line, id string) []uint64 {
	i := sort.Search(len(lines), func(i int) bool { return lines[i].ID >= id })
	var out []uint64
	for ; i < len(lines) && lines[i].ID == id; i++ {
		out = append(out, lines[i].Leaf)
	}
	return out
}

// Merge adds lines to the shard old: the result is the shard of old's
// lines and add's, sorted, without repeats; old, sorted already, is
// checked and copied line by line instead of parsed and sorted again;
// only add is sorted (in place). A log that grows by a tenth rewrites
// every shard, so this is most of the index's cost. An invalid old is an
// error, as Parse reports it.
func Merge(old []byte, add []Line) ([]byte, error) {
	sortLines(add)
	size := len(old)
	for _, l := range add {
		size += len(l.ID) + 22
	}
	out := make([]byte, 0, size)
	var last Line // the last line written, to drop duplicates
	written := false
	emit := func(l Line) {
		if !written || l != last {
			out = appendLine(out, l)
			last, written = l, true
		}
	}
	// Old lines are copied in runs, up to the next added line.
	j, run := 0, 0
	err := scan(old, func(start int, cur Line) {
		if j < len(add) && compare(add[j], cur) <= 0 {
			out = append(out, old[run:start]...)
			run = start
			// Added lines below cur go first; one equal to cur is cur.
			for ; j < len(add) && compare(add[j], cur) <= 0; j++ {
				if add[j] != cur {
					emit(add[j])
				}
			}
		}
		last, written = cur, true
	})
	if err != nil {
		return nil, err
	}
	out = append(out, old[run:]...)
	for ; j < len(add); j++ {
		emit(add[j])
	}
	return out, nil
}

func appendLine(b []byte, l Line) []byte {
	b = append(append(b, l.ID...), '\t')
	return append(strconv.AppendUint(b, l.Leaf, 10), '\n')
}

// parseLeaf reads a leaf index written without leading zeros, as
// strconv.FormatUint writes it.
func parseLeaf(s string) (uint64, bool) {
	if len(s) == 0 || len(s) > 20 || s[0] == '0' && len(s) > 1 {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		// Up to 19 digits cannot overflow: only the 20th needs the check,
		// which costs a division a digit (a merge parses every leaf of a
		// shard it rewrites).
		if i == 19 && v > (math.MaxUint64-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}
