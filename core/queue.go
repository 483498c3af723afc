package core

import "sync"

// queue runs callbacks one at a time, in the order they were pushed, on a
// goroutine that exists while there is work, and between events while the
// client is connected (keep): starting a goroutine for each burst of events
// cost more than waking one. Pushing never blocks, so the reader and user
// calls can push while holding the client's lock and callbacks always run
// outside it. The reader may swap roles with that goroutine (handOff): it
// runs the callbacks its frame queued, and the woken goroutine reads.
type queue struct {
	mu      sync.Mutex
	items   []event
	spare   []event // the run's last batch, emptied, for the next pushes
	running bool    // the goroutine exists
	busy    bool    // the goroutine is running a batch of callbacks
	keep    bool    // the goroutine waits for events rather than exit when idle
	waiting bool    // the goroutine waits on more
	handoff func()  // the reading, for the goroutine woken by handOff
	hold    bool    // a reader handles a frame: wakes wait for its handOff
	more    sync.Cond
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
	q.wakeLocked()
	q.mu.Unlock()
}

// wakeLocked makes the goroutine run: wakes it, or starts it. q.mu is held.
func (q *queue) wakeLocked() {
	switch {
	case q.waiting && q.hold: // handOff wakes it
	case q.waiting:
		q.waiting = false
		q.more.Signal()
	case !q.running:
		q.running = true
		if q.start == nil {
			q.start = q.run
			q.more.L = &q.mu
		}
		go q.start()
	}
}

// setKeep says whether the goroutine waits for events when idle (while the
// client is connected) or exits (it then exits once the events queued so
// far have run).
func (q *queue) setKeep(on bool) {
	q.mu.Lock()
	q.keep = on
	if !on && q.waiting {
		q.waiting = false
		q.more.Signal()
	}
	q.mu.Unlock()
}

// run takes the callbacks in batches, swapping two slices, so that a
// steady stream of events reallocates nothing.
func (q *queue) run() {
	q.mu.Lock()
	q.loop()
}

// loop is run's, entered with q.mu held. A goroutine in it that finds a
// hand-off (handOff) takes it and reads instead: the other one stays the
// queue's goroutine.
func (q *queue) loop() {
	for {
		for len(q.items) > 0 {
			q.busy = true
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
		q.busy = false
		if read := q.handoff; read != nil {
			q.handoff = nil
			q.mu.Unlock()
			read()
			return
		}
		if !q.keep {
			break
		}
		q.waiting = true
		for q.waiting {
			q.more.Wait()
		}
		if read := q.handoff; read != nil {
			q.handoff = nil
			q.mu.Unlock()
			read()
			return
		}
	}
	q.running = false
	q.mu.Unlock()
}

// holdWakes is the reader's, before it handles a frame: the callbacks the
// frame queues do not wake the goroutine, handOff, which must follow, does.
func (q *queue) holdWakes() {
	q.mu.Lock()
	q.hold = true
	q.mu.Unlock()
}

// handOff lets the reader run the callbacks its frame queued itself: when
// the queue's goroutine waits idle and callbacks are queued, it wakes that
// goroutine to run read (the rest of the reading) instead, and reports true;
// the caller then calls led. Run by the reader, a callback does not wait for
// another goroutine to be scheduled, which on an idle machine came after the
// reader wrote what the frame queued (an invite's ack) and blocked on its
// next read, or after a thread woke; the reading goes on while callbacks
// run, so that a callback's request gets its reply.
func (q *queue) handOff(read func()) bool {
	q.mu.Lock()
	q.hold = false
	ok := q.waiting && len(q.items) > 0
	if ok {
		q.waiting = false
		q.handoff = read
		q.more.Signal()
	}
	q.mu.Unlock()
	return ok
}

// led runs the callbacks as the queue's goroutine after handOff. If the
// woken goroutine has not yet taken the reading when they have run, this
// one takes it back.
func (q *queue) led() {
	q.mu.Lock()
	q.loop()
}

// idle reports whether no callback is queued or running.
func (q *queue) idle() bool {
	q.mu.Lock()
	idle := len(q.items) == 0 && !q.busy
	q.mu.Unlock()
	return idle
}

// skip reports whether an event may be dropped rather than queued, which
// would wake the goroutine to call nothing: its callback is not set (set,
// read first) and no callback is queued or running, any of which could
// still set it (an invitation's callbacks set in OnInvitationReceived see
// every later event). The client's lock is held: a callback set before the
// event is seen, and one that sets it does so before the queue goes idle.
// A callback set outside callbacks after the event raced with it before too.
func (c *Client) skip(set bool) bool { return !set && c.q.idle() }

// emit queues f.
func (c *Client) emit(f func()) { c.q.push(event{run: runFunc, p: f}) }

func runFunc(e *event) { e.p.(func())() }

// emit0 queues the callback in *p, read when it runs. The client's lock is
// held, as for each emit below (skip).
func (c *Client) emit0(p *func()) {
	if c.skip(*p != nil) {
		return
	}
	c.q.push(event{run: runCall0, c: c, p: p})
}

func runCall0(e *event) { call0(e.c, e.p.(*func())) }

// emitString queues the callback in *p with s.
func (c *Client) emitString(p *func(string), s string) {
	if c.skip(*p != nil) {
		return
	}
	c.q.push(event{run: runCallString, c: c, p: p, s: s})
}

func runCallString(e *event) { call1(e.c, e.p.(*func(string)), e.s) }

// emitInvitation queues OnInvitationReceived with r.
func (c *Client) emitInvitation(r *RemoteInvitation) {
	if c.skip(c.onInvitation != nil) {
		return
	}
	c.q.push(event{run: runInvitation, c: c, p: r})
}

func runInvitation(e *event) { call1(e.c, &e.c.onInvitation, e.p.(*RemoteInvitation)) }

// emitEnd queues cs's OnCallEnded with reason and by.
func (c *Client) emitEnd(cs *callSide, reason CallEndReason, by string) {
	if c.skip(cs.onEnded != nil) {
		return
	}
	c.q.push(event{run: runEnd, c: c, p: cs, s: by, n: int64(reason)})
}

func runEnd(e *event) {
	cs := e.p.(*callSide)
	if f := get(e.c, &cs.onEnded); f != nil {
		f(CallEndReason(e.n), e.s)
	}
}
