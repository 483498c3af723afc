//go:build !js

package core_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

func (u *user) say(peer, text string) bool {
	u.t.Helper()
	got, err := u.c.SendMessageToPeer(ctxT(u.t), peer, core.Message{Text: text})
	require.NoError(u.t, err)
	return got
}

func TestMessageToPeer(t *testing.T) {
	srv := startServer(t)
	alice := login(t, srv, "alice")
	phone, laptop := login(t, srv, "bob"), login(t, srv, "bob")

	assert.True(t, alice.say("bob", "offer: v=0"))
	phone.expectOn(phone.messages, "alice: offer: v=0")
	laptop.expectOn(laptop.messages, "alice: offer: v=0")

	got, err := alice.c.SendMessageToPeer(ctxT(t), "bob", core.Message{Raw: []byte{0, 1, 0xff}, Description: "ice"})
	require.NoError(t, err)
	assert.True(t, got)
	phone.expectOn(phone.messages, `alice: raw 0001ff "ice"`)
	laptop.expectOn(laptop.messages, `alice: raw 0001ff "ice"`)

	assert.True(t, phone.say("bob", "to my laptop"))
	laptop.expectOn(laptop.messages, "bob: to my laptop")
	assert.False(t, alice.say("carol", "nobody"), "an offline peer is not an error")
	assert.False(t, alice.say("alice", "no other session"))

	var props core.MessageProps
	seen := make(chan core.MessageProps, 1)
	phone.c.OnMessageFromPeer(func(_ core.Message, _ string, p core.MessageProps) { seen <- p })
	alice.say("bob", "ts")
	select {
	case props = <-seen:
	case <-ctxT(t).Done():
		t.Fatal("no message")
	}
	assert.Positive(t, props.ServerReceivedTs)
	assert.Empty(t, phone.messages, "a message to oneself does not come back")
}

// The client checks every limit before the server does, at the bound and one past it.
func TestMessageLimitsChecked(t *testing.T) {
	srv := startServer(t)
	alice := login(t, srv, "alice")
	bob := login(t, srv, "bob")
	at := strings.Repeat("\x01", protocol.MaxMessageBytes)
	cases := []struct {
		msg core.Message
		ok  bool
	}{
		{core.Message{Text: at}, true},
		{core.Message{Text: at + "x"}, false},
		{core.Message{Raw: make([]byte, protocol.MaxMessageBytes), Description: strings.Repeat("<", protocol.MaxDescriptionBytes)}, true},
		{core.Message{Raw: make([]byte, protocol.MaxMessageBytes+1)}, false},
		{core.Message{Raw: []byte{1}, Description: strings.Repeat("d", protocol.MaxDescriptionBytes+1)}, false},
		{core.Message{}, false},
		{core.Message{Text: "x", Raw: []byte{1}}, false},
	}
	for i, tc := range cases {
		got, err := alice.c.SendMessageToPeer(ctxT(t), "bob", tc.msg)
		if tc.ok {
			require.NoError(t, err, "case %d", i)
			assert.True(t, got)
			<-bob.messages
		} else {
			assert.ErrorIs(t, err, core.ErrInvalidArgument, "case %d", i)
		}
	}
	_, err := alice.c.SendMessageToPeer(ctxT(t), "null", core.Message{Text: "x"})
	assert.ErrorIs(t, err, core.ErrInvalidArgument)
	c, err := core.NewClient(core.Options{URL: srv.URL})
	require.NoError(t, err)
	_, err = c.SendMessageToPeer(ctxT(t), "bob", core.Message{Text: "x"})
	assert.ErrorIs(t, err, core.ErrNotLoggedIn)
	bob.quiet()
}

