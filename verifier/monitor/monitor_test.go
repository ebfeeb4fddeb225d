package monitor

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/log/idcode"
	"github.com/citylog/citylog/log/idshard"
	"github.com/citylog/citylog/tiles"
	"github.com/citylog/citylog/tiles/source"
	"github.com/citylog/citylog/verifier"
	"golang.org/x/mod/sumdb/note"
)

const origin = "crafted.example/log"

// craft writes a tlog-tiles tree of arbitrary entries, signed by s: the
// monitor must judge logs the writer would never produce.
func craft(t testing.TB, dir string, entries [][]byte, s note.Signer) []byte {
	t.Helper()
	write := func(tile tiles.Tile, data []byte) {
		p := filepath.Join(dir, tile.Path())
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tree, _ := tiles.NewBuilder(0, nil, nil)
	tree.Full = write
	var bundle []byte
	for i, e := range entries {
		bundle, _ = tiles.AppendBundleEntry(bundle, e)
		if i%tiles.Width == tiles.Width-1 {
			write(tiles.Tile{Level: tiles.EntriesLevel, Index: uint64(i / tiles.Width), Width: tiles.Width}, bundle)
			bundle = nil
		}
		tree.Append(tiles.HashLeaf(e))
	}
	size := uint64(len(entries))
	for _, et := range tiles.EdgeTiles(size) {
		if et.Level == tiles.EntriesLevel {
			write(et, bundle)
		} else {
			write(et, tree.EdgeTile(et.Level))
		}
	}
	root := tree.Root()
	cp, err := note.Sign(&note.Note{Text: string(tiles.Checkpoint{Origin: origin, Size: size, Root: root}.Marshal())}, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "checkpoint"), cp, 0o644); err != nil {
		t.Fatal(err)
	}
	return cp
}

func keys(t testing.TB) (note.Signer, note.Verifier) {
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := note.NewSigner(skey)
	v, _ := note.NewVerifier(vkey)
	return s, v
}

// good returns valid entries 0..n-1, then lets edit change one.
func good(n int) [][]byte {
	var out [][]byte
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		out = append(out, encode(i, i, fmt.Sprintf("geonames:%d", i+1), t0.Add(time.Duration(i)*time.Second)))
	}
	return out
}

func encode(index, serial int, id string, at time.Time) []byte {
	c, _ := idcode.New("DE", "BY", uint64(serial))
	e := entry.Entry{Request: entry.Request{Country: "DE", Subdivision: "BY", Name: fmt.Sprint("Town ", index), IDs: []string{id}}, Code: c, Time: at}
	return e.AppendJSON(nil)
}

func runAudit(t *testing.T, dir, state string, v note.Verifier) []Violation {
	t.Helper()
	m, err := New(verifier.New(source.Dir(dir), v), state)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	vs, _, err := m.Round(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func TestRuleBreakingLogs(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		edit  func(es [][]byte)
		kind  string
		index uint64
	}{
		{"honest", func([][]byte) {}, "", 0},
		{"duplicate identifier", func(es [][]byte) { es[300] = encode(300, 300, "geonames:5", t0.Add(300*time.Second)) }, "identifier reused", 300},
		{"code of another index", func(es [][]byte) { es[200] = encode(200, 201, "geonames:201", t0.Add(200*time.Second)) }, "code does not match index", 200},
		{"bad check character", func(es [][]byte) {
			s := string(encode(100, 100, "geonames:101", t0.Add(100*time.Second)))
			i := strings.Index(s, `","country"`)
			es[100] = []byte(s[:i-1] + string(otherChar(s[i-1])) + s[i:])
		}, "invalid entry", 100},
		{"non-canonical bytes", func(es [][]byte) { es[50] = []byte(strings.Replace(string(es[50]), `"v":1,`, `"v": 1,`, 1)) }, "invalid entry", 50},
		{"time went backwards", func(es [][]byte) { es[400] = encode(400, 400, "geonames:401", t0) }, "time went backwards", 400},
		{"invalid country", func(es [][]byte) {
			es[10] = []byte(strings.Replace(string(es[10]), `"country":"DE"`, `"country":"ZZ"`, 1))
		}, "invalid entry", 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, v := keys(t)
			dir := t.TempDir()
			es := good(520)
			tc.edit(es)
			cp := craft(t, dir, es, s)
			vs := runAudit(t, dir, t.TempDir(), v)
			if tc.kind == "" {
				if len(vs) != 0 {
					t.Fatalf("honest log: %+v", vs)
				}
				return
			}
			if len(vs) == 0 {
				t.Fatal("not caught")
			}
			v0 := vs[0]
			if v0.Kind != tc.kind || v0.Index != tc.index || v0.Entry != string(es[tc.index]) || v0.Checkpoint != string(cp) {
				t.Fatalf("got %+v, want %q at %d with the entry and checkpoint as evidence", v0, tc.kind, tc.index)
			}
			if tc.kind == "identifier reused" && v0.Other != string(es[4]) {
				t.Errorf("evidence lacks the earlier holder: %q", v0.Other)
			}
		})
	}
}

func otherChar(c byte) byte {
	if c == 'A' {
		return 'B'
	}
	return 'A'
}

