package entry

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/citylog/citylog/log/idcode"
)

var rules = DefaultRules()

const sample = `{"country":"CN","subdivision":"HE","name":"Shijiazhuang","ids":["unlocode:CNSJW","geonames:1795270"],"lat":38.04,"lon":114.51}`

func TestParseRequestSample(t *testing.T) {
	req, err := ParseRequest([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if err := rules.Normalize(&req); err != nil {
		t.Fatal(err)
	}
	want := Request{"CN", "HE", "Shijiazhuang", []string{"geonames:1795270", "unlocode:CNSJW"}, true, 38.04, 114.51}
	if req.Country != want.Country || req.Subdivision != want.Subdivision || req.Name != want.Name ||
		strings.Join(req.IDs, ",") != strings.Join(want.IDs, ",") || req.Lat != want.Lat || req.Lon != want.Lon || !req.HasLocation {
		t.Errorf("got %+v, want %+v", req, want)
	}
}

func TestParseRequestRejects(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"not json", `country=CN`, "want '{'"},
		{"empty", ``, "end of input"},
		{"unknown field", `{"country":"CN","colour":"red"}`, `unknown field "colour"`},
		{"duplicate key", `{"name":"a","name":"b"}`, `duplicate field "name"`},
		{"wrong type", `{"name":5}`, `field "name"`},
		{"ids not array", `{"ids":"geonames:1"}`, `field "ids"`},
		{"lat string", `{"lat":"1","lon":2}`, `field "lat"`},
		{"trailing", `{"name":"a"} {}`, "unexpected data"},
		{"trailing comma", `{"name":"a",}`, "not a string"},
		{"invalid utf8", "{\"name\":\"\xff\"}", "UTF-8"},
		{"raw control", "{\"name\":\"a\x01\"}", "control character"},
		{"bad escape", `{"name":"\x"}`, "invalid escape"},
		{"lone surrogate", `{"name":"\ud800"}`, "surrogate"},
		{"unterminated", `{"name":"a`, "unterminated"},
		{"too many ids", `{"ids":["a","b","c","d","e","f","g","h","i"]}`, "more than 8"},
		{"lat without lon", `{"lat":1}`, "lat and lon"},
		{"leading zero number", `{"lat":01,"lon":1}`, "number"},
		{"oversize", `{"name":"` + strings.Repeat("a", MaxRequestSize) + `"}`, "more than"},
		{"nested", `{"name":{"a":1}}`, `field "name"`},
	} {
		_, err := ParseRequest([]byte(tc.in))
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: ParseRequest(%.40q) = %v, want ErrInvalid mentioning %q", tc.name, tc.in, err, tc.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	base := func() Request {
		return Request{Country: "CN", Subdivision: "HE", Name: "Shijiazhuang", IDs: []string{"geonames:1795270"}}
	}
	for _, tc := range []struct {
		name string
		edit func(*Request)
		want string // "" = valid
	}{
		{"ok", func(r *Request) {}, ""},
		{"newer subdivision in module", func(r *Request) { r.Country, r.Subdivision = "FR", "ARA" }, ""},
		{"IN-TG", func(r *Request) { r.Country, r.Subdivision = "IN", "TG" }, ""},
		{"no subdivisions", func(r *Request) { r.Country, r.Subdivision = "VA", "0" }, ""},
		{"no subdivisions wrong", func(r *Request) { r.Country, r.Subdivision = "VA", "VA" }, `use "0"`},
		{"zero where subdivisions exist", func(r *Request) { r.Subdivision = "0" }, "not an ISO 3166-2 subdivision of CN"},
		{"fake country", func(r *Request) { r.Country = "ZZ" }, "not an ISO 3166-1"},
		{"lower country", func(r *Request) { r.Country = "cn" }, "not an ISO 3166-1"},
		{"fake subdivision", func(r *Request) { r.Subdivision = "ZZ" }, "not an ISO 3166-2 subdivision of CN"},
		{"empty name", func(r *Request) { r.Name = "  " }, "name has 0"},
		{"long name", func(r *Request) { r.Name = strings.Repeat("é", 201) }, "name has 201"},
		{"control in name", func(r *Request) { r.Name = "a\u0007b" }, "control"},
		{"no ids", func(r *Request) { r.IDs = nil }, "1-8 identifiers"},
		{"unknown scheme", func(r *Request) { r.IDs = []string{"wikidata:Q1"} }, "unknown scheme"},
		{"upper scheme", func(r *Request) { r.IDs = []string{"GEONAMES:1"} }, "lower case"},
		{"no colon", func(r *Request) { r.IDs = []string{"1795270"} }, "scheme:value"},
		{"locode other country", func(r *Request) { r.IDs = []string{"unlocode:FRPAR"} }, "UN/LOCODE"},
		{"locode bad char", func(r *Request) { r.IDs = []string{"unlocode:CNSJ1"} }, "UN/LOCODE"},
		{"geonames leading zero", func(r *Request) { r.IDs = []string{"geonames:01"} }, "GeoNames"},
		{"iso3166-2 fake", func(r *Request) { r.IDs = []string{"iso3166-2:CN-ZZ"} }, "not an ISO 3166-2"},
		{"national other country", func(r *Request) { r.IDs = []string{"national:FR:insee:75056"} }, "national:CN"},
		{"national bad char", func(r *Request) { r.IDs = []string{"national:CN:gb/t:1"} }, "national:CN"},
		{"duplicate id", func(r *Request) { r.IDs = []string{"unlocode:CNSJW", "unlocode:cnsjw"} }, "given twice"},
		{"lat range", func(r *Request) { r.HasLocation, r.Lat = true, 91 }, "out of range"},
		{"lon range", func(r *Request) { r.HasLocation, r.Lon = true, -180.5 }, "out of range"},
	} {
		req := base()
		tc.edit(&req)
		err := rules.Normalize(&req)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: err = %v, want ErrInvalid mentioning %q", tc.name, err, tc.want)
		}
	}
}