// Messages from one session to another arrive in order, exactly once,
// across cut connections on both ends; those sent while RECONNECTING are
// held and sent on resume.
func TestMessagesAcrossResume(t *testing.T) {
	srv := startServer(t)
	aliceNet, bobNet := rtmcalltest.NewProxy(t, srv), rtmcalltest.NewProxy(t, srv)
	alice := loginAt(t, aliceNet.URL, "alice")
	bob := loginAt(t, bobNet.URL, "bob")
	var want []string
	send := func(from, to int) {
		for i := from; i < to; i++ {
			text := fmt.Sprint(i)
			want = append(want, "alice: "+text)
			assert.True(t, alice.say("bob", text))
		}
	}
	send(0, 50)
	bobNet.Block(true)
	bobNet.Drop()
	bob.expect("state RECONNECTING INTERRUPTED")
	send(50, 100) // bob is UNREACHABLE: his session takes them
	bobNet.Block(false)
	bob.expect("state CONNECTED LOGIN_SUCCESS")

	aliceNet.Block(true)
	aliceNet.Drop()
	alice.expect("state RECONNECTING INTERRUPTED")
	done := make(chan struct{})
	go func() { // held while alice reconnects
		defer close(done)
		send(100, 150)
	}()
	aliceNet.Block(false)
	<-done
	alice.expect("state CONNECTED LOGIN_SUCCESS")
	bob.expectOn(bob.messages, want...)
	bob.quiet()
	assert.Empty(t, bob.messages, "no message doubled")
}

// call rings bob, who accepts: both sides are IN_CALL.
func call(t *testing.T, alice, bob *user) (*core.LocalInvitation, *core.RemoteInvitation) {
	t.Helper()
	l := alice.invite(bob.id, "")
	r := bob.received()
	alice.expect("local received")
	assert.Equal(t, core.CallIdle, l.CallState())
	assert.ErrorIs(t, l.Hangup(ctxT(t)), core.ErrNotStarted, "before the accept")
	assert.ErrorIs(t, r.Hangup(ctxT(t)), core.ErrNotStarted)
	require.NoError(t, r.Accept(ctxT(t)))
	bob.expect("remote accepted ACCEPTED")
	alice.expect(`local accepted "" ACCEPTED_BY_REMOTE`)
	assert.Equal(t, core.CallInCall, l.CallState())
	assert.Equal(t, core.CallInCall, r.CallState())
	return l, r
}

func TestHangupEitherSide(t *testing.T) {
	srv := startServer(t)
	alice, bob := login(t, srv, "alice"), login(t, srv, "bob")

	l, r := call(t, alice, bob)
	require.NoError(t, r.Hangup(ctxT(t)))
	bob.expectOn(bob.calls, "remote call ended HANGUP bob ENDED")
	alice.expectOn(alice.calls, "local call ended HANGUP bob ENDED")
	assert.Equal(t, core.CallEndHangup, l.CallEndReason())
	assert.Equal(t, "bob", l.CallEndedBy())
	assert.ErrorIs(t, l.Hangup(ctxT(t)), core.ErrAlreadyEnd)
	assert.ErrorIs(t, r.Hangup(ctxT(t)), core.ErrAlreadyEnd)
	assert.Equal(t, core.LocalAcceptedByRemote, l.State(), "the invitation states stay as they are")
	assert.Equal(t, core.RemoteAccepted, r.State())

	l, r = call(t, alice, bob)
	hangUp(t, alice, l, bob)

	refused := alice.invite("bob", "")
	rr := bob.received()
	alice.expect("local received")
	require.NoError(t, rr.Refuse(ctxT(t)))
	bob.expect("remote refused REFUSED")
	alice.expect(`local refused ""`)
	assert.ErrorIs(t, refused.Hangup(ctxT(t)), core.ErrNotStarted, "never a call")
	alice.quiet()
	bob.quiet()
}

