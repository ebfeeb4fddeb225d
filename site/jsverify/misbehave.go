package jsverify

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/log/idcode"
)

// badEntry is a leaf the writer would never write, correctly signed into
// a log: its inclusion holds, the entry check must not.
type badEntry struct {
	name string
	// code is the code a reader asks for: that of the leaf's index in
	// the entry's country and subdivision.
	cc, sub string
	leaf    func(index uint64) []byte
	want    string
}

// paris is the canonical entry of Paris at index, as the writer writes
// it; edit changes its fields before encoding.
func paris(index uint64, edit func(e *entry.Entry)) []byte {
	lat, lon := 48.8566, 2.3522
	e := entry.Entry{Request: entry.Request{Country: "FR", Subdivision: "IDF", Name: "Paris",
		IDs: []string{"geonames:2988507", "unlocode:FRPAR"}, HasLocation: true, Lat: lat, Lon: lon},
		Time: epoch.Add(time.Duration(index) * time.Second)}
	e.Code, _ = idcode.New("FR", "IDF", index)
	if edit != nil {
		edit(&e)
	}
	return e.AppendJSON(nil)
}

// replace returns the Paris entry of index with old replaced by new.
func replace(old, new string) func(uint64) []byte {
	return func(i uint64) []byte {
		b := paris(i, nil)
		if !bytes.Contains(b, []byte(old)) {
			panic(fmt.Sprintf("entry %s has no %q", b, old))
		}
		return bytes.Replace(b, []byte(old), []byte(new), 1)
	}
}

// withTime returns the Paris entry with its time written as ts.
func withTime(ts string) func(uint64) []byte {
	return func(i uint64) []byte {
		b := paris(i, nil)
		at := bytes.Index(b, []byte(`"time":"`)) + len(`"time":"`)
		return append(append(b[:at:at], ts...), `"}`...)
	}
}

func fields(edit func(e *entry.Entry)) func(uint64) []byte {
	return func(i uint64) []byte { return paris(i, edit) }
}

