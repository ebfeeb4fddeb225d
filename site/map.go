package site

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"

	"github.com/citylog/citylog/site/worldmap"
)

// worldMap draws the allocated cities on a world map: countries shaded by
// their number of cities, and a dot for each map cell that holds located
// cities (cells, not cities: a log of a million cities draws a few
// thousand dots), followed by the shading's legend.
func (b *builder) worldMap() (template.HTML, error) {
	counts := make(map[string]int, len(b.m.Countries))
	located := 0
	for cc, st := range b.m.Countries {
		counts[cc] = st.Count
	}
	for cc, n := range b.m.Pending {
		counts[cc] += n
	}
	dots := make([]worldmap.Dot, 0, len(b.m.Cells))
	for key, n := range b.m.Cells {
		lat, lon, err := parseCellKey(key)
		if err != nil {
			return "", err
		}
		located += n
		dots = append(dots, worldmap.Dot{
			Lat: lat + cellDegrees/2, Lon: lon + cellDegrees/2, Count: n,
			Title: citiesText(uint64(n)) + " between " + degrees(lat, "N", "S") + " and " + degrees(lat+cellDegrees, "N", "S") +
				", " + degrees(lon, "E", "W") + " and " + degrees(lon+cellDegrees, "E", "W"),
		})
	}
	m := worldmap.Map{
		Title: "Where the allocated cities are",
		Desc: fmt.Sprintf("An equal-area world map: %d countries shaded by their number of cities; %s with a location drawn as dots, one for each %d° cell.",
			len(counts), citiesText(uint64(located)), cellDegrees),
		Countries: counts,
		CountryTitle: func(alpha2, name string, n int) string {
			if n == 0 {
				return countryName(alpha2) + ": no city yet"
			}
			return countryName(alpha2) + ": " + citiesText(uint64(n))
		},
		Dots: dots,
	}
	svg, err := m.SVG("map")
	if err != nil {
		return "", err
	}
	var s strings.Builder
	s.WriteString(svg)
	s.WriteString(`<ul class="legend" aria-label="Shading: cities per country">`)
	for _, c := range m.Legend() {
		text := groupDigits(uint64(c.Low))
		if c.High != c.Low {
			text += "–" + groupDigits(uint64(c.High))
		}
		fmt.Fprintf(&s, `<li><span class="swatch c%d"></span>%s</li>`, c.Shade, text)
	}
	s.WriteString(`<li><span class="swatch c0"></span>none</li><li><span class="swatch dot"></span>cities with a location</li></ul>`)
	return template.HTML(s.String()), nil
}

// parseCellKey reads back a cellKey.
func parseCellKey(key string) (lat, lon float64, err error) {
	a, o, ok := strings.Cut(key, ",")
	la, err1 := strconv.Atoi(a)
	lo, err2 := strconv.Atoi(o)
	if !ok || err1 != nil || err2 != nil || la < -90 || la >= 90 || lo < -180 || lo >= 180 {
		return 0, 0, fmt.Errorf("site meta holds a malformed map cell %q: %w", key, ErrDamaged)
	}
	return float64(la), float64(lo), nil
}

// degrees writes a latitude or longitude as 48°N or 2°W.
func degrees(v float64, pos, neg string) string {
	if v < 0 {
		return strconv.Itoa(int(math.Abs(v))) + "°" + neg
	}
	return strconv.Itoa(int(v)) + "°" + pos
}
