//go:build !js

package soak

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtmcall/rtmcall/core"
)

// flow is one invitation driven by one action. Its helpers record what
// happens in the flow's entry; they never fail the flow on their own: a
// step that cannot go on notes a problem (a violation) and the flow ends.
type flow struct {
	h      *harness
	rngMu  sync.Mutex // the two sides of a race draw from rng at once
	rng    *rand.Rand
	ctx    context.Context // the flow's deadline
	sh     *shard
	e      *entry
	caller *device
	callee *user // nil for a ghost callee
	// calleeID is the callee's user id (a ghost's when callee is nil).
	calleeID string
	local    *core.LocalInvitation
	ringers  []ringer // callee sessions logged in at send
	late     []ringer // callee sessions that logged in after it
	sentAt   time.Time
	stopped  atomic.Bool // a step failed: later steps do nothing
	// parties are the sessions of the caller and of the devices rung, by
	// party name: if one's node dies, the flow's waits stop (hit) and the
	// checker holds that party to docs/CLUSTER.md "When a node dies".
	parties map[string]*session
	hit     atomic.Bool
	drains  drainMarks // the ringers' drain counts at the send, the late ones' at their login
	// callerDrain is the caller's drain count at the send: a call the flow
	// set up while its node drained may be counted dropped by the drain.
	callerDrain drainMark
	// owner is the invitation's node (the caller's at the send), and
	// ownerDeaths its deaths then: it may die after the caller left.
	owner       *member
	ownerDeaths int32
	// loss is the loss window that spanned the caller and a rung device
	// (reset, by party name), if any: a reset of their pair may end the
	// invitation for them, eat an invite, or hold an answer.
	lossMu   sync.Mutex
	loss     *lossWindow
	reset    map[string]bool
	lossDone bool // complete waits for the loss's end (flow goroutine only)
	// barriersSent are the barrier's sends, for the problem if it does
	// not arrive (flow goroutine only).
	barriersSent []string
}

// drainMarks are sessions' drain counts (session.drains) at a flow's
// send, by party: a session whose node began to drain since may not have
// been rung (docs/CLUSTER.md "Drain and rolling restart").
type drainMarks map[string]drainMark

type drainMark struct {
	s  *session
	at int32
}

func (m drainMarks) mark(key string, s *session) { m[key] = markDrains(s) }

func markDrains(s *session) drainMark {
	at := s.drains.Load()
	if s.draining.Load() {
		at-- // on a draining node already
	}
	return drainMark{s, at}
}

// drained reports whether d's session's node began to drain since the mark.
func (d drainMark) drained() bool { return d.s != nil && d.s.drains.Load() > d.at }

// drained reports whether party key's node began to drain since the send.
func (m drainMarks) drained(key string) bool {
	d, ok := m[key]
	return ok && d.drained()
}

// hitNow reports whether a party's node died, or a loss window spanned
// parties and has settled: what the flow waits for may never come.
func (f *flow) hitNow() bool {
	if f.hit.Load() {
		return true
	}
	if f.lossSettled() {
		f.hit.Store(true)
		return true
	}
	for _, s := range f.parties {
		if s.died.Load() {
			f.hit.Store(true)
			return true
		}
	}
	return false
}

// lossCheck notes the parties that the shard's loss window, if any, puts
// across its pair from the caller, and returns the flow's window.
func (f *flow) lossCheck() *lossWindow {
	w := f.sh.loss.Load()
	f.lossMu.Lock()
	defer f.lossMu.Unlock()
	if c := f.parties[Caller]; w != nil && c != nil {
		for key, s := range f.parties {
			if key != Caller && w.spans(int(c.node.Load())-1, int(s.node.Load())-1) {
				f.loss = w
				if f.reset == nil {
					f.reset = map[string]bool{}
				}
				f.reset[key] = true
			}
		}
	}
	return f.loss
}

