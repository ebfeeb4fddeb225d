package log

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/log/idindex"
	"github.com/citylog/citylog/log/idshard"
)

// LineResult is the outcome of one line of an import.
type LineResult struct {
	Line int // 1-based
	Result
}

// ImportOptions tune an import; the zero value is sensible.
type ImportOptions struct {
	// BatchSize is how many requests share one checkpoint (default 16384).
	// Larger batches amortise durability; memory grows with the batch, not
	// with the log.
	BatchSize int
	// Workers is how many goroutines parse and validate lines (default
	// GOMAXPROCS).
	Workers int
	// Progress, if set, is called with the input bytes consumed so far.
	Progress func(bytes int64)
	// Published, if set, is called after the lines of each published
	// batch have been reported: the moment to flush buffered output.
	Published func() error
	// Entries, if set, is called with each published batch's new entries
	// in index order, before its lines are reported: what a site update
	// that follows can show without reading them back (site.Config.Fresh).
	// The slice is the callee's to keep.
	Entries func([]entry.Entry)
}

// ImportStats counts what an import did.
type ImportStats struct {
	Lines, Allocated, Existing, Refused int
	Checkpoints                         int
}

const chunkLines = 2048

// chunk is a run of consecutive input lines, parsed by one worker.
type chunk struct {
	lines []string
	items []item
	bytes int64 // input bytes the chunk's lines came from
	done  chan struct{}
}

type item struct {
	line int
	req  request
	err  error
}

// Import allocates one request per line of r. Lines are parsed on all
// cores, sequenced in order, and published in batches; report is called
// for every non-blank line, in order, only after the checkpoint that
// covers the line's allocation is durably published. A refused line is
// reported with its error and does not stop the import.
func (w *Writer) Import(ctx context.Context, r io.Reader, opts ImportOptions, report func(LineResult) error) (ImportStats, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1 << 14
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	size := inputSize(r) // before the reader starts reading r
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	ordered := make(chan *chunk, 8*opts.Workers)
	work := make(chan *chunk, 8*opts.Workers)
	free := make(chan *chunk, 8*opts.Workers) // chunks the sequencer is done with
	readErr := make(chan error, 1)
	go func() {
		readErr <- readChunks(ctx, r, opts.Progress, ordered, work, free)
		close(ordered)
		close(work)
	}()
	for range opts.Workers {
		go func() {
			for c := range work {
				w.parseChunk(c)
			}
		}()
	}
	commits := make(chan pendingBatch, 2)
	var stats ImportStats
	committed := make(chan error, 1)
	spare := make(chan *batch, 2) // batches answered, whose buffers the next may take
	go func() { committed <- w.commitInOrder(ctx, cancel, commits, spare, opts, report, &stats) }()
	seqErr := w.sequenceChunks(ctx, ordered, free, spare, commits, opts.BatchSize, size, opts.Entries != nil)
	close(commits)
	commitErr := <-committed
	rerr := <-readErr
	switch {
	case commitErr != nil:
		return stats, commitErr
	case seqErr != nil:
		return stats, seqErr
	case rerr != nil:
		return stats, rerr
	}
	return stats, context.Cause(ctx)
}

// pendingBatch is a prepared batch with the lines it answers, and its new
// entries if ImportOptions.Entries wants them.
type pendingBatch struct {
	b       *batch
	lines   []lineOutcome
	entries []entry.Entry
}

// lineOutcome is what commit needs of an input line once its batch is
// prepared: the parsed request stays behind, so batches waiting for
// their commit hold no pointers into the input.
type lineOutcome struct {
	line int
	err  error // why the line was refused before sequencing, or nil
}

