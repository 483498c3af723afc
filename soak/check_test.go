//go:build !js

package soak

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
)

// rec builds a Record from events written as (party, kind, reason).
func rec(expected []string, allowed []DecisionKind, left map[string]Leave, evs ...any) *Record {
	r := &Record{Flow: 7, Action: "test", Inv: "inv", Callee: "u1", Expected: expected, Allowed: allowed, Left: left,
		Content: "hi", Channel: "room"}
	for i := 0; i < len(evs); i += 3 {
		e := Event{Seq: uint64(i + 1), Party: evs[i].(string), Kind: evs[i+1].(Kind), Reason: evs[i+2].(string)}
		switch {
		case e.Kind == KindInvite:
			e.Text = "hi|room"
		case e.Kind == KindCanceled && e.Party != Caller:
			e.Text = "hi"
		}
		r.Events = append(r.Events, e)
	}
	return r
}

const d1, d2 = "u1.d0#1", "u1.d1#1"

// died marks parties of r as lost with their node.
func died(r *Record, parties ...string) *Record {
	r.Died = append(r.Died, parties...)
	return r
}

// drained marks callee devices of r as on a node that began to drain.
func drained(r *Record, parties ...string) *Record {
	r.Drained = append(r.Drained, parties...)
	return r
}

// reset marks devices of r as across a reset pair from the caller.
func reset(r *Record, parties ...string) *Record {
	r.Reset = append(r.Reset, parties...)
	return r
}

// late adds late logins to r.
func late(r *Record, ls ...LateLogin) *Record {
	r.Late = append(r.Late, ls...)
	return r
}

var two = []string{d1, d2}