// lossSettled reports whether the flow's loss window, if any, has settled.
func (f *flow) lossSettled() bool {
	w := f.lossCheck()
	return w != nil && closed(w.settled)
}

// acrossLoss reports whether party key was across a loss window from the
// caller.
func (f *flow) acrossLoss(key string) bool {
	f.lossMu.Lock()
	defer f.lossMu.Unlock()
	return f.reset[key]
}

func (f *flow) intN(n int) int {
	f.rngMu.Lock()
	defer f.rngMu.Unlock()
	return f.rng.IntN(n)
}

func (f *flow) int64N(n int64) int64 {
	f.rngMu.Lock()
	defer f.rngMu.Unlock()
	return f.rng.Int64N(n)
}

// ringer is a callee session the invitation is expected to ring.
type ringer struct {
	d   *device
	key string
}

func (f *flow) problem(format string, args ...any) {
	f.stopped.Store(true)
	f.h.book.mu.Lock()
	f.e.rec.Problems = append(f.e.rec.Problems, fmt.Sprintf(format, args...))
	f.h.book.mu.Unlock()
}

// allow sets the decisions the action may end with (the shard may add some).
func (f *flow) allow(kinds ...DecisionKind) {
	f.h.book.mu.Lock()
	f.e.rec.Allowed = append(slices.Clone(kinds), f.sh.spec.extra...)
	f.h.book.mu.Unlock()
}

// mark records that a party leaves on purpose, before it does.
func (f *flow) mark(party string, how Leave) {
	f.h.book.mu.Lock()
	f.e.rec.Left[party] = how
	f.h.book.mu.Unlock()
}

// long is the timeout of invitations that must not expire while the flow
// runs: longer than the flow's deadline.
func (f *flow) long() time.Duration { return 2 * f.h.cfg.FlowDeadline }

// send creates the invitation, hooks its callbacks and sends it with
// timeout (0: the node's short default). It returns false if Send failed.
func (f *flow) send(timeout time.Duration) bool {
	if f.stopped.Load() {
		return false
	}
	l, err := f.caller.c.CreateLocalInvitation(f.calleeID)
	if err != nil {
		f.problem("create invitation: %v", err)
		return false
	}
	b, e := f.h.book, f.e
	l.OnReceivedByPeer(func() { b.callerEvent(e, KindReceived, "", "") })
	l.OnAccepted(func(resp string) { b.callerEvent(e, KindAccepted, "", resp) })
	l.OnRefused(func(resp string) { b.callerEvent(e, KindRefused, "", resp) })
	l.OnCanceled(func() { b.callerEvent(e, KindCanceled, "", "") })
	l.OnFailure(func(r core.LocalFailureReason) { b.callerEvent(e, KindFailure, r.String(), "") })
	l.OnCallEnded(func(r core.CallEndReason, by string) {
		b.mu.Lock()
		b.callEndLocked(e, Caller, r, by)
		b.mu.Unlock()
	})
	content, channel := fmt.Sprintf("soak flow %d", e.rec.Flow), fmt.Sprintf("room-%d", e.rec.Flow)
	if err := l.SetContent(content); err != nil {
		f.problem("set content: %v", err)
		return false
	}
	if err := l.SetChannelID(channel); err != nil {
		f.problem("set channel: %v", err)
		return false
	}
	if err := l.SetTimeout(timeout); err != nil {
		f.problem("set timeout: %v", err)
		return false
	}
	f.local = l
	f.parties[Caller] = f.caller.s
	f.callerDrain = markDrains(f.caller.s)
	if f.callee != nil {
		for _, d := range f.callee.devs {
			if d.s != nil && d.s.died.Load() {
				f.parties[d.s.key] = d.s // lost with its node, not yet logged in again: it may still ring
			}
		}
		f.drains = drainMarks{}
		for _, d := range f.callee.online() {
			f.ringers = append(f.ringers, ringer{d, d.s.key})
			f.parties[d.s.key] = d.s
			f.drains.mark(d.s.key, d.s)
		}
	}
	var expected []string
	for _, r := range f.ringers {
		expected = append(expected, r.key)
	}
	b.mu.Lock()
	e.rec.CallerID = f.caller.s.key
	e.rec.Callee = f.calleeID
	e.rec.Content, e.rec.Channel = content, channel
	e.rec.Expected = expected
	b.mu.Unlock()
	if i := int(f.caller.s.node.Load()) - 1; f.sh.cl != nil && i >= 0 {
		f.owner = f.sh.cl.members[i]
		f.ownerDeaths = f.owner.deaths.Load()
	}
	f.sentAt = time.Now()
	if err := l.Send(f.ctx); err != nil {
		if !f.hitNow() {
			f.problem("send: %v", err)
		} else {
			b.diedSend(content) // its invitation may have rung before the reply was lost
		}
		return false
	}
	b.bind(e, l.ID())
	return true
}

