//go:build !js

package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"
)

// pairMinPeriod spaces the flows of one pair: at most 25 flows per second,
// 50 frames per second from the callee, under the server's per-connection
// rate limit (60 frames/s), so that the limit is never what is measured.
const pairMinPeriod = 40 * time.Millisecond

// flowTimeout bounds one flow.
const flowTimeout = 30 * time.Second

// errorLog keeps a count of errors and the first few of them.
type errorLog struct {
	mu    sync.Mutex
	n     int
	first []string
}

func (e *errorLog) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if len(e.first) < 5 {
		e.first = append(e.first, err.Error())
	}
}

func (e *errorLog) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n
}

func (e *errorLog) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return fmt.Sprintf("%d errors, first: %q", e.n, e.first)
}

// connectResult is a batch of logins.
type connectResult struct {
	clients []io.Closer
	elapsed time.Duration
	errs    errorLog
}

func (r *connectResult) rate() float64 { return ratio(float64(len(r.clients)), r.elapsed.Seconds()) }

// connectMany logs in n idle clients named prefix0..prefixN-1, workers at a
// time. Failed logins are counted; the caller decides what is too many.
func connectMany(ctx context.Context, sys system, url, prefix string, n, workers int) *connectResult {
	res := &connectResult{}
	out := make([]io.Closer, n)
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range min(workers, n) {
		wg.Go(func() {
			for i := range next {
				lctx, cancel := context.WithTimeout(ctx, flowTimeout)
				c, err := sys.login(lctx, url, fmt.Sprintf("%s%06d", prefix, i))
				cancel()
				if err != nil {
					res.errs.add(err)
					continue
				}
				out[i] = c
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	res.elapsed = time.Since(start)
	for _, c := range out {
		if c != nil {
			res.clients = append(res.clients, c)
		}
	}
	return res
}

// closeAll closes clients, workers at a time.
func closeAll[T any](items []T, workers int, closeOne func(T)) {
	next := make(chan T)
	var wg sync.WaitGroup
	for range min(workers, max(len(items), 1)) {
		wg.Go(func() {
			for it := range next {
				closeOne(it)
			}
		})
	}
	for _, it := range items {
		next <- it
	}
	close(next)
	wg.Wait()
}

// loginPairs logs in n pairs named prefix0..prefixN-1, workers at a time.
// Any failure fails the batch.
func loginPairs(ctx context.Context, sys system, url, prefix string, n, workers int) ([]pair, error) {
	pairs := make([]pair, n)
	var errs errorLog
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for i := range next {
				lctx, cancel := context.WithTimeout(ctx, flowTimeout)
				p, err := sys.pair(lctx, url, fmt.Sprintf("%s%05d", prefix, i))
				cancel()
				if err != nil {
					errs.add(err)
					continue
				}
				pairs[i] = p
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if errs.count() > 0 {
		closePairs(pairs)
		return nil, fmt.Errorf("failed to log in %d pairs: %s", n, errs.String())
	}
	return pairs, nil
}

func closePairs(pairs []pair) {
	closeAll(pairs, 32, func(p pair) {
		if p != nil {
			p.close()
		}
	})
}

// flowRun is the outcome of many flows.
type flowRun struct {
	send    []time.Duration // send to RemoteInvitationReceived
	accept  []time.Duration // accept to LocalInvitationAccepted
	flows   int             // completed flows
	elapsed time.Duration
	errs    errorLog
	late    int // paced runs: flows that started over a period late (the generator fell behind)
}

func (r *flowRun) rate() float64 { return ratio(float64(r.flows), r.elapsed.Seconds()) }

type flowSink struct {
	mu   sync.Mutex
	run  *flowRun
	last time.Time // when the last flow ended
}

func (s *flowSink) record(t flowTimes, err error, late bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = time.Now()
	if late {
		s.run.late++
	}
	if err != nil {
		s.run.errs.add(err)
		return
	}
	s.run.flows++
	s.run.send = append(s.run.send, t.sendLatency())
	s.run.accept = append(s.run.accept, t.acceptLatency())
}

// since is the time from start to the end of the last flow.
func (s *flowSink) since(start time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last.IsZero() {
		return time.Since(start)
	}
	return s.last.Sub(start)
}

func doFlow(ctx context.Context, p pair, seq int) (flowTimes, error) {
	fctx, cancel := context.WithTimeout(ctx, flowTimeout)
	defer cancel()
	return p.flow(fctx, seq)
}

// runSequential does n flows one after the other, rotating over pairs, with
// gap between them: one flow in flight on an otherwise idle server.
func runSequential(ctx context.Context, pairs []pair, n int, gap time.Duration) *flowRun {
	run := &flowRun{}
	sink := &flowSink{run: run}
	start := time.Now()
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		t, err := doFlow(ctx, pairs[i%len(pairs)], i)
		sink.record(t, err, false)
		time.Sleep(gap) // pacing, not waiting for an event
	}
	run.elapsed = time.Since(start)
	return run
}

// runPaced offers rate flows per second in total for d, spread evenly over
// pairs: each pair starts a flow every len(pairs)/rate seconds, at a random
// phase, and one at a time (a flow that overruns its period delays the next
// and is counted late).
func runPaced(ctx context.Context, pairs []pair, rate float64, d time.Duration) *flowRun {
	run := &flowRun{}
	sink := &flowSink{run: run}
	period := time.Duration(float64(len(pairs)) / rate * float64(time.Second))
	period = max(period, pairMinPeriod)
	start := time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	for i, p := range pairs {
		wg.Go(func() {
			next := start.Add(time.Duration(rand.Int64N(int64(period))))
			for seq := 0; ; seq++ {
				if !next.Before(end) || ctx.Err() != nil {
					return
				}
				late := false
				if wait := time.Until(next); wait > 0 {
					time.Sleep(wait) // the schedule, not waiting for an event
				} else if -wait > period {
					late = true
				}
				t, err := doFlow(ctx, p, i<<20|seq)
				sink.record(t, err, late)
				next = next.Add(period)
			}
		})
	}
	wg.Wait()
	run.elapsed = sink.since(start)
	return run
}

// runClosed has every pair do flows back to back (at most one per
// pairMinPeriod each) for d: the most the system completes.
func runClosed(ctx context.Context, pairs []pair, d time.Duration) *flowRun {
	run := &flowRun{}
	sink := &flowSink{run: run}
	start := time.Now()
	end := start.Add(d)
	var wg sync.WaitGroup
	for i, p := range pairs {
		wg.Go(func() {
			for seq := 0; ; seq++ {
				began := time.Now()
				if !began.Before(end) || ctx.Err() != nil {
					return
				}
				t, err := doFlow(ctx, p, i<<20|seq)
				sink.record(t, err, false)
				if rest := pairMinPeriod - time.Since(began); rest > 0 {
					time.Sleep(rest) // the per-pair rate cap
				}
			}
		})
	}
	wg.Wait()
	run.elapsed = sink.since(start)
	return run
}
