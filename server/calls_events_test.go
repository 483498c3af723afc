//go:build !js

package server_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// The call after accept: call.ended with its reason and duration, from the
// owner node; a busy callee ends an invitation as busy.
func TestCallEvents(t *testing.T) {
	rec := newRecorder()
	srv := rtmcalltest.NewServer(t, rec.option)
	alice, bob, carol := login(t, srv, "alice"), login(t, srv, "bob"), login(t, srv, "carol")

	inv := alice.send("bob")
	bob.expect(protocol.TypeInvite, inv)
	bob.answered(frame(protocol.TypeAccept, inv), protocol.TypeRemoteAccepted)
	alice.expect(protocol.TypeLocalAccepted, inv)

	reply, _ := carol.do(&protocol.Frame{Type: protocol.TypeSend, Callee: "bob"})
	busy := rec.wait(t, server.EventInvitationEnded, reply.Inv).Invitation
	assert.Equal(t, server.OutcomeBusy, busy.Outcome)
	assert.Equal(t, "PEER_BUSY", busy.Reason)

	alice.answered(frame(protocol.TypeHangup, inv), protocol.TypeCallEnded+" HANGUP")
	e := rec.wait(t, server.EventCallEnded, inv)
	require.NotNil(t, e.Call)
	assert.Equal(t, srv.Node.ID(), e.Node)
	assert.Equal(t, "alice", e.Call.Caller)
	assert.Equal(t, "bob", e.Call.Callee)
	assert.Equal(t, bob.session, e.Call.CalleeSess)
	assert.Equal(t, "HANGUP", e.Call.Reason)
	assert.Equal(t, "alice", e.Call.By)
	assert.GreaterOrEqual(t, e.Call.DurationMS, int64(0))
	assert.False(t, e.Call.EndedAt.Before(e.Call.StartedAt))
	assert.Equal(t, []string{server.EventInvitationSent, server.EventInvitationEnded, server.EventCallEnded}, rec.about(inv))

	bob.expect(protocol.TypeCallEnded, inv)

	// A party that leaves ends the call: the other is told PEER_OFFLINE.
	inv = alice.send("bob")
	bob.expect(protocol.TypeInvite, inv)
	bob.answered(frame(protocol.TypeAccept, inv), protocol.TypeRemoteAccepted)
	bob.leave()
	assert.Equal(t, "PEER_OFFLINE", rec.wait(t, server.EventCallEnded, inv).Call.Reason)

	got, err := srv.Node.Invitation(t.Context(), inv)
	require.NoError(t, err, "the invitation stays readable after its call")
	assert.Equal(t, server.OutcomeAccepted, got.Outcome)
}
