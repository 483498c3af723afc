package core

import "sync"

// queue runs callbacks one at a time, in the order they were pushed, on a
// goroutine that exists only while there is work. Pushing never blocks, so
// the reader and user calls can push while holding the client's lock and
// callbacks always run outside it.
type queue struct {
	mu      sync.Mutex
	items   []event
	spare   []event // the run's last batch, emptied, for the next pushes
	running bool
	idle    *sync.Cond
	// start is q.run as a func value, made once: "go q.run()" would
	// allocate a closure for each start of the goroutine.
	start func()
}

// An event is one callback to run: run(e) runs it with the event's own
// arguments. run is a function that captures nothing, so that queuing the
// frequent events (emit0, emitString, emitCode, emitEnd) allocates no
// closure; emit queues any func().
type event struct {
	run func(e *event)
	c   *Client
	p   any // the callback's field, or what run needs (a pointer: no allocation)
	s   string
	n   int64
}

func (q *queue) push(e event) {
	q.mu.Lock()
	q.items = append(q.items, e)
	if !q.running {
		q.running = true
		if q.start == nil {
			q.start = q.run
		}
		go q.start()
	}
	q.mu.Unlock()
}

// run takes the callbacks in batches, swapping two slices, so that a
// steady stream of events reallocates nothing.
func (q *queue) run() {
	q.mu.Lock()
	for len(q.items) > 0 {
		batch := q.items
		q.items = q.spare
		q.mu.Unlock()
		for i := range batch {
			batch[i].run(&batch[i])
		}
		clear(batch)
		q.mu.Lock()
		q.spare = batch[:0]
	}
	q.running = false
	if q.idle != nil {
		q.idle.Broadcast()
	}
	q.mu.Unlock()
}

// wait blocks until every pushed callback has run. It must not be called
// from a callback.
func (q *queue) wait() {
	q.mu.Lock()
	if q.idle == nil {
		q.idle = sync.NewCond(&q.mu)
	}
	for q.running {
		q.idle.Wait()
	}
	q.mu.Unlock()
}

// emit queues f.
func (c *Client) emit(f func()) { c.q.push(event{run: runFunc, p: f}) }

func runFunc(e *event) { e.p.(func())() }

// emit0 queues the callback in *p, read when it runs.
func (c *Client) emit0(p *func()) { c.q.push(event{run: runCall0, c: c, p: p}) }

func runCall0(e *event) { call0(e.c, e.p.(*func())) }

// emitString queues the callback in *p with s.
func (c *Client) emitString(p *func(string), s string) {
	c.q.push(event{run: runCallString, c: c, p: p, s: s})
}

func runCallString(e *event) { call1(e.c, e.p.(*func(string)), e.s) }

// emitInvitation queues OnInvitationReceived with r.
func (c *Client) emitInvitation(r *RemoteInvitation) {
	c.q.push(event{run: runInvitation, c: c, p: r})
}

func runInvitation(e *event) { call1(e.c, &e.c.onInvitation, e.p.(*RemoteInvitation)) }

// emitEnd queues cs's OnCallEnded with reason and by.
func (c *Client) emitEnd(cs *callSide, reason CallEndReason, by string) {
	c.q.push(event{run: runEnd, c: c, p: cs, s: by, n: int64(reason)})
}

func runEnd(e *event) {
	cs := e.p.(*callSide)
	if f := get(e.c, &cs.onEnded); f != nil {
		f(CallEndReason(e.n), e.s)
	}
}
