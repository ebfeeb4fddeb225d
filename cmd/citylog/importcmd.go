package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/citylog/citylog/log"
	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/site"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func importCmd(e *env) *cobra.Command {
	var dir string
	var asJSON bool
	var batch int
	var receipts string
	var sf storageFlags
	cmd := &cobra.Command{
		Use:   "import --dir DIR FILE",
		Short: "Allocate codes for a file of requests, one JSON object per line",
		Long: `import reads one allocation request per line (FILE, or - for stdin), e.g.
  {"country":"CN","subdivision":"HE","name":"Shijiazhuang","ids":["unlocode:CNSJW","geonames:1795270"],"lat":38.04,"lon":114.51}
Lines are validated on all cores and allocated in order. A refused line is
reported with its number and reason and the others are still allocated.

Each result is printed only after the checkpoint that includes it is durably
published: if import is interrupted or crashes, every printed code is in the
log, and running the same file again returns the same codes ("existing"). A
line counts once it is complete (newline-terminated): a crash can cut the
last one short.

Output: one "LINE<TAB>CODE<TAB>INDEX[<TAB>existing]" per allocated line on
stdout, refusals and a summary on stderr. With --json, one object per line on
stdout: {"line":N,"code":..,"index":N,"existing":false} or {"line":N,"error":..}.
Exit status 3 means some lines were refused.

With --receipts DIR, an offline receipt DIR/<CODE>.tlog-proof is written for
every allocated or existing line (check it with cityverify receipt).`,
		Example: `  citylog import --dir reg testdata/cities.jsonl
  zcat cities.jsonl.gz | citylog import --dir reg --json - > codes.jsonl
  citylog import --dir reg --receipts receipts/ testdata/cities.jsonl`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, size, closeIn, err := openInput(e, args[0])
			if err != nil {
				return err
			}
			defer closeIn()
			if receipts != "" {
				if err := os.MkdirAll(receipts, 0o755); err != nil {
					return fmt.Errorf("couldn't create receipts directory: %w", err)
				}
			}
			var fresh freshEntries
			stats, err := runImport(cmd.Context(), e, dir, &sf, in, size, batch, receipts, asJSON, fresh.add)
			if err != nil {
				return err
			}
			refreshSite(cmd.Context(), e, dir, &sf, &fresh.Fresh)
			if stats.Refused > 0 {
				return &cliError{code: exitRefused, err: fmt.Errorf("%d of %d lines were refused", stats.Refused, stats.Lines),
					hint: "fix the refused lines (see above) and import them again; allocated lines are kept"}
			}
			return nil
		},
	}
	dirFlag(cmd, &dir)
	sf.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per input line")
	cmd.Flags().IntVar(&batch, "batch", 0, "requests per checkpoint (default 16384)")
	cmd.Flags().StringVar(&receipts, "receipts", "", "write an offline receipt per allocated line into this directory")
	return cmd
}

// runImport imports in into the log at dir, printing each line's result
// once it is durable, then publishes the identifier index. Each batch's
// new entries go to entries, if set.
func runImport(ctx context.Context, e *env, dir string, sf *storageFlags, in io.Reader, size int64, batch int, receipts string, asJSON bool, entries func([]entry.Entry)) (log.ImportStats, error) {
	w, err := openLog(ctx, dir, sf)
	if err != nil {
		return log.ImportStats{}, err
	}
	opts := log.ImportOptions{BatchSize: batch, Entries: entries}
	bar := newProgress(e.stderr, size)
	if bar != nil {
		opts.Progress = func(n int64) { bar.Set64(n) }
	}
	out := bufio.NewWriterSize(e.stdout, 64<<10)
	opts.Published = out.Flush
	lines := &lineWriter{out: out, stderr: e.stderr, asJSON: asJSON}
	stats, err := w.Import(ctx, in, opts, func(lr log.LineResult) error {
		if receipts != "" && lr.Err == nil {
			path := filepath.Join(receipts, lr.Code.String()+".tlog-proof")
			if err := writeReceipt(ctx, w, lr.Index, path); err != nil {
				return err
			}
		}
		return lines.print(lr)
	})
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	err = endWrite(ctx, w, err)
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(e.stderr)
	}
	fmt.Fprintf(e.stderr, "%d lines: %d allocated, %d existing, %d refused; log size %d\n",
		stats.Lines, stats.Allocated, stats.Existing, stats.Refused, w.Size())
	return stats, err
}

