// Package site generates the registry's static web site into the log's
// public tree, beside the tiles, so that one static host (or bucket, or
// CDN) serves both: pages readable without JavaScript, a JSON twin of
// every list, a search index of small static shards, bulk downloads, and
// an in-browser verifier (site/jsverify) that proves a code against the
// log's key, from whichever mirror serves the pages.
//
// The site is derived data: everything in it is computed from the log's
// entries and checkpoint, and nothing in it is trusted by a verifier. A
// search index answers with codes that the code page then proves.
//
// Update brings a site up to the log's checkpoint in time that grows with
// the new entries, not with the log. New cities spread over the world
// touch a file each wherever they are filed by place or by name (a batch
// of 16,384 touched 18,000 files of a 1M log's site, seconds of work), so
// those two are settled in steps, as a log-structured merge tree merges:
// the subdivision lists and the main name index hold the log's first
// entries (meta's Settled), and the entries past them are in a small tail
// name index (tail.go) and on log-order pages (logpages.go). Refresh puts
// new entries on the site (the tail, the log-order pages, the counts by
// day, the map, the feed, the CSV parts, the home page: about a hundred
// files); Update refreshes, then settles the entries up to
// settledSize(size) into the lists and the main index, which costs what
// an update of that many entries used to cost, once every settleEvery.
// A server refreshes after each publication and settles when idle.
//
// The files a site holds are a function of the log alone, so an update
// gives byte for byte what a full build of the same log gives
// (TestUpdateIsBuild). site/meta.json, written last, says which size the
// site reflects and how much of it is settled; an update cut short is redone from there, and every step
// is idempotent. A settling first writes its target to meta.json
// (settling): cut short, it leaves the lists, the tail and the log-order
// pages ahead of meta, and whatever runs next finishes it.
//
// The layout, relative to the public tree:
//
//	index.html, code.html, search.html, browse.html, about.html, download.html
//	site/meta.json            the size the site reflects, and its counts
//	site/browse.json          countries and subdivisions with their counts
//	site/c/CC.html|.json      a country's subdivisions
//	site/c/CC/SSS-N.html|.json page N of a subdivision's cities, in log order
//	site/log/N.html|.json     page N of all cities, in log order
//	site/names/...            the name index and its tail (names.go)
//	site/csv/cities-N.csv     all cities, 4,096 a file, with site/csv/checkpoint
//	site/feed.atom            the latest allocations
//	site/*.js, site/*.css     the scripts (published with their SHA-256) and style
package site

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/citylog/citylog/internal/parallel"
	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/tiles"
	"github.com/citylog/citylog/tiles/source"
	"github.com/citylog/citylog/verifier"
	"golang.org/x/sync/errgroup"
)

// ErrDamaged is wrapped by every error about a site whose files do not
// agree with each other or with the log (a file missing or malformed, the
// site of another log): updating cannot mend it, a build can.
var ErrDamaged = errors.New("run citylog site --full to rebuild the site")

// Store is where the site is written: the log's public tree (a
// directory or a bucket; internal/store's stores are Stores).
type Store interface {
	// ReadFile returns the file at path; a missing file is an error
	// wrapping fs.ErrNotExist.
	ReadFile(ctx context.Context, path string) ([]byte, error)
	// PutFile atomically replaces path with data, durable after Sync;
	// data is not kept after it returns (the site reuses its buffers).
	PutFile(ctx context.Context, path string, data []byte) error
	// RemoveFile removes path; a missing file is not an error.
	RemoveFile(ctx context.Context, path string) error
	// Sync makes every file put so far durable.
	Sync(ctx context.Context) error
}