// Both hang up at once: one HANGUP by the winner on both sides, and the
// loser's Hangup returns ALREADY_END.
func TestHangupRace(t *testing.T) {
	srv := startServer(t)
	alice, bob := login(t, srv, "alice"), login(t, srv, "bob")
	wins := map[string]int{}
	for range 20 {
		l, r := call(t, alice, bob)
		errs := race(func() error { return l.Hangup(ctxT(t)) }, func() error { return r.Hangup(ctxT(t)) })
		winner := "alice"
		if errs[0] != nil {
			winner = "bob"
			require.ErrorIs(t, errs[0], core.ErrAlreadyEnd)
			require.NoError(t, errs[1])
		} else {
			require.ErrorIs(t, errs[1], core.ErrAlreadyEnd)
		}
		wins[winner]++
		alice.expectOn(alice.calls, "local call ended HANGUP "+winner+" ENDED")
		bob.expectOn(bob.calls, "remote call ended HANGUP "+winner+" ENDED")
	}
	t.Logf("winners: %v", wins)
	assert.Empty(t, alice.calls)
	assert.Empty(t, bob.calls)
}

// A session that ends mid-call ends the call: the other side gets PEER_OFFLINE.
func TestSessionEndsMidCall(t *testing.T) {
	srv := startServer(t)
	alice, bob := login(t, srv, "alice"), login(t, srv, "bob")

	call(t, alice, bob)
	require.NoError(t, bob.c.Logout(ctxT(t)))
	bob.expectOn(bob.calls, "remote call ended UNKNOWN  ENDED")
	alice.expectOn(alice.calls, "local call ended PEER_OFFLINE  ENDED")

	require.NoError(t, bob.c.Login(ctxT(t), "bob", ""))
	bob.expect("state DISCONNECTED LOGOUT", "state CONNECTING LOGIN", "state CONNECTED LOGIN_SUCCESS")
	call(t, alice, bob)
	require.NoError(t, alice.c.Close())
	bob.expectOn(bob.calls, "remote call ended PEER_OFFLINE  ENDED")
	alice.expectOn(alice.calls, "local call ended UNKNOWN  ENDED")
}

// Busy holds on every device: with the call on one device of bob, an
// invitation fails at once with PEER_BUSY on the caller and no device
// rings; with call waiting on, the sessions that have it ring, marked
// busy. Ignore stops one device without telling the caller.
func TestBusyEveryDevice(t *testing.T) {
	srv := startServer(t)
	alice, carol := login(t, srv, "alice"), login(t, srv, "carol")
	phone, laptop := login(t, srv, "bob"), login(t, srv, "bob")
	busyFlow(t, alice, carol, phone, laptop, func() {})
}

func TestBusyAcrossNodes(t *testing.T) {
	cl := rtmcalltest.NewCluster(t, 3)
	alice, carol := login(t, cl.Nodes[0], "alice"), login(t, cl.Nodes[2], "carol")
	phone, laptop := login(t, cl.Nodes[1], "bob"), login(t, cl.Nodes[2], "bob")
	cl.Sync()
	busyFlow(t, alice, carol, phone, laptop, cl.Sync)
}

func busyFlow(t *testing.T, alice, carol, phone, laptop *user, sync func()) {
	t.Helper()
	l := alice.invite("bob", "")
	rp, rl := phone.received(), laptop.received()
	alice.expect("local received")
	require.NoError(t, rp.Accept(ctxT(t)))
	phone.expect("remote accepted ACCEPTED")
	laptop.expect("remote failure ANSWERED_ELSEWHERE")
	alice.expect(`local accepted "" ACCEPTED_BY_REMOTE`)
	assert.Equal(t, core.CallIdle, rl.CallState())
	sync()

	busy := carol.invite("bob", "")
	carol.expect("local failure PEER_BUSY")
	assert.Equal(t, core.LocalFailure, busy.State())
	phone.quiet()
	laptop.quiet()
	carol.invite("alice", "")
	carol.expect("local failure PEER_BUSY")

	require.NoError(t, laptop.c.SetCallWaiting(ctxT(t), true))
	sync()
	waiting := carol.invite("bob", "second call")
	r := laptop.received()
	assert.True(t, r.CalleeBusy())
	carol.expect("local received")
	phone.quiet() // no call waiting there: it does not ring
	require.NoError(t, r.Ignore(ctxT(t)))
	assert.ErrorIs(t, r.Accept(ctxT(t)), core.ErrAlreadyEnd)
	assert.ErrorIs(t, r.Ignore(ctxT(t)), core.ErrAlreadyEnd)
	assert.Equal(t, core.RemoteInvitationReceived, r.State())
	carol.quiet() // not told
	require.NoError(t, waiting.Cancel(ctxT(t)))
	carol.expect("local canceled")
	laptop.quiet() // ignored: no more events here

	hangUp(t, alice, l, phone)
	sync()
	carol.invite("bob", "free")
	assert.False(t, phone.received().CalleeBusy())
	assert.False(t, laptop.received().CalleeBusy())
	carol.expect("local received")
}

