package site

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/citylog/citylog/internal/store/dirstore"
	"github.com/citylog/citylog/internal/testenv/browser"
	"github.com/citylog/citylog/log"
	"github.com/citylog/citylog/log/idcode"
)

// artifactsDir is where the browser tests leave their screenshots: look
// at them. CITYLOG_ARTIFACTS moves it; by default it is .artifacts/site
// at the repository's root (git-ignored).
func artifactsDir(t *testing.T) string {
	dir := os.Getenv("CITYLOG_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", ".artifacts")
	}
	dir = filepath.Join(dir, "site")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// servedLog is a log with its site in its public tree, served over real
// HTTP as any static host would (with CORS, as citylog serve and public
// buckets do, so other origins may read it).
type servedLog struct {
	*testLog
	public string
	url    string
}

func serveLog(t *testing.T, n int) *servedLog {
	t.Helper()
	l := newTestLog(t, n)
	l.grow(t, n, n)
	if err := l.w.PublishIDIndex(context.Background()); err != nil {
		t.Fatal(err)
	}
	public := filepath.Join(l.dir, log.PublicDir)
	st, err := dirstore.New(public)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Build(context.Background(), l.config(t, st)); err != nil {
		t.Fatal(err)
	}
	// Under a path prefix, as a mirror or a bucket website might put it:
	// every link and fetch must be relative.
	const prefix = "/mirrors/cities/"
	files := http.StripPrefix(strings.TrimSuffix(prefix, "/"), http.FileServer(http.Dir(public)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Cache-Control", "no-cache")
		if !strings.HasPrefix(r.URL.Path, prefix) {
			http.Error(w, "outside the mirror's prefix", http.StatusNotFound)
			return
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return &servedLog{testLog: l, public: public, url: srv.URL + strings.TrimSuffix(prefix, "/")}
}

// searchResults opens the search page at base for query and returns the
// results' text once the search is done.
func searchResults(t *testing.T, ctx context.Context, base, query string) string {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/search.html?q="+url.QueryEscape(query))); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Poll[string](`(r => r.dataset.done === "true" && r.textContent)(document.getElementById("search-results"))`))
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// requests records the URLs the tab requests.
type requests struct {
	mu   sync.Mutex
	urls []string
}

func recordRequests(ctx context.Context) *requests {
	r := &requests{}
	chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			r.mu.Lock()
			r.urls = append(r.urls, e.Request.URL)
			r.mu.Unlock()
		}
	})
	return r
}

func (r *requests) reset() {
	r.mu.Lock()
	r.urls = nil
	r.mu.Unlock()
}

func (r *requests) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.urls...)
}

type verdict struct {
	Verdict, Text string
	MS            string
}