// await waits until cond holds on the entry, or notes a problem at the
// flow's deadline.
// A party's node that dies stops it: what it waits for may never come.
func (f *flow) await(what string, cond func(e *entry) bool) bool {
	return f.wait(what, cond, true)
}

// wait is await; with untilHit false a node's death does not stop it.
func (f *flow) wait(what string, cond func(e *entry) bool, untilHit bool) bool {
	return f.waitFor(func() string { return what }, cond, untilHit)
}

// waitFor is wait with what worked out at the deadline, from what cond
// saw last (the sessions still missing something, say).
func (f *flow) waitFor(what func() string, cond func(e *entry) bool, untilHit bool) bool {
	for {
		deaths := f.h.deathsCh()
		if f.h.book.look(f.e, cond) {
			return true
		}
		if untilHit && f.hitNow() {
			return false
		}
		select {
		case <-f.e.notify:
		case <-deaths:
		case <-f.ctx.Done():
			f.problem("no %s within %v (saw %s)", what(), f.h.cfg.FlowDeadline, f.seen())
			return false
		}
	}
}

func (f *flow) seen() string {
	f.h.book.mu.Lock()
	defer f.h.book.mu.Unlock()
	var s []string
	for _, e := range sortedEvents(f.e.rec.Events) {
		s = append(s, e.String())
	}
	var lost []string // parties lost with their node whose client has not ended yet
	for key, p := range f.parties {
		if p.died.Load() && !p.ended.Load() {
			lost = append(lost, key)
		}
	}
	if len(lost) > 0 {
		slices.Sort(lost)
		return fmt.Sprintf("%v; lost with their node, not ended on their client: %v", s, lost)
	}
	return fmt.Sprint(s)
}

func has(e *entry, party string, kinds ...Kind) bool {
	for _, ev := range e.rec.Events {
		if ev.Party == party && slices.Contains(kinds, ev.Kind) {
			return true
		}
	}
	return false
}

var terminals = []Kind{KindAccepted, KindRefused, KindCanceled, KindFailure}

// invite waits for r's session to receive the invitation and returns it;
// nil if the invitation ended first on a device its draining node held
// back (flow.drains).
func (f *flow) invite(r ringer) *core.RemoteInvitation {
	if f.stopped.Load() {
		return nil
	}
	var inv *core.RemoteInvitation
	f.await("invite on "+r.key, func(e *entry) bool {
		inv = e.remotes[r.key]
		return inv != nil || f.drains.drained(r.key) && has(e, Caller, terminals...)
	})
	return inv
}

// receivedOrEnd waits until the caller saw received-by-peer or its end.
func (f *flow) receivedOrEnd() {
	if f.stopped.Load() {
		return
	}
	f.await("received-by-peer", func(e *entry) bool { return has(e, Caller, append(terminals, KindReceived)...) })
}

