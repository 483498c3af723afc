//go:build !js

package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// sendGroup sends a group invitation and returns its id; the frames after
// the reply are the caller's to read.
func (c *client) sendGroup(mode string, callees ...string) string {
	c.t.Helper()
	reply := c.ok(&protocol.Frame{Type: protocol.TypeSend, Callees: callees, Mode: mode})
	require.Len(c.t, reply.Inv, 32)
	return reply.Inv
}

// expectCallee requires the next frame to be local.callee about callee of
// group g, moving to state.
func (c *client) expectCallee(g, callee, state string) *protocol.Frame {
	c.t.Helper()
	f := c.expect(protocol.TypeLocalCallee, g)
	require.Equal(c.t, callee+" "+state, f.Callee+" "+f.State, "%s: %+v", c.name, f)
	return f
}

// rung requires an invite of group g's callee, with the group, and returns its id.
func (c *client) rung(mode string, callees ...string) string {
	c.t.Helper()
	f := c.expect(protocol.TypeInvite, "")
	require.Equal(c.t, callees, f.Callees)
	require.Equal(c.t, mode, f.Mode)
	return f.Inv
}

// Offline and busy callees fail at once, after the reply; the others ring;
// the hunt group ends refused when every callee refused or failed.
func TestGroupFirstAllRefuseOrFail(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	alice, dave := login(t, srv, "alice"), login(t, srv, "dave")
	ann, ben, cat := login(t, srv, "ann"), login(t, srv, "ben"), login(t, srv, "cat")
	call := dave.send("cat")
	cat.expect(protocol.TypeInvite, call)
	cat.answered(frame(protocol.TypeAccept, call), protocol.TypeRemoteAccepted)
	dave.expect(protocol.TypeLocalAccepted, call) // cat is busy now

	g := alice.sendGroup(protocol.GroupFirst, "ann", "ben", "cat", "eve")
	alice.expectCallee(g, "cat", "FAILURE")
	f := alice.expectCallee(g, "eve", "FAILURE")
	assert.Equal(t, "PEER_OFFLINE", f.Reason)
	a, b := ann.rung(protocol.GroupFirst, "ann", "ben", "cat", "eve"), ben.rung(protocol.GroupFirst, "ann", "ben", "cat", "eve")
	ann.okAfter(frame(protocol.TypeRefuse, a), protocol.TypeRemoteRefused)
	alice.expectCallee(g, "ann", "REFUSED")
	ben.okAfter(frame(protocol.TypeRefuse, b), protocol.TypeRemoteRefused)
	alice.expectCallee(g, "ben", "REFUSED")
	alice.expect(protocol.TypeLocalRefused, g)
	alice.sync()
	cat.sync()
}

func TestGroupFirstAllFailGivesTheLastReason(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	alice := login(t, srv, "alice")
	g := alice.sendGroup(protocol.GroupFirst, "x", "y")
	alice.expectCallee(g, "x", "FAILURE")
	alice.expectCallee(g, "y", "FAILURE")
	f := alice.expect(protocol.TypeLocalFailure, g)
	assert.Equal(t, "PEER_OFFLINE", f.Reason)
	alice.fails(frame(protocol.TypeCancel, g), protocol.CodeAlreadyEnd)
	alice.fails(frame(protocol.TypeHangup, g), protocol.CodeNotStarted)
}