// Config says which log a site shows and where it is written.
type Config struct {
	Store Store
	// Source reads the log (the same public tree, as a verifier reads
	// it); Key is the log's note verifier key, which the pages carry.
	Source source.Source
	Key    string
	// URL is where the public tree is served, for the verification
	// commands the home page shows (empty: the page shows its own URL).
	URL string
	// Witnesses are the witness verifier keys of the log's policy, and
	// Quorum how many must cosign: the pages show the cosignatures and
	// the code page demands the quorum.
	Witnesses []string
	Quorum    int
	// Progress, if set, hears of the entries read so far.
	Progress func(done, total uint64)
	// Fresh, if set, holds entries the caller has just published, as its
	// writer made them: a bundle whose entries are all here is not read
	// and decoded again (a fifth of an update's time after an import).
	Fresh *Fresh
}

// Fresh is a run of consecutive entries of the log, from index From on.
// They must be the log's own: an update shows them as they are here.
type Fresh struct {
	From    uint64
	Entries []entry.Entry
}

// covers returns the entries [lo, hi) if f holds them all.
func (f *Fresh) covers(lo, hi uint64) ([]entry.Entry, bool) {
	if f == nil || lo < f.From || hi > f.From+uint64(len(f.Entries)) {
		return nil, false
	}
	return f.Entries[lo-f.From : hi-f.From], true
}

// Report says what a build or update did.
type Report struct {
	From    uint64  `json:"from"` // the size the site reflected before
	To      uint64  `json:"to"`
	Files   int     `json:"files"` // files written
	Seconds float64 `json:"seconds"`
	// Settled is how many of the first entries the lists and the main
	// name index hold; SettleSeconds of Seconds went to settling them,
	// after the new entries were on the site.
	Settled       uint64  `json:"settled"`
	SettleSeconds float64 `json:"settle_seconds"`
	// Rebuilt says an update made the site again whole, as a build does:
	// the page layout, the scripts or the log's settings the pages show
	// had changed (a new citylog, a witness added).
	Rebuilt bool `json:"rebuilt,omitempty"`
}

const (
	metaPath    = "site/meta.json"
	metaVersion = 2  // 2: the lists and the name index settle in steps
	recentCount = 50 // allocations in the feed; the home page shows 20
	cellDegrees = 2  // the map's dots aggregate cities in cells of this size
	writers     = 4  // files rendered and written at once
)

// The sizes of the files that grow with the log (variables so that tests
// can cross every boundary with a small log).
var (
	pageSize            = 100     // cities on one list page
	logPageSize  uint64 = 1024    // cities on one log-order page (settleEvery is a multiple)
	csvPart      uint64 = 4096    // cities in one CSV file
	leafCapacity        = 256     // names in a leaf of the name index before it splits
	tailChunk           = 1024    // names in a chunk of the tail index
	settleEvery  uint64 = 1 << 16 // entries by which the lists and the name index advance
)

// settledSize is how many of the first entries of a log of size entries
// the subdivision lists and the main name index hold: all of a log
// smaller than settleEvery, else a multiple of it. It never decreases as
// the log grows, and the entries past it are fewer than settleEvery.
func settledSize(size uint64) uint64 {
	if size < settleEvery {
		return size
	}
	return size - size%settleEvery
}

// meta is site/meta.json: the size the site reflects, and the counts an
// update carries forward.
type meta struct {
	V         int                  `json:"v"`
	Size      uint64               `json:"size"`
	Settled   uint64               `json:"settled"`            // the first entries, which the lists and the main name index hold
	Settling  uint64               `json:"settling,omitempty"` // a settling's target, written before it starts: until it ends its files may be ahead of Settled
	Root      string               `json:"root"`
	Assets    string               `json:"assets"`    // hash of the templates, the static files and the Config the pages show
	Signed    string               `json:"signed"`    // hash of the signed checkpoint shown (its cosignatures change)
	Countries map[string]*subStats `json:"countries"` // the settled entries only
	// The others, by country: the map shades a country by all its cities.
	Pending map[string]int `json:"pending,omitempty"`
	Days    map[string]int `json:"days"`   // YYYY-MM-DD: allocations that day
	Cells   map[string]int `json:"cells"`  // "lat,lon" of a cell's south-west corner: located cities
	Recent  []city         `json:"recent"` // the latest allocations, oldest first
}

type subStats struct {
	Count int            `json:"count"`
	Subs  map[string]int `json:"subs"`
}

