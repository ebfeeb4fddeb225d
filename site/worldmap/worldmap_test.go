package worldmap

import (
	"encoding/xml"
	"flag"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "write data/outlines.tsv again from the topology")

// TestOutlinesFile: the outlines the map reads are those the embedded
// topology draws (go generate, that is go test -run TestOutlinesFile
// -update, writes them again after the topology or the drawing changed).
func TestOutlinesFile(t *testing.T) {
	drawn, err := drawOutlines()
	if err != nil {
		t.Fatal(err)
	}
	want := marshalOutlines(drawn)
	if *update {
		if err := os.WriteFile("data/outlines.tsv", want, 0o644); err != nil {
			t.Fatal(err)
		}
		return // the binary embeds the file as it was: run the test again to check it
	}
	if outlinesFile != string(want) {
		t.Fatal("data/outlines.tsv is not what the topology draws: run go generate ./site/worldmap")
	}
	read, err := parseOutlines(outlinesFile)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(read, drawn) {
		t.Errorf("data/outlines.tsv reads as %d outlines, not the %d drawn", len(read), len(drawn))
	}
	for _, bad := range []string{"no tabs\n", "CH\tSwitzerland\n", "CH\tSwitzerland\tM0,0Z", "\t\t\n"} {
		if _, err := parseOutlines(bad); err == nil || !strings.Contains(err.Error(), "go generate") {
			t.Errorf("parseOutlines(%q) = %v, want an error that says to run go generate", bad, err)
		}
	}
}

// TestEqualArea: equal cells of the sphere are equal on the map, from the
// equator to the pole (a projection that is not equal-area, such as plate
// carrée or Mercator, fails by far).
func TestEqualArea(t *testing.T) {
	var ratios []float64
	for lat := -90.0; lat < 90; lat += 10 {
		// The cell [0°, 10°] × [lat, lat+10°] as a polygon, its meridian
		// edges sampled finely (meridians are curves; parallels straight).
		var pts [][2]float64
		for f := 0.0; f <= 10; f += 0.05 {
			pts = append(pts, [2]float64{10, lat + f})
		}
		for f := 10.0; f >= 0; f -= 0.05 {
			pts = append(pts, [2]float64{0, lat + f})
		}
		area := 0.0
		for i := range pts {
			x1, y1 := project(pts[i][0], pts[i][1])
			x2, y2 := project(pts[(i+1)%len(pts)][0], pts[(i+1)%len(pts)][1])
			area += x1*y2 - x2*y1
		}
		sphere := (10 * math.Pi / 180) * (math.Sin((lat+10)*math.Pi/180) - math.Sin(lat*math.Pi/180))
		ratios = append(ratios, math.Abs(area/2)/sphere)
	}
	for i, r := range ratios {
		if math.Abs(r-ratios[0]) > 2e-4*ratios[0] {
			t.Errorf("cell at %d°: area ratio %.6f, at -90°: %.6f (not equal-area)", -90+10*i, r, ratios[0])
		}
	}
}

// TestProjectionShape: symmetric about both axes, the poles are lines, and
// the map is about twice as wide as high (Equal Earth's 2.05:1).
func TestProjectionShape(t *testing.T) {
	for _, p := range [][2]float64{{10, 20}, {179, -45}, {-60, 89}} {
		x, y := project(p[0], p[1])
		mx, my := project(-p[0], -p[1])
		if math.Abs(x+mx) > 1e-12 || math.Abs(y+my) > 1e-12 {
			t.Errorf("project(%v) = %v,%v; of the mirror point %v,%v", p, x, y, mx, my)
		}
	}
	_, y1 := project(-180, 90)
	_, y2 := project(100, 90)
	if y1 != y2 || y1 != maxY {
		t.Errorf("the north pole is not a line: y %v and %v", y1, y2)
	}
	if r := maxX / maxY; math.Abs(r-2.0547) > 0.001 {
		t.Errorf("aspect ratio %.4f, want Equal Earth's 2.0547", r)
	}
}

