// Package idcode is the registry's code format and allocation rule:
// CC-SSS-NNNN-K, where the serial NNNN is the entry's leaf index in
// Crockford base32 and K is an ISO/IEC 7064 MOD 37,36 check character.
//
// Because the serial is the leaf index, a consistent log cannot hold two
// entries with one code, and a code names its entry without any index.
//
// With log/entry and log/idshard it is the registry's data model: pure
// functions, no I/O, shared by the writer and every verifier (cityverify,
// the monitor, the browser). They are the only packages under log/ that
// the verifier side may import (verifier.TestNoWriterImports).
package idcode

import (
	"errors"
	"fmt"
	"strings"
)

// MinSerialDigits is the shortest serial a canonical code carries.
const MinSerialDigits = 4

// crockford is the Crockford base32 alphabet: digits and upper-case letters
// without I, L, O and U.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// Code is one parsed, valid code.
type Code struct {
	Country     string // ISO 3166-1 alpha-2, upper case
	Subdivision string // ISO 3166-2 suffix, 1-3 of [A-Z0-9]
	Index       uint64 // leaf index in the log
}

// ErrMalformed is wrapped by every error about a string that is not shaped
// like a code at all.
var ErrMalformed = errors.New("malformed code")

// CheckError reports a well-formed code whose check character is wrong:
// almost always a typo, which callers should say instead of "not found".
type CheckError struct {
	Code     string // the code as given, upper-cased
	Got      byte
	Expected byte
}

func (e *CheckError) Error() string {
	return fmt.Sprintf("code %s has check character %c, expected %c: a character is probably mistyped", e.Code, e.Got, e.Expected)
}

// New returns the code for a leaf index, after checking the fields.
func New(country, subdivision string, index uint64) (Code, error) {
	c := Code{Country: country, Subdivision: subdivision, Index: index}
	if !isAlpha2(country) {
		return Code{}, fmt.Errorf("%w: country %q is not two letters A-Z", ErrMalformed, country)
	}
	if !isSubdivision(subdivision) {
		return Code{}, fmt.Errorf("%w: subdivision %q is not 1-3 of [A-Z0-9]", ErrMalformed, subdivision)
	}
	return c, nil
}

// String returns the canonical form, e.g. CN-HE-00AB-1.
func (c Code) String() string {
	return string(c.Append(make([]byte, 0, 24)))
}

// Append appends the canonical form to b; the writer's hot path uses it to
// avoid an allocation per entry.
func (c Code) Append(b []byte) []byte {
	start := len(b)
	b = append(b, c.Country...)
	b = append(b, '-')
	b = append(b, c.Subdivision...)
	b = append(b, '-')
	b = appendSerial(b, c.Index)
	b = append(b, '-')
	b = append(b, checkChar(b[start:]))
	return b
}

// Parse reads a code. It accepts lower case, surrounding spaces and, in
// the serial, the Crockford aliases O for 0 and I or L for 1. A wrong check
// character is reported as *CheckError; anything else as ErrMalformed.
func Parse(s string) (Code, error) {
	in := strings.ToUpper(strings.TrimSpace(s))
	// Cut, not Split: the site parses every entry's code, and a slice
	// of parts each was a tenth of what decoding an entry allocated.
	country, rest, ok1 := strings.Cut(in, "-")
	sub, rest, ok2 := strings.Cut(rest, "-")
	serial, check, ok3 := strings.Cut(rest, "-")
	if !ok1 || !ok2 || !ok3 || strings.Contains(check, "-") {
		return Code{}, fmt.Errorf("%w: %q does not have the form CC-SSS-NNNN-K (four parts separated by '-')", ErrMalformed, s)
	}
	if !isAlpha2(country) {
		return Code{}, fmt.Errorf("%w: %q: country %q is not two letters A-Z", ErrMalformed, s, country)
	}
	if !isSubdivision(sub) {
		return Code{}, fmt.Errorf("%w: %q: subdivision %q is not 1-3 of [A-Z0-9]", ErrMalformed, s, sub)
	}
	index, err := parseSerial(serial)
	if err != nil {
		return Code{}, fmt.Errorf("%w: %q: %v", ErrMalformed, s, err)
	}
	if len(check) != 1 || checkValue(check[0]) < 0 {
		return Code{}, fmt.Errorf("%w: %q: check character %q is not one of [0-9A-Z]", ErrMalformed, s, check)
	}
	c := Code{Country: country, Subdivision: sub, Index: index}
	var buf [32]byte
	canon := c.Append(buf[:0])
	if want := canon[len(canon)-1]; want != check[0] {
		return Code{}, &CheckError{Code: in, Got: check[0], Expected: want}
	}
	return c, nil
}