func newMeta() *meta {
	return &meta{V: metaVersion, Countries: map[string]*subStats{}, Pending: map[string]int{}, Days: map[string]int{}, Cells: map[string]int{}}
}

func readMeta(ctx context.Context, st Store) (*meta, error) {
	b, err := st.ReadFile(ctx, metaPath)
	if err != nil {
		return nil, err
	}
	m := newMeta()
	if err := json.Unmarshal(b, m); err != nil || m.V != metaVersion {
		return nil, fmt.Errorf("%s is not a site of this version (%v): %w", metaPath, err, ErrDamaged)
	}
	return m, nil
}

// Exists reports whether the public tree in st holds a site, which
// writers then keep up to date.
func Exists(ctx context.Context, st Store) bool {
	_, err := st.ReadFile(ctx, metaPath)
	return err == nil
}

// Build writes the site of the log's current checkpoint from scratch.
func Build(ctx context.Context, cfg Config) (Report, error) {
	return run(ctx, cfg, build)
}

// Update brings the site up to the log's current checkpoint, settled,
// building it if there is none.
func Update(ctx context.Context, cfg Config) (Report, error) {
	return run(ctx, cfg, update)
}

// Refresh puts the entries new since the last update on the site, and
// leaves settling them to a later Update (unless twice settleEvery wait).
func Refresh(ctx context.Context, cfg Config) (Report, error) {
	return run(ctx, cfg, refresh)
}

type mode int

const (
	build   mode = iota // from scratch, settled
	update              // refresh, then settle
	refresh             // the new entries only
)

func run(ctx context.Context, cfg Config, mode mode) (Report, error) {
	start := time.Now()
	key, err := verifier.ParseKey(cfg.Key)
	if err != nil {
		return Report{}, err
	}
	policy, err := verifier.ParseWitnesses(cfg.Witnesses, cfg.Quorum)
	if err != nil {
		return Report{}, err
	}
	l := verifier.New(cfg.Source, key, policy)
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("couldn't read the log's checkpoint: %w", err)
	}
	m := newMeta()
	// The log-order pages a site holds start at its first unsettled
	// entry: a build removes them from there (from 0 if the site's meta
	// is unreadable), not from the first entry on, a request each.
	var wasSettled uint64
	switch old, err := readMeta(ctx, cfg.Store); {
	case err == nil:
		wasSettled = old.Settled
		if mode != build {
			m = old
		}
	case mode != build && !errors.Is(err, fs.ErrNotExist):
		return Report{}, err
	}
	rebuilt := false
	if mode != build && m.Assets != (&builder{cfg: cfg, cp: cp}).staticHash() {
		// Every page carries the layout, the scripts' hashes and the
		// log's settings; the lists and country pages are written again
		// only when their cities change, so they would keep the old ones.
		// (A site with no meta yet is built, and was not rebuilt.)
		rebuilt = m.Assets != ""
		mode, m = build, newMeta()
	}
	if m.Size > cp.Size {
		return Report{}, fmt.Errorf("the site reflects %d entries but the log's checkpoint has %d: is this the site of another log? %w", m.Size, cp.Size, ErrDamaged)
	}
	if m.Settled > m.Size {
		return Report{}, fmt.Errorf("%s says %d entries are settled of %d: %w", metaPath, m.Settled, m.Size, ErrDamaged)
	}
	rep := Report{From: m.Size, To: cp.Size, Settled: m.Settled}
	newBuilder := func() *builder {
		return &builder{cfg: cfg, st: cfg.Store, m: m, cp: cp, full: mode == build, from: m.Size, wasSettled: wasSettled, pages: map[string]*listPage{}}
	}
	target := settledSize(cp.Size)
	if mode == build {
		// One pass: everything new, the lists up to target.
		b := newBuilder()
		b.settleTo(target)
		b.logFrom = target
		if err := b.run(ctx); err != nil {
			return Report{}, err
		}
		rep.Files, rep.Settled, rep.Rebuilt = int(b.files.Load()), target, rebuilt
		rep.Seconds = time.Since(start).Seconds()
		return rep, nil
	}
	if b := newBuilder(); m.Size < cp.Size || m.Signed != signedHash(cp.Signed) {
		// The new entries go to the tail and to the log-order pages, from
		// the page of the last entry the site has (which gets the first
		// new one or, full, now links to the next).
		b.listFrom, b.listTo, b.settled = m.Size, m.Size, m.Settled // no list changes
		b.tailFrom, b.keepTail = m.Size, true
		b.logFrom = m.Settled
		if m.Size > 0 {
			b.logFrom = max(m.Settled, (m.Size-1)/logPageSize*logPageSize)
		}
		if err := b.run(ctx); err != nil {
			return Report{}, err
		}
		rep.Files = int(b.files.Load())
	}
	rep.Seconds = time.Since(start).Seconds()
	// A refresh leaves settling to an update unless the unsettled entries
	// are twice settleEvery: the tail stays small however busy the log.
	pending := m.Settling > m.Settled
	if target == m.Settled || mode == refresh && !pending && cp.Size-m.Settled < 2*settleEvery {
		return rep, nil
	}
	settling := time.Now()
	if m.Settling != target {
		m.Settling = target
		if err := putMeta(ctx, cfg.Store, m); err != nil {
			return Report{}, err
		}
	}
	b := newBuilder()
	b.settleTo(target)
	b.logFrom = cp.Size // no new entry: the pages only lose the settled ones
	if err := b.run(ctx); err != nil {
		return Report{}, err
	}
	rep.Files += int(b.files.Load())
	rep.Settled = target
	rep.Seconds, rep.SettleSeconds = time.Since(start).Seconds(), time.Since(settling).Seconds()
	return rep, nil
}

