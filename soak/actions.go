//go:build !js

package soak

import (
	"fmt"
	"time"

	"github.com/rtmcall/rtmcall/core"
)

// action is one kind of flow. The table below is the whole repertoire: to
// add a behaviour, add a row. Each run function drives one invitation
// through the flow's helpers and says which server decisions may end it;
// the checker does the rest.
type action struct {
	name   string
	weight int  // relative frequency
	pick   pick // the users it needs
	run    func(f *flow)
}

// pick says which users an action needs and how it locks them.
type pick struct {
	// exclusive: the action changes sessions of the caller or callee user
	// (close, cut, logout, login), so it locks both users alone.
	exclusive bool
	// devices is how many logged-in devices the callee needs (at least 1).
	devices int
	// ghost: the callee is a user id that never logs in.
	ghost bool
	// group: a group flow (group.go), which picks and locks its users itself.
	group bool
}

// actions is the repertoire, with weights summing to 100 (offline callees,
// answers, cancels, expiry, races, sessions that go away, connections cut
// and resumed).
var actions = []action{
	// Plain outcomes.
	{"accept", 7, pick{devices: 1}, acceptFlow},
	{"refuse", 6, pick{devices: 1}, refuseFlow},
	{"cancel-before-receipt", 6, pick{devices: 1}, cancelBeforeReceipt},
	{"cancel-after-receipt", 6, pick{devices: 1}, cancelAfterReceipt},
	{"expire", 5, pick{devices: 1}, expireFlow},
	{"offline-callee", 4, pick{ghost: true}, offlineFlow},

	// Races: the server decides once, the loser gets ALREADY_END.
	{"cancel-vs-accept", 5, pick{devices: 1}, cancelVsAnswer(true)},
	{"cancel-vs-refuse", 3, pick{devices: 1}, cancelVsAnswer(false)},
	{"answer-vs-expiry", 4, pick{devices: 1}, answerVsExpiry},
	{"two-devices-accept", 4, pick{devices: 2}, twoDevices(true)},
	{"accept-vs-refuse-elsewhere", 3, pick{devices: 2}, twoDevices(false)},

	// Sessions that end, on either side; devices come back as new sessions
	// (a few never come back).
	{"callee-gone-before-send", 3, pick{exclusive: true, devices: 1}, calleeGoneBeforeSend},
	{"callee-device-closes", 4, pick{exclusive: true, devices: 1}, calleeLeaves(LeftClose)},
	{"callee-device-logs-out", 2, pick{exclusive: true, devices: 1}, calleeLeaves(LeftLogout)},
	{"callee-device-cut-never-resumes", 2, pick{exclusive: true, devices: 1}, calleeLeaves(LeftDrop)},
	{"callee-closes-while-accepting", 3, pick{exclusive: true, devices: 1}, closeWhileAccepting},
	{"caller-closes", 3, pick{exclusive: true, devices: 1}, callerLeaves(LeftClose)},
	{"caller-logs-out", 2, pick{exclusive: true, devices: 1}, callerLeaves(LeftLogout)},
	{"caller-cut-never-resumes", 1, pick{exclusive: true, devices: 1}, callerLeaves(LeftDrop)},
	{"caller-closes-vs-accept", 2, pick{exclusive: true, devices: 1}, callerClosesVsAccept},

	// Connections cut under a session that resumes within the grace period:
	// the flow must end exactly as if nothing had happened, and the resumed
	// party is checked as strictly as one that stayed. To add a new way of
	// losing a connection (a proxy that stalls instead of cutting, a server
	// restart), add a row here and a Leave kind for the checker.
	{"callee-cut-and-resumes", 4, pick{exclusive: true, devices: 1}, calleeResumes},
	{"caller-cut-answered-meanwhile", 4, pick{exclusive: true, devices: 1}, callerResumesAnswered},
	{"caller-cut-cancels-meanwhile", 4, pick{exclusive: true, devices: 1}, callerResumesCancels},
	{"messages-across-resume", 3, pick{exclusive: true, devices: 1}, messagesAcrossResume},

	// Groups (group.go): 2 to 4 callees at once, checked by CheckGroup.
	{"group-first-race", 2, pick{group: true}, groupRun(core.GroupFirst, groupRace)},
	{"group-first-refuse-all", 2, pick{group: true}, groupRun(core.GroupFirst, groupRefuseAll)},
	{"group-first-cancel-vs-accept", 2, pick{group: true}, groupRun(core.GroupFirst, groupCancelAccept)},
	{"group-all-mixed", 2, pick{group: true}, groupRun(core.GroupAll, groupMixed)},
	{"group-all-rings-out", 2, pick{group: true}, groupRun(core.GroupAll, groupRingOut)},
}