// TestSplitViewAndTamperedTile: a second tree of the same size signed by
// the log's key is flagged with both checkpoints; a served tile that does
// not match the entries is flagged too.
func TestSplitViewAndTamperedTile(t *testing.T) {
	s, v := keys(t)
	dir, state := t.TempDir(), t.TempDir()
	es := good(600)
	first := craft(t, dir, es, s)
	if vs := runAudit(t, dir, state, v); len(vs) != 0 {
		t.Fatal(vs)
	}
	es[599] = encode(599, 599, "geonames:100000", time.Date(2026, 1, 1, 0, 9, 59, 0, time.UTC))
	fork := craft(t, t.TempDir(), es, s)
	os.WriteFile(filepath.Join(dir, "checkpoint"), fork, 0o644)
	vs := runAudit(t, dir, state, v)
	if len(vs) != 1 || vs[0].Kind != "inconsistent checkpoint" || vs[0].Previous != string(first) || vs[0].Checkpoint != string(fork) {
		t.Fatalf("split view: %+v", vs)
	}

	dir2 := t.TempDir()
	craft(t, dir2, good(600), s)
	tile := filepath.Join(dir2, "tile/0/001")
	b, _ := os.ReadFile(tile)
	b[5] ^= 1
	os.WriteFile(tile, b, 0o644)
	vs = runAudit(t, dir2, t.TempDir(), v)
	if len(vs) == 0 || vs[0].Kind != "tile does not match entries" || !strings.Contains(vs[0].Detail, "tile/0/001") {
		t.Fatalf("tampered tile: %+v", vs)
	}
}

// TestResume interrupts a round after its first save and checks that the
// next run continues from the saved state to the same result.
func TestResume(t *testing.T) {
	s, v := keys(t)
	dir, state := t.TempDir(), t.TempDir()
	es := good(3000)
	es[2500] = encode(2500, 2500, "geonames:7", time.Date(2026, 1, 1, 0, 41, 40, 0, time.UTC))
	craft(t, dir, es, s)
	m, _ := New(verifier.New(source.Dir(dir), v), state)
	m.SaveEvery = 1024
	ctx, cancel := context.WithCancel(context.Background())
	m.Progress = func(done, total uint64) {
		if done >= 1100 {
			cancel()
		}
	}
	if _, _, err := m.Round(ctx); err == nil {
		t.Fatal("the interrupted round succeeded")
	}
	// A second monitor on the state is refused while the first holds it.
	if _, err := New(verifier.New(source.Dir(dir), v), state); err == nil || !strings.Contains(err.Error(), "one monitor process per state") {
		t.Fatalf("a second monitor on one state: %v", err)
	}
	m.Close()
	var resumedFrom uint64
	m2, _ := New(verifier.New(source.Dir(dir), v), state)
	defer m2.Close()
	m2.Progress = func(done, total uint64) { resumedFrom = 3000 - total }
	vs, cp, err := m2.Round(context.Background())
	if err != nil || cp.Size != 3000 {
		t.Fatal(err)
	}
	if resumedFrom == 0 {
		t.Error("the second run started from scratch")
	}
	if len(vs) != 1 || vs[0].Kind != "identifier reused" || vs[0].Index != 2500 {
		t.Fatalf("after resuming: %+v", vs)
	}
	// A third round has nothing new to audit.
	if vs, _, err := m2.Round(context.Background()); err != nil || len(vs) != 0 {
		t.Fatalf("idle round: %v %+v", err, vs)
	}
}

// writeIndex publishes an identifier index for entries es, letting edit
// change the lines first.
func writeIndex(t *testing.T, dir string, n int, edit func([]idshard.Line) []idshard.Line) {
	var lines []idshard.Line
	for i := 0; i < n; i++ {
		lines = append(lines, idshard.Line{ID: fmt.Sprintf("geonames:%d", i+1), Leaf: uint64(i)})
	}
	lines = edit(lines)
	bits := idshard.MinBits
	shards := map[string][]idshard.Line{}
	for _, l := range lines {
		shards[idshard.Shard(l.ID, bits)] = append(shards[idshard.Shard(l.ID, bits)], l)
	}
	os.MkdirAll(filepath.Join(dir, idshard.WidthDir(bits)), 0o755)
	for p, ls := range shards {
		os.WriteFile(filepath.Join(dir, p), idshard.Marshal(ls), 0o644)
	}
	os.WriteFile(filepath.Join(dir, idshard.MetaPath), idshard.Meta{Size: uint64(n), Bits: bits}.Marshal(), 0o644)
}

func TestIdentifierIndex(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func([]idshard.Line) []idshard.Line
		kind string
	}{
		{"truthful and complete", func(ls []idshard.Line) []idshard.Line { return ls }, ""},
		{"points elsewhere", func(ls []idshard.Line) []idshard.Line { ls[7].Leaf = 8; return ls }, "identifier index lies"},
		{"missing a line", func(ls []idshard.Line) []idshard.Line { return ls[1:] }, "identifier index incomplete"},
		{"invented identifier", func(ls []idshard.Line) []idshard.Line {
			return append(ls, idshard.Line{ID: "geonames:999999", Leaf: 3})
		}, "identifier index lies"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, v := keys(t)
			dir := t.TempDir()
			craft(t, dir, good(300), s)
			writeIndex(t, dir, 300, tc.edit)
			vs := runAudit(t, dir, t.TempDir(), v)
			if tc.kind == "" {
				if len(vs) != 0 {
					t.Fatal(vs)
				}
				return
			}
			if len(vs) == 0 || vs[0].Kind != tc.kind {
				t.Fatalf("%+v, want %q", vs, tc.kind)
			}
		})
	}
}