// TestCheck proves that the checker accepts the protocol's outcomes and
// catches each kind of broken invariant: a checker that passes everything
// would make the soak worthless.
func TestCheck(t *testing.T) {
	acceptedByD1 := []any{
		d1, KindInvite, "", d2, KindInvite, "", Caller, KindReceived, "",
		d1, KindAccepted, "", d2, KindFailure, "ANSWERED_ELSEWHERE", Caller, KindAccepted, "",
	}
	tests := []struct {
		name string
		r    *Record
		ops  []Op
		want []string // the What of each violation, in order
	}{
		{name: "accepted on one device, answered elsewhere on the other",
			r: rec(two, []DecisionKind{DecAccepted}, nil, acceptedByD1...),
			ops: []Op{{Party: d1, Name: "accept", State: "ACCEPTED", Ended: true},
				{Party: d2, Name: "accept", Code: protocol.CodeAlreadyEnd, State: "FAILURE", Ended: true}}},
		{name: "canceled everywhere",
			r: rec(two, []DecisionKind{DecCanceled}, nil, d1, KindInvite, "", d2, KindInvite, "",
				Caller, KindCanceled, "", d1, KindCanceled, "", d2, KindCanceled, "")},
		{name: "offline callee rings nobody",
			r: rec(nil, []DecisionKind{DecCalleeGone}, nil, Caller, KindFailure, "PEER_OFFLINE")},
		{name: "expired on both ends",
			r: rec(two, []DecisionKind{DecExpired}, nil, d1, KindInvite, "", d2, KindInvite, "", Caller, KindReceived, "",
				Caller, KindFailure, "INVITATION_EXPIRE", d1, KindFailure, "INVITATION_EXPIRE", d2, KindFailure, "INVITATION_EXPIRE")},
		{name: "no response: devices expire",
			r: rec([]string{d1}, []DecisionKind{DecNoResponse}, nil, d1, KindInvite, "",
				Caller, KindFailure, "PEER_NO_RESPONSE", d1, KindFailure, "INVITATION_EXPIRE")},
		{name: "the caller closed: its own UNKNOWN, the devices PEER_OFFLINE",
			r: rec([]string{d1}, []DecisionKind{DecCallerLeft}, map[string]Leave{Caller: LeftClose}, d1, KindInvite, "",
				Caller, KindFailure, "UNKNOWN", d1, KindFailure, "PEER_OFFLINE")},
		{name: "the caller logged out: NOT_LOGGEDIN",
			r: rec([]string{d1}, []DecisionKind{DecCallerLeft}, map[string]Leave{Caller: LeftLogout}, d1, KindInvite, "",
				Caller, KindFailure, "NOT_LOGGEDIN", d1, KindFailure, "PEER_OFFLINE")},
		{name: "the only device closed while accepting: caller accepted, device ACCEPT_FAILURE",
			r: rec([]string{d1}, []DecisionKind{DecAccepted}, map[string]Leave{d1: LeftClose}, d1, KindInvite, "",
				d1, KindFailure, "ACCEPT_FAILURE", Caller, KindAccepted, "")},
		{name: "a device that closed before its invite arrived",
			r: rec(two, []DecisionKind{DecAccepted}, map[string]Leave{d2: LeftClose}, d1, KindInvite, "",
				d1, KindAccepted, "", Caller, KindAccepted, "")},
		{name: "every device left: PEER_OFFLINE",
			r: rec(two, []DecisionKind{DecCalleeGone}, map[string]Leave{d1: LeftLogout, d2: LeftDrop}, d1, KindInvite, "", d2, KindInvite, "",
				d1, KindFailure, "UNKNOWN", d2, KindFailure, "UNKNOWN", Caller, KindFailure, "PEER_OFFLINE")},

		{name: "lost: a device that stayed has no terminal event",
			r:    rec(two, nil, nil, d1, KindInvite, "", d2, KindInvite, "", d1, KindCanceled, "", Caller, KindCanceled, ""),
			want: []string{"lost"}},
		{name: "lost: a device that stayed never got the invite",
			r:    rec(two, nil, nil, d1, KindInvite, "", d1, KindCanceled, "", Caller, KindCanceled, ""),
			want: []string{"lost"}},
		{name: "a device whose node drained was held back and missed an invite that ended first",
			r: drained(rec(two, []DecisionKind{DecCanceled}, nil, d1, KindInvite, "", d1, KindCanceled, "", Caller, KindCanceled, ""),
				d2)},
		// The flow stops waiting for a drained device not rung yet; its late
		// ring on its new node may come before the check, its end after
		// (excused by book.close). One rung earlier that never ends keeps
		// the flow waiting: a driver violation.
		{name: "a device whose node drained rang late as the flow was checked: its end comes after",
			r: drained(rec(two, nil, nil, d1, KindInvite, "", d2, KindInvite, "", d1, KindCanceled, "", Caller, KindCanceled, ""),
				d2)},
		{name: "lost: the caller has no terminal event",
			r:    rec([]string{d1}, nil, nil, d1, KindInvite, "", d1, KindCanceled, ""),
			want: []string{"lost"}},
		{name: "a session of the callee that logged in after the send rang (late ringing)",
			r: late(rec([]string{d1}, nil, nil, d1, KindInvite, "", d2, KindInvite, "",
				d1, KindCanceled, "", d2, KindCanceled, "", Caller, KindCanceled, ""), LateLogin{d2, 2, 3})},
		{name: "a late session that logged in after the winning operation began need not ring",
			r: late(rec([]string{d1}, nil, nil, d1, KindInvite, "", d1, KindAccepted, "", Caller, KindAccepted, ""),
				LateLogin{d2, 4, 5}),
			ops: []Op{{Party: d1, Name: "accept", State: "ACCEPTED", Ended: true, Began: 3}}},
		{name: "lost: a late session that logged in before the winning operation began never rang",
			r: late(rec([]string{d1}, nil, nil, d1, KindInvite, "", d1, KindAccepted, "", Caller, KindAccepted, ""),
				LateLogin{d2, 1, 2}),
			ops:  []Op{{Party: d1, Name: "accept", State: "ACCEPTED", Ended: true, Began: 3}},
			want: []string{"lost"}},
		{name: "lost: a late session that rang has no terminal event",
			r: late(rec([]string{d1}, nil, nil, d1, KindInvite, "", d2, KindInvite, "",
				d1, KindCanceled, "", Caller, KindCanceled, ""), LateLogin{d2, 2, 3}),
			want: []string{"lost"}},
		{name: "a late session's end must agree",
			r: late(rec([]string{d1}, nil, nil, d1, KindInvite, "", d2, KindInvite, "",
				d1, KindCanceled, "", d2, KindFailure, "ANSWERED_ELSEWHERE", Caller, KindCanceled, ""), LateLogin{d2, 2, 3}),
			want: []string{"disagree"}},
		{name: "disagree: PEER_OFFLINE while a late session rang",
			r: late(rec([]string{d1}, nil, map[string]Leave{d1: LeftClose}, d1, KindInvite, "", d2, KindInvite, "",
				d1, KindFailure, "UNKNOWN", d2, KindFailure, "PEER_OFFLINE", Caller, KindFailure, "PEER_OFFLINE"), LateLogin{d2, 2, 3}),
			want: []string{"disagree"}},
		{name: "unexpected invite: a session of the callee that did not log in during the flow",
			r: rec([]string{d1}, nil, nil, d1, KindInvite, "", d2, KindInvite, "",
				d1, KindCanceled, "", d2, KindCanceled, "", Caller, KindCanceled, ""),
			want: []string{"unexpected invite"}},
		{name: "unexpected invite: a session that logged in after the caller's end rang",
			r: late(rec([]string{d1}, nil, nil, d1, KindInvite, "", Caller, KindCanceled, "", d1, KindCanceled, "",
				d2, KindInvite, "", d2, KindCanceled, ""), LateLogin{d2, 5, 6}),
			want: []string{"unexpected invite"}},
		{name: "a session of another user rang",
			r: rec([]string{d1}, nil, nil, d1, KindInvite, "", "u2.d0#1", KindInvite, "",
				d1, KindCanceled, "", "u2.d0#1", KindCanceled, "", Caller, KindCanceled, ""),
			want: []string{"unexpected invite"}},
		{name: "a terminal event delivered twice",
			r:    rec([]string{d1}, nil, nil, d1, KindInvite, "", d1, KindCanceled, "", d1, KindCanceled, "", Caller, KindCanceled, ""),
			want: []string{"after end"}},
		{name: "the invite delivered twice",
			r:    rec([]string{d1}, nil, nil, d1, KindInvite, "", d1, KindInvite, "", d1, KindCanceled, "", Caller, KindCanceled, ""),
			want: []string{"twice"}},
		{name: "received-by-peer twice",
			r:    rec([]string{d1}, nil, nil, d1, KindInvite, "", Caller, KindReceived, "", Caller, KindReceived, "", d1, KindCanceled, "", Caller, KindCanceled, ""),
			want: []string{"twice"}},
		{name: "received-by-peer after the end",
			r:    rec([]string{d1}, nil, nil, d1, KindInvite, "", d1, KindCanceled, "", Caller, KindCanceled, "", Caller, KindReceived, ""),
			want: []string{"after end"}},
		{name: "a device event before its invite",
			r:    rec([]string{d1}, nil, nil, d1, KindCanceled, "", Caller, KindCanceled, ""),
			want: []string{"order", "lost"}},
		{name: "disagree: caller accepted, device canceled",
			r:    rec([]string{d1}, nil, nil, d1, KindInvite, "", d1, KindCanceled, "", Caller, KindAccepted, ""),
			want: []string{"disagree"}},
		{name: "disagree: two devices accepted",
			r: rec(two, nil, nil, d1, KindInvite, "", d2, KindInvite, "",
				d1, KindAccepted, "", d2, KindAccepted, "", Caller, KindAccepted, ""),
			want: []string{"disagree"}},
		{name: "disagree: the other device was not told",
			r: rec(two, nil, nil, d1, KindInvite, "", d2, KindInvite, "",
				d1, KindAccepted, "", d2, KindFailure, "INVITATION_EXPIRE", Caller, KindAccepted, ""),
			want: []string{"disagree"}},
		{name: "disagree: PEER_OFFLINE while a device stayed",
			r:    rec([]string{d1}, nil, nil, d1, KindInvite, "", d1, KindFailure, "UNKNOWN", Caller, KindFailure, "PEER_OFFLINE"),
			want: []string{"disagree"}},
		{name: "disagree: PEER_NO_RESPONSE after received-by-peer",
			r: rec([]string{d1}, nil, nil, d1, KindInvite, "", Caller, KindReceived, "",
				Caller, KindFailure, "PEER_NO_RESPONSE", d1, KindFailure, "INVITATION_EXPIRE"),
			want: []string{"disagree"}},
		{name: "disagree: a resumed device must see the real outcome",
			r: rec([]string{d1}, nil, map[string]Leave{d1: LeftResumed}, d1, KindInvite, "",
				d1, KindFailure, "UNKNOWN", Caller, KindCanceled, ""),
			want: []string{"disagree"}},
		{name: "disagree: accept returned ok but the caller saw a refusal",
			r:    rec([]string{d1}, nil, nil, d1, KindInvite, "", d1, KindRefused, "", Caller, KindRefused, ""),
			ops:  []Op{{Party: d1, Name: "accept", State: "REFUSED", Ended: true}},
			want: []string{"disagree"}},
		{name: "unexpected outcome for the action",
			r:    rec([]string{d1}, []DecisionKind{DecAccepted}, nil, d1, KindInvite, "", d1, KindCanceled, "", Caller, KindCanceled, ""),
			want: []string{"unexpected outcome"}},
		{name: "ALREADY_END before the winner's event",
			r:    rec([]string{d1}, nil, nil, d1, KindInvite, "", d1, KindCanceled, "", Caller, KindCanceled, ""),
			ops:  []Op{{Party: d1, Name: "accept", Code: protocol.CodeAlreadyEnd, State: "INVITATION_RECEIVED"}},
			want: []string{"order"}},
		{name: "NOT_CONNECTED from a party that stayed",
			r:    rec([]string{d1}, nil, nil, d1, KindInvite, "", d1, KindCanceled, "", Caller, KindCanceled, ""),
			ops:  []Op{{Party: Caller, Name: "cancel", Code: protocol.CodeNotConnected, State: "CANCELED", Ended: true}},
			want: []string{"op error"}},
		{name: "payload: the invite lost its content",
			r: func() *Record {
				r := rec([]string{d1}, nil, nil, d1, KindInvite, "", d1, KindCanceled, "", Caller, KindCanceled, "")
				r.Events[0].Text = "|room"
				return r
			}(),
			want: []string{"payload"}},
		{name: "payload: the caller got another response",
			r: func() *Record {
				r := rec([]string{d1}, nil, nil, d1, KindInvite, "", d1, KindAccepted, "", Caller, KindAccepted, "")
				r.Events[2].Text = "nope"
				return r
			}(),
			ops:  []Op{{Party: d1, Name: "accept", State: "ACCEPTED", Ended: true, Response: "on my way"}},
			want: []string{"payload"}},
		{name: "a call that ended once on both sides",
			r: func() *Record {
				r := rec([]string{d1}, nil, nil, d1, KindInvite, "", d1, KindAccepted, "", Caller, KindAccepted, "")
				r.CallEnded, r.CallEnds = true, []CallEnd{{Caller, "HANGUP", "alice"}, {d1, "HANGUP", "alice"}}
				return r
			}(),
			ops: []Op{{Party: d1, Name: "accept", State: "ACCEPTED", Ended: true}}},
		{name: "call: a side whose call never ended, and sides that disagree on who hung up",
			r: func() *Record {
				r := rec([]string{d1}, nil, nil, d1, KindInvite, "", d1, KindAccepted, "", Caller, KindAccepted, "")
				r.CallEnded, r.CallEnds = true, []CallEnd{{Caller, "HANGUP", "alice"}, {Caller, "HANGUP", "bob"}}
				return r
			}(),
			ops:  []Op{{Party: d1, Name: "accept", State: "ACCEPTED", Ended: true}},
			want: []string{"call", "call", "call"}},
		{name: "message: lost and doubled on a session that resumed",
			r: func() *Record {
				r := rec([]string{d1}, nil, map[string]Leave{d1: LeftResumed}, d1, KindInvite, "", d1, KindRefused, "", Caller, KindRefused, "")
				r.Messages, r.Got = []string{"a", "b"}, map[string][]string{d1: {"a", "a"}}
				return r
			}(),
			ops:  []Op{{Party: d1, Name: "refuse", State: "REFUSED", Ended: true}},
			want: []string{"message"}},
		{name: "message: a device whose node drained missed those sent while it moved",
			r: func() *Record {
				r := drained(rec([]string{d1}, nil, nil, d1, KindInvite, "", d1, KindRefused, "", Caller, KindRefused, ""), d1)
				r.Messages, r.Got = []string{"a", "b", "c"}, map[string][]string{d1: {"a", "c"}}
				return r
			}(),
			ops: []Op{{Party: d1, Name: "refuse", State: "REFUSED", Ended: true}}},
		{name: "message: a device whose node drained got one out of order",
			r: func() *Record {
				r := drained(rec([]string{d1}, nil, nil, d1, KindInvite, "", d1, KindRefused, "", Caller, KindRefused, ""), d1)
				r.Messages, r.Got = []string{"a", "b", "c"}, map[string][]string{d1: {"c", "a"}}
				return r
			}(),
			ops:  []Op{{Party: d1, Name: "refuse", State: "REFUSED", Ended: true}},
			want: []string{"message"}},
		{name: "node death: the caller's node died after it canceled; the devices learn PEER_OFFLINE",
			r: died(rec(two, []DecisionKind{DecCanceled}, nil, d1, KindInvite, "", d2, KindInvite, "", Caller, KindCanceled, "",
				d1, KindFailure, "PEER_OFFLINE", d2, KindFailure, "PEER_OFFLINE"), Caller),
			ops: []Op{{Party: Caller, Name: "cancel", State: "CANCELED", Ended: true}}},
		{name: "disagree: the same without the node's death",
			r: rec(two, []DecisionKind{DecCanceled}, nil, d1, KindInvite, "", d2, KindInvite, "", Caller, KindCanceled, "",
				d1, KindFailure, "PEER_OFFLINE", d2, KindFailure, "PEER_OFFLINE"),
			ops:  []Op{{Party: Caller, Name: "cancel", State: "CANCELED", Ended: true}},
			want: []string{"disagree"}},
		{name: "node death: the only device's node died; its client's UNKNOWN, the caller's PEER_OFFLINE",
			r: died(rec([]string{d1}, []DecisionKind{DecAccepted}, nil, d1, KindInvite, "", d1, KindFailure, "UNKNOWN",
				Caller, KindFailure, "PEER_OFFLINE"), d1)},
		{name: "node death: the caller's node died after the device's accept won; its reply died with it",
			r: died(rec([]string{d1}, []DecisionKind{DecAccepted}, nil, d1, KindInvite, "", Caller, KindAccepted, "",
				d1, KindFailure, "PEER_OFFLINE"), Caller),
			ops: []Op{{Party: d1, Name: "accept", Code: protocol.CodeAlreadyEnd, State: "FAILURE", Ended: true}}},
		{name: "node death: the caller's node died before its invite reached a device",
			r: died(rec(two, []DecisionKind{DecAccepted}, nil, d1, KindInvite, "", Caller, KindFailure, "UNKNOWN",
				d1, KindFailure, "PEER_OFFLINE"), Caller)},
		{name: "node death: the caller logged out as its node died: its client's own end",
			r: died(rec([]string{d1}, []DecisionKind{DecCallerLeft}, map[string]Leave{Caller: LeftLogout}, d1, KindInvite, "",
				Caller, KindFailure, "UNKNOWN", d1, KindFailure, "PEER_OFFLINE"), Caller)},
		{name: "disagree: a logged-out caller's UNKNOWN without a node's death",
			r: rec([]string{d1}, []DecisionKind{DecCallerLeft}, map[string]Leave{Caller: LeftLogout}, d1, KindInvite, "",
				Caller, KindFailure, "UNKNOWN", d1, KindFailure, "PEER_OFFLINE"),
			want: []string{"disagree"}},
		{name: "node death: the caller closed, a device's accept won, then the invitation's node died before the other device heard",
			r: died(rec(two, []DecisionKind{DecAccepted}, map[string]Leave{Caller: LeftClose}, d1, KindInvite, "", Caller, KindFailure, "UNKNOWN",
				d2, KindInvite, "", d1, KindAccepted, "", d2, KindFailure, "PEER_OFFLINE"), Caller, d1),
			ops: []Op{{Party: d1, Name: "accept", State: "ACCEPTED", Ended: true}}},
		{name: "disagree: the same with only the accepting device's node (not the invitation's) dead",
			r: died(rec(two, []DecisionKind{DecAccepted}, map[string]Leave{Caller: LeftClose}, d1, KindInvite, "", Caller, KindFailure, "UNKNOWN",
				d2, KindInvite, "", d1, KindAccepted, "", d2, KindFailure, "PEER_OFFLINE"), d1),
			ops:  []Op{{Party: d1, Name: "accept", State: "ACCEPTED", Ended: true}},
			want: []string{"disagree"}},
		{name: "lost: a device on a live node still needs its end when another's node died",
			r: died(rec(two, []DecisionKind{DecAccepted}, nil, d1, KindInvite, "", d2, KindInvite, "", d1, KindFailure, "UNKNOWN",
				Caller, KindCanceled, ""), d1),
			ops:  []Op{{Party: Caller, Name: "cancel", State: "CANCELED", Ended: true}},
			want: []string{"lost"}},
		{name: "disagree: a device on a live node saw another device's win that its owner never decided",
			r: died(rec(two, nil, nil, d1, KindInvite, "", d2, KindInvite, "", d1, KindFailure, "UNKNOWN",
				d2, KindFailure, "ANSWERED_ELSEWHERE", Caller, KindCanceled, ""), d1),
			ops:  []Op{{Party: Caller, Name: "cancel", State: "CANCELED", Ended: true}},
			want: []string{"disagree"}},
		{name: "reset: the invite of a device across the pair was lost, the other device's accept won",
			r: reset(rec(two, []DecisionKind{DecAccepted}, nil, d1, KindInvite, "", Caller, KindReceived, "",
				d1, KindAccepted, "", Caller, KindAccepted, ""), d2),
			ops: []Op{{Party: d1, Name: "accept", State: "ACCEPTED", Ended: true}}},
		{name: "reset: every device rung was across, the caller PEER_OFFLINE, the devices PEER_OFFLINE",
			r: reset(rec(two, []DecisionKind{DecAccepted}, nil, d1, KindInvite, "", d2, KindInvite, "",
				Caller, KindFailure, "PEER_OFFLINE", d1, KindFailure, "PEER_OFFLINE", d2, KindFailure, "PEER_OFFLINE"), d1, d2)},
		{name: "reset: the settle gave up, the caller accepted, the winner PEER_OFFLINE and its accept ALREADY_END",
			r: reset(rec([]string{d1}, []DecisionKind{DecAccepted}, nil, d1, KindInvite, "",
				Caller, KindAccepted, "", d1, KindFailure, "PEER_OFFLINE"), d1),
			ops: []Op{{Party: d1, Name: "accept", Code: protocol.CodeAlreadyEnd, State: "FAILURE", Ended: true}}},
		{name: "lost: a reset excuses only the devices across it",
			r: reset(rec(two, []DecisionKind{DecAccepted}, nil, d2, KindInvite, "", Caller, KindReceived, "",
				d2, KindAccepted, "", Caller, KindAccepted, ""), d2),
			ops:  []Op{{Party: d2, Name: "accept", State: "ACCEPTED", Ended: true}},
			want: []string{"lost"}},
		{name: "disagree: the caller PEER_OFFLINE while a device not across the reset was canceled",
			r: reset(rec(two, nil, nil, d1, KindInvite, "", d2, KindInvite, "",
				Caller, KindFailure, "PEER_OFFLINE", d1, KindCanceled, "", d2, KindFailure, "PEER_OFFLINE"), d2),
			want: []string{"disagree"}},
		{name: "disagree: a device across a reset saw a win the owner never decided",
			r: reset(rec(two, nil, nil, d1, KindInvite, "", d2, KindInvite, "", Caller, KindCanceled, "",
				d1, KindCanceled, "", d2, KindFailure, "ANSWERED_ELSEWHERE"), d2),
			ops:  []Op{{Party: Caller, Name: "cancel", State: "CANCELED", Ended: true}},
			want: []string{"disagree"}},
		{name: "op error: a reset allows ALREADY_END, not UNKNOWN",
			r: reset(rec([]string{d1}, nil, nil, d1, KindInvite, "",
				Caller, KindFailure, "PEER_OFFLINE", d1, KindFailure, "PEER_OFFLINE"), d1),
			ops:  []Op{{Party: d1, Name: "accept", Code: protocol.CodeUnknown, State: "FAILURE", Ended: true}},
			want: []string{"op error"}},
		{name: "reset: a device that resumed across the pair never got its invite, the other device's accept won",
			r: reset(rec(two, []DecisionKind{DecAccepted}, map[string]Leave{d2: LeftResumed}, d1, KindInvite, "",
				Caller, KindReceived, "", d1, KindAccepted, "", Caller, KindAccepted, ""), d2),
			ops: []Op{{Party: d1, Name: "accept", State: "ACCEPTED", Ended: true}}},
		{name: "reset: a late session across the pair need not ring",
			r: reset(late(rec([]string{d1}, []DecisionKind{DecAccepted}, nil, d1, KindInvite, "", d1, KindAccepted, "",
				Caller, KindAccepted, ""), LateLogin{d2, 1, 2}), d2),
			ops: []Op{{Party: d1, Name: "accept", State: "ACCEPTED", Ended: true, Began: 3}}},
		{name: "drained: a late session whose node drained need not ring",
			r: drained(late(rec([]string{d1}, []DecisionKind{DecAccepted}, nil, d1, KindInvite, "", d1, KindAccepted, "",
				Caller, KindAccepted, ""), LateLogin{d2, 1, 2}), d2),
			ops: []Op{{Party: d1, Name: "accept", State: "ACCEPTED", Ended: true, Began: 3}}},
		{name: "a late session need not ring when the invitation's node died",
			r: died(late(rec([]string{d1}, nil, nil, d1, KindInvite, "", d1, KindAccepted, "", Caller, KindFailure, "UNKNOWN"),
				LateLogin{d2, 1, 2}), Caller),
			ops: []Op{{Party: d1, Name: "accept", State: "ACCEPTED", Ended: true, Began: 3}}},
		{name: "a driver problem is a violation",
			r:    &Record{Problems: []string{"no invite within 10s"}, Events: []Event{{Party: Caller, Kind: KindFailure, Reason: "PEER_OFFLINE"}}},
			want: []string{"driver"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.r.Ops = tt.ops
			viols, _ := Check(tt.r)
			var got []string
			for _, v := range viols {
				got = append(got, v.What)
			}
			assert.Equal(t, tt.want, got, "%v", viols)
		})
	}
}

