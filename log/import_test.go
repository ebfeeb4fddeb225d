package log

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/citylog/citylog/log/entry"
)

func TestImport(t *testing.T) {
	dir := newLog(t)
	w := openLog(t, dir)
	defer w.Close()
	var in strings.Builder
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&in, `{"country":"DE","subdivision":"BY","name":"Town %d","ids":["geonames:%d"]}`+"\n", i, i+1)
		switch i {
		case 10:
			in.WriteString("not json\n")
		case 20:
			in.WriteString("\r\n   \n") // blank lines are skipped
		case 30:
			in.WriteString(`{"country":"DE","subdivision":"BY","name":"Dup","ids":["geonames:5"]}` + "\r\n")
		case 40:
			in.WriteString(`{"country":"DE","subdivision":"BY","name":"` + strings.Repeat("x", 70000) + `"}` + "\n")
		}
	}
	var got []LineResult
	stats, err := w.Import(context.Background(), strings.NewReader(in.String()), ImportOptions{BatchSize: 1000}, func(lr LineResult) error {
		if lr.Err == nil && lr.Index >= readCP(t, dir).Size {
			t.Fatalf("line %d reported before its checkpoint", lr.Line)
		}
		got = append(got, lr)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5003 || stats.Lines != 5003 || stats.Allocated != 5000 || stats.Existing != 1 || stats.Refused != 2 || stats.Checkpoints < 5 {
		t.Fatalf("%d results, stats %+v", len(got), stats)
	}
	for i, lr := range got {
		if i > 0 && lr.Line <= got[i-1].Line {
			t.Fatalf("results out of order at %d", i)
		}
	}
	byLine := map[int]LineResult{}
	for _, lr := range got {
		byLine[lr.Line] = lr
	}
	if lr := byLine[12]; !errors.Is(lr.Err, entry.ErrInvalid) {
		t.Errorf("line 12: %+v", lr)
	}
	if lr := byLine[35]; !lr.Existing || lr.Index != 4 {
		t.Errorf("line 35 (duplicate of geonames:5): %+v", lr)
	}
	if lr := byLine[46]; lr.Err == nil || !strings.Contains(lr.Err.Error(), "longer than") {
		t.Errorf("line 46 (overlong): %+v", lr)
	}
	if lr := byLine[1]; lr.Err != nil || lr.Index != 0 {
		t.Errorf("line 1: %+v", lr)
	}
	if w.Size() != 5000 {
		t.Errorf("size %d", w.Size())
	}
}

func TestImportReportErrorStops(t *testing.T) {
	dir := newLog(t)
	w := openLog(t, dir)
	defer w.Close()
	var in strings.Builder
	for i := 0; i < 3000; i++ {
		fmt.Fprintf(&in, `{"country":"DE","subdivision":"BY","name":"T","ids":["geonames:%d"]}`+"\n", i+1)
	}
	stop := errors.New("stdout closed")
	n := 0
	_, err := w.Import(context.Background(), strings.NewReader(in.String()), ImportOptions{BatchSize: 100}, func(LineResult) error {
		n++
		if n == 150 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 150 {
		t.Fatalf("err %v after %d reports", err, n)
	}
}

// TestInputSize: the bytes left to read, where the reader can tell; -1
// for a pipe (Import then grows the dedup index as it goes).
func TestInputSize(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "in")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("0123456789")
	f.Seek(4, io.SeekStart)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	for _, tc := range []struct {
		name string
		r    io.Reader
		want int64
	}{
		{"bytes", bytes.NewReader([]byte("abc")), 3},
		{"string", strings.NewReader("abcd"), 4},
		{"file part-read", f, 6},
		{"pipe", pr, -1},
		{"other reader", io.LimitReader(strings.NewReader("abc"), 2), -1},
	} {
		if got := inputSize(tc.r); got != tc.want {
			t.Errorf("%s: inputSize = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestImportEntries: the entries ImportOptions.Entries hands over are the
// log's, field for field as a reader decodes them from the bundles: the
// requests as normalized (a name in NFD, coordinates past six decimals),
// none for a line refused or answered by an existing code, in index
// order across batches.
func TestImportEntries(t *testing.T) {
	dir := newLog(t)
	w := openLog(t, dir)
	defer w.Close()
	var in strings.Builder
	for i := range 700 {
		fmt.Fprintf(&in, `{"country":"FR","subdivision":"IDF","name":"Ville\u0301 %d","ids":["geonames:%d"],"lat":48.85661234567,"lon":2.3522219876}`+"\n", i, i+1)
		switch i {
		case 10:
			in.WriteString(`{"country":"FR","subdivision":"IDF","name":"Dup","ids":["geonames:5"]}` + "\n") // existing, same batch
		case 400:
			in.WriteString(`{"country":"DE","subdivision":"BY","name":"Elsewhere","ids":["geonames:7"]}` + "\n") // a conflict: refused
		case 500:
			in.WriteString("not json\n")
		}
	}
	var got []entry.Entry
	stats, err := w.Import(context.Background(), strings.NewReader(in.String()), ImportOptions{BatchSize: 256, Entries: func(es []entry.Entry) {
		got = append(got, es...)
	}}, func(LineResult) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if stats.Allocated != 700 || stats.Existing != 1 || stats.Refused != 2 {
		t.Fatalf("stats %+v", stats)
	}
	if len(got) != 700 {
		t.Fatalf("%d entries handed over, want 700", len(got))
	}
	for i, raw := range publishedEntries(t, dir, 700) {
		want, err := entry.DecodeUnchecked(raw)
		if err != nil {
			t.Fatal(err)
		}
		if g := got[i]; g.Code != want.Code || !g.Time.Equal(want.Time) || !reflect.DeepEqual(g.Request, want.Request) {
			t.Fatalf("entry %d handed over as %+v, the log holds %+v", i, g, want)
		}
	}
}