// settleTo has the run file the entries from the settled ones up to
// target into the lists, and make the tail anew from the entries past it.
func (b *builder) settleTo(target uint64) {
	b.listFrom, b.listTo, b.settled = b.m.Settled, target, target
	b.tailFrom, b.keepTail = target, false
}

// builder is one build or update.
type builder struct {
	cfg  Config
	st   Store
	m    *meta
	cp   verifier.Checkpoint
	full bool
	from uint64 // the first new entry
	// How many entries the site had settled when the run began: its
	// log-order pages start there.
	wasSettled uint64
	// The entries this run files into the lists and the main name index
	// (none, or those it settles), and how many are settled after it.
	listFrom, listTo, settled uint64
	// The entries whose names it adds to the tail, from tailFrom on; the
	// tail keeps the names it has if keepTail, else is made anew.
	tailFrom uint64
	keepTail bool
	logFrom  uint64 // the first entry of the log-order page written first
	files    atomic.Int64

	pages      map[string]*listPage // CC-SSS: its last list page
	pageWrites pageWriters          // full pages being written
	names      nameSink
	tail       []nameLine // this run's names for the tail
	log        logPage    // the log-order page being built
	csv        []byte     // the CSV part being built
	csvPart    uint64
	touched    map[string]bool // countries with new cities

	frameMu sync.Mutex // the list pages' layouts (html.go), by depth
	frames  map[string]listFrame
}

// city is an entry as the site shows it.
type city struct {
	Index       uint64   `json:"index"`
	Code        string   `json:"code"`
	Country     string   `json:"country"`
	Subdivision string   `json:"subdivision"`
	Name        string   `json:"name"`
	IDs         []string `json:"ids"`
	Lat         *float64 `json:"lat,omitempty"`
	Lon         *float64 `json:"lon,omitempty"`
	Time        string   `json:"time"`
	folded      string   // Fold(Name)
}

func cityOf(index uint64, e entry.Entry, times *timeStrings) city {
	c := city{Index: index, Code: e.Code.String(), Country: e.Country, Subdivision: e.Subdivision, Name: e.Name,
		IDs: e.IDs, Time: times.format(e.Time), folded: Fold(e.Name)}
	if e.HasLocation {
		lat, lon := e.Lat, e.Lon
		c.Lat, c.Lon = &lat, &lon
	}
	return c
}

