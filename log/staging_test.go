package log

import (
	"bytes"
	"testing"
)

// FuzzParseStaging: a staged batch read back after a crash may be torn
// or damaged; parsing never panics, and what parses re-encodes to the
// same bytes.
func FuzzParseStaging(f *testing.F) {
	s := staging{start: 7}
	for _, e := range []string{`{"a":1}`, `{"b":"x"}`} {
		s.addWith(func(dst []byte) []byte { return append(dst, e...) })
	}
	good := bytes.Join(s.marshal(), nil)
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(bytes.Join((&staging{}).marshal(), nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseStaging(b)
		if err != nil {
			return
		}
		if again := bytes.Join(s.marshal(), nil); !bytes.Equal(again, b) {
			t.Fatalf("parseStaging(%q) re-encodes as %q", b, again)
		}
	})
}