func TestNormalizeCanonicalises(t *testing.T) {
	req := Request{Country: "DE", Subdivision: "BY", Name: "  Mu\u0308nchen ", HasLocation: true, Lat: 48.1371234567, Lon: -0.0000001,
		IDs: []string{"unlocode:demuc", "iso3166-2:de-by", "national:DE:destatis:09162000"}}
	if err := rules.Normalize(&req); err != nil {
		t.Fatal(err)
	}
	if req.Name != "München" || strings.Join(req.IDs, " ") != "iso3166-2:DE-BY national:DE:destatis:09162000 unlocode:DEMUC" ||
		req.Lat != 48.137123 || req.Lon != 0 {
		t.Errorf("got %+v", req)
	}
}

func TestExtraSubdivisions(t *testing.T) {
	r := DefaultRules()
	if r.Subdivision("CN", "XQ") {
		t.Fatal("CN-XQ exists before it is added")
	}
	if err := r.ParseExtraSubdivisions([]byte("# newer than the module\nCN-XQ\n\nFR-ZZ9\n")); err != nil {
		t.Fatal(err)
	}
	if !r.Subdivision("CN", "XQ") || !r.Subdivision("FR", "ZZ9") || strings.Join(r.Extra(), ",") != "CN-XQ,FR-ZZ9" {
		t.Errorf("extras not applied: %v", r.Extra())
	}
	for _, bad := range []string{"CN", "ZZ-AB", "CN-ABCD", "CN-0", "cn-ab"} {
		if err := DefaultRules().ParseExtraSubdivisions([]byte(bad)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("extra %q: err = %v", bad, err)
		}
	}
}

