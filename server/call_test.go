//go:build !js

package server_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// message sends a text message and returns the reply's hasPeerReceived.
func (c *client) message(peer, text string) bool {
	c.t.Helper()
	return c.ok(&protocol.Frame{Type: protocol.TypeMessage, Peer: peer, Text: text}).Received
}

// TestPeerMessages: every session of the peer gets the message, with the
// sender and the server's timestamp; a message to oneself goes to one's
// other sessions; an offline peer is not an error.
func TestPeerMessages(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	bob1, bob2 := login(t, srv, "bob"), login(t, srv, "bob")
	alice := login(t, srv, "alice")

	before := time.Now().UnixMilli()
	assert.True(t, alice.message("bob", "hello <&> \x00\u2028"))
	for _, b := range []*client{bob1, bob2} {
		f := b.expect(protocol.TypePeerMessage, "")
		assert.Equal(t, "alice", f.From)
		assert.Equal(t, "hello <&> \x00\u2028", f.Text)
		assert.GreaterOrEqual(t, f.TS, before)
		assert.LessOrEqual(t, f.TS, time.Now().UnixMilli())
	}
	alice.sync()

	assert.True(t, bob1.message("bob", "to my other tab"))
	assert.Equal(t, "to my other tab", bob2.expect(protocol.TypePeerMessage, "").Text)
	bob1.sync() // not to itself

	assert.False(t, alice.message("alice", "nobody else"), "no other session of alice")
	assert.False(t, alice.message("carol", "offline"))
	alice.sync()
}

// The largest messages get through whatever their characters: 32 KiB of
// control characters (each escaped as 6 bytes of JSON) as text, and 32 KiB
// of raw bytes with the largest description; one byte more is refused.
func TestPeerMessageLimits(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	bob := login(t, srv, "bob")
	alice := login(t, srv, "alice")

	text := strings.Repeat("\x01", protocol.MaxMessageBytes)
	raw := make([]byte, protocol.MaxMessageBytes)
	for i := range raw {
		raw[i] = byte(i)
	}
	desc := strings.Repeat("\x1f", protocol.MaxDescriptionBytes)
	data := fmt.Appendf(nil, `{"type":"message","rid":1,"peer":"bob","text":"%s"}`, strings.Repeat(`\u0001`, protocol.MaxMessageBytes))
	alice.writeRaw(websocket.MessageText, data)
	reply, _ := alice.reply(1)
	require.Equal(t, protocol.TypeOK, reply.Type, "%+v", reply)
	assert.True(t, reply.Received)
	assert.Equal(t, text, bob.expect(protocol.TypePeerMessage, "").Text)

	alice.rid = 1
	assert.True(t, alice.ok(&protocol.Frame{Type: protocol.TypeMessage, Peer: "bob", Raw: raw, Description: desc}).Received)
	f := bob.expect(protocol.TypePeerMessage, "")
	assert.Equal(t, raw, f.Raw)
	assert.Equal(t, desc, f.Description)
	assert.Empty(t, f.Text)

	for name, f := range map[string]*protocol.Frame{
		"text one byte over":        {Text: text + "x"},
		"raw one byte over":         {Raw: append(raw, 0)},
		"description one byte over": {Raw: []byte{1}, Description: desc + "x"},
		"empty":                     {},
		"text and raw":              {Text: "x", Raw: []byte{1}},
		"description on text":       {Text: "x", Description: "d"},
		"bad peer id":               {Text: "x", Peer: "null"},
	} {
		t.Run(name, func(t *testing.T) {
			f.Type = protocol.TypeMessage
			if f.Peer == "" {
				f.Peer = "bob"
			}
			alice.fails(f, protocol.CodeInvalidArgument)
		})
	}
	alice.fails(&protocol.Frame{Type: protocol.TypeMessage, Text: "x"}, protocol.CodeMalformedFrame)
	alice.rid++
	alice.writeRaw(websocket.MessageText, fmt.Appendf(nil, `{"type":"message","rid":%d,"peer":"bob","raw":"not base64!"}`, alice.rid))
	reply, _ = alice.reply(alice.rid)
	requireError(t, reply, protocol.CodeMalformedFrame)
	assert.Equal(t, base64.StdEncoding.EncodeToString([]byte{1, 2}), `AQI=`, "raw is standard base64 with padding")
	bob.sync() // nothing refused was delivered
}

