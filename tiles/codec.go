package tiles

import (
	"encoding/binary"
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

// ParseBundle splits an entry bundle into exactly width entries. The
// entries alias data.
func ParseBundle(data []byte, width int) ([][]byte, error) {
	if width < 1 || width > Width {
		return nil, fmt.Errorf("bundle width %d is not 1-%d", width, Width)
	}
	entries := make([][]byte, 0, width)
	for len(data) > 0 {
		if len(data) < 2 {
			return nil, fmt.Errorf("bundle: entry %d has a dangling length byte", len(entries))
		}
		n := int(binary.BigEndian.Uint16(data))
		if len(data)-2 < n {
			return nil, fmt.Errorf("bundle: entry %d claims %d bytes but only %d remain", len(entries), n, len(data)-2)
		}
		if len(entries) == width {
			return nil, fmt.Errorf("bundle holds more than %d entries", width)
		}
		entries = append(entries, data[2:2+n:2+n])
		data = data[2+n:]
	}
	if len(entries) != width {
		return nil, fmt.Errorf("bundle holds %d entries, want %d", len(entries), width)
	}
	return entries, nil
}