// The caller cancels: every callee still ringing gets remote.canceled;
// the callees that answered keep their outcome.
func TestGroupCancel(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	alice, ann, ben, cat := login(t, srv, "alice"), login(t, srv, "ann"), login(t, srv, "ben"), login(t, srv, "cat")
	g := alice.sendGroup(protocol.GroupAll, "ann", "ben", "cat")
	a, b, c := ann.rung(protocol.GroupAll, "ann", "ben", "cat"), ben.rung(protocol.GroupAll, "ann", "ben", "cat"),
		cat.rung(protocol.GroupAll, "ann", "ben", "cat")
	ann.okAfter(frame(protocol.TypeRefuse, a), protocol.TypeRemoteRefused)
	alice.expectCallee(g, "ann", "REFUSED")
	// Only the caller's session cancels; the callees may not, by either id.
	ben.fails(frame(protocol.TypeCancel, g), protocol.CodeNotYours)
	ben.fails(frame(protocol.TypeCancel, b), protocol.CodeNotYours)
	ben.fails(frame(protocol.TypeAccept, g), protocol.CodeNotYours)
	alice.fails(frame(protocol.TypeCancel, b), protocol.CodeNotYours) // a callee is canceled with the group
	alice.fails(frame(protocol.TypeAccept, b), protocol.CodeNotYours)
	alice2 := login(t, srv, "alice")
	alice2.fails(frame(protocol.TypeCancel, g), protocol.CodeNotYours)
	ann.fails(frame(protocol.TypeAccept, b), protocol.CodeNotYours)

	reply, before := alice.do(frame(protocol.TypeCancel, g))
	require.Equal(t, protocol.TypeOK, reply.Type)
	require.Equal(t, []string{protocol.TypeLocalCallee, protocol.TypeLocalCallee, protocol.TypeLocalCanceled}, types(before))
	assert.Equal(t, "ben CANCELED", before[0].Callee+" "+before[0].State)
	assert.Equal(t, "cat CANCELED", before[1].Callee+" "+before[1].State)
	ben.expect(protocol.TypeRemoteCanceled, b)
	cat.expect(protocol.TypeRemoteCanceled, c)
	cat.fails(frame(protocol.TypeAccept, c), protocol.CodeAlreadyEnd)
	alice.fails(frame(protocol.TypeCancel, g), protocol.CodeAlreadyEnd)
}

func TestGroupLimits(t *testing.T) {
	srv := rtmcalltest.NewServer(t, func(c *server.Config) { c.MaxPendingPerUser = 1 })
	alice := login(t, srv, "alice")
	users := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("u%d", i)
		}
		return out
	}
	send := func(mode string, callees ...string) *protocol.Frame {
		return &protocol.Frame{Type: protocol.TypeSend, Callees: callees, Mode: mode}
	}
	// At the bound: 16 offline callees fail at once, after the reply.
	g := alice.sendGroup(protocol.GroupAll, users(protocol.MaxGroupCallees)...)
	for _, u := range users(protocol.MaxGroupCallees) {
		alice.expectCallee(g, u, "FAILURE")
	}
	alice.expect(protocol.TypeLocalFailure, g)
	for _, f := range []*protocol.Frame{
		send(protocol.GroupAll, users(protocol.MaxGroupCallees+1)...), // one past the bound
		send(protocol.GroupAll, "u1"),                                 // one callee is not a group
		send(protocol.GroupFirst, "u1", "u2", "u1"),                   // duplicate
		send(protocol.GroupFirst, "u1", "alice"),                      // self
		send("any", "u1", "u2"),                                       // mode
		send("", "u1", "u2"),
		{Type: protocol.TypeSend, Callee: "u1", Mode: protocol.GroupFirst},
		{Type: protocol.TypeSend, Callee: "u0", Callees: []string{"u1", "u2"}, Mode: protocol.GroupFirst},
		send(protocol.GroupFirst, "u1", strings.Repeat("x", 65)),
	} {
		alice.fails(f, protocol.CodeInvalidArgument)
	}
	// A group counts once against the pending cap.
	bob, carl := login(t, srv, "bob"), login(t, srv, "carl")
	g = alice.sendGroup(protocol.GroupFirst, "bob", "carl")
	alice.fails(&protocol.Frame{Type: protocol.TypeSend, Callee: "bob"}, protocol.CodeTooManyPending)
	alice.fails(send(protocol.GroupFirst, "bob", "carl"), protocol.CodeTooManyPending)
	alice.okAfter(frame(protocol.TypeCancel, g), protocol.TypeLocalCallee, protocol.TypeLocalCallee, protocol.TypeLocalCanceled)
	bob.expect(protocol.TypeInvite, "")
	carl.expect(protocol.TypeInvite, "")
	alice.send("bob")
}

