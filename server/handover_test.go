//go:build !js

package server_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// movedBob is a cluster of two nodes: bob logged in on node 0, which
// drains, and moved (bye MOVED, 1012); alice is on node 1. errc has the
// drain's result.
func movedBob(t *testing.T) (cl *rtmcalltest.Cluster, alice, bob *client, errc chan error) {
	t.Helper()
	cl = rtmcalltest.NewCluster(t, 2, unlimited)
	bob, alice = login(t, cl.Nodes[0], "bob"), login(t, cl.Nodes[1], "alice")
	cl.Sync()
	return cl, alice, bob, drainMovesBob(t, cl, bob)
}

// drained requires that the drain whose result errc gives ends, without
// an error, within waitTimeout.
func drained(t *testing.T, errc <-chan error) {
	t.Helper()
	select {
	case err := <-errc:
		require.NoError(t, err)
	case <-time.After(waitTimeout):
		require.FailNow(t, "the drain did not end")
	}
}

// message sends text from c to bob and requires that it was received.
func message(t *testing.T, c *client, text string) {
	t.Helper()
	assert.True(t, c.ok(&protocol.Frame{Type: protocol.TypeMessage, Peer: "bob", Text: text}).Received, text)
}

// relogin logs bob in on node 1 naming the session moved from, with key.
func relogin(t *testing.T, cl *rtmcalltest.Cluster, moved *client, key string) *client {
	t.Helper()
	c := dial(t, cl.Nodes[1], "bob again")
	c.ok(&protocol.Frame{Type: protocol.TypeLogin, User: "bob", Session: moved.session, Key: key})
	return c
}

// messages reads the next len(want) frames of c: peer messages with those texts.
func messages(t *testing.T, c *client, want ...string) {
	t.Helper()
	var got []string
	for range want {
		f := c.next()
		require.NotNil(t, f, "%s: closed", c.name)
		require.Equal(t, protocol.TypePeerMessage, f.Type, "%s: %+v", c.name, f)
		got = append(got, f.Text)
	}
	assert.Equal(t, want, got)
}

// A peer message sent to a device while it moves reaches its new session
// on its new node once, after the login's reply, in order with those sent
// later: from a session of another node (alice), and from the draining
// node itself (the server API there), which holds the moved session.
func TestDrainHandsOverPeerMessages(t *testing.T) {
	cl, alice, bob, errc := movedBob(t)
	message(t, alice, "m1")
	cl.Sync() // m1 reached node 0 before m2
	received, err := cl.Node(0).Node.SendMessage("carol", "bob", "m2", nil, "")
	require.NoError(t, err)
	assert.True(t, received, "held for the device")

	again := relogin(t, cl, bob, bob.key)
	message(t, alice, "m3")
	messages(t, again, "m1", "m2", "m3")
	again.sync() // nothing more: each once
	cl.Sync()
	message(t, alice, "m4")
	messages(t, again, "m4")
	again.sync()
	select {
	case err := <-errc:
		require.NoError(t, err, "the moved session ended once handed over")
	case <-time.After(waitTimeout):
		require.FailNow(t, "the drain did not end")
	}
}

// A login that names its moved session with a wrong key, names a session
// its node does not have, or names the session as another user, succeeds
// and gets nothing of what the session held; the device's own claim, with
// the key, gets it all: what the others got directly too, for it got none.
func TestDrainHandOverNeedsTheKey(t *testing.T) {
	cl, alice, bob, _ := movedBob(t)
	message(t, alice, "m1")
	for _, tc := range []struct{ name, user, session, key string }{
		{"wrong key", "bob", bob.session, "0123456789abcdef0123456789abcdef"},
		{"unknown session", "bob", cl.Node(0).Node.ID() + "00000000", bob.key},
		{"another user", "carol", bob.session, bob.key},
	} {
		t.Run(tc.name, func(t *testing.T) {
			other := dial(t, cl.Nodes[1], tc.name)
			other.ok(&protocol.Frame{Type: protocol.TypeLogin, User: tc.user, Session: tc.session, Key: tc.key})
			if tc.user == "bob" {
				message(t, alice, "to "+tc.name)
				messages(t, other, "to "+tc.name)
			}
			other.sync()
		})
	}
	again := relogin(t, cl, bob, bob.key)
	messages(t, again, "m1", "to wrong key", "to unknown session")
	again.sync()
	cl.Sync()
	again.sync()
}

