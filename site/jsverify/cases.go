package jsverify

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/tiles"
	"github.com/citylog/citylog/tiles/cosig"
	"golang.org/x/mod/sumdb/note"
)

// testCase is a vector before the oracle has run on it.
type testCase struct {
	name      string
	key       string
	witnesses []string
	quorum    int
	code      string
	status    map[string]int
	detail    string // a substring verify.js's detail must hold
	want      string // the verdict the case is written for; Generate fails if the Go verifier disagrees
}

// Extra cities of the small log, at fixed leaves: what the sample cities
// lack (an operator-added subdivision, quotes and a backslash, a joiner,
// several identifiers, a country without subdivisions, extreme
// coordinates).
var smallExtras = map[int]string{
	257: `{"country":"CN","subdivision":"XQ","name":"Xiong'an","ids":["national:CN:fixture:XQ-0001"],"lat":39.0,"lon":115.9}`,
	290: `{"country":"US","subdivision":"NY","name":"Saint \"Quote\" \\ Backslash","ids":["geonames:999000001"]}`,
	291: `{"country":"IN","subdivision":"MH","name":"क्\u200dषनगर","ids":["geonames:999000002"]}`,
	292: `{"country":"FR","subdivision":"IDF","name":"Paris","ids":["unlocode:frpar","iso3166-2:FR-IDF","national:FR:insee:75056","geonames:2988507"],"lat":48.8566,"lon":2.3522}`,
	293: `{"country":"VA","subdivision":"0","name":"Città del Vaticano","ids":["geonames:6691831"],"lat":41.9029,"lon":12.4534}`,
	294: `{"country":"FJ","subdivision":"C","name":"Antipode","ids":["geonames:999000003"],"lat":-0.000001,"lon":-179.999999}`,
}

const extraSubdivisions = "# Subdivisions newer than the ISO data module\nCN-XQ\n"

// Generate builds the vectors' logs and runs the Go verifier on every
// case. cities is testdata/cities.jsonl (allocation requests).
func Generate(ctx context.Context, cities []byte) (*Vectors, error) {
	g := &generator{ctx: ctx, vs: &Vectors{Blobs: map[string][]byte{}}}
	if err := g.run(cities); err != nil {
		return nil, err
	}
	g.vs.gc()
	return g.vs, nil
}

type generator struct {
	ctx context.Context
	vs  *Vectors
	err error
}

// add files a case (see Vectors.add), keeping the first error.
func (g *generator) add(c testCase, files map[string][]byte) {
	if g.err == nil {
		g.err = g.vs.add(g.ctx, c, files)
	}
}

func (g *generator) run(cities []byte) error {
	rules := entry.DefaultRules()
	if err := rules.ParseExtraSubdivisions([]byte(extraSubdivisions)); err != nil {
		return err
	}
	w1, wk1, err := newWitness("witness1.example")
	if err != nil {
		return err
	}
	w2, wk2, err := newWitness("witness2.example")
	if err != nil {
		return err
	}
	w3, wk3, err := newWitness("witness3.example")
	if err != nil {
		return err
	}
	if err := g.small(cities, rules, []note.Signer{w1, w2, w3}, []string{wk1, wk2, wk3}); err != nil {
		return err
	}
	if err := g.big(cities, rules); err != nil {
		return err
	}
	if err := g.misbehaving(rules); err != nil {
		return err
	}
	return g.err
}

// smallLog is a log of 300 entries (a full tile and a partial one, a
// partial level-1 tile) cosigned by two witnesses, and what its cases
// are made of.
type smallLog struct {
	t       *tree
	rules   *entry.Rules
	full    map[string][]byte // at 300, with the edge and extra-subdivisions.txt
	grown   map[string][]byte // grown to 600, its host serving the checkpoint of 300
	wits    []string          // the two witnesses that cosign it
	others  []string          // the third witness's key, and the key of another log
	entries [][]byte
	// signed holds the checkpoint of 300 signed other ways, by name.
	signed map[string][]byte
}

// at returns the code of leaf i.
func (s *smallLog) at(i int) string {
	c, err := codeAt(s.rules, s.entries[i])
	if err != nil {
		panic(err) // the small log's entries are valid
	}
	return c
}