func sampleEntry(t *testing.T) Entry {
	req, err := ParseRequest([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if err := rules.Normalize(&req); err != nil {
		t.Fatal(err)
	}
	code, _ := idcode.New("CN", "HE", 331)
	return Entry{Request: req, Code: code, Time: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
}

func TestEntryEncoding(t *testing.T) {
	e := sampleEntry(t)
	got := string(e.AppendJSON(nil))
	want := `{"v":1,"code":"CN-HE-00AB-1","country":"CN","subdivision":"HE","name":"Shijiazhuang","ids":["geonames:1795270","unlocode:CNSJW"],"lat":38.04,"lon":114.51,"time":"2026-11-25T10:00:00Z"}`
	if got != want {
		t.Fatalf("AppendJSON:\n got %s\nwant %s", got, want)
	}
	if !json.Valid([]byte(got)) {
		t.Fatal("not valid JSON")
	}
	back, err := rules.Decode([]byte(got))
	if err != nil {
		t.Fatal(err)
	}
	if string(back.AppendJSON(nil)) != got {
		t.Error("decode/encode not stable")
	}
	e.Name = `Quote " and \ back`
	e.HasLocation = false
	if _, err := rules.Decode(e.AppendJSON(nil)); err != nil {
		t.Errorf("escaped name: %v", err)
	}
}

func TestDecodeRejectsNonCanonical(t *testing.T) {
	e := sampleEntry(t)
	canon := string(e.AppendJSON(nil))
	for _, tc := range []struct{ name, in, want string }{
		{"space", strings.Replace(canon, `"v":1,`, `"v": 1,`, 1), "canonical"},
		{"key order", strings.Replace(canon, `"country":"CN","subdivision":"HE"`, `"subdivision":"HE","country":"CN"`, 1), "canonical"},
		{"escaped slash", strings.Replace(canon, `Shijiazhuang`, `Shi\/jiazhuang`, 1), "canonical"},
		{"unsorted ids", strings.Replace(canon, `"geonames:1795270","unlocode:CNSJW"`, `"unlocode:CNSJW","geonames:1795270"`, 1), "canonical"},
		{"lat precision", strings.Replace(canon, `38.04`, `38.040`, 1), "canonical"},
		{"lat rounding", strings.Replace(canon, `38.04`, `38.0400001`, 1), "canonical"},
		{"exponent", strings.Replace(canon, `38.04`, `3.804e1`, 1), "canonical"},
		{"wrong check", strings.Replace(canon, `00AB-1`, `00AB-2`, 1), "check character"},
		{"code other country", strings.Replace(canon, `"country":"CN"`, `"country":"FR"`, 1), "does not match"},
		{"version", strings.Replace(canon, `"v":1`, `"v":2`, 1), "version 2"},
		{"time", strings.Replace(canon, `10:00:00Z`, `10:00:00+00:00`, 1), "time"},
		{"unknown field", strings.Replace(canon, `{"v":1,`, `{"v":1,"x":1,`, 1), "unknown field"},
		{"non-NFC name", strings.Replace(canon, `Shijiazhuang`, "Mu\u0308nchen", 1), "canonical"},
		{"bad id", strings.Replace(canon, `geonames:1795270`, `geonames:x`, 1), "GeoNames"},
		{"truncated", canon[:len(canon)-5], "unterminated"},
	} {
		_, err := rules.Decode([]byte(tc.in))
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Decode = %v, want ErrInvalid mentioning %q", tc.name, err, tc.want)
		}
	}
}

// FuzzParseRequest checks the hand-written parser against encoding/json:
// whatever we accept, encoding/json must read the same way.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{sample, `{}`, `{"name":"\u00e9\ud83d\ude00"}`, `{"lat":-0.5e-3,"lon":null}`, `{"ids":[]}`, `{"name":"a\"b\\c\/"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := ParseRequest(b)
		if err != nil {
			return
		}
		var ref struct {
			Country, Subdivision, Name string
			IDs                        []string `json:"ids"`
			Lat, Lon                   *float64
		}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ref); err != nil {
			t.Fatalf("we accepted %q, encoding/json rejects it: %v", b, err)
		}
		if ref.Country != req.Country || ref.Name != req.Name || strings.Join(ref.IDs, "\x00") != strings.Join(req.IDs, "\x00") ||
			(ref.Lat != nil) != req.HasLocation || (ref.Lat != nil && (*ref.Lat != req.Lat || *ref.Lon != req.Lon)) {
			t.Fatalf("%q: we read %+v, encoding/json %+v", b, req, ref)
		}
		if err := rules.Normalize(&req); err != nil {
			return
		}
		e := Entry{Request: req, Code: idcode.Code{Country: req.Country, Subdivision: req.Subdivision, Index: 7}, Time: time.Unix(1e9, 0)}
		enc := e.AppendJSON(nil)
		back, err := rules.Decode(enc)
		if err != nil {
			t.Fatalf("entry of a valid request does not decode: %v\n%s", err, enc)
		}
		if string(back.AppendJSON(nil)) != string(enc) {
			t.Fatalf("entry not stable: %s", enc)
		}
	})
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"v":1,"code":"CN-HE-00AB-1","country":"CN","subdivision":"HE","name":"Shijiazhuang","ids":["geonames:1795270","unlocode:CNSJW"],"lat":38.04,"lon":114.51,"time":"2026-11-25T10:00:00Z"}`))
	f.Add([]byte(`{"v":1,"code":"VA-0-0000-0","country":"VA","subdivision":"0","name":"x","ids":["geonames:1"],"time":"2026-11-25T10:00:00Z"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := rules.Decode(b)
		if err != nil {
			return
		}
		if string(e.AppendJSON(nil)) != string(b) {
			t.Fatalf("accepted non-canonical entry %q", b)
		}
	})
}