// sequenceChunks takes parsed chunks in input order and prepares a batch
// every batchSize valid requests (and one for the rest). If the input's
// size is known (not -1), the dedup index is sized once from the first
// chunk rather than grown step by step on the sequencer's critical path.
// With keep, each batch carries its new entries to the commit.
func (w *Writer) sequenceChunks(ctx context.Context, ordered <-chan *chunk, free chan<- *chunk, spare <-chan *batch, commits chan<- pendingBatch, batchSize int, inputSize int64, keep bool) error {
	// The line outcomes go with each batch to its commit, so each batch
	// gets a new slice, sized once; the requests are done with once the
	// batch is prepared, so their slice is reused.
	newLines := func() []lineOutcome { return make([]lineOutcome, 0, batchSize+batchSize/8) }
	lines, valid := newLines(), make([]request, 0, batchSize)
	flush := func() error {
		var reuse *batch
		select {
		case reuse = <-spare:
		default:
		}
		b, err := w.prepare(ctx, valid, reuse)
		if err != nil {
			return err
		}
		var entries []entry.Entry
		if keep {
			entries = b.newEntries(valid)
		}
		commits <- pendingBatch{b, lines, entries}
		clear(valid) // drop references to the input
		lines, valid = newLines(), valid[:0]
		return nil
	}
	var seqErr error
	first := true
	for c := range ordered {
		<-c.done
		if seqErr != nil || ctx.Err() != nil {
			continue // drain so the reader can finish
		}
		if first && inputSize > 0 && c.bytes > 0 {
			first = false
			ids := 0
			for _, it := range c.items {
				ids += len(it.req.IDs)
			}
			expect := uint64(float64(ids) * float64(inputSize) / float64(c.bytes))
			// Only a hint: if the estimate is more than memory allows
			// (an odd first chunk), the table grows as it goes instead.
			_ = w.idx.Reserve(min(expect+expect/16, 1<<31))
		}
		for _, it := range c.items {
			lines = append(lines, lineOutcome{it.line, it.err})
			if it.err == nil {
				valid = append(valid, it.req)
			}
			if len(valid) == batchSize {
				if seqErr = flush(); seqErr != nil {
					break
				}
			}
		}
		select {
		case free <- c: // its items were copied: the reader may refill it
		default:
		}
	}
	if seqErr == nil && ctx.Err() == nil && len(lines) > 0 {
		seqErr = flush()
	}
	return seqErr
}

// commitInOrder publishes prepared batches in order and reports their
// lines; after the first error it only drains.
func (w *Writer) commitInOrder(ctx context.Context, cancel context.CancelCauseFunc, commits <-chan pendingBatch, spare chan<- *batch, opts ImportOptions, report func(LineResult) error, stats *ImportStats) error {
	var err error
	for p := range commits {
		if err != nil {
			continue // drain
		}
		// Publishing a prepared batch is never abandoned half-way.
		if err = w.commit(context.WithoutCancel(ctx), p.b); err != nil {
			cancel(err)
			continue
		}
		if p.b.stage.count > 0 {
			stats.Checkpoints++
		}
		if len(p.entries) > 0 {
			opts.Entries(p.entries)
		}
		if err = reportBatch(p.lines, p.b, report, stats); err == nil && opts.Published != nil {
			err = opts.Published()
		}
		if err != nil {
			cancel(err)
			continue
		}
		select {
		case spare <- p.b: // published and answered: its buffers are free
		default:
		}
	}
	return err
}

// reportBatch answers every line of a published batch, in order.
func reportBatch(lines []lineOutcome, b *batch, report func(LineResult) error, stats *ImportStats) error {
	k := 0
	for _, it := range lines {
		lr := LineResult{Line: it.line}
		if it.err != nil {
			lr.Err = it.err
		} else {
			lr.Result = b.results[k]
			k++
		}
		stats.Lines++
		switch {
		case lr.Err != nil:
			stats.Refused++
		case lr.Existing:
			stats.Existing++
		default:
			stats.Allocated++
		}
		if err := report(lr); err != nil {
			return err
		}
	}
	return nil
}

