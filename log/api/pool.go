package api

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/citylog/citylog/log"
	"github.com/citylog/citylog/log/entry"
)

// pending is one submitted request waiting for its batch.
type pending struct {
	req   entry.Request
	reply chan reply
}

type reply struct {
	res      log.Result
	receipts *log.Receipts // the batch's; the handler encodes its own
	i        int           // the request's place in the batch
	err      error         // the batch could not be published
}

// job is a prepared batch on its way to being published.
type job struct {
	batch  *log.Batch
	reqs   []*pending
	closed time.Time
}

// submit queues p unless the server is closing or failed. The lock is
// not held while waiting for room in the queue (a publisher reporting a
// failure needs it); Run waits for submits in progress before its last
// drain, so a queued request is never left unanswered.
func (s *Server) submit(p *pending) bool {
	s.mu.Lock()
	if s.closing || s.failed != nil {
		s.mu.Unlock()
		return false
	}
	s.submitting.Add(1)
	s.mu.Unlock()
	defer s.submitting.Done()
	select {
	case s.queue <- p:
	case <-s.stop:
		return false
	}
	// gather waits for the publication to end, not for each request;
	// a batch that fills up meanwhile is its concern too.
	if len(s.queue) >= s.cfg.MaxBatch-1 {
		select {
		case s.full <- struct{}{}:
		default:
		}
	}
	return true
}

// Run pools requests into batches until Close: a batch closes Interval
// after its first request or when it holds MaxBatch, is sequenced at once,
// and is published while the next one fills. Answers go out only after
// publication.
func (s *Server) Run() {
	go s.watchTokens()
	jobs := make(chan *job, 1)
	published := make(chan struct{})
	var publishing sync.WaitGroup  // jobs sent and not yet published or failed
	var inFlight atomic.Int32      // the same, as a number
	done := make(chan struct{}, 1) // a publication ended
	go func() {
		defer close(published)
		for j := range jobs {
			s.publish(j)
			if s.cfg.Published != nil {
				s.cfg.Published()
			}
			inFlight.Add(-1)
			publishing.Done()
			select {
			case done <- struct{}{}:
			default:
			}
		}
	}()
	lastIndex := time.Now()
	var lastBatch time.Time
	for {
		if s.writerFailed() {
			publishing.Wait() // every prepared batch has failed too
			if !s.heal() {
				s.refuseUntilStop()
				break
			}
		}
		if time.Since(lastIndex) >= s.cfg.IndexEvery {
			s.publishIndex()
			lastIndex = time.Now()
		}
		first, ok := s.next()
		if !ok {
			break
		}
		if first == nil {
			continue // woken by a failure: heal first
		}
		batch := s.gather(first, lastBatch, &inFlight, done)
		lastBatch = time.Now()
		reqs := make([]entry.Request, len(batch))
		for i, p := range batch {
			reqs[i] = p.req
		}
		b, err := s.w.Prepare(context.Background(), reqs)
		if err != nil {
			s.fail(err, batch)
			continue
		}
		publishing.Add(1)
		inFlight.Add(1)
		jobs <- &job{b, batch, time.Now()}
	}
	close(jobs)
	<-published
	s.publishIndex()
	close(s.done)
}

// gather is group commit: the batch that starts with first takes every
// request that arrives while the previous batch is still being published
// (and at least until Interval after the previous batch started, if an
// interval is set), up to MaxBatch. A lone request on an idle server is
// published at once; under load, batches grow to what arrives during one
// publication, so the server keeps pace with its storage, a disk or a
// bucket alike. The requests wait in the queue meanwhile: taking each as
// it came woke this goroutine once per request.
func (s *Server) gather(first *pending, lastBatch time.Time, inFlight *atomic.Int32, done <-chan struct{}) []*pending {
	batch := []*pending{first}
	notBefore := lastBatch.Add(s.cfg.Interval)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if (inFlight.Load() == 0 && !time.Now().Before(notBefore)) || len(batch)+len(s.queue) >= s.cfg.MaxBatch {
			return s.takeQueued(batch) // ready to publish, or full: what is queued, and go
		}
		var wake <-chan time.Time
		if wait := time.Until(notBefore); wait > 0 {
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			wake = timer.C
		}
		select {
		case <-s.full: // checked above: a signal left from an earlier batch may be stale
		case <-done:
		case <-wake:
		case <-s.stop:
			return s.takeQueued(batch)
		}
	}
}

// takeQueued adds to batch what is in the queue now, up to MaxBatch.
func (s *Server) takeQueued(batch []*pending) []*pending {
	for len(batch) < s.cfg.MaxBatch {
		select {
		case p := <-s.queue:
			batch = append(batch, p)
		default:
			return batch
		}
	}
	return batch
}

// publishIndex brings the identifier index up to date. It runs on the
// pooling goroutine, between batches, because the writer's methods must
// not run concurrently with Prepare.
func (s *Server) publishIndex() {
	if err := s.w.PublishIDIndex(context.Background()); err != nil {
		s.metrics.add("citylog_errors_total", 1)
		s.log.Warn("couldn't publish the identifier index (a hint for cityverify find; allocations are unaffected)", "err", err)
	}
}

// next returns the next request, or false once closing and drained; nil
// and true when a writer failure wakes it.
func (s *Server) next() (*pending, bool) {
	select {
	case p := <-s.queue:
		return p, true
	case <-s.wake:
		return nil, true
	case <-s.stop:
		s.submitting.Wait() // no request can join the queue after this
		select {
		case p := <-s.queue:
			return p, true
		default:
			return nil, false
		}
	}
}