// verdictOf opens a code page and waits for its outcome.
func verdictOf(t *testing.T, ctx context.Context, url string) verdict {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank"), chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	v, err := chromedp.Run(ctx, chromedp.Poll[verdict](`(v => v.dataset.done === "true" && {Verdict: v.dataset.verdict, Text: v.textContent, MS: v.dataset.ms})(document.getElementById("verdict"))`))
	if err != nil {
		t.Fatalf("%s: no verdict: %v", url, err)
	}
	return v
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(artifactsDir(t), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// TestSiteInBrowser runs the site in a real headless Chromium: the home
// page loads with no failed request, a name search finds a city (in
// several scripts, accents and case aside), its code page says verified,
// a flipped byte in a tile makes it say failed and name the tile, a page
// pointed at a mirror serving another log's checkpoint says failed, and a
// mistyped check character is caught before any request.
func TestSiteInBrowser(t *testing.T) {
	ctx := browser.Start(t)
	if ctx == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1100, 900)); err != nil {
		t.Fatal(err)
	}
	l := serveLog(t, 1200)
	problems := browser.Watch(ctx)
	reqs := recordRequests(ctx)

	// The home page: nothing fails.
	if err := chromedp.Do(ctx, chromedp.Navigate(l.url+"/index.html"), chromedp.WaitVisible("#recent-h")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.readyState === "complete"`)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // late module loads and their errors
	screenshot(t, ctx, "home")
	if p := problems(); len(p) > 0 {
		t.Errorf("the home page had problems: %q", p)
	}
	for _, u := range reqs.list() {
		if !strings.HasPrefix(u, l.url+"/") {
			t.Errorf("the home page fetched %s, outside the log's own tree", u)
		}
	}

	// Search by name, in several scripts.
	for _, c := range []struct{ query, want string }{
		{"sao p", "São Paulo"},
		{"ZUR", "Zürich"},
		{"北", "北京"},
		{"القا", "القاهرة"},
		{"ירו", "ירושלים"},
	} {
		text := searchResults(t, ctx, l.url, c.query)
		if !strings.Contains(text, c.want) {
			t.Errorf("searching %q: %q, want %s", c.query, text, c.want)
		}
		if c.query == "sao p" {
			screenshot(t, ctx, "search")
		}
	}
	// A city past the settled entries is found through the tail index
	// (1,200 entries with settleEvery 256: the last 176).
	raw, err := os.ReadFile(filepath.Join(l.public, logPath(1199/logPageSize, ".json")))
	if err != nil {
		t.Fatal(err)
	}
	var page logJSON
	if err := json.Unmarshal(raw, &page); err != nil {
		t.Fatal(err)
	}
	newest := page.Cities[len(page.Cities)-1]
	if newest.Index != 1199 || settledSize(1200) > newest.Index {
		t.Fatalf("the newest city is %d, not in the tail", newest.Index)
	}
	if text := searchResults(t, ctx, l.url, newest.Name); !strings.Contains(text, newest.Code) {
		t.Errorf("searching %q, a city in the tail index: %q, want %s", newest.Name, text, newest.Code)
	}
	// By identifier, through the log's index/ids shards.
	if text := searchResults(t, ctx, l.url, "geonames:3448439"); !strings.Contains(text, "São Paulo") || !strings.Contains(text, "BR-SP-") {
		t.Errorf("searching geonames:3448439: %q, want São Paulo's code", text)
	}
	// Its code page verifies it.
	if err := chromedp.Do(ctx, chromedp.Navigate(l.url+"/search.html?q=sao+paulo")); err != nil {
		t.Fatal(err)
	}
	href, err := chromedp.Run(ctx, chromedp.Poll[string](`(a => a && a.href)(document.querySelector("#search-results[data-done] a.code"))`))
	if err != nil {
		t.Fatal(err)
	}
	reqs.reset()
	v := verdictOf(t, ctx, href)
	screenshot(t, ctx, "code-verified")
	edges := 0
	for _, u := range reqs.list() {
		if strings.HasSuffix(u, "/checkpoint.edge") {
			edges++
		}
	}
	if edges != 1 {
		t.Errorf("the code page asked for checkpoint.edge %d times, want once: verify.js reads what the page preloaded", edges)
	}
	if v.Verdict != "verified" || !strings.Contains(v.Text, "size 1200") {
		t.Fatalf("%s: %+v, want verified at size 1200", href, v)
	}
	t.Logf("cold verification in the browser: %s ms", v.MS)
	if p := problems(); len(p) > 0 {
		t.Errorf("problems so far: %q", p)
	}
	code := href[strings.Index(href, "#")+1:]

	// A mistyped check character: caught, and nothing fetched.
	c, err := idcode.Parse(code)
	if err != nil {
		t.Fatal(err)
	}
	good := c.String()
	bad := good[:len(good)-1] + string(otherCheck(good[len(good)-1]))
	if err := chromedp.Do(ctx, chromedp.Navigate(l.url+"/code.html"), chromedp.WaitVisible("#verdict")); err != nil {
		t.Fatal(err)
	}
	reqs.reset()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.hash = "`+bad+`"`)); err != nil {
		t.Fatal(err)
	}
	v2, err := chromedp.Run(ctx, chromedp.Poll[verdict](`(v => v.dataset.done === "true" && v.textContent.includes("`+bad+`") && {Verdict: v.dataset.verdict, Text: v.textContent})(document.getElementById("verdict"))`))
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "code-mistyped")
	if v2.Verdict != "failed" || !strings.Contains(v2.Text, good) {
		t.Errorf("mistyped %s: %+v, want failed suggesting %s", bad, v2, good)
	}
	if r := reqs.list(); len(r) > 0 {
		t.Errorf("a mistyped code made requests: %q", r)
	}

	// Another log's checkpoint from a mirror: failed.
	other := serveLog(t, 10)
	v3 := verdictOf(t, ctx, l.url+"/code.html?log="+other.url+"/#"+good)
	if !strings.Contains(v3.Text, "not signed by this key") {
		t.Errorf("a mirror serving another log: %q, want it to say the checkpoint is not signed by this key", v3.Text)
	}
	screenshot(t, ctx, "code-other-log")
	if v3.Verdict != "failed" {
		t.Errorf("a mirror serving another log: %+v, want failed", v3)
	}

	// One byte of a tile the proof uses flipped on disk: failed, naming
	// the tile. (The entry's own bundle gives the hashes of its level-0
	// tile: the tiles the proof reads are those above.)
	verdictOf(t, ctx, l.url+"/code.html#"+good)
	fetched, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#fetched code")].map(c => c.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	tilePath := ""
	for _, f := range fetched {
		if strings.HasPrefix(f, "tile/") && !strings.HasPrefix(f, "tile/entries/") {
			tilePath = f
		}
	}
	if tilePath == "" {
		t.Fatalf("the proof fetched no hash tile: %q", fetched)
	}
	tile := filepath.Join(l.public, filepath.FromSlash(tilePath))
	orig, err := os.ReadFile(tile)
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), orig...)
	flipped[len(flipped)-1] ^= 0x40 // in the last hash, which the proof uses
	if err := os.WriteFile(tile, flipped, 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.WriteFile(tile, orig, 0o644)
	// A reader who never saw the honest tile: the browser keeps tiles it
	// fetched (full tiles never change), as cityverify does.
	if _, err := chromedp.Call(ctx, network.ClearBrowserCache, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	v4 := verdictOf(t, ctx, l.url+"/code.html#"+good)
	screenshot(t, ctx, "code-tampered-tile")
	if v4.Verdict != "failed" || !strings.Contains(v4.Text, tilePath+" is not the log's") {
		t.Errorf("after flipping a byte of %s: %+v, want failed blaming it alone", tilePath, v4)
	}
}

// otherCheck returns a check character other than c.
func otherCheck(c byte) byte {
	if c == 'A' {
		return 'B'
	}
	return 'A'
}

// TestFoldAgreesWithBrowser: the search script folds names as Fold does,
// or a query would look in another leaf than the name is in.
func TestFoldAgreesWithBrowser(t *testing.T) {
	names := []string{"São Paulo", "Zürich", "Saint-Étienne", "Łódź", "Straße", "İstanbul", "  New   York  ", "北京", "ＴＯＫＹＯ",
		"Ærøskøbing", "القاهرة", "ירושלים", "Köln (Cologne)", "ΟΔΟΣ", "Ǆemal", "ﬁnland", "Ⅻ", "١٢٣", "ǅ", "Mắc Ca", "Þórshöfn", "ŉ"}
	for _, r := range sampleRequests(t, 3000) {
		names = append(names, r.Name)
	}
	var folded []string
	if !callApp(t, `(m, names) => names.map(m.fold)`, names, &folded) {
		return
	}
	for i, n := range names {
		if folded[i] != Fold(n) {
			t.Errorf("fold(%q): browser %q, Go %q", n, folded[i], Fold(n))
		}
	}
}

// TestTailChunksAgreeWithBrowser: the search script picks the tail
// index's chunks for a query as tailChunksFor does, comparing names by
// their UTF-8 bytes as Go does (JavaScript's own comparison, by UTF-16
// units, puts U+E000-U+FFFF after the characters past U+FFFF).
func TestTailChunksAgreeWithBrowser(t *testing.T) {
	var firsts []string
	for i, r := range sampleRequests(t, 2000) {
		if i%7 == 0 {
			firsts = append(firsts, Fold(r.Name))
		}
	}
	firsts = append(firsts, "\ue000", "\uffee", "𝒜", "北京", "zz", "zz")
	slices.Sort(firsts)
	queries := []string{"", "\ue000", "\uffee", "𝒜", "\U0001d49b", "北", "zz", "zzz", "0", "~"}
	for i, f := range firsts {
		if i%3 == 0 {
			r := []rune(f)
			queries = append(queries, string(r[:len(r)/2]), f)
		}
	}
	in := struct {
		Firsts  []string `json:"firsts"`
		Queries []string `json:"queries"`
	}{firsts, queries}
	var ranges [][2]int
	if !callApp(t, `(m, x) => x.queries.map(q => m.tailChunksFor(x.firsts, q))`, in, &ranges) {
		return
	}
	for i, q := range queries {
		if lo, hi := tailChunksFor(firsts, q); ranges[i] != [2]int{lo, hi} {
			t.Errorf("chunks for %q: browser %v, Go [%d %d]", q, ranges[i], lo, hi)
		}
	}
}

// callApp calls fn, a JavaScript function of app.js's exports and of in
// (as JSON), on the site's search page in the browser, and decodes what
// it returns into out: the tests that hold the site's script to the Go
// code it mirrors. It says false when there is no browser to run it.
func callApp(t *testing.T, fn string, in, out any) bool {
	t.Helper()
	ctx := browser.Start(t)
	if ctx == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	l := serveLog(t, 5)
	arg, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(l.url+"/search.html")); err != nil {
		t.Fatal(err)
	}
	js := `import("./site/app.js").then(m => JSON.stringify((` + fn + `)(m, ` + string(arg) + `)))`
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(got), out); err != nil {
		t.Fatal(err)
	}
	return true
}
