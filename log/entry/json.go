package entry

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner is a strict reader for the flat JSON objects of requests and
// entries. It is hand-written because encoding/json accepts duplicate keys
// and invalid UTF-8 (replacing it), and because one request must decode in
// well under a microsecond for imports to reach their target.
type scanner struct {
	src string // the input; fields without escapes are substrings of it, not copies
	pos int
}

func (s *scanner) errorf(format string, args ...any) error {
	return fmt.Errorf("at byte %d: "+format, append([]any{s.pos}, args...)...)
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.src) {
		switch s.src[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// expect consumes c after optional white space.
func (s *scanner) expect(c byte) error {
	s.skipSpace()
	if s.pos >= len(s.src) {
		return s.errorf("unexpected end of input, want %q", c)
	}
	if s.src[s.pos] != c {
		return s.errorf("found %q, want %q", s.src[s.pos], c)
	}
	s.pos++
	return nil
}

// peek returns the next non-space byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.skipSpace()
	if s.pos >= len(s.src) {
		return 0
	}
	return s.src[s.pos]
}

// maxFields bounds the keys one object may have; requests and entries
// have at most 9.
const maxFields = 16

// object calls field for each key of an object, rejecting repeated keys.
func (s *scanner) object(field func(key string) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	if s.peek() == '}' {
		s.pos++
		return nil
	}
	var seen [maxFields]string
	n := 0
	for {
		key, err := s.str()
		if err != nil {
			return err
		}
		for _, k := range seen[:n] {
			if k == key {
				return fmt.Errorf("duplicate field %q", key)
			}
		}
		if n == maxFields {
			return fmt.Errorf("more than %d fields", maxFields)
		}
		seen[n] = key
		n++
		if err := s.expect(':'); err != nil {
			return err
		}
		s.skipSpace()
		if err := field(key); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return nil
		default:
			return s.errorf("want ',' or '}' after field %q", key)
		}
	}
}

// end checks that only white space follows.
func (s *scanner) end() error {
	if s.peek() != 0 {
		return s.errorf("unexpected data after the object")
	}
	return nil
}

var errNotString = errors.New("not a string")

// str reads a string, which must be valid UTF-8 without raw control
// characters.
func (s *scanner) str() (string, error) {
	if s.peek() != '"' {
		return "", errNotString
	}
	start := s.pos + 1
	var high byte // the OR of every byte: below 0x80, the string is ASCII
	for i := start; i < len(s.src); i++ {
		c := s.src[i]
		high |= c
		switch {
		case c == '"':
			raw := s.src[start:i]
			s.pos = i + 1
			if high >= 0x80 && !utf8.ValidString(raw) {
				return "", fmt.Errorf("string is not valid UTF-8")
			}
			return raw, nil
		case c == '\\':
			s.pos = i
			return s.strSlow(start)
		case c < 0x20:
			s.pos = i
			return "", s.errorf("raw control character %#x in a string", c)
		}
	}
	s.pos = len(s.src)
	return "", s.errorf("unterminated string")
}

func (s *scanner) strSlow(start int) (string, error) {
	out := []byte(s.src[start:s.pos])
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		switch {
		case c == '"':
			s.pos++
			if !utf8.Valid(out) {
				return "", fmt.Errorf("string is not valid UTF-8")
			}
			return string(out), nil
		case c < 0x20:
			return "", s.errorf("raw control character %#x in a string", c)
		case c != '\\':
			out = append(out, c)
			s.pos++
			continue
		}
		if s.pos+1 >= len(s.src) {
			break
		}
		e := s.src[s.pos+1]
		s.pos += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, err := s.hex4()
			if err != nil {
				return "", err
			}
			if utf16.IsSurrogate(r) {
				if s.pos+1 < len(s.src) && s.src[s.pos] == '\\' && s.src[s.pos+1] == 'u' {
					s.pos += 2
					r2, err := s.hex4()
					if err != nil {
						return "", err
					}
					r = utf16.DecodeRune(r, r2)
				} else {
					r = utf8.RuneError
				}
				if r == utf8.RuneError {
					return "", s.errorf("unpaired UTF-16 surrogate in a \\u escape")
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", s.errorf("invalid escape \\%c", e)
		}
	}
	return "", s.errorf("unterminated string")
}