func newSmallLog(cities []byte, rules *entry.Rules, ws []note.Signer, wkeys []string) (*smallLog, error) {
	lines, err := citiesLines(cities, 600)
	if err != nil {
		return nil, err
	}
	for i, l := range smallExtras {
		lines[i] = l
	}
	entries, err := cityEntries(rules, lines)
	if err != nil {
		return nil, err
	}
	const origin = "small.citylog.example/log"
	t, err := newTree(origin, entries)
	if err != nil {
		return nil, err
	}
	full, err := t.publish(300, ws[0], ws[1])
	if err != nil {
		return nil, err
	}
	full["extra-subdivisions.txt"] = []byte(extraSubdivisions)
	// The log grown to 600 whose host still serves the checkpoint of 300:
	// the partials of 300 that a full tile replaced are gone, as
	// tlog-tiles allows; the level-1 partial of 300 is still there.
	grown, err := t.publish(600, ws[0], ws[1])
	if err != nil {
		return nil, err
	}
	for p, b := range full {
		if tl, perr := tiles.ParsePath(p); perr != nil || tiles.TileWidth(tl.Level, tl.Index, 600) != tiles.Width {
			grown[p] = b
		}
	}
	other, _, err := newSigner("other", origin) // the log's name, another key
	if err != nil {
		return nil, err
	}
	evil, evilKey, err := newSigner("log", "evil.example/log")
	if err != nil {
		return nil, err
	}
	takeover, _, err := newSigner("takeover", "citylog-takeover-0123456789abcdef")
	if err != nil {
		return nil, err
	}
	cp := full["checkpoint"]
	b300 := body(cp)
	sigAt := bytes.Index(cp, []byte("\n\u2014 "+origin+" ")) + len("\n\u2014 "+origin+" ") + 10
	w1 := ws[0].(*cosig.Signer)
	l := &smallLog{t: t, rules: rules, full: full, grown: grown, wits: wkeys[:2], others: []string{wkeys[2], evilKey},
		entries: entries, signed: map[string][]byte{"not base64": flip(cp, sigAt), "unsigned": []byte(b300),
			"not a note": []byte("<html>hello</html>\n")}}
	for name, n := range map[string]struct {
		text    string
		signers []note.Signer
	}{
		"by w1":             {b300, []note.Signer{t.signer, ws[0]}},
		"by w3":             {b300, []note.Signer{t.signer, ws[2]}},
		"w1 at 0":           {b300, []note.Signer{t.signer, cosignedAt{w1, 0}, ws[1]}},
		"w1 after 2^63-1":   {b300, []note.Signer{t.signer, cosignedAt{w1, 1 << 63}, ws[1]}},
		"impostor w1":       {b300, []note.Signer{t.signer, impostor{Signer: ws[2], as: ws[0]}, ws[1]}},
		"fenced":            {b300, []note.Signer{t.signer, ws[0], ws[1], takeover}},
		"extension":         {b300 + "an extension line\n", []note.Signer{t.signer}},
		"other key":         {b300, []note.Signer{other}},
		"wrong origin":      {strings.Replace(b300, origin, "evil.example/log", 1), []note.Signer{t.signer}},
		"evil":              {strings.Replace(b300, origin, "evil.example/log", 1), []note.Signer{evil}},
		"bigger":            {strings.Replace(b300, "\n300\n", "\n301\n", 1), []note.Signer{other}},
		"leading zero":      {strings.Replace(b300, "\n300\n", "\n0300\n", 1), []note.Signer{t.signer}},
		"empty":             {string(tiles.Checkpoint{Origin: origin, Root: tiles.EmptyRoot}.Marshal()), []note.Signer{t.signer}},
		"empty, other root": {string(tiles.Checkpoint{Origin: origin, Root: tiles.HashLeaf(nil)}.Marshal()), []note.Signer{t.signer}},
	} {
		if l.signed[name], err = sign(n.text, n.signers...); err != nil {
			return nil, err
		}
	}
	if l.signed["bad signature"], err = resign(cp, func(sig []byte) { sig[20] ^= 1 }); err != nil {
		return nil, err
	}
	return l, nil
}

