package core

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// Every (state, event) pair of one callee's machine, written out by hand.
func TestNextCallee(t *testing.T) {
	var (
		idle, ringing, recv = CalleeIdle, CalleeRinging, CalleeReceived
		accepted, refused   = CalleeAccepted, CalleeRefused
		canceled, failure   = CalleeCanceled, CalleeFailure
	)
	notStarted := fails[CalleeState](ErrNotStarted)
	alreadySent := fails[CalleeState](ErrAlreadySent)
	alreadyEnd := fails[CalleeState](ErrAlreadyEnd)
	unexpected := fails[CalleeState](ErrUnexpectedEvent)
	events := []CalleeEvent{CalleeEvSend, CalleeEvReceived, CalleeEvAccepted, CalleeEvRefused, CalleeEvCanceled, CalleeEvFailure}
	table := map[CalleeState][]want[CalleeState]{
		//        send          received      accepted      refused      canceled      failure
		idle:     {to(ringing), notStarted, notStarted, notStarted, notStarted, notStarted},
		ringing:  {alreadySent, to(recv), to(accepted), to(refused), to(canceled), to(failure)},
		recv:     {alreadySent, unexpected, to(accepted), to(refused), to(canceled), to(failure)},
		accepted: {alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd},
		refused:  {alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd},
		canceled: {alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd},
		failure:  {alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd, alreadyEnd},
	}
	assert.Len(t, table, len(calleeStateNames), "every state has a row")
	runTable(t, table, events, NextCallee)
}

// Each state a local.callee frame names maps to the event that reaches it.
func TestCalleeEventTo(t *testing.T) {
	for s, ev := range calleeEvents {
		next, err := NextCallee(CalleeRinging, ev)
		assert.NoError(t, err)
		assert.Equal(t, s, next, "%s", ev)
		assert.Equal(t, s, ParseCalleeState(s.String()))
	}
	_, ok := CalleeEventTo(CalleeRinging)
	assert.False(t, ok)
}
