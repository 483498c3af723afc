//go:build !js

package server_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

func frame(typ, inv string) *protocol.Frame { return &protocol.Frame{Type: typ, Inv: inv} }

// ringing sets up alice calling bob (one session per name in bobs) and
// returns the invitation id once every bob session has its invite.
func ringing(t *testing.T, alice *client, bobs ...*client) string {
	t.Helper()
	inv := alice.send("bob")
	for _, b := range bobs {
		b.expect(protocol.TypeInvite, inv)
	}
	return inv
}

// The example of PROTOCOL.md, field by field.
func TestAcceptFlow(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	alice := login(t, srv, "alice")
	bob := login(t, srv, "bob")

	reply := alice.ok(&protocol.Frame{Type: protocol.TypeSend, Callee: "bob", Content: "hi", Channel: "room-1",
		Caller: "mallory"}) // a caller field is ignored: the server stamps it
	inv := reply.Inv
	assert.Regexp(t, "^[0-9a-f]{32}$", inv)
	assert.EqualValues(t, 60000, reply.Timeout)

	invite := bob.expect(protocol.TypeInvite, inv)
	assert.Equal(t, "alice", invite.Caller)
	assert.Equal(t, "hi", invite.Content)
	assert.Equal(t, "room-1", invite.Channel)
	assert.EqualValues(t, 60000, invite.Timeout)
	assert.Zero(t, invite.RID, "events carry no rid")

	bob.ack(inv)
	alice.expect(protocol.TypeLocalReceived, inv)

	accept := &protocol.Frame{Type: protocol.TypeAccept, Inv: inv, Response: "on my way"}
	reply = bob.answered(accept, "remote.accepted")
	assert.Equal(t, accept.RID, reply.RID, "the accept's reply")
	accepted := alice.expect(protocol.TypeLocalAccepted, inv)
	assert.Equal(t, "on my way", accepted.Response)
	assert.Zero(t, accepted.RID)

	// Late requests on the ended invitation.
	alice.fails(frame(protocol.TypeCancel, inv), protocol.CodeAlreadyEnd)
	bob.fails(frame(protocol.TypeAccept, inv), protocol.CodeAlreadyEnd)
	bob.fails(frame(protocol.TypeRefuse, inv), protocol.CodeAlreadyEnd)
	bob.fails(frame(protocol.TypeAck, inv), protocol.CodeAlreadyEnd)

	hangup := frame(protocol.TypeHangup, inv)
	ended := alice.answered(hangup, "call.ended HANGUP")
	assert.Equal(t, hangup.RID, ended.RID, "the hangup's reply")
	assert.Equal(t, "alice", ended.By)
	ended = bob.expect(protocol.TypeCallEnded, inv)
	assert.Zero(t, ended.RID)
	assert.Equal(t, "alice", ended.By)
	alice.sync()
	bob.sync()
}

func TestRefuseFlow(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	alice := login(t, srv, "alice")
	bob := login(t, srv, "bob")
	inv := ringing(t, alice, bob)
	bob.okAfter(&protocol.Frame{Type: protocol.TypeRefuse, Inv: inv, Response: "busy"}, "remote.refused")
	assert.Equal(t, "busy", alice.expect(protocol.TypeLocalRefused, inv).Response)
	alice.fails(frame(protocol.TypeCancel, inv), protocol.CodeAlreadyEnd)
	bob.fails(frame(protocol.TypeAccept, inv), protocol.CodeAlreadyEnd)
}

func TestCancel(t *testing.T) {
	for _, acked := range []bool{false, true} {
		name := "before receipt"
		if acked {
			name = "after receipt"
		}
		t.Run(name, func(t *testing.T) {
			srv := rtmcalltest.NewServer(t)
			alice := login(t, srv, "alice")
			bob := login(t, srv, "bob")
			inv := alice.ok(&protocol.Frame{Type: protocol.TypeSend, Callee: "bob", Content: "call me"}).Inv
			bob.expect(protocol.TypeInvite, inv)
			if acked {
				bob.ack(inv)
				alice.expect(protocol.TypeLocalReceived, inv)
			}
			alice.okAfter(frame(protocol.TypeCancel, inv), "local.canceled")
			assert.Equal(t, "call me", bob.expect(protocol.TypeRemoteCanceled, inv).Content)
			bob.fails(frame(protocol.TypeAccept, inv), protocol.CodeAlreadyEnd)
			alice.fails(frame(protocol.TypeCancel, inv), protocol.CodeAlreadyEnd)
		})
	}
}