// CanonicalIndex returns the index that the serial of a code in canonical
// form (as String writes it) names, checking only that the serial is
// canonical: for reading back many codes a program wrote itself, where
// Parse's checks (and its copies) would cost more than the reading.
func CanonicalIndex(code string) (uint64, bool) {
	rest, ok := strings.CutSuffix(code[:max(len(code)-1, 0)], "-") // the check character
	if !ok {
		return 0, false
	}
	serial := rest[strings.LastIndexByte(rest, '-')+1:]
	index, err := parseSerial(serial)
	if err != nil {
		return 0, false
	}
	var buf [13]byte
	return index, string(appendSerial(buf[:0], index)) == serial
}

// CheckCharacter returns the ISO/IEC 7064 MOD 37,36 check character of s,
// which must consist of [0-9A-Z]; other characters are skipped (so the
// dashes of a code do not count).
func CheckCharacter(s string) byte { return checkChar([]byte(s)) }

func checkChar(b []byte) byte {
	p := uint8(36)
	for _, ch := range b {
		if v := charValue[ch]; v >= 0 {
			p = checkStep[p][v]
		}
	}
	return digitChar((37 - int(p)) % 36)
}

// checkStep[p][v] is the MOD 37,36 state after a character of value v
// from state p: (2*s) mod 37 where s = (p+v) mod 36, 0 read as 36. Every
// new code is checked on the writer's one sequencing goroutine, where the
// two divisions a character cost were 2% of an import's CPU.
var checkStep = func() (t [37][36]uint8) {
	for p := range 37 {
		for v := range 36 {
			s := (p + v) % 36
			if s == 0 {
				s = 36
			}
			t[p][v] = uint8(2 * s % 37)
		}
	}
	return t
}()

// charValue is checkValue for every byte.
var charValue = func() (t [256]int8) {
	for ch := range 256 {
		t[ch] = int8(checkValue(byte(ch)))
	}
	return t
}()

func checkValue(ch byte) int {
	switch {
	case ch >= '0' && ch <= '9':
		return int(ch - '0')
	case ch >= 'A' && ch <= 'Z':
		return int(ch-'A') + 10
	}
	return -1
}

func digitChar(v int) byte {
	if v < 10 {
		return byte('0' + v)
	}
	return byte('A' + v - 10)
}

func appendSerial(b []byte, index uint64) []byte {
	var buf [13]byte // 64 bits need at most 13 base32 digits
	i := len(buf)
	for index > 0 || i > len(buf)-MinSerialDigits {
		i--
		buf[i] = crockford[index&31]
		index >>= 5
	}
	return append(b, buf[i:]...)
}

func parseSerial(s string) (uint64, error) {
	if len(s) < MinSerialDigits {
		return 0, fmt.Errorf("serial %q has fewer than %d characters", s, MinSerialDigits)
	}
	if len(s) > MinSerialDigits && (s[0] == '0' || s[0] == 'O') {
		return 0, fmt.Errorf("serial %q has a leading zero beyond %d characters", s, MinSerialDigits)
	}
	if len(s) > 13 {
		return 0, fmt.Errorf("serial %q is too long", s)
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		d := serialValue(s[i])
		if d < 0 {
			return 0, fmt.Errorf("serial %q: %q is not a Crockford base32 digit", s, s[i])
		}
		if v > (^uint64(0))>>5 {
			return 0, fmt.Errorf("serial %q is too large", s)
		}
		v = v<<5 | uint64(d)
	}
	return v, nil
}

// serialValue maps an upper-case serial character, aliases included, to
// its value, or -1.
func serialValue(ch byte) int {
	switch ch {
	case 'O':
		return 0
	case 'I', 'L':
		return 1
	case 'U':
		return -1
	}
	if i := strings.IndexByte(crockford, ch); i >= 0 {
		return i
	}
	return -1
}

func isAlpha2(s string) bool {
	return len(s) == 2 && isUpper(s[0]) && isUpper(s[1])
}

func isSubdivision(s string) bool {
	if len(s) < 1 || len(s) > 3 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isUpper(s[i]) && !(s[i] >= '0' && s[i] <= '9') {
			return false
		}
	}
	return true
}

func isUpper(ch byte) bool { return ch >= 'A' && ch <= 'Z' }