// The server's setting lowers the bound: at it and one past it.
func TestGroupServerBound(t *testing.T) {
	srv := rtmcalltest.NewServer(t, func(c *server.Config) { c.MaxGroupCallees = 3 })
	alice := login(t, srv, "alice")
	g := alice.sendGroup(protocol.GroupFirst, "a", "b", "c")
	for _, u := range []string{"a", "b", "c"} {
		alice.expectCallee(g, u, "FAILURE")
	}
	alice.expect(protocol.TypeLocalFailure, g)
	f := alice.fails(&protocol.Frame{Type: protocol.TypeSend, Callees: []string{"a", "b", "c", "d"}, Mode: protocol.GroupFirst},
		protocol.CodeInvalidArgument)
	assert.Contains(t, f.Message, "at most 3")
	for _, n := range []int{1, 17} {
		_, err := server.New(server.Config{Dev: true, MaxGroupCallees: n})
		assert.ErrorIs(t, err, server.ErrInvalidConfig, "%d", n)
	}
}

// A hunt group: every device of every callee rings; the first accept wins;
// the winner's other devices get ANSWERED_ELSEWHERE, the other callees
// ANSWERED_BY_OTHER with the winner; a one-to-one call follows.
func TestGroupFirstAccept(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	alice, ann := login(t, srv, "alice"), login(t, srv, "ann")
	ben1, ben2 := login(t, srv, "ben"), login(t, srv, "ben")
	callees := []string{"ann", "ben"}
	g := alice.sendGroup(protocol.GroupFirst, callees...)
	a, b := ann.rung(protocol.GroupFirst, callees...), ben1.rung(protocol.GroupFirst, callees...)
	require.Equal(t, b, ben2.rung(protocol.GroupFirst, callees...), "one invitation per callee, on each device")
	assert.NotEqual(t, g, a)
	ann.ack(a)
	alice.expectCallee(g, "ann", "RECEIVED")
	alice.expect(protocol.TypeLocalReceived, g)
	ben1.ack(b)
	alice.expectCallee(g, "ben", "RECEIVED")

	ben1.answered(&protocol.Frame{Type: protocol.TypeAccept, Inv: b, Response: "mine"}, protocol.TypeRemoteAccepted)
	f := ben2.expect(protocol.TypeRemoteFailure, b)
	assert.Equal(t, "ANSWERED_ELSEWHERE", f.Reason)
	f = ann.expect(protocol.TypeRemoteFailure, a)
	assert.Equal(t, "ANSWERED_BY_OTHER ben", f.Reason+" "+f.By)
	assert.Equal(t, "mine", alice.expectCallee(g, "ben", "ACCEPTED").Response)
	alice.expectCallee(g, "ann", "CANCELED")
	f = alice.expect(protocol.TypeLocalAccepted, g)
	assert.Equal(t, "ben mine", f.Callee+" "+f.Response)
	ann.fails(frame(protocol.TypeAccept, a), protocol.CodeAlreadyEnd)
	alice.fails(frame(protocol.TypeCancel, g), protocol.CodeAlreadyEnd)

	// The call is one-to-one: alice under the group's id, ben under his.
	ann.fails(frame(protocol.TypeHangup, a), protocol.CodeNotStarted)
	ben2.fails(frame(protocol.TypeHangup, b), protocol.CodeNotYours)
	ben1.answered(frame(protocol.TypeHangup, b), protocol.TypeCallEnded+" HANGUP")
	f = alice.expect(protocol.TypeCallEnded, g)
	assert.Equal(t, "HANGUP ben", f.Reason+" "+f.By)
	assert.Empty(t, f.Callee)
	alice.fails(frame(protocol.TypeHangup, g), protocol.CodeAlreadyEnd)
	alice.sync()
	ann.sync()
}

// The caller hangs up a hunt group's call by the group's id.
func TestGroupFirstCallerHangsUp(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	alice, ann, ben := login(t, srv, "alice"), login(t, srv, "ann"), login(t, srv, "ben")
	g := alice.sendGroup(protocol.GroupFirst, "ann", "ben")
	a := ann.rung(protocol.GroupFirst, "ann", "ben")
	ben.rung(protocol.GroupFirst, "ann", "ben")
	alice.fails(frame(protocol.TypeHangup, g), protocol.CodeNotStarted)
	ann.answered(frame(protocol.TypeAccept, a), protocol.TypeRemoteAccepted)
	ben.expect(protocol.TypeRemoteFailure, "")
	alice.expectCallee(g, "ann", "ACCEPTED")
	alice.expectCallee(g, "ben", "CANCELED")
	alice.expect(protocol.TypeLocalAccepted, g)
	// Both are busy now.
	carl := login(t, srv, "carl")
	assert.Equal(t, "PEER_BUSY", carl.expect(protocol.TypeLocalFailure, carl.send("alice")).Reason)
	alice.answered(frame(protocol.TypeHangup, g), protocol.TypeCallEnded+" HANGUP")
	f := ann.expect(protocol.TypeCallEnded, a)
	assert.Equal(t, "alice", f.By)
	alice.fails(frame(protocol.TypeHangup, g), protocol.CodeAlreadyEnd)
}