// answer makes r's session accept (or refuse) inv and records the result.
func (f *flow) answer(r ringer, inv *core.RemoteInvitation, accept bool) {
	if inv == nil {
		return
	}
	name, do, resp := "refuse", inv.Refuse, "busy, "+r.key
	if accept {
		name, do, resp = "accept", inv.Accept, "on my way, "+r.key
	}
	if f.intN(4) == 0 {
		resp = "" // no response at all
	}
	if inv.SetResponse(resp) != nil {
		resp = "" // the invitation ended meanwhile: nothing is sent
	}
	began := f.h.book.now()
	err := do(f.ctx)
	st := inv.State()
	f.op(Op{Party: r.key, Name: name, Code: core.CodeOf(err), State: st.String(), Ended: st.Ended(), Response: resp, Began: began})
}

// cancel makes the caller cancel and records the result.
func (f *flow) cancel() {
	if f.local == nil || f.stopped.Load() {
		return
	}
	began := f.h.book.now()
	err := f.local.Cancel(f.ctx)
	st := f.local.State()
	f.op(Op{Party: Caller, Name: "cancel", Code: core.CodeOf(err), State: st.String(), Ended: st.Ended(), Began: began})
}

func (f *flow) op(o Op) {
	f.h.book.mu.Lock()
	f.e.rec.Ops = append(f.e.rec.Ops, o)
	f.h.book.mu.Unlock()
}

// both runs a and b at once: the two sides of a race.
func both(a, b func()) {
	var wg sync.WaitGroup
	wg.Go(a)
	wg.Go(b)
	wg.Wait()
}

// pickRinger returns one of the sessions the invitation rings, other than
// the ones given.
func (f *flow) pickRinger(not ...ringer) (ringer, bool) {
	var c []ringer
	for _, r := range f.ringers {
		if !slices.Contains(not, r) {
			c = append(c, r)
		}
	}
	if len(c) == 0 {
		return ringer{}, false
	}
	return c[f.intN(len(c))], true
}

// leave ends a party's session on purpose (see harness.leave); party is
// Caller or a ringer's key.
func (f *flow) leave(d *device, party string, how Leave) {
	if f.stopped.Load() {
		return
	}
	f.mark(party, how)
	if err := f.h.leave(f.ctx, d, how, f.intN(2) == 0); err != nil && !f.hitNow() {
		f.problem("%s %s: %v", party, how, err)
	}
}

// resume cuts a party's connection and waits until its session resumed;
// hold runs while the client reconnects.
func (f *flow) resume(d *device, party string, hold func()) {
	if f.stopped.Load() {
		return
	}
	f.mark(party, LeftResumed)
	if err := f.h.resume(f.ctx, d, hold); err != nil && !errors.Is(err, errDied) {
		f.problem("%s cut and resume: %v", party, err)
	}
}

// back logs d in again: a new client after Close, the same one otherwise.
// A device of the callee that comes back after the send may be rung late:
// it is returned as a late ringer, for the action to answer, refuse or
// ignore (PROTOCOL.md lifecycle 1), and complete awaits its end if it rang.
func (f *flow) back(d *device) (ringer, bool) {
	if f.stopped.Load() {
		return ringer{}, false
	}
	began := f.h.book.now()
	err := f.h.login(f.ctx, d)
	if err != nil && !errors.Is(err, errDied) {
		f.problem("coming back: %v", err)
		return ringer{}, false
	}
	if d.u != f.callee || f.local == nil {
		return ringer{}, false
	}
	r := ringer{d, d.s.key}
	f.joinLate(r)
	b := f.h.book
	b.mu.Lock()
	f.e.rec.Late = append(f.e.rec.Late, LateLogin{Key: r.key, Began: began, Done: b.seq})
	b.mu.Unlock()
	if err != nil {
		return ringer{}, false // lost with its node as it logged in: it may have rung all the same
	}
	f.late = append(f.late, r)
	return r, true
}