func acceptFlow(f *flow) {
	f.allow(DecAccepted)
	if !f.send(f.long()) {
		return
	}
	r, _ := f.pickRinger()
	inv := f.invite(r)
	if f.intN(2) == 0 {
		f.receivedOrEnd()
	}
	f.answer(r, inv, true)
}

func refuseFlow(f *flow) {
	f.allow(DecRefused)
	if !f.send(f.long()) {
		return
	}
	r, _ := f.pickRinger()
	inv := f.invite(r)
	f.answer(r, inv, false)
}

func cancelBeforeReceipt(f *flow) {
	f.allow(DecCanceled)
	if f.send(f.long()) {
		f.cancel()
	}
}

func cancelAfterReceipt(f *flow) {
	f.allow(DecCanceled)
	if f.send(f.long()) {
		f.receivedOrEnd()
		f.cancel()
	}
}

// expireFlow lets the invitation ring out: mostly with the node's short
// default timeout, sometimes with the shortest one a client may ask (1 s).
func expireFlow(f *flow) {
	f.allow(DecExpired)
	timeout := time.Duration(0)
	if f.intN(10) == 0 {
		timeout = time.Second
	}
	f.send(timeout)
}

func offlineFlow(f *flow) {
	f.allow(DecCalleeGone)
	f.send(f.long())
}

func cancelVsAnswer(accept bool) func(f *flow) {
	return func(f *flow) {
		f.allow(DecCanceled, DecAccepted, DecRefused)
		if !f.send(f.long()) {
			return
		}
		r, _ := f.pickRinger()
		inv := f.invite(r)
		both(f.cancel, func() { f.answer(r, inv, accept) })
	}
}

// answerVsExpiry answers around the moment the invitation expires (the
// node's default timeout), give or take a fifth of it.
func answerVsExpiry(f *flow) {
	f.allow(DecAccepted, DecRefused, DecExpired)
	if !f.send(0) {
		return
	}
	r, _ := f.pickRinger()
	inv := f.invite(r)
	exp := f.h.cfg.ExpiryTimeout
	at := f.sentAt.Add(exp - exp/5 + time.Duration(f.int64N(int64(exp*2/5))))
	t := time.NewTimer(time.Until(at)) // think time, not a wait for an event
	select {
	case <-t.C:
	case <-f.ctx.Done():
	}
	t.Stop()
	f.answer(r, inv, f.intN(2) == 0)
}

// twoDevices makes two devices of the callee answer at once: both accept,
// or one accepts and the other refuses. Any other device gets
// ANSWERED_ELSEWHERE.
func twoDevices(bothAccept bool) func(f *flow) {
	return func(f *flow) {
		f.allow(DecAccepted, DecRefused)
		if !f.send(f.long()) {
			return
		}
		a, _ := f.pickRinger()
		b, ok := f.pickRinger(a)
		if !ok {
			f.problem("the callee has one device only")
			return
		}
		ia, ib := f.invite(a), f.invite(b)
		both(func() { f.answer(a, ia, true) }, func() { f.answer(b, ib, bothAccept) })
	}
}

// calleeGoneBeforeSend logs every device of the callee out or closes them,
// then calls: PEER_OFFLINE at once. The devices come back afterwards; if
// the server had not yet ended the old sessions, the invitation is still
// pending and a device that comes back rings late: it refuses.
func calleeGoneBeforeSend(f *flow) {
	f.allow(DecCalleeGone, DecRefused)
	devs := f.callee.online()
	for _, d := range devs {
		how := LeftClose
		if f.intN(2) == 0 {
			how = LeftLogout
		}
		f.leave(d, d.s.key, how)
	}
	f.send(f.long())
	for _, d := range devs {
		if r, ok := f.back(d); ok {
			f.answer(r, f.lateInvite(r), false)
		}
	}
}

// calleeLeaves makes one ringing device leave (before or after its invite
// arrives), then another device, if any, accepts; otherwise the caller
// sees PEER_OFFLINE. A closed device comes back as a new client, unless it
// is one of the few that never come back. Coming back while the
// invitation is pending (a cut session waits out its grace period), it
// rings late: it accepts if it is the only device, else the other
// device's accept ends it there.
func calleeLeaves(how Leave) func(f *flow) {
	return func(f *flow) {
		f.allow(DecAccepted, DecCalleeGone)
		if !f.send(f.long()) {
			return
		}
		r, _ := f.pickRinger()
		if f.intN(2) == 0 {
			f.invite(r)
		}
		f.leave(r.d, r.key, how)
		var lateInv *core.RemoteInvitation
		late, back := ringer{}, false
		if how == LeftLogout || !f.h.neverBack(f, r.d) {
			if late, back = f.back(r.d); back {
				lateInv = f.lateInvite(late)
			}
		}
		if o, ok := f.pickRinger(r); ok {
			f.answer(o, f.invite(o), true)
		} else if back {
			f.answer(late, lateInv, true)
		}
	}
}