func (s *Server) publish(j *job) {
	// Never abandon a prepared batch half-published.
	results, err := s.w.Publish(context.Background(), j.batch)
	if err != nil {
		s.fail(err, j.reqs)
		return
	}
	// Each handler encodes its own receipt from the batch's: the
	// encoding runs on every core, not here between two batches.
	receipts, err := s.w.BatchReceipts(context.Background(), j.batch)
	if err != nil {
		s.fail(err, j.reqs)
		return
	}
	newCount, existing, refused := 0, 0, 0
	for _, r := range results {
		switch {
		case r.Err != nil:
			refused++
		case r.Existing:
			existing++
		default:
			newCount++
		}
	}
	m := s.metrics
	m.add(`citylog_allocations_total{result="new"}`, float64(newCount))
	m.add(`citylog_allocations_total{result="existing"}`, float64(existing))
	m.add(`citylog_allocations_total{result="refused"}`, float64(refused))
	m.add("citylog_batches_total", 1)
	m.observe("citylog_batch_size", []float64{1, 8, 64, 256, 1024, 4096, 16384}, float64(len(results)))
	m.observe("citylog_integration_seconds", []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5}, time.Since(j.closed).Seconds())
	m.set("citylog_log_size", float64(s.w.Size()))
	for i, r := range results {
		j.reqs[i].reply <- reply{res: r, receipts: receipts, i: i}
	}
	s.log.Info("batch published", "requests", len(results), "new", newCount, "existing", existing, "refused", refused,
		"size", s.w.Size(), "ms", time.Since(j.closed).Milliseconds())
}

// fail answers a batch the writer could not publish with 503 and stops
// taking writes: a transient failure until heal brings the writer back,
// a permanent one (evidence of corruption) until an operator restarts.
func (s *Server) fail(err error, reqs []*pending) {
	_, permanent := s.w.Failure()
	s.mu.Lock()
	if s.failed == nil {
		s.failed = err
		s.permanent = permanent
	}
	s.mu.Unlock()
	s.metrics.add("citylog_errors_total", 1)
	if permanent {
		s.log.Error("writer stopped: evidence of corruption; refusing writes until an operator looks and restarts", "err", err)
	} else {
		s.log.Warn("batch failed; writes refused while the writer recovers", "err", err)
	}
	for _, p := range reqs {
		p.reply <- reply{err: err}
	}
	select {
	case s.wake <- struct{}{}: // the pooling loop may be waiting for a request that will not come
	default:
	}
}

// writerFailed reports whether writes stopped after a writer error.
func (s *Server) writerFailed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed != nil
}

// Recovery backoff: the first retry soon, for a condition that clears in
// a moment, then less and less often, up to maxBackoff.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// heal answers the requests queued when the writer failed with 503, then
// runs the writer's recovery with backoff until it succeeds (true), the
// failure turns out permanent or the server closes (false). Submissions
// are refused meanwhile.
func (s *Server) heal() bool {
	s.answerQueued()
	s.metrics.set("citylog_writer_degraded", 1)
	defer s.metrics.set("citylog_writer_degraded", 0)
	for wait := minBackoff; ; wait = min(2*wait, maxBackoff) {
		if _, permanent := s.w.Failure(); permanent {
			return false
		}
		err := s.w.Recover(context.Background())
		if err == nil {
			s.mu.Lock()
			cause := s.failed
			s.failed = nil
			s.mu.Unlock()
			s.metrics.add("citylog_writer_recoveries_total", 1)
			s.metrics.set("citylog_log_size", float64(s.w.Size()))
			s.log.Info("writer recovered; taking writes again", "after", cause.Error(), "size", s.w.Size())
			return true
		}
		s.mu.Lock()
		s.failed = err
		s.permanent = log.Permanent(err)
		s.mu.Unlock()
		if log.Permanent(err) {
			s.log.Error("recovery found evidence of corruption; refusing writes until an operator looks and restarts", "err", err)
			return false
		}
		s.log.Warn("recovery failed; retrying", "err", err, "retry_in", wait.String())
		select {
		case <-s.stop:
			return false
		case <-time.After(wait):
		}
	}
}

// answerQueued answers every queued request with the writer's failure.
func (s *Server) answerQueued() {
	s.mu.Lock()
	err := s.failed
	s.mu.Unlock()
	for {
		select {
		case p := <-s.queue:
			p.reply <- reply{err: err}
		default:
			return
		}
	}
}

// refuseUntilStop answers whatever is still queued after a permanent
// failure, until the server closes.
func (s *Server) refuseUntilStop() {
	for {
		p, ok := s.next()
		if !ok {
			return
		}
		if p == nil {
			continue
		}
		s.mu.Lock()
		err := s.failed
		s.mu.Unlock()
		p.reply <- reply{err: err}
	}
}

// Close stops taking requests, publishes every request already queued,
// and returns when all of them have been answered.
func (s *Server) Close() {
	s.mu.Lock()
	if !s.closing {
		s.closing = true
		close(s.stop)
	}
	s.mu.Unlock()
	<-s.done
	if s.public != nil {
		s.public.Close()
	}
}

// watchTokens looks at the tokens file every second until the server
// stops, so that a file that stops reading is reported at once, not at
// the next request.
func (s *Server) watchTokens() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.cfg.Tokens.Problem()
		}
	}
}
