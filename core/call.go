package core

import "fmt"

// CallEvent is an input to the call machine, the same on both sides.
type CallEvent uint8

const (
	CallEvStarted CallEvent = iota + 1 // the invitation was accepted
	CallEvHangup                       // the user asks to hang up (a check; the server decides)
	CallEvEnded                        // the server ended the call (see CallEndReason)
)

var callEventNames = []string{"", "started", "hangup", "ended"}

func (e CallEvent) String() string { return enumName(e, callEventNames) }

// NextCall is the machine of the call after an accepted invitation: the
// state after ev, or a wrapped sentinel error for an illegal edge, leaving
// the state unchanged.
//
//	       started           ended
//	IDLE ──────────► IN_CALL ──────► ENDED
//	                  │  ▲
//	                  └──┘ hangup (check)
//
// Illegal: hangup before the call started (NOT_STARTED), anything after the
// end (ALREADY_END), a second start or an end before the start
// (ErrUnexpectedEvent).
func NextCall(s CallState, ev CallEvent) (CallState, error) {
	if s == CallEnded {
		return s, fmt.Errorf("%w: ENDED -%s->", ErrAlreadyEnd, ev)
	}
	switch {
	case s == CallIdle && ev == CallEvStarted:
		return CallInCall, nil // IDLE -started-> IN_CALL
	case s == CallIdle && ev == CallEvHangup:
		return s, fmt.Errorf("%w: IDLE -hangup->", ErrNotStarted)
	case s == CallInCall && ev == CallEvHangup:
		return s, nil // IN_CALL -hangup-> IN_CALL: the request may go to the server
	case s == CallInCall && ev == CallEvEnded:
		return CallEnded, nil // IN_CALL -ended-> ENDED
	}
	return s, fmt.Errorf("%w: %s -%s->", ErrUnexpectedEvent, s, ev)
}
