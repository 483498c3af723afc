package core

import "fmt"

// RemoteEvent is an input to a callee device's invitation machine: a user
// call (Accept, Refuse) or what the server decided.
type RemoteEvent uint8

const (
	RemoteEvAccept         RemoteEvent = iota + 1 // the user accepts: the accept goes to the server
	RemoteEvRefuse                                // the user refuses (a check; the server decides)
	RemoteEvAcceptRejected                        // the server rejected the accept request without ending the invitation
	RemoteEvAccepted                              // the server confirmed this device's accept
	RemoteEvRefused                               // the server confirmed this device's refusal
	RemoteEvCanceled                              // the caller canceled
	RemoteEvFailure                               // the invitation failed (see RemoteFailureReason)
)

var remoteEventNames = []string{"", "accept", "refuse", "acceptRejected", "accepted", "refused", "canceled", "failure"}

func (e RemoteEvent) String() string { return enumName(e, remoteEventNames) }

// NextRemote is a callee device's invitation machine: the state after ev, or
// a wrapped sentinel error for an illegal edge, leaving the state unchanged.
//
//	                      accept                       accepted
//	INVITATION_RECEIVED ─────────► ACCEPT_SENT_TO_LOCAL ─────────► ACCEPTED
//	 │  ▲ refuse (check) ◄───────── │
//	 │  └─┘          acceptRejected │
//	 │ refused ► REFUSED            │
//	 │ canceled ► CANCELED ◄────────┤ canceled
//	 │ failure  ► FAILURE  ◄────────┘ failure
//
// Illegal: refuse or accept while an accept is in flight (ALREADY_ACCEPT),
// anything after the end (ALREADY_END), confirmations that do not follow
// their request (ErrUnexpectedEvent).
func NextRemote(s RemoteInvitationState, ev RemoteEvent) (RemoteInvitationState, error) {
	if s.Ended() {
		return s, fmt.Errorf("%w: %s -%s->", ErrAlreadyEnd, s, ev)
	}
	switch ev {
	case RemoteEvAccept, RemoteEvRefuse:
		if s == RemoteAcceptSentToLocal {
			return s, fmt.Errorf("%w: %s -%s->", ErrAlreadyAccept, s, ev)
		}
		if ev == RemoteEvAccept {
			return RemoteAcceptSentToLocal, nil // INVITATION_RECEIVED -accept-> ACCEPT_SENT_TO_LOCAL
		}
		return s, nil // INVITATION_RECEIVED -refuse-> INVITATION_RECEIVED: the request may go to the server
	case RemoteEvAcceptRejected:
		if s == RemoteAcceptSentToLocal {
			return RemoteInvitationReceived, nil // ACCEPT_SENT_TO_LOCAL -acceptRejected-> INVITATION_RECEIVED
		}
	case RemoteEvAccepted:
		if s == RemoteAcceptSentToLocal {
			return RemoteAccepted, nil // ACCEPT_SENT_TO_LOCAL -accepted-> ACCEPTED
		}
	case RemoteEvRefused:
		if s == RemoteInvitationReceived {
			return RemoteRefused, nil // INVITATION_RECEIVED -refused-> REFUSED
		}
	case RemoteEvCanceled:
		return RemoteCanceled, nil // INVITATION_RECEIVED|ACCEPT_SENT_TO_LOCAL -canceled-> CANCELED
	case RemoteEvFailure:
		return RemoteFailure, nil // INVITATION_RECEIVED|ACCEPT_SENT_TO_LOCAL -failure-> FAILURE
	}
	return s, fmt.Errorf("%w: %s -%s->", ErrUnexpectedEvent, s, ev)
}
