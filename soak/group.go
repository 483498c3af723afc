//go:build !js

package soak

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
)

// Group flows (docs/PROTOCOL.md "Groups"): one caller rings 2 to 4 users
// at once. Their records are of their own kind, GroupRecord, checked by
// CheckGroup: one winner in a hunt group, one outcome per callee in a
// group call, and every party agreeing with the server's decisions.

// groupBehaviour is what the callees of a group flow do.
type groupBehaviour uint8

const (
	groupRace         groupBehaviour = iota + 1 // one device of every callee accepts at once
	groupRefuseAll                              // one device of every callee refuses
	groupMixed                                  // one device of every callee accepts or refuses, at once
	groupCancelAccept                           // the caller cancels while one callee accepts
	groupRingOut                                // nobody answers: every callee expires, with the node's default timeout
)

// groupRun is the run function of a group action.
func groupRun(mode core.GroupMode, b groupBehaviour) func(f *flow) {
	return func(f *flow) { f.h.runGroup(f, mode, b) }
}

// CalleeEvent is one OnCallee callback of a group's caller.
type CalleeEvent struct {
	Seq    uint64
	Callee string
	State  core.CalleeState
	Reason string
}

// GroupRecord is everything the harness knows about one group flow.
type GroupRecord struct {
	Flow    int
	Action  string
	Node    string
	Inv     string
	Mode    core.GroupMode
	Callees []string
	// Expected are each callee's sessions logged in at the send: all ring,
	// but those in Drained (as Record.Drained) may not.
	Expected map[string][]string
	Drained  []string
	Updates  []CalleeEvent // the caller's per-callee events, in order
	// Caller are the caller's invitation events (received and its end);
	// Text is AcceptedBy for accepted.
	Caller []Event
	// Devices are each rung device's events; Text is AnsweredBy for a failure.
	Devices  map[string][]Event
	Ops      []Op
	CallEnds []CallEnd // CallEnded on the caller (Party Caller) and the answering devices
	LegEnds  []CallEnd // CalleeCallEnded on the caller, Party the callee
	Problems []string
	// NoResponse: the node's receipt timeout is short, so a callee may fail
	// with PEER_NO_RESPONSE (its devices INVITATION_EXPIRE).
	NoResponse bool
	// RingOut: nobody answers, so every callee fails with INVITATION_EXPIRE.
	RingOut bool
	// Died are the parties (Caller, device keys) lost with their node during
	// the flow, or before the send and not logged in again (parties), and
	// OwnerDied says the group's node (the caller's) died: a flow so hit is
	// held to what a death allows (CheckGroup).
	Died      []string
	OwnerDied bool
}

// hit reports whether a node death touched the flow.
func (r *GroupRecord) hit() bool { return r.OwnerDied || len(r.Died) > 0 }

// gentry is a group flow's record while it runs, found by the content the
// callees see (r.Content()), since each callee's invitation has an id the
// caller never learns.
type gentry struct {
	rec     GroupRecord
	remotes map[string]*core.RemoteInvitation
	notify  chan struct{}
	closed  bool
	excused map[string]bool // as entry.excused
	hit     bool            // checked as hit by a node death: later events are counted, not violations
}

// lateLocked handles an event of g's that came after its check: counted
// for a flow a node death hit (its dying node's end may come late), else
// a violation. book.mu is held.
func (b *book) lateLocked(g *gentry, detail string) {
	if g.hit {
		b.h.count("events of a group flow hit by a node death after its check")
		return
	}
	b.h.violate(Violation{Flow: g.rec.Flow, Action: g.rec.Action, Inv: g.rec.Inv, What: "late", Detail: detail})
}

func groupContent(flow int) string { return fmt.Sprintf("soak group %d", flow) }

func (g *gentry) poke() {
	select {
	case g.notify <- struct{}{}:
	default:
	}
}