// small files the small log's cases.
func (g *generator) small(cities []byte, rules *entry.Rules, ws []note.Signer, wkeys []string) error {
	l, err := newSmallLog(cities, rules, ws, wkeys)
	if err != nil {
		return err
	}
	for _, mode := range []string{"plain", "edge"} {
		files, gfiles := l.full, l.grown
		if mode == "plain" {
			files = edit(l.full, map[string][]byte{tiles.EdgePath: nil})
			gfiles = edit(l.grown, map[string][]byte{tiles.EdgePath: nil})
		}
		// Without the edge, some cases change a tile only the edge
		// replaces: with it, the proof does not read that tile.
		edgeIf := func(plain, edge string) string {
			if mode == "edge" {
				return edge
			}
			return plain
		}
		g.smallCheckpoints(l, "small/"+mode+"/", files)
		g.smallFiles(l, "small/"+mode+"/", files, edgeIf)
		g.smallGrown(l, "grown/"+mode+"/", gfiles, edgeIf)
	}
	g.smallEdges(l)
	g.inputs(l)
	return nil
}

// smallCheckpoints are the honest codes, and the checkpoints signed
// every way but right.
func (g *generator) smallCheckpoints(l *smallLog, m string, files map[string][]byte) {
	with := func(name string) map[string][]byte {
		f, err := withCheckpoint(files, l.signed[name])
		if err != nil {
			panic(err) // files' edge was made by publish
		}
		return f
	}
	key := l.t.vkey
	for _, c := range []struct {
		name  string
		index int
	}{
		{"index 5", 5}, {"index 299, the last", 299}, {"index 290, quotes and a backslash in the name", 290},
		{"index 291, a joiner in the name", 291}, {"index 292, four identifiers", 292},
		{"index 293, a country without subdivisions", 293}, {"index 294, extreme coordinates", 294},
		{"index 257, in a subdivision the operator added", 257}, {"index 256, the first of the partial tile", 256},
	} {
		g.add(testCase{name: m + "honest/" + c.name, key: key, code: l.at(c.index), want: "verified"}, files)
	}
	c5, wits := l.at(5), l.wits
	for _, c := range []struct {
		name      string
		witnesses []string
		quorum    int
		signed    string // the name of the checkpoint served, "" for the honest one
		key, code string
		want      string
	}{
		{"honest/lower case, aliases and spaces", nil, 0, "", "", "  " + strings.ToLower(strings.ReplaceAll(c5, "0", "o")) + "\t", "verified"},
		{"honest/witness quorum 2 of 2", wits, 2, "", "", "", "verified"},
		{"honest/witness quorum 1 of 2, one cosigned", wits, 1, "by w1", "", "", "verified"},
		{"honest/witnesses, quorum 0", wits, 0, "by w1", "", "", "verified"},
		{"honest/a takeover fence line by an unknown key", wits, 2, "fenced", "", "", "verified"},
		{"honest/an extension line", nil, 0, "extension", "", "", "verified"},
		{"checkpoint/bad signature", nil, 0, "bad signature", "", "", "failed"},
		{"checkpoint/signature line not base64", nil, 0, "not base64", "", "", "failed"},
		{"checkpoint/other key, same name", nil, 0, "other key", "", "", "failed"},
		{"checkpoint/signed origin is not the key's", nil, 0, "wrong origin", "", "", "failed"},
		{"checkpoint/another log's checkpoint", nil, 0, "evil", "", "", "failed"},
		{"checkpoint/the key of another log", nil, 0, "", l.others[1], "", "failed"},
		{"checkpoint/bigger size, same root, other key", nil, 0, "bigger", "", "", "failed"},
		{"checkpoint/unsigned", nil, 0, "unsigned", "", "", "failed"},
		{"checkpoint/not a note", nil, 0, "not a note", "", "", "failed"},
		{"checkpoint/size with a leading zero", nil, 0, "leading zero", "", "", "failed"},
		{"checkpoint/size 0 with another root", nil, 0, "empty, other root", "", "", "failed"},
		{"code/the log is empty", nil, 0, "empty", "", code("CN", "SH", 0), "failed"},
		{"witness/quorum unmet", wits, 2, "by w1", "", "", "failed"},
		{"witness/cosigned by an unknown witness only", wits, 1, "by w3", "", "", "failed"},
		{"witness/cosignature by the wrong key under a witness's name and ID", wits, 1, "impostor w1", "", "", "failed"},
		{"witness/bad cosignature with quorum 0", wits, 0, "impostor w1", "", "", "failed"},
		{"witness/a cosignature at time 0", wits, 1, "w1 at 0", "", "", "failed"},
		{"witness/a cosignature after 2^63-1", wits, 1, "w1 after 2^63-1", "", "", "failed"},
	} {
		f := files
		if c.signed != "" {
			f = with(c.signed)
		}
		if c.key == "" {
			c.key = key
		}
		if c.code == "" {
			c.code = c5
		}
		g.add(testCase{name: m + c.name, key: c.key, witnesses: c.witnesses, quorum: c.quorum, code: c.code, want: c.want}, f)
	}
}

