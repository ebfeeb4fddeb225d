package site

import (
	"context"
	"encoding/xml"
	"net/url"
	"slices"
	"strings"
)

// The Atom feed of the latest allocations (RFC 4287), for readers and
// for anyone watching for a city's code.

type atomFeed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	Title   string      `xml:"title"`
	ID      string      `xml:"id"`
	Updated string      `xml:"updated"`
	Link    []atomLink  `xml:"link"`
	Author  string      `xml:"author>name"`
	Entries []atomEntry `xml:"entry"`
}

type atomLink struct {
	Href string `xml:"href,attr"`
	Rel  string `xml:"rel,attr,omitempty"`
}

type atomEntry struct {
	Title   string   `xml:"title"`
	ID      string   `xml:"id"`
	Updated string   `xml:"updated"`
	Link    atomLink `xml:"link"`
	Summary string   `xml:"summary"`
}

func (b *builder) writeFeed(ctx context.Context) error {
	base := b.cfg.URL
	if base != "" && !strings.HasSuffix(base, "/") {
		base += "/"
	}
	id := func(suffix string) string { return "urn:citylog:" + url.PathEscape(b.cp.Origin) + suffix }
	f := atomFeed{Title: "Latest city codes of " + b.cp.Origin, ID: id(""), Author: b.cp.Origin, Updated: "1970-01-01T00:00:00Z",
		Link: []atomLink{{Href: base + "index.html"}, {Href: base + "site/feed.atom", Rel: "self"}}}
	recent := slices.Clone(b.m.Recent)
	slices.Reverse(recent)
	for _, c := range recent {
		f.Entries = append(f.Entries, atomEntry{Title: c.Name + ": " + c.Code, ID: id(":" + c.Code), Updated: c.Time,
			Link:    atomLink{Href: base + "code.html#" + c.Code},
			Summary: c.Name + " (" + subdivisionName(c.Country, c.Subdivision) + ", " + countryName(c.Country) + ") was allocated " + c.Code + "; identifiers: " + strings.Join(c.IDs, ", ")})
	}
	if len(recent) > 0 {
		f.Updated = recent[0].Time
	}
	out, err := xml.MarshalIndent(f, "", " ")
	if err != nil {
		return err
	}
	return b.put(ctx, "site/feed.atom", append([]byte(xml.Header), append(out, '\n')...))
}
