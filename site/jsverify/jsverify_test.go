package jsverify

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/citylog/citylog/internal/testenv/browser"
	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/log/idcode"
	"github.com/citylog/citylog/tiles"
	"github.com/citylog/citylog/tiles/source"
	"github.com/citylog/citylog/verifier"
)

func readVectors(t testing.TB) *Vectors {
	t.Helper()
	data, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	vs, err := ReadVectors(data)
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// TestRulesJSIsGenerated keeps rules.js the Go verifier's data.
func TestRulesJSIsGenerated(t *testing.T) {
	got, err := fs.ReadFile(Files, "rules.js")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, RulesJS(entry.DefaultRules())) {
		t.Fatal("rules.js is not what RulesJS writes from the verifier's rules: run go run ./site/jsverify/gen")
	}
}

// TestVectorsAreGenerated keeps vectors.json what Generate writes, byte
// for byte: the verdicts in it are the Go verifier's of today.
func TestVectorsAreGenerated(t *testing.T) {
	cities, err := os.ReadFile("../../testdata/cities.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	vs, err := Generate(context.Background(), cities)
	if err != nil {
		t.Fatal(err)
	}
	got, err := vs.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("testdata/vectors.json is not what Generate writes: run go run ./site/jsverify/gen")
	}
	if n := len(vs.Vectors); n < 150 {
		t.Errorf("only %d vectors", n)
	}
}

// serveVector serves v's files as a static host does, under /log/.
func serveVector(vs *Vectors, v *Vector) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := strings.TrimPrefix(r.URL.Path, "/log/")
		st, ok := v.Status[path]
		if !ok {
			st, ok = v.Status["*"]
		}
		blob, have := v.Files[path]
		switch {
		case ok:
			http.Error(w, "status", st)
		case have:
			w.Write(vs.Blobs[blob])
		default:
			http.NotFound(w, r)
		}
	})
}