// closeWhileAccepting closes a device while its accept is in flight; the
// caller then cancels if the invitation still rings elsewhere (or on the
// device, back and rung late, which lets it ring).
func closeWhileAccepting(f *flow) {
	f.allow(DecAccepted, DecCanceled, DecCalleeGone)
	if !f.send(f.long()) {
		return
	}
	r, _ := f.pickRinger()
	inv := f.invite(r)
	both(func() { f.answer(r, inv, true) }, func() { f.leave(r.d, r.key, LeftClose) })
	if late, ok := f.back(r.d); ok {
		f.lateInvite(late)
	}
	f.cancel()
}

// callerLeaves makes the caller leave right after the send or after the
// receipt: the devices get PEER_OFFLINE.
func callerLeaves(how Leave) func(f *flow) {
	return func(f *flow) {
		f.allow(DecCallerLeft)
		if !f.send(f.long()) {
			return
		}
		if f.intN(2) == 0 {
			f.receivedOrEnd()
		}
		f.leave(f.caller, Caller, how)
		f.back(f.caller)
	}
}

func callerClosesVsAccept(f *flow) {
	f.allow(DecCallerLeft, DecAccepted)
	if !f.send(f.long()) {
		return
	}
	r, _ := f.pickRinger()
	inv := f.invite(r)
	both(func() { f.leave(f.caller, Caller, LeftClose) }, func() { f.answer(r, inv, true) })
	f.back(f.caller)
}

// calleeResumes cuts the connection of a ringing device, which answers
// either at once (the operation is held until the session resumes) or
// after the resume.
func calleeResumes(f *flow) {
	f.allow(DecAccepted, DecRefused)
	if !f.send(f.long()) {
		return
	}
	r, _ := f.pickRinger()
	inv := f.invite(r)
	accept := f.intN(3) != 0
	answer := func() { f.answer(r, inv, accept) }
	if f.intN(2) == 0 {
		f.resume(r.d, r.key, answer) // answers while reconnecting
		return
	}
	f.resume(r.d, r.key, nil)
	answer()
}

// callerResumesAnswered cuts the caller's connection; a device answers
// while the caller reconnects: the caller gets the answer on resume,
// exactly once.
func callerResumesAnswered(f *flow) {
	f.allow(DecAccepted, DecRefused)
	if !f.send(f.long()) {
		return
	}
	r, _ := f.pickRinger()
	inv := f.invite(r)
	accept := f.intN(2) == 0
	f.resume(f.caller, Caller, func() { f.answer(r, inv, accept) })
}

// callerResumesCancels cuts the caller's connection and cancels at once:
// the cancel is held and sent on resume.
func callerResumesCancels(f *flow) {
	f.allow(DecCanceled)
	if !f.send(f.long()) {
		return
	}
	if f.intN(2) == 0 {
		f.receivedOrEnd()
	}
	f.resume(f.caller, Caller, f.cancel)
}

// messagesAcrossResume accepts, then the caller sends peer messages to the
// callee user before, during and after a cut connection on either side,
// which resumes: every callee session gets each message once, in order.
func messagesAcrossResume(f *flow) {
	f.allow(DecAccepted)
	if !f.send(f.long()) {
		return
	}
	r, _ := f.pickRinger()
	f.answer(r, f.invite(r), true)
	f.messages(1 + f.intN(5))
	hold := func() { f.messages(1 + f.intN(5)) }
	if f.intN(2) == 0 {
		f.resume(r.d, r.key, hold)
	} else {
		f.resume(f.caller, Caller, hold)
	}
	f.messages(1 + f.intN(5))
	var short []string // named in the problem: the sessions still missing a message
	f.h.book.mu.Lock()
	n := len(f.e.rec.Messages)
	f.h.book.mu.Unlock()
	f.waitFor(func() string { return fmt.Sprintf("full set of the %d messages on %v", n, short) }, func(e *entry) bool {
		short = short[:0]
		for _, x := range f.ringers {
			if len(e.rec.Got[x.key]) < len(e.rec.Messages) && !f.drains.drained(x.key) {
				short = append(short, x.key)
			}
		}
		return len(short) == 0
	}, true)
}
