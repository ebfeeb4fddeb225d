// Package entry is the registry's data model: the allocation request a
// city submits, the rules it is checked against, and the canonical entry
// (leaf) the log records for it.
//
// With log/idcode and log/idshard it is pure (no I/O) and shared by the
// writer and every verifier, which must judge entries alike: they are the
// only packages under log/ that the verifier side may import.
package entry

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MaxRequestSize bounds one request (one line of an import file).
const MaxRequestSize = 16 << 10

// MaxNameLength is the longest name, in characters, after NFC.
const MaxNameLength = 200

// Request is one allocation request. After Rules.Normalize its fields
// are canonical: the name NFC and trimmed, identifiers canonical and
// sorted, the location rounded to 6 decimals.
type Request struct {
	Country     string
	Subdivision string
	Name        string
	IDs         []string
	HasLocation bool
	Lat, Lon    float64
}

// ErrInvalid is wrapped by every error about a request or entry that does
// not follow the rules.
var ErrInvalid = errors.New("invalid")

// ErrUnknownSubdivision is wrapped, beside ErrInvalid, by the error about
// a well-formed subdivision that these rules do not know: one a log's
// extra-subdivisions.txt may add. A verifier that has not read that file
// cannot call such an entry invalid.
var ErrUnknownSubdivision = errors.New("not in these rules' subdivisions")

// UnknownSubdivisionError is the ErrInvalid error about a well-formed
// subdivision the rules lack; it is also ErrUnknownSubdivision.
type UnknownSubdivisionError struct {
	Country, Subdivision string
	err                  error
}

func (e *UnknownSubdivisionError) Error() string        { return e.err.Error() }
func (e *UnknownSubdivisionError) Unwrap() error        { return e.err }
func (e *UnknownSubdivisionError) Is(target error) bool { return target == ErrUnknownSubdivision }

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// ParseRequest decodes one request object strictly: unknown or repeated
// fields, wrong types, invalid UTF-8 and trailing data are errors.
func ParseRequest(b []byte) (Request, error) {
	if len(b) > MaxRequestSize {
		return Request{}, invalid("request is %d bytes, more than %d", len(b), MaxRequestSize)
	}
	return ParseRequestString(string(b))
}

// ParseRequestString is ParseRequest for a request already in a string;
// its fields are substrings of it, so an import allocates once per line.
func ParseRequestString(b string) (Request, error) {
	if len(b) > MaxRequestSize {
		return Request{}, invalid("request is %d bytes, more than %d", len(b), MaxRequestSize)
	}
	var req Request
	var loc location
	s := scanner{src: b}
	err := s.object(func(key string) error {
		known, err := s.requestField(key, &req, &loc, true)
		if !known {
			return fmt.Errorf("unknown field %q (fields: country, subdivision, name, ids, lat, lon)", key)
		}
		return err
	})
	if err == nil {
		err = s.end()
	}
	if err != nil {
		return Request{}, invalid("request: %v", err)
	}
	if loc.lat != loc.lon {
		return Request{}, invalid("request: lat and lon go together; give both or neither")
	}
	req.HasLocation = loc.lat
	return req, nil
}

// location records which coordinates an object gave.
type location struct{ lat, lon bool }

// requestField reads one of the fields a request and an entry share into
// req, reporting whether key is one of them. nullable lets lat and lon be
// null (absent), as requests may say; entries omit them instead.
func (s *scanner) requestField(key string, req *Request, loc *location, nullable bool) (bool, error) {
	var err error
	switch key {
	case "country":
		req.Country, err = s.str()
	case "subdivision":
		req.Subdivision, err = s.str()
	case "name":
		req.Name, err = s.str()
	case "ids":
		req.IDs, err = s.strings(MaxIDs)
	case "lat", "lon":
		if nullable && s.null() {
			break
		}
		v, nerr := s.number()
		err = nerr
		if key == "lat" {
			req.Lat, loc.lat = v, true
		} else {
			req.Lon, loc.lon = v, true
		}
	default:
		return false, nil
	}
	if err != nil {
		return true, fmt.Errorf("field %q: %w", key, err)
	}
	return true, nil
}

