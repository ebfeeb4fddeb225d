package entry

import (
	"bufio"
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/biter777/countries"
)

// NoSubdivision is the subdivision of a country that has no ISO 3166-2
// subdivisions in the data module (e.g. VA, MC, GI).
const NoSubdivision = "0"

// Rules holds the reference data a request is checked against: the ISO
// 3166-1 countries and ISO 3166-2 subdivisions of the data module, plus
// the subdivisions the operator published as newer than the module. The
// writer and every auditor must use the same Rules to agree on validity.
type Rules struct {
	countries    map[string]bool
	subdivisions map[subdivision]bool
	noSubs       map[string]bool // countries the module lists no subdivisions for
	extra        []string        // operator-added, sorted
}

// subdivision keys Rules.subdivisions: two strings, so that a lookup
// builds no "CC-SSS" string.
type subdivision struct{ cc, sub string }

// DefaultRules returns the rules of the data module alone.
func DefaultRules() *Rules {
	r := &Rules{
		countries:    map[string]bool{},
		subdivisions: map[subdivision]bool{},
		noSubs:       map[string]bool{},
	}
	for _, c := range countries.All() {
		a2 := c.Alpha2()
		if len(a2) != 2 {
			continue
		}
		r.countries[a2] = true
		r.noSubs[a2] = true
	}
	for _, s := range countries.AllSubdivisions() {
		code := string(s) // the ISO code, e.g. "DE-BE"; String() is the name
		cc, sub, ok := strings.Cut(code, "-")
		if !ok || !r.countries[cc] || !validSubdivisionSyntax(sub) {
			continue
		}
		r.subdivisions[subdivision{cc, sub}] = true
		delete(r.noSubs, cc)
	}
	return r
}

// ParseExtraSubdivisions reads the operator's file of subdivisions newer
// than the data module: one CC-SSS per line; blank lines and lines starting
// with # are ignored. The file is published with the log so auditors
// apply the same rule.
func (r *Rules) ParseExtraSubdivisions(data []byte) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cc, sub, ok := strings.Cut(line, "-")
		if !ok || !r.countries[cc] || !validSubdivisionSyntax(sub) || sub == NoSubdivision {
			return fmt.Errorf("extra subdivisions, line %d: %q is not CC-SSS with CC an ISO 3166-1 country and SSS 1-3 of [A-Z0-9]", n, line)
		}
		if !r.subdivisions[subdivision{cc, sub}] {
			r.subdivisions[subdivision{cc, sub}] = true
			r.extra = append(r.extra, line)
		}
	}
	sort.Strings(r.extra)
	if err := sc.Err(); err != nil {
		return fmt.Errorf("extra subdivisions: %w (one CC-SSS per line)", err)
	}
	return nil
}

// Extra returns the operator-added subdivisions, sorted.
func (r *Rules) Extra() []string { return append([]string(nil), r.extra...) }

// Country reports whether cc is an ISO 3166-1 alpha-2 code.
func (r *Rules) Country(cc string) bool { return r.countries[cc] }

// Subdivision reports whether sub is a valid subdivision of country cc.
func (r *Rules) Subdivision(cc, sub string) bool {
	if sub == NoSubdivision {
		return r.noSubs[cc]
	}
	return r.subdivisions[subdivision{cc, sub}]
}

func validSubdivisionSyntax(s string) bool {
	if len(s) < 1 || len(s) > 3 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
