package core

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

// want is one cell of a transition table: the next state, or the error.
type want[S any] struct {
	next S
	err  error
}

func to[S any](s S) want[S]              { return want[S]{next: s} }
func fails[S any](err error) want[S]     { return want[S]{err: err} }
func edgeName(s, ev fmt.Stringer) string { return fmt.Sprintf("%s -%s->", s, ev) }

// Every (state, event) pair of the caller's machine, written out by hand.
func TestNextLocal(t *testing.T) {
	var (
		idle, sent, recv  = LocalIdle, LocalSentToRemote, LocalReceivedByRemote
		accepted, refused = LocalAcceptedByRemote, LocalRefusedByRemote
		canceled, failure = LocalCanceled, LocalFailure
	)
	notStarted := fails[LocalInvitationState](ErrNotStarted)
	alreadySent := fails[LocalInvitationState](ErrAlreadySent)
	alreadyEnd := fails[LocalInvitationState](ErrAlreadyEnd)
	unexpected := fails[LocalInvitationState](ErrUnexpectedEvent)
	events := []LocalEvent{LocalEvSend, LocalEvCancel, LocalEvReceived, LocalEvAccepted, LocalEvRefused, LocalEvCanceled, LocalEvFailure, LocalEvWaking}
	table := map[LocalInvitationState][]want[LocalInvitationState]{
		//        send         cancel      received    accepted      refused      canceled      failure      waking
		idle:     {to(sent), notStarted, notStarted, notStarted, notStarted, notStarted, to(failure), notStarted},
		sent:     {alreadySent, to(sent), to(recv), to(accepted), to(refused), to(canceled), to(failure), to(sent)},
		recv:     {alreadySent, to(recv), unexpected, to(accepted), to(refused), to(canceled), to(failure), unexpected},
		accepted: {alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd},
		refused:  {alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd},
		canceled: {alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd},
		failure:  {alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd},
	}
	assert.Len(t, table, len(localStateNames), "every state has a row")
	runTable(t, table, events, NextLocal)
}

// Every (state, event) pair of a callee device's machine, written out by hand.
func TestNextRemote(t *testing.T) {
	var (
		received, acceptSent = RemoteInvitationReceived, RemoteAcceptSentToLocal
		refused, accepted    = RemoteRefused, RemoteAccepted
		canceled, failure    = RemoteCanceled, RemoteFailure
	)
	alreadyAccept := fails[RemoteInvitationState](ErrAlreadyAccept)
	alreadyEnd := fails[RemoteInvitationState](ErrAlreadyEnd)
	unexpected := fails[RemoteInvitationState](ErrUnexpectedEvent)
	events := []RemoteEvent{RemoteEvAccept, RemoteEvRefuse, RemoteEvAcceptRejected, RemoteEvAccepted, RemoteEvRefused, RemoteEvCanceled, RemoteEvFailure}
	table := map[RemoteInvitationState][]want[RemoteInvitationState]{
		//          accept          refuse         acceptRejected  accepted        refused       canceled      failure
		received:   {to(acceptSent), to(received), unexpected, unexpected, to(refused), to(canceled), to(failure)},
		acceptSent: {alreadyAccept, alreadyAccept, to(received), to(accepted), unexpected, to(canceled), to(failure)},
		refused:    {alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd},
		accepted:   {alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd},
		canceled:   {alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd},
		failure:    {alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd},
	}
	assert.Len(t, table, len(remoteStateNames), "every state has a row")
	runTable(t, table, events, NextRemote)
}

// runTable checks next against every cell of table, one subtest per edge,
// named after it ("SENT_TO_REMOTE -cancel-> SENT_TO_REMOTE").
func runTable[S interface {
	comparable
	fmt.Stringer
}, E fmt.Stringer](t *testing.T, table map[S][]want[S], events []E, next func(S, E) (S, error)) {
	for s, row := range table {
		for i, ev := range events {
			w := row[i]
			name := edgeName(s, ev)
			if w.err == nil {
				name += " " + w.next.String()
			}
			t.Run(name, func(t *testing.T) {
				got, err := next(s, ev)
				if w.err != nil {
					assert.ErrorIs(t, err, w.err)
					assert.Equal(t, s, got, "an illegal edge leaves the state unchanged")
					return
				}
				assert.NoError(t, err)
				assert.Equal(t, w.next, got)
			})
		}
	}
}