// readChunks splits r into chunks of lines and hands each to the workers
// and, in order, to the sequencer. A chunk's lines are substrings of one
// string, so reading allocates per chunk, not per line.
func readChunks(ctx context.Context, r io.Reader, progress func(int64), ordered, work chan<- *chunk, free <-chan *chunk) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var consumed int64
	line := 0
	var text strings.Builder // the chunk's lines, back to back
	var ends []int           // where each line of the chunk ends in text
	c := newChunk(free)
	var chunkStart int64
	send := func() {
		c.bytes, chunkStart = consumed-chunkStart, consumed
		all := text.String()
		for i, start := 0, 0; i < len(ends); i++ {
			c.lines[i] = all[start:ends[i]]
			start = ends[i]
		}
		ordered <- c
		work <- c
		if progress != nil {
			progress(consumed)
		}
		text = strings.Builder{}
		text.Grow(len(all) + len(all)/8)
		ends = ends[:0]
	}
	var tooLong bool
	for {
		if err := ctx.Err(); err != nil {
			return nil // the caller reports the cause
		}
		b, err := br.ReadSlice('\n')
		consumed += int64(len(b))
		if errors.Is(err, bufio.ErrBufferFull) {
			tooLong = true // keep reading to the end of this line
			continue
		}
		if len(b) > 0 || tooLong {
			line++
			if tooLong {
				c.lines = append(c.lines, "")
				ends = append(ends, text.Len())
				c.items = append(c.items, item{line: line, err: fmt.Errorf("%w: line is longer than %d bytes", entry.ErrInvalid, entry.MaxRequestSize)})
				tooLong = false
			} else if t := bytes.TrimRight(b, "\r\n"); len(bytes.TrimSpace(t)) > 0 {
				text.Write(t) // the one copy of the line; fields are substrings of it
				c.lines = append(c.lines, "")
				ends = append(ends, text.Len())
				c.items = append(c.items, item{line: line})
			}
			if len(c.lines) == chunkLines {
				send()
				c = newChunk(free)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			send()
			return fmt.Errorf("couldn't read input after line %d: %w", line, err)
		}
	}
	send()
	return nil
}

// inputSize returns how many bytes are left to read from r, or -1 if r
// cannot tell (a pipe, say).
func inputSize(r io.Reader) int64 {
	switch r := r.(type) {
	case interface{ Len() int }: // bytes.Reader, strings.Reader
		return int64(r.Len())
	case *os.File:
		st, err := r.Stat()
		if err != nil || !st.Mode().IsRegular() {
			return -1
		}
		off, err := r.Seek(0, io.SeekCurrent)
		if err != nil {
			return -1
		}
		return st.Size() - off
	}
	return -1
}

// newChunk returns an empty chunk: one the sequencer is done with, if
// there is one, so that an import does not allocate (and the garbage
// collector clear and scan) a new one per 2,048 lines.
func newChunk(free <-chan *chunk) *chunk {
	select {
	case c := <-free:
		clear(c.items) // drop references to the previous lines
		c.lines, c.items, c.bytes, c.done = make([]string, 0, chunkLines), c.items[:0], 0, make(chan struct{})
		return c
	default:
		return &chunk{lines: make([]string, 0, chunkLines), items: make([]item, 0, chunkLines), done: make(chan struct{})}
	}
}

// parseChunk parses and validates each line of a chunk and, for the
// valid ones, encodes the entry fields, fingerprints the identifiers and
// computes their keys in the identifier index (SHA-256: here, on all cores),
// into one buffer of each for the chunk.
func (w *Writer) parseChunk(c *chunk) {
	// An entry's fields take about the bytes of its request line: sized
	// so, the buffers are not copied as they grow.
	size := 0
	for _, l := range c.lines {
		size += len(l)
	}
	fields := make([]byte, 0, size)
	fps := make([]uint64, 0, 2*len(c.lines))
	keys := make([]uint32, 0, 2*len(c.lines))
	type end struct{ fields, fps int }
	ends := make([]end, len(c.lines))
	for i, l := range c.lines {
		it := &c.items[i]
		if it.err == nil {
			it.req.Request, it.err = entry.ParseRequestString(l)
		}
		if it.err == nil {
			it.err = w.rules.Normalize(&it.req.Request)
		}
		if it.err == nil {
			fields = it.req.AppendFields(fields)
			for _, id := range it.req.IDs {
				fps = append(fps, idindex.Fingerprint(id))
				keys = append(keys, idshard.Key(id))
			}
		}
		ends[i] = end{len(fields), len(fps)}
	}
	var start end
	for i, e := range ends {
		if c.items[i].err == nil {
			c.items[i].req.fields = fields[start.fields:e.fields:e.fields]
			c.items[i].req.fps = fps[start.fps:e.fps:e.fps]
			c.items[i].req.keys = keys[start.fps:e.fps:e.fps]
		}
		start = e
	}
	c.lines = nil
	close(c.done)
}
