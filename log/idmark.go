package log

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/citylog/citylog/internal/durable"
	"github.com/citylog/citylog/log/idshard"
)

// indexMark is the file in state/ that says a rewrite of the public
// identifier index (a split to a wider index, or a rebuild) is under way,
// and which shard widths may have files that must go once it is
// published. While the new shards are written it reads "rewrite": a
// crash then makes the next publication rebuild the index from the
// bundles. Once the new meta is published it reads "cleanup": a crash
// then makes the next publication only finish the removals. It is removed
// when the removals are durable.
type indexMark struct {
	cleanup bool  // false: rewrite
	widths  []int // shard widths whose files may have to be removed
}

// readIndexMark reads the mark at path; ok is false if there is none. A
// mark that does not parse (an empty one was written by citylog before
// widths were recorded) is a rewrite of unknown widths: all of them.
func readIndexMark(path string) (m indexMark, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return indexMark{}, false, nil
	}
	if err != nil {
		return indexMark{}, false, fmt.Errorf("couldn't read %s: %w", path, err)
	}
	if m, ok := parseIndexMark(string(b)); ok {
		return m, true, nil
	}
	m = indexMark{}
	for w := idshard.MinBits; w <= idshard.MaxBits; w++ {
		m.widths = append(m.widths, w)
	}
	return m, true, nil
}

func parseIndexMark(s string) (indexMark, bool) {
	line, ok := strings.CutSuffix(s, "\n")
	fields := strings.Fields(line)
	if !ok || len(fields) == 0 || (fields[0] != "rewrite" && fields[0] != "cleanup") {
		return indexMark{}, false
	}
	m := indexMark{cleanup: fields[0] == "cleanup"}
	for _, f := range fields[1:] {
		w, err := strconv.Atoi(f)
		if err != nil || w < idshard.MinBits || w > idshard.MaxBits {
			return indexMark{}, false
		}
		m.widths = append(m.widths, w)
	}
	return m, true
}

// marshal encodes the mark as parseIndexMark reads it.
func (m indexMark) marshal() string {
	var b strings.Builder
	if m.cleanup {
		b.WriteString("cleanup")
	} else {
		b.WriteString("rewrite")
	}
	for _, w := range m.widths {
		fmt.Fprintf(&b, " %d", w)
	}
	b.WriteString("\n")
	return b.String()
}

// write replaces the mark at path durably.
func (m indexMark) write(path string) error {
	return durable.WriteFile(path, []byte(m.marshal()), 0o600)
}