// joinLate makes r, a session of the callee that logged in after the
// send, a party. Its node may drain while the invitation pends, as a
// ringer's may: held back, or moving when its invite or the barrier came,
// it is let off as they are (drainMarks, Record.Drained). Unmarked, the
// barrier waited for a late session that two drains in a row had moved
// (make soak-cluster, seed 3: "no barrier message on" it).
func (f *flow) joinLate(r ringer) {
	f.parties[r.key] = r.d.s
	f.drains.mark(r.key, r.d.s)
}

// lateInvite waits until r, a session that came back after the send, got
// the invite or the caller its end, and returns the invite if it came. A
// driver waits for it before it ends the invitation, so that the late
// invite is not still on its way when the flow is checked.
func (f *flow) lateInvite(r ringer) *core.RemoteInvitation {
	if f.stopped.Load() {
		return nil
	}
	var inv *core.RemoteInvitation
	f.await("late invite on "+r.key+" or the caller's end", func(e *entry) bool {
		inv = e.remotes[r.key]
		// A reset may have eaten the invite of a device across a loss:
		// once the window is over it never comes.
		return inv != nil || has(e, Caller, terminals...) || f.lossSettled() && f.acrossLoss(r.key)
	})
	return inv
}

// complete waits until every party has its terminal event: the caller,
// every expected session that stayed or saw the invite, and every late
// session that saw it. Sessions that
// left have reported DISCONNECTED already, so their events are all in.
func (f *flow) complete() {
	ctx, cancel := context.WithTimeout(context.Background(), f.h.cfg.FlowDeadline)
	defer cancel()
	f.ctx = ctx
	if f.local == nil {
		return // nothing was sent
	}
	if f.hitNow() && !f.parties[Caller].died.Load() && f.e.rec.Inv != "" && !f.local.State().Ended() {
		// Devices on live nodes may go on ringing: the caller ends it.
		f.cancel()
	}
	if f.e.rec.Inv == "" {
		// Send failed: the caller still has its failure event (from its
		// client, if its node died meanwhile).
		f.wait("caller terminal event", func(e *entry) bool { return has(e, Caller, terminals...) }, false)
		return
	}
	whole := false // every party across a loss must have ended too
	all := func(e *entry) bool {
		if !f.lossDone && f.lossSettled() {
			return true // what a reset ate never comes: on to the loss's end below
		}
		if !has(e, Caller, terminals...) {
			return false
		}
		// When the invitation's node (the caller's) died, its invite may
		// have been lost on the way to a device (docs/CLUSTER.md, "When a node dies").
		ownerDied := f.ownerDied()
		for _, p := range f.parties {
			if p.died.Load() && !p.ended.Load() {
				return false // its client has not delivered its own end yet
			}
		}
		for _, r := range f.ringers {
			if f.awaits(e, r.key, ownerDied, !whole && f.acrossLoss(r.key)) {
				return false
			}
		}
		for _, r := range f.late {
			if has(e, r.key, KindInvite) && !has(e, r.key, terminals...) {
				return false
			}
		}
		if has(e, Caller, KindReceived) && !slices.ContainsFunc(e.rec.Events, func(ev Event) bool { return ev.Kind == KindInvite }) {
			return false // a device got it, held back by its draining node and rung on its new one: its events are on their way
		}
		return true
	}
	if f.wait("terminal events on every side", all, false) && f.ownerDied() {
		// Nothing the dead node sent arrives once every node declared it
		// dead; a barrier message then passes what was queued to the
		// devices that have not seen the invite: after it, what they saw
		// is all they will see.
		s := f.parties[Caller]
		s.mu.Lock()
		settled := s.settled
		s.mu.Unlock()
		if settled == nil { // the caller had left: its node's last death
			settled = f.h.lastSettled()
		}
		if settled != nil {
			select {
			case <-settled:
			case <-ctx.Done():
			}
		}
		f.barrier(ctx, -1)
		f.wait("terminal events on every side after the caller's node died", all, false)
	}
	if w := f.lossCheck(); w != nil && !f.stopped.Load() {
		f.lossDone = true
		whole = true
		if f.h.book.look(f.e, func(e *entry) bool { return all(e) && len(f.owed(e)) == 0 }) {
			// Every party ended, those across the loss too, and none is
			// owed its invite: no reset ate anything of it, and nothing
			// more comes, so it need not wait for the window's end. A
			// late session rung as its pair reset got its invite after
			// the caller's PEER_OFFLINE: owed, it is the barrier's
			// (TestSoakClusterShort, seed 28 on issue 16's seed28 branch).
			return
		}
		whole = false
		if f.local.State().Ended() {
			// The invitation rings no one any more, and a barrier from its
			// node (the caller's) goes to each device the way its invite
			// and end did, after them: once it is in, a device that saw
			// nothing will see nothing (a reset ate its invite).
			f.barrier(ctx, int(f.parties[Caller].node.Load())-1)
			f.wait("terminal events on every side after a loss", all, false)
			return
		}
		// Once the window settled, every reset it caused has ended or
		// settled what it held; the barrier passes what is queued.
		select {
		case <-w.settled:
		case <-ctx.Done():
		}
		if !f.local.State().Ended() {
			f.cancel() // devices the reset left ringing on live nodes stop
		}
		f.barrier(ctx, -1)
		f.wait("terminal events on every side after a loss", all, false)
	}
}

