// Package browser runs tests in a real headless Chromium, driven through
// chromedp: the site's pages and its in-browser verifier are tested in
// the browser people use, not in a stand-in. It is a package of its own so
// that only the tests that need a browser depend on chromedp.
//
// As with every tool of internal/testenv, a test skips under plain `go
// test` where no Chromium is installed, naming .ci/test, and fails under
// .ci/test (CITYLOG_REQUIRE_TOOLS=1). Debian's chromium-headless-shell
// (or chromium) package provides one.
package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/citylog/citylog/internal/testenv"
)

// Programs Start looks for, in order: the headless shell starts fastest.
var programs = []string{"chromium-headless-shell", "chromium", "google-chrome", "chrome"}

// Start starts a headless Chromium for t and returns the chromedp
// context of a tab in it; the browser is stopped at t's end. Run actions
// with chromedp.Run or chromedp.Do on it; for a deadline, derive a
// context from it (chromedp.Run on a derived context opens no new tab).
// Where no Chromium is installed, Start skips t (or fails it under
// .ci/test) and returns nil.
func Start(t testing.TB) context.Context {
	t.Helper()
	bin := testenv.Tool(t, "chromium", programs...)
	if bin == "" {
		return nil
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The browser starts with the first action, and the context of that
	// action bounds the browser's life: it must have no deadline.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	return ctx
}

// Watch records, from the call on, what goes wrong in the tab of ctx: a
// request that fails or is answered with an HTTP status of 400 or more,
// a console.error, an uncaught exception or rejected promise, and an
// error in the browser's log. The returned func lists them so far, one
// line each, in order. A page test asserts it returns nothing.
func Watch(ctx context.Context) func() []string {
	var mu sync.Mutex
	var seen []string
	urls := map[network.RequestID]string{}
	note := func(format string, args ...any) {
		seen = append(seen, fmt.Sprintf(format, args...))
	}
	err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			urls[e.RequestID] = e.Request.URL
		case *network.EventResponseReceived:
			if e.Response.Status >= 400 && !browserProbe(e.Response.URL) {
				note("HTTP %d %s", e.Response.Status, e.Response.URL)
			}
		case *network.EventLoadingFailed:
			if !e.Canceled && !browserProbe(urls[e.RequestID]) {
				note("request failed: %s %s", urls[e.RequestID], e.ErrorText)
			}
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
				note("console.%s: %s", e.Type, argsText(e.Args))
			}
		case *runtime.EventExceptionThrown:
			note("%v", &chromedp.ExceptionError{ExceptionDetails: e.ExceptionDetails})
		case *log.EventEntryAdded:
			// The network's own entries repeat the events above.
			if e.Entry.Level == log.EntryLevelError && e.Entry.Source != log.EntrySourceNetwork {
				note("browser log (%s): %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL)
			}
		}
	})
	if err != nil {
		seen = append(seen, fmt.Sprintf("watching the tab: %v", err))
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

// browserProbe reports a request that the browser makes of its own accord,
// not the page: /favicon.ico at the host's root, which Chromium asks for,
// some of the time, of a page that declares no icon. A page test that
// cares (the site declares its icon inline) checks the requests it made.
func browserProbe(u string) bool {
	p, err := url.Parse(u)
	return err == nil && p.Path == "/favicon.ico"
}

// argsText renders console arguments: strings as they are, other values
// as JSON or the browser's description of them.
func argsText(args []*runtime.RemoteObject) string {
	parts := make([]string, len(args))
	for i, a := range args {
		var s string
		switch {
		case a.Type == runtime.RemoteObjectTypeString && json.Unmarshal(a.Value, &s) == nil:
			parts[i] = s
		case len(a.Value) > 0:
			parts[i] = string(a.Value)
		default:
			parts[i] = a.Description
		}
	}
	return strings.Join(parts, " ")
}
