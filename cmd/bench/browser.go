package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// benchBrowserVerify serves the log in dir with citylog serve and opens
// its code page in headless Chromium for codes across the log, each with
// the browser's cache cleared (a reader who never saw the log), reporting
// the time from the page's start to the verdict (data-ms, measured by the
// page) and the bytes the verification fetched; with timeline, also when
// each file was fetched.
func benchBrowserVerify(bin, dir string, size uint64, runs int, timeline bool) error {
	exe := ""
	for _, p := range []string{"chromium-headless-shell", "chromium"} {
		if path, err := exec.LookPath(p); err == nil {
			exe = path
			break
		}
	}
	if exe == "" {
		return fmt.Errorf("no chromium: run .ci/test once (it installs Debian's chromium)")
	}
	srv, addr, err := startServer(bin, dir, 0, nil)
	if err != nil {
		return err
	}
	defer func() {
		srv.Process.Signal(syscall.SIGTERM)
		srv.Wait()
	}()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil {
		return err
	}
	var bytes int64
	chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventLoadingFinished); ok {
			bytes += int64(e.EncodedDataLength)
		}
	})
	var ms []float64
	for r := range runs {
		index := uint64(r) * (size / uint64(runs))
		code, err := codeAt(dir, index)
		if err != nil {
			return err
		}
		if _, err := chromedp.Call(ctx, network.ClearBrowserCache, cdp.Empty{}); err != nil {
			return err
		}
		if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
			return err
		}
		bytes = 0
		tctx, tcancel := context.WithTimeout(ctx, 30*time.Second)
		if err := chromedp.Do(tctx, chromedp.Navigate("http://"+addr+"/code.html#"+code)); err != nil {
			tcancel()
			return err
		}
		type verdict struct{ Verdict, MS, Load string }
		v, err := chromedp.Run(tctx, chromedp.Poll[verdict](`(v => v.dataset.done === "true" && v.textContent.includes("`+code+`") && {Verdict: v.dataset.verdict, MS: v.dataset.ms, Load: v.dataset.sinceLoad})(document.getElementById("verdict"))`))
		tcancel()
		if err != nil {
			return fmt.Errorf("%s: %w", code, err)
		}
		if v.Verdict != "verified" {
			return fmt.Errorf("%s: %s", code, v.Verdict)
		}
		m, _ := strconv.ParseFloat(v.Load, 64)
		ms = append(ms, m)
		if timeline {
			// What the page fetched and when, from the navigation's start:
			// the Resource Timing entries and the page's own marks.
			tl, err := chromedp.Run(ctx, chromedp.Evaluate[string](timelineJS))
			if err != nil {
				return err
			}
			fmt.Print(tl)
		}
		fmt.Printf("browser: %s (entry %d) verified %s ms after the page was opened (%s ms of checking), %d bytes over the wire: page, scripts and proof\n", code, index, v.Load, v.MS, bytes)
	}
	sort.Float64s(ms)
	fmt.Printf("browser, cold (cache cleared, from opening the page to the verdict), log of %d: median %.0f ms, max %.0f ms over %d codes\n", size, ms[len(ms)/2], ms[len(ms)-1], len(ms))
	return nil
}

// codeAt returns the code of entry index, read from the log directory.
func codeAt(dir string, index uint64) (string, error) {
	// The code's serial is the index; its country and subdivision come
	// from the entry: read the CSV part the site wrote.
	part := index / 4096
	b, err := os.ReadFile(fmt.Sprintf("%s/public/site/csv/cities-%d.csv", dir, part))
	if err != nil {
		return "", err
	}
	prefix := strconv.FormatUint(index, 10) + ","
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, prefix) {
			return strings.Split(line, ",")[1], nil
		}
	}
	return "", fmt.Errorf("entry %d is not in the site's CSV", index)
}

// timelineJS lists the page's requests and marks in time order.
const timelineJS = `(() => {
  const n = performance.getEntriesByType('navigation')[0];
  let s = '  page: response ' + Math.round(n.responseEnd) + ' ms, interactive ' + Math.round(n.domInteractive) + ', DOMContentLoaded ' + Math.round(n.domContentLoadedEventEnd) + '\n';
  for (const r of [...performance.getEntriesByType('resource'), ...performance.getEntriesByType('mark')].sort((a, b) => a.startTime - b.startTime)) {
    s += '    ' + r.name.replace(/^https?:\/\/[^/]+\//, '') + ' ' + Math.round(r.startTime) + (r.responseEnd ? '-' + Math.round(r.responseEnd) : '') + ' ms\n';
  }
  return s;
})()`
