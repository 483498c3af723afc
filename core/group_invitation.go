package core

import (
	"maps"
	"slices"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// Group is what a group invitation's callee device learns of the group:
// the mode and every callee, itself among them. An app written for one
// callee may ignore it and answer as usual.
type Group struct {
	Mode    GroupMode
	Callees []string
}

// CalleeUpdate is one callee's event on a group invitation, as the caller
// sees it: the callee's new state, with the failure reason (FAILURE) or
// the answer text (ACCEPTED, REFUSED).
type CalleeUpdate struct {
	Callee   string
	State    CalleeState
	Reason   LocalFailureReason
	Response string
}

// localGroup is the group part of a LocalInvitation; guarded by the
// client's lock.
type localGroup struct {
	mode       GroupMode
	callees    []string
	states     map[string]CalleeState
	legs       map[string]struct{} // all: the callees the caller is in a call with
	acceptedBy string              // first: the callee who took it
	onCallee   func(CalleeUpdate)
	onLegEnded func(callee string, reason CallEndReason, by string)
}

// CreateGroupInvitation returns a new invitation to 2 to 16 distinct
// callees (a server may allow fewer), in state IDLE. In GroupFirst every
// device of every callee rings and the first accept wins; in GroupAll
// each callee answers for themselves and the caller is in a call with
// each who accepts (docs/PROTOCOL.md "Groups").
func (c *Client) CreateGroupInvitation(calleeIDs []string, mode GroupMode) (*LocalInvitation, error) {
	if err := protocol.ValidateGroup("", calleeIDs, string(mode)); err != nil {
		return nil, err
	}
	g := &localGroup{mode: mode, callees: slices.Clone(calleeIDs), states: make(map[string]CalleeState, len(calleeIDs)),
		legs: make(map[string]struct{})}
	for _, id := range calleeIDs {
		g.states[id] = CalleeIdle
	}
	l := &LocalInvitation{callSide: callSide{c: c}, c: c, group: g}
	l.leg = l.legEnded
	return l, nil
}

// Mode is the group's mode; empty for a one-callee invitation.
func (l *LocalInvitation) Mode() GroupMode {
	if l.group == nil {
		return ""
	}
	return l.group.mode // set once
}

// Callees is each callee's state, a copy; nil for a one-callee invitation.
func (l *LocalInvitation) Callees() map[string]CalleeState {
	if l.group == nil {
		return nil
	}
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	return maps.Clone(l.group.states)
}

// AcceptedBy is the callee who took a hunt group (GroupFirst), once accepted.
func (l *LocalInvitation) AcceptedBy() string {
	if l.group == nil {
		return ""
	}
	return get(l.c, &l.group.acceptedBy)
}

// InCallWith lists, sorted, the callees of a group call (GroupAll) the
// caller is in a call with now.
func (l *LocalInvitation) InCallWith() []string {
	if l.group == nil {
		return nil
	}
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	return slices.Sorted(maps.Keys(l.group.legs))
}

// OnCallee sets the callback for each callee's event on a group
// invitation. The last callback set wins; nil clears.
func (l *LocalInvitation) OnCallee(f func(CalleeUpdate)) {
	if l.group != nil {
		set(l.c, &l.group.onCallee, f)
	}
}

// OnCalleeCallEnded sets the callback for the end of the caller's call
// with one callee of a group call (GroupAll); the caller's call itself
// ends (OnCallEnded) once no callee is in it and none rings.
func (l *LocalInvitation) OnCalleeCallEnded(f func(callee string, reason CallEndReason, by string)) {
	if l.group != nil {
		set(l.c, &l.group.onLegEnded, f)
	}
}

// applyCallee follows a local.callee frame along NextCallee. The lock is held.
func (l *LocalInvitation) applyCallee(f *protocol.Frame) {
	g := l.group
	state := ParseCalleeState(f.State)
	ev, ok := CalleeEventTo(state)
	cur, known := g.states[f.Callee]
	if !ok || !known {
		l.c.logf("rtmcall: dropped local.callee %q %q on %s", f.Callee, f.State, l.id)
		return
	}
	next, err := NextCallee(cur, ev)
	if err != nil {
		l.c.logf("rtmcall: dropped local.callee on %s: %v", l.id, err)
		return
	}
	g.states[f.Callee] = next
	if next == CalleeAccepted {
		g.legs[f.Callee] = struct{}{}
		l.start(l.id) // the caller's call begins with the first accept
	}
	u := CalleeUpdate{Callee: f.Callee, State: next, Response: f.Response}
	if next == CalleeFailure {
		u.Reason = ParseLocalFailureReason(f.Reason)
	}
	c := l.c
	c.emit(func() { call1(c, &g.onCallee, u) })
}

// legEnded follows the end of the caller's call with one callee of a
// group call. The lock is held.
func (l *LocalInvitation) legEnded(callee string, reason CallEndReason, by string) {
	g := l.group
	delete(g.legs, callee)
	c := l.c
	c.emit(func() {
		if f := get(c, &g.onLegEnded); f != nil {
			f(callee, reason, by)
		}
	})
}

// Group is the group a callee device was rung for; nil for a one-callee
// invitation.
func (r *RemoteInvitation) Group() *Group { return r.group }

// AnsweredBy is the callee who took a hunt group, when this device's
// invitation failed with ANSWERED_BY_OTHER.
func (r *RemoteInvitation) AnsweredBy() string { return get(r.c, &r.answeredBy) }