// TestAppendCoord: the fast path must write exactly what strconv writes,
// for every value Normalize can leave and for values it would not.
func TestAppendCoord(t *testing.T) {
	vals := []float64{0, 1, -1, 0.5, -0.5, 38.04, 114.51, -90, 90, 180, -180, 0.000001, -0.000001,
		12.345678, -179.999999, 1e-7, 3.14159265358979, 1e300, math.Inf(1), math.NaN(), math.Copysign(0, -1)}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		vals = append(vals, roundCoord(r.Float64()*360-180), roundCoord(r.Float64()*180-90), r.NormFloat64()*100)
	}
	for _, v := range vals {
		want := strconv.AppendFloat(nil, v, 'f', -1, 64)
		if got := appendCoord(nil, v); string(got) != string(want) {
			t.Fatalf("appendCoord(%v) = %s, strconv says %s", v, got, want)
		}
	}
}

// FuzzParseExtraSubdivisions: the operator's file never panics the
// parser, and every subdivision of a file it accepts is then valid.
func FuzzParseExtraSubdivisions(f *testing.F) {
	f.Add([]byte("# newer than the module\nCN-XQ\n\nFR-ZZ9\n"))
	f.Add([]byte("CN-0\n"))
	f.Add([]byte(" US-CA \r\n#x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := DefaultRules()
		if err := r.ParseExtraSubdivisions(b); err != nil {
			return
		}
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			cc, sub, _ := strings.Cut(line, "-")
			if !r.Subdivision(cc, sub) {
				t.Fatalf("accepted %q but %s-%s is not a subdivision", b, cc, sub)
			}
		}
	})
}

