//go:build !js

package server_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// movedBob3 is movedBob on three nodes: bob moved off node 0, which
// drains; alice is on node 1; carol, on node 2, watches bob's presence.
func movedBob3(t *testing.T, opts ...func(*server.Config)) (cl *rtmcalltest.Cluster, alice, bob, carol *client, errc chan error) {
	t.Helper()
	cl = rtmcalltest.NewCluster(t, 3, append([]func(*server.Config){unlimited}, opts...)...)
	bob, alice, carol = login(t, cl.Nodes[0], "bob"), login(t, cl.Nodes[1], "alice"), login(t, cl.Nodes[2], "carol")
	cl.Sync()
	carol.ok(&protocol.Frame{Type: protocol.TypeSubscribe, IDs: []string{"bob"}})
	assert.Equal(t, map[string]string{"bob": "ONLINE"}, carol.presence())
	cl.Sync()
	return cl, alice, bob, carol, drainMovesBob(t, cl, bob)
}

// drainMovesBob drains node 0 and requires bob, there, to be told to move
// (bye MOVED, 1012). The channel has the drain's result.
func drainMovesBob(t *testing.T, cl *rtmcalltest.Cluster, bob *client) chan error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- cl.Node(0).Node.Drain(context.Background()) }()
	before, status, _ := bob.closed()
	require.Equal(t, []string{"bye MOVED"}, types(before))
	require.Equal(t, websocket.StatusServiceRestart, status)
	return errc
}

// loginReplyLost logs bob in on node i naming the session moved from with
// key, then drops the connection without reading a frame once the session
// is there: its client never learns of it. keep keeps the connection open,
// its frames read and thrown away (so that a close from the node completes):
// it has died unbeknown to the node.
func loginReplyLost(t *testing.T, cl *rtmcalltest.Cluster, i int, moved *client, key string, keep ...bool) {
	t.Helper()
	before := cl.Node(i).Node.LocalSessions("bob")
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, cl.Nodes[i].URL, &websocket.DialOptions{Subprotocols: []string{protocol.Subprotocol}})
	require.NoError(t, err)
	data, err := protocol.Encode(&protocol.Frame{Type: protocol.TypeLogin, RID: 1, User: "bob", Session: moved.session, Key: key})
	require.NoError(t, err)
	require.NoError(t, ws.Write(ctx, websocket.MessageText, data))
	require.Eventually(t, func() bool { return cl.Node(i).Node.LocalSessions("bob") == before+1 }, waitTimeout, time.Millisecond)
	if len(keep) > 0 && keep[0] {
		go func() {
			for {
				if _, _, err := ws.Read(context.Background()); err != nil {
					return
				}
			}
		}()
		t.Cleanup(func() { ws.CloseNow() })
		return
	}
	ws.CloseNow()
}

// reloginOn is relogin on node i.
func reloginOn(t *testing.T, cl *rtmcalltest.Cluster, i int, moved *client, user, key string) *client {
	t.Helper()
	c := dial(t, cl.Nodes[i], user+" again")
	c.ok(&protocol.Frame{Type: protocol.TypeLogin, User: user, Session: moved.session, Key: key})
	return c
}

// awaitDrain requires the drain's result to come, with no error; why says
// what it waited for.
func awaitDrain(t *testing.T, errc chan error, why string) {
	t.Helper()
	select {
	case err := <-errc:
		require.NoError(t, err)
	case <-time.After(waitTimeout):
		require.FailNow(t, "the drain did not end", why)
	}
}

// requireDropped requires c's next frame to say that n peer messages sent
// while its device moved were dropped: an error with rid 0, MESSAGES_DROPPED.
func requireDropped(t *testing.T, c *client, n int) {
	t.Helper()
	f := c.next()
	require.NotNil(t, f)
	assert.Equal(t, protocol.TypeError, f.Type)
	assert.Equal(t, uint64(0), f.RID)
	assert.Equal(t, protocol.CodeMessagesDropped, f.Code)
	assert.Contains(t, f.Message, fmt.Sprintf("%d peer messages", n))
}