func TestUnwrap(t *testing.T) {
	fiji := [][2]float64{{178, -17}, {180, -16}, {-179, -16.5}, {-179, -17.5}, {178, -17}}
	got, lo, hi := unwrap(fiji)
	if lo != 178 || hi != 181 || len(got) != len(fiji) {
		t.Fatalf("Fiji unwrapped to %v (range %v..%v), want 178..181 and no extra point", got, lo, hi)
	}
	if n := strings.Count(string(appendRing(nil, fiji)), "M"); n != 2 {
		t.Errorf("a ring across the antimeridian is drawn %d times, want on both sides", n)
	}
	plain := [][2]float64{{2, 48}, {3, 48}, {3, 49}, {2, 48}}
	if n := strings.Count(string(appendRing(nil, plain)), "M"); n != 1 {
		t.Errorf("a ring far from the antimeridian is drawn %d times", n)
	}
	// A ring around the South Pole, as Antarctica's: -180 → 180 along the
	// coast, then straight back over the antimeridian.
	var polar [][2]float64
	for lon := -180.0; lon <= 180; lon += 30 {
		polar = append(polar, [2]float64{lon, -70})
	}
	polar = append(polar, [2]float64{-180, -70})
	got, _, _ = unwrap(polar)
	last := got[len(got)-1]
	if last[1] != -90 || got[len(got)-2][1] != -90 {
		t.Errorf("a ring around the south pole ends %v, want it closed along the pole (-90)", got[len(got)-3:])
	}
}

// svgPath is one country's drawn path, parsed back to absolute points.
type svgPath struct {
	class, title string
	subpaths     [][][2]float64
}

var pathRE = regexp.MustCompile(`<path class="c(\d)" d="([^"]*)"><title>([^<]*)</title></path>`)

func parsePaths(t *testing.T, svg string) map[string]svgPath {
	t.Helper()
	out := map[string]svgPath{}
	for _, m := range pathRE.FindAllStringSubmatch(svg, -1) {
		p := svgPath{class: m[1], title: m[3]}
		for _, sub := range strings.Split(m[2], "z") {
			if sub == "" {
				continue
			}
			start, rel, ok := strings.Cut(strings.TrimPrefix(sub, "M"), "l")
			if !ok {
				t.Fatalf("subpath %q has no relative part", sub)
			}
			nums := func(s string) []float64 {
				var v []float64
				for _, f := range strings.Fields(strings.ReplaceAll(s, "-", " -")) {
					x, err := strconv.ParseFloat(f, 64)
					if err != nil {
						t.Fatalf("bad number %q in %q", f, sub)
					}
					v = append(v, x)
				}
				return v
			}
			s := nums(start)
			pts := [][2]float64{{s[0], s[1]}}
			r := nums(rel)
			for i := 0; i+1 < len(r); i += 2 {
				prev := pts[len(pts)-1]
				pts = append(pts, [2]float64{prev[0] + r[i], prev[1] + r[i+1]})
			}
			p.subpaths = append(p.subpaths, pts)
		}
		out[strings.SplitN(p.title, " ", 2)[0]] = p
	}
	return out
}

func drawn(t *testing.T, m Map) (string, map[string]svgPath) {
	t.Helper()
	if m.CountryTitle == nil {
		m.CountryTitle = func(a2, name string, n int) string { return fmt.Sprintf("%s %s: %d", a2, name, n) }
	}
	svg, err := m.SVG("m")
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal([]byte(svg), new(struct{})); err != nil {
		t.Fatalf("the map is not well-formed XML: %v", err)
	}
	return svg, parsePaths(t, svg)
}

// TestAntimeridian: no stroke crosses the map (the streak a naive drawing of
// Fiji or Russia leaves), and the countries on the antimeridian show on both
// edges.
func TestAntimeridian(t *testing.T) {
	_, paths := drawn(t, Map{})
	if len(paths) < 170 {
		t.Fatalf("%d countries drawn, want the 174 with an ISO code", len(paths))
	}
	for name, p := range paths {
		for _, sub := range p.subpaths {
			for i := 1; i < len(sub); i++ {
				onPole := sub[i][1] == sub[i-1][1] && (sub[i][1] <= pad+1 || sub[i][1] >= float64(Height-pad-1))
				if dx := math.Abs(sub[i][0] - sub[i-1][0]); dx > Width/4 && !onPole {
					t.Errorf("%s: a stroke %.0f units wide crosses the map", name, dx)
				}
			}
		}
	}
	for _, cc := range []string{"RU", "FJ"} {
		east, west := false, false
		for _, sub := range paths[cc].subpaths {
			for _, q := range sub {
				// inside the sphere (not in the clipped overhang) and near an edge
				lon := lonAt(q)
				east = east || (lon > 170 && lon <= 180)
				west = west || (lon < -170 && lon >= -180)
			}
		}
		if !east || !west {
			t.Errorf("%s is drawn east of 170°E: %v, west of 170°W: %v; want both sides of the antimeridian", cc, east, west)
		}
	}
	aq := paths["AQ"]
	bottom := 0.0
	for _, sub := range aq.subpaths {
		for _, q := range sub {
			bottom = math.Max(bottom, q[1])
		}
	}
	if bottom < float64(Height-pad)-1 {
		t.Errorf("Antarctica reaches down to y %.0f of %d; want it closed along the pole", bottom, Height)
	}
	west, east := 180.0, -180.0
	for _, sub := range aq.subpaths {
		for _, q := range sub {
			if q[1] < float64(Height-pad)-1 { // off the pole line, where every longitude meets
				west, east = math.Min(west, lonAt(q)), math.Max(east, lonAt(q))
			}
		}
	}
	if west > -179 || east < 179 {
		t.Errorf("Antarctica's coast spans %.1f° to %.1f°; want all the way round", west, east)
	}
}

