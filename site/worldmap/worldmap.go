// Package worldmap draws a world map as an SVG element: countries shaded by
// a count, dots sized by a count, each mark with a <title> that a reader's
// pointer or screen reader finds. The map is drawn once, when the site is
// generated, so it reads without script.
//
// The boundaries are Natural Earth's 1:110m countries (public domain) as
// packaged by world-atlas 2.0.2 (ISC), vendored in data/ with their
// provenance; the projection is Equal Earth, which is equal-area. Rings that
// cross the antimeridian (Fiji, Russia's Chukotka) are drawn whole on both
// sides and clipped to the sphere's outline, and Antarctica, which winds
// around the South Pole, is closed along it.
package worldmap

import (
	"cmp"
	_ "embed"
	"fmt"
	"html"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/biter777/countries"
)

// Width is the map's width in SVG user units; its height follows from the
// projection's aspect ratio.
const Width = 960

const pad = 2

// scale is user units per unit of the projected sphere.
var scale = (Width/2 - pad) / maxX

// Height is the map's height in SVG user units.
var Height = int(math.Ceil(2*maxY*scale)) + 2*pad

// toSVG maps a projected point to user units (SVG's y grows downwards).
func toSVG(x, y float64) (float64, float64) {
	return Width/2 + x*scale, float64(Height)/2 - y*scale
}

// A Dot is one mark on the map: a place and how many it stands for.
type Dot struct {
	Lat, Lon float64
	Count    int
	Title    string // the mark's <title>: what a reader sees on hover
}

// Map is what to draw.
type Map struct {
	Title, Desc string
	// Countries counts per ISO 3166-1 alpha-2 code; a country absent or at
	// zero is drawn unshaded.
	Countries map[string]int
	// CountryTitle names a country and its count for its <title>.
	CountryTitle func(alpha2, name string, count int) string
	Dots         []Dot
}

// outline is one country's path data: the boundaries never change, only
// the shading does.
type outline struct {
	alpha2, name string
	d            string
}

// drawOutlines draws every country's boundary from the embedded
// topology. Decoding it and projecting every point was a tenth of a site
// update's CPU, every update being a new process, so the map reads the
// outlines drawn once (data/outlines.tsv, which TestOutlinesFile keeps
// equal to what this draws; go generate writes it again).
func drawOutlines() ([]outline, error) {
	cs, err := loadCountries()
	if err != nil {
		return nil, err
	}
	out := make([]outline, 0, len(cs))
	for _, c := range cs {
		o := outline{name: c.name}
		if n, err := strconv.Atoi(c.numeric); err == nil {
			if a := countries.ByNumeric(n).Alpha2(); len(a) == 2 {
				o.alpha2 = a
			}
		}
		var d []byte
		for _, r := range c.rings {
			d = appendRing(d, r)
		}
		o.d = string(d)
		out = append(out, o)
	}
	return out, nil
}

//go:generate go test -run TestOutlinesFile -update

//go:embed data/outlines.tsv
var outlinesFile string

// marshalOutlines writes outlines as data/outlines.tsv holds them: a line
// each, its alpha-2 code (empty for the few territories without one),
// name and path data separated by tabs.
func marshalOutlines(os []outline) []byte {
	var b []byte
	for _, o := range os {
		b = fmt.Appendf(b, "%s\t%s\t%s\n", o.alpha2, o.name, o.d)
	}
	return b
}

// parseOutlines reads what marshalOutlines writes.
func parseOutlines(s string) ([]outline, error) {
	var out []outline
	for n := 1; s != ""; n++ {
		line, rest, ok := strings.Cut(s, "\n")
		f := strings.Split(line, "\t")
		if !ok || len(f) != 3 || f[2] == "" {
			return nil, fmt.Errorf("data/outlines.tsv: line %d is not a code, a name and a path (go generate ./site/worldmap writes the file again)", n)
		}
		out = append(out, outline{alpha2: f[0], name: f[1], d: f[2]})
		s = rest
	}
	return out, nil
}

var outlines = sync.OnceValues(func() ([]outline, error) { return parseOutlines(outlinesFile) })

// appendRing appends the path data of a ring: once where its unwrapped
// longitudes lie, and once more moved by 360° for each side of the
// antimeridian it reaches past, so the clip shows every part of it.
func appendRing(d []byte, ring [][2]float64) []byte {
	pts, lo, hi := unwrap(ring)
	for shift := -360.0; shift <= 360; shift += 360 {
		if hi+shift <= -180 || lo+shift >= 180 {
			continue
		}
		d = appendPath(d, pts, shift)
	}
	return d
}

