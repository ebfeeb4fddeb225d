package site

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"strconv"

	"github.com/citylog/citylog/internal/jsonquote"
	"github.com/citylog/citylog/internal/parallel"
)

// A subdivision's cities are listed in log order, pageSize to a page:
// site/c/CC/SSS-N.html and its JSON twin SSS-N.json (one directory a
// country: directories cost inodes, and a bucket has none). Only the last page of a
// subdivision ever changes, so an update rewrites one page (two, when it
// fills one) per subdivision with new cities, whatever the log's size. A
// page links to the next once the next exists.

// listPage is the last page of one subdivision during a build.
type listPage struct {
	cc, sub string
	n       int
	cities  []city
}

// listJSON is a page's JSON twin.
type listJSON struct {
	V           int    `json:"v"`
	Country     string `json:"country"`
	Subdivision string `json:"subdivision"`
	Page        int    `json:"page"`
	Next        bool   `json:"next"`
	Cities      []city `json:"cities"`
}

func listPath(cc, sub string, n int, ext string) string {
	return "site/c/" + cc + "/" + sub + "-" + strconv.Itoa(n) + ext
}

// addToList appends a new city to its subdivision's last page, loading the
// page the first time the build meets the subdivision.
func (b *builder) addToList(ctx context.Context, c city) error {
	key := c.Country + "-" + c.Subdivision
	p := b.pages[key]
	if p == nil {
		var err error
		if p, err = b.loadList(ctx, c.Country, c.Subdivision); err != nil {
			return err
		}
		b.pages[key] = p
	}
	if len(p.cities) == pageSize {
		// A full page never changes again: it is rendered and written
		// beside the loop (at most writers at once; Go waits for a
		// free one, which bounds the pages held), so that reading the
		// log goes on meanwhile.
		if err := b.pageWrites.ctx.Err(); err != nil {
			return b.pageWrites.Wait()
		}
		full := &listPage{cc: p.cc, sub: p.sub, n: p.n, cities: p.cities}
		b.pageWrites.Go(func() error { return b.writeList(b.pageWrites.ctx, full, true) })
		p.n, p.cities = p.n+1, nil
	}
	p.cities = append(p.cities, c)
	return nil
}

// loadLists loads, in parallel, the last pages of the subdivisions that
// the decoded cities settle into and that the build has not met yet: an update meets thousands, and one at a time their reads
// were most of its time.
func (b *builder) loadLists(ctx context.Context, decoded [][]city) error {
	var todo []*listPage
	seen := map[string]bool{}
	for _, cs := range decoded {
		for _, c := range cs {
			key := c.Country + "-" + c.Subdivision
			if c.Index < b.listFrom || c.Index >= b.listTo || b.pages[key] != nil || seen[key] {
				continue
			}
			seen[key] = true
			todo = append(todo, &listPage{cc: c.Country, sub: c.Subdivision})
		}
	}
	err := parallel.Each(ctx, len(todo), writers, func(ctx context.Context, i int) error {
		p, err := b.loadList(ctx, todo[i].cc, todo[i].sub)
		todo[i] = p
		return err
	})
	if err != nil {
		return err
	}
	for _, p := range todo {
		b.pages[p.cc+"-"+p.sub] = p
	}
	return nil
}

// loadList reads the last page of a subdivision as the site has it: the
// cities settled before this run (a page an update cut short wrote with
// later cities gets them again, in the same places).
func (b *builder) loadList(ctx context.Context, cc, sub string) (*listPage, error) {
	p := &listPage{cc: cc, sub: sub}
	count := 0
	if cs := b.m.Countries[cc]; cs != nil {
		count = cs.Subs[sub]
	}
	if count == 0 {
		return p, nil
	}
	p.n = (count - 1) / pageSize
	path := listPath(cc, sub, p.n, ".json")
	raw, err := b.st.ReadFile(ctx, path)
	if errors.Is(err, fs.ErrNotExist) { // meta counts cities there
		return nil, fmt.Errorf("%s is missing: %w", path, ErrDamaged)
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't read %s: %w", path, err)
	}
	var j listJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, fmt.Errorf("%s: %v: %w", path, err, ErrDamaged)
	}
	for _, c := range j.Cities {
		if c.Index < b.listFrom {
			p.cities = append(p.cities, c)
		}
	}
	return p, nil
}

// writeList writes a page and its twin; next says the next page exists.
func (b *builder) writeList(ctx context.Context, p *listPage, next bool) error {
	j := listJSON{V: 1, Country: p.cc, Subdivision: p.sub, Page: p.n, Next: next, Cities: p.cities}
	err := b.putRendered(ctx, listPath(p.cc, p.sub, p.n, ".json"), func(dst []byte) ([]byte, error) { return appendListJSON(dst, j), nil })
	if err != nil {
		return err
	}
	return b.putRendered(ctx, listPath(p.cc, p.sub, p.n, ".html"), func(dst []byte) ([]byte, error) { return b.listHTML(dst, j) })
}

// appendListJSON writes a page's twin by hand, as encoding/json would (a
// full build writes a page every hundred cities; reflection was a fifth
// of its time). TestListJSON holds the two together.
func appendListJSON(b []byte, j listJSON) []byte {
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(j.V), 10)
	b = append(b, `,"country":`...)
	b = jsonquote.Append(b, j.Country)
	b = append(b, `,"subdivision":`...)
	b = jsonquote.Append(b, j.Subdivision)
	b = append(b, `,"page":`...)
	b = strconv.AppendInt(b, int64(j.Page), 10)
	b = append(b, `,"next":`...)
	b = strconv.AppendBool(b, j.Next)
	b = append(b, `,"cities":`...)
	b = appendCities(b, j.Cities)
	return append(b, '}')
}

func appendCities(b []byte, cities []city) []byte {
	if cities == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, c := range cities {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendCityJSON(b, c)
	}
	return append(b, ']')
}

func appendCityJSON(b []byte, c city) []byte {
	b = append(b, `{"index":`...)
	b = strconv.AppendUint(b, c.Index, 10)
	b = append(b, `,"code":`...)
	b = jsonquote.Append(b, c.Code)
	b = append(b, `,"country":`...)
	b = jsonquote.Append(b, c.Country)
	b = append(b, `,"subdivision":`...)
	b = jsonquote.Append(b, c.Subdivision)
	b = append(b, `,"name":`...)
	b = jsonquote.Append(b, c.Name)
	b = append(b, `,"ids":`...)
	if c.IDs == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, id := range c.IDs {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonquote.Append(b, id)
		}
		b = append(b, ']')
	}
	if c.Lat != nil {
		b = append(b, `,"lat":`...)
		b = appendJSONFloat(b, *c.Lat)
	}
	if c.Lon != nil {
		b = append(b, `,"lon":`...)
		b = appendJSONFloat(b, *c.Lon)
	}
	b = append(b, `,"time":`...)
	b = jsonquote.Append(b, c.Time)
	return append(b, '}')
}

// appendJSONFloat writes a coordinate as encoding/json writes a float64.
func appendJSONFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