// Normalize checks a request against the rules and puts it into
// canonical form in place.
func (r *Rules) Normalize(req *Request) error {
	if !r.Country(req.Country) {
		return invalid("country %q is not an ISO 3166-1 alpha-2 code (upper case, e.g. CN)", req.Country)
	}
	if !r.Subdivision(req.Country, req.Subdivision) {
		var err error
		if r.noSubs[req.Country] {
			err = invalid("subdivision %q: %s has no ISO 3166-2 subdivisions, use %q", req.Subdivision, req.Country, NoSubdivision)
		} else {
			err = invalid("subdivision %q is not an ISO 3166-2 subdivision of %s (the part after %s-, upper case)", req.Subdivision, req.Country, req.Country)
		}
		if req.Subdivision != NoSubdivision && validSubdivisionSyntax(req.Subdivision) {
			// Well formed: an operator may have published it as newer
			// than the data module.
			return &UnknownSubdivisionError{Country: req.Country, Subdivision: req.Subdivision, err: err}
		}
		return err
	}
	name, err := normalName(req.Name)
	if err != nil {
		return err
	}
	req.Name = name
	if len(req.IDs) == 0 || len(req.IDs) > MaxIDs {
		return invalid("ids: a city needs 1-%d identifiers, got %d", MaxIDs, len(req.IDs))
	}
	for i, id := range req.IDs {
		c, err := r.CanonicalID(req.Country, id)
		if err != nil {
			err = fmt.Errorf("%w: %v", ErrInvalid, err)
			if sub, ok := unknownSubdivisionID(r, req.Country, id); ok {
				// An identifier naming a well-formed subdivision these
				// rules lack: the log's extra-subdivisions.txt may list it,
				// as it may list an entry's own subdivision.
				return &UnknownSubdivisionError{Country: req.Country, Subdivision: sub, err: err}
			}
			return err
		}
		req.IDs[i] = c
	}
	sort.Strings(req.IDs)
	for i := 1; i < len(req.IDs); i++ {
		if req.IDs[i] == req.IDs[i-1] {
			return invalid("ids: %q is given twice", req.IDs[i])
		}
	}
	if req.HasLocation {
		if !(req.Lat >= -90 && req.Lat <= 90) || !(req.Lon >= -180 && req.Lon <= 180) {
			return invalid("location %v,%v is out of range (lat -90..90, lon -180..180)", req.Lat, req.Lon)
		}
		req.Lat, req.Lon = roundCoord(req.Lat), roundCoord(req.Lon)
	}
	return nil
}

// normalName trims and NFC-normalises a name and checks its length and
// characters.
func normalName(name string) (string, error) {
	n := strings.TrimSpace(name)
	if printableASCII(n) && len(n) >= 1 && len(n) <= MaxNameLength {
		return n, nil // NFC already, one character per byte, no control characters
	}
	if !norm.NFC.IsNormalString(n) {
		n = norm.NFC.String(n)
	}
	count := utf8.RuneCountInString(n)
	if count < 1 || count > MaxNameLength {
		return "", invalid("name has %d characters after trimming, want 1-%d", count, MaxNameLength)
	}
	for _, c := range n {
		if unicode.IsControl(c) || c == utf8.RuneError || unicode.Is(unicode.Cf, c) && c != '\u200d' && c != '\u200c' {
			return "", invalid("name contains the control or format character %U", c)
		}
	}
	return n, nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// roundCoord rounds to 6 decimals (about 0.1 m), the precision entries
// carry; it is idempotent, which canonical decoding relies on.
func roundCoord(v float64) float64 {
	r := math.Round(v*1e6) / 1e6
	if r == 0 {
		return 0 // no negative zero
	}
	return r
}

// unknownSubdivisionID reports an iso3166-2 identifier of country cc whose
// subdivision is well formed but not in r, and returns that subdivision.
func unknownSubdivisionID(r *Rules, cc, id string) (string, bool) {
	value, ok := strings.CutPrefix(id, "iso3166-2:")
	if !ok {
		return "", false
	}
	c, sub, ok := strings.Cut(strings.ToUpper(value), "-")
	if !ok || c != cc || sub == NoSubdivision || !validSubdivisionSyntax(sub) || r.Subdivision(c, sub) {
		return "", false
	}
	return sub, true
}