// awaits reports whether complete waits for ringer key's terminal event:
// it got the invite, or stayed (or resumed, which must look the same) on a
// live node and so must get it.
// (A resume of a session lost with its node fails: it may never have been
// rung. Nor may a device be when the invitation's node died, ownerDied.)
// (A device whose node drained may have been held back: it rings only if
// it logged in elsewhere while the invitation pended. Nor one across a
// loss, across: a reset may have eaten its invite.)
func (f *flow) awaits(e *entry, key string, ownerDied, across bool) bool {
	l := e.rec.Left[key]
	mustRing := (l == Stayed || l == LeftResumed) && !f.partyDied(key) && !ownerDied && !across && !f.drains.drained(key)
	return (mustRing || has(e, key, KindInvite)) && !has(e, key, terminals...)
}

// sendBarrier sends the barrier from a client on node from, or, if from
// is -1, on the node of each session in wait: it then reaches each from its
// own node, on no path between nodes that a loss could break.
func (f *flow) sendBarrier(ctx context.Context, wait []string, from int) error {
	slots := map[string]bool{"": true}
	if cl := f.sh.cl; cl != nil {
		slots = map[string]bool{}
		at := func(i int) {
			slot := ""
			if i >= 0 {
				slot = fmt.Sprintf("barrier.%d", i)
				cl.lb.stick(slot, i)
			}
			slots[slot] = true
		}
		if from >= 0 {
			at(from)
		}
		for _, k := range wait {
			if s := f.parties[k]; from < 0 && s != nil {
				at(int(s.node.Load()) - 1)
			}
		}
	}
	for _, slot := range slices.Sorted(maps.Keys(slots)) {
		if err := f.sendBarrierFrom(ctx, slot); err != nil {
			return err
		}
	}
	return nil
}

func (f *flow) sendBarrierFrom(ctx context.Context, slot string) error {
	c, err := core.NewClient(core.Options{URL: f.sh.url(slot), RequestTimeout: f.h.cfg.FlowDeadline, Logf: f.h.clientLog})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Login(ctx, f.sh.spec.name+".barrier", ""); err != nil {
		return err
	}
	began := time.Since(f.sentAt)
	got, err := c.SendMessageToPeer(ctx, f.calleeID, core.Message{Text: barrierPrefix + " " + f.e.rec.Inv})
	if err == nil {
		// The evidence if it does not arrive: false is a node that knew no
		// session of the callee's.
		if slot == "" {
			slot = "the balancer's pick"
		}
		f.barriersSent = append(f.barriersSent, fmt.Sprintf("via %s %v after the send: received %v", slot, began.Round(time.Millisecond), got))
	}
	return err
}

