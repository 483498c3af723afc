package core

import "fmt"

// LocalEvent is an input to the caller's invitation machine: a user call
// (Send, Cancel) or what the server decided. The server uses the same
// machine for the invitation it owns, so both ends move along the same edges.
type LocalEvent uint8

const (
	LocalEvSend     LocalEvent = iota + 1 // the invitation is sent
	LocalEvCancel                         // the user asks to cancel (a check; the server decides)
	LocalEvReceived                       // a callee device acknowledged receipt
	LocalEvAccepted                       // the callee accepted
	LocalEvRefused                        // the callee refused
	LocalEvCanceled                       // the cancel took effect
	LocalEvFailure                        // the invitation failed (see LocalFailureReason)
	LocalEvWaking                         // the callee is offline; the server wakes its devices
)

var localEventNames = []string{"", "send", "cancel", "received", "accepted", "refused", "canceled", "failure", "waking"}

func (e LocalEvent) String() string { return enumName(e, localEventNames) }

// NextLocal is the caller's invitation machine: the state after ev, or a
// wrapped sentinel error for an illegal edge, leaving the state unchanged.
//
//	        send              received
//	IDLE ─────────► SENT_TO_REMOTE ────────► RECEIVED_BY_REMOTE
//	 │                  │  ▲ cancel (check)        │  ▲ cancel (check)
//	 │ failure          │  └─┘ waking (SENT only)  │  └─┘
//	 ▼                  ▼                          ▼
//	FAILURE    accepted ► ACCEPTED_BY_REMOTE   (from SENT_TO_REMOTE or
//	           refused  ► REFUSED_BY_REMOTE     RECEIVED_BY_REMOTE)
//	           canceled ► CANCELED
//	           failure  ► FAILURE
//
// Illegal: send after send (ALREADY_SENT), cancel before send (NOT_STARTED),
// anything after the end (ALREADY_END), a server event before send
// (NOT_STARTED), a second receipt or waking after receipt (ErrUnexpectedEvent).
func NextLocal(s LocalInvitationState, ev LocalEvent) (LocalInvitationState, error) {
	if s.Ended() {
		return s, fmt.Errorf("%w: %s -%s->", ErrAlreadyEnd, s, ev)
	}
	switch ev {
	case LocalEvSend:
		if s == LocalIdle {
			return LocalSentToRemote, nil // IDLE -send-> SENT_TO_REMOTE
		}
		return s, fmt.Errorf("%w: %s -send->", ErrAlreadySent, s)
	case LocalEvFailure:
		return LocalFailure, nil // IDLE (not logged in), SENT_TO_REMOTE or RECEIVED_BY_REMOTE -failure-> FAILURE
	}
	if s == LocalIdle {
		return s, fmt.Errorf("%w: IDLE -%s->", ErrNotStarted, ev)
	}
	switch ev {
	case LocalEvCancel:
		return s, nil // SENT_TO_REMOTE|RECEIVED_BY_REMOTE -cancel-> same: the request may go to the server
	case LocalEvWaking:
		if s == LocalSentToRemote {
			return s, nil // SENT_TO_REMOTE -waking-> SENT_TO_REMOTE: no device rings yet
		}
		return s, fmt.Errorf("%w: %s -waking->", ErrUnexpectedEvent, s)
	case LocalEvReceived:
		if s == LocalSentToRemote {
			return LocalReceivedByRemote, nil // SENT_TO_REMOTE -received-> RECEIVED_BY_REMOTE
		}
		return s, fmt.Errorf("%w: %s -received->", ErrUnexpectedEvent, s)
	case LocalEvAccepted:
		return LocalAcceptedByRemote, nil // SENT_TO_REMOTE|RECEIVED_BY_REMOTE -accepted-> ACCEPTED_BY_REMOTE
	case LocalEvRefused:
		return LocalRefusedByRemote, nil // SENT_TO_REMOTE|RECEIVED_BY_REMOTE -refused-> REFUSED_BY_REMOTE
	case LocalEvCanceled:
		return LocalCanceled, nil // SENT_TO_REMOTE|RECEIVED_BY_REMOTE -canceled-> CANCELED
	}
	return s, fmt.Errorf("%w: %s -%s->", ErrUnexpectedEvent, s, ev)
}
