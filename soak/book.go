//go:build !js

package soak

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rtmcall/rtmcall/core"
)

// book records every callback of every client against its invitation. A
// callee device may see an invite before the caller's Send has returned
// the id, so device events go to an entry keyed by the id, which the flow
// adopts (bind) once it knows the id. One mutex guards it all: recording is
// a few appends, far from the bottleneck.
type book struct {
	h *harness

	mu     sync.Mutex
	seq    uint64
	byInv  map[string]*entry
	groups map[string]*gentry // running group flows, by the content their callees see (group.go)
	// diedSends are the contents of the invitations whose Send failed
	// with a node's death: the node may have rung devices before its
	// reply was lost (orphans).
	diedSends map[string]bool
}

// entry is one invitation's record while its flow runs. Once the flow has
// been checked the entry is closed: its events are dropped to save memory,
// and any event that still arrives is a violation (a duplicate or a late
// event).
type entry struct {
	rec     Record
	remotes map[string]*core.RemoteInvitation // by device session key
	notify  chan struct{}                     // one slot: an event was recorded
	bound   bool                              // a flow owns it
	closed  bool
	// excused, once closed, are the devices of Record.Drained that had
	// seen no end: a late ring on their new node, or its end, may still
	// come, and is not checked (docs/CLUSTER.md "Drain and rolling restart").
	excused map[string]bool
	lastEnd time.Time // when the last terminal event was recorded
	// barriers are the callee sessions that got the flow's barrier message
	// (flow.barrier): every callback they had before it has run.
	barriers map[string]bool
}

// barrierPrefix starts the text of a barrier message: "barrier <inv>".
const barrierPrefix = "barrier"

func newBook(h *harness) *book {
	return &book{h: h, byInv: make(map[string]*entry), groups: make(map[string]*gentry), diedSends: make(map[string]bool)}
}

func newEntry() *entry {
	return &entry{remotes: make(map[string]*core.RemoteInvitation), notify: make(chan struct{}, 1),
		rec: Record{Left: make(map[string]Leave)}}
}

// addLocked appends an event to e. The lock is held.
func (b *book) addLocked(e *entry, party string, kind Kind, reason, text string) {
	b.seq++
	ev := Event{Seq: b.seq, Party: party, Kind: kind, Reason: reason, Text: text}
	if e.closed {
		if e.excused[party] {
			b.h.count("events of a drained device after its flow was checked")
			return
		}
		b.h.violate(Violation{Flow: e.rec.Flow, Action: e.rec.Action, Inv: e.rec.Inv, What: "late",
			Detail: fmt.Sprintf("%s arrived after every party had ended and the flow was checked", ev)})
		return
	}
	e.rec.Events = append(e.rec.Events, ev)
	if kind.terminal() {
		e.lastEnd = time.Now()
	}
	select {
	case e.notify <- struct{}{}:
	default:
	}
}

// callerEvent records a callback of the caller's LocalInvitation.
func (b *book) callerEvent(e *entry, kind Kind, reason, text string) {
	b.mu.Lock()
	b.addLocked(e, Caller, kind, reason, text)
	b.mu.Unlock()
}

// entryLocked returns the entry of inv, making an unbound one if needed.
func (b *book) entryLocked(inv string) *entry {
	e := b.byInv[inv]
	if e == nil {
		e = newEntry()
		e.rec.Inv = inv
		b.byInv[inv] = e
	}
	return e
}

// invite records RemoteInvitationReceived on the device session key and
// hooks the invitation's own callbacks. It runs inside the client's
// OnInvitationReceived callback, so no later event of r can be missed.
func (b *book) invite(key string, r *core.RemoteInvitation) {
	if r.Group() != nil {
		b.groupInvite(key, r)
		return
	}
	inv := r.ID()
	b.mu.Lock()
	e := b.entryLocked(inv)
	if _, dup := e.remotes[key]; !dup && !e.closed {
		e.remotes[key] = r
	}
	b.addLocked(e, key, KindInvite, "", r.Content()+"|"+r.ChannelID())
	b.mu.Unlock()
	ev := func(kind Kind, reason, text string) {
		b.mu.Lock()
		b.addLocked(b.entryLocked(inv), key, kind, reason, text)
		b.mu.Unlock()
	}
	r.OnAccepted(func() { ev(KindAccepted, "", "") })
	r.OnRefused(func() { ev(KindRefused, "", "") })
	r.OnCanceled(func(content string) { ev(KindCanceled, "", content) })
	r.OnFailure(func(reason core.RemoteFailureReason) { ev(KindFailure, reason.String(), "") })
	r.OnCallEnded(func(reason core.CallEndReason, by string) {
		b.mu.Lock()
		b.callEndLocked(b.entryLocked(inv), key, reason, by)
		b.mu.Unlock()
	})
}

