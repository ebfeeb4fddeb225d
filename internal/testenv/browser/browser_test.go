package browser

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const page = `<!doctype html><title>t</title><div id="out">pending</div>
<script>
crypto.subtle.digest("SHA-256", new TextEncoder().encode("abc")).then(h =>
	document.getElementById("out").textContent = [...new Uint8Array(h)].map(b => b.toString(16).padStart(2, "0")).join(""));
</script>`

const broken = `<!doctype html><title>broken</title>
<img src="/missing.png">
<script>console.error("bad", 42); Promise.reject(new Error("rejected")); undefinedFunction();</script>`

// TestStartAndWatch runs a WebCrypto page in the browser, and a page that
// goes wrong in every way Watch reports.
func TestStartAndWatch(t *testing.T) {
	ctx := Start(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			w.Write([]byte(page))
		case "/broken":
			w.Write([]byte(broken))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()

	problems := Watch(ctx)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Poll[string](`(t => t !== "pending" && t)(document.getElementById("out").textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("SHA-256 in the browser = %q", got)
	}
	if p := problems(); len(p) > 0 {
		t.Errorf("a clean page reported %q", p)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/broken")); err != nil {
		t.Fatal(err)
	}
	want := []string{"HTTP 404 " + srv.URL + "/missing.png", "console.error: bad 42", "rejected", "undefinedFunction"}
	var p []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if p = problems(); len(p) >= len(want) {
			break
		}
	}
	for _, w := range want {
		if !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, w) }) {
			t.Errorf("Watch did not report %q; it reported %q", w, p)
		}
	}
}