// groupInvite records a group invitation on device key; the lock is not held.
func (b *book) groupInvite(key string, r *core.RemoteInvitation) {
	b.mu.Lock()
	g := b.groups[r.Content()]
	if g != nil && g.closed && g.excused[key] {
		b.mu.Unlock()
		b.h.count("events of a drained device after its flow was checked")
		return
	}
	if g != nil && g.closed && g.hit {
		b.lateLocked(g, "")
		b.mu.Unlock()
		return
	}
	if g == nil || g.closed {
		b.mu.Unlock()
		b.h.violate(Violation{Flow: -1, What: "orphan", Detail: fmt.Sprintf("group invitation %s %q rang %s but no flow runs it", r.ID(), r.Content(), key)})
		return
	}
	g.remotes[key] = r
	g.rec.Devices[key] = append(g.rec.Devices[key], b.nextLocked(key, KindInvite, "", ""))
	g.poke()
	b.mu.Unlock()
	ev := func(kind Kind, reason, text string) {
		b.mu.Lock()
		defer b.mu.Unlock()
		e := b.nextLocked(key, kind, reason, text)
		if g.closed && g.excused[key] {
			return
		}
		if g.closed {
			b.lateLocked(g, fmt.Sprintf("%s arrived after the group flow was checked", e))
			return
		}
		g.rec.Devices[key] = append(g.rec.Devices[key], e)
		g.poke()
	}
	r.OnAccepted(func() { ev(KindAccepted, "", "") })
	r.OnRefused(func() { ev(KindRefused, "", "") })
	r.OnCanceled(func(string) { ev(KindCanceled, "", "") })
	r.OnFailure(func(reason core.RemoteFailureReason) { ev(KindFailure, reason.String(), r.AnsweredBy()) })
	r.OnCallEnded(func(reason core.CallEndReason, by string) {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.groupCallEndLocked(g, &g.rec.CallEnds, CallEnd{Party: key, Reason: reason.String(), By: by})
	})
}

func (b *book) nextLocked(party string, kind Kind, reason, text string) Event {
	b.seq++
	return Event{Seq: b.seq, Party: party, Kind: kind, Reason: reason, Text: text}
}

func (b *book) groupCallEndLocked(g *gentry, to *[]CallEnd, c CallEnd) {
	if g.closed {
		b.lateLocked(g, fmt.Sprintf("call end %+v arrived after the group flow was checked", c))
		return
	}
	*to = append(*to, c)
	g.poke()
}

// groupFlow drives one group invitation.
type groupFlow struct {
	*flow
	g       *gentry
	mode    core.GroupMode
	callees []*user
	local   *core.LocalInvitation
	// sessions are the caller's and those that may ring at the send
	// (parties, as flow.parties), and owner the group's node then (as
	// flow.owner).
	sessions    map[string]*session
	owner       *member
	ownerDeaths int32
}

// died reports whether party key's session was lost with its node.
func (gf *groupFlow) died(key string) bool {
	s := gf.sessions[key]
	return s != nil && s.died.Load()
}

// gone reports whether party key's session was lost with its node and its
// client has ended it: its own end (UNKNOWN) is in.
func (gf *groupFlow) gone(key string) bool {
	s := gf.sessions[key]
	return s != nil && s.died.Load() && s.ended.Load()
}

// ownerDied reports whether the group's node died since the send.
func (gf *groupFlow) ownerDied() bool {
	return gf.died(Caller) || gf.owner != nil && gf.owner.deaths.Load() != gf.ownerDeaths
}

// hit reports whether a node death touched the flow: its owner, or a party.
func (gf *groupFlow) hit() bool {
	if gf.ownerDied() {
		return true
	}
	for k := range gf.sessions {
		if gf.died(k) {
			return true
		}
	}
	return false
}

func (gf *groupFlow) problem(format string, args ...any) {
	gf.stopped.Store(true)
	gf.h.book.mu.Lock()
	gf.g.rec.Problems = append(gf.g.rec.Problems, fmt.Sprintf(format, args...))
	gf.h.book.mu.Unlock()
}

// await waits until cond holds on the record, or notes a problem.
func (gf *groupFlow) await(ctx context.Context, what string, cond func(r *GroupRecord) bool) bool {
	for {
		drains := gf.h.deathsCh()
		if gf.h.book.look(nil, func(*entry) bool { return cond(&gf.g.rec) }) {
			return true
		}
		select {
		case <-gf.g.notify:
		case <-drains:
		case <-ctx.Done():
			gf.problem("no %s within %v", what, gf.h.cfg.FlowDeadline)
			return false
		}
	}
}