// A device's new login whose reply was lost (its connection dropped once
// the login reached its node, the client read nothing) logs in again,
// naming the moved session as before, on another node or on the same one.
// By then the draining node has handed over what it held to the first
// login and shut down. The second login gets every peer message sent to
// the device since the move, once each, in order: what the moved session
// held (m1), what reached the first login while its claim was under way or
// after (m2, m3), what reached both after the second login (m4, which the
// first login passes on without); the first login's session ends, and a
// watcher sees no change of bob's presence.
func TestDrainHandOverLoginReplyLost(t *testing.T) {
	for _, again := range []int{2, 1} {
		t.Run(fmt.Sprintf("again on node %d", again), func(t *testing.T) {
			cl, alice, bob, carol, errc := movedBob3(t)
			message(t, alice, "m1")
			loginReplyLost(t, cl, 1, bob, bob.key)
			message(t, alice, "m2")
			awaitDrain(t, errc, "handed over to the first login") // the draining node is gone
			cl.AwaitPeers(1, 2)
			message(t, alice, "m3")

			y := reloginOn(t, cl, again, bob, "bob", bob.key)
			message(t, alice, "m4")
			messages(t, y, "m1", "m2", "m3", "m4")
			y.sync()
			want := 0
			if again == 1 {
				want = 1
			}
			require.Eventually(t, func() bool { return cl.Node(1).Node.LocalSessions("bob") == want }, waitTimeout, time.Millisecond,
				"the first login's session ended")
			cl.Sync()
			message(t, alice, "m5")
			messages(t, y, "m5")
			y.sync() // each once

			// The first login's connection dropped: bob may have been
			// UNREACHABLE until the second login, never OFFLINE; the end
			// of the first login's session changed nothing.
			_, before := carol.do(&protocol.Frame{Type: protocol.TypePing})
			status := "ONLINE"
			for _, f := range before {
				require.Equal(t, protocol.TypePresence, f.Type, "%+v", f)
				status = f.Status["bob"]
				assert.NotEqual(t, "OFFLINE", status)
			}
			assert.Equal(t, "ONLINE", status)
			carol.sync()
		})
	}
}

// A second login that names the moved session with a wrong key, or as
// another user, gets nothing of what the first one owes; the device's own,
// with the key, gets all of it, what went to the wrong one too.
func TestDrainHandOverLoginReplyLostNeedsTheKey(t *testing.T) {
	cl, alice, bob, _, errc := movedBob3(t)
	message(t, alice, "m1")
	loginReplyLost(t, cl, 1, bob, bob.key)
	awaitDrain(t, errc, "handed over to the first login")
	cl.AwaitPeers(1, 2)
	for _, tc := range []struct{ name, user, key string }{
		{"wrong key", "bob", "0123456789abcdef0123456789abcdef"},
		{"another user", "carol", bob.key},
	} {
		t.Run(tc.name, func(t *testing.T) {
			other := reloginOn(t, cl, 2, bob, tc.user, tc.key)
			cl.Sync() // alice's node knows it
			if tc.user == "bob" {
				message(t, alice, "to "+tc.name)
				messages(t, other, "to "+tc.name)
			}
			other.sync()
		})
	}
	y := reloginOn(t, cl, 2, bob, "bob", bob.key)
	messages(t, y, "m1", "to wrong key")
	y.sync()
	cl.Sync()
	y.sync()
}