func TestOfflineCallee(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	alice := login(t, srv, "alice")
	rid := alice.start(&protocol.Frame{Type: protocol.TypeSend, Callee: "bob"})
	reply := alice.next()
	require.Equal(t, protocol.TypeOK, reply.Type, "the reply comes first: %+v", reply)
	require.Equal(t, rid, reply.RID)
	f := alice.expect(protocol.TypeLocalFailure, reply.Inv)
	assert.Equal(t, "PEER_OFFLINE", f.Reason)
	alice.fails(frame(protocol.TypeCancel, reply.Inv), protocol.CodeAlreadyEnd)

	// The invitation ended at once: bob logging in later is not rung.
	bob := login(t, srv, "bob")
	bob.sync()
	bob.fails(frame(protocol.TypeAccept, reply.Inv), protocol.CodeNotYours)
}

func TestReceiptTimeout(t *testing.T) {
	srv := rtmcalltest.NewServer(t, func(c *server.Config) { c.ReceiptTimeout = 20 * time.Millisecond })
	alice := login(t, srv, "alice")
	bob := login(t, srv, "bob")
	inv := ringing(t, alice, bob) // bob does not ack
	assert.Equal(t, "PEER_NO_RESPONSE", alice.expect(protocol.TypeLocalFailure, inv).Reason)
	assert.Equal(t, "INVITATION_EXPIRE", bob.expect(protocol.TypeRemoteFailure, inv).Reason)
	bob.fails(frame(protocol.TypeAck, inv), protocol.CodeAlreadyEnd)
}

// An ack stops the receipt timeout: only the invitation timeout remains,
// counted from the send.
func TestExpiry(t *testing.T) {
	srv := rtmcalltest.NewServer(t, func(c *server.Config) {
		c.ReceiptTimeout = 10 * time.Millisecond
		c.InvitationTimeout = 100 * time.Millisecond
	})
	alice := login(t, srv, "alice")
	bob := login(t, srv, "bob")
	sent := time.Now()
	reply := alice.ok(&protocol.Frame{Type: protocol.TypeSend, Callee: "bob"})
	assert.EqualValues(t, 100, reply.Timeout, "the effective timeout")
	inv := reply.Inv
	bob.expect(protocol.TypeInvite, inv)
	bob.ack(inv)
	alice.expect(protocol.TypeLocalReceived, inv)
	assert.Equal(t, "INVITATION_EXPIRE", alice.expect(protocol.TypeLocalFailure, inv).Reason)
	assert.GreaterOrEqual(t, time.Since(sent), 100*time.Millisecond, "not before the invitation timeout")
	assert.Equal(t, "INVITATION_EXPIRE", bob.expect(protocol.TypeRemoteFailure, inv).Reason)
	bob.fails(frame(protocol.TypeRefuse, inv), protocol.CodeAlreadyEnd)
}

func TestSendTimeoutEchoed(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	alice := login(t, srv, "alice")
	bob := login(t, srv, "bob")
	for _, ms := range []int64{1000, 600000} {
		reply := alice.ok(&protocol.Frame{Type: protocol.TypeSend, Callee: "bob", Timeout: ms})
		assert.Equal(t, ms, reply.Timeout)
		assert.Equal(t, ms, bob.expect(protocol.TypeInvite, reply.Inv).Timeout)
	}
}