// A group call: each callee answers for themselves, the caller sees each
// outcome; the caller is in a call with each callee who accepted, and its
// call ends with the last leg.
func TestGroupAll(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	alice, ann, ben, cat := login(t, srv, "alice"), login(t, srv, "ann"), login(t, srv, "ben"), login(t, srv, "cat")
	callees := []string{"ann", "ben", "cat"}
	g := alice.sendGroup(protocol.GroupAll, callees...)
	a, b, c := ann.rung(protocol.GroupAll, callees...), ben.rung(protocol.GroupAll, callees...), cat.rung(protocol.GroupAll, callees...)
	ann.answered(frame(protocol.TypeAccept, a), protocol.TypeRemoteAccepted)
	alice.expectCallee(g, "ann", "ACCEPTED")
	ben.okAfter(&protocol.Frame{Type: protocol.TypeRefuse, Inv: b, Response: "later"}, protocol.TypeRemoteRefused)
	assert.Equal(t, "later", alice.expectCallee(g, "ben", "REFUSED").Response)
	alice.sync() // the group still rings cat
	cat.answered(frame(protocol.TypeAccept, c), protocol.TypeRemoteAccepted)
	alice.expectCallee(g, "cat", "ACCEPTED")
	alice.expect(protocol.TypeLocalAccepted, g)

	// A callee's hang-up ends its leg; the caller's ends every leg.
	ann.answered(frame(protocol.TypeHangup, a), protocol.TypeCallEnded+" HANGUP")
	f := alice.expect(protocol.TypeCallEnded, g)
	assert.Equal(t, "ann ann", f.Callee+" "+f.By)
	ann.fails(frame(protocol.TypeHangup, a), protocol.CodeAlreadyEnd)
	cat.fails(frame(protocol.TypeHangup, g), protocol.CodeNotYours)
	reply, before := alice.do(frame(protocol.TypeHangup, g))
	require.Len(t, before, 1)
	assert.Equal(t, "call.ended cat alice", before[0].Type+" "+before[0].Callee+" "+before[0].By)
	assert.Zero(t, before[0].RID)
	assert.Equal(t, "call.ended  alice", reply.Type+" "+reply.Callee+" "+reply.By, "the caller's call ends: the hangup's reply")
	f = cat.expect(protocol.TypeCallEnded, c)
	assert.Equal(t, "alice", f.By)
	alice.fails(frame(protocol.TypeHangup, g), protocol.CodeAlreadyEnd)
	alice.sync()
	ben.sync()
}

// A group call whose caller hangs up while a callee still rings: that
// callee is canceled, and the caller's call is over.
func TestGroupAllHangupCancelsTheRinging(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	alice, ann, ben := login(t, srv, "alice"), login(t, srv, "ann"), login(t, srv, "ben")
	g := alice.sendGroup(protocol.GroupAll, "ann", "ben")
	a, b := ann.rung(protocol.GroupAll, "ann", "ben"), ben.rung(protocol.GroupAll, "ann", "ben")
	ann.answered(frame(protocol.TypeAccept, a), protocol.TypeRemoteAccepted)
	alice.expectCallee(g, "ann", "ACCEPTED")
	reply, before := alice.do(frame(protocol.TypeHangup, g))
	require.Equal(t, []string{protocol.TypeLocalCallee, protocol.TypeLocalAccepted, "call.ended HANGUP"}, types(before))
	assert.Equal(t, "ben CANCELED", before[0].Callee+" "+before[0].State)
	assert.Equal(t, "ann", before[2].Callee)
	require.Equal(t, protocol.TypeCallEnded, reply.Type, "the reply is the caller's call's end")
	assert.Empty(t, reply.Callee)
	ben.expect(protocol.TypeRemoteCanceled, b)
	ann.expect(protocol.TypeCallEnded, a)
	ben.fails(frame(protocol.TypeAccept, b), protocol.CodeAlreadyEnd)
}

