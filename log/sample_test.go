package log

import (
	"context"
	"os"
	"testing"
)

// TestImportSample imports the bundled real-world sample: every line must
// be accepted, and a second import must return every code as existing.
func TestImportSample(t *testing.T) {
	f, err := os.Open("../testdata/cities.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := newLog(t)
	w := openLog(t, dir)
	defer w.Close()
	codes := map[int]string{}
	stats, err := w.Import(context.Background(), f, ImportOptions{}, func(lr LineResult) error {
		if lr.Err != nil {
			t.Errorf("line %d refused: %v", lr.Line, lr.Err)
		}
		codes[lr.Line] = lr.Code.String()
		return nil
	})
	if err != nil || stats.Allocated < 20000 || stats.Allocated != stats.Lines {
		t.Fatalf("%+v %v", stats, err)
	}
	f.Seek(0, 0)
	stats, err = w.Import(context.Background(), f, ImportOptions{}, func(lr LineResult) error {
		if !lr.Existing || codes[lr.Line] != lr.Code.String() {
			t.Fatalf("line %d: second import gave %+v, first %s", lr.Line, lr.Result, codes[lr.Line])
		}
		return nil
	})
	if err != nil || stats.Existing != stats.Lines {
		t.Fatalf("%+v %v", stats, err)
	}
}