func TestMultiDevice(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	alice := login(t, srv, "alice")
	bob1 := login(t, srv, "bob")
	bob2 := login(t, srv, "bob")
	inv := ringing(t, alice, bob1, bob2)
	bob3 := login(t, srv, "bob") // logged in after the send: rung too
	bob3.expect(protocol.TypeInvite, inv)
	mallory := login(t, srv, "mallory") // another user: never rung
	mallory.fails(frame(protocol.TypeAccept, inv), protocol.CodeNotYours)

	bob1.ack(inv)
	alice.expect(protocol.TypeLocalReceived, inv)
	bob2.ack(inv) // a second ack changes nothing
	bob3.ack(inv)
	alice.sync()

	bob2.answered(frame(protocol.TypeAccept, inv), "remote.accepted")
	alice.expect(protocol.TypeLocalAccepted, inv)
	assert.Equal(t, "ANSWERED_ELSEWHERE", bob1.expect(protocol.TypeRemoteFailure, inv).Reason)
	assert.Equal(t, "ANSWERED_ELSEWHERE", bob3.expect(protocol.TypeRemoteFailure, inv).Reason)
	bob1.fails(frame(protocol.TypeAccept, inv), protocol.CodeAlreadyEnd)
	bob3.fails(frame(protocol.TypeAccept, inv), protocol.CodeAlreadyEnd)
	login(t, srv, "bob").sync() // after the end: not rung
	alice.sync()
}

// TestLateRinging: a session of the callee that logs in while an
// invitation is pending is rung with the time left, and may answer first;
// invitations ring it oldest first; ended ones do not ring it; while the
// callee is busy only a late session with call waiting rings: one that
// logged in with it on.
func TestLateRinging(t *testing.T) {
	t.Run("answers first", func(t *testing.T) {
		srv := rtmcalltest.NewServer(t)
		alice := login(t, srv, "alice")
		bob1 := login(t, srv, "bob")
		inv := alice.send("bob")
		assert.Equal(t, int64(60000), bob1.expect(protocol.TypeInvite, inv).Timeout)
		inv2 := alice.send("bob")
		bob1.expect(protocol.TypeInvite, inv2)
		bob2 := login(t, srv, "bob")
		late := bob2.expect(protocol.TypeInvite, inv)
		assert.Equal(t, "alice", late.Caller)
		assert.LessOrEqual(t, late.Timeout, int64(60000), "the time left")
		assert.Greater(t, late.Timeout, int64(0))
		bob2.expect(protocol.TypeInvite, inv2) // oldest first
		bob2.ack(inv)
		alice.expect(protocol.TypeLocalReceived, inv)
		bob2.answered(&protocol.Frame{Type: protocol.TypeAccept, Inv: inv, Response: "late"}, "remote.accepted")
		assert.Equal(t, "late", alice.expect(protocol.TypeLocalAccepted, inv).Response)
		assert.Equal(t, "ANSWERED_ELSEWHERE", bob1.expect(protocol.TypeRemoteFailure, inv).Reason)
		bob1.fails(frame(protocol.TypeAccept, inv), protocol.CodeAlreadyEnd)
		// bob is now in a call with alice: a new session without call
		// waiting does not ring for inv2; bob1 still does.
		bob3 := login(t, srv, "bob")
		bob3.fails(frame(protocol.TypeAccept, inv2), protocol.CodeNotYours)
		// One that logs in with call waiting on rings, busy.
		bob4 := dial(t, srv, "bob")
		bob4.ok(&protocol.Frame{Type: protocol.TypeLogin, User: "bob", Waiting: true})
		assert.True(t, bob4.expect(protocol.TypeInvite, inv2).Busy)
		bob4.ack(inv2)
		alice.expect(protocol.TypeLocalReceived, inv2)
		alice.okAfter(frame(protocol.TypeCancel, inv2), "local.canceled")
		bob1.expect(protocol.TypeRemoteCanceled, inv2)
		bob2.expect(protocol.TypeRemoteCanceled, inv2)
		bob4.expect(protocol.TypeRemoteCanceled, inv2)
		bob3.sync()
	})
	t.Run("ringing only a late session", func(t *testing.T) {
		srv := rtmcalltest.NewServer(t)
		alice := login(t, srv, "alice")
		bob1 := login(t, srv, "bob")
		inv := ringing(t, alice, bob1)
		bob1.ok(&protocol.Frame{Type: protocol.TypeIgnore, Inv: inv})
		bob2 := login(t, srv, "bob") // the ignored invitation still goes on: it rings here
		bob2.expect(protocol.TypeInvite, inv)
		bob2.okAfter(frame(protocol.TypeRefuse, inv), "remote.refused")
		alice.expect(protocol.TypeLocalRefused, inv)
	})
}