// lonAt inverts the projection's x on the point's parallel (x is linear in
// longitude there).
func lonAt(q [2]float64) float64 {
	y := (float64(Height)/2 - q[1]) / scale
	lo, hi := -90.0, 90.0
	for range 60 {
		mid := (lo + hi) / 2
		if _, my := project(0, mid); my < y {
			lo = mid
		} else {
			hi = mid
		}
	}
	edge, _ := project(180, lo)
	return 180 * ((q[0] - Width/2) / scale) / edge
}

func TestShading(t *testing.T) {
	_, paths := drawn(t, Map{Countries: map[string]int{"FR": 100000, "DE": 900, "BR": 1, "ZZ": 5}})
	for cc, want := range map[string]string{"FR": "5", "DE": "3", "BR": "1", "US": "0"} {
		if p := paths[cc]; p.class != want {
			t.Errorf("%s shaded c%s, want c%s", cc, p.class, want)
		}
	}
	if got := paths["FR"].title; got != "FR France: 100000" {
		t.Errorf("France's title %q", got)
	}
}

func TestClasses(t *testing.T) {
	for _, tc := range []struct {
		peak int
		want []Class
	}{
		{0, nil},
		{1, []Class{{5, 1, 1}}},
		{3, []Class{{3, 1, 1}, {4, 2, 2}, {5, 3, 3}}},
		{100000, []Class{{1, 1, 9}, {2, 10, 99}, {3, 100, 999}, {4, 1000, 9999}, {5, 10000, 100000}}},
	} {
		got := Classes(tc.peak)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("Classes(%d) = %v, want %v", tc.peak, got, tc.want)
		}
	}
	for peak := 1; peak < 3000; peak += 7 {
		cs := Classes(peak)
		next := 1
		for _, c := range cs {
			if c.Low != next || c.High < c.Low {
				t.Fatalf("Classes(%d) = %v: not contiguous from 1", peak, cs)
			}
			next = c.High + 1
		}
		if next != peak+1 {
			t.Fatalf("Classes(%d) = %v ends at %d", peak, cs, next-1)
		}
	}
}

var circleRE = regexp.MustCompile(`<circle cx="([\d.]+)" cy="([\d.]+)" r="([\d.]+)"><title>([^<]*)</title></circle>`)

func TestDots(t *testing.T) {
	svg, _ := drawn(t, Map{Dots: []Dot{
		{Lat: -17, Lon: 179, Count: 3, Title: "east & more"},
		{Lat: -17, Lon: -179, Count: 3, Title: "west"},
		{Lat: 48, Lon: 2, Count: 50000, Title: "Paris"},
	}})
	got := circleRE.FindAllStringSubmatch(svg, -1)
	if len(got) != 3 {
		t.Fatalf("%d dots drawn, want 3", len(got))
	}
	if got[0][4] != "Paris" {
		t.Errorf("the first dot is %q: want the largest first", got[0][4])
	}
	x := map[string]float64{}
	for _, g := range got {
		x[g[4]], _ = strconv.ParseFloat(g[1], 64)
	}
	if east, west := x["east &amp; more"], x["west"]; east < Width*0.9 || west > Width*0.1 {
		t.Errorf("179°E drawn at x %.0f and 179°W at %.0f (titles escaped?): want opposite edges", east, west)
	}
	if r0, r1 := got[0][3], got[1][3]; r0 <= r1 {
		t.Errorf("a dot of 50,000 has radius %s, one of 3 %s", r0, r1)
	}
}