// Messages count against the rate limit like every frame: the burst is
// served, the next is refused and not delivered.
func TestPeerMessagesRateLimited(t *testing.T) {
	srv := rtmcalltest.NewServer(t, func(c *server.Config) {
		c.RateLimit = 1e-6 // no refill during the test
		c.RateBurst = 3
	})
	bob := login(t, srv, "bob")
	alice := login(t, srv, "alice") // frame 1
	alice.message("bob", "2")
	alice.message("bob", "3")
	alice.fails(&protocol.Frame{Type: protocol.TypeMessage, Peer: "bob", Text: "4"}, protocol.CodeRateLimited)
	assert.Equal(t, "2", bob.expect(protocol.TypePeerMessage, "").Text)
	assert.Equal(t, "3", bob.expect(protocol.TypePeerMessage, "").Text)
	bob.sync()
}

// inCall makes alice call bob and bob accept: it returns the call's id.
func inCall(t *testing.T, alice, bob *client) string {
	t.Helper()
	inv := alice.send("bob")
	bob.expect(protocol.TypeInvite, inv)
	bob.answered(&protocol.Frame{Type: protocol.TypeAccept, Inv: inv}, protocol.TypeRemoteAccepted)
	alice.expect(protocol.TypeLocalAccepted, inv)
	return inv
}

// hangUp ends call inv from caller's side: both get call.ended HANGUP.
func hangUp(t *testing.T, caller *client, inv string, callee *client) {
	t.Helper()
	caller.answered(&protocol.Frame{Type: protocol.TypeHangup, Inv: inv}, protocol.TypeCallEnded+" HANGUP")
	callee.expect(protocol.TypeCallEnded, inv)
}

// ringTwoDevices logs in bob on two devices, alice and carol, and rings
// bob's devices from alice.
func ringTwoDevices(t *testing.T) (bob, bob2, alice, carol *client, inv string) {
	t.Helper()
	srv := rtmcalltest.NewServer(t)
	bob, bob2 = login(t, srv, "bob"), login(t, srv, "bob")
	alice, carol = login(t, srv, "alice"), login(t, srv, "carol")
	inv = alice.send("bob")
	bob.expect(protocol.TypeInvite, inv)
	bob2.expect(protocol.TypeInvite, inv)
	return bob, bob2, alice, carol, inv
}

func TestHangup(t *testing.T) {
	bob, bob2, alice, carol, inv := ringTwoDevices(t)
	alice.fails(&protocol.Frame{Type: protocol.TypeHangup, Inv: inv}, protocol.CodeNotStarted)
	bob.fails(&protocol.Frame{Type: protocol.TypeHangup, Inv: inv}, protocol.CodeNotStarted)
	carol.fails(&protocol.Frame{Type: protocol.TypeHangup, Inv: inv}, protocol.CodeNotYours)
	bob.answered(&protocol.Frame{Type: protocol.TypeAccept, Inv: inv}, protocol.TypeRemoteAccepted)
	alice.expect(protocol.TypeLocalAccepted, inv)
	bob2.expect(protocol.TypeRemoteFailure, inv)

	bob2.fails(&protocol.Frame{Type: protocol.TypeHangup, Inv: inv}, protocol.CodeNotYours) // answered elsewhere: not its call
	carol.fails(&protocol.Frame{Type: protocol.TypeHangup, Inv: inv}, protocol.CodeNotYours)
	alice.answered(&protocol.Frame{Type: protocol.TypeHangup, Inv: inv}, protocol.TypeCallEnded+" HANGUP")
	f := bob.expect(protocol.TypeCallEnded, inv)
	assert.Equal(t, "HANGUP", f.Reason)
	assert.Equal(t, "alice", f.By)
	alice.fails(&protocol.Frame{Type: protocol.TypeHangup, Inv: inv}, protocol.CodeAlreadyEnd)
	bob.fails(&protocol.Frame{Type: protocol.TypeHangup, Inv: inv}, protocol.CodeAlreadyEnd)
	bob2.fails(&protocol.Frame{Type: protocol.TypeHangup, Inv: inv}, protocol.CodeNotYours)

	// Refused: never a call.
	inv = alice.send("carol")
	carol.expect(protocol.TypeInvite, inv)
	carol.okAfter(&protocol.Frame{Type: protocol.TypeRefuse, Inv: inv}, protocol.TypeRemoteRefused)
	alice.expect(protocol.TypeLocalRefused, inv)
	alice.fails(&protocol.Frame{Type: protocol.TypeHangup, Inv: inv}, protocol.CodeNotStarted)
	carol.fails(&protocol.Frame{Type: protocol.TypeHangup, Inv: inv}, protocol.CodeNotStarted)
	bob.sync()
}

