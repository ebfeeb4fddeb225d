package log

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/citylog/citylog/tiles"
)

const stagingMagic = "citylog-staging1"

// staging is a batch's entries, written durably before any of its files,
// so that a crash mid-batch is finished on restart with the same bytes.
type staging struct {
	start   uint64 // log size before the batch
	count   uint64
	entries []byte // bundle-encoded: uint16 length || bytes, count times
}

func (s *staging) add(entry []byte) error {
	var err error
	s.entries, err = tiles.AppendBundleEntry(s.entries, entry)
	s.count++
	return err
}

func (s *staging) marshal() []byte {
	b := make([]byte, 0, len(stagingMagic)+16+len(s.entries)+sha256.Size)
	b = append(b, stagingMagic...)
	b = binary.BigEndian.AppendUint64(b, s.start)
	b = binary.BigEndian.AppendUint64(b, s.count)
	b = append(b, s.entries...)
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

func parseStaging(b []byte) (*staging, error) {
	head := len(stagingMagic) + 16
	if len(b) < head+sha256.Size || string(b[:len(stagingMagic)]) != stagingMagic {
		return nil, fmt.Errorf("staged batch is damaged (bad header)")
	}
	body, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if want := sha256.Sum256(body); string(want[:]) != string(sum) {
		return nil, fmt.Errorf("staged batch is damaged (checksum mismatch)")
	}
	s := &staging{
		start:   binary.BigEndian.Uint64(b[len(stagingMagic):]),
		count:   binary.BigEndian.Uint64(b[len(stagingMagic)+8:]),
		entries: body[head:],
	}
	if n, err := s.each(func([]byte) error { return nil }); err != nil || n != s.count {
		return nil, fmt.Errorf("staged batch is damaged (holds %d entries, header says %d)", n, s.count)
	}
	return s, nil
}

// each calls fn with every staged entry in order.
func (s *staging) each(fn func(entry []byte) error) (uint64, error) {
	var n uint64
	for rest := s.entries; len(rest) > 0; n++ {
		if len(rest) < 2 {
			return n, fmt.Errorf("dangling length")
		}
		l := int(binary.BigEndian.Uint16(rest))
		if len(rest) < 2+l {
			return n, fmt.Errorf("overrun")
		}
		if err := fn(rest[2 : 2+l]); err != nil {
			return n, err
		}
		rest = rest[2+l:]
	}
	return n, nil
}
