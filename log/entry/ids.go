package entry

import (
	"fmt"
	"strings"
)

// MaxIDs is the most identifiers one city may submit.
const MaxIDs = 8

// Schemes lists the identifier schemes the registry accepts.
var Schemes = []string{"unlocode", "geonames", "iso3166-2", "national"}

// CanonicalID checks one identifier "scheme:value" of a city in country cc
// and returns its canonical spelling, which is what dedup compares.
func (r *Rules) CanonicalID(cc, id string) (string, error) {
	scheme, value, ok := strings.Cut(id, ":")
	if !ok {
		return "", fmt.Errorf("identifier %q is not scheme:value (schemes: %s)", id, strings.Join(Schemes, ", "))
	}
	switch scheme {
	case "unlocode":
		v := strings.ToUpper(value)
		if len(v) != 5 || v[:2] != cc || !locodeChars(v[2:]) {
			return "", fmt.Errorf("identifier %q: a UN/LOCODE is the country %s and 3 of [A-Z2-9], e.g. unlocode:%sABC", id, cc, cc)
		}
		return "unlocode:" + v, nil
	case "geonames":
		if len(value) < 1 || len(value) > 12 || value[0] == '0' || !digits(value) {
			return "", fmt.Errorf("identifier %q: a GeoNames id is 1-12 digits without a leading zero", id)
		}
		return id, nil
	case "iso3166-2":
		v := strings.ToUpper(value)
		c, sub, ok := strings.Cut(v, "-")
		if !ok || c != cc || sub == NoSubdivision || !r.Subdivision(c, sub) {
			return "", fmt.Errorf("identifier %q: not an ISO 3166-2 subdivision of %s", id, cc)
		}
		return "iso3166-2:" + v, nil
	case "national":
		country, rest, _ := strings.Cut(value, ":")
		authority, code, ok := strings.Cut(rest, ":")
		if !ok || country != cc || !nationalPart(authority) || !nationalPart(code) {
			return "", fmt.Errorf("identifier %q: want national:%s:<authority>:<code>, authority and code 1-32 of [A-Za-z0-9.-]", id, cc)
		}
		return id, nil
	}
	if lower := strings.ToLower(scheme); lower != scheme {
		return "", fmt.Errorf("identifier %q: schemes are lower case (%s)", id, lower)
	}
	return "", fmt.Errorf("identifier %q: unknown scheme %q (known: %s)", id, scheme, strings.Join(Schemes, ", "))
}

func locodeChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z') && !(c >= '2' && c <= '9') {
			return false
		}
	}
	return true
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func nationalPart(s string) bool {
	if len(s) < 1 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z') && !(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') && c != '.' && c != '-' {
			return false
		}
	}
	return true
}