// Both sides hang up at once: one gets its call.ended as the reply, the
// other ALREADY_END after the same single call.ended.
func TestHangupRace(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	bob := login(t, srv, "bob")
	alice := login(t, srv, "alice")
	for range 20 {
		inv := inCall(t, alice, bob)
		ra := alice.start(&protocol.Frame{Type: protocol.TypeHangup, Inv: inv})
		rb := bob.start(&protocol.Frame{Type: protocol.TypeHangup, Inv: inv})
		replyA, beforeA := alice.reply(ra)
		replyB, beforeB := bob.reply(rb)
		winner, loser, before := replyA, replyB, beforeB
		if replyB.Type == protocol.TypeCallEnded {
			winner, loser, before = replyB, replyA, beforeA
		}
		require.Equal(t, protocol.TypeCallEnded, winner.Type, "the winner's reply is its call.ended")
		assert.Equal(t, "HANGUP", winner.Reason)
		requireError(t, loser, protocol.CodeAlreadyEnd)
		require.Equal(t, []string{"call.ended HANGUP"}, types(before), "the loser's call.ended, without a rid, came first")
		assert.Zero(t, before[0].RID)
		assert.Equal(t, winner.By, before[0].By, "both agree who hung up")
		assert.Empty(t, append(beforeA, beforeB...)[1:], "one call.ended each")
	}
}

// A session that ends mid-call ends the call: the other party gets
// PEER_OFFLINE; on logout the leaving session first gets UNKNOWN.
func TestSessionEndsMidCall(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	bob := login(t, srv, "bob")
	alice := login(t, srv, "alice")

	inv := inCall(t, alice, bob)
	reply, before := bob.do(&protocol.Frame{Type: protocol.TypeLogout})
	assert.Equal(t, protocol.TypeOK, reply.Type)
	assert.Equal(t, []string{protocol.TypeCallEnded + " UNKNOWN"}, types(before))
	assert.Equal(t, "PEER_OFFLINE", alice.expect(protocol.TypeCallEnded, inv).Reason)
	alice.fails(&protocol.Frame{Type: protocol.TypeHangup, Inv: inv}, protocol.CodeAlreadyEnd)

	bob.login("bob")
	inv = inCall(t, alice, bob)
	alice.leave()
	assert.Equal(t, "PEER_OFFLINE", bob.expect(protocol.TypeCallEnded, inv).Reason)
	bob.sync()
}

func TestShutdownEndsCalls(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	bob := login(t, srv, "bob")
	alice := login(t, srv, "alice")
	inv := inCall(t, alice, bob)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	require.NoError(t, srv.Node.Shutdown(ctx))
	for _, c := range []*client{alice, bob} {
		before, status, _ := c.closed()
		assert.Equal(t, []string{protocol.TypeCallEnded + " SERVER_SHUTDOWN", protocol.TypeBye + " INTERRUPTED"}, types(before))
		assert.Equal(t, inv, before[0].Inv)
		assert.Equal(t, websocket.StatusGoingAway, status)
	}
}

// A user is busy while any session is in a call: an invitation fails at
// once with PEER_BUSY and no device rings, unless a session has call
// waiting on: then only those ring, with busy set.
func TestBusy(t *testing.T) {
	bob, bobPhone, alice, carol, inv := ringTwoDevices(t)
	bob.answered(&protocol.Frame{Type: protocol.TypeAccept, Inv: inv}, protocol.TypeRemoteAccepted)
	alice.expect(protocol.TypeLocalAccepted, inv)
	bobPhone.expect(protocol.TypeRemoteFailure, inv)

	reply, before := carol.do(&protocol.Frame{Type: protocol.TypeSend, Callee: "bob"})
	require.Equal(t, protocol.TypeOK, reply.Type)
	assert.Empty(t, before)
	assert.Equal(t, "PEER_BUSY", carol.expect(protocol.TypeLocalFailure, reply.Inv).Reason)
	bob.sync()
	bobPhone.sync()

	// The caller is busy too.
	reply, _ = carol.do(&protocol.Frame{Type: protocol.TypeSend, Callee: "alice"})
	assert.Equal(t, "PEER_BUSY", carol.expect(protocol.TypeLocalFailure, reply.Inv).Reason)

	bobPhone.ok(&protocol.Frame{Type: protocol.TypeWaiting, Waiting: true})
	waiting := carol.send("bob")
	f := bobPhone.expect(protocol.TypeInvite, waiting)
	assert.True(t, f.Busy)
	bob.sync() // no call waiting: does not ring

	bobPhone.ok(&protocol.Frame{Type: protocol.TypeWaiting, Waiting: false})
	reply, _ = carol.do(&protocol.Frame{Type: protocol.TypeSend, Callee: "bob"})
	assert.Equal(t, "PEER_BUSY", carol.expect(protocol.TypeLocalFailure, reply.Inv).Reason)

	alice.answered(&protocol.Frame{Type: protocol.TypeHangup, Inv: inv}, protocol.TypeCallEnded+" HANGUP")
	bob.expect(protocol.TypeCallEnded, inv)
	free := carol.send("bob") // not busy any more: every device rings, not busy
	assert.False(t, bob.expect(protocol.TypeInvite, free).Busy)
	assert.False(t, bobPhone.expect(protocol.TypeInvite, free).Busy)
}