func TestSelfInvitation(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	alice := login(t, srv, "alice")
	login(t, srv, "alice")
	alice.fails(&protocol.Frame{Type: protocol.TypeSend, Callee: "alice"}, protocol.CodeInvalidArgument)
}

func TestTooManyPending(t *testing.T) {
	srv := rtmcalltest.NewServer(t, func(c *server.Config) { c.MaxPendingPerUser = 3 })
	alice := login(t, srv, "alice")
	alice2 := login(t, srv, "alice")
	login(t, srv, "bob")
	offline := alice.send("carol") // offline callee: ends at once, not pending
	alice.expect(protocol.TypeLocalFailure, offline)
	first := alice.send("bob")
	alice.send("bob")
	alice2.send("bob")
	alice.fails(&protocol.Frame{Type: protocol.TypeSend, Callee: "bob"}, protocol.CodeTooManyPending)
	alice2.fails(&protocol.Frame{Type: protocol.TypeSend, Callee: "bob"}, protocol.CodeTooManyPending)
	alice.okAfter(frame(protocol.TypeCancel, first), "local.canceled")
	alice2.send("bob")
	login(t, srv, "dave").send("bob") // the cap is per user
}

// TestNotYours: only the sending session cancels, only ringing sessions
// answer; anyone else gets NOT_YOURS and nothing happens.
func TestNotYours(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	alice := login(t, srv, "alice")
	alice2 := login(t, srv, "alice")
	bob := login(t, srv, "bob")
	mallory := login(t, srv, "mallory")
	inv := ringing(t, alice, bob)
	guessed := "0123456789abcdef0123456789abcdef"

	tests := []struct {
		name string
		c    *client
		typ  string
		inv  string
	}{
		{"cancel by another user", mallory, protocol.TypeCancel, inv},
		{"cancel by another session of the caller", alice2, protocol.TypeCancel, inv},
		{"cancel by the callee", bob, protocol.TypeCancel, inv},
		{"accept by another user", mallory, protocol.TypeAccept, inv},
		{"refuse by another user", mallory, protocol.TypeRefuse, inv},
		{"ack by another user", mallory, protocol.TypeAck, inv},
		{"accept by the caller", alice, protocol.TypeAccept, inv},
		{"refuse by the caller", alice, protocol.TypeRefuse, inv},
		{"ack by the caller", alice, protocol.TypeAck, inv},
		{"cancel of a guessed id", alice, protocol.TypeCancel, guessed},
		{"accept of a guessed id", bob, protocol.TypeAccept, guessed},
		{"accept of a malformed id", bob, protocol.TypeAccept, "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.c.fails(frame(tt.typ, tt.inv), protocol.CodeNotYours)
			alice.sync()
			bob.sync()
		})
	}
	// Nothing happened: the invitation is still pending.
	bob.ack(inv)
	alice.expect(protocol.TypeLocalReceived, inv)
	alice.okAfter(frame(protocol.TypeCancel, inv), "local.canceled")
	bob.expect(protocol.TypeRemoteCanceled, inv)

	// Strangers still get NOT_YOURS on the tombstone: it does not reveal the id exists.
	mallory.fails(frame(protocol.TypeCancel, inv), protocol.CodeNotYours)
	mallory.fails(frame(protocol.TypeAccept, inv), protocol.CodeNotYours)
	alice2.fails(frame(protocol.TypeCancel, inv), protocol.CodeNotYours)
}

// Once its tombstone is gone, an ended invitation is unknown: NOT_YOURS.
func TestTombstoneForgotten(t *testing.T) {
	srv := rtmcalltest.NewServer(t, func(c *server.Config) { c.TombstoneTTL = time.Nanosecond })
	alice := login(t, srv, "alice")
	bob := login(t, srv, "bob")
	inv := ringing(t, alice, bob)
	alice.okAfter(frame(protocol.TypeCancel, inv), "local.canceled")
	bob.expect(protocol.TypeRemoteCanceled, inv)
	alice.fails(frame(protocol.TypeCancel, inv), protocol.CodeNotYours)
	bob.fails(frame(protocol.TypeAccept, inv), protocol.CodeNotYours)
}