// freshEntries keeps the last entries an import published, at least
// freshCap of them (and fewer than twice that), for the site update that
// follows (site.Config.Fresh): what it has here it need not read back and
// decode.
type freshEntries struct{ site.Fresh }

// freshCap bounds the entries kept: a site update is timed after batches
// of up to 65,536 (the lists settle every 65,536); an import of more
// keeps its last 65,536 to 131,071, 8-16 MB.
const freshCap = 1 << 16

// add appends a batch's entries.
func (f *freshEntries) add(es []entry.Entry) {
	if len(f.Entries) > 0 && f.From+uint64(len(f.Entries)) != es[0].Code.Index {
		f.Entries = nil // not a continuation: start again
	}
	if len(f.Entries) == 0 {
		f.From = es[0].Code.Index
	}
	f.Entries = append(f.Entries, es...)
	// Cut back to the last freshCap once twice as many pile up: cutting
	// at every batch past freshCap copied 65,536 entries a batch.
	if len(f.Entries) >= 2*freshCap {
		over := len(f.Entries) - freshCap
		f.Entries = append([]entry.Entry(nil), f.Entries[over:]...)
		f.From += uint64(over)
	}
}

// lineWriter prints the answer to each import line. A million-line
// import prints a million answers from the goroutine that publishes the
// batches, so the common answers are formatted by hand into one buffer:
// fmt and encoding/json cost about a microsecond each, a second per
// million lines.
type lineWriter struct {
	out, stderr io.Writer
	asJSON      bool
	buf         []byte
}

func (p *lineWriter) print(lr log.LineResult) error {
	if lr.Err != nil {
		if p.asJSON {
			return writeJSON(p.out, struct {
				Line  int    `json:"line"`
				Error string `json:"error"`
			}{lr.Line, lr.Err.Error()})
		}
		_, err := fmt.Fprintf(p.stderr, "line %d: %v\n", lr.Line, lr.Err)
		return err
	}
	if lr.Differs != nil {
		fmt.Fprintf(p.stderr, "line %d: warning: %s is this city's existing code; %s (an entry never changes)\n", lr.Line, lr.Code, lr.Differs)
		if p.asJSON {
			return writeJSON(p.out, codeJSON{Line: lr.Line, Code: lr.Code.String(), Index: lr.Index, Existing: true, Differs: lr.Differs})
		}
	}
	b := p.buf[:0]
	if p.asJSON {
		// As writeJSON(codeJSON{...}) writes it: a code needs no escaping.
		b = strconv.AppendInt(append(b, `{"line":`...), int64(lr.Line), 10)
		b = lr.Code.Append(append(b, `,"code":"`...))
		b = strconv.AppendUint(append(b, `","index":`...), lr.Index, 10)
		b = strconv.AppendBool(append(b, `,"existing":`...), lr.Existing)
		b = append(b, "}\n"...)
	} else {
		b = strconv.AppendInt(b, int64(lr.Line), 10)
		b = lr.Code.Append(append(b, '\t'))
		b = strconv.AppendUint(append(b, '\t'), lr.Index, 10)
		if lr.Existing {
			b = append(b, "\texisting"...)
		}
		b = append(b, '\n')
	}
	p.buf = b
	_, err := p.out.Write(b)
	return err
}

// openInput opens FILE or stdin and returns its size if known.
func openInput(e *env, name string) (io.Reader, int64, func(), error) {
	if name == "-" {
		return e.stdin, -1, func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, nil, &cliError{code: exitFailure, err: fmt.Errorf("couldn't open input: %w", err), hint: "give a file of JSON lines, or - for stdin"}
	}
	size := int64(-1)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	return f, size, func() { f.Close() }, nil
}

// newProgress returns a progress bar on stderr if it is a terminal.
func newProgress(stderr io.Writer, size int64) *progressbar.ProgressBar {
	f, ok := stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(stderr),
		progressbar.OptionSetDescription("importing"),
		progressbar.OptionShowBytes(true),
		progressbar.OptionThrottle(100_000_000),
		progressbar.OptionSetPredictTime(true),
	)
}