// barrier sends a peer message to the callee from a client of the harness
// (on node from, or -1: sendBarrier) and waits until every live callee
// session of the flow that has not seen the invite got it: its client has
// then delivered every earlier event.
func (f *flow) barrier(ctx context.Context, from int) {
	var wait []string
	f.h.book.look(f.e, func(e *entry) bool {
		wait = f.owed(e)
		return true
	})
	if len(wait) == 0 || f.calleeID == "" {
		return
	}
	for {
		// A loss window may eat the barrier: then it is sent again once no
		// reset of the window can come any more (or once it is over, if
		// that was already so).
		var again <-chan struct{}
		window := func() {
			if w := f.sh.loss.Load(); w != nil && again == nil {
				again = w.settled
				if !closed(w.calm) {
					again = w.calm
				}
			}
		}
		window()
		for try := 0; ; try++ {
			deaths := f.h.deathsCh()
			err := f.sendBarrier(ctx, wait, from)
			if err == nil {
				break
			}
			select {
			case <-deaths: // its node may have died: again, through another
				if try < 3 {
					continue
				}
			default:
			}
			f.problem("barrier: %v", err)
			return
		}
		if !f.awaitBarrier(wait, func() bool { window(); return again != nil && closed(again) }) {
			return
		}
	}
}

// owed returns the ringers and late sessions that have not seen the
// invite and may yet: alive, not gone, not drained. The book's lock is held.
func (f *flow) owed(e *entry) []string {
	var out []string
	for _, r := range slices.Concat(f.ringers, f.late) {
		if !has(e, r.key, KindInvite) && !f.partyDied(r.key) && !e.rec.Left[r.key].gone() && !f.drains.drained(r.key) {
			out = append(out, r.key)
		}
	}
	return out
}

// awaitBarrier waits until every session of wait that is still owed the
// barrier has it, and returns false then, or true as soon as resend says to
// send it again. At the deadline its problem names the sessions still
// owed it, not all of wait.
func (f *flow) awaitBarrier(wait []string, resend func() bool) bool {
	var missing []string
	again := false
	evidence := ""
	f.waitFor(func() string {
		evidence = fmt.Sprintf("%s; sent %v", f.directoryView(missing), f.barriersSent)
		return fmt.Sprint("barrier message on ", missing)
	}, func(e *entry) bool {
		missing = missing[:0]
		for _, k := range wait {
			// A session its node's drain moved meanwhile may miss it
			// (a peer message sent while it moved), as it may the
			// invite (drainMarks): it is not owed it.
			if !e.barriers[k] && !f.partyDied(k) && !f.drains.drained(k) {
				missing = append(missing, k)
			}
		}
		if len(missing) == 0 {
			return true
		}
		again = resend()
		return again
	}, false)
	if evidence != "" { // after the problem, what may explain it
		f.h.book.mu.Lock()
		f.e.rec.Problems[len(f.e.rec.Problems)-1] += evidence
		f.h.book.mu.Unlock()
	}
	return again
}

// directoryView tells, for the evidence of a barrier that did not arrive,
// the nodes of the sessions missing it, and how many sessions of the
// callee each live node holds and how many it knows in the whole cluster:
// a node that knows fewer than the nodes hold in all lacks sessions in
// its directory, and rings (and messages) none of them. Empty without a
// cluster.
func (f *flow) directoryView(missing []string) string {
	if f.sh == nil || f.sh.cl == nil || f.calleeID == "" {
		return ""
	}
	cl := f.sh.cl
	var b strings.Builder
	for _, k := range append([]string{Caller}, missing...) {
		if s := f.parties[k]; s != nil {
			if i := int(s.node.Load()) - 1; i >= 0 && i < len(cl.members) {
				s.mu.Lock()
				st, n := s.state, s.reconnects
				s.mu.Unlock()
				fmt.Fprintf(&b, "; %s on %s (%s, %d reconnections)", k, cl.members[i].id, st, n)
			}
		}
	}
	fmt.Fprintf(&b, "; %s's sessions by node (held here/known in all):", f.calleeID)
	for _, m := range cl.members {
		nd := m.node()
		if nd == nil {
			fmt.Fprintf(&b, " %s down", m.id)
			continue
		}
		p, err := nd.n.Presence(f.calleeID)
		if err != nil {
			fmt.Fprintf(&b, " %s %v", m.id, err)
			continue
		}
		fmt.Fprintf(&b, " %s %d/%d", m.id, nd.n.LocalSessions(f.calleeID), p.Sessions)
	}
	return b.String()
}