// Ignore stops one device ringing; the caller is not told; when the last
// ringing device ignores, the invitation goes on until it expires.
func TestIgnore(t *testing.T) {
	bob, bobPhone, alice, carol, inv := ringTwoDevices(t)
	carol.fails(&protocol.Frame{Type: protocol.TypeIgnore, Inv: inv}, protocol.CodeNotYours)
	bob.ok(&protocol.Frame{Type: protocol.TypeIgnore, Inv: inv})
	bob.fails(&protocol.Frame{Type: protocol.TypeIgnore, Inv: inv}, protocol.CodeAlreadyEnd)
	bob.fails(&protocol.Frame{Type: protocol.TypeAccept, Inv: inv}, protocol.CodeAlreadyEnd)
	alice.sync() // not told
	bobPhone.okAfter(&protocol.Frame{Type: protocol.TypeRefuse, Inv: inv}, protocol.TypeRemoteRefused)
	alice.expect(protocol.TypeLocalRefused, inv)
	bob.sync() // no event after ignoring

	short := alice.ok(&protocol.Frame{Type: protocol.TypeSend, Callee: "bob", Timeout: 1000}).Inv
	bob.expect(protocol.TypeInvite, short)
	bobPhone.expect(protocol.TypeInvite, short)
	bob.ok(&protocol.Frame{Type: protocol.TypeIgnore, Inv: short})
	bobPhone.ok(&protocol.Frame{Type: protocol.TypeIgnore, Inv: short})
	bobPhone.leave() // nobody rings and a device left: still not PEER_OFFLINE
	assert.Equal(t, "INVITATION_EXPIRE", alice.expect(protocol.TypeLocalFailure, short).Reason)
	bob.sync()
}

// An accept carried out is answered by the requester's remote.accepted,
// and a hangup by its call.ended, each carrying the request's rid, with
// no ok after (PROTOCOL.md "Frames"). The frames to the other parties,
// another device of the callee's user included, carry none; the replies
// count for lastRid and are replayed with their rid on resume.
func TestAnswersRepliedByTheirEvents(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	alice := login(t, srv, "alice")
	bob, bob2 := login(t, srv, "bob"), login(t, srv, "bob")
	inv := alice.send("bob")
	bob.expect(protocol.TypeInvite, inv)
	bob2.expect(protocol.TypeInvite, inv)

	accept := frame(protocol.TypeAccept, inv)
	reply := bob.answered(accept, protocol.TypeRemoteAccepted)
	assert.Equal(t, accept.RID, reply.RID)
	assert.Zero(t, alice.expect(protocol.TypeLocalAccepted, inv).RID)
	assert.Zero(t, bob2.expect(protocol.TypeRemoteFailure, inv).RID, "ANSWERED_ELSEWHERE to the other device")

	bob.ws.CloseNow() // dropped before bob handled the reply
	again, resumed := resume(t, srv, bob, reply.Seq-1)
	require.Equal(t, protocol.TypeOK, resumed.Type, "%+v", resumed)
	assert.Equal(t, accept.RID, resumed.LastRID, "the accept was answered")
	replayed := again.expect(protocol.TypeRemoteAccepted, inv)
	assert.Equal(t, accept.RID, replayed.RID, "replayed with its rid")
	assert.Equal(t, reply.Seq, replayed.Seq)
	again.rid = max(again.rid, bob.rid)
	again.sync() // no ok in between

	hangup := frame(protocol.TypeHangup, inv)
	reply = again.answered(hangup, protocol.TypeCallEnded+" HANGUP")
	assert.Equal(t, hangup.RID, reply.RID)
	assert.Equal(t, "bob", reply.By)
	ended := alice.expect(protocol.TypeCallEnded, inv)
	assert.Zero(t, ended.RID)
	assert.Equal(t, "bob", ended.By)
	again.sync()
	alice.sync()
	bob2.sync()
}