// A moved session holds MaxMovedMessages peer messages; past it, they are
// dropped and the new session is told how many, after the ones held: an
// error with rid 0, MESSAGES_DROPPED. Each is as large as a message may be:
// together 8 MiB, which the hand-over sends in pages (NATS's max_payload is 1 MiB).
func TestDrainHandOverBound(t *testing.T) {
	for _, n := range []int{server.MaxMovedMessages, server.MaxMovedMessages + 1} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			cl, _, bob, _ := movedBob(t)
			var want []string
			for i := range n {
				text := strconv.Itoa(i)
				text += strings.Repeat(".", protocol.MaxMessageBytes-len(text))
				received, err := cl.Node(1).Node.SendMessage("carol", "bob", text, nil, "")
				require.NoError(t, err)
				require.True(t, received)
				if i < server.MaxMovedMessages {
					want = append(want, text)
				}
			}
			again := relogin(t, cl, bob, bob.key)
			messages(t, again, want...)
			if n > server.MaxMovedMessages {
				requireDropped(t, again, n-server.MaxMovedMessages)
			}
			again.sync()
		})
	}
}

// A claim its node does not answer in time keeps the new session's peer
// messages waiting only until PeerTimeout + 2 PeerHeartbeats: then they
// come; what the moved session held comes when the answer does, after
// them; never, from a node that ignores claims (one of an earlier version,
// in a rolling upgrade).
func TestDrainHandOverUnanswered(t *testing.T) {
	for _, answers := range []bool{true, false} {
		t.Run(fmt.Sprintf("answers %v", answers), func(t *testing.T) {
			cl, alice, bob, _ := movedBob(t)
			release := server.HoldClaims(cl.Node(0).Node)
			t.Cleanup(release)
			message(t, alice, "held")
			again := relogin(t, cl, bob, bob.key)
			start := time.Now()
			message(t, alice, "after")
			messages(t, again, "after")
			assert.GreaterOrEqual(t, time.Since(start), rtmcalltest.PeerTimeout, "waited for the answer")
			if answers {
				release()
				messages(t, again, "held")
			}
			cl.Sync()
			again.sync()
		})
	}
}

// A claim that its node never answers (one of an earlier version, in a
// rolling upgrade) is dropped once an answer can no longer matter:
// ResumeGrace from the claim, when what the moved session's node kept for
// it is gone, or at the claiming session's end. An answer after that is
// ignored: nothing of it reaches the session, which still claims the moved
// session. Before, the call stayed until that peer died, one per login
// naming a session of it.
func TestDrainHandOverUnansweredClaimDropped(t *testing.T) {
	for _, ends := range []bool{false, true} {
		t.Run(map[bool]string{false: "after ResumeGrace", true: "at the session's end"}[ends], func(t *testing.T) {
			grace := 2 * (rtmcalltest.PeerTimeout + 2*rtmcalltest.PeerHeartbeat) // past the late answer's wait
			if ends {
				grace = time.Hour
			}
			cl := rtmcalltest.NewCluster(t, 2, unlimited, func(c *server.Config) {
				c.ResumeGrace, c.DrainTimeout = grace, waitTimeout // the drain does not end the moved session first
			})
			bob, alice := login(t, cl.Nodes[0], "bob"), login(t, cl.Nodes[1], "alice")
			cl.Sync()
			drainMovesBob(t, cl, bob)
			moved, claimer := cl.Node(0).Node, cl.Node(1).Node
			release := server.HoldClaims(moved)
			t.Cleanup(release)
			t.Cleanup(server.HoldMovedEnds(moved)) // the moved session keeps what it holds, for the late answer
			message(t, alice, "held")
			start := time.Now()
			again := attemptLogin(t, cl, 1, bob, 0)
			require.Eventually(t, func() bool { return server.ClaimCalls(claimer) == 1 }, waitTimeout, time.Millisecond,
				"the claim sent, once its node's peers synced")
			message(t, alice, "after")
			messages(t, again, "after") // the late answer's wait is over
			if ends {
				require.Equal(t, 1, server.KickHere(claimer, "bob"))
				assert.Zero(t, server.ClaimCalls(claimer), "dropped at the session's end")
			} else {
				require.Eventually(t, func() bool { return server.ClaimCalls(claimer) == 0 }, waitTimeout, time.Millisecond,
					"the claim dropped")
				assert.GreaterOrEqual(t, time.Since(start), grace, "kept until ResumeGrace from the claim")
			}
			release()
			require.Eventually(t, func() bool { return server.HandedOver(moved, bob.session) }, waitTimeout, time.Millisecond,
				"the answer sent at last")
			require.NoError(t, moved.Sync(context.Background())) // and handled
			if !ends {
				again.sync() // nothing held came
				assert.Equal(t, bob.session, server.Claims(claimer, again.session), "the answer ignored")
			}
			assert.Zero(t, server.ClaimCalls(claimer))
		})
	}
}