// The legs end first, then the last callee refuses: the caller's call
// ends when the group does.
func TestGroupAllCallEndsWithTheGroup(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	alice, ann, ben := login(t, srv, "alice"), login(t, srv, "ann"), login(t, srv, "ben")
	g := alice.sendGroup(protocol.GroupAll, "ann", "ben")
	a, b := ann.rung(protocol.GroupAll, "ann", "ben"), ben.rung(protocol.GroupAll, "ann", "ben")
	ann.answered(frame(protocol.TypeAccept, a), protocol.TypeRemoteAccepted)
	alice.expectCallee(g, "ann", "ACCEPTED")
	ann.answered(frame(protocol.TypeHangup, a), protocol.TypeCallEnded+" HANGUP")
	assert.Equal(t, "ann", alice.expect(protocol.TypeCallEnded, g).Callee)
	alice.sync()
	ben.okAfter(frame(protocol.TypeRefuse, b), protocol.TypeRemoteRefused)
	alice.expectCallee(g, "ben", "REFUSED")
	alice.expect(protocol.TypeLocalAccepted, g)
	f := alice.expect(protocol.TypeCallEnded, g)
	assert.Equal(t, "HANGUP ann", f.Reason+" "+f.By)
	assert.Empty(t, f.Callee)
	alice.sync()
}

// Nobody answers: every callee's invitation expires, then the group.
func TestGroupExpiry(t *testing.T) {
	srv := rtmcalltest.NewServer(t, func(c *server.Config) { c.InvitationTimeout = 200 * time.Millisecond })
	alice, ann, ben := login(t, srv, "alice"), login(t, srv, "ann"), login(t, srv, "ben")
	for _, mode := range []string{protocol.GroupFirst, protocol.GroupAll} {
		g := alice.sendGroup(mode, "ann", "ben")
		a, b := ann.rung(mode, "ann", "ben"), ben.rung(mode, "ann", "ben")
		ann.ack(a)
		alice.expectCallee(g, "ann", "RECEIVED")
		alice.expect(protocol.TypeLocalReceived, g)
		ben.ack(b)
		alice.expectCallee(g, "ben", "RECEIVED")
		got := map[string]string{}
		for range 2 {
			f := alice.expect(protocol.TypeLocalCallee, g)
			got[f.Callee] = f.State + " " + f.Reason
		}
		assert.Equal(t, map[string]string{"ann": "FAILURE INVITATION_EXPIRE", "ben": "FAILURE INVITATION_EXPIRE"}, got)
		assert.Equal(t, "INVITATION_EXPIRE", alice.expect(protocol.TypeLocalFailure, g).Reason)
		assert.Equal(t, "INVITATION_EXPIRE", ann.expect(protocol.TypeRemoteFailure, a).Reason)
		assert.Equal(t, "INVITATION_EXPIRE", ben.expect(protocol.TypeRemoteFailure, b).Reason)
		alice.fails(frame(protocol.TypeCancel, g), protocol.CodeAlreadyEnd)
	}
	// One accepted, the other expires: a group call ends accepted.
	g := alice.sendGroup(protocol.GroupAll, "ann", "ben")
	a := ann.rung(protocol.GroupAll, "ann", "ben")
	ben.rung(protocol.GroupAll, "ann", "ben")
	ann.answered(frame(protocol.TypeAccept, a), protocol.TypeRemoteAccepted)
	alice.expectCallee(g, "ann", "ACCEPTED")
	f := alice.expectCallee(g, "ben", "FAILURE")
	assert.Equal(t, "INVITATION_EXPIRE", f.Reason)
	alice.expect(protocol.TypeLocalAccepted, g)
	ben.expect(protocol.TypeRemoteFailure, "")
}