// A second login whose claim reaches the first login's node while the
// first one's claim is still unanswered (the draining node holds it back)
// waits for that answer: what the moved session held comes first (m1),
// then what reached the first login meanwhile (m2, m3, the last to the
// second login too), then the second login's own (m3), once each, in
// order. So too if the first login's session ends (kicked on its node
// alone) before that answer: before, its end dropped the wait, the second
// login's claim got no answer, m2 was lost, and m1 came late, after m3.
func TestDrainHandOverLoginReplyLostMidClaim(t *testing.T) {
	for _, kicked := range []bool{false, true} {
		t.Run(fmt.Sprintf("first login kicked %v", kicked), func(t *testing.T) {
			// The claims' answer deadline (PeerTimeout + 2 PeerHeartbeats) well
			// past the time the test holds the first claim.
			cl, alice, bob, _, errc := movedBob3(t, func(c *server.Config) { c.PeerTimeout = 5 * time.Second })
			y, release := secondLoginMidClaim(t, cl, alice, bob)
			if kicked {
				require.Equal(t, 1, server.KickHere(cl.Node(1).Node, "bob"), "the first login's session ends")
			}
			release()
			messages(t, y, "m1", "m2", "m3")
			y.sync()
			awaitDrain(t, errc, "handed over to the first login")
			cl.Sync()
			message(t, alice, "m4")
			messages(t, y, "m4")
			y.sync()
		})
	}
}

// secondLoginMidClaim holds the claims at node 0, where bob moved from,
// sends m1, logs bob in on node 1 with its reply lost, sends m2, then logs
// bob in again on node 2 (y), whose claim waits for the first login's
// claim, held (release lets it go), and sends m3.
func secondLoginMidClaim(t *testing.T, cl *rtmcalltest.Cluster, alice, bob *client) (y *client, release func()) {
	t.Helper()
	release = server.HoldClaims(cl.Node(0).Node)
	t.Cleanup(release)
	message(t, alice, "m1")
	loginReplyLost(t, cl, 1, bob, bob.key)
	message(t, alice, "m2")
	cl.Sync() // node 2 knows of the first login's claim: the second one asks node 1
	y = reloginOn(t, cl, 2, bob, "bob", bob.key)
	require.Eventually(t, func() bool { return server.PassingOn(cl.Node(1).Node, "bob") }, waitTimeout, time.Millisecond)
	message(t, alice, "m3")
	return y, release
}

// What the first login owes is bound like a hand-over: MaxMovedMessages
// are all passed on; past it, the rest is dropped, and the second login
// is told how many after those.
func TestDrainHandOverLoginReplyLostBound(t *testing.T) {
	for _, n := range []int{server.MaxMovedMessages, server.MaxMovedMessages + 1} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			cl, _, bob, _, errc := movedBob3(t)
			loginReplyLost(t, cl, 1, bob, bob.key)
			awaitDrain(t, errc, "handed over to the first login")
			cl.AwaitPeers(1, 2)
			var want []string
			for i := range n {
				received, err := cl.Node(1).Node.SendMessage("carol", "bob", strconv.Itoa(i), nil, "")
				require.NoError(t, err)
				require.True(t, received)
				if i < server.MaxMovedMessages {
					want = append(want, strconv.Itoa(i))
				}
			}
			y := reloginOn(t, cl, 2, bob, "bob", bob.key)
			messages(t, y, want...)
			if n > server.MaxMovedMessages {
				requireDropped(t, y, n-server.MaxMovedMessages)
			}
			y.sync()
		})
	}
}

// A login whose client had its reply and acknowledged a frame is the
// device's session: a later login naming the same moved session (one that
// reached its node late, after the device gave up on it) takes nothing
// from it, and the first keeps getting its peer messages.
func TestDrainHandOverClaimerInUse(t *testing.T) {
	cl, alice, bob, _, errc := movedBob3(t)
	message(t, alice, "m1")
	x := dial(t, cl.Nodes[1], "bob again")
	reply := x.ok(&protocol.Frame{Type: protocol.TypeLogin, User: "bob", Session: bob.session, Key: bob.key})
	messages(t, x, "m1")
	x.ok(&protocol.Frame{Type: protocol.TypePing, Ack: reply.Seq})
	awaitDrain(t, errc, "handed over to the first login")
	cl.AwaitPeers(1, 2)

	late := reloginOn(t, cl, 2, bob, "bob", bob.key)
	cl.Sync()
	message(t, alice, "m2")
	messages(t, late, "m2")
	messages(t, x, "m2")
	late.sync()
	x.sync()
}

