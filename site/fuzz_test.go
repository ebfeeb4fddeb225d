package site

import (
	"slices"
	"testing"
)

// FuzzNameIndexFiles: the name index's files, as a hostile or damaged
// store may hold them, are read without panicking, and what reads reads
// back the same once written again.
func FuzzNameIndexFiles(f *testing.F) {
	f.Add([]byte("sao paulo\tSão Paulo\tBR-SP-0001-X\nzurich\tZürich\tCH-ZH-0002-Y\n"))
	f.Add([]byte(tailHeader + "\n73616f\n7a75\n"))
	f.Add([]byte(leavesHeader + "\n\n24\n6124\n61\n"))
	f.Add([]byte("a\tb\n"))
	f.Add([]byte("a\tb\tc\td\n"))
	f.Add([]byte("no newline\tat\tend"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if lines, err := parseLeaf("leaf", b); err == nil {
			if got := marshalLeaf(lines); string(got) != string(b) {
				t.Errorf("leaf %q read as %q, written back as %q", b, lines, got)
			}
		}
		if firsts, err := parseTail(b); err == nil {
			again, err := parseTail(marshalTail(firsts))
			if err != nil || !slices.Equal(again, firsts) {
				t.Errorf("tail.txt %q read as %q, then as %q (%v)", b, firsts, again, err)
			}
			lo, hi := tailChunksFor(firsts, "s")
			if lo < 0 || hi < lo || hi > len(firsts) {
				t.Errorf("tailChunksFor(%q, s) = [%d, %d)", firsts, lo, hi)
			}
		}
		if tr, err := parseLeaves(b); err == nil {
			again, err := parseLeaves(tr.marshalLeaves())
			if err != nil || len(again.leaves) != len(tr.leaves) {
				t.Errorf("leaves.txt %q: %d leaves, then %d (%v)", b, len(tr.leaves), len(again.leaves), err)
			}
			tr.leafFor("sao paulo")
		}
	})
}