// TestNumberMatchesParseFloat: the scanner's exact fast path for short
// decimals gives, bit for bit, what strconv.ParseFloat gives, and longer
// numbers or exponents still go through it.
func TestNumberMatchesParseFloat(t *testing.T) {
	cases := []string{"0", "-0", "0.1", "0.5", "38.0412", "-90", "180", "179.999999", "-0.000001",
		"123456789012345", "12345678901234.5", "0.00000000000001", "1234567890123456", "9007199254740993",
		"0.1234567890123456789", "1e2", "1.5E-3", "-2.5e+1", "89.99999999999999"}
	r := rand.New(rand.NewPCG(3, 4))
	for range 50000 {
		intPart := strconv.FormatUint(r.Uint64N(1000), 10)
		frac := ""
		for range r.IntN(16) {
			frac += strconv.Itoa(r.IntN(10))
		}
		s := intPart
		if frac != "" {
			s += "." + frac
		}
		if r.IntN(2) == 0 {
			s = "-" + s
		}
		cases = append(cases, s)
	}
	for _, c := range cases {
		sc := scanner{src: c}
		got, err := sc.number()
		want, werr := strconv.ParseFloat(c, 64)
		if err != nil || werr != nil || math.Float64bits(got) != math.Float64bits(want) || sc.pos != len(c) {
			t.Fatalf("number(%q) = %v (%#x), %v; strconv: %v (%#x), %v", c, got, math.Float64bits(got), err, want, math.Float64bits(want), werr)
		}
	}
}

// TestUnknownSubdivision: only a well-formed subdivision that the rules
// lack is ErrUnknownSubdivision (a log's extra-subdivisions.txt may add it);
// every other subdivision error is plainly invalid. Adding it to the rules
// makes the same request valid.
func TestUnknownSubdivision(t *testing.T) {
	for _, tc := range []struct {
		country, sub string
		unknown      bool
	}{
		{"CN", "XQ", true},
		{"FR", "ZZZ", true},
		{"VA", "X1", true},
		{"CN", "0", false}, // CN has subdivisions
		{"CN", "toolong", false},
		{"CN", "x-", false},
	} {
		req := Request{Country: tc.country, Subdivision: tc.sub, Name: "Test", IDs: []string{"geonames:1"}}
		err := DefaultRules().Normalize(&req)
		if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrUnknownSubdivision) != tc.unknown {
			t.Errorf("%s-%s: %v; want ErrInvalid, ErrUnknownSubdivision %v", tc.country, tc.sub, err, tc.unknown)
		}
		if !tc.unknown {
			continue
		}
		r := DefaultRules()
		if err := r.ParseExtraSubdivisions([]byte(tc.country + "-" + tc.sub + "\n")); err != nil {
			t.Fatal(err)
		}
		req = Request{Country: tc.country, Subdivision: tc.sub, Name: "Test", IDs: []string{"geonames:1"}}
		if err := r.Normalize(&req); err != nil {
			t.Errorf("%s-%s with the extra subdivision: %v", tc.country, tc.sub, err)
		}
	}
}

// TestUnknownSubdivisionIdentifier: an iso3166-2 identifier naming a
// well-formed subdivision the rules lack is ErrUnknownSubdivision too, so
// that a verifier judges it by the log's extra subdivisions, as the
// writer did; any other bad identifier is plainly invalid.
func TestUnknownSubdivisionIdentifier(t *testing.T) {
	for _, tc := range []struct {
		id      string
		unknown bool
	}{
		{"iso3166-2:CN-XQ", true},
		{"iso3166-2:cn-xq", true},
		{"iso3166-2:FR-XQ", false}, // another country's
		{"iso3166-2:CN-0", false},
		{"iso3166-2:CN-TOOLONG", false},
		{"unlocode:CNXQ1", false},
	} {
		req := Request{Country: "CN", Subdivision: "HE", Name: "Test", IDs: []string{tc.id}}
		err := DefaultRules().Normalize(&req)
		if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrUnknownSubdivision) != tc.unknown {
			t.Errorf("%s: %v; want ErrInvalid, ErrUnknownSubdivision %v", tc.id, err, tc.unknown)
		}
	}
	r := DefaultRules()
	if err := r.ParseExtraSubdivisions([]byte("CN-XQ\n")); err != nil {
		t.Fatal(err)
	}
	req := Request{Country: "CN", Subdivision: "HE", Name: "Test", IDs: []string{"iso3166-2:CN-XQ"}}
	if err := r.Normalize(&req); err != nil {
		t.Errorf("with CN-XQ among the extra subdivisions: %v", err)
	}
}
