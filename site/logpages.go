package site

import (
	"context"
	"fmt"
	"strconv"
)

// The cities the subdivision lists do not hold yet (meta's Settled and
// on) are listed in log order, logPageSize to a page: site/log/N.html and
// its JSON twin N.json hold the unsettled cities of N*logPageSize and on. Like a tile, a page never changes once full,
// so an update rewrites the last page and adds the new ones; once the
// lists hold a page's cities, it is removed.

// logPage is the log-order page being built.
type logPage struct {
	n      uint64
	cities []city
}

// logJSON is a log-order page's JSON twin.
type logJSON struct {
	V      int    `json:"v"`
	Page   uint64 `json:"page"`
	Next   bool   `json:"next"`
	Cities []city `json:"cities"`
}

func logPath(n uint64, ext string) string { return "site/log/" + strconv.FormatUint(n, 10) + ext }

// addToLog appends a city to its log-order page, writing the page it
// fills beside the loop.
func (b *builder) addToLog(c city) error {
	if c.Index < b.logFrom || c.Index < b.settled {
		return nil
	}
	if n := c.Index / logPageSize; n != b.log.n {
		if err := b.pageWrites.ctx.Err(); err != nil {
			return b.pageWrites.Wait()
		}
		full := b.log
		b.pageWrites.Go(func() error { return b.writeLogPage(b.pageWrites.ctx, full, true) })
		b.log = logPage{n: n}
	}
	if b.log.cities == nil {
		b.log.cities = make([]city, 0, logPageSize) // grown from nothing, a page was a tenth of an update's faults
	}
	b.log.cities = append(b.log.cities, c)
	return nil
}

// writeLogPage writes a page and its twin; next says the next page
// exists.
func (b *builder) writeLogPage(ctx context.Context, p logPage, next bool) error {
	if len(p.cities) == 0 {
		return nil
	}
	j := logJSON{V: 1, Page: p.n, Next: next, Cities: p.cities}
	err := b.putRendered(ctx, logPath(p.n, ".json"), func(dst []byte) ([]byte, error) { return appendLogJSON(dst, j), nil })
	if err != nil {
		return err
	}
	return b.putRendered(ctx, logPath(p.n, ".html"), func(dst []byte) ([]byte, error) { return b.logHTML(dst, j) })
}

// appendLogJSON writes a page's twin as encoding/json would
// (TestListJSON holds the two together).
func appendLogJSON(b []byte, j logJSON) []byte {
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(j.V), 10)
	b = append(b, `,"page":`...)
	b = strconv.AppendUint(b, j.Page, 10)
	b = append(b, `,"next":`...)
	b = strconv.AppendBool(b, j.Next)
	b = append(b, `,"cities":`...)
	b = appendCities(b, j.Cities)
	return append(b, '}')
}

// logHTML appends a log-order page to dst: the frame, and its content
// by hand.
func (b *builder) logHTML(dst []byte, j logJSON) ([]byte, error) {
	f, err := b.frame("../../")
	if err != nil {
		return nil, err
	}
	first, last := j.Cities[0].Index, j.Cities[len(j.Cities)-1].Index
	title := fmt.Sprintf("Leaves %s–%s", groupDigits(first), groupDigits(last))
	n := strconv.FormatUint(j.Page, 10)
	s := append(dst, f.head...)
	s = append(s, title...)
	s = append(s, f.mid...)
	s = append(s, `<nav aria-label="Breadcrumb" class="crumbs"><a href="../../browse.html">Countries</a> › In log order</nav>`+"\n"...)
	s = append(s, "<h1>"+title+" <span class=\"muted\">in log order</span></h1>\n"...)
	s = fmt.Appendf(s, "<p>The newest cities, in the order the log allocated them, %d to a page, until the lists by place hold them; the first column is the leaf index. As JSON: <a href=\"%s.json\">%s.json</a>.</p>\n", logPageSize, n, n)
	s = fmt.Appendf(s, "<table>\n<caption class=\"visually-hidden\">The cities at leaves %d to %d of the log</caption>\n", first, last)
	s = append(s, `<thead><tr><th scope="col" class="num">Leaf</th><th scope="col">City</th><th scope="col">Code</th><th scope="col">Identifiers</th></tr></thead>`+"\n<tbody>\n"...)
	for _, c := range j.Cities {
		s = append(s, `<tr><td class="num">`...)
		s = strconv.AppendUint(s, c.Index, 10)
		s = append(s, "</td>"...)
		s = appendCityCells(s, c, "../../")
		s = append(s, "</tr>\n"...)
	}
	// No link back: the page before may be gone, settled.
	s = append(s, "</tbody>\n</table>\n<nav aria-label=\"Pages\" class=\"pager\">"...)
	s = append(s, `<a href="../../browse.html#log">all pages in log order</a> `...)
	if j.Next {
		s = fmt.Appendf(s, `<a rel="next" href="%d.html">next page →</a>`, j.Page+1)
	}
	s = append(s, "</nav>\n"...)
	return append(s, f.tail...), nil
}