// Two agents accept at once, round after round: exactly one wins, and
// caller, winner and loser agree on who.
func TestGroupFirstRace(t *testing.T) {
	srv := rtmcalltest.NewServer(t, unlimited)
	alice, ann, ben := login(t, srv, "alice"), login(t, srv, "ann"), login(t, srv, "ben")
	agents := map[string]*client{"ann": ann, "ben": ben}
	for round := range 30 {
		g := alice.sendGroup(protocol.GroupFirst, "ann", "ben")
		ids := map[string]string{"ann": ann.rung(protocol.GroupFirst, "ann", "ben"), "ben": ben.rung(protocol.GroupFirst, "ann", "ben")}
		rids := map[string]uint64{}
		for name, c := range agents { // both requests are on the wire before either reply is read
			rids[name] = c.start(frame(protocol.TypeAccept, ids[name]))
		}
		won := map[string]bool{}
		for name, c := range agents {
			reply, before := c.reply(rids[name])
			if reply.Type == protocol.TypeRemoteAccepted {
				won[name] = true
				require.Empty(t, before, "round %d", round)
				continue
			}
			requireError(t, reply, protocol.CodeAlreadyEnd)
			require.Equal(t, []string{"remote.failure ANSWERED_BY_OTHER"}, types(before), "round %d", round)
		}
		require.Len(t, won, 1, "round %d: exactly one winner", round)
		var winner, loser string
		for name := range agents {
			if won[name] {
				winner = name
			} else {
				loser = name
			}
		}
		alice.expectCallee(g, winner, "ACCEPTED")
		alice.expectCallee(g, loser, "CANCELED")
		assert.Equal(t, winner, alice.expect(protocol.TypeLocalAccepted, g).Callee, "round %d", round)
		alice.answered(frame(protocol.TypeHangup, g), protocol.TypeCallEnded+" HANGUP")
		agents[winner].expect(protocol.TypeCallEnded, ids[winner])
	}
}

// Accept against cancel: whichever the server takes first decides, and
// both parties agree.
func TestGroupAcceptVersusCancel(t *testing.T) {
	srv := rtmcalltest.NewServer(t, unlimited)
	alice, ann, ben := login(t, srv, "alice"), login(t, srv, "ann"), login(t, srv, "ben")
	for round := range 30 {
		g := alice.sendGroup(protocol.GroupFirst, "ann", "ben")
		a, b := ann.rung(protocol.GroupFirst, "ann", "ben"), ben.rung(protocol.GroupFirst, "ann", "ben")
		accept := ann.start(frame(protocol.TypeAccept, a))
		cancel := alice.start(frame(protocol.TypeCancel, g))
		annReply, annBefore := ann.reply(accept)
		aliceReply, aliceBefore := alice.reply(cancel)
		if annReply.Type == protocol.TypeRemoteAccepted {
			requireError(t, aliceReply, protocol.CodeAlreadyEnd)
			require.Empty(t, annBefore, "round %d", round)
			require.Equal(t, []string{protocol.TypeLocalCallee, protocol.TypeLocalCallee, protocol.TypeLocalAccepted}, types(aliceBefore), "round %d", round)
			ben.expect(protocol.TypeRemoteFailure, b)
			alice.answered(frame(protocol.TypeHangup, g), protocol.TypeCallEnded+" HANGUP")
			ann.expect(protocol.TypeCallEnded, a)
			continue
		}
		requireError(t, annReply, protocol.CodeAlreadyEnd)
		require.Equal(t, protocol.TypeOK, aliceReply.Type, "round %d", round)
		require.Equal(t, []string{protocol.TypeRemoteCanceled}, types(annBefore), "round %d", round)
		require.Equal(t, []string{protocol.TypeLocalCallee, protocol.TypeLocalCallee, protocol.TypeLocalCanceled}, types(aliceBefore), "round %d", round)
		ben.expect(protocol.TypeRemoteCanceled, b)
	}
}