// callEndLocked records a CallEnded callback; one after the check is late.
func (b *book) callEndLocked(e *entry, party string, reason core.CallEndReason, by string) {
	end := CallEnd{Party: party, Reason: reason.String(), By: by}
	if e.closed && !e.excused[party] {
		b.h.violate(Violation{Flow: e.rec.Flow, Action: e.rec.Action, Inv: e.rec.Inv, What: "late",
			Detail: fmt.Sprintf("call end %+v arrived after the flow was checked", end)})
		return
	}
	if e.closed {
		return
	}
	e.rec.CallEnds = append(e.rec.CallEnds, end)
	select {
	case e.notify <- struct{}{}:
	default:
	}
}

// message records a peer message a callee session received; those of a
// flow's invitation carry its id as their prefix.
func (b *book) message(key string, m core.Message) {
	inv, _, ok := strings.Cut(m.Text, " ")
	if !ok {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if inv == barrierPrefix {
		if e := b.byInv[strings.TrimPrefix(m.Text, barrierPrefix+" ")]; e != nil && !e.closed {
			if e.barriers == nil {
				e.barriers = make(map[string]bool)
			}
			e.barriers[key] = true
			select {
			case e.notify <- struct{}{}:
			default:
			}
		}
		return
	}
	e := b.byInv[inv]
	if e == nil || e.closed {
		return // not a flow's (or its flow was checked: counted there as lost or doubled)
	}
	if e.rec.Got == nil {
		e.rec.Got = make(map[string][]string)
	}
	e.rec.Got[key] = append(e.rec.Got[key], m.Text)
	select {
	case e.notify <- struct{}{}:
	default:
	}
}

// bind gives the flow's entry the invitation id Send returned, adopting
// the device events that came first.
func (b *book) bind(e *entry, inv string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e.rec.Inv = inv
	if t := b.byInv[inv]; t != nil {
		if t.bound {
			b.h.violate(Violation{Flow: e.rec.Flow, Action: e.rec.Action, Inv: inv, What: "duplicate id",
				Detail: fmt.Sprintf("Send returned the id of flow %d's invitation", t.rec.Flow)})
			return
		}
		e.rec.Events = append(e.rec.Events, t.rec.Events...)
		if t.lastEnd.After(e.lastEnd) {
			e.lastEnd = t.lastEnd
		}
		e.rec.CallEnds = append(e.rec.CallEnds, t.rec.CallEnds...)
		for k, r := range t.remotes {
			e.remotes[k] = r
		}
	}
	e.bound = true
	b.byInv[inv] = e
	select {
	case e.notify <- struct{}{}:
	default:
	}
}

// now is the sequence number of the last event recorded: events recorded
// from now on have higher ones.
func (b *book) now() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seq
}

// look runs f on e under the lock.
func (b *book) look(e *entry, f func(e *entry) bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return f(e)
}

// close takes a snapshot of e for the checker and closes it. drained are
// the parties whose node began to drain during the flow.
func (b *book) close(e *entry, drained func(key string) bool) Record {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, key := range e.rec.Expected {
		if drained(key) && !slices.ContainsFunc(e.rec.Events, func(ev Event) bool { return ev.Party == key && ev.Kind.terminal() }) {
			if e.excused == nil {
				e.excused = map[string]bool{}
			}
			e.excused[key] = true
		}
	}
	rec := e.rec
	rec.Events = append([]Event(nil), e.rec.Events...)
	e.closed = true
	e.rec = Record{Flow: rec.Flow, Action: rec.Action, Inv: rec.Inv}
	e.remotes = nil
	return rec
}

// orphans reports invitations that devices saw but no flow sent.
func (b *book) orphans() []Violation {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Violation
	for inv, e := range b.byInv {
		if !e.bound && b.sendDied(e) {
			b.h.count("invitations rung whose send died with its node")
		} else if !e.bound {
			out = append(out, Violation{Flow: -1, What: "orphan",
				Detail: fmt.Sprintf("invitation %s rang %d device(s) but no flow sent it: %v", inv, len(e.remotes), e.rec.Events)})
		}
	}
	return out
}

// diedSend records that the Send of an invitation with content failed
// because a party's node died.
func (b *book) diedSend(content string) {
	b.mu.Lock()
	b.diedSends[content] = true
	b.mu.Unlock()
}

// sendDied reports whether e, an invitation no flow bound, is one whose
// Send failed with its node (diedSend). The lock is held.
func (b *book) sendDied(e *entry) bool {
	for _, ev := range e.rec.Events {
		if content, _, _ := strings.Cut(ev.Text, "|"); ev.Kind == KindInvite && b.diedSends[content] {
			return true
		}
	}
	return false
}