// The first login's node drains in turn before the device logs in again.
// Its session stays there, detached (a drain moves a session through its
// connection), and the drain with it; or, its connection open as far as
// the node knows, it is told to move and holds what comes for it since.
// The device's next login, on a third node, gets all of it, once each, in
// order, and that drain ends once it is passed on.
func TestDrainHandOverLoginReplyLostNodeDrains(t *testing.T) {
	for _, open := range []bool{false, true} {
		t.Run(fmt.Sprintf("connection open %v", open), func(t *testing.T) {
			cl, alice, bob, _, errc := movedBob3(t)
			message(t, alice, "m1")
			loginReplyLost(t, cl, 1, bob, bob.key, open)
			message(t, alice, "m2")
			awaitDrain(t, errc, "handed over to the first login")
			cl.AwaitPeers(1, 2)
			alice.leave()
			// Her session gone before the drain: one whose close the node had
			// not handled yet was moved, and, alice2 already elsewhere, kept
			// until ResumeGrace, and the drain with it (a failure under load).
			require.Eventually(t, func() bool { return cl.Node(1).Node.LocalSessions("alice") == 0 }, waitTimeout, time.Millisecond)
			alice2 := login(t, cl.Nodes[2], "alice") // alice's node drains next
			cl.Sync()
			errc = make(chan error, 1)
			go func() { errc <- cl.Node(1).Node.Drain(context.Background()) }()
			require.Eventually(t, cl.Node(1).Node.Draining, waitTimeout, time.Millisecond)
			if open {
				require.Eventually(t, func() bool { return server.Moved(cl.Node(1).Node, "bob") }, waitTimeout, time.Millisecond)
			}
			message(t, alice2, "m3")

			y := reloginOn(t, cl, 2, bob, "bob", bob.key)
			message(t, alice2, "m4")
			messages(t, y, "m1", "m2", "m3", "m4")
			y.sync()
			awaitDrain(t, errc, "the first login passed on what it owed")
			message(t, alice2, "m5")
			messages(t, y, "m5")
			y.sync()
		})
	}
}

// attemptLogin logs bob in on node i naming the session moved from, with
// its key, as the client's attempt'th login of the move.
func attemptLogin(t *testing.T, cl *rtmcalltest.Cluster, i int, moved *client, attempt uint64) *client {
	t.Helper()
	c := dial(t, cl.Nodes[i], fmt.Sprintf("bob attempt %d", attempt))
	reply := c.ok(&protocol.Frame{Type: protocol.TypeLogin, User: "bob", Session: moved.session, Key: moved.key, Attempt: attempt})
	c.session, c.key = reply.Session, reply.Key
	return c
}

// A login whose frame reached its node only after the client gave up on
// it and its next attempt succeeded (stale: attempt 1, after attempt 2,
// whose client has acknowledged no frame yet), on a third node or on the
// later login's own, takes nothing from the later one: that one keeps what
// the moved session held and every peer message since, each once, in
// order, and stays; the stale one gets nothing held, only what is sent to
// bob after it, as any session of bob.
func TestDrainHandOverStaleLogin(t *testing.T) {
	for _, stale := range []int{2, 1} {
		t.Run(fmt.Sprintf("stale on node %d", stale), func(t *testing.T) {
			cl, alice, bob, _, errc := movedBob3(t)
			message(t, alice, "m1")
			y := attemptLogin(t, cl, 1, bob, 2)
			message(t, alice, "m2")
			messages(t, y, "m1", "m2")
			awaitDrain(t, errc, "handed over to attempt 2")
			cl.AwaitPeers(1, 2)
			message(t, alice, "m3")

			x := attemptLogin(t, cl, stale, bob, 1)
			require.Eventually(t, func() bool { return !server.Claiming(cl.Node(stale).Node, "bob") }, waitTimeout, time.Millisecond,
				"the stale login's claim answered")
			cl.Sync()
			message(t, alice, "m4")
			messages(t, y, "m3", "m4")
			messages(t, x, "m4")
			y.sync() // each once
			x.sync()
			assert.Empty(t, server.Claims(cl.Node(stale).Node, x.session), "the stale login's claim refused: an ordinary session")
			assert.Equal(t, bob.session, server.Claims(cl.Node(1).Node, y.session), "attempt 2 still claims it")
			assert.False(t, server.PassingOn(cl.Node(1).Node, "bob"))
			assert.Equal(t, map[bool]int{true: 2, false: 1}[stale == 1], cl.Node(1).Node.LocalSessions("bob"), "attempt 2's session stays")
		})
	}
}

