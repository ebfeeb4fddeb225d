package site

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"slices"
	"testing"

	"github.com/citylog/citylog/internal/jsonquote"
)

var oddNames = []string{"São Paulo", `Quote "the" city`, "Back\\slash", "Tab\tand\nnewline\r", "<b>&amp;</b>", "\u2028line\u2029", "北京",
	"", " leading space", "\u00a0nbsp", `\.`, "comma, city", "\x01control", "emoji 🏙️", "bad \xff utf-8"}

// TestListJSON: a page's twin (a subdivision's, a log-order one) written
// by hand is what encoding/json writes, whatever the names hold.
func TestListJSON(t *testing.T) {
	lat, lon, tiny, big := 48.8566, -2.35, 1e-7, 1.5e21
	j := listJSON{V: 1, Country: "FR", Subdivision: "IDF", Page: 3, Next: true}
	for i, n := range append(slices.Clone(oddNames), jsonquote.Tricky...) {
		c := city{Index: uint64(i) * 1e9, Code: "FR-IDF-0000-0", Country: "FR", Subdivision: "IDF", Name: n, IDs: []string{"unlocode:FRPAR", n}, Time: "2026-12-02T00:00:00Z"}
		switch i % 4 {
		case 1:
			c.Lat, c.Lon = &lat, &lon
		case 2:
			c.Lat, c.Lon = &tiny, &big
		case 3:
			c.IDs = nil
		}
		j.Cities = append(j.Cities, c)
	}
	for _, page := range []listJSON{j, {V: 1, Country: "VA", Subdivision: "0"}} {
		want, err := json.Marshal(page)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendListJSON(nil, page); !bytes.Equal(got, want) {
			t.Errorf("appendListJSON:\n got %s\nwant %s", got, want)
		}
	}
	for _, page := range []logJSON{{V: 1, Page: 7, Next: true, Cities: j.Cities}, {V: 1}} {
		want, err := json.Marshal(page)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendLogJSON(nil, page); !bytes.Equal(got, want) {
			t.Errorf("appendLogJSON:\n got %s\nwant %s", got, want)
		}
	}
}

// TestCSVField: fields are quoted as encoding/csv quotes them.
func TestCSVField(t *testing.T) {
	for _, f := range oddNames {
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		w.Write([]string{f})
		w.Flush()
		want := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		if got := appendCSVField(nil, f); !bytes.Equal(got, want) {
			t.Errorf("appendCSVField(%q) = %q, want %q", f, got, want)
		}
	}
}
