package worldmap

import (
	"embed"
	"encoding/json"
	"fmt"
	"math"
)

// The Equal Earth projection (Šavrič, Patterson and Jenny, 2018): equal-area,
// so a country's shaded surface is in proportion to its real one and dense
// regions are not exaggerated towards the poles as on Mercator; its parallels
// are straight, so x is linear in longitude on each parallel, which is what
// lets a ring that crosses the antimeridian be drawn whole and clipped.
const (
	eeA1 = 1.340264
	eeA2 = -0.081106
	eeA3 = 0.000893
	eeA4 = 0.003796
)

var eeM = math.Sqrt(3) / 2

// project maps longitude and latitude in degrees to the plane of the unit
// sphere: x grows eastwards, y northwards. Longitudes beyond ±180 land
// beyond the map's outline, where the clip removes them.
func project(lon, lat float64) (x, y float64) {
	lambda, phi := lon*math.Pi/180, lat*math.Pi/180
	theta := math.Asin(eeM * math.Sin(phi))
	t2 := theta * theta
	t6 := t2 * t2 * t2
	x = lambda * math.Cos(theta) / (eeM * (eeA1 + 3*eeA2*t2 + t6*(7*eeA3+9*eeA4*t2)))
	y = theta * (eeA1 + eeA2*t2 + t6*(eeA3+eeA4*t2))
	return x, y
}

// The extent of the projected sphere: x in [-maxX, maxX], y in [-maxY, maxY].
var maxX, _ = project(180, 0)
var _, maxY = project(0, 90)

//go:embed data/countries-110m.json
var data embed.FS

// A country is one feature of the boundary data: its ISO 3166-1 numeric
// code (empty for the few territories without one) and its rings, each a
// closed list of [lon, lat] points.
type country struct {
	numeric string
	name    string
	rings   [][][2]float64
}

// topology is the part of a TopoJSON document that the map reads
// (https://github.com/topojson/topojson-specification).
type topology struct {
	Transform struct {
		Scale     [2]float64 `json:"scale"`
		Translate [2]float64 `json:"translate"`
	} `json:"transform"`
	Arcs    [][][2]float64 `json:"arcs"`
	Objects struct {
		Countries struct {
			Geometries []struct {
				Type       string          `json:"type"`
				ID         string          `json:"id"`
				Arcs       json.RawMessage `json:"arcs"`
				Properties struct {
					Name string `json:"name"`
				} `json:"properties"`
			} `json:"geometries"`
		} `json:"countries"`
	} `json:"objects"`
}

// loadCountries decodes the embedded topology into rings of points.
func loadCountries() ([]country, error) {
	raw, err := data.ReadFile("data/countries-110m.json")
	if err != nil {
		return nil, err
	}
	var topo topology
	if err := json.Unmarshal(raw, &topo); err != nil {
		return nil, fmt.Errorf("couldn't decode the map's topology: %w", err)
	}
	// Arcs are quantized and delta-encoded: each position is the sum of
	// the deltas before it, then scaled and translated.
	arcs := make([][][2]float64, len(topo.Arcs))
	sc, tr := topo.Transform.Scale, topo.Transform.Translate
	for i, a := range topo.Arcs {
		var qx, qy float64
		pts := make([][2]float64, len(a))
		for j, d := range a {
			qx, qy = qx+d[0], qy+d[1]
			pts[j] = [2]float64{qx*sc[0] + tr[0], qy*sc[1] + tr[1]}
		}
		arcs[i] = pts
	}
	ring := func(indexes []int) ([][2]float64, error) {
		var pts [][2]float64
		for _, i := range indexes {
			reversed := i < 0
			if reversed {
				i = ^i
			}
			if i >= len(arcs) {
				return nil, fmt.Errorf("arc %d of %d", i, len(arcs))
			}
			a := arcs[i]
			for k := range a {
				p := a[k]
				if reversed {
					p = a[len(a)-1-k]
				}
				// Consecutive arcs share their joining point.
				if k == 0 && len(pts) > 0 {
					continue
				}
				pts = append(pts, p)
			}
		}
		return pts, nil
	}
	var out []country
	for _, g := range topo.Objects.Countries.Geometries {
		var polygons [][][]int
		switch g.Type {
		case "Polygon":
			var p [][]int
			err = json.Unmarshal(g.Arcs, &p)
			polygons = [][][]int{p}
		case "MultiPolygon":
			err = json.Unmarshal(g.Arcs, &polygons)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("couldn't decode the arcs of %s: %w", g.Properties.Name, err)
		}
		c := country{numeric: g.ID, name: g.Properties.Name}
		for _, p := range polygons {
			for _, r := range p {
				pts, err := ring(r)
				if err != nil {
					return nil, fmt.Errorf("%s refers to a missing %w", g.Properties.Name, err)
				}
				c.rings = append(c.rings, pts)
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// unwrap makes a ring's longitudes continuous: a step of more than 180° is
// the ring crossing the antimeridian, so the rest of the ring is moved by
// 360° to follow on (Fiji at 178°E to 180° then -179°: drawn from 178° to
// 181°). A ring that winds once around a pole (Antarctica) ends 360° from
// where it began; it is closed along that pole, which the projection draws
// as a line. It returns the ring and its longitude range.
func unwrap(ring [][2]float64) (out [][2]float64, lo, hi float64) {
	out = make([][2]float64, 0, len(ring)+2)
	shift := 0.0
	lo, hi = math.Inf(1), math.Inf(-1)
	for i, p := range ring {
		if i > 0 {
			switch d := p[0] + shift - out[len(out)-1][0]; {
			case d > 180:
				shift -= 360
			case d < -180:
				shift += 360
			}
		}
		q := [2]float64{p[0] + shift, p[1]}
		out = append(out, q)
		lo, hi = math.Min(lo, q[0]), math.Max(hi, q[0])
	}
	if len(out) > 1 && math.Abs(out[len(out)-1][0]-out[0][0]) > 180 {
		pole := -90.0
		sum := 0.0
		for _, p := range out {
			sum += p[1]
		}
		if sum > 0 {
			pole = 90
		}
		out = append(out, [2]float64{out[len(out)-1][0], pole}, [2]float64{out[0][0], pole})
	}
	return out, lo, hi
}