// runGroup runs a group flow in place of a one-callee flow: f has its
// action, shard and PRNG, no users yet.
func (h *harness) runGroup(f *flow, mode core.GroupMode, b groupBehaviour) {
	gf := &groupFlow{flow: f, mode: mode, g: &gentry{remotes: map[string]*core.RemoteInvitation{}, notify: make(chan struct{}, 1),
		rec: GroupRecord{Flow: f.e.rec.Flow, Action: f.e.rec.Action, Node: f.e.rec.Node, Mode: mode,
			Expected: map[string][]string{}, Devices: map[string][]Event{},
			NoResponse: slices.Contains(f.sh.spec.extra, DecNoResponse)}}}
	n := 2 + f.intN(3)
	unlock, ok := gf.lockGroup(n)
	for tries := 0; !ok && tries < 3 && h.awaitHealed(); tries++ {
		unlock, ok = gf.lockGroup(n)
	}
	if !ok {
		h.mu.Lock()
		h.rep.Skipped[f.e.rec.Action]++
		h.mu.Unlock()
		return
	}
	// The deadline starts once the users are locked, as a pair flow's does:
	// started before, a wait for users that a stuck flow held (seconds, a
	// drain's) was taken from the send's, which then gave up ("no reply to
	// send") on a group its node carried out: orphans, and the client's
	// frames of the group it had dropped (TestSoakClusterShort with drain).
	ctx, cancel := context.WithTimeout(context.Background(), gf.h.cfg.FlowDeadline)
	defer cancel()
	f.ctx = ctx
	began := time.Now()
	content := groupContent(gf.g.rec.Flow)
	h.book.mu.Lock()
	h.book.groups[content] = gf.g
	h.book.mu.Unlock()
	gf.drive(content, b)
	gf.complete()
	gf.endCall()
	took := time.Since(began)
	h.book.mu.Lock()
	for k := range gf.drains {
		if gf.drains.drained(k) {
			gf.g.rec.Drained = append(gf.g.rec.Drained, k)
			if !slices.ContainsFunc(gf.g.rec.Devices[k], func(e Event) bool { return e.Kind.terminal() }) {
				if gf.g.excused == nil {
					gf.g.excused = map[string]bool{}
				}
				gf.g.excused[k] = true
			}
		}
	}
	slices.Sort(gf.g.rec.Drained)
	for k := range gf.sessions {
		if gf.died(k) {
			gf.g.rec.Died = append(gf.g.rec.Died, k)
		}
	}
	slices.Sort(gf.g.rec.Died)
	gf.g.rec.OwnerDied = gf.ownerDied()
	rec := gf.g.rec
	gf.g.closed = true
	gf.g.hit = rec.hit()
	if gf.g.excused == nil && !gf.g.hit { // else kept, closed, for a late ring of those devices
		delete(h.book.groups, content)
	}
	h.book.mu.Unlock()
	unlock()
	for _, v := range CheckGroup(&rec) {
		h.violate(v)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if rec.hit() {
		h.rep.HitFlows++
		h.rep.Chaos["group flows hit by a node death"]++
	}
	for k := range rec.Devices {
		if slices.Contains(rec.Died, k) && !slices.Contains(rec.Expected[rec.calleeOf(k)], k) {
			h.rep.Chaos["group devices rung though lost with their node at the send"]++
		}
	}
	h.countLocked(rec.Action, "GROUP "+string(mode)+" "+groupOutcome(&rec), took)
	accepted := slices.ContainsFunc(rec.Caller, func(e Event) bool { return e.Kind == KindAccepted })
	drained := len(rec.Drained) > 0 || gf.callerDrain.drained()
	h.countCallLocked(accepted, slices.Concat(rec.CallEnds, rec.LegEnds), rec.hit(), drained)
	for _, evs := range rec.Devices {
		for _, e := range evs {
			if e.Kind.terminal() {
				h.rep.DeviceOutcomes[partyOutcome(e)]++
			}
		}
	}
	for _, op := range rec.Ops {
		h.rep.Ops["group "+op.Name+" "+codeName(op.Code)]++
	}
}

// lockGroup picks a caller and n distinct callees with a device each, and
// locks them shared, in the global order.
func (gf *groupFlow) lockGroup(n int) (unlock func(), ok bool) {
	users := gf.sh.users
	n = min(n, len(users)-1)
	if n < 2 {
		return nil, false // a shard too small for a group
	}
	for try := range 100 {
		picked := map[*user]bool{}
		var locked []*user
		for len(locked) < n+1 {
			u := users[gf.intN(len(users))]
			if !picked[u] {
				picked[u] = true
				locked = append(locked, u)
			}
		}
		caller, callees := locked[0], slices.Clone(locked[1:])
		slices.SortFunc(locked, func(a, b *user) int { return a.order - b.order })
		if !lockAll(locked, false, try < 90) {
			continue
		}
		unlock = func() {
			for _, u := range slices.Backward(locked) {
				u.mu.RUnlock()
			}
		}
		cdevs := caller.online()
		good := len(cdevs) > 0
		for _, c := range callees {
			good = good && len(c.online()) > 0
		}
		if good {
			gf.caller, gf.callees = cdevs[gf.intN(len(cdevs))], callees
			return unlock, true
		}
		unlock()
	}
	return nil, false
}

// drive sends the group invitation and makes the callees answer.
func (gf *groupFlow) drive(content string, b groupBehaviour) {
	ids := make([]string, len(gf.callees))
	for i, c := range gf.callees {
		ids[i] = c.id
	}
	l, err := gf.caller.c.CreateGroupInvitation(ids, gf.mode)
	if err != nil {
		gf.problem("create group invitation: %v", err)
		return
	}
	book, g := gf.h.book, gf.g
	callerEv := func(kind Kind, reason, text string) {
		book.mu.Lock()
		defer book.mu.Unlock()
		e := book.nextLocked(Caller, kind, reason, text)
		if g.closed {
			book.lateLocked(g, e.String())
			return
		}
		g.rec.Caller = append(g.rec.Caller, e)
		g.poke()
	}
	l.OnReceivedByPeer(func() { callerEv(KindReceived, "", "") })
	l.OnAccepted(func(string) { callerEv(KindAccepted, "", l.AcceptedBy()) })
	l.OnRefused(func(string) { callerEv(KindRefused, "", "") })
	l.OnCanceled(func() { callerEv(KindCanceled, "", "") })
	l.OnFailure(func(r core.LocalFailureReason) { callerEv(KindFailure, r.String(), "") })
	l.OnCallee(func(u core.CalleeUpdate) {
		book.mu.Lock()
		defer book.mu.Unlock()
		book.seq++
		g.rec.Updates = append(g.rec.Updates, CalleeEvent{Seq: book.seq, Callee: u.Callee, State: u.State, Reason: u.Reason.String()})
		g.poke()
	})
	l.OnCallEnded(func(r core.CallEndReason, by string) {
		book.mu.Lock()
		defer book.mu.Unlock()
		book.groupCallEndLocked(g, &g.rec.CallEnds, CallEnd{Party: Caller, Reason: r.String(), By: by})
	})
	l.OnCalleeCallEnded(func(callee string, r core.CallEndReason, by string) {
		book.mu.Lock()
		defer book.mu.Unlock()
		book.groupCallEndLocked(g, &g.rec.LegEnds, CallEnd{Party: callee, Reason: r.String(), By: by})
	})
	if err := l.SetContent(content); err != nil {
		gf.problem("set content: %v", err)
		return
	}
	if b != groupRingOut {
		if err := l.SetTimeout(gf.long()); err != nil {
			gf.problem("set timeout: %v", err)
			return
		}
	}
	book.mu.Lock()
	g.rec.Callees = ids
	gf.callerDrain = markDrains(gf.caller.s)
	gf.parties()
	book.mu.Unlock()
	if i := int(gf.caller.s.node.Load()) - 1; gf.sh.cl != nil && i >= 0 {
		gf.owner = gf.sh.cl.members[i]
		gf.ownerDeaths = gf.owner.deaths.Load()
	}
	gf.local = l
	if err := l.Send(gf.ctx); err != nil {
		if !gf.hit() {
			gf.problem("send: %v", err)
		}
		return // with its node: the group may have rung (kept, closed, as hit)
	}
	book.mu.Lock()
	g.rec.Inv = l.ID()
	g.rec.RingOut = b == groupRingOut
	book.mu.Unlock()
	if b == groupRingOut {
		return
	}

	answerers := gf.answerers(g.rec.Expected)
	// A node death may keep a device from ringing: one lost with its node
	// does not answer, and once the caller has its end no device need ring.
	var invs []*core.RemoteInvitation
	var keys []string
	for _, key := range answerers {
		var r *core.RemoteInvitation
		if !gf.await(gf.ctx, "group invite on "+key, func(rec *GroupRecord) bool {
			r = g.remotes[key]
			callerEnded := slices.ContainsFunc(rec.Caller, func(e Event) bool { return e.Kind.terminal() })
			return r != nil || (gf.drains.drained(key) || gf.hit()) && callerEnded || gf.died(key)
		}) {
			return
		}
		if r == nil && !gf.died(key) {
			return
		}
		if r != nil {
			invs, keys = append(invs, r), append(keys, key)
		}
	}
	answer := func(i int, accept bool) {
		name, do := "refuse", invs[i].Refuse
		if accept {
			name, do = "accept", invs[i].Accept
		}
		err := do(gf.ctx)
		st := invs[i].State()
		gf.op(gf.g, Op{Party: keys[i], Name: name, Code: core.CodeOf(err), State: st.String(), Ended: st.Ended()})
	}
	if len(invs) == 0 {
		return
	}
	var wg sync.WaitGroup
	switch b {
	case groupRace, groupMixed:
		for i := range invs {
			accept := b == groupRace || gf.intN(2) == 0
			wg.Go(func() { answer(i, accept) })
		}
	case groupRefuseAll:
		for i := range invs {
			answer(i, false)
		}
	case groupCancelAccept:
		i := gf.intN(len(invs))
		wg.Go(func() { answer(i, true) })
		wg.Go(func() {
			err := l.Cancel(gf.ctx)
			st := l.State()
			gf.op(gf.g, Op{Party: Caller, Name: "cancel", Code: core.CodeOf(err), State: st.String(), Ended: st.Ended()})
		})
	}
	wg.Wait()
}

// parties records, at the send, the sessions that may ring: each callee's
// online devices (Expected), and those lost with a node whose connections
// are not cut yet (ringable), which the server may still ring: the harness
// marks them lost just before it kills their node. Left out, such a device
// rang, the flow was not hit, and its client's UNKNOWN came after the
// check: "device ends" and "late" (TestSoakClusterShort, seed 28, issue
// 16). (A pair flow takes every lost device, flow.send: for group flows,
// whose check a death relaxes, that was 22 to 120 hit a run, not 1 to 5,
// and 6 to 50 while their node's death was not yet known everywhere.) The
// book's lock is held.
func (gf *groupFlow) parties() {
	gf.drains = drainMarks{}
	gf.sessions = map[string]*session{Caller: gf.caller.s}
	for _, c := range gf.callees {
		for _, d := range c.devs {
			if d.s != nil && d.s.ringable() {
				gf.sessions[d.s.key] = d.s
			}
		}
		for _, d := range c.online() {
			gf.g.rec.Expected[c.id] = append(gf.g.rec.Expected[c.id], d.s.key)
			gf.drains.mark(d.s.key, d.s)
			gf.sessions[d.s.key] = d.s
		}
	}
}

// answerers picks, of each callee's devices rung at the send (expected),
// the one that answers. A callee's devices may all have been lost with a
// node since lockGroup picked it: it has none (IntN(0) panicked, the
// cluster soak with drain, seed 31, issue 16).
func (gf *groupFlow) answerers(expected map[string][]string) []string {
	var out []string
	for _, c := range gf.callees {
		if keys := expected[c.id]; len(keys) > 0 {
			out = append(out, keys[gf.intN(len(keys))])
		}
	}
	return out
}

func (gf *groupFlow) op(g *gentry, o Op) {
	gf.h.book.mu.Lock()
	g.rec.Ops = append(g.rec.Ops, o)
	gf.h.book.mu.Unlock()
}

// complete waits until the caller and every rung device have their end.
// After a node death a callee may go on ringing on a live device that was
// not to answer: the caller then cancels, as a one-callee flow does.
func (gf *groupFlow) complete() {
	if gf.local == nil || gf.g.rec.Inv == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), gf.h.cfg.FlowDeadline)
	defer cancel()
	canceled := false
	var wg sync.WaitGroup
	defer wg.Wait()
	gf.await(ctx, "terminal events on every side of the group", func(r *GroupRecord) bool {
		if !canceled && gf.hit() && !gf.died(Caller) && !gf.local.State().Ended() {
			canceled = true
			wg.Go(func() { // not under the book's lock, which the cancel's events take
				err := gf.local.Cancel(ctx)
				st := gf.local.State()
				gf.op(gf.g, Op{Party: Caller, Name: "cancel", Code: core.CodeOf(err), State: st.String(), Ended: st.Ended()})
				gf.g.poke()
			})
		}
		return gf.ended(r)
	})
}