// smallFiles are tiles, bundles, codes, hosts and extra subdivisions
// gone wrong. Leaf 5's proof reads, without the edge, the right edge
// tile/0/001.p/44; leaf 270's the level-1 tile/1/000.p/1.
func (g *generator) smallFiles(l *smallLog, m string, files map[string][]byte, edgeIf func(plain, edge string) string) {
	key, c5, c257 := l.t.vkey, l.at(5), l.at(257)
	tile, bundle, entries := files["tile/0/001.p/44"], files["tile/entries/000"], l.entries
	edited := bundleOf(entries[:5], [][]byte{bytes.Replace(entries[5], []byte(`"name":"`), []byte(`"name":"X`), 1)}, entries[6:256])
	for _, c := range []struct {
		name, code, detail, want string
		path                     string
		content                  []byte // nil: the file is gone
	}{
		{"tiles/flipped byte in the right edge tile", c5, edgeIf("tile/0/001.p/44", ""), edgeIf("failed", "verified"), "tile/0/001.p/44", flip(tile, 100)},
		{"tiles/another tile's hashes", c5, edgeIf("tile/0/001.p/44", ""), edgeIf("failed", "verified"), "tile/0/001.p/44", files["tile/0/000"][:44*32]},
		{"tiles/truncated tile", c5, edgeIf("tile/0/001.p/44", ""), edgeIf("failed", "verified"), "tile/0/001.p/44", tile[:1000]},
		{"tiles/oversize tile", c5, edgeIf("tile/0/001.p/44", ""), edgeIf("unchecked", "verified"), "tile/0/001.p/44", append(bytes.Clone(tile), tile...)},
		{"tiles/missing tile", c5, edgeIf("tile/0/001.p/44", ""), edgeIf("unchecked", "verified"), "tile/0/001.p/44", nil},
		{"tiles/flipped byte in the level-1 tile", l.at(270), edgeIf("tile/1/000.p/1", ""), edgeIf("failed", "verified"), "tile/1/000.p/1", flip(files["tile/1/000.p/1"], 7)},
		{"bundle/edited entry", c5, "tile/entries/000", "failed", "tile/entries/000", edited},
		{"bundle/edited entry, lengths not fixed", c5, "tile/entries/000", "failed", "tile/entries/000", bytes.Replace(bundle, []byte(`"name":"`), []byte(`"name":"X`), 1)},
		{"bundle/flipped byte in another entry", c5, "tile/entries/000", "failed", "tile/entries/000", flip(bundle, len(bundle)-3)},
		{"bundle/truncated", c5, "tile/entries/000", "failed", "tile/entries/000", bundle[:5000]},
		{"bundle/one entry too many", l.at(260), "tile/entries/001.p/44", "failed", "tile/entries/001.p/44", append(bytes.Clone(files["tile/entries/001.p/44"]), 0, 1, 'x')},
		{"bundle/missing", c5, "tile/entries/000", "unchecked", "tile/entries/000", nil},
		{"host/no checkpoint", c5, "", "unchecked", "checkpoint", nil},
		{"extra/no extra-subdivisions.txt", c257, "", "failed", "extra-subdivisions.txt", nil},
		{"extra/extra-subdivisions.txt malformed", c257, "extra-subdivisions.txt", "failed", "extra-subdivisions.txt", []byte("CN-XQ\nXX-YY\n")},
		{"extra/extra-subdivisions.txt without the subdivision", c257, "", "failed", "extra-subdivisions.txt", []byte("# none\n\nCN-XR\n")},
	} {
		changes := map[string][]byte{c.path: c.content}
		if c.path == "checkpoint" {
			changes[tiles.EdgePath] = nil
		}
		g.add(testCase{name: m + c.name, key: key, code: c.code, detail: c.detail, want: c.want}, edit(files, changes))
	}
	for _, c := range []struct {
		name, code string
		status     map[string]int
		want       string
	}{
		{"code/index beyond the checkpoint", code("CN", "SH", 300), nil, "failed"},
		{"code/right index, another country", code("DE", "BE", 5), nil, "failed"},
		{"host/every file 503", c5, map[string]int{"*": 503}, "unchecked"},
		{"extra/extra-subdivisions.txt 503", c257, map[string]int{"extra-subdivisions.txt": 503}, "unchecked"},
		{"extra/extra-subdivisions.txt 403", c257, map[string]int{"extra-subdivisions.txt": 403}, "unchecked"},
		{"extra/not read for an entry the ISO data admits", c5, map[string]int{"extra-subdivisions.txt": 503}, "verified"},
	} {
		g.add(testCase{name: m + c.name, key: key, code: c.code, status: c.status, want: c.want}, files)
	}
}

