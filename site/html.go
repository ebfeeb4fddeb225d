package site

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/biter777/countries"
	"github.com/citylog/citylog/tiles/cosig"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/sync/errgroup"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets/app.js assets/style.css
var assetFS embed.FS

// pages are the page templates, each with the layout.
var pages = func() map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, name := range []string{"home", "browse", "country", "frame", "code", "search", "about", "download"} {
		out[name] = template.Must(template.New(name).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
	return out
}()

// asset is a static file of the site.
type asset struct {
	Path string
	Data []byte
	SRI  string // sha256-<base64>, for Subresource Integrity
}

// assets are the scripts and the style sheet, with their hashes.
var assets = func() []asset {
	var out []asset
	add := func(path string, data []byte) {
		sum := sha256.Sum256(data)
		out = append(out, asset{path, data, "sha256-" + base64.StdEncoding.EncodeToString(sum[:])})
	}
	for _, f := range []struct{ path, name string }{{"site/app.js", "assets/app.js"}, {"site/style.css", "assets/style.css"}} {
		b, err := assetFS.ReadFile(f.name)
		if err != nil {
			panic(err)
		}
		add(f.path, b)
	}
	for _, f := range verifierScripts() {
		add(f.Path, f.Data)
	}
	return out
}()

func assetSRI(path string) string {
	for _, a := range assets {
		if a.Path == path {
			return a.SRI
		}
	}
	panic("no asset " + path)
}

// common is what every page shows.
type common struct {
	Prefix    string // from the page to the public tree's root
	Title     string
	Page      string
	Origin    string
	Key       string
	Witnesses []string
	Quorum    int
	Size      uint64
	SizeText  string
	Script    bool
	SRI       struct{ App, Verify, Rules string }
}

// WitnessList is the witnesses for the page's meta element.
func (c common) WitnessList() string { return strings.Join(c.Witnesses, " ") }

// WitnessLines is the witnesses one a line, for a form.
func (c common) WitnessLines() string { return strings.Join(c.Witnesses, "\n") }

// ImportMap is the import map that makes the browser check the hashes of
// the modules app.js imports (the script tag checks app.js itself). It is
// the whole element: html/template would escape JSON inside a script of
// this type as text.
func (c common) ImportMap() template.HTML {
	m := map[string]map[string]string{"integrity": {}}
	for _, a := range assets {
		if strings.HasSuffix(a.Path, ".js") && a.Path != "site/app.js" {
			m["integrity"][c.Prefix+a.Path] = a.SRI
		}
	}
	b, _ := json.Marshal(m) // escapes <, > and &: nothing can close the element
	return template.HTML(`<script type="importmap">` + string(b) + `</script>`)
}

func (b *builder) common(page, title, prefix string, script bool) common {
	c := common{Prefix: prefix, Title: title, Page: page, Origin: b.cp.Origin, Key: strings.TrimSpace(b.cfg.Key),
		Witnesses: b.cfg.Witnesses, Quorum: b.cfg.Quorum, Size: b.cp.Size, SizeText: citiesText(b.cp.Size), Script: script}
	c.SRI.App, c.SRI.Verify, c.SRI.Rules = assetSRI("site/app.js"), assetSRI("site/verify.js"), assetSRI("site/rules.js")
	return c
}

func citiesText(n uint64) string {
	if n == 1 {
		return "1 city"
	}
	return groupDigits(n) + " cities"
}

// groupDigits writes n with thousands separators (1,234,567).
func groupDigits(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func render(dst []byte, name string, data any) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	if err := pages[name].ExecuteTemplate(buf, "layout", data); err != nil {
		return nil, fmt.Errorf("couldn't render %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// putPage renders a page into a recycled buffer and writes it.
func (b *builder) putPage(ctx context.Context, path, name string, data any) error {
	return b.putRendered(ctx, path, func(dst []byte) ([]byte, error) { return render(dst, name, data) })
}

func countryName(cc string) string {
	if n := countries.ByName(cc).String(); n != "" && n != "Unknown" {
		return n
	}
	return cc
}

func subdivisionName(cc, sub string) string {
	if sub == "0" {
		return countryName(cc) + " (no subdivisions)"
	}
	if n := countries.SubdivisionCode(cc + "-" + sub).String(); n != "" && n != "Unknown" {
		return n
	}
	return cc + "-" + sub
}

// listFrame is the layout of every list page, cut around its title and
// its content: a full build writes a page every hundred cities, and the
// template engine's reflection was most of its time. Pages at different
// depths have different frames (their links climb to the root).
type listFrame struct{ head, mid, tail string }

func (b *builder) frame(prefix string) (listFrame, error) {
	b.frameMu.Lock()
	defer b.frameMu.Unlock()
	if f, ok := b.frames[prefix]; ok {
		return f, nil
	}
	page, err := render(nil, "frame", b.common("browse", "@@TITLE@@", prefix, false))
	if err != nil {
		return listFrame{}, err
	}
	s := string(page)
	t, c := strings.Index(s, "@@TITLE@@"), strings.Index(s, "@@CONTENT@@")
	if t < 0 || c < t || strings.Count(s, "@@TITLE@@") != 1 {
		return listFrame{}, fmt.Errorf("the page layout does not hold its title and content once each")
	}
	f := listFrame{s[:t], s[t+len("@@TITLE@@") : c], s[c+len("@@CONTENT@@"):]}
	if b.frames == nil {
		b.frames = map[string]listFrame{}
	}
	b.frames[prefix] = f
	return f, nil
}

// listHTML appends a list page to dst: the frame, and its content by
// hand.
func (b *builder) listHTML(dst []byte, j listJSON) ([]byte, error) {
	f, err := b.frame("../../../")
	if err != nil {
		return nil, err
	}
	esc := html.EscapeString
	cc, sub := j.Country, j.Subdivision // A-Z and 0-9 only
	subName, ccName := esc(subdivisionName(cc, sub)), esc(countryName(cc))
	page := strconv.Itoa(j.Page)
	s := append(dst, f.head...)
	s = append(s, subName...)
	s = append(s, f.mid...)
	s = append(s, `<nav aria-label="Breadcrumb" class="crumbs"><a href="../../../browse.html">Countries</a> › <a href="../`+cc+`.html">`+ccName+`</a> › `+subName+"</nav>\n"...)
	s = append(s, `<h1>`+subName+` <span class="muted">`+cc+"-"+sub+"</span></h1>\n"...)
	s = fmt.Appendf(s, "<p>Cities %d–%d, in the order they were allocated. As JSON: <a href=\"%s-%s.json\">%s-%s.json</a>.</p>\n",
		j.Page*pageSize+1, j.Page*pageSize+len(j.Cities), sub, page, sub, page)
	s = fmt.Appendf(s, "<table>\n<caption class=\"visually-hidden\">Cities of %s, page %d</caption>\n", subName, j.Page+1)
	s = append(s, `<thead><tr><th scope="col">City</th><th scope="col">Code</th><th scope="col">Identifiers</th></tr></thead>`+"\n<tbody>\n"...)
	s = appendRows(s, j.Cities, "../../../")
	s = append(s, "</tbody>\n</table>\n<nav aria-label=\"Pages\" class=\"pager\">"...)
	if j.Page > 0 {
		s = fmt.Appendf(s, `<a rel="prev" href="%s-%d.html">← previous %d</a>`, sub, j.Page-1, pageSize)
	}
	s = append(s, ' ')
	if j.Next {
		s = fmt.Appendf(s, `<a rel="next" href="%s-%d.html">next %d →</a>`, sub, j.Page+1, pageSize)
	}
	s = append(s, "</nav>\n"...)
	if !j.Next {
		s = append(s, b.settleNote("../../../")...)
	}
	return append(s, f.tail...), nil
}

// logLink is a log-order page on the browse page: its number, and the
// leaf indices of the first and last city it holds that the lists do not.
type logLink struct {
	N           uint64
	First, Last string
}

// settleNote tells a reader of the lists where the newest cities are.
// It is true of every site, whenever the page was written.
func (b *builder) settleNote(prefix string) string {
	return "<p class=\"muted\">The lists by place take new cities in steps: all of them while the log holds fewer than " +
		groupDigits(settleEvery) + ", then " + groupDigits(settleEvery) + " at a time; meanwhile <a href=\"" + prefix +
		"browse.html#log\">the newest cities</a> are listed in log order.</p>\n"
}

// browseCountry is a country in browse.json and on the pages.
type browseCountry struct {
	Code         string           `json:"code"`
	Name         string           `json:"name"`
	Count        int              `json:"count"`
	Subdivisions []browseDivision `json:"subdivisions"`
}

type browseDivision struct {
	Code  string `json:"code"`
	Name  string `json:"name"`
	Count int    `json:"count"`
	Pages int    `json:"pages"`
}

func (b *builder) browse() []browseCountry {
	var out []browseCountry
	for cc, cs := range b.m.Countries {
		c := browseCountry{Code: cc, Name: countryName(cc), Count: cs.Count}
		for sub, n := range cs.Subs {
			c.Subdivisions = append(c.Subdivisions, browseDivision{sub, subdivisionName(cc, sub), n, (n + pageSize - 1) / pageSize})
		}
		slices.SortFunc(c.Subdivisions, func(x, y browseDivision) int { return strings.Compare(x.Name+x.Code, y.Name+y.Code) })
		out = append(out, c)
	}
	slices.SortFunc(out, func(x, y browseCountry) int { return strings.Compare(x.Name+x.Code, y.Name+y.Code) })
	return out
}

// cosigner is a witness's cosignature of the checkpoint.
type cosigner struct{ Name, Time string }

// cosigners returns the cosignatures of the policy's witnesses that
// verify on the checkpoint, with the time each witness signed at.
func (b *builder) cosigners() []cosigner {
	var vs []note.Verifier
	for _, k := range b.cfg.Witnesses {
		if v, err := cosig.NewVerifier(k); err == nil {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return nil
	}
	key, err := note.NewVerifier(strings.TrimSpace(b.cfg.Key))
	if err != nil {
		return nil
	}
	n, err := note.Open(b.cp.Signed, note.VerifierList(append(vs, key)...))
	if err != nil {
		return nil
	}
	var out []cosigner
	for _, s := range n.Sigs {
		if s.Name == key.Name() {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(s.Base64)
		if err != nil || len(raw) < 12 {
			continue
		}
		t := time.Unix(int64(binary.BigEndian.Uint64(raw[4:12])), 0).UTC()
		out = append(out, cosigner{s.Name, t.Format(time.RFC3339)})
	}
	return out
}

// writePages writes everything an update changes besides the lists and
// the index: the home page, the country pages of countries with new
// cities, browse; download and the feed when there are new cities; and,
// when the scripts or the log's settings changed, the static pages and
// assets. Each goes in a goroutine of g: rendered on both cores, and
// written while the file system works on the others.
func (b *builder) writePages(ctx context.Context, g *errgroup.Group) {
	countriesList := b.browse()
	g.Go(func() error { return b.writeBrowse(ctx, countriesList) })
	for _, c := range countriesList {
		if b.touched[c.Code] {
			g.Go(func() error { return b.writeCountry(ctx, c) })
		}
	}
	g.Go(func() error { return b.writeHome(ctx) })
	if b.from < b.cp.Size || b.full {
		// The same bytes as the last run wrote otherwise (a settling
		// changes neither the CSV files nor the latest cities).
		g.Go(func() error { return b.writeDownload(ctx) })
		g.Go(func() error { return b.writeFeed(ctx) })
	}
	g.Go(func() error { return b.writeStatic(ctx) })
}

func (b *builder) writeBrowse(ctx context.Context, countriesList []browseCountry) error {
	listed := b.settled
	// The log-order pages [firstLog, logPages) hold the unsettled cities.
	logPages := (b.cp.Size + logPageSize - 1) / logPageSize
	firstLog := logPages
	if listed < b.cp.Size {
		firstLog = listed / logPageSize
	}
	bj, err := json.Marshal(struct {
		V         int             `json:"v"`
		Size      uint64          `json:"size"`
		Listed    uint64          `json:"listed"`    // the first entries, which the countries' counts and lists hold
		LogPages  [2]uint64       `json:"log_pages"` // site/log/N.json holds the others, for N in [first, last)
		Countries []browseCountry `json:"countries"`
	}{2, b.cp.Size, listed, [2]uint64{firstLog, logPages}, countriesList})
	if err != nil {
		return err
	}
	if err := b.put(ctx, "site/browse.json", bj); err != nil {
		return err
	}
	var pages []logLink
	for n := firstLog; n < logPages; n++ {
		pages = append(pages, logLink{n, groupDigits(max(n*logPageSize, listed)), groupDigits(min((n+1)*logPageSize, b.cp.Size) - 1)})
	}
	return b.putPage(ctx, "browse.html", "browse", struct {
		common
		Countries            []browseCountry
		ListedText, Unlisted string
		LogPages             []logLink
	}{b.common("browse", "Countries", "./", false), countriesList, citiesText(listed), groupDigits(b.cp.Size - listed), pages})
}

func (b *builder) writeCountry(ctx context.Context, c browseCountry) error {
	cj, err := json.Marshal(struct {
		V int `json:"v"`
		browseCountry
	}{1, c})
	if err != nil {
		return err
	}
	if err := b.put(ctx, "site/c/"+c.Code+".json", cj); err != nil {
		return err
	}
	return b.putPage(ctx, "site/c/"+c.Code+".html", "country", struct {
		common
		Country    browseCountry
		SettleNote template.HTML
	}{b.common("browse", c.Name, "../../", false), c, template.HTML(b.settleNote("../../"))})
}

func (b *builder) writeHome(ctx context.Context) error {
	recent := slices.Clone(b.m.Recent)
	slices.Reverse(recent)
	recent = recent[:min(len(recent), 20)]
	latest := ""
	if len(b.m.Recent) > 0 {
		latest = b.m.Recent[len(b.m.Recent)-1].Time
	}
	url := b.cfg.URL
	if url == "" {
		url = "URL-OF-THIS-SITE"
	}
	mapSVG, err := b.worldMap()
	if err != nil {
		return err
	}
	return b.putPage(ctx, "index.html", "home", struct {
		common
		Root, Latest, URL string
		Cosigners         []cosigner
		Recent            []city
		Map, Chart        template.HTML
	}{b.common("home", "City codes", "./", true), base64.StdEncoding.EncodeToString(b.cp.Root[:]), latest, url,
		b.cosigners(), recent, mapSVG, allocationChart(b.m.Days)})
}

type csvFile struct{ Path, Name, Rows string }

func (b *builder) writeDownload(ctx context.Context) error {
	var files []csvFile
	for part := uint64(0); part*csvPart < b.cp.Size; part++ {
		rows := min(csvPart, b.cp.Size-part*csvPart)
		files = append(files, csvFile{csvPath(part), strings.TrimPrefix(csvPath(part), "site/csv/"), groupDigits(rows) + " rows"})
	}
	return b.putPage(ctx, "download.html", "download", struct {
		common
		CSVFiles    []csvFile
		CSVPart     uint64
		RecentCount int
	}{b.common("download", "Download", "./", false), files, csvPart, recentCount})
}

// staticHash names what every page shows besides its cities: the
// templates (the layout is every page's), the static files and the
// settings. The static files are written again only when it changes, and
// an update that finds it changed makes the whole site again.
func (b *builder) staticHash() string {
	h := sha256.New()
	for _, a := range assets {
		h.Write([]byte(a.Path + "\x00" + a.SRI + "\x00"))
	}
	names, _ := fs.Glob(templateFS, "templates/*.html")
	for _, name := range names {
		raw, _ := templateFS.ReadFile(name)
		h.Write([]byte(name + "\x00"))
		h.Write(raw)
	}
	h.Write(goRendered())
	fmt.Fprintf(h, "%s\x00%s\x00%q\x00%d", b.cp.Origin, b.cfg.Key, b.cfg.Witnesses, b.cfg.Quorum)
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// goRendered is what Go, not a template, writes of the lists and
// log-order pages (their text, rows and JSON twins), for a fixed sample
// city in a layout of no log: part of staticHash, so that a citylog whose
// pages read differently rebuilds the site, as one with new templates
// does.
var goRendered = func() []byte {
	lat, lon := 48.8566, 2.3522
	sample := []city{{Index: 7, Code: "FR-IDF-0007-Q", Country: "FR", Subdivision: "IDF", Name: `Paris <&> "Île"`,
		IDs: []string{"unlocode:FRPAR", "geonames:2988507"}, Lat: &lat, Lon: &lon, Time: "2026-01-02T03:04:05Z", folded: "paris ile"}}
	list := listJSON{V: 1, Country: "FR", Subdivision: "IDF", Page: 1, Next: true, Cities: sample}
	logPage := logJSON{V: 1, Page: 3, Next: true, Cities: sample}
	b := appendLogJSON(appendListJSON(nil, list), logPage)
	sb := &builder{} // the layout's own parts are in the templates' hash
	b, err := sb.listHTML(b, list)
	if err == nil {
		b, err = sb.logHTML(b, logPage)
	}
	if err != nil {
		return []byte(err.Error())
	}
	return b
}

func (b *builder) writeStatic(ctx context.Context) error {
	hash := b.staticHash()
	if b.m.Assets == hash && !b.full {
		return nil
	}
	for _, a := range assets {
		if err := b.put(ctx, a.Path, a.Data); err != nil {
			return err
		}
	}
	for _, p := range []struct{ name, title, path string }{
		{"code", "Verify a code", "code.html"},
		{"search", "Search", "search.html"},
	} {
		if err := b.putPage(ctx, p.path, p.name, b.common(p.name, p.title, "./", true)); err != nil {
			return err
		}
	}
	var scripts []asset
	for _, a := range assets {
		if strings.HasSuffix(a.Path, ".js") {
			scripts = append(scripts, a)
		}
	}
	err := b.putPage(ctx, "about.html", "about", struct {
		common
		Scripts []asset
	}{b.common("about", "How it works", "./", false), scripts})
	if err != nil {
		return err
	}
	b.m.Assets = hash
	return nil
}

// appendRows appends a list's rows: a city's name, code (a link to its
// code page) and identifiers.
func appendRows(b []byte, cities []city, prefix string) []byte {
	for _, c := range cities {
		b = append(b, "<tr>"...)
		b = appendCityCells(b, c, prefix)
		b = append(b, "</tr>\n"...)
	}
	return b
}

// appendCityCells appends a city's name, code (a link to its code page)
// and identifiers as table cells.
func appendCityCells(b []byte, c city, prefix string) []byte {
	b = append(b, `<td dir="auto">`...)
	b = append(b, html.EscapeString(c.Name)...)
	b = append(b, `</td><td><a class="code" href="`...)
	b = append(b, prefix...)
	b = append(b, `code.html#`...)
	b = append(b, c.Code...) // A-Z, 0-9 and '-' only
	b = append(b, `">`...)
	b = append(b, c.Code...)
	b = append(b, `</a></td><td>`...)
	for i, id := range c.IDs {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, "<code>"...)
		b = append(b, html.EscapeString(id)...)
		b = append(b, "</code>"...)
	}
	return append(b, "</td>"...)
}
