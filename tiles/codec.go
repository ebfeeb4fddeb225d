package tiles

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MaxEntrySize is the largest entry a bundle can carry (uint16 length).
const MaxEntrySize = 1<<16 - 1

// CheckHashTile checks that data is a hash tile of the given width.
func CheckHashTile(data []byte, width int) error {
	if width < 1 || width > Width {
		return fmt.Errorf("hash tile width %d is not 1-%d", width, Width)
	}
	if len(data) != width*HashSize {
		return fmt.Errorf("hash tile is %d bytes, want %d for %d hashes", len(data), width*HashSize, width)
	}
	return nil
}

// AppendBundleEntry appends one entry to a bundle.
func AppendBundleEntry(bundle, entry []byte) ([]byte, error) {
	if len(entry) > MaxEntrySize {
		return bundle, fmt.Errorf("entry is %d bytes, larger than the %d a bundle can carry", len(entry), MaxEntrySize)
	}
	bundle = binary.BigEndian.AppendUint16(bundle, uint16(len(entry)))
	return append(bundle, entry...), nil
}

// AppendBundleEntryFunc appends one entry to a bundle, the bytes that
// encode appends to its argument: the entry is encoded in place, not
// copied. On error the bundle is as it was.
func AppendBundleEntryFunc(bundle []byte, encode func([]byte) []byte) ([]byte, error) {
	off := len(bundle)
	bundle = encode(append(bundle, 0, 0))
	n := len(bundle) - off - 2
	if n > MaxEntrySize {
		return bundle[:off], fmt.Errorf("entry is %d bytes, larger than the %d a bundle can carry", n, MaxEntrySize)
	}
	binary.BigEndian.PutUint16(bundle[off:], uint16(n))
	return bundle, nil
}

// EachEntry calls fn with every entry of bundle-encoded data (uint16
// length, then the bytes, any number of times), in order, and returns how
// many it read. The entries alias data.
func EachEntry(data []byte, fn func(i int, entry []byte) error) (int, error) {
	n := 0
	for ; len(data) > 0; n++ {
		if len(data) < 2 {
			return n, fmt.Errorf("bundle: entry %d has a dangling length byte", n)
		}
		l := int(binary.BigEndian.Uint16(data))
		if len(data)-2 < l {
			return n, fmt.Errorf("bundle: entry %d claims %d bytes but only %d remain", n, l, len(data)-2)
		}
		if err := fn(n, data[2:2+l:2+l]); err != nil {
			return n, err
		}
		data = data[2+l:]
	}
	return n, nil
}

var errTooMany = errors.New("too many entries")

// ParseBundle splits an entry bundle into exactly width entries. The
// entries alias data.
func ParseBundle(data []byte, width int) ([][]byte, error) {
	if width < 1 || width > Width {
		return nil, fmt.Errorf("bundle width %d is not 1-%d", width, Width)
	}
	entries := make([][]byte, 0, width)
	_, err := EachEntry(data, func(i int, e []byte) error {
		if i == width {
			return errTooMany
		}
		entries = append(entries, e)
		return nil
	})
	if err == errTooMany {
		return nil, fmt.Errorf("bundle holds more than %d entries", width)
	}
	if err != nil {
		return nil, err
	}
	if len(entries) != width {
		return nil, fmt.Errorf("bundle holds %d entries, want %d", len(entries), width)
	}
	return entries, nil
}