func TestCallerDisconnects(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	alice := login(t, srv, "alice")
	bob1 := login(t, srv, "bob")
	bob2 := login(t, srv, "bob")
	inv := ringing(t, alice, bob1, bob2)
	alice.leave()
	assert.Equal(t, "PEER_OFFLINE", bob1.expect(protocol.TypeRemoteFailure, inv).Reason)
	assert.Equal(t, "PEER_OFFLINE", bob2.expect(protocol.TypeRemoteFailure, inv).Reason)
	bob1.fails(frame(protocol.TypeAccept, inv), protocol.CodeAlreadyEnd)
}

func TestRingingDevicesDisconnect(t *testing.T) {
	t.Run("one of two leaves", func(t *testing.T) {
		srv := rtmcalltest.NewServer(t)
		alice := login(t, srv, "alice")
		bob1 := login(t, srv, "bob")
		bob2 := login(t, srv, "bob")
		inv := ringing(t, alice, bob1, bob2)
		bob1.leave()
		bob2.answered(frame(protocol.TypeAccept, inv), "remote.accepted")
		alice.expect(protocol.TypeLocalAccepted, inv)
	})
	t.Run("the last leaves", func(t *testing.T) {
		srv := rtmcalltest.NewServer(t)
		alice := login(t, srv, "alice")
		bob1 := login(t, srv, "bob")
		bob2 := login(t, srv, "bob")
		inv := ringing(t, alice, bob1, bob2)
		bob1.leave()
		bob2.leave()
		assert.Equal(t, "PEER_OFFLINE", alice.expect(protocol.TypeLocalFailure, inv).Reason)
		alice.sync()
		alice.fails(frame(protocol.TypeCancel, inv), protocol.CodeAlreadyEnd)
	})
}

func TestLogout(t *testing.T) {
	t.Run("caller", func(t *testing.T) {
		srv := rtmcalltest.NewServer(t)
		alice := login(t, srv, "alice")
		bob := login(t, srv, "bob")
		inv1 := ringing(t, alice, bob)
		inv2 := ringing(t, alice, bob)
		_, before := alice.do(&protocol.Frame{Type: protocol.TypeLogout})
		assert.Equal(t, []string{"local.failure NOT_LOGGEDIN", "local.failure NOT_LOGGEDIN"}, types(before))
		assert.Equal(t, inv1, before[0].Inv)
		assert.Equal(t, inv2, before[1].Inv)
		assert.Equal(t, "PEER_OFFLINE", bob.expect(protocol.TypeRemoteFailure, inv1).Reason)
		assert.Equal(t, "PEER_OFFLINE", bob.expect(protocol.TypeRemoteFailure, inv2).Reason)
		alice.fails(&protocol.Frame{Type: protocol.TypeSend, Callee: "bob"}, protocol.CodeNotLoggedIn)
		alice.fails(frame(protocol.TypeCancel, inv1), protocol.CodeNotLoggedIn)
		alice.fails(&protocol.Frame{Type: protocol.TypeLogout}, protocol.CodeNotLoggedIn)
		alice.login("alice") // a new session: the old one's invitations are not its own
		alice.fails(frame(protocol.TypeCancel, inv1), protocol.CodeNotYours)
	})
	t.Run("ringing sessions", func(t *testing.T) {
		srv := rtmcalltest.NewServer(t)
		alice := login(t, srv, "alice")
		bob1 := login(t, srv, "bob")
		bob2 := login(t, srv, "bob")
		inv := ringing(t, alice, bob1, bob2)
		bob1.okAfter(&protocol.Frame{Type: protocol.TypeLogout, Inv: inv}, "remote.failure UNKNOWN")
		alice.sync() // bob2 still rings
		bob1.fails(frame(protocol.TypeAccept, inv), protocol.CodeNotLoggedIn)
		bob1.login("bob") // a new session, rung late since bob2 still rings
		bob1.expect(protocol.TypeInvite, inv)
		bob2.okAfter(&protocol.Frame{Type: protocol.TypeLogout, Inv: inv}, "remote.failure UNKNOWN")
		alice.sync() // bob1's new session still rings
		bob1.okAfter(&protocol.Frame{Type: protocol.TypeLogout, Inv: inv}, "remote.failure UNKNOWN")
		assert.Equal(t, "PEER_OFFLINE", alice.expect(protocol.TypeLocalFailure, inv).Reason)
		bob1.sync()
	})
}