// timeStrings formats entries' times, the last one again for free: the
// entries of a batch share the second the log integrated them.
type timeStrings struct {
	last time.Time
	text string
}

func (t *timeStrings) format(tm time.Time) string {
	if t.text == "" || !tm.Equal(t.last) {
		t.last, t.text = tm, tm.UTC().Format(entry.TimeFormat)
	}
	return t.text
}

// pageBuffers recycles the buffers list pages are rendered into: each is
// rendered, written and dropped, and fresh memory for every page (page
// faults, then the collector's work) cost about as much as rendering it.
var pageBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// putRendered renders a file into a recycled buffer and writes it.
func (b *builder) putRendered(ctx context.Context, path string, render func(dst []byte) ([]byte, error)) error {
	buf := pageBuffers.Get().(*[]byte)
	defer pageBuffers.Put(buf)
	data, err := render((*buf)[:0])
	if err != nil {
		return err
	}
	*buf = data // grown, for the next
	return b.put(ctx, path, data)
}

func (b *builder) put(ctx context.Context, path string, data []byte) error {
	b.files.Add(1)
	if err := b.st.PutFile(ctx, path, data); err != nil {
		return fmt.Errorf("couldn't write %s: %w", path, err)
	}
	return nil
}

func (b *builder) run(ctx context.Context) error {
	size := b.cp.Size
	if b.full {
		b.names = newSpillSink()
	} else {
		b.names = &memorySink{}
	}
	defer b.names.close()
	b.touched = map[string]bool{}
	if err := b.loadCSV(ctx); err != nil {
		return err
	}
	b.log = logPage{n: b.logFrom / logPageSize}
	b.pageWrites = newPageWriters(ctx)
	// Settling reads again the entries from the settled ones on, and the
	// log-order page the first new entry goes in is made again from its
	// first entry.
	first := min(b.from, b.listFrom, b.tailFrom, b.logFrom)
	// The tail index is read meanwhile.
	type tailRead struct {
		t   *oldTail
		err error
	}
	tailc := make(chan tailRead, 1)
	go func() {
		t, err := readTail(ctx, b.st, b.keepTail)
		tailc <- tailRead{t, err}
	}()
	if size > b.tailFrom {
		b.tail = make([]nameLine, 0, size-b.tailFrom)
	}
	err := b.entries(ctx, first, size, b.loadLists, func(c city) error {
		i := c.Index
		if err := b.addToLog(c); err != nil {
			return err
		}
		if i >= b.listFrom && i < b.listTo {
			if err := b.addToList(ctx, c); err != nil { // before count: it reads the count before c
				return err
			}
			b.countListed(c)
			b.names.add(nameLine{c.folded, c.Name, c.Code})
		}
		if i >= b.tailFrom {
			b.tail = append(b.tail, nameLine{c.folded, c.Name, c.Code})
		}
		if i < b.from {
			return nil
		}
		if err := b.addCSV(ctx, c); err != nil {
			return err
		}
		b.count(c)
		// Trimmed now and then: every entry moving the others was a
		// tenth of an update's time.
		if b.m.Recent = append(b.m.Recent, c); len(b.m.Recent) > 4*recentCount {
			b.m.Recent = slices.Delete(b.m.Recent, 0, len(b.m.Recent)-recentCount)
		}
		return nil
	})
	if len(b.m.Recent) > recentCount {
		b.m.Recent = slices.Delete(b.m.Recent, 0, len(b.m.Recent)-recentCount)
	}
	if werr := b.pageWrites.Wait(); err == nil {
		err = werr
	}
	if err != nil {
		return err
	}
	if err := b.finishCSV(ctx); err != nil {
		return err
	}
	last := sortedPages(b.pages)
	err = parallel.Each(ctx, len(last), writers, func(ctx context.Context, i int) error {
		return b.writeList(ctx, last[i], false)
	})
	if err != nil {
		return err
	}
	if err := b.writeLogPage(ctx, b.log, false); err != nil {
		return err
	}
	// The last pages are written: dropped before the names are sorted,
	// the two peaks of a build's memory do not add up (at 2.1M cities,
	// 210 MB of live heap with them, which the memory limit made the
	// collector chase for ten seconds).
	b.pages, last, b.log = nil, nil, logPage{}
	if err := b.names.finish(ctx, b); err != nil {
		return err
	}
	tail := <-tailc
	if tail.err != nil {
		return tail.err
	}
	if b.keepTail && !tail.t.holds(b.m.Settled, b.tailFrom) {
		// Not the tail meta describes (an update cut short): made again
		// from the entries it should hold, as a settling makes it.
		tail.t.forget()
		err := b.entries(ctx, b.m.Settled, b.tailFrom, nil, func(c city) error {
			b.tail = append(b.tail, nameLine{c.folded, c.Name, c.Code})
			return nil
		})
		if err != nil {
			return err
		}
	}
	// The tail and the pages, at once: each writes tens of files and
	// leaves a core idle while the file system works.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(writers) // a build touches every country; a bucket takes so many puts at once
	g.Go(func() error { return tail.t.write(gctx, countingStore{b}, b.tail) })
	b.writePages(gctx, g)
	if err := g.Wait(); err != nil {
		return err
	}
	// The log-order pages of the entries settled now go, and the page of
	// the first unsettled one if there is none.
	gone := b.settled / logPageSize
	if b.settled == size {
		gone = (size + logPageSize - 1) / logPageSize
	}
	firstGone := min(b.wasSettled/logPageSize, gone)
	err = parallel.Each(ctx, int(gone-firstGone), writers, func(ctx context.Context, i int) error {
		for _, ext := range []string{".html", ".json"} {
			if err := b.st.RemoveFile(ctx, logPath(firstGone+uint64(i), ext)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := b.st.Sync(ctx); err != nil {
		return err
	}
	// The commit point: written last, and durable after everything it
	// describes.
	b.m.Size, b.m.Settled = size, b.settled
	if b.m.Settling <= b.settled {
		b.m.Settling = 0
	}
	b.m.Root, b.m.Signed = base64.StdEncoding.EncodeToString(b.cp.Root[:]), signedHash(b.cp.Signed)
	b.files.Add(1)
	return putMeta(ctx, b.st, b.m)
}

// putMeta writes meta.json and makes it durable.
func putMeta(ctx context.Context, st Store, m *meta) error {
	mb, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := st.PutFile(ctx, metaPath, mb); err != nil {
		return fmt.Errorf("couldn't write %s: %w", metaPath, err)
	}
	return st.Sync(ctx)
}

// pageWriters writes full list pages beside the loop that fills them.
type pageWriters struct {
	*errgroup.Group
	ctx context.Context // done once a write failed
}

func newPageWriters(ctx context.Context) pageWriters {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(writers)
	return pageWriters{g, gctx}
}

// entries calls fn for each city in [from, to), in order, making the
// cities of a few bundles at a time in parallel (bundleCities, their
// names folded); before, if set, sees each run of bundles' cities before
// fn does. The entries are read, not checked against the rules (a third
// of an update's time): the site shows them, and the code page and
// cityverify verify them.
func (b *builder) entries(ctx context.Context, from, to uint64, before func(ctx context.Context, decoded [][]city) error, fn func(city) error) error {
	const chunk = 8 // bundles decoded at once
	firstBundle, end := from/tiles.Width, (to+tiles.Width-1)/tiles.Width
	// The next run of bundles is read and decoded while fn goes through
	// the last (decoding was a fifth of an update, on the other core).
	type run struct {
		decoded [][]city
		err     error
	}
	read := func(lo, hi uint64) <-chan run {
		ch := make(chan run, 1)
		go func() {
			decoded := make([][]city, hi-lo)
			err := parallel.Each(ctx, int(hi-lo), 4, func(ctx context.Context, k int) error {
				cs, err := b.bundleCities(ctx, tiles.Bundle(lo+uint64(k), to))
				decoded[k] = cs
				return err
			})
			ch <- run{decoded, err}
		}()
		return ch
	}
	next := read(firstBundle, min(firstBundle+chunk, end))
	for lo := firstBundle; lo < end; lo += chunk {
		hi := min(lo+chunk, end)
		r := <-next
		if r.err != nil {
			return r.err
		}
		if hi < end {
			next = read(hi, min(hi+chunk, end))
		}
		decoded := r.decoded
		if before != nil {
			if err := before(ctx, decoded); err != nil {
				return err
			}
		}
		for _, cs := range decoded {
			for _, c := range cs {
				if c.Index < from || c.Index >= to {
					continue
				}
				if err := fn(c); err != nil {
					return err
				}
			}
		}
		if b.cfg.Progress != nil {
			b.cfg.Progress(min(hi*tiles.Width, to)-from, to-from)
		}
	}
	return nil
}

// bundleCities returns the cities of bundle bt: taken from cfg.Fresh if
// it holds them all, else read and decoded.
func (b *builder) bundleCities(ctx context.Context, bt tiles.Tile) ([]city, error) {
	var times timeStrings
	first := bt.Index * tiles.Width
	if es, ok := b.cfg.Fresh.covers(first, first+uint64(bt.Width)); ok {
		out := make([]city, len(es))
		for j, e := range es {
			i := first + uint64(j)
			if e.Code.Index != i {
				return nil, fmt.Errorf("the fresh entry for index %d carries the code %s of index %d", i, e.Code, e.Code.Index)
			}
			out[j] = cityOf(i, e, &times)
		}
		return out, nil
	}
	raw, err := source.FetchBundle(ctx, b.cfg.Source, bt)
	if err != nil {
		return nil, fmt.Errorf("couldn't read %s: %w", bt.Path(), err)
	}
	out := make([]city, len(raw))
	for j, r := range raw {
		i := first + uint64(j)
		e, err := entry.DecodeUnchecked(r)
		if err != nil {
			return nil, fmt.Errorf("entry %d in %s: %w", i, bt.Path(), err)
		}
		out[j] = cityOf(i, e, &times)
	}
	return out, nil
}

// countListed adds a city the lists now hold to their counts.
func (b *builder) countListed(c city) {
	cs := b.m.Countries[c.Country]
	if cs == nil {
		cs = &subStats{Subs: map[string]int{}}
		b.m.Countries[c.Country] = cs
	}
	cs.Count++
	cs.Subs[c.Subdivision]++
	b.touched[c.Country] = true
	if c.Index < b.from { // pending until now
		if b.m.Pending[c.Country]--; b.m.Pending[c.Country] == 0 {
			delete(b.m.Pending, c.Country)
		}
	}
}

// count adds a new city to the counts by day, by map cell and, if it is
// not settled, by country.
func (b *builder) count(c city) {
	if c.Index >= b.settled {
		b.m.Pending[c.Country]++
	}
	b.m.Days[c.Time[:10]]++
	if c.Lat != nil {
		b.m.Cells[cellKey(*c.Lat, *c.Lon)]++
	}
}

// cellKey names the map cell of a location: its south-west corner.
func cellKey(lat, lon float64) string {
	floor := func(v float64) int { return int(math.Floor(v/cellDegrees)) * cellDegrees }
	la, lo := floor(lat), floor(lon)
	if la >= 90 {
		la = 90 - cellDegrees
	}
	if lo >= 180 {
		lo = 180 - cellDegrees
	}
	return strconv.Itoa(la) + "," + strconv.Itoa(lo)
}

func sortedPages(m map[string]*listPage) []*listPage {
	out := make([]*listPage, 0, len(m))
	for _, p := range m {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *listPage) int { return compareStrings(a.cc+"-"+a.sub, b.cc+"-"+b.sub) })
	return out
}

func compareStrings(a, b string) int { return bytes.Compare([]byte(a), []byte(b)) }

func signedHash(signed []byte) string {
	h := sha256.Sum256(signed)
	return base64.RawURLEncoding.EncodeToString(h[:])
}
