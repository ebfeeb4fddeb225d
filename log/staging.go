package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/citylog/citylog/internal/durable"
	"github.com/citylog/citylog/tiles"
)

const stagingMagic = "citylog-staging2"

// stagingSum detects a staged file torn by a crash or damaged on disk; it
// guards against accidents, not attackers, so CRC-32C (in hardware on
// amd64 and arm64) serves where SHA-256 cost a tenth of a second per
// million entries.
var stagingSum = crc32.MakeTable(crc32.Castagnoli)

const stagingSumSize = 4

// staging is a batch's entries, written durably before any of its files,
// so that a crash mid-batch is finished on restart with the same bytes.
type staging struct {
	start   uint64 // log size before the batch
	count   uint64
	entries []byte // bundle-encoded: uint16 length || bytes, count times
}

// addWith stages the entry that encode appends to its argument, encoding
// it in place rather than copying it.
func (s *staging) addWith(encode func([]byte) []byte) error {
	var err error
	if s.entries, err = tiles.AppendBundleEntryFunc(s.entries, encode); err != nil {
		return err
	}
	s.count++
	return nil
}

// marshal returns the staged file as parts to write in order: header,
// entries (not copied) and the checksum of both.
func (s *staging) marshal() [][]byte {
	head := make([]byte, 0, len(stagingMagic)+16)
	head = append(head, stagingMagic...)
	head = binary.BigEndian.AppendUint64(head, s.start)
	head = binary.BigEndian.AppendUint64(head, s.count)
	sum := crc32.Update(crc32.Checksum(head, stagingSum), stagingSum, s.entries)
	return [][]byte{head, s.entries, binary.BigEndian.AppendUint32(nil, sum)}
}

func parseStaging(b []byte) (*staging, error) {
	head := len(stagingMagic) + 16
	if len(b) < head+stagingSumSize || string(b[:len(stagingMagic)]) != stagingMagic {
		return nil, fmt.Errorf("staged batch is damaged (bad header)")
	}
	body, sum := b[:len(b)-stagingSumSize], b[len(b)-stagingSumSize:]
	if crc32.Checksum(body, stagingSum) != binary.BigEndian.Uint32(sum) {
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
	n, err := tiles.EachEntry(s.entries, func(_ int, e []byte) error { return fn(e) })
	return uint64(n), err
}

// stagingSlots are the two files batches are staged in, in turn. Each is
// overwritten in place (see durable.Overwrite: replacing a file per
// batch costs an inode allocation that grows slow under a high batch
// rate). Alternating means a write torn by a crash can only damage the
// slot that does not hold the last published batch, so a torn slot is
// told apart from a damaged one: see readStaged.
var stagingSlots = [2]string{stagingFile + ".0", stagingFile + ".1"}

// stager stages batches into the slots in turn.
type stager struct {
	dir  string
	next int // the slot the next batch goes to
}

func (st *stager) write(s *staging) error {
	path := filepath.Join(st.dir, stagingSlots[st.next])
	if err := durable.Overwrite(path, 0o600, s.marshal()...); err != nil {
		return fmt.Errorf("couldn't stage batch: %w", err)
	}
	st.next = 1 - st.next
	return nil
}

// readStaged returns the staged batch that the checkpoint at size does
// not cover yet, or nil, and sets st.next to the slot not holding the
// newest batch. A damaged slot is accepted only where a crash could have
// torn it: while the other slot holds the batch that ends at size (or the
// log is empty and nothing else was staged).
func (st *stager) readStaged(size uint64) (*staging, error) {
	var slots [2]*staging
	var damaged [2]error
	for i, name := range stagingSlots {
		path := filepath.Join(st.dir, name)
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("couldn't read staged batch: %w", err)
		}
		if slots[i], err = parseStaging(data); err != nil {
			damaged[i] = fmt.Errorf("%s: %w, and the other slot does not explain it as a write cut off by a crash: the disk or an editor changed it", path, err)
		}
	}
	newest := -1
	for i, s := range slots {
		if s != nil && (newest < 0 || s.start+s.count > slots[newest].start+slots[newest].count) {
			newest = i
		}
	}
	st.next = 0
	if newest >= 0 {
		st.next = 1 - newest
	}
	for i, err := range damaged {
		if err == nil {
			continue
		}
		other := slots[1-i]
		torn := (other != nil && other.start+other.count >= size) || (other == nil && damaged[1-i] == nil && size == 0)
		if !torn {
			return nil, corrupt(err)
		}
		st.next = i // rewrite the torn slot first
	}
	if newest < 0 {
		return nil, nil
	}
	s := slots[newest]
	switch {
	case s.start+s.count <= size:
		return nil, nil // published before the stop
	case s.start != size:
		return nil, corrupt(fmt.Errorf("%s holds entries %d-%d, which do not continue the checkpoint at size %d",
			filepath.Join(st.dir, stagingSlots[newest]), s.start, s.start+s.count-1, size))
	}
	return s, nil
}