// appendPath writes a closed subpath in tenths of a user unit, relative
// after the first point (about half the bytes of absolute coordinates),
// leaving out steps that round to nothing.
func appendPath(d []byte, pts [][2]float64, shift float64) []byte {
	start := len(d)
	var px, py int
	for i, p := range pts {
		x, y := toSVG(project(p[0]+shift, p[1]))
		ix, iy := int(math.Round(x*10)), int(math.Round(y*10))
		switch {
		case i == 0:
			d = append(d, 'M')
			d = appendTenths(d, ix)
			d = appendTenths(append(d, ' '), iy)
			d = append(d, 'l')
		case ix == px && iy == py:
			continue
		default:
			if d[len(d)-1] != 'l' {
				d = append(d, ' ')
			}
			d = appendTenths(d, ix-px)
			d = appendTenths(append(d, ' '), iy-py)
		}
		px, py = ix, iy
	}
	if d[len(d)-1] == 'l' {
		// A ring smaller than the drawing's resolution (an islet at
		// this scale): leave it out rather than write an empty step.
		return d[:start]
	}
	return append(d, 'z')
}

// appendTenths writes v/10 with at most one decimal.
func appendTenths(d []byte, v int) []byte {
	if v < 0 {
		d = append(d, '-')
		v = -v
	}
	d = strconv.AppendInt(d, int64(v/10), 10)
	if v%10 != 0 {
		d = append(d, '.', byte('0'+v%10))
	}
	return d
}

// Shades is the number of classes of country shading, c1 (fewest) to c5.
const Shades = 5

// A Class is one shade of the legend: the counts from Low to High.
type Class struct {
	Shade     int
	Low, High int
}

// Classes splits 1..peak into up to Shades classes of equal ratio (a log
// scale: counts per country span five orders of magnitude), leaving out
// classes that hold no integer.
func Classes(peak int) []Class {
	var out []Class
	low := 1
	for i := 1; i <= Shades && low <= peak; i++ {
		high := int(math.Floor(math.Pow(float64(peak)+1, float64(i)/Shades))) - 1
		if i == Shades {
			high = peak
		}
		if high < low {
			continue
		}
		out = append(out, Class{Shade: i, Low: low, High: high})
		low = high + 1
	}
	return out
}

// Legend is the map's shading: Classes of its largest country count.
func (m Map) Legend() []Class {
	peak := 0
	for _, n := range m.Countries {
		peak = max(peak, n)
	}
	return Classes(peak)
}

func shade(classes []Class, n int) int {
	if n <= 0 {
		return 0
	}
	for _, c := range classes {
		if n <= c.High {
			return c.Shade
		}
	}
	return 0
}

// SVG draws the map. Its ids are prefixed by id, so that a page may hold
// more than one.
func (m Map) SVG(id string) (string, error) {
	shapes, err := outlines()
	if err != nil {
		return "", err
	}
	classes := m.Legend()

	var s strings.Builder
	fmt.Fprintf(&s, `<svg class="map" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-title %s-desc">`, Width, Height, id, id)
	fmt.Fprintf(&s, `<title id="%s-title">%s</title><desc id="%s-desc">%s</desc>`, id, html.EscapeString(m.Title), id, html.EscapeString(m.Desc))
	sphere := string(appendSphere(nil))
	fmt.Fprintf(&s, `<defs><clipPath id="%s-clip"><path d="%s"/></clipPath></defs>`, id, sphere)
	fmt.Fprintf(&s, `<path class="sphere" d="%s"/><g class="countries" clip-path="url(#%s-clip)">`, sphere, id)
	for _, o := range shapes {
		n := m.Countries[o.alpha2]
		if o.alpha2 == "" {
			n = 0
		}
		title := o.name
		if m.CountryTitle != nil && o.alpha2 != "" {
			title = m.CountryTitle(o.alpha2, o.name, n)
		}
		fmt.Fprintf(&s, `<path class="c%d" d="%s"><title>%s</title></path>`, shade(classes, n), o.d, html.EscapeString(title))
	}
	s.WriteString(`</g><g class="dots">`)
	// The largest dots first, so that none hides a smaller one; the order
	// is total, so the same counts always draw the same bytes.
	dots := slices.Clone(m.Dots)
	slices.SortFunc(dots, func(a, b Dot) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Lat, b.Lat), cmp.Compare(a.Lon, b.Lon), strings.Compare(a.Title, b.Title))
	})
	for _, dot := range dots {
		x, y := toSVG(project(dot.Lon, dot.Lat))
		fmt.Fprintf(&s, `<circle cx="%.1f" cy="%.1f" r="%.1f"><title>%s</title></circle>`, x, y, dotRadius(dot.Count), html.EscapeString(dot.Title))
	}
	s.WriteString(`</g></svg>`)
	return s.String(), nil
}

// dotRadius grows with the logarithm of the count: a cell of a hundred
// thousand cities must not cover a country.
func dotRadius(n int) float64 {
	return 1.2 + 0.9*math.Log10(float64(max(n, 1)))
}

// appendSphere writes the outline of the whole projected sphere: the
// meridians ±180° from pole to pole.
func appendSphere(d []byte) []byte {
	var pts [][2]float64
	for lat := -90.0; lat <= 90; lat += 2.5 {
		pts = append(pts, [2]float64{180, lat})
	}
	for lat := 90.0; lat >= -90; lat -= 2.5 {
		pts = append(pts, [2]float64{-180, lat})
	}
	return appendPath(d, pts, 0)
}
