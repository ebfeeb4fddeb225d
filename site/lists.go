package site

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
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
		if err := b.writeList(ctx, p, true); err != nil {
			return err
		}
		p.n, p.cities = p.n+1, nil
	}
	p.cities = append(p.cities, c)
	return nil
}

// loadList reads the last page of a subdivision as the site has it: the
// cities before this update's first (a page an update cut short wrote
// with later cities gets them again, in the same places).
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
	if err != nil {
		return nil, fmt.Errorf("couldn't read %s (run citylog site --full to rebuild the site): %w", path, err)
	}
	var j listJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, fmt.Errorf("%s: %v (run citylog site --full to rebuild the site)", path, err)
	}
	for _, c := range j.Cities {
		if c.Index < b.from {
			p.cities = append(p.cities, c)
		}
	}
	return p, nil
}

// writeList writes a page and its twin; next says the next page exists.
func (b *builder) writeList(ctx context.Context, p *listPage, next bool) error {
	j := listJSON{V: 1, Country: p.cc, Subdivision: p.sub, Page: p.n, Next: next, Cities: p.cities}
	raw, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if err := b.put(ctx, listPath(p.cc, p.sub, p.n, ".json"), raw); err != nil {
		return err
	}
	html, err := b.listHTML(j)
	if err != nil {
		return err
	}
	return b.put(ctx, listPath(p.cc, p.sub, p.n, ".html"), html)
}