// closed reports whether ch is closed.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// ownerDied reports whether the invitation's node died since the send,
// with the caller's session or after it left.
func (f *flow) ownerDied() bool {
	return f.partyDied(Caller) || f.owner != nil && f.owner.deaths.Load() != f.ownerDeaths
}

// partyDied reports whether the session of party key was lost with its
// node: it may never have got the invite.
func (f *flow) partyDied(key string) bool {
	s := f.parties[key]
	return s != nil && s.died.Load()
}

// endCall ends the call that followed an acceptance, if any: the caller,
// the answering device, or both at once hang up (a side that left has had
// its call ended already), then every side of the call must see exactly
// one CallEnded. Without it the two users would stay busy.
func (f *flow) endCall() {
	f.h.book.mu.Lock()
	f.e.rec.CallEnded = true
	f.h.book.mu.Unlock()
	if f.local == nil {
		return
	}
	// The sides of the call are those that saw the acceptance: the caller
	// may not have (it closed first), and then the server ends the call for
	// the answering device when the caller's session ends.
	var answerer string
	var remote *core.RemoteInvitation
	callerIn := false
	f.h.book.look(f.e, func(e *entry) bool {
		for _, ev := range e.rec.Events {
			switch {
			case ev.Kind != KindAccepted:
			case ev.Party == Caller:
				callerIn = true
			default:
				answerer, remote = ev.Party, e.remotes[ev.Party]
			}
		}
		return true
	})
	if !callerIn && remote == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.h.cfg.FlowDeadline)
	defer cancel()
	f.ctx = ctx
	hang := func(party string, h func(context.Context) error) {
		err := h(ctx)
		if code := core.CodeOf(err); code != 0 && code != 3 && code != 207 && !f.hitNow() { // ALREADY_END, NOT_CONNECTED
			f.problem("%s hangup: %v", party, err)
		}
	}
	switch n := f.intN(4); {
	case !callerIn:
		hang(answerer, remote.Hangup)
	case remote == nil || n == 0:
		hang(Caller, f.local.Hangup)
	case n == 1:
		hang(answerer, remote.Hangup)
	default:
		both(func() { hang(Caller, f.local.Hangup) }, func() { hang(answerer, remote.Hangup) })
	}
	f.wait("call end on every side", func(e *entry) bool {
		seen := map[string]bool{}
		for _, c := range e.rec.CallEnds {
			seen[c.Party] = true
		}
		return (!callerIn || seen[Caller]) && (answerer == "" || seen[answerer])
	}, false)
}

// messages sends n peer messages from the caller to the callee user,
// prefixed with the invitation's id, and records them.
func (f *flow) messages(n int) {
	if f.stopped.Load() || f.e.rec.Inv == "" {
		return
	}
	for range n {
		f.h.book.mu.Lock()
		text := fmt.Sprintf("%s %d", f.e.rec.Inv, len(f.e.rec.Messages))
		f.e.rec.Messages = append(f.e.rec.Messages, text)
		f.h.book.mu.Unlock()
		if _, err := f.caller.c.SendMessageToPeer(f.ctx, f.calleeID, core.Message{Text: text}); err != nil {
			if !f.hitNow() {
				f.problem("message: %v", err)
			}
			return
		}
	}
}