// A stale login whose claim reaches the later login's node while the later
// one's own claim is unanswered (the draining node holds it back) is
// refused at once rather than wait for that answer: the later login then
// gets what the moved session held, and every message since, once each, in
// order; the stale one only what is sent to bob after it.
func TestDrainHandOverStaleLoginMidClaim(t *testing.T) {
	for _, stale := range []int{2, 1} {
		t.Run(fmt.Sprintf("stale on node %d", stale), func(t *testing.T) {
			cl, alice, bob, _, errc := movedBob3(t, func(c *server.Config) { c.PeerTimeout = 5 * time.Second })
			release := server.HoldClaims(cl.Node(0).Node)
			t.Cleanup(release)
			message(t, alice, "m1")
			y := attemptLogin(t, cl, 1, bob, 2)
			message(t, alice, "m2")
			cl.Sync() // every node knows of y's claim

			x := attemptLogin(t, cl, stale, bob, 1)
			require.Eventually(t, func() bool { return server.Claims(cl.Node(stale).Node, x.session) == "" }, waitTimeout, time.Millisecond,
				"the stale login's claim refused while attempt 2's is held")
			assert.False(t, server.PassingOn(cl.Node(1).Node, "bob"))
			cl.Sync()
			message(t, alice, "m3")
			release()
			messages(t, y, "m1", "m2", "m3")
			messages(t, x, "m3")
			y.sync()
			x.sync()
			awaitDrain(t, errc, "handed over to attempt 2")
		})
	}
}

// A login's attempt number is from 1 to MaxLoginAttempt, and only with the
// moved session it numbers a login of: one past the bound is
// INVALID_ARGUMENT, one without "session" and "key" MALFORMED_FRAME, and
// the connection stays open for a login that keeps to them.
func TestLoginAttemptBound(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	moved := "0123456789abcdef0123456789abcdef" // no such session: the login is handed nothing
	c := dial(t, srv, "bob")
	f := c.fails(&protocol.Frame{Type: protocol.TypeLogin, User: "bob", Session: moved, Key: moved,
		Attempt: protocol.MaxLoginAttempt + 1}, protocol.CodeInvalidArgument)
	assert.Contains(t, f.Message, "at most 65535")
	f = c.fails(&protocol.Frame{Type: protocol.TypeLogin, User: "bob", Attempt: 1}, protocol.CodeMalformedFrame)
	assert.Contains(t, f.Message, `"attempt"`)
	c.ok(&protocol.Frame{Type: protocol.TypeLogin, User: "bob", Session: moved, Key: moved, Attempt: protocol.MaxLoginAttempt})
	c.sync()
}