func TestCheckDecisions(t *testing.T) {
	_, ds := Check(rec(two, nil, nil,
		d1, KindInvite, "", d2, KindInvite, "", d1, KindRefused, "", d2, KindFailure, "ANSWERED_ELSEWHERE", Caller, KindRefused, ""))
	assert.Equal(t, []Decision{{DecRefused, d1}}, ds)

	// A caller that closed cannot know; the devices still agree on one decision.
	_, ds = Check(rec([]string{d1}, nil, map[string]Leave{Caller: LeftClose},
		d1, KindInvite, "", d1, KindAccepted, "", Caller, KindFailure, "UNKNOWN"))
	assert.Equal(t, []Decision{{DecAccepted, d1}}, ds)
}

func TestOutcome(t *testing.T) {
	assert.Equal(t, "ACCEPTED_BY_REMOTE", Outcome(rec(nil, nil, nil, Caller, KindReceived, "", Caller, KindAccepted, "")))
	assert.Equal(t, "FAILURE PEER_OFFLINE", Outcome(rec(nil, nil, nil, Caller, KindFailure, "PEER_OFFLINE")))
	assert.Equal(t, "NONE", Outcome(rec(nil, nil, nil, Caller, KindReceived, "")))
}

// A hunt group whose callee ben had his only device on a node that died:
// ben fails PEER_OFFLINE, ann refuses, the caller ends refused. Without the
// death that failure is a violation; with it the flow holds, unless a side
// ends twice.
func TestCheckGroupHit(t *testing.T) {
	const ann, ben = "ann.d0#1", "ben.d0#1"
	group := func(died []string, benEnds int) *GroupRecord {
		r := &GroupRecord{Flow: 9, Action: "group-test", Inv: "g", Mode: core.GroupFirst, Callees: []string{"ann", "ben"},
			Expected: map[string][]string{"ann": {ann}, "ben": {ben}}, Died: died,
			Updates: []CalleeEvent{{Seq: 3, Callee: "ben", State: core.CalleeFailure, Reason: "PEER_OFFLINE"},
				{Seq: 5, Callee: "ann", State: core.CalleeRefused}},
			Caller: []Event{{Seq: 6, Party: Caller, Kind: KindRefused}},
			Devices: map[string][]Event{ann: {{Seq: 1, Party: ann, Kind: KindInvite}, {Seq: 4, Party: ann, Kind: KindRefused}},
				ben: {{Seq: 2, Party: ben, Kind: KindInvite}}},
			Ops: []Op{{Party: ann, Name: "refuse"}}}
		for i := range benEnds {
			r.Devices[ben] = append(r.Devices[ben], Event{Seq: uint64(7 + i), Party: ben, Kind: KindFailure, Reason: "UNKNOWN"})
		}
		return r
	}
	whats := func(vs []Violation) []string {
		var out []string
		for _, v := range vs {
			out = append(out, v.What)
		}
		return out
	}
	assert.Contains(t, whats(CheckGroup(group(nil, 1))), "callee outcome", "no death: PEER_OFFLINE is not allowed")
	assert.Empty(t, CheckGroup(group([]string{ben}, 1)), "ben lost with his node, his client ended it")
	assert.Empty(t, CheckGroup(group([]string{ben}, 0)), "ben lost with his node, rung, no end on the server's word")
	assert.Equal(t, []string{"device ends"}, whats(CheckGroup(group([]string{ben}, 2))))
}