// smallGrown reads the grown log through the checkpoint of 300, whose
// partial tile and bundle are gone: a reader falls back to the full ones.
func (g *generator) smallGrown(l *smallLog, m string, files map[string][]byte, edgeIf func(plain, edge string) string) {
	key, c10, c270 := l.t.vkey, l.at(10), l.at(270)
	g.add(testCase{name: m + "index 10: the partial tile is gone, the full one is read", key: key, code: c10, want: "verified"}, files)
	g.add(testCase{name: m + "index 270: the partial bundle is gone, the full one is read", key: key, code: c270, want: "verified"}, files)
	g.add(testCase{name: m + "index 270: the full bundle is broken too", key: key, code: c270, detail: "tile/entries/001", want: "failed"},
		edit(files, map[string][]byte{"tile/entries/001": l.grown["tile/entries/001"][:9000]}))
	g.add(testCase{name: m + "index 270: no bundle at all", key: key, code: c270, detail: "tile/entries/001.p/44", want: "unchecked"},
		edit(files, map[string][]byte{"tile/entries/001": nil}))
	g.add(testCase{name: m + "index 10: no right edge tile at all", key: key, code: c10, detail: edgeIf("tile/0/001.p/44", ""), want: edgeIf("unchecked", "verified")},
		edit(files, map[string][]byte{"tile/0/001": nil}))
	g.add(testCase{name: m + "index 10: the full tile is short", key: key, code: c10, detail: edgeIf("tile/0/001", ""), want: edgeIf("failed", "verified")},
		edit(files, map[string][]byte{"tile/0/001": l.grown["tile/0/001"][:40*32]}))
}

// smallEdges serves edge files gone wrong: a file that claims to be one
// is held to its hashes; a file that does not is no edge at all.
func (g *generator) smallEdges(l *smallLog) {
	cp, honest := l.full["checkpoint"], l.full[tiles.EdgePath]
	e, err := tiles.ParseEdge(honest)
	if err != nil {
		panic(err) // publish made it
	}
	hs := e.Hashes
	flipped := slices.Clone(hs)
	flipped[0][5] ^= 1
	edgeOf := func(signed []byte, hashes []tiles.Hash) []byte {
		return tiles.Edge{Checkpoint: signed, Hashes: hashes}.Marshal()
	}
	for _, c := range []struct {
		name string
		edge []byte
		want string
	}{
		{"hash flipped", edgeOf(cp, flipped), "failed"},
		{"hashes swapped", edgeOf(cp, append([]tiles.Hash{hs[1], hs[0]}, hs[2:]...)), "failed"},
		{"hash missing", edgeOf(cp, hs[1:]), "failed"},
		{"hash added", edgeOf(cp, append(slices.Clone(hs), hs[0])), "failed"},
		{"no blank line", bytes.Replace(honest, []byte("\n\n"), []byte("\n"), 1), "failed"},
		{"cut short", honest[:100], "failed"},
		{"a hash is not base64", bytes.Replace(honest, []byte("\n"), []byte("\n*"), 2), "failed"},
		{"no checkpoint after the hashes", edgeOf(nil, hs), "failed"},
		{"another log's checkpoint", edgeOf(l.signed["evil"], hs), "failed"},
		{"its checkpoint unsigned", edgeOf(l.signed["unsigned"], hs), "failed"},
		{"answered with a page", []byte("<html>not found</html>"), "verified"},
		{"empty", []byte{}, "verified"},
	} {
		detail := ""
		if c.want == "failed" {
			detail = tiles.EdgePath
		}
		g.add(testCase{name: "small/edge/edge/" + c.name, key: l.t.vkey, code: l.at(5), detail: detail, want: c.want},
			edit(l.full, map[string][]byte{tiles.EdgePath: c.edge}))
	}
	g.add(testCase{name: "small/edge/edge/forbidden", key: l.t.vkey, code: l.at(5), status: map[string]int{tiles.EdgePath: 403}, want: "verified"}, l.full)
	g.add(testCase{name: "small/edge/edge/503", key: l.t.vkey, code: l.at(5), status: map[string]int{tiles.EdgePath: 503}, want: "unchecked"}, l.full)
}