func TestIllegalEdgesCarryTheirCode(t *testing.T) {
	_, err := NextLocal(LocalCanceled, LocalEvCancel)
	var e *Error
	assert.True(t, errors.As(err, &e))
	assert.Equal(t, 3, int(e.Code))
	assert.Equal(t, 3, int(CodeOf(err)))
}

func TestEnumStrings(t *testing.T) {
	// The exact strings of REFERENCE.md, which apps compare against.
	assert.Equal(t, []string{"IDLE", "SENT_TO_REMOTE", "RECEIVED_BY_REMOTE", "ACCEPTED_BY_REMOTE", "REFUSED_BY_REMOTE", "CANCELED", "FAILURE"},
		Names()["LocalInvitationState"])
	assert.Equal(t, []string{"INVITATION_RECEIVED", "ACCEPT_SENT_TO_LOCAL", "REFUSED", "ACCEPTED", "CANCELED", "FAILURE"},
		Names()["RemoteInvitationState"])
	assert.Equal(t, []string{"UNKNOWN", "PEER_NO_RESPONSE", "INVITATION_EXPIRE", "PEER_OFFLINE", "NOT_LOGGEDIN", "PEER_BUSY"},
		Names()["LocalInvitationFailureReason"])
	assert.Equal(t, []string{"UNKNOWN", "PEER_OFFLINE", "ACCEPT_FAILURE", "INVITATION_EXPIRE", "ANSWERED_ELSEWHERE", "ANSWERED_BY_OTHER"},
		Names()["RemoteInvitationFailureReason"])
	assert.Equal(t, []string{"DISCONNECTED", "CONNECTING", "CONNECTED", "RECONNECTING", "ABORTED"}, Names()["ConnectionState"])
	assert.Equal(t, []string{"LOGIN", "LOGIN_SUCCESS", "LOGIN_FAILURE", "LOGIN_TIMEOUT", "INTERRUPTED", "LOGOUT",
		"BANNED_BY_SERVER", "REMOTE_LOGIN", "TOKEN_EXPIRED"}, Names()["ConnectionChangeReason"])
	assert.Equal(t, []string{"IDLE", "IN_CALL", "ENDED"}, Names()["CallState"])
	assert.Equal(t, []string{"IDLE", "RINGING", "RECEIVED", "ACCEPTED", "REFUSED", "CANCELED", "FAILURE"}, Names()["CalleeState"])
	assert.Equal(t, []string{"UNKNOWN", "HANGUP", "PEER_OFFLINE", "SERVER_SHUTDOWN"}, Names()["CallEndReason"])
	assert.Equal(t, CallEndServerShutdown, ParseCallEndReason("SERVER_SHUTDOWN"))
	assert.Equal(t, LocalFailurePeerOffline, ParseLocalFailureReason("PEER_OFFLINE"))
	assert.Equal(t, RemoteFailureAnsweredElsewhere, ParseRemoteFailureReason("ANSWERED_ELSEWHERE"))
	assert.Equal(t, RemoteFailureUnknown, ParseRemoteFailureReason("bogus"))
	assert.Equal(t, "UNKNOWN", LocalInvitationState(200).String())
}

// Every (state, event) pair of the call machine, written out by hand.
func TestNextCall(t *testing.T) {
	idle, inCall, ended := CallIdle, CallInCall, CallEnded
	notStarted := fails[CallState](ErrNotStarted)
	alreadyEnd := fails[CallState](ErrAlreadyEnd)
	unexpected := fails[CallState](ErrUnexpectedEvent)
	events := []CallEvent{CallEvStarted, CallEvHangup, CallEvEnded}
	table := map[CallState][]want[CallState]{
		//        started      hangup      ended
		idle:   {to(inCall), notStarted, unexpected},
		inCall: {unexpected, to(inCall), to(ended)},
		ended:  {alreadyEnd, alreadyEnd, alreadyEnd},
	}
	assert.Len(t, table, len(callStateNames), "every state has a row")
	runTable(t, table, events, NextCall)
}
