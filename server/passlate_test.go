//go:build !js

package server_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/server"
)

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
	loginReplyLost(t, cl, 1, bob, bob.key)
	require.Eventually(t, func() bool { return !server.Claiming(first, "bob") }, waitTimeout, time.Millisecond,
		"the first login's claim not answered in time")
	again := reloginOn(t, cl, 2, bob, "bob", bob.key)
	require.Eventually(t, func() bool { return first.LocalSessions("bob") == 0 }, waitTimeout, time.Millisecond,
		"the first login ended, passed on")
	releaseClaims()
	messages(t, again, want...)
	requireDropped(t, again, 1)
	again.sync()
}