// A group over three nodes: the caller's node owns it; callees on the
// other nodes ring, accept and hang up through theirs.
func TestGroupCluster(t *testing.T) {
	cl := rtmcalltest.NewCluster(t, 3)
	alice := login(t, cl.Nodes[0], "alice")
	ann, ben1, ben2 := login(t, cl.Nodes[1], "ann"), login(t, cl.Nodes[2], "ben"), login(t, cl.Nodes[0], "ben")
	cat := login(t, cl.Nodes[2], "cat")
	cl.Sync()
	callees := []string{"ann", "ben", "cat", "dan"}
	g := alice.sendGroup(protocol.GroupFirst, callees...)
	assert.Equal(t, cl.Nodes[0].Node.ID(), g[:8], "owned by the caller's node")
	f := alice.expectCallee(g, "dan", "FAILURE")
	assert.Equal(t, "PEER_OFFLINE", f.Reason)
	a, b, c := ann.rung(protocol.GroupFirst, callees...), ben1.rung(protocol.GroupFirst, callees...), cat.rung(protocol.GroupFirst, callees...)
	require.Equal(t, b, ben2.rung(protocol.GroupFirst, callees...))
	cat.okAfter(frame(protocol.TypeRefuse, c), protocol.TypeRemoteRefused)
	alice.expectCallee(g, "cat", "REFUSED")
	ben1.answered(frame(protocol.TypeAccept, b), protocol.TypeRemoteAccepted)
	assert.Equal(t, "ANSWERED_ELSEWHERE", ben2.expect(protocol.TypeRemoteFailure, b).Reason)
	f = ann.expect(protocol.TypeRemoteFailure, a)
	assert.Equal(t, "ANSWERED_BY_OTHER ben", f.Reason+" "+f.By)
	alice.expectCallee(g, "ben", "ACCEPTED")
	alice.expectCallee(g, "ann", "CANCELED")
	assert.Equal(t, "ben", alice.expect(protocol.TypeLocalAccepted, g).Callee)
	ann.fails(frame(protocol.TypeAccept, a), protocol.CodeAlreadyEnd)
	ben1.answered(frame(protocol.TypeHangup, b), protocol.TypeCallEnded+" HANGUP")
	assert.Equal(t, "ben", alice.expect(protocol.TypeCallEnded, g).By)

	// A group call over the nodes: the caller hangs up every leg.
	g = alice.sendGroup(protocol.GroupAll, "ann", "cat")
	a, c = ann.rung(protocol.GroupAll, "ann", "cat"), cat.rung(protocol.GroupAll, "ann", "cat")
	ann.answered(frame(protocol.TypeAccept, a), protocol.TypeRemoteAccepted)
	alice.expectCallee(g, "ann", "ACCEPTED")
	cat.answered(frame(protocol.TypeAccept, c), protocol.TypeRemoteAccepted)
	alice.expectCallee(g, "cat", "ACCEPTED")
	alice.expect(protocol.TypeLocalAccepted, g)
	alice.answered(frame(protocol.TypeHangup, g), "call.ended HANGUP", "call.ended HANGUP", "call.ended HANGUP")
	ann.expect(protocol.TypeCallEnded, a)
	cat.expect(protocol.TypeCallEnded, c)
}

// The caller's session leaves with a group pending: every callee stops
// ringing, and the group no longer counts against the caller's cap.
func TestGroupCallerLeaves(t *testing.T) {
	srv := rtmcalltest.NewServer(t, func(c *server.Config) { c.MaxPendingPerUser = 1 })
	alice, ann, ben := login(t, srv, "alice"), login(t, srv, "ann"), login(t, srv, "ben")
	alice.sendGroup(protocol.GroupFirst, "ann", "ben")
	a, b := ann.rung(protocol.GroupFirst, "ann", "ben"), ben.rung(protocol.GroupFirst, "ann", "ben")
	alice.leave()
	assert.Equal(t, "PEER_OFFLINE", ann.expect(protocol.TypeRemoteFailure, a).Reason)
	assert.Equal(t, "PEER_OFFLINE", ben.expect(protocol.TypeRemoteFailure, b).Reason)
	again := login(t, srv, "alice")
	again.sendGroup(protocol.GroupFirst, "ann", "ben")
	ann.rung(protocol.GroupFirst, "ann", "ben")
}

// deathBound is how soon the other nodes act on a node's death
// (docs/CLUSTER.md "When a node dies"), with slack for a busy machine.
const deathBound = rtmcalltest.PeerTimeout + 2*rtmcalltest.PeerHeartbeat + time.Second