// Call waiting in the login (LoginOptions.CallWaiting): a session that
// logs in with it rings while its user is in a call, without a waiting
// request, and so does one that logs in while such an invitation is
// pending (late ringing applies busy with it); one logged in without it
// does not ring.
func TestLoginWithCallWaiting(t *testing.T) {
	srv := startServer(t)
	loginWaitingFlow(t, func(id string, waiting bool) *user { return loginWith(t, srv.URL, id, waiting) }, func() {})
}

func TestLoginWithCallWaitingAcrossNodes(t *testing.T) {
	cl := rtmcalltest.NewCluster(t, 3)
	next := 0
	loginWaitingFlow(t, func(id string, waiting bool) *user {
		next++
		return loginWith(t, cl.Nodes[next%3].URL, id, waiting)
	}, cl.Sync)
}

// loginWaitingFlow runs the flow of TestLoginWithCallWaiting with logins
// made by login; sync makes every node know what the logins did.
func loginWaitingFlow(t *testing.T, login func(id string, waiting bool) *user, sync func()) {
	t.Helper()
	alice, carol, phone := login("alice", false), login("carol", false), login("bob", false)
	sync()
	l, _ := call(t, alice, phone)
	tablet := login("bob", true)
	sync()

	waiting := carol.invite("bob", "second call")
	rt := tablet.received()
	assert.True(t, rt.CalleeBusy())
	carol.expect("local received")
	laptop, desk := login("bob", true), login("bob", false)
	rl := laptop.received() // rung late, busy
	assert.Equal(t, waiting.ID(), rl.ID())
	assert.True(t, rl.CalleeBusy())
	sync()
	desk.quiet() // no call waiting in its login: not rung
	phone.quiet()
	require.NoError(t, waiting.Cancel(ctxT(t)))
	carol.expect("local canceled")
	tablet.expect(`remote canceled "second call"`)
	laptop.expect(`remote canceled "second call"`)

	// Turned off, it stays off: the next one finds no session with it.
	require.NoError(t, tablet.c.SetCallWaiting(ctxT(t), false))
	require.NoError(t, laptop.c.SetCallWaiting(ctxT(t), false))
	sync()
	carol.invite("bob", "")
	carol.expect("local failure PEER_BUSY")
	hangUp(t, alice, l, phone)
}