// A stale login whose node had not heard of the later login yet (node 2's
// unicasts held back) asks the moved session's node, and its claim gets
// there first (node 1's claims held there): it is handed what the moved
// session held. The later login's claim, which that node refused then, is
// sent on to the stale login's node, which passes all of it on as for a
// lost login reply: the later login gets every message once, in order, and
// the stale login's session ends. The order is forced, not timed: the
// holds are let go on the events they wait for.
func TestDrainHandOverStaleLoginFirstAtTheMovedNode(t *testing.T) {
	// PeerTimeout long: the later login's claim, held, is not given up on
	// (its late answer, PeerTimeout + 2 × PeerHeartbeat) before let go.
	cl, alice, bob, _, errc := movedBob3(t, func(c *server.Config) { c.PeerTimeout = 5 * time.Second })
	moved := cl.Node(0).Node
	releaseEnds := server.HoldMovedEnds(moved) // the moved session stays listed for the later claim
	t.Cleanup(releaseEnds)
	releaseY := server.HoldClaimsFrom(moved, cl.Node(1).Node.ID())
	t.Cleanup(releaseY)
	message(t, alice, "m1")
	x := dial(t, cl.Nodes[2], "bob attempt 1")
	releaseNode2 := cl.Loss(2).HoldHandling() // node 2 hears of y's claim only after x's login
	t.Cleanup(releaseNode2)
	y := attemptLogin(t, cl, 1, bob, 2)
	x.ok(&protocol.Frame{Type: protocol.TypeLogin, User: "bob", Session: bob.session, Key: bob.key, Attempt: 1})
	releaseNode2()
	messages(t, x, "m1") // its claim was granted first
	releaseY()
	message(t, alice, "m2")
	messages(t, y, "m1", "m2")
	y.sync()
	require.Eventually(t, func() bool { return cl.Node(2).Node.LocalSessions("bob") == 0 }, waitTimeout, time.Millisecond,
		"the stale login's session ended")
	releaseEnds()
	awaitDrain(t, errc, "handed over")
	cl.AwaitPeers(1, 2)
	message(t, alice, "m3")
	messages(t, y, "m3")
	y.sync() // each once
}

// A login or a claimer without an attempt number (a client of an earlier
// version) is taken as before the numbers: the later login takes what the
// first one owes while that one's client has acknowledged no frame,
// whichever of the two has no number.
func TestDrainHandOverUnnumberedLogin(t *testing.T) {
	for _, tc := range []struct {
		name         string
		first, again uint64
	}{
		{"first unnumbered", 0, 1},
		{"later unnumbered", 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, alice, bob, _, errc := movedBob3(t)
			message(t, alice, "m1")
			x := attemptLogin(t, cl, 1, bob, tc.first)
			message(t, alice, "m2")
			messages(t, x, "m1", "m2")
			awaitDrain(t, errc, "handed over to the first login")
			cl.AwaitPeers(1, 2)

			y := attemptLogin(t, cl, 2, bob, tc.again)
			message(t, alice, "m3")
			messages(t, y, "m1", "m2", "m3")
			y.sync() // each once
			require.Eventually(t, func() bool { return cl.Node(1).Node.LocalSessions("bob") == 0 }, waitTimeout, time.Millisecond,
				"the first login's session ended")
		})
	}
}

// A stale login (attempt 1, after attempt 2 logged in and was handed over)
// ends nothing: the device's session keeps its connection and the
// invitation ringing it, and its refuse is carried out. Before the attempt
// numbers, the stale login's claim took over from that session, whose
// client had acknowledged no frame yet, and ended it with 1012; its client
// took the close for a move and failed the refuse ALREADY_END while the
// invitation still rang it: the signature of the cluster soak's `order` of
// flow 977 (docs/CLUSTER.md, "The cluster soak").
func TestDrainStaleLoginKeepsTheDevicesInvitation(t *testing.T) {
	for _, stale := range []int{2, 1} {
		t.Run(fmt.Sprintf("stale on node %d", stale), func(t *testing.T) {
			cl, alice, bob, _, errc := movedBob3(t)
			y := attemptLogin(t, cl, 1, bob, 2)
			awaitDrain(t, errc, "handed over to attempt 2")
			cl.AwaitPeers(1, 2)
			inv := alice.send("bob")
			y.expect(protocol.TypeInvite, inv)

			x := attemptLogin(t, cl, stale, bob, 1)
			require.Eventually(t, func() bool { return !server.Claiming(cl.Node(stale).Node, "bob") }, waitTimeout, time.Millisecond,
				"the stale login's claim answered") // sent once its peers synced: a cl.Sync may return first
			y.okAfter(&protocol.Frame{Type: protocol.TypeRefuse, Inv: inv}, "remote.refused")
			alice.expect(protocol.TypeLocalRefused, inv)
			y.sync()
			assert.Empty(t, server.Claims(cl.Node(stale).Node, x.session), "the stale login's claim refused")
		})
	}
}
