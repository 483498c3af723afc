package rtmcalltest

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/rtmcall/rtmcall/server"
)

// Fault is what a LossyBroker does to the messages its node sends. The
// zero Fault passes every message through untouched.
type Fault struct {
	// Seed starts the fault's random choices, so that a run can be
	// repeated (as far as goroutine scheduling allows).
	Seed uint64
	// Drop is the chance, 0 to 1, that a message is dropped.
	Drop float64
	// MaxDrops, if set, bounds how many messages the fault drops: one
	// drops a single message (a page of a settle, say), then passes.
	MaxDrops int
	// Reorder is the chance that a message is held back and sent right
	// after the next message on its path (to the same node, or broadcast);
	// it waits for that message, or for the next SetFault.
	Reorder float64
	// Delay holds each message back a random time from MinDelay up to
	// Delay, as a slow link does: messages on one path stay in order
	// (Reorder breaks it).
	Delay, MinDelay time.Duration
	// Hold holds each message back until the next SetFault, which sends
	// them in order (Close drops them): a delay that ends on an event, not a
	// time. What follows a held message on its path waits behind it, so
	// that a path stays in order. Drop, Reorder and Delay are then unused.
	Hold bool
	// Kinds limits the fault to messages of these kinds, the "k" of the
	// messages of server/cluster.go ("deliver", "request", "reply",
	// "session", "heartbeat", "hello", ...); empty: every kind.
	Kinds []string
	// To limits the fault to unicasts to these node ids; empty: every
	// unicast and every broadcast.
	To []string
}

// LossStats counts what a LossyBroker did.
type LossStats struct {
	Sent, Dropped, Reordered, Delayed int
	// Held counts the messages a Hold fault touched (not those held behind them).
	Held int
}

// LossyBroker is a server.Broker that breaks the network between nodes on
// purpose: it drops, delays and reorders what its node sends, as Fault
// says, and passes the rest to the broker it wraps. NewCluster gives
// every node one (Cluster.Loss).
type LossyBroker struct {
	inner server.Broker

	mu     sync.Mutex
	fault  Fault
	drops  int // dropped under the fault
	rng    *rand.Rand
	held   map[string][]byte   // per path ("" for broadcasts): a message held back
	holds  map[string][][]byte // per path: what Fault.Hold holds, in order
	slow   map[string]*slowPath
	stats  LossStats
	closed bool
	timers sync.WaitGroup
	// handling delays each unicast delivered to the node (SetHandlingDelay).
	handling time.Duration
	// hold, if set, holds each unicast delivered to the node until closed
	// (HoldHandling); unhold closes it, once.
	hold   chan struct{}
	unhold func()
}

// slowPath is a path's delayed messages, sent in order when due.
type slowPath struct {
	queue []delayed
	timer *time.Timer
}

type delayed struct {
	data []byte
	due  time.Time
}

var (
	_ server.Broker         = (*LossyBroker)(nil)
	_ server.UnicastCounter = (*LossyBroker)(nil)
	_ server.PayloadLimiter = (*LossyBroker)(nil)
)

// NewLossyBroker wraps inner; it passes everything through until SetFault.
func NewLossyBroker(inner server.Broker) *LossyBroker {
	return &LossyBroker{inner: inner, rng: rand.New(rand.NewPCG(0, 0)), held: make(map[string][]byte),
		holds: make(map[string][][]byte), slow: make(map[string]*slowPath)}
}

// SetFault replaces the fault, reseeds its choices, and sends at once what
// the previous fault held back.
func (b *LossyBroker) SetFault(f Fault) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fault, b.drops, b.rng = f, 0, rand.New(rand.NewPCG(f.Seed, f.Seed^0x5eed))
	b.releaseLocked()
	for _, path := range slices.Sorted(maps.Keys(b.held)) {
		data := b.held[path]
		delete(b.held, path)
		b.sendLocked(path, data)
	}
}

// releaseLocked sends, in order on each path, what a Hold fault held.
func (b *LossyBroker) releaseLocked() {
	if b.closed {
		clear(b.holds)
		return
	}
	for _, path := range slices.Sorted(maps.Keys(b.holds)) {
		q := b.holds[path]
		delete(b.holds, path)
		for _, data := range q {
			b.forwardLocked(path, data)
		}
	}
}

// Stats returns the counts so far.
func (b *LossyBroker) Stats() LossStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats
}

// SetHandlingDelay holds each unicast to its node back d before the node
// handles it, in the subscription's goroutine, as a busy node falls behind
// in handling: nothing is lost, the unicasts queue behind it while the
// broadcasts (heartbeats) go on. 0 stops it.
func (b *LossyBroker) SetHandlingDelay(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.handling = d
}

// HoldHandling holds each unicast to its node back, before the node handles
// it, until release (or Close): SetHandlingDelay for as long as a test
// needs, so that what the node does next waits for an event, not a time.
// Its peers see no gap: the unicasts queue in the NATS client
// (server.UnicastCounter) while the heartbeats go on.
func (b *LossyBroker) HoldHandling() (release func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.unhold != nil {
		b.unhold()
	}
	hold := make(chan struct{})
	b.hold, b.unhold = hold, sync.OnceFunc(func() { close(hold) })
	return b.unhold
}