// inputs are malformed codes and keys: nothing is fetched.
func (g *generator) inputs(l *smallLog) {
	c5 := l.at(5)
	for _, c := range []testCase{
		{name: "mistyped check character", code: mistype(c5)},
		{name: "three parts", code: c5[:strings.LastIndexByte(c5, '-')]},
		{name: "a serial with a leading zero", code: code("CN", "SH", 5)[:6] + "0" + code("CN", "SH", 5)[6:]},
		{name: "U in the serial", code: "CN-SH-000U-1"},
		{name: "not a key", key: l.t.origin + "+00000000+AAAA"},
		{name: "a witness key as the log's key", key: l.wits[0]},
		{name: "the log's key as a witness key", witnesses: []string{l.t.vkey}, quorum: 1},
		{name: "a witness given twice", witnesses: []string{l.wits[0], l.wits[0]}, quorum: 1},
		{name: "a quorum above the witnesses", witnesses: l.wits, quorum: 3},
	} {
		c.name, c.want = "input/"+c.name, "failed"
		if c.key == "" {
			c.key = l.t.vkey
		}
		if c.code == "" {
			c.code = c5
		}
		g.add(c, l.full)
	}
}

// big is a log of 70,000 entries: proofs through full and partial tiles
// of levels 0, 1 and 2 (tile/0/273.p/112, tile/1/001.p/17,
// tile/2/000.p/1).
func (g *generator) big(cities []byte, rules *entry.Rules) error {
	lines, err := citiesLines(cities, 70000)
	if err != nil {
		return err
	}
	entries, err := cityEntries(rules, lines)
	if err != nil {
		return err
	}
	t, err := newTree("big.citylog.example/log", entries)
	if err != nil {
		return err
	}
	full, err := t.publish(70000)
	if err != nil {
		return err
	}
	at := func(i int) string {
		c, err := codeAt(rules, entries[i])
		if err != nil {
			panic(err)
		}
		return c
	}
	for _, mode := range []string{"plain", "edge"} {
		files := full
		if mode == "plain" {
			files = edit(full, map[string][]byte{tiles.EdgePath: nil})
		}
		m := "big/" + mode + "/"
		for _, i := range []int{0, 40000, 65535, 65536, 65600, 69900, 69999} {
			g.add(testCase{name: fmt.Sprintf("%shonest/index %d", m, i), key: t.vkey, code: at(i), want: "verified"}, files)
		}
		// Leaf 40000's level-8 sibling is hash 157 of tile/1/000.
		g.add(testCase{name: m + "tiles/flipped byte in the full level-1 tile", key: t.vkey, code: at(40000), detail: "tile/1/000", want: "failed"},
			edit(files, map[string][]byte{"tile/1/000": flip(files["tile/1/000"], 157*32+3)}))
		// Its own level-1 hash, 156, is never read: the proof computes it.
		g.add(testCase{name: m + "tiles/flipped byte in the hash on the path, which is computed", key: t.vkey, code: at(40000), want: "verified"},
			edit(files, map[string][]byte{"tile/1/000": flip(files["tile/1/000"], 156*32+3)}))
		// Leaf 65600's level-16 sibling is the one hash of tile/2/000.p/1:
		// on the right edge.
		want, detail := "failed", "tile/2/000.p/1"
		if mode == "edge" {
			want, detail = "verified", ""
		}
		g.add(testCase{name: m + "tiles/flipped byte in the level-2 tile", key: t.vkey, code: at(65600), detail: detail, want: want},
			edit(files, map[string][]byte{"tile/2/000.p/1": flip(files["tile/2/000.p/1"], 0)}))
		g.add(testCase{name: m + "tiles/missing level-1 partial tile", key: t.vkey, code: at(65600), want: "unchecked"},
			edit(files, map[string][]byte{"tile/1/001.p/17": nil}))
	}
	return nil
}