var badEntries = []badEntry{
	{name: "honest Paris", leaf: fields(nil), want: "verified"},
	{name: "a space after a comma", leaf: replace(`,"country"`, `, "country"`)},
	{name: "an escaped character in the name", leaf: replace(`"name":"Paris"`, `"name":"Pari\u0073"`)},
	{name: "an escaped slash", leaf: replace(`"name":"Paris"`, `"name":"Paris\/"`)},
	{name: "a trailing zero in lat", leaf: replace(`"lat":48.8566`, `"lat":48.85660`)},
	{name: "an exponent in lon", leaf: replace(`"lon":2.3522`, `"lon":23522e-4`)},
	{name: "lat without lon", leaf: replace(`,"lon":2.3522`, ``)},
	{name: "negative zero", leaf: replace(`"lon":2.3522`, `"lon":-0`)},
	{name: "more than millionths", leaf: replace(`"lon":2.3522`, `"lon":2.3522001`)},
	{name: "lat out of range", leaf: replace(`"lat":48.8566`, `"lat":95`)},
	{name: "an unknown field", leaf: replace(`,"time"`, `,"x":1,"time"`)},
	{name: "a field twice", leaf: replace(`,"ids"`, `,"name":"Paris","ids"`)},
	{name: "fields out of order", leaf: func(i uint64) []byte {
		b := bytes.Replace(paris(i, nil), []byte(`{"v":1,`), []byte(`{`), 1)
		return bytes.Replace(b, []byte(`","country"`), []byte(`","v":1,"country"`), 1)
	}},
	{name: "version 2", leaf: replace(`"v":1`, `"v":2`)},
	{name: "version 1.0", leaf: replace(`"v":1`, `"v":1.0`)},
	{name: "not JSON", leaf: func(uint64) []byte { return []byte("hello") }},
	{name: "a JSON array", leaf: func(i uint64) []byte { return append(append([]byte("["), paris(i, nil)...), ']') }},
	{name: "trailing data", leaf: func(i uint64) []byte { return append(paris(i, nil), ' ') }},
	{name: "invalid UTF-8 in the name", leaf: replace(`"name":"Paris"`, "\"name\":\"Par\xe9s\"")},
	{name: "a name not in NFC", leaf: fields(func(e *entry.Entry) { e.Name = "Pare\u0301s" })},
	{name: "a name with spaces around it", leaf: fields(func(e *entry.Entry) { e.Name = " Paris " })},
	{name: "a control character in the name", leaf: fields(func(e *entry.Entry) { e.Name = "Par\ais" })},
	{name: "a format character in the name", leaf: fields(func(e *entry.Entry) { e.Name = "Par\u200bis" })},
	{name: "a name of 201 characters", leaf: fields(func(e *entry.Entry) { e.Name = strings.Repeat("é", 201) })},
	{name: "an empty name", leaf: fields(func(e *entry.Entry) { e.Name = "" })},
	{name: "no identifiers", leaf: fields(func(e *entry.Entry) { e.IDs = []string{} })},
	{name: "nine identifiers", leaf: fields(func(e *entry.Entry) {
		e.IDs = nil
		for i := range 9 {
			e.IDs = append(e.IDs, fmt.Sprintf("geonames:%d", 100+i))
		}
	})},
	{name: "identifiers out of order", leaf: fields(func(e *entry.Entry) { e.IDs = []string{"unlocode:FRPAR", "geonames:2988507"} })},
	{name: "an identifier twice", leaf: fields(func(e *entry.Entry) { e.IDs = []string{"geonames:2988507", "geonames:2988507"} })},
	{name: "a lower-case UN/LOCODE", leaf: fields(func(e *entry.Entry) { e.IDs = []string{"geonames:2988507", "unlocode:frpar"} })},
	{name: "a UN/LOCODE of another country", leaf: fields(func(e *entry.Entry) { e.IDs = []string{"geonames:2988507", "unlocode:DEBER"} })},
	{name: "an unknown scheme", leaf: fields(func(e *entry.Entry) { e.IDs = []string{"wikidata:Q90"} })},
	{name: "a national identifier of another country", leaf: fields(func(e *entry.Entry) { e.IDs = []string{"national:DE:insee:75056"} })},
	{name: "a national identifier without its code", leaf: fields(func(e *entry.Entry) { e.IDs = []string{"national:FR:insee"} })},
	{name: "an ISO 3166-2 identifier of subdivision 0", leaf: fields(func(e *entry.Entry) { e.IDs = []string{"iso3166-2:FR-0"} })},
	{name: "a GeoNames id with a leading zero", leaf: fields(func(e *entry.Entry) { e.IDs = []string{"geonames:02988507"} })},
	{name: "February 29 of a leap year", want: "verified", leaf: withTime("2028-02-29T23:59:59Z")},
	{name: "February 29 of another year", leaf: withTime("2026-02-29T00:00:00Z")},
	{name: "hour 24", leaf: withTime("2026-01-01T24:00:00Z")},
	{name: "a leap second", leaf: withTime("2026-12-31T23:59:60Z")},
	{name: "a time with a fraction", leaf: withTime("2026-01-01T00:00:00.5Z")},
	{name: "a time with an offset", leaf: withTime("2026-01-01T00:00:00+00:00")},
	{name: "a lower-case country", leaf: replace(`"country":"FR"`, `"country":"fr"`)},
	{name: "a code of another country", cc: "FR", sub: "IDF", leaf: fields(func(e *entry.Entry) {
		e.Code.Country, e.Country, e.Subdivision, e.Code.Subdivision = "DE", "FR", "IDF", "BE"
	})},
	{name: "a code with the wrong check character", leaf: func(i uint64) []byte {
		c := paris(i, nil)
		at := bytes.Index(c, []byte(`","country"`)) - 1
		c[at] = mistype(string(c[:at+1]))[at]
		return c
	}},
	{name: "a code in lower case", leaf: func(i uint64) []byte {
		c := code("FR", "IDF", i)
		return bytes.Replace(paris(i, nil), []byte(c), []byte(strings.ToLower(c)), 1)
	}},
	{name: "the code of another index", leaf: fields(func(e *entry.Entry) { e.Code.Index += 3 })},
	{name: "a subdivision neither the ISO data nor the operator has", cc: "FR", sub: "ZZZ", leaf: fields(func(e *entry.Entry) {
		e.Subdivision, e.Code.Subdivision = "ZZZ", "ZZZ"
	})},
	{name: "subdivision 0 of a country that has subdivisions", cc: "FR", sub: "0", leaf: fields(func(e *entry.Entry) {
		e.Subdivision, e.Code.Subdivision = "0", "0"
	})},
	{name: "a subdivision of a country without subdivisions", cc: "VA", sub: "A", leaf: fields(func(e *entry.Entry) {
		e.Country, e.Code.Country, e.Subdivision, e.Code.Subdivision, e.IDs = "VA", "VA", "A", "A", []string{"geonames:6691831"}
	})},
	{name: "in the operator's subdivision", cc: "CN", sub: "XQ", want: "verified", leaf: fields(func(e *entry.Entry) {
		e.Country, e.Code.Country, e.Subdivision, e.Code.Subdivision, e.IDs = "CN", "CN", "XQ", "XQ", []string{"geonames:2988507"}
	})},
	// An identifier naming the operator's subdivision, in an entry of an
	// ISO one: valid under the log's rules, as the writer judged it (the
	// verifiers once judged it by the ISO data alone).
	{name: "an ISO 3166-2 identifier of the operator's subdivision", cc: "CN", sub: "HE", want: "verified", leaf: fields(func(e *entry.Entry) {
		e.Country, e.Code.Country, e.Subdivision, e.Code.Subdivision, e.IDs = "CN", "CN", "HE", "HE", []string{"iso3166-2:CN-XQ"}
	})},
}

// misbehaving is a log, correctly signed, of entries that break the
// rules one way each, and the one-entry log of verifier's
// TestEntryBreakingTheRule.
func (g *generator) misbehaving(rules *entry.Rules) error {
	entries := make([][]byte, len(badEntries))
	for i, b := range badEntries {
		entries[i] = b.leaf(uint64(i))
	}
	t, err := newTree("misbehaving.citylog.example/log", entries)
	if err != nil {
		return err
	}
	files, err := t.publish(len(entries))
	if err != nil {
		return err
	}
	files["extra-subdivisions.txt"] = []byte(extraSubdivisions)
	for i, b := range badEntries {
		cc, sub := b.cc, b.sub
		if cc == "" {
			cc, sub = "FR", "IDF"
		}
		want := b.want
		if want == "" {
			want = "failed"
		}
		g.add(testCase{name: "entry/" + b.name, key: t.vkey, code: code(cc, sub, uint64(i)), want: want}, files)
	}

	wrong := paris(0, func(e *entry.Entry) { e.Code.Index = 5 })
	one, err := newTree("bad.example/log", [][]byte{wrong})
	if err != nil {
		return err
	}
	files, err = one.publish(1)
	if err != nil {
		return err
	}
	g.add(testCase{name: "rule/an entry carrying another index's code", key: one.vkey, code: code("FR", "IDF", 0), want: "failed"}, files)
	g.add(testCase{name: "rule/that code itself", key: one.vkey, code: code("FR", "IDF", 5), want: "failed"}, files)
	return nil
}