// ended reports whether the caller and every session rung (parties) have
// their end: a device lost with its node, once rung, its client's own.
// The book's lock is held.
func (gf *groupFlow) ended(r *GroupRecord) bool {
	if !slices.ContainsFunc(r.Caller, func(e Event) bool { return e.Kind.terminal() }) {
		return false
	}
	for k := range gf.sessions {
		switch {
		case k == Caller:
		case gf.drains.drained(k) && len(r.Devices[k]) == 0:
			// held back by its draining node, and not rung elsewhere (yet)
		case len(r.Devices[k]) == 0 && (gf.died(k) || gf.ownerDied()):
			// its invite may have died with a node (docs/CLUSTER.md "When a node dies")
		case gf.died(k) && !gf.gone(k):
			return false // its client has not delivered its own end yet
		case !slices.ContainsFunc(r.Devices[k], func(e Event) bool { return e.Kind.terminal() }) && !gf.gone(k):
			return false
		}
	}
	return true
}

// endCall hangs up the group's call, if one began: the caller, or (in a
// hunt group) sometimes the answering device; then waits for every end.
//
// After a node death the call may have ended already, for some sides
// (their node died, or the other side's): each side that saw the accept
// still sees its call end, unless its session died with its node and its
// client ended it.
func (gf *groupFlow) endCall() {
	if gf.local == nil {
		return
	}
	hit := gf.hit()
	if gf.local.CallState() != core.CallInCall && !hit {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), gf.h.cfg.FlowDeadline)
	defer cancel()
	var answering []string
	var answerer *core.RemoteInvitation
	callerIn := false
	gf.h.book.look(nil, func(*entry) bool {
		for k, evs := range gf.g.rec.Devices {
			if slices.ContainsFunc(evs, func(e Event) bool { return e.Kind == KindAccepted }) {
				answering = append(answering, k)
			}
		}
		callerIn = slices.ContainsFunc(gf.g.rec.Caller, func(e Event) bool { return e.Kind == KindAccepted })
		if len(answering) == 1 {
			answerer = gf.g.remotes[answering[0]] // under the book's lock: a late invite writes remotes
		}
		return true
	})
	if gf.local.CallState() == core.CallInCall {
		hang := gf.local.Hangup
		if gf.mode == core.GroupFirst && answerer != nil && gf.intN(2) == 0 {
			hang = answerer.Hangup
		}
		if err := hang(ctx); err != nil && !hit && !gf.hit() {
			gf.problem("hangup: %v", err)
			return
		}
	} else if !callerIn && len(answering) == 0 {
		return
	}
	gf.await(ctx, "group call end on every side", func(r *GroupRecord) bool {
		seen := map[string]bool{}
		for _, c := range r.CallEnds {
			seen[c.Party] = true
		}
		for _, k := range answering {
			if !seen[k] && !gf.gone(k) {
				return false
			}
		}
		return seen[Caller] || !callerIn && gf.hit() || gf.gone(Caller)
	})
}