// A node that owns neither side of a call learns of its end from the node
// that decided it, in one message between nodes, not from the other party's
// node one message later: a user whose call just ended is free there while
// its own node's word that it left the call is still delayed. What orders
// the send after the end is an event sent after it from the deciding node
// to the sender's, which the sender's node handles in order.
func TestClusterCallEndKnownAtOnce(t *testing.T) {
	// Heartbeats slower than the delay, which the loss detector would take
	// for a lost message.
	cl := rtmcalltest.NewCluster(t, 3, func(c *server.Config) { c.PeerHeartbeat, c.PeerTimeout = time.Second, 3*time.Second })
	const delay = 500 * time.Millisecond
	delaySessions := func(t *testing.T, from, to int) {
		cl.Loss(from).SetFault(rtmcalltest.Fault{Delay: delay, MinDelay: delay, Kinds: []string{"session"},
			To: []string{cl.Nodes[to].Node.ID()}})
		t.Cleanup(func() { cl.Loss(from).SetFault(rtmcalltest.Fault{}) })
	}
	t.Run("the owner decides", func(t *testing.T) {
		alice, bob, carol := login(t, cl.Nodes[0], "alice1"), login(t, cl.Nodes[1], "bob1"), login(t, cl.Nodes[2], "carol1")
		cl.Sync()
		l, _ := call(t, alice, bob)
		cl.Sync()
		carol.invite("bob1", "")
		carol.expect("local failure PEER_BUSY") // node 2 knows of the call
		delaySessions(t, 1, 2)                  // node 1 tells node 2 late that bob left it
		hangUp(t, alice, l, bob)
		assert.True(t, alice.say("carol1", "hung up"))
		carol.expectOn(carol.messages, "alice1: hung up") // node 0 to node 2, after the end
		carol.invite("bob1", "free")
		carol.expect("local received")
		assert.False(t, bob.received().CalleeBusy())
	})
	t.Run("the callee's node decides", func(t *testing.T) {
		alice, bob, carol := login(t, cl.Nodes[0], "alice2"), login(t, cl.Nodes[1], "bob2"), login(t, cl.Nodes[2], "carol2")
		cl.Sync()
		call(t, alice, bob)
		cl.Sync()
		carol.invite("alice2", "")
		carol.expect("local failure PEER_BUSY")
		require.NoError(t, carol.c.SubscribePeersOnlineStatus(ctxT(t), []string{"bob2"}))
		carol.expect("presence bob2=ONLINE")
		delaySessions(t, 0, 2) // node 0 tells node 2 late that alice left the call
		require.NoError(t, bob.c.Logout(ctxT(t)))
		alice.expectOn(alice.calls, "local call ended PEER_OFFLINE  ENDED")
		carol.expect("presence bob2=OFFLINE") // node 1 to node 2, after the end
		carol.invite("alice2", "free")
		carol.expect("local received")
		assert.False(t, alice.received().CalleeBusy())
	})
}

// A session that logs in right after a call's end, on another node than
// the one that decided it, never finds the call live: the node that would
// take a user for busy on other nodes' word only (a late ring, a send)
// syncs its peers first, and the end, sent before the login, comes before
// their answers. Here the deciding node's word is delayed 500 ms: without
// the sync, bob's new device is not rung late by carol's node (bob busy
// there, the device without call waiting), and alice's new session gets
// PEER_BUSY.
func TestClusterLoginAfterCallEnd(t *testing.T) {
	cl := rtmcalltest.NewCluster(t, 3, func(c *server.Config) { c.PeerHeartbeat, c.PeerTimeout = time.Second, 3*time.Second })
	const delay = 500 * time.Millisecond
	delayEnd := func(t *testing.T, from, to int) {
		cl.Loss(from).SetFault(rtmcalltest.Fault{Delay: delay, MinDelay: delay, Kinds: []string{"session", "call.end"},
			To: []string{cl.Nodes[to].Node.ID()}})
		t.Cleanup(func() { cl.Loss(from).SetFault(rtmcalltest.Fault{}) })
	}
	t.Run("rung late by a third node", func(t *testing.T) {
		alice, phone := login(t, cl.Nodes[0], "alice1"), loginWith(t, cl.Nodes[0].URL, "bob1", true)
		carol := login(t, cl.Nodes[2], "carol1")
		cl.Sync()
		l, _ := call(t, alice, phone)
		cl.Sync()
		waiting := carol.invite("bob1", "")
		assert.True(t, phone.received().CalleeBusy(), "call waiting: rung, busy")
		carol.expect("local received")
		delayEnd(t, 0, 2) // node 0 tells node 2 late that the call ended
		hangUp(t, alice, l, phone)
		laptop := loginWith(t, cl.Nodes[1].URL, "bob1", false) // no call waiting: rung only if bob is free
		r := laptop.received()
		assert.Equal(t, waiting.ID(), r.ID())
		assert.False(t, r.CalleeBusy())
	})
	t.Run("the new session sends", func(t *testing.T) {
		alice, bob := login(t, cl.Nodes[0], "alice2"), login(t, cl.Nodes[0], "bob2")
		cl.Sync()
		l, _ := call(t, alice, bob)
		cl.Sync()
		delayEnd(t, 0, 1) // node 0 tells node 1 late that the call ended
		hangUp(t, alice, l, bob)
		again := login(t, cl.Nodes[1], "alice2")
		again.invite("bob2", "again")
		again.expect("local received")
		assert.False(t, bob.received().CalleeBusy())
	})
}