// A moved session that ends before its device claims it (another device of
// the user logged in elsewhere first, which ends it a PeerHeartbeat later)
// keeps what it held for the claim, and the drain waits for the claim.
func TestDrainHandOverAfterTheMovedSessionEnded(t *testing.T) {
	cl, alice, bob, errc := movedBob(t)
	message(t, alice, "m1")
	tablet := login(t, cl.Nodes[1], "bob")
	require.Eventually(t, func() bool { return cl.Node(0).Node.LocalSessions("bob") == 0 }, waitTimeout, time.Millisecond)
	cl.Sync()
	select {
	case err := <-errc:
		require.FailNow(t, "the drain ended with a hold unclaimed", "%v", err)
	default:
	}
	again := relogin(t, cl, bob, bob.key)
	messages(t, again, "m1")
	again.sync()
	tablet.sync() // the tablet logged in after m1
	select {
	case err := <-errc:
		require.NoError(t, err)
	case <-time.After(waitTimeout):
		require.FailNow(t, "the drain did not end once the hold was claimed")
	}
}

// A node that meets the cluster during a move (here one restarted, down
// when the new session announced its claim) learns of the claim from the
// new node's directory snapshot: its peer messages to the user, which go
// to the moved session (still listed: its end held back, as a slower
// heartbeat would) and to the new one, reach the device once each and in
// order, whether the node joined before the draining node answered the
// claim or after. Without the claim in the snapshot the draining node
// handed the message over, or passed it on, and the new session got it
// directly too: twice.
func TestDrainHandOverToANodeThatJoins(t *testing.T) {
	for _, answered := range []bool{false, true} {
		t.Run(map[bool]string{false: "joins before the answer", true: "joins after the answer"}[answered], func(t *testing.T) {
			cl := rtmcalltest.NewCluster(t, 3, unlimited)
			b, d := cl.Node(0).Node, cl.Node(2).Node
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			require.NoError(t, d.Shutdown(ctx))
			bob := login(t, cl.Nodes[0], "bob")
			cl.Sync()
			releaseClaims := server.HoldClaims(b)
			t.Cleanup(releaseClaims)
			releaseEnds := server.HoldMovedEnds(b)
			t.Cleanup(releaseEnds)
			errc := make(chan error, 1)
			go func() { errc <- b.Drain(context.Background()) }()
			before, _, _ := bob.closed()
			require.Equal(t, []string{"bye MOVED"}, types(before))
			received, err := b.SendMessage("alice", "bob", "m0", nil, "")
			require.NoError(t, err)
			require.True(t, received, "held for the device")

			again := relogin(t, cl, bob, bob.key)
			cl.Sync() // node 0 knows of the new session: its moved one's end is held
			if answered {
				releaseClaims()
				messages(t, again, "m0")
			}
			cl.Restart(2)
			require.Equal(t, 1, server.RemoteSessions(cl.Node(2).Node, b.ID()), "the moved session is listed")
			carol := login(t, cl.Nodes[2], "carol")
			message(t, carol, "m1")
			cl.Sync() // m1 reached both nodes
			if !answered {
				releaseClaims()
				messages(t, again, "m0", "m1")
			} else {
				messages(t, again, "m1")
			}
			message(t, carol, "m2") // after the hand-over, the moved session still listed
			messages(t, again, "m2")
			releaseEnds()
			drained(t, errc)
			message(t, carol, "m3")
			messages(t, again, "m3")
			cl.Sync()
			again.sync() // nothing more: each once
		})
	}
}