// TestVectorsOverHTTP checks the oracle's host: the Go verifier reading
// each vector over real HTTP (source.HTTP) says what the vector says.
func TestVectorsOverHTTP(t *testing.T) {
	vs := readVectors(t)
	for i := range vs.Vectors {
		v := &vs.Vectors[i]
		srv := httptest.NewServer(serveVector(vs, v))
		src, err := source.NewHTTP(srv.URL+"/log", source.HTTPOptions{Attempts: 2, Backoff: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		verdict, input := Verdict(verify(context.Background(), src, v))
		srv.Close()
		if verdict != v.Want.Verdict || input != v.Want.Input {
			t.Errorf("%s: over HTTP the Go verifier says %s (input %v), the vector %s", v.Name, verdict, input, v.Want.Verdict)
		}
	}
}

// jsResult is what the test page returns for one vector.
type jsResult struct {
	Name           string   `json:"name"`
	Verdict        string   `json:"verdict"`
	Input          bool     `json:"input"`
	Detail         string   `json:"detail"`
	Fetched        []string `json:"fetched"`
	Receipt        string   `json:"receipt"`
	ReceiptVerdict string   `json:"receiptVerdict"`
	Suggestion     string   `json:"suggestion"`
	EntryCode      string   `json:"entryCode"`
}

const testPage = `<!doctype html><meta charset="utf-8"><title>jsverify</title>
<script type="module">
import * as v from '/verify.js';
window.jsverify = v;
</script>`

// runVectors runs every vector in the page, each with a fetch that serves
// its files, and its receipt (if any) through verifyReceipt.
const runVectors = `(async () => {
	const vs = await (await fetch('/vectors.json')).json();
	const blob = (name) => Uint8Array.from(atob(vs.blobs[name]), (c) => c.charCodeAt(0));
	const base = 'https://log.example/log/';
	return Promise.all(vs.vectors.map(async (v) => {
		const fetch = async (url) => {
			if (!url.startsWith(base)) return new Response('not the log', { status: 400 });
			const path = url.slice(base.length), st = v.status?.[path] ?? v.status?.['*'];
			if (st) return new Response('status', { status: st });
			return v.files[path] ? new Response(blob(v.files[path])) : new Response('not found', { status: 404 });
		};
		const r = await jsverify.verifyCode({ base, key: v.key, witnesses: v.witnesses, quorum: v.quorum, code: v.code, fetch });
		const rr = r.receipt ? await jsverify.verifyReceipt(r.receipt, v.key, v.witnesses, v.quorum) : null;
		return { name: v.name, verdict: r.verdict, input: !!r.input, detail: r.detail, fetched: r.fetched,
			receipt: r.receipt ?? '', receiptVerdict: rr?.verdict ?? '', suggestion: r.suggestion ?? '', entryCode: r.entry?.code ?? '' };
	}));
})()`

// TestBrowser runs verify.js in a headless Chromium: every vector, the
// code parser against idcode.Parse, receipts both ways, and logs served
// over real HTTP with relative bases. One browser serves all of it.
func TestBrowser(t *testing.T) {
	start := time.Now()
	ctx := browser.Start(t)
	vectors, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	vs := readVectors(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(testPage)) })
	mux.Handle("/verify.js", serveJS("verify.js"))
	mux.Handle("/rules.js", serveJS("rules.js"))
	mux.HandleFunc("/vectors.json", func(w http.ResponseWriter, r *http.Request) { w.Write(vectors) })
	mux.Handle("/logs/", http.StripPrefix("/logs", hostileHost(t, vs)))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	problems := browser.Watch(ctx)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!window.jsverify`)); err != nil {
		t.Fatal(err)
	}
	t.Logf("browser up and verify.js loaded in %v", time.Since(start))

	t.Run("vectors", func(t *testing.T) { testVectors(t, ctx, vs) })
	t.Run("parseCode", func(t *testing.T) { testParseCode(t, ctx) })
	t.Run("receipts", func(t *testing.T) { testGoReceipts(t, ctx, vs) })
	t.Run("over HTTP", func(t *testing.T) { testOverHTTP(t, ctx, srv.URL) })
	for _, p := range problems() {
		// The hosts of the HTTP cases answer 404 and worse on purpose.
		if !strings.HasPrefix(p, "HTTP ") && !strings.HasPrefix(p, "request failed: ") {
			t.Errorf("the page: %s", p)
		}
	}
}

func serveJS(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := fs.ReadFile(Files, name)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Write(b)
	})
}

func testVectors(t *testing.T, ctx context.Context, vs *Vectors) {
	start := time.Now()
	results, err := chromedp.Run(ctx, chromedp.Evaluate[[]jsResult](runVectors, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d vectors in the browser in %v", len(results), time.Since(start))
	if len(results) != len(vs.Vectors) {
		t.Fatalf("%d results for %d vectors", len(results), len(vs.Vectors))
	}
	receipts := 0
	for i, r := range results {
		v := &vs.Vectors[i]
		w := v.Want
		if r.Verdict != w.Verdict || r.Input != w.Input {
			t.Errorf("%s: verify.js says %s (input %v): %s\n\tthe Go verifier: %s (input %v): %s", v.Name, r.Verdict, r.Input, r.Detail, w.Verdict, w.Input, w.Error)
			continue
		}
		if !strings.Contains(r.Detail, w.Detail) {
			t.Errorf("%s: detail %q does not name %q", v.Name, r.Detail, w.Detail)
		}
		// With checkpoint.edge, a tile or bundle that breaks a proof is
		// singled out, by both verifiers: the detail blames it alone.
		if strings.Contains(r.Detail, "is not in the signed tree") && v.Files[tiles.EdgePath] != "" {
			if !strings.Contains(r.Detail, w.Detail+" is not the log's") {
				t.Errorf("%s: detail %q does not single out %q", v.Name, r.Detail, w.Detail)
			}
			if !strings.Contains(w.Error, w.Detail+" is not the log's") {
				t.Errorf("%s: the Go verifier's %q does not single out %q", v.Name, w.Error, w.Detail)
			}
		}
		fetched := slices.Compact(slices.Sorted(slices.Values(r.Fetched)))
		if !slices.Equal(fetched, w.Fetched) {
			t.Errorf("%s: verify.js fetched %q, the Go verifier %q", v.Name, r.Fetched, w.Fetched)
		}
		if w.Input && len(r.Fetched) > 0 {
			t.Errorf("%s: bad input, yet verify.js fetched %q", v.Name, r.Fetched)
		}
		var ce *idcode.CheckError
		if _, err := idcode.Parse(v.Code); errors.As(err, &ce) && !strings.HasSuffix(r.Suggestion, "-"+string(ce.Expected)) {
			t.Errorf("%s: a typo, yet verify.js suggests %q", v.Name, r.Suggestion)
		}
		if (r.Receipt != "") != (w.Verdict == "verified") {
			t.Errorf("%s: verdict %s with receipt %q", v.Name, r.Verdict, r.Receipt)
		}
		if r.Receipt != "" {
			receipts++
			checkReceipt(t, vs, v, r)
		}
	}
	if receipts == 0 {
		t.Error("no receipts checked")
	}
}

// checkReceipt holds a receipt verify.js assembled to the Go verifier:
// VerifyReceipt accepts it under the log's rules, and judges it as
// verifyReceipt did with the built-in rules alone.
func checkReceipt(t *testing.T, vs *Vectors, v *Vector, r jsResult) {
	t.Helper()
	key, err := verifier.ParseKey(v.Key)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := verifier.ParseWitnesses(v.Witnesses, v.Quorum)
	if err != nil {
		t.Fatal(err)
	}
	files := *v
	files.Status = nil // the log's rules, whatever the host answered the verifier
	rules, err := verifier.ReadRules(context.Background(), vs.Source(&files, nil))
	if err != nil {
		t.Fatalf("%s: %v", v.Name, err)
	}
	c, err := idcode.Parse(v.Code)
	if err != nil {
		t.Fatal(err)
	}
	got, err := verifier.VerifyReceipt([]byte(r.Receipt), key, rules, pol)
	if err != nil || got.Code != c.String() || r.EntryCode != c.String() {
		t.Errorf("%s: the Go verifier refuses verify.js's receipt (%v) or it is not of %s (%s, %s):\n%s", v.Name, err, c, got.Code, r.EntryCode, r.Receipt)
	}
	_, err = verifier.VerifyReceipt([]byte(r.Receipt), key, nil, pol)
	if want, _ := Verdict(err); r.ReceiptVerdict != want {
		t.Errorf("%s: verifyReceipt says %s, VerifyReceipt without the log's rules %s (%v)", v.Name, r.ReceiptVerdict, want, err)
	}
}

// TestBrowserSizes reports what the site ships.
func TestShippedSizes(t *testing.T) {
	for _, name := range []string{"verify.js", "rules.js"} {
		b, err := fs.ReadFile(Files, name)
		if err != nil {
			t.Fatal(err)
		}
		var z bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
		zw.Write(b)
		zw.Close()
		t.Logf("%s: %d bytes, %d gzipped", name, len(b), z.Len())
		if len(b) > 48<<10 {
			t.Errorf("%s is %d bytes: keep the verifier small", name, len(b))
		}
	}
}

// codeInputs returns good codes and many mistypings of them.
func codeInputs() []string {
	good := []string{"CN-HE-00AB-1", "FR-IDF-0000-0", "VA-0-0001-F", "US-CA-YGJ0-C", "CN-TJ-0007-E",
		code("US", "CA", 1<<20), code("ZZ", "ZZZ", 1<<53-1), code("ZZ", "ZZZ", 1<<53), code("ZZ", "ZZZ", 1<<64-1)}
	in := []string{"", "-", "---", "CN-HE-00AB-1-", "CN--00AB-1", "CNN-HE-00AB-1", "C1-HE-00AB-1", "CN-HEBE-00AB-1",
		"CN-HE-00A-1", "CN-HE-000AB-1", "CN-HE-00U0-1", "CN-HE-00AB-", "CN-HE-00AB-11", "CN-HE-00AB-#",
		" cn-he-ooab-1\n", "cn-he-00ab-1", "CN-HE-OOAB-1", "CN-HE-00AB-1\u00a0", "\ufeffCN-HE-00AB-1", "CN-HE-00AB-1\u0085",
		"ıı-HE-00AB-1", "ſſ-HE-00AB-1", "ß-HE-00AB-1", "CN-HE-ǅǅ-1", "CN-HE-00AB-ı", "ZZ-ZZZ-G000000000000-0",
		"ZZ-ZZZ-10000000000000-0", "CN-HE-L1I0-0", "CN-HE-0000000-0", "CN-\u00c9-0000-0"}
	for _, g := range good {
		in = append(in, g, strings.ToLower(g))
		for i := range len(g) {
			for _, c := range "0OIL1U9AZ-x " {
				in = append(in, g[:i]+string(c)+g[i+1:])
			}
			if i+1 < len(g) {
				in = append(in, g[:i]+g[i+1:i+2]+g[i:i+1]+g[i+2:]) // transposed
			}
		}
	}
	return in
}

// testParseCode holds parseCode to idcode.Parse: the same codes are
// valid, with the same canonical form and index, and a mistyped check
// character brings the corrected code.
func testParseCode(t *testing.T, ctx context.Context) {
	inputs := codeInputs()
	js, _ := json.Marshal(inputs)
	type parsed struct {
		OK         bool    `json:"ok"`
		Code       string  `json:"code"`
		Index      float64 `json:"index"`
		Error      string  `json:"error"`
		Suggestion string  `json:"suggestion"`
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[[]parsed](fmt.Sprintf(`%s.map((s) => jsverify.parseCode(s))`, js)))
	if err != nil {
		t.Fatal(err)
	}
	valid, typos := 0, 0
	for i, s := range inputs {
		g := got[i]
		c, err := idcode.Parse(s)
		var ce *idcode.CheckError
		switch {
		case err == nil:
			valid++
			if !g.OK || g.Code != c.String() || g.Index != float64(c.Index) {
				t.Errorf("parseCode(%q) = %+v, idcode.Parse: %s (index %d)", s, g, c, c.Index)
			}
		case errors.As(err, &ce):
			typos++
			fixed, ferr := idcode.Parse(ce.Code[:len(ce.Code)-1] + string(ce.Expected))
			if ferr != nil {
				t.Fatal(ferr)
			}
			if g.OK || g.Suggestion != fixed.String() || !strings.Contains(g.Error, "expected "+string(ce.Expected)) {
				t.Errorf("parseCode(%q) = %+v, idcode.Parse: %v (suggest %s)", s, g, err, fixed)
			}
		default:
			if g.OK || g.Suggestion != "" || g.Error == "" {
				t.Errorf("parseCode(%q) = %+v, idcode.Parse: %v", s, g, err)
			}
		}
	}
	if valid < 20 || typos < 100 {
		t.Errorf("the table holds %d valid codes and %d typos: too few", valid, typos)
	}
}

// testGoReceipts checks receipts in the browser, offline, as
// VerifyReceipt judges them: the Go writer's (verifier's fixture), the
// same tampered with, and one of a log whose entry breaks the rule.
func testGoReceipts(t *testing.T, ctx context.Context, vs *Vectors) {
	vkey, err := os.ReadFile("../../verifier/testdata/vkey")
	if err != nil {
		t.Fatal(err)
	}
	fixtureKey := strings.TrimSpace(string(vkey))
	type receipt struct {
		name, key string
		data      []byte
	}
	var receipts []receipt
	for _, name := range []string{"receipt.tlog-proof", "extra.tlog-proof"} {
		b, err := os.ReadFile("../../verifier/testdata/receipt/" + name)
		if err != nil {
			t.Fatal(err)
		}
		receipts = append(receipts, receipt{name, fixtureKey, b},
			receipt{name + ", another index", fixtureKey, bytes.Replace(b, []byte("\nindex "), []byte("\nindex 1"), 1)},
			receipt{name + ", no extra line", fixtureKey, b[bytes.Index(b, []byte("\nindex ")):]},
			receipt{name + ", another log's key", vs.Vectors[0].Key, b})
	}
	for _, v := range vs.Vectors {
		if v.Name == "rule/an entry carrying another index's code" {
			edge, err := tiles.ParseEdge(vs.Blobs[v.Files[tiles.EdgePath]])
			if err != nil {
				t.Fatal(err)
			}
			entries, err := tiles.ParseBundle(vs.Blobs[v.Files["tile/entries/000.p/1"]], 1)
			if err != nil {
				t.Fatal(err)
			}
			p := tiles.TLogProof{Extra: entries[0], Index: 0, Checkpoint: edge.Checkpoint}
			receipts = append(receipts, receipt{"an entry carrying another index's code", v.Key, p.Marshal()})
		}
	}
	for _, r := range receipts {
		key, err := verifier.ParseKey(r.key)
		if err != nil {
			t.Fatal(err)
		}
		_, gerr := verifier.VerifyReceipt(r.data, key, nil)
		want, _ := Verdict(gerr)
		args, _ := json.Marshal([]string{string(r.data), r.key})
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`((a) => jsverify.verifyReceipt(a[0], a[1]).then((r) => r.verdict))(%s)`, args), chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: verifyReceipt says %s, VerifyReceipt %s (%v)", r.name, got, want, gerr)
		}
	}
	if len(receipts) < 9 {
		t.Errorf("only %d receipts", len(receipts))
	}
}
