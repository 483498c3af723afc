package core

import "fmt"

// GroupMode says who gets a group invitation's call: GroupFirst (a hunt
// group: the first accept wins) or GroupAll (a group call: each callee
// answers for themselves).
type GroupMode string

const (
	GroupFirst GroupMode = "first"
	GroupAll   GroupMode = "all"
)

// CalleeState is one callee's state on a group invitation, as its caller
// sees it.
type CalleeState uint8

const (
	CalleeIdle     CalleeState = iota // not sent yet
	CalleeRinging                     // sent: the callee's devices ring (or it is about to fail)
	CalleeReceived                    // a device of the callee acknowledged receipt
	CalleeAccepted
	CalleeRefused
	// CalleeCanceled: the caller canceled, or (hunt group) another callee took it.
	CalleeCanceled
	CalleeFailure
)

var calleeStateNames = []string{"IDLE", "RINGING", "RECEIVED", "ACCEPTED", "REFUSED", "CANCELED", "FAILURE"}

func (s CalleeState) String() string { return enumName(s, calleeStateNames) }

// ParseCalleeState maps a wire string to a state; unknown strings give IDLE.
func ParseCalleeState(s string) CalleeState { return parseEnum[CalleeState](s, calleeStateNames) }

// Ended reports whether s is terminal: the callee has an outcome.
func (s CalleeState) Ended() bool { return s >= CalleeAccepted }

// CalleeEvent is an input to one callee's machine: the send, or what the
// server decided for that callee.
type CalleeEvent uint8

const (
	CalleeEvSend     CalleeEvent = iota + 1 // the group invitation is sent
	CalleeEvReceived                        // a device of the callee acknowledged receipt
	CalleeEvAccepted
	CalleeEvRefused
	CalleeEvCanceled // the caller canceled, or another callee of a hunt group accepted
	CalleeEvFailure  // see LocalFailureReason (PEER_OFFLINE, PEER_BUSY, ...)
)

var calleeEventNames = []string{"", "send", "received", "accepted", "refused", "canceled", "failure"}

func (e CalleeEvent) String() string { return enumName(e, calleeEventNames) }

// calleeEvents maps the state a local.callee frame moves to onto its event.
var calleeEvents = map[CalleeState]CalleeEvent{CalleeReceived: CalleeEvReceived, CalleeAccepted: CalleeEvAccepted,
	CalleeRefused: CalleeEvRefused, CalleeCanceled: CalleeEvCanceled, CalleeFailure: CalleeEvFailure}

// CalleeEventTo is the event that moves a callee to state s (the state a
// local.callee frame names), or false for a state no frame moves to.
func CalleeEventTo(s CalleeState) (CalleeEvent, bool) {
	ev, ok := calleeEvents[s]
	return ev, ok
}

// NextCallee is one callee's machine on a group invitation: the state after
// ev, or a wrapped sentinel error for an illegal edge, leaving the state
// unchanged. The server moves each callee along it; the caller's client
// follows the server's local.callee frames along the same edges.
//
//	      send             received
//	IDLE ──────► RINGING ──────────► RECEIVED
//	               │                    │
//	               ▼                    ▼     (from RINGING or RECEIVED)
//	   accepted ► ACCEPTED   refused ► REFUSED
//	   canceled ► CANCELED   failure ► FAILURE
//
// Illegal: send twice (ALREADY_SENT), an event before send (NOT_STARTED),
// anything after an outcome (ALREADY_END), a second receipt (ErrUnexpectedEvent).
func NextCallee(s CalleeState, ev CalleeEvent) (CalleeState, error) {
	if s.Ended() {
		return s, fmt.Errorf("%w: %s -%s->", ErrAlreadyEnd, s, ev)
	}
	switch ev {
	case CalleeEvSend:
		if s == CalleeIdle {
			return CalleeRinging, nil // IDLE -send-> RINGING
		}
		return s, fmt.Errorf("%w: %s -send->", ErrAlreadySent, s)
	}
	if s == CalleeIdle {
		return s, fmt.Errorf("%w: IDLE -%s->", ErrNotStarted, ev)
	}
	switch ev {
	case CalleeEvReceived:
		if s == CalleeRinging {
			return CalleeReceived, nil // RINGING -received-> RECEIVED
		}
		return s, fmt.Errorf("%w: %s -received->", ErrUnexpectedEvent, s)
	case CalleeEvAccepted:
		return CalleeAccepted, nil // RINGING|RECEIVED -accepted-> ACCEPTED
	case CalleeEvRefused:
		return CalleeRefused, nil // RINGING|RECEIVED -refused-> REFUSED
	case CalleeEvCanceled:
		return CalleeCanceled, nil // RINGING|RECEIVED -canceled-> CANCELED
	case CalleeEvFailure:
		return CalleeFailure, nil // RINGING|RECEIVED -failure-> FAILURE
	}
	return s, fmt.Errorf("%w: %s -%s->", ErrUnexpectedEvent, s, ev)
}