// A callee's node dies while a group rings: that callee fails with
// PEER_OFFLINE, the others ring on, and the group ends as without the
// death; in a group call, a leg up with a callee on the dead node ends
// with call.ended PEER_OFFLINE, under the callee's name, on the caller.
func TestGroupCalleeNodeDies(t *testing.T) {
	t.Run("first", func(t *testing.T) {
		cl := rtmcalltest.NewCluster(t, 3)
		alice, ann, ben := login(t, cl.Nodes[0], "alice"), login(t, cl.Nodes[1], "ann"), login(t, cl.Nodes[2], "ben")
		ann2 := login(t, cl.Nodes[2], "ann") // dies too, but ann rings on node 1
		cl.Sync()
		g := alice.sendGroup(protocol.GroupFirst, "ann", "ben")
		a := ann.rung(protocol.GroupFirst, "ann", "ben")
		ann2.rung(protocol.GroupFirst, "ann", "ben")
		ben.rung(protocol.GroupFirst, "ann", "ben")
		start := time.Now()
		cl.Kill(2)
		assert.Equal(t, "PEER_OFFLINE", alice.expectCallee(g, "ben", "FAILURE").Reason)
		assert.Less(t, time.Since(start), deathBound)
		ann.ok(&protocol.Frame{Type: protocol.TypeQuery, IDs: []string{"ann"}}) // still ringing: no frame before the reply
		ann.answered(frame(protocol.TypeAccept, a), protocol.TypeRemoteAccepted)
		alice.expectCallee(g, "ann", "ACCEPTED")
		assert.Equal(t, "ann", alice.expect(protocol.TypeLocalAccepted, g).Callee)
	})
	t.Run("all", func(t *testing.T) {
		cl, alice, ann, _, g, a, _ := groupCallAcross(t, "ben")
		start := time.Now()
		cl.Kill(2)
		f := alice.expect(protocol.TypeCallEnded, g)
		assert.Equal(t, "PEER_OFFLINE ben", f.Reason+" "+f.Callee, "ben's leg ended with his node")
		assert.Less(t, time.Since(start), deathBound)
		ann.answered(frame(protocol.TypeAccept, a), protocol.TypeRemoteAccepted) // the group rings on
		alice.expectCallee(g, "ann", "ACCEPTED")
		alice.expect(protocol.TypeLocalAccepted, g)
		alice.answered(frame(protocol.TypeHangup, g), "call.ended HANGUP", "call.ended HANGUP")
		ann.expect(protocol.TypeCallEnded, a)
	})
}

// The group's node (the caller's) dies: every callee session on a live
// node stops ringing with remote.failure PEER_OFFLINE, and a callee in a
// leg of the group call gets call.ended PEER_OFFLINE, within the bound.
func TestGroupOwnerNodeDies(t *testing.T) {
	cl, _, ann, ben, _, a, b := groupCallAcross(t, "ann")
	start := time.Now()
	cl.Kill(0)
	assert.Equal(t, "PEER_OFFLINE", ben.expect(protocol.TypeRemoteFailure, b).Reason)
	assert.Equal(t, "PEER_OFFLINE", ann.expect(protocol.TypeCallEnded, a).Reason)
	assert.Less(t, time.Since(start), deathBound)
	ben.fails(frame(protocol.TypeAccept, b), protocol.CodeAlreadyEnd)
}

// groupCallAcross starts 3 nodes: alice on node 0 calls ann (node 1) and
// ben (node 2) in a group call, and accepter (ann or ben) has accepted.
func groupCallAcross(t *testing.T, accepter string) (cl *rtmcalltest.Cluster, alice, ann, ben *client, g, a, b string) {
	t.Helper()
	cl = rtmcalltest.NewCluster(t, 3)
	alice, ann, ben = login(t, cl.Nodes[0], "alice"), login(t, cl.Nodes[1], "ann"), login(t, cl.Nodes[2], "ben")
	cl.Sync()
	g = alice.sendGroup(protocol.GroupAll, "ann", "ben")
	a, b = ann.rung(protocol.GroupAll, "ann", "ben"), ben.rung(protocol.GroupAll, "ann", "ben")
	who, inv := ann, a
	if accepter == "ben" {
		who, inv = ben, b
	}
	who.answered(frame(protocol.TypeAccept, inv), protocol.TypeRemoteAccepted)
	alice.expectCallee(g, accepter, "ACCEPTED")
	return
}