func (b *LossyBroker) Start(id string, deliver func([]byte)) error {
	return b.inner.Start(id, func(data []byte) {
		b.mu.Lock()
		d, hold := b.handling, b.hold
		b.mu.Unlock()
		if unicast := bytes.HasPrefix(data, []byte(`{"q":`)); unicast { // numbered (server/cluster.go send)
			if hold != nil {
				<-hold
			}
			if d > 0 {
				time.Sleep(d)
			}
		}
		deliver(data)
	})
}

// Unicasts passes on the counts of the broker it wraps
// (server.UnicastCounter), or 0 and 0.
func (b *LossyBroker) Unicasts() (received, handled uint64) {
	if c, ok := b.inner.(server.UnicastCounter); ok {
		return c.Unicasts()
	}
	return 0, 0
}

// MaxPayload passes on the bound of the broker it wraps
// (server.PayloadLimiter), or 0 for none.
func (b *LossyBroker) MaxPayload() int {
	if l, ok := b.inner.(server.PayloadLimiter); ok {
		return l.MaxPayload()
	}
	return 0
}

func (b *LossyBroker) Send(id string, data []byte) error { return b.pass(id, data) }

func (b *LossyBroker) Broadcast(data []byte) error { return b.pass("", data) }

// Close sends nothing more, lets the held unicasts go, waits for the
// delayed messages' timers, and closes the wrapped broker.
func (b *LossyBroker) Close(ctx context.Context) error {
	b.mu.Lock()
	b.closed = true
	if b.unhold != nil {
		b.unhold()
	}
	b.mu.Unlock()
	b.timers.Wait()
	return b.inner.Close(ctx)
}

// pass applies the fault to data on path (a node id, or "" for a
// broadcast) and sends what is left.
func (b *LossyBroker) pass(path string, data []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	if f := b.fault; b.touches(path, data) {
		if f.Hold {
			b.stats.Held++
			b.holds[path] = append(b.holds[path], data)
			return nil
		}
		if f.Drop > 0 && (f.MaxDrops == 0 || b.drops < f.MaxDrops) && b.rng.Float64() < f.Drop {
			b.drops++
			b.stats.Dropped++
			return nil
		}
		if f.Reorder > 0 && b.held[path] == nil && b.rng.Float64() < f.Reorder {
			b.stats.Reordered++
			b.held[path] = data
			return nil
		}
		if f.Delay > 0 {
			b.stats.Delayed++
			d := f.MinDelay
			if f.Delay > d {
				d += time.Duration(b.rng.Int64N(int64(f.Delay - d)))
			}
			b.delayLocked(path, data, time.Now().Add(d))
			return nil
		}
	}
	if len(b.holds[path]) > 0 {
		b.holds[path] = append(b.holds[path], data) // behind what is held on its path
		return nil
	}
	return b.forwardLocked(path, data)
}

// forwardLocked sends data on path, after what is delayed on it.
func (b *LossyBroker) forwardLocked(path string, data []byte) error {
	if sp := b.slow[path]; sp != nil && len(sp.queue) > 0 {
		b.delayLocked(path, data, time.Time{}) // after what waits on its path
		return nil
	}
	return b.sendLocked(path, data)
}

// delayLocked queues data on path to be sent at due, or after what is
// queued before it if that is later.
func (b *LossyBroker) delayLocked(path string, data []byte, due time.Time) {
	sp := b.slow[path]
	if sp == nil {
		sp = &slowPath{}
		b.slow[path] = sp
	}
	if n := len(sp.queue); n > 0 && sp.queue[n-1].due.After(due) {
		due = sp.queue[n-1].due
	}
	sp.queue = append(sp.queue, delayed{data: data, due: due})
	if len(sp.queue) == 1 {
		b.timers.Add(1)
		sp.timer = time.AfterFunc(time.Until(due), func() { b.sendDue(path, sp) })
	}
}

// sendDue sends the messages of sp that are due, in order, and waits for
// the next.
func (b *LossyBroker) sendDue(path string, sp *slowPath) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	for len(sp.queue) > 0 && !sp.queue[0].due.After(now) {
		d := sp.queue[0]
		sp.queue = sp.queue[1:]
		if !b.closed {
			b.sendLocked(path, d.data)
		}
	}
	if len(sp.queue) > 0 && !b.closed {
		sp.timer.Reset(time.Until(sp.queue[0].due))
		return
	}
	sp.queue = nil
	b.timers.Done()
}

// touches says whether the fault applies to data on path.
func (b *LossyBroker) touches(path string, data []byte) bool {
	f := b.fault
	if f.Drop == 0 && f.Reorder == 0 && f.Delay == 0 && !f.Hold {
		return false
	}
	if len(f.To) > 0 && !slices.Contains(f.To, path) {
		return false
	}
	if len(f.Kinds) > 0 {
		var m struct {
			K string `json:"k"`
		}
		if json.Unmarshal(data, &m) != nil || !slices.Contains(f.Kinds, m.K) {
			return false
		}
	}
	return true
}

// sendLocked sends data, then the message held back on its path if any.
func (b *LossyBroker) sendLocked(path string, data []byte) error {
	b.stats.Sent++
	var err error
	if path == "" {
		err = b.inner.Broadcast(data)
	} else {
		err = b.inner.Send(path, data)
	}
	if held := b.held[path]; held != nil {
		delete(b.held, path)
		b.sendLocked(path, held)
	}
	return err
}