// groupOutcome is the caller's end, for the report.
func groupOutcome(r *GroupRecord) string {
	for _, e := range r.Caller {
		if e.Kind.terminal() {
			return partyOutcome(e)
		}
	}
	return "none"
}

// calleeOf is the callee user of device key ("<user>.d<j>#<gen>").
func (r *GroupRecord) calleeOf(key string) string {
	for _, c := range r.Callees {
		if strings.HasPrefix(key, c+".d") {
			return c
		}
	}
	return ""
}

// CheckGroup returns every invariant a group flow breaks.
func CheckGroup(r *GroupRecord) []Violation {
	var out []Violation
	bad := func(what, format string, args ...any) {
		out = append(out, Violation{Flow: r.Flow, Action: r.Action, Inv: r.Inv, What: what, Detail: fmt.Sprintf(format, args...)})
	}
	for _, p := range r.Problems {
		bad("stuck", "%s", p)
	}
	if r.Inv == "" {
		return out
	}
	// The caller: one end, after every callee's outcome.
	var end Event
	ends := 0
	for _, e := range r.Caller {
		if e.Kind.terminal() {
			end = e
			ends++
		}
	}
	if ends != 1 {
		bad("caller ends", "the caller saw %d ends: %v", ends, r.Caller)
		return out
	}
	// Each callee: a legal walk along core.NextCallee to one outcome.
	outcome := map[string]core.CalleeState{}
	reason := map[string]string{}
	state := map[string]core.CalleeState{}
	for _, c := range r.Callees {
		state[c] = core.CalleeRinging
	}
	for _, u := range r.Updates {
		ev, ok := core.CalleeEventTo(u.State)
		cur, known := state[u.Callee]
		if !ok || !known {
			bad("callee event", "an event for %q to %s", u.Callee, u.State)
			continue
		}
		next, err := core.NextCallee(cur, ev)
		if err != nil {
			bad("callee edge", "%s: %v", u.Callee, err)
			continue
		}
		state[u.Callee] = next
		if next.Ended() {
			outcome[u.Callee], reason[u.Callee] = next, u.Reason
			if u.Seq > end.Seq {
				bad("order", "%s's outcome %s came after the caller's end %s", u.Callee, next, end)
			}
		}
	}
	if r.hit() {
		return append(out, checkGroupHit(r)...)
	}
	var accepted, refused, failed []string
	for _, c := range r.Callees {
		switch outcome[c] {
		case core.CalleeIdle:
			bad("callee outcome", "%s never had an outcome (%s) though the caller ended %s", c, state[c], end)
		case core.CalleeAccepted:
			accepted = append(accepted, c)
		case core.CalleeRefused:
			refused = append(refused, c)
		case core.CalleeFailure:
			failed = append(failed, c)
			if r.RingOut && reason[c] == core.LocalFailureInvitationExpire.String() {
				break
			}
			if !r.NoResponse || reason[c] != core.LocalFailurePeerNoResponse.String() {
				bad("callee outcome", "%s failed %s, though it was online and the timeout long", c, reason[c])
			}
		}
	}
	canceled := slices.ContainsFunc(r.Ops, func(o Op) bool { return o.Name == "cancel" && o.Code == 0 })
	// The group's end follows from the callees' outcomes.
	switch {
	case canceled:
		if end.Kind != KindCanceled {
			bad("disagree", "the cancel succeeded but the caller ended %s", end)
		}
	case r.Mode == core.GroupFirst && len(accepted) > 0:
		if len(accepted) != 1 {
			bad("one winner", "a hunt group accepted by %v", accepted)
		}
		if end.Kind != KindAccepted || end.Text != accepted[0] {
			bad("disagree", "%s accepted, the caller ended %s accepted by %q", accepted[0], end, end.Text)
		}
	case r.Mode == core.GroupAll && len(accepted) > 0:
		if end.Kind != KindAccepted {
			bad("disagree", "%v accepted a group call, the caller ended %s", accepted, end)
		}
	case len(refused) > 0:
		if end.Kind != KindRefused {
			bad("disagree", "callees refused, none accepted, the caller ended %s", end)
		}
	case len(failed) > 0:
		if end.Kind != KindFailure {
			bad("disagree", "every callee failed or was canceled, the caller ended %s", end)
		}
	default:
		bad("disagree", "the caller ended %s with outcomes %v", end, outcome)
	}
	// The devices: one invite, one end, explained by their callee's outcome.
	winner := ""
	if r.Mode == core.GroupFirst && len(accepted) == 1 {
		winner = accepted[0]
	}
	answered := map[string]int{} // devices that saw their own answer, by callee
	for _, keys := range r.Expected {
		for _, k := range keys {
			if len(r.Devices[k]) == 0 && !slices.Contains(r.Drained, k) {
				bad("lost", "%s was online at the send and never rang", k)
			}
		}
	}
	for k, evs := range r.Devices {
		callee := r.calleeOf(k)
		if len(evs) == 0 || evs[0].Kind != KindInvite {
			bad("device order", "%s: %v", k, evs)
			continue
		}
		var term []Event
		for _, e := range evs[1:] {
			if e.Kind == KindInvite {
				bad("duplicate", "%s rang twice", k)
			}
			if e.Kind.terminal() {
				term = append(term, e)
			}
		}
		if len(term) == 0 && slices.Contains(r.Drained, k) {
			continue // rung late on its new node as the flow was checked: its end comes after
		}
		if len(term) != 1 {
			bad("device ends", "%s saw %d ends: %v", k, len(term), evs)
			continue
		}
		t := term[0]
		ok := false
		switch t.Kind {
		case KindAccepted:
			ok = outcome[callee] == core.CalleeAccepted
			answered[callee]++
		case KindRefused:
			ok = outcome[callee] == core.CalleeRefused
			answered[callee]++
		case KindCanceled:
			ok = canceled && outcome[callee] == core.CalleeCanceled
		case KindFailure:
			switch t.Reason {
			case core.RemoteFailureInvitationExpire.String():
				ok = outcome[callee] == core.CalleeFailure
			case core.RemoteFailureAnsweredElsewhere.String():
				ok = outcome[callee] == core.CalleeAccepted || outcome[callee] == core.CalleeRefused
			case core.RemoteFailureAnsweredByOther.String():
				ok = winner != "" && callee != winner && t.Text == winner && outcome[callee] == core.CalleeCanceled
			}
		}
		if !ok {
			bad("disagree", "%s (callee %s, outcome %s, winner %q) ended %s %q", k, callee, outcome[callee], winner, t, t.Text)
		}
	}
	for _, c := range r.Callees {
		want := 0
		if o := outcome[c]; o == core.CalleeAccepted || o == core.CalleeRefused {
			want = 1
		}
		if answered[c] != want {
			bad("disagree", "%s's outcome is %s but %d of its devices saw their own answer", c, outcome[c], answered[c])
		}
	}
	// Operations: an answer succeeds exactly when its device's end is it.
	for _, o := range r.Ops {
		if o.Party == Caller {
			if o.Code != 0 && o.Code != protocol.CodeAlreadyEnd {
				bad("op", "cancel returned %s", codeName(o.Code))
			}
			continue
		}
		wantKind := KindRefused
		if o.Name == "accept" {
			wantKind = KindAccepted
		}
		got := slices.ContainsFunc(r.Devices[o.Party], func(e Event) bool { return e.Kind == wantKind })
		if (o.Code == 0) != got || o.Code != 0 && o.Code != protocol.CodeAlreadyEnd {
			bad("op", "%s %s returned %s, its device saw %v", o.Party, o.Name, codeName(o.Code), r.Devices[o.Party])
		}
	}
	// The call: one end on the caller and on each answering device; in a
	// group call one leg end per callee who accepted.
	if len(accepted) > 0 {
		count := map[string]int{}
		for _, c := range r.CallEnds {
			count[c.Party]++
		}
		if count[Caller] != 1 {
			bad("call ends", "the caller saw %d call ends: %v", count[Caller], r.CallEnds)
		}
		for k, evs := range r.Devices {
			if slices.ContainsFunc(evs, func(e Event) bool { return e.Kind == KindAccepted }) && count[k] != 1 {
				bad("call ends", "%s accepted and saw %d call ends", k, count[k])
			}
		}
		if r.Mode == core.GroupAll {
			legs := map[string]int{}
			for _, c := range r.LegEnds {
				legs[c.Party]++
			}
			for _, c := range accepted {
				if legs[c] != 1 {
					bad("call ends", "the caller saw %d ends of its call with %s", legs[c], c)
				}
			}
		}
	} else if len(r.CallEnds) > 0 || len(r.LegEnds) > 0 {
		bad("call ends", "call ends without an accept: %v %v", r.CallEnds, r.LegEnds)
	}
	return out
}