func (s *scanner) hex4() (rune, error) {
	if s.pos+4 > len(s.src) {
		return 0, s.errorf("short \\u escape")
	}
	v, err := strconv.ParseUint(s.src[s.pos:s.pos+4], 16, 32)
	if err != nil {
		return 0, s.errorf("invalid \\u escape %q", s.src[s.pos:s.pos+4])
	}
	s.pos += 4
	return rune(v), nil
}

// strings reads an array of strings.
func (s *scanner) strings(max int) ([]string, error) {
	if err := s.expect('['); err != nil {
		return nil, fmt.Errorf("not an array of strings")
	}
	out := make([]string, 0, 4)
	if s.peek() == ']' {
		s.pos++
		return out, nil
	}
	for {
		v, err := s.str()
		if err != nil {
			return nil, fmt.Errorf("element %d: %w", len(out), err)
		}
		if len(out) == max {
			return nil, fmt.Errorf("more than %d elements", max)
		}
		out = append(out, v)
		switch s.peek() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return out, nil
		default:
			return nil, s.errorf("want ',' or ']' in an array")
		}
	}
}

// null consumes a JSON null if one is next.
func (s *scanner) null() bool {
	if s.peek() == 'n' && s.pos+4 <= len(s.src) && s.src[s.pos:s.pos+4] == "null" {
		s.pos += 4
		return true
	}
	return false
}

// number reads a JSON number.
func (s *scanner) number() (float64, error) {
	s.skipSpace()
	start := s.pos
	neg := s.pos < len(s.src) && s.src[s.pos] == '-'
	if neg {
		s.pos++
	}
	// mant collects the digits while they are few enough to be exact.
	var mant uint64
	digits := func() int {
		n := 0
		for s.pos < len(s.src) && s.src[s.pos] >= '0' && s.src[s.pos] <= '9' {
			mant = mant*10 + uint64(s.src[s.pos]-'0') // wraps past 19 digits: then unused
			s.pos++
			n++
		}
		return n
	}
	intStart := s.pos
	intDigits := digits()
	if intDigits == 0 || (intDigits > 1 && s.src[intStart] == '0') {
		return 0, fmt.Errorf("not a JSON number")
	}
	frac := 0
	if s.pos < len(s.src) && s.src[s.pos] == '.' {
		s.pos++
		if frac = digits(); frac == 0 {
			return 0, fmt.Errorf("not a JSON number")
		}
	}
	exact := intDigits+frac <= 15 // so mant < 2^53: an exact float64
	if s.pos < len(s.src) && (s.src[s.pos] == 'e' || s.src[s.pos] == 'E') {
		exact = false
		s.pos++
		if s.pos < len(s.src) && (s.src[s.pos] == '+' || s.src[s.pos] == '-') {
			s.pos++
		}
		if digits() == 0 {
			return 0, fmt.Errorf("not a JSON number")
		}
	}
	if exact {
		// A coordinate such as 38.0412: mant and 10^frac are exact
		// doubles and division rounds correctly, so this is the double
		// nearest the decimal, as strconv.ParseFloat gives it, without
		// its general parse (a tenth of a request line's parsing).
		v := float64(mant) / pow10[frac]
		if neg {
			v = -v
		}
		return v, nil
	}
	v, err := strconv.ParseFloat(s.src[start:s.pos], 64)
	if err != nil {
		return 0, fmt.Errorf("number %s is out of range", s.src[start:s.pos])
	}
	return v, nil
}

// pow10 holds the powers of ten that are exact doubles.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// integer reads a non-negative decimal integer without leading zeros.
func (s *scanner) integer() (uint64, error) {
	s.skipSpace()
	start := s.pos
	for s.pos < len(s.src) && s.src[s.pos] >= '0' && s.src[s.pos] <= '9' {
		s.pos++
	}
	txt := s.src[start:s.pos]
	v, err := strconv.ParseUint(txt, 10, 64)
	if err != nil || strconv.FormatUint(v, 10) != txt {
		return 0, fmt.Errorf("not a non-negative integer")
	}
	return v, nil
}

// appendString appends s as a JSON string in the canonical form: only '"',
// '\\' and control characters are escaped (the latter never occur in valid
// fields, but the encoder must not emit invalid JSON for any input).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	plain := 0 // s[plain:i] needs no escaping: copied in one go
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[plain:i]...)
		plain = i + 1
		if c < 0x20 {
			b = append(b, `\u00`...)
			b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
		} else {
			b = append(b, '\\', c)
		}
	}
	b = append(b, s[plain:]...)
	return append(b, '"')
}
