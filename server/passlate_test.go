//go:build !js

package server_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// passedOnUnanswered logs bob in on node 1 with its reply lost, waits for
// its claim's answer (held at node 0) to be late, then logs bob in again on
// node 2, which takes what the first login owed, and waits for the first
// login's end.
func passedOnUnanswered(t *testing.T, cl *rtmcalltest.Cluster, bob *client) *client {
	t.Helper()
	first := cl.Node(1).Node
	loginReplyLost(t, cl, 1, bob, bob.key)
	require.Eventually(t, func() bool { return !server.Claiming(first, "bob") }, waitTimeout, time.Millisecond,
		"the first login's claim not answered in time")
	again := reloginOn(t, cl, 2, bob, "bob", bob.key)
	require.Eventually(t, func() bool { return first.LocalSessions("bob") == 0 }, waitTimeout, time.Millisecond,
		"the first login ended, passed on")
	return again
}

// A first login whose reply was lost, whose claim is answered only after a
// second login took what it owed (a late answer), passes the answer on to
// the second login: what the moved session held and, after it, how many it
// dropped (MESSAGES_DROPPED). Before, the count was lost.
func TestDrainHandOverPassLateDropped(t *testing.T) {
	cl, _, bob, _, _ := movedBob3(t)
	moved, first := cl.Node(0).Node, cl.Node(1).Node
	releaseClaims := server.HoldClaims(moved)
	t.Cleanup(releaseClaims)
	var want []string
	for i := range server.MaxMovedMessages + 1 {
		received, err := first.SendMessage("carol", "bob", strconv.Itoa(i), nil, "")
		require.NoError(t, err)
		require.True(t, received)
		if i < server.MaxMovedMessages {
			want = append(want, strconv.Itoa(i))
		}
	}
	again := passedOnUnanswered(t, cl, bob)
	releaseClaims()
	messages(t, again, want...)
	requireDropped(t, again, 1)
	again.sync()
}

// A late answer passed on to the re-claim skips what went to the re-claim
// too: a message sent after the first login ended, while the moved session
// was still listed (its end held back), went to the moved session, tagged
// with the second login, and to the second login directly. Before, the
// second login got it twice.
func TestDrainHandOverPassLateOnce(t *testing.T) {
	cl, alice, bob, _, _ := movedBob3(t)
	moved := cl.Node(0).Node
	releaseClaims := server.HoldClaims(moved)
	t.Cleanup(releaseClaims)
	t.Cleanup(server.HoldMovedEnds(moved)) // the moved session stays listed
	message(t, alice, "held")
	again := passedOnUnanswered(t, cl, bob)
	cl.Sync()
	message(t, alice, "dup")
	messages(t, again, "dup")
	releaseClaims()
	messages(t, again, "held")
	require.Eventually(t, func() bool { return server.HandedOver(moved, bob.session) }, waitTimeout, time.Millisecond)
	cl.Sync()
	again.sync() // "dup" once
}

// A first login that ends while its claim and a second login's wait (kicked
// on its node alone) owes, once answered, what the moved session held but
// what went to the second login too: a message sent after that end, while
// the moved session was still listed (its end held back), went to the
// moved session, tagged with the second login, and to the second login
// directly. Before, the answer did not carry the tag, and the second login
// got it twice, the first time out of order.
func TestDrainHandOverLoginReplyLostEndedMidClaimOnce(t *testing.T) {
	cl, alice, bob, _, _ := movedBob3(t, func(c *server.Config) { c.PeerTimeout = 5 * time.Second })
	t.Cleanup(server.HoldMovedEnds(cl.Node(0).Node)) // the moved session stays listed
	y, release := secondLoginMidClaim(t, cl, alice, bob)
	require.Equal(t, 1, server.KickHere(cl.Node(1).Node, "bob"), "the first login's session ends")
	cl.Sync()
	message(t, alice, "m4")
	release()
	messages(t, y, "m1", "m2", "m3", "m4")
	y.sync() // each once
}