// checkGroupHit checks what a node death leaves to hold of a group flow
// (docs/CLUSTER.md "When a node dies"): the callees' outcomes may be the
// death's (PEER_OFFLINE), a device lost with its node or rung by a dying
// owner may never ring or end on the server's word (its client ends it,
// UNKNOWN), and an answer may get ALREADY_END, or fail with its dying
// session; but no side ends twice, nor sees its call end twice. That every party ended within the flow's deadline is the
// waits' (Problems, "stuck").
func checkGroupHit(r *GroupRecord) []Violation {
	var out []Violation
	bad := func(what, format string, args ...any) {
		out = append(out, Violation{Flow: r.Flow, Action: r.Action, Inv: r.Inv, What: what, Detail: fmt.Sprintf(format, args...)})
	}
	for k, evs := range r.Devices {
		if len(evs) == 0 || evs[0].Kind != KindInvite {
			bad("device order", "%s: %v", k, evs)
			continue
		}
		ends := 0
		for _, e := range evs[1:] {
			if e.Kind == KindInvite {
				bad("duplicate", "%s rang twice", k)
			}
			if e.Kind.terminal() {
				ends++
			}
		}
		if ends > 1 {
			bad("device ends", "%s saw %d ends: %v", k, ends, evs)
		}
	}
	count := map[string]int{}
	for _, c := range r.CallEnds {
		count[c.Party]++
	}
	for p, n := range count {
		if n > 1 {
			bad("call ends", "%s saw %d call ends: %v", p, n, r.CallEnds)
		}
	}
	legs := map[string]int{}
	for _, c := range r.LegEnds {
		legs[c.Party]++
	}
	for c, n := range legs {
		if n > 1 {
			bad("call ends", "the caller saw %d ends of its call with %s", n, c)
		}
	}
	for _, o := range r.Ops {
		if o.Code != 0 && o.Code != protocol.CodeAlreadyEnd && !slices.Contains(r.Died, o.Party) && !(o.Party != Caller && r.OwnerDied) {
			bad("op", "%s %s returned %s", o.Party, o.Name, codeName(o.Code))
		}
	}
	return out
}