// A node that joins the cluster right after a call's end, which it was
// not told (it was no peer yet), does not keep the call live on the word
// of the other party's node, whose snapshot may predate its handling of
// the end: the deciding node tells it the ends of its last PeerTimeout
// after its own snapshot. Here node 0's word to node 1 is delayed 500 ms,
// and node 3 joins meanwhile: without those ends, carol's send from node
// 3 finds bob busy (PEER_BUSY), on node 1's snapshot.
func TestClusterJoinAfterCallEnd(t *testing.T) {
	hb := func(c *server.Config) { c.PeerHeartbeat, c.PeerTimeout = time.Second, 3*time.Second }
	cl := rtmcalltest.NewCluster(t, 3, hb)
	alice, bob := login(t, cl.Nodes[0], "alice"), login(t, cl.Nodes[1], "bob")
	cl.Sync()
	l, _ := call(t, alice, bob)
	cl.Sync()
	const delay = 500 * time.Millisecond
	cl.Loss(0).SetFault(rtmcalltest.Fault{Delay: delay, MinDelay: delay, To: []string{cl.Nodes[1].Node.ID()}})
	t.Cleanup(func() { cl.Loss(0).SetFault(rtmcalltest.Fault{}) })
	require.NoError(t, l.Hangup(ctxT(t)))
	alice.expectOn(alice.calls, "local call ended HANGUP alice ENDED")

	joined := rtmcalltest.NewServer(t, hb, func(c *server.Config) {
		c.NodeID = "c0de0009"
		b, err := server.NewNATSBroker(server.NATSConfig{URL: cl.NATSURL(2)}, c.Logger)
		require.NoError(t, err)
		c.Broker = b
	})
	require.NoError(t, joined.Node.AwaitPeers(ctxT(t), 3))
	carol := login(t, joined, "carol")
	carol.invite("bob", "")
	carol.expect("local received")
	bob.expectOn(bob.calls, "remote call ended HANGUP alice ENDED")
	assert.False(t, bob.received().CalleeBusy())
}

// The call works across nodes: the callee hangs up through its own node,
// and a callee session that ends on another node ends the call.
func TestClusterCall(t *testing.T) {
	cl := rtmcalltest.NewCluster(t, 2)
	alice, bob := login(t, cl.Nodes[0], "alice"), login(t, cl.Nodes[1], "bob")
	cl.Sync()
	assert.True(t, alice.say("bob", "across"))
	bob.expectOn(bob.messages, "alice: across")
	assert.True(t, bob.say("alice", "back"))
	alice.expectOn(alice.messages, "bob: back")

	l, r := call(t, alice, bob)
	require.NoError(t, r.Hangup(ctxT(t)))
	bob.expectOn(bob.calls, "remote call ended HANGUP bob ENDED")
	alice.expectOn(alice.calls, "local call ended HANGUP bob ENDED")
	assert.ErrorIs(t, r.Hangup(ctxT(t)), core.ErrAlreadyEnd)
	assert.Equal(t, core.CallEnded, l.CallState())

	call(t, alice, bob)
	require.NoError(t, bob.c.Close())
	alice.expectOn(alice.calls, "local call ended PEER_OFFLINE  ENDED")
}
