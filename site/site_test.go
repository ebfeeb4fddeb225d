package site

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/citylog/citylog/internal/store/dirstore"
	"github.com/citylog/citylog/log"
	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/tiles"
	"github.com/citylog/citylog/tiles/cosig"
	"github.com/citylog/citylog/tiles/source"
)

// The tests cross every size boundary with small logs: creating files is
// what costs here.
func init() {
	pageSize, csvPart, leafCapacity = 20, 300, 24
	logPageSize, tailChunk, settleEvery = 64, 40, 256
}

// testLog is a log made by the real writer from the sample cities.
type testLog struct {
	dir, vkey string
	w         *log.Writer
	next      int // the next sample line
	reqs      []entry.Request
}

// sampleRequests reads the first n requests of testdata/cities.jsonl,
// plus cities whose names are in other scripts.
func sampleRequests(t testing.TB, n int) []entry.Request {
	t.Helper()
	f, err := os.Open("../testdata/cities.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []entry.Request
	for _, extra := range []string{
		`{"country":"CN","subdivision":"BJ","name":"北京","ids":["national:CN:test:bj"]}`,
		`{"country":"EG","subdivision":"C","name":"القاهرة","ids":["national:EG:test:cairo"]}`,
		`{"country":"IL","subdivision":"JM","name":"ירושלים","ids":["national:IL:test:jlm"]}`,
	} {
		r, err := entry.ParseRequest([]byte(extra))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() && len(out) < n {
		r, err := entry.ParseRequest(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func newTestLog(t testing.TB, n int) *testLog {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "reg")
	vkey, err := log.Init(dir, "cities.example.org/site-test")
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w, err := log.Open(context.Background(), log.Config{Dir: dir, Now: func() time.Time {
		clock = clock.Add(37 * time.Minute) // spread over days and months
		return clock
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return &testLog{dir: dir, vkey: strings.TrimSpace(vkey), w: w, reqs: sampleRequests(t, n)}
}

// grow allocates the next n sample cities, in batches of batch.
func (l *testLog) grow(t testing.TB, n, batch int) {
	t.Helper()
	for n > 0 {
		k := min(n, batch, len(l.reqs)-l.next)
		if k == 0 {
			t.Fatal("out of sample cities")
		}
		if _, err := l.w.Allocate(context.Background(), l.reqs[l.next:l.next+k]); err != nil {
			t.Fatal(err)
		}
		l.next += k
		n -= k
	}
}

func (l *testLog) source(t testing.TB) source.Source {
	t.Helper()
	st, err := dirstore.New(filepath.Join(l.dir, log.PublicDir))
	if err != nil {
		t.Fatal(err)
	}
	return source.Func{Name: "test log", Read: st.ReadFile}
}

// built is the site a build from scratch gives of the log as it is now:
// what every update, however cut short, must end with.
func (l *testLog) built(t testing.TB) map[string][]byte {
	t.Helper()
	dir, _ := l.newSite(t)
	return readTree(t, dir)
}

// newSite builds the log's site into a directory of its own, for a test
// to update.
func (l *testLog) newSite(t testing.TB) (string, *dirstore.Store) {
	t.Helper()
	dir, st := siteDir(t)
	if _, err := Build(context.Background(), l.config(t, st)); err != nil {
		t.Fatal(err)
	}
	return dir, st
}

// siteDir is a site written into its own directory (so that files can be
// compared without the log's).
func siteDir(t testing.TB) (string, *dirstore.Store) {
	t.Helper()
	dir := t.TempDir()
	st, err := dirstore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, st
}

func (l *testLog) config(t testing.TB, st Store) Config {
	return Config{Store: st, Source: l.source(t), Key: l.vkey}
}

// readTree returns every file under dir by slash path.
func readTree(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTrees(t *testing.T, what string, got, want map[string][]byte) {
	t.Helper()
	for p, w := range want {
		if g, ok := got[p]; !ok {
			t.Errorf("%s: %s missing", what, p)
		} else if !bytes.Equal(g, w) {
			t.Errorf("%s: %s differs:\n got %.300q\nwant %.300q", what, p, g, w)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: %s should not be there", what, p)
		}
	}
}

// TestUpdateIsBuild: a site brought up to date batch after batch holds
// exactly the files, byte for byte, of a site built from scratch at the
// end: the name index's splits, the last list pages, the CSV parts and
// the counts all come out the same whatever the history.
func TestUpdateIsBuild(t *testing.T) {
	ctx := context.Background()
	l := newTestLog(t, 2000)
	l.grow(t, 200, 200) // all settled; then past settleEvery, and past it again
	incDir, inc := l.newSite(t)
	for _, batch := range []int{1, 9, 37, 256, 700, 1} {
		l.grow(t, batch, batch)
		rep, err := Update(ctx, l.config(t, inc))
		if err != nil {
			t.Fatal(err)
		}
		if rep.To-rep.From != uint64(batch) {
			t.Fatalf("update %+v after a batch of %d", rep, batch)
		}
	}
	got, want := readTree(t, incDir), l.built(t)
	sameTrees(t, "updated site", got, want)
	if len(want) < 100 {
		t.Fatalf("the site has %d files", len(want))
	}
	// An update with nothing new writes nothing.
	rep, err := Update(ctx, l.config(t, inc))
	if err != nil || rep.Files != 0 {
		t.Errorf("an update with nothing new: %+v, %v", rep, err)
	}
}

// TestUpdateTakesACosignedCheckpoint: a checkpoint of the same tree with
// one more signature (a witness's cosignature arriving after the
// publication) is one the site takes whole, the CSV download's checkpoint
// included, as a build would.
func TestUpdateTakesACosignedCheckpoint(t *testing.T) {
	ctx := context.Background()
	l := newTestLog(t, 300)
	l.grow(t, 150, 150)
	dir, st := l.newSite(t)
	public := filepath.Join(l.dir, log.PublicDir)
	cosign := func(signed []byte) []byte {
		sig := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 4+64))
		return append(slices.Clip(signed), "— witness.example/w "+sig+"\n"...)
	}
	raw, err := os.ReadFile(filepath.Join(public, "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(public, "checkpoint"), cosign(raw), 0o644); err != nil {
		t.Fatal(err)
	}
	raw, err = os.ReadFile(filepath.Join(public, tiles.EdgePath))
	if err != nil {
		t.Fatal(err)
	}
	edge, err := tiles.ParseEdge(raw)
	if err != nil {
		t.Fatal(err)
	}
	edge.Checkpoint = cosign(edge.Checkpoint)
	if err := os.WriteFile(filepath.Join(public, tiles.EdgePath), edge.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Update(ctx, l.config(t, st)); err != nil {
		t.Fatal(err)
	}
	got := readTree(t, dir)
	if !bytes.Contains(got[csvCheckpointPath], []byte("witness.example/w")) {
		t.Errorf("%s is still the checkpoint without the cosignature:\n%s", csvCheckpointPath, got[csvCheckpointPath])
	}
	sameTrees(t, "updated site", got, l.built(t))
}

// TestUpdateRebuildsForNewRows: the rows Go writes into the lists are
// part of what makes an update rebuild the site, as the templates are.
func TestUpdateRebuildsForNewRows(t *testing.T) {
	ctx := context.Background()
	l := newTestLog(t, 300)
	l.grow(t, 150, 150)
	_, st := l.newSite(t)
	defer func(f func() []byte) { goRendered = f }(goRendered)
	was := goRendered
	goRendered = func() []byte { return append(was(), "<td>a new column</td>"...) }
	if rep, err := Update(ctx, l.config(t, st)); err != nil || !rep.Rebuilt {
		t.Errorf("update by a citylog whose rows differ: %+v, %v; want a rebuild", rep, err)
	}
}

// TestUpdateRebuildsForNewSettings: every page shows the log's settings
// in its layout, and the lists and country pages are written only when
// their cities change; so an update under new settings (a witness added
// to the policy) makes the site again whole, as a build under them does.
func TestUpdateRebuildsForNewSettings(t *testing.T) {
	ctx := context.Background()
	l := newTestLog(t, 300)
	l.grow(t, 150, 150)
	// A site made by its first update is built, not rebuilt.
	_, fresh := siteDir(t)
	if rep, err := Update(ctx, l.config(t, fresh)); err != nil || rep.Rebuilt {
		t.Errorf("the first update of a site: %+v, %v; want a site built, not rebuilt", rep, err)
	}
	dir, st := l.newSite(t)
	_, vkey, err := cosig.GenerateKey("witness.example/w1")
	if err != nil {
		t.Fatal(err)
	}
	cfg := l.config(t, st)
	cfg.Witnesses = []string{vkey}
	rep, err := Update(ctx, cfg)
	if err != nil || !rep.Rebuilt {
		t.Fatalf("update under a new witness policy: %+v, %v; want a rebuild", rep, err)
	}
	got := readTree(t, dir)
	wantDir, wantSt := siteDir(t)
	cfg.Store = wantSt
	if _, err := Build(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	sameTrees(t, "site updated under new settings", got, readTree(t, wantDir))
	// And then an update with nothing new writes nothing again.
	cfg.Store = st
	if rep, err := Update(ctx, cfg); err != nil || rep.Files != 0 || rep.Rebuilt {
		t.Errorf("the next update: %+v, %v; want nothing written", rep, err)
	}
}

// TestUpdateCutShort: an update whose writes fail part-way (the disk
// fills, the bucket goes away) leaves a site that the next update
// completes, ending byte for byte where a build ends.
func TestUpdateCutShort(t *testing.T) {
	ctx := context.Background()
	l := newTestLog(t, 2000)
	l.grow(t, 500, 500)
	incDir, inc := l.newSite(t)
	l.grow(t, 900, 900)
	for _, after := range []int{0, 3, 50, 200, 400} {
		failing := &failAfter{Store: inc, n: after}
		if _, err := Update(ctx, l.config(t, failing)); err == nil {
			if after < 400 {
				t.Fatalf("the update succeeded with writes failing after %d", after)
			}
		}
	}
	if _, err := Update(ctx, l.config(t, inc)); err != nil {
		t.Fatal(err)
	}
	sameTrees(t, "site after cut-short updates", readTree(t, incDir), l.built(t))
}

// failAfter fails every write after the first n.
type failAfter struct {
	Store
	mu sync.Mutex
	n  int
}

func (f *failAfter) PutFile(ctx context.Context, p string, b []byte) error {
	f.mu.Lock()
	f.n--
	fail := f.n < 0
	f.mu.Unlock()
	if fail {
		return errors.New("injected: no space left on device")
	}
	return f.Store.PutFile(ctx, p, b)
}

// TestSiteFiles checks what the files say against the log: counts,
// pages, CSV rows, the feed, and that every city is found by its name.
func TestSiteFiles(t *testing.T) {
	l := newTestLog(t, 1200)
	l.grow(t, 1200, 1200)
	dir, st := l.newSite(t)
	checkSite(t, readTree(t, dir), 1200, 1024) // settleEvery 256
	// A build over it removes only the log-order pages the site has,
	// those past its settled entries (on a bucket, a request each).
	var removed []string
	var mu sync.Mutex
	counting := &failOn{Store: st, fail: func(op, p string, _ []byte) bool {
		if op == "remove" && strings.HasPrefix(p, "site/log/") {
			mu.Lock()
			removed = append(removed, p)
			mu.Unlock()
		}
		return false
	}}
	if _, err := Build(context.Background(), l.config(t, counting)); err != nil {
		t.Fatal(err)
	}
	if len(removed) != 0 {
		t.Errorf("a build over a site settled to 1024 removed %d log-order pages before it: %v", len(removed), removed)
	}
	checkSite(t, readTree(t, dir), 1200, 1024)
}

// TestRefresh: refreshed without settling, past settleEvery and past it
// again, a site shows every city (the lists the settled ones, the tail
// and the log-order pages the others); an update then settles it, as a
// refresh does with twice settleEvery unsettled, to what a build gives.
func TestRefresh(t *testing.T) {
	ctx := context.Background()
	l := newTestLog(t, 2000)
	l.grow(t, 300, 300)
	dir, st := l.newSite(t)
	for _, batch := range []int{100, 250, 1, 100} {
		l.grow(t, batch, batch)
		rep, err := Refresh(ctx, l.config(t, st))
		if err != nil {
			t.Fatal(err)
		}
		if rep.Settled != 256 || rep.SettleSeconds != 0 {
			t.Fatalf("a refresh settled: %+v", rep)
		}
		checkSite(t, readTree(t, dir), int(rep.To), 256)
	}
	rep, err := Update(ctx, l.config(t, st))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Settled != 512 || rep.From != rep.To || rep.SettleSeconds == 0 {
		t.Errorf("the update after refreshes: %+v, want the lists settled to 512", rep)
	}
	checkSite(t, readTree(t, dir), int(rep.To), 512)
	// With twice settleEvery unsettled, a refresh settles.
	l.grow(t, 600, 600)
	if rep, err = Refresh(ctx, l.config(t, st)); err != nil {
		t.Fatal(err)
	}
	if rep.Settled != 1280 || rep.SettleSeconds == 0 {
		t.Errorf("a refresh with %d entries unsettled: %+v, want the lists settled to 1280", rep.To-512, rep)
	}
	sameTrees(t, "settled site", readTree(t, dir), l.built(t))
}

// checkSite checks what a site's files say against each other: counts,
// pages, CSV rows, the feed, and that each of the log's n cities is on
// one page and found by its name, the first listed in the lists and the
// main index, the others on the log-order pages and in the tail.
func checkSite(t *testing.T, files map[string][]byte, n int, listed uint64) {
	t.Helper()
	var browse struct {
		Size      uint64          `json:"size"`
		Listed    uint64          `json:"listed"`
		LogPages  [2]uint64       `json:"log_pages"`
		Countries []browseCountry `json:"countries"`
	}
	if err := json.Unmarshal(files["site/browse.json"], &browse); err != nil {
		t.Fatal(err)
	}
	// Every city is on one page: a subdivision's if settled, else a
	// log-order page.
	all := make([]*city, n)
	onPage := func(path string, c city) {
		if c.Index >= uint64(len(all)) || all[c.Index] != nil {
			t.Fatalf("%s: city %d is not new", path, c.Index)
		}
		all[c.Index] = &c
	}
	total := 0
	for _, c := range browse.Countries {
		sum := 0
		for _, s := range c.Subdivisions {
			sum += s.Count
			// Every page of the subdivision is there, full but the last.
			for p := 0; p < s.Pages; p++ {
				path := listPath(c.Code, s.Code, p, ".json")
				var page listJSON
				if err := json.Unmarshal(files[path], &page); err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				last := p == s.Pages-1
				if (!last && len(page.Cities) != pageSize) || page.Next == last {
					t.Errorf("%s: %d cities, next %v", path, len(page.Cities), page.Next)
				}
				for _, city := range page.Cities {
					if city.Index >= browse.Listed || city.Country != c.Code || city.Subdivision != s.Code {
						t.Errorf("%s lists city %d of %s-%s", path, city.Index, city.Country, city.Subdivision)
					}
					onPage(path, city)
				}
				if _, ok := files[listPath(c.Code, s.Code, p, ".html")]; !ok {
					t.Errorf("%s missing", listPath(c.Code, s.Code, p, ".html"))
				}
			}
		}
		if sum != c.Count {
			t.Errorf("%s: subdivisions sum to %d, country says %d", c.Code, sum, c.Count)
		}
		total += sum
	}
	// The lists hold the settled cities.
	if total != int(listed) || browse.Size != uint64(n) || browse.Listed != listed {
		t.Errorf("browse.json lists %d cities, listed %d, at size %d; want %d of %d", total, browse.Listed, browse.Size, listed, n)
	}
	// The log-order pages hold the others, in order.
	if browse.LogPages != [2]uint64{listed / logPageSize, (uint64(n) + logPageSize - 1) / logPageSize} {
		t.Errorf("browse.json has log-order pages %d, want the pages from city %d to %d", browse.LogPages, listed, n)
	}
	for p := browse.LogPages[0]; p < browse.LogPages[1]; p++ {
		path := logPath(p, ".json")
		var page logJSON
		if err := json.Unmarshal(files[path], &page); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if page.Next != (p < browse.LogPages[1]-1) || (page.Next && uint64(len(page.Cities)) != logPageSize) {
			t.Errorf("%s: %d cities, next %v", path, len(page.Cities), page.Next)
		}
		html := files[logPath(p, ".html")]
		for k, c := range page.Cities {
			if c.Index != max(p*logPageSize, listed)+uint64(k) {
				t.Fatalf("%s holds city %d in place %d", path, c.Index, k)
			}
			if row := fmt.Sprintf(`<tr><td class="num">%d</td><td dir="auto">`, c.Index); !bytes.Contains(html, []byte(row)) || !bytes.Contains(html, []byte(`code.html#`+c.Code+`">`+c.Code+`</a>`)) {
				t.Errorf("%s does not show city %d, %s", logPath(p, ".html"), c.Index, c.Code)
			}
			onPage(path, c)
		}
	}
	for p := range files {
		if strings.HasPrefix(p, "site/log/") && !strings.HasSuffix(p, ".html") {
			var n uint64
			if _, err := fmt.Sscanf(p, "site/log/%d.json", &n); err != nil || n < browse.LogPages[0] || n >= browse.LogPages[1] {
				t.Errorf("%s should not be there", p)
			}
		}
	}
	for i, c := range all {
		if c == nil {
			t.Fatalf("city %d is on no page", i)
		}
	}
	rows := 0
	for part := uint64(0); part*csvPart < uint64(n); part++ {
		rows += bytes.Count(files[csvPath(part)], []byte("\n")) - 1
	}
	if rows != n {
		t.Errorf("the CSV files have %d rows, want %d", rows, n)
	}
	if !bytes.Contains(files["site/feed.atom"], []byte("<entry>")) {
		t.Error("the feed has no entry")
	}
	// The map shades every country it draws by all its cities, settled
	// or not.
	perCountry := map[string]int{}
	for _, c := range all {
		perCountry[c.Country]++
	}
	drawn := 0
	for cc, k := range perCountry {
		name := html.EscapeString(countryName(cc) + ": ")
		if !bytes.Contains(files["index.html"], []byte("<title>"+name)) {
			continue // too small for the map's scale
		}
		drawn++
		if title := "<title>" + name + citiesText(uint64(k)) + "</title>"; !bytes.Contains(files["index.html"], []byte(title)) {
			t.Errorf("the map does not say %s", title)
		}
	}
	if drawn == 0 {
		t.Error("the map draws none of the log's countries")
	}
	// Every city is found by its name: by walking the main index for a
	// settled city, in the tail's chunks for the others.
	main, err := parseLeaves(files[leavesPath])
	if err != nil {
		t.Fatal(err)
	}
	firsts, err := parseTail(files[tailPath])
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range all {
		f := Fold(c.Name)
		line := []byte(f + "\t" + c.Name + "\t" + c.Code + "\n")
		if c.Index < browse.Listed {
			if leaf := files[leafPath(main.leafFor(f))]; !bytes.Contains(leaf, line) {
				t.Fatalf("city %d %q (folded %q) is not in its leaf %s", c.Index, c.Name, f, leafPath(main.leafFor(f)))
			}
			continue
		}
		for _, q := range []string{f, f[:len(f)/2]} { // the whole name, and a prefix
			found := false
			lo, hi := tailChunksFor(firsts, q)
			for n := lo; n < hi; n++ {
				found = found || bytes.Contains(files[tailChunkPath(n)], line)
			}
			if !found {
				t.Fatalf("city %d %q (folded %q) is not in tail chunks %d to %d", c.Index, c.Name, f, lo, hi)
			}
		}
	}
	for key := range main.leaves {
		lines, err := parseLeaf(key, files[leafPath(key)])
		if err != nil {
			t.Fatal(err)
		}
		if len(lines) > leafCapacity && !allEqual(lines) {
			t.Errorf("leaf %s holds %d names", leafPath(key), len(lines))
		}
	}
	var tail []nameLine
	for n := range firsts {
		lines, err := parseLeaf(tailChunkPath(n), files[tailChunkPath(n)])
		if err != nil {
			t.Fatal(err)
		}
		if len(lines) != tailChunk && n < len(firsts)-1 || len(lines) == 0 || lines[0].folded != firsts[n] {
			t.Errorf("%s holds %d names, from %q; tail.txt says from %q", tailChunkPath(n), len(lines), lines[0].folded, firsts[n])
		}
		tail = append(tail, lines...)
	}
	if len(tail) != n-int(listed) || !slices.IsSortedFunc(tail, compareLines) {
		t.Errorf("the tail index holds %d names (sorted: %v), want %d", len(tail), slices.IsSortedFunc(tail, compareLines), n-int(listed))
	}

	for _, p := range []string{"index.html", "code.html", "search.html", "browse.html", "about.html", "download.html", "site/app.js", "site/verify.js", "site/style.css"} {
		if len(files[p]) == 0 {
			t.Errorf("%s is missing", p)
		}
	}
}

func TestFold(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"São Paulo", "sao paulo"},
		{"Zürich", "zurich"},
		{"Saint-Étienne", "saint etienne"},
		{"Łódź", "lodz"},
		{"Straße", "strasse"},
		{"İstanbul", "istanbul"},
		{"  New   York  ", "new york"},
		{"北京", "北京"},
		{"ＴＯＫＹＯ", "tokyo"}, // compatibility forms
		{"Ærøskøbing", "aeroskobing"},
		{"القاهرة", "القاهرة"},
		{"Köln (Cologne)", "koln cologne"},
	} {
		if got := Fold(c.in); got != c.want {
			t.Errorf("Fold(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzFoldASCII holds Fold's shortcut for names in ASCII to the general
// path: the same folded name for any ASCII string, and no answer for any
// other.
func FuzzFoldASCII(f *testing.F) {
	for _, s := range []string{"New York", "  st. John's-9  ", "A\tB\x00c", "ZÜRICH", "Köln", "", "~!@#", "x\x7f1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := foldASCII(s)
		ascii := true
		for i := range len(s) {
			ascii = ascii && s[i] < utf8.RuneSelf
		}
		if ok != ascii {
			t.Fatalf("foldASCII(%q) ok = %v, want %v", s, ok, ascii)
		}
		if want := foldUnicode(s); ok && got != want {
			t.Fatalf("foldASCII(%q) = %q, foldUnicode gives %q", s, got, want)
		}
	})
}

// TestNameTrieOrder: the name index's files depend on the set of names
// alone: added in one go or in batches of any size, in any order.
func TestNameTrieOrder(t *testing.T) {
	ctx := context.Background()
	var lines []nameLine
	for i := range 1500 {
		// Many shared prefixes, some names equal, some short.
		name := []string{"San", "Santa", "Sant", "S", "San José", "Saint", "Sankt", "Salt"}[i%8] + fmt.Sprint(i%97)
		if i%11 == 0 {
			name = "San"
		}
		lines = append(lines, nameLine{Fold(name), name, fmt.Sprintf("XX-0-%04d", i)})
	}
	build := func(batches ...int) map[string][]byte {
		dir, st := siteDir(t)
		rest := lines
		for _, n := range batches {
			if err := updateNames(ctx, st, rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		return readTree(t, dir)
	}
	one := build(len(lines))
	sameTrees(t, "in batches", build(1, 10, 100, 889, 500), one)
	sameTrees(t, "one by one to 100, then the rest", build(append(repeat(1, 100), 1400)...), one)
	if len(one) < 10 {
		t.Fatalf("only %d files: the trie did not split", len(one))
	}
}

func repeat(v, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestMergeRuns(t *testing.T) {
	l := func(names ...string) []nameLine {
		var out []nameLine
		for _, n := range names {
			out = append(out, nameLine{n, n, "C-" + n})
		}
		return out
	}
	for _, c := range []struct{ a, b, want []nameLine }{
		{nil, nil, nil},
		{l("a", "c"), l("b", "d"), l("a", "b", "c", "d")},
		{l("a", "b"), l("b", "c"), l("a", "b", "c")}, // a name in both: once
		{l("a", "a", "b"), nil, l("a", "b")},         // repeats within a run
		{nil, l("x", "x", "y", "z"), l("x", "y", "z")},
		{l("b", "d", "f"), l("a", "c", "e", "g"), l("a", "b", "c", "d", "e", "f", "g")},
	} {
		a := c.a
		next := mergeRuns(func() (nameLine, bool) {
			if len(a) == 0 {
				return nameLine{}, false
			}
			l := a[0]
			a = a[1:]
			return l, true
		}, c.b)
		var got []nameLine
		for l, ok := next(); ok; l, ok = next() {
			got = append(got, l)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("mergeRuns(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

func TestTailChunksFor(t *testing.T) {
	firsts := []string{"a", "ba", "bb", "bb", "bc", "d"}
	for _, c := range []struct {
		q      string
		lo, hi int
	}{
		{"", 0, 6},   // everything starts with "" (the caller caps what it fetches)
		{"a", 0, 1},  // chunk 0 only: "ba" does not start with "a"
		{"b", 0, 5},  // names from "b" may end chunk 0; chunks 1-4 start with "b"
		{"bb", 1, 4}, // chunk 1 may end with "bb..."; 2 and 3 start with it
		{"bc", 3, 5}, // the last chunk before "bc", and "bc"'s own
		{"c", 4, 5},  // between "bc" and "d": in chunk 4 if anywhere
		{"zz", 5, 6}, // past the last first name: the last chunk
		{"0", 0, 1},  // before everything: the first chunk
	} {
		if lo, hi := tailChunksFor(firsts, c.q); lo != c.lo || hi != c.hi {
			t.Errorf("tailChunksFor(%q) = [%d, %d), want [%d, %d)", c.q, lo, hi, c.lo, c.hi)
		}
	}
	if lo, hi := tailChunksFor(nil, "a"); lo != 0 || hi != 0 {
		t.Errorf("tailChunksFor of no chunks = [%d, %d)", lo, hi)
	}
}

// TestPagesPreload: a page with the scripts asks for every module of its
// import map at once (a module found only once its importer is parsed
// costs a round trip more), with the hash the import map checks, and the
// code page asks for checkpoint.edge while the scripts load.
func TestPagesPreload(t *testing.T) {
	l := newTestLog(t, 300)
	l.grow(t, 300, 300)
	dir, _ := l.newSite(t)
	tree := readTree(t, dir)
	importMap := regexp.MustCompile(`<script type="importmap">([^<]*)</script>`)
	modulePreload := regexp.MustCompile(`<link rel="modulepreload" href="([^"]*)" integrity="([^"]*)">`)
	for _, name := range []string{"index.html", "code.html", "search.html"} {
		page := string(tree[name])
		m := importMap.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("%s has no import map", name)
		}
		var im struct{ Integrity map[string]string }
		if err := json.Unmarshal([]byte(m[1]), &im); err != nil {
			t.Fatalf("%s: import map: %v", name, err)
		}
		if len(im.Integrity) < 2 {
			t.Fatalf("%s: the import map checks %d modules, want verify.js and rules.js", name, len(im.Integrity))
		}
		preloads := map[string]string{}
		for _, l := range modulePreload.FindAllStringSubmatch(page, -1) {
			preloads[html.UnescapeString(l[1])] = html.UnescapeString(l[2])
		}
		for path, sri := range im.Integrity {
			if preloads[path] != sri {
				t.Errorf("%s preloads %s with integrity %q, want %q", name, path, preloads[path], sri)
			}
		}
		edge := `<link rel="preload" href="./checkpoint.edge" as="fetch" crossorigin="anonymous">`
		if got := strings.Contains(page, edge); got != (name == "code.html") {
			t.Errorf("%s preloads checkpoint.edge: %v, want it on the code page alone", name, got)
		}
	}
}

// TestUpdateTakesFreshEntries: an update given the entries just published
// (Config.Fresh) reads none of the bundles they fill, and writes the site
// a build gives; one whose entries are not the indices it claims fails.
func TestUpdateTakesFreshEntries(t *testing.T) {
	ctx := context.Background()
	l := newTestLog(t, 2000)
	l.grow(t, 200, 200)
	dir, st := l.newSite(t)
	for _, batch := range []int{300, 700, 37} {
		from := uint64(l.next)
		l.grow(t, batch, batch)
		to := uint64(l.next)
		fresh := &Fresh{From: from, Entries: l.entries(t, from, to)}
		var read []string
		var mu sync.Mutex
		cfg := l.config(t, st)
		logSrc := cfg.Source
		cfg.Source = source.Func{Name: "test log", Read: func(ctx context.Context, path string) ([]byte, error) {
			mu.Lock()
			read = append(read, path)
			mu.Unlock()
			return logSrc.Fetch(ctx, path)
		}}
		cfg.Fresh = fresh
		if _, err := Update(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		for bi := (from + tiles.Width - 1) / tiles.Width; (bi+1)*tiles.Width <= to; bi++ {
			if p := tiles.Bundle(bi, to).Path(); slices.Contains(read, p) {
				t.Errorf("after a batch of %d, the update read %s, whose entries it was given", batch, p)
			}
		}
	}
	sameTrees(t, "site updated from fresh entries", readTree(t, dir), l.built(t))

	from := uint64(l.next)
	l.grow(t, 256, 256)
	cfg := l.config(t, st)
	cfg.Fresh = &Fresh{From: from, Entries: l.entries(t, from-1, from+255)} // each one index off
	if _, err := Update(ctx, cfg); err == nil || !strings.Contains(err.Error(), "fresh entry") {
		t.Errorf("fresh entries one index off: %v, want an error saying so", err)
	}
}

// entries returns the entries [from, to) of the log, decoded from its
// bundles.
func (l *testLog) entries(t testing.TB, from, to uint64) []entry.Entry {
	t.Helper()
	var out []entry.Entry
	for bi := from / tiles.Width; bi*tiles.Width < to; bi++ {
		raws, err := source.FetchBundle(context.Background(), l.source(t), tiles.Bundle(bi, l.w.Size()))
		if err != nil {
			t.Fatal(err)
		}
		for j, raw := range raws {
			if i := bi*tiles.Width + uint64(j); i >= from && i < to {
				e, err := entry.DecodeUnchecked(raw)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, e)
			}
		}
	}
	return out
}
