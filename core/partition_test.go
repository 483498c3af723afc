//go:build !js

package core_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// A 2+1 partition longer than PeerTimeout: each side takes the other for
// dead (its users offline, the invitations and calls across the split end
// with PEER_OFFLINE on both sides), each side goes on working alone, and
// after the heal the nodes meet again and the directory converges: no
// ghost of a session that ended during the split, and the sessions that
// started during it are seen.
func TestClusterLongPartition(t *testing.T) {
	cl := rtmcalltest.NewCluster(t, 3)
	alice := login(t, cl.Nodes[0], "alice")
	bob := login(t, cl.Nodes[1], "bob")
	carol := login(t, cl.Nodes[2], "carol")
	erin := login(t, cl.Nodes[2], "erin")
	cl.Sync()
	require.NoError(t, alice.c.SubscribePeersOnlineStatus(ctxT(t), []string{"carol", "erin", "dave"}))
	alice.expect("presence carol=ONLINE dave=OFFLINE erin=ONLINE")

	ring := alice.invite("carol", "across the split")
	carol.received()
	alice.expect("local received")
	call := bob.invite("carol", "a call across the split")
	rc := carol.received()
	bob.expect("local received")
	require.NoError(t, rc.Accept(ctxT(t)))
	carol.expect("remote accepted ACCEPTED")
	bob.expect(`local accepted "" ACCEPTED_BY_REMOTE`)
	cl.Sync() // nothing in flight when the network breaks

	start := time.Now()
	cl.Partition([]int{0, 1}, []int{2})
	alice.expect("presence carol=OFFLINE", "presence erin=OFFLINE", "local failure PEER_OFFLINE")
	carol.expect("remote failure PEER_OFFLINE")
	bob.expectOn(bob.calls, "local call ended PEER_OFFLINE  ENDED")
	carol.expectOn(carol.calls, "remote call ended PEER_OFFLINE  ENDED")
	bound := rtmcalltest.PeerTimeout + 2*rtmcalltest.PeerHeartbeat
	assert.Less(t, time.Since(start), bound+time.Second, "ended within the bound (%v) and some slack", bound)
	assert.Equal(t, core.LocalFailure, ring.State())
	assert.Equal(t, core.CallEnded, call.CallState())
	cl.AwaitPeers(0, 1)
	cl.AwaitPeers(1, 0)
	cl.AwaitPeers(2)

	// Each side works alone: node 2 sees node 0's users offline, and
	// changes on either side stay there.
	online, err := carol.c.QueryPeersOnlineStatus(ctxT(t), []string{"alice", "erin"})
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"alice": false, "erin": true}, online)
	carol.invite("alice", "")
	carol.expect("local failure PEER_OFFLINE") // alice is offline from here
	require.NoError(t, erin.c.Logout(ctxT(t)))
	login(t, cl.Nodes[2], "dave")
	require.NoError(t, bob.c.Logout(ctxT(t)))

	cl.Heal()
	cl.AwaitHealed()
	alice.expect("presence carol=ONLINE", "presence dave=ONLINE")
	for _, u := range []*user{alice, carol} {
		online, err := u.c.QueryPeersOnlineStatus(ctxT(t), []string{"alice", "bob", "carol", "dave", "erin"})
		require.NoError(t, err)
		assert.Equal(t, map[string]bool{"alice": true, "bob": false, "carol": true, "dave": true, "erin": false}, online,
			"%s sees the whole cluster, without ghosts", u.id)
	}
	converged(t, cl, map[string]string{"alice": "ONLINE", "bob": "OFFLINE", "carol": "ONLINE", "dave": "ONLINE", "erin": "OFFLINE"})
	// Across the healed split, flows work again.
	alice.invite("carol", "after the heal")
	r := carol.received()
	alice.expect("local received")
	require.NoError(t, r.Accept(ctxT(t)))
	carol.expect("remote accepted ACCEPTED")
	alice.expect(`local accepted "" ACCEPTED_BY_REMOTE`)
	alice.quiet()
	carol.quiet()
}

// A partition shorter than PeerTimeout in which nothing crossed is a
// pause: after the heal, what was pending goes on.
func TestClusterShortPartitionPause(t *testing.T) {
	cl := rtmcalltest.NewCluster(t, 3, slowDeath)
	alice := login(t, cl.Nodes[0], "alice")
	carol := login(t, cl.Nodes[2], "carol")
	cl.Sync()
	l := alice.invite("carol", "across a short split")
	r := carol.received()
	alice.expect("local received")
	cl.Sync() // nothing in flight when the network breaks

	cl.Partition([]int{0, 1}, []int{2})
	cl.Heal() // NATS redials in about a second: well under PeerTimeout
	require.NoError(t, r.Accept(ctxT(t)))
	carol.expect("remote accepted ACCEPTED")
	alice.expect(`local accepted "" ACCEPTED_BY_REMOTE`)
	hangUp(t, alice, l, carol)
	assert.Zero(t, gaps(t, cl.Nodes[0])+gaps(t, cl.Nodes[2]), "nothing was lost")
	alice.quiet()
	carol.quiet()
}

// A partition shorter than PeerTimeout that lost messages: the gap shows
// at the first message or heartbeat after the heal, the pair resets, and
// what crossed ends with PEER_OFFLINE on both sides; the directory
// converges.
func TestClusterShortPartitionLoss(t *testing.T) {
	cl := rtmcalltest.NewCluster(t, 3, slowDeath)
	alice := login(t, cl.Nodes[0], "alice")
	carol := login(t, cl.Nodes[2], "carol")
	cl.Sync()
	require.NoError(t, alice.c.SubscribePeersOnlineStatus(ctxT(t), []string{"dave"}))
	alice.expect("presence dave=OFFLINE")
	alice.invite("carol", "across a short split")
	carol.received()
	alice.expect("local received")
	cl.Sync()

	cl.Partition([]int{0, 1}, []int{2})
	dave := login(t, cl.Nodes[2], "dave") // its announcement to nodes 0 and 1 is lost
	cl.Heal()
	alice.expect("local failure PEER_OFFLINE", "presence dave=ONLINE")
	carol.expect("remote failure PEER_OFFLINE")
	cl.AwaitHealed()
	assert.Positive(t, gaps(t, cl.Nodes[0]), "node 0 saw the gap")
	assert.Zero(t, gaps(t, cl.Nodes[2]), "node 2 lost nothing")
	online, err := alice.c.QueryPeersOnlineStatus(ctxT(t), []string{"carol", "dave"})
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"carol": true, "dave": true}, online)
	converged(t, cl, map[string]string{"alice": "ONLINE", "carol": "ONLINE", "dave": "ONLINE"})
	alice.quiet()
	dave.quiet()
}

// slowDeath makes a cut route heal (NATS redials within about a second)
// long before a peer counts as dead.
func slowDeath(c *server.Config) {
	c.PeerHeartbeat, c.PeerTimeout = 100*time.Millisecond, 5*time.Second
}

// A node that rejoins after a partition during which a call ended, on the
// other side, does not keep it, nor bring it back: after the heal its
// directory comes from the other side's snapshots, which list each session's
// calls as its node has them now, and the call's end, decided more than
// PeerTimeout before, is in none. A call that spanned the split ended on both
// sides and stays ended: its parties are free on every node.
func TestClusterRejoinAfterCallEnd(t *testing.T) {
	cl := rtmcalltest.NewCluster(t, 3)
	alice, bob, erin := login(t, cl.Nodes[0], "alice"), login(t, cl.Nodes[1], "bob"), login(t, cl.Nodes[0], "erin")
	carol, dave := login(t, cl.Nodes[2], "carol"), login(t, cl.Nodes[2], "dave")
	cl.Sync()
	l, _ := call(t, alice, bob)
	lx, rx := call(t, dave, erin) // owned by node 2, with erin on node 0: spans the split
	cl.Sync()
	carol.invite("bob", "")
	carol.expect("local failure PEER_BUSY") // node 2 knows of the call

	cl.Partition([]int{0, 1}, []int{2})
	erin.expectOn(erin.calls, "remote call ended PEER_OFFLINE  ENDED")
	dave.expectOn(dave.calls, "local call ended PEER_OFFLINE  ENDED")
	cl.AwaitPeers(0, 1)
	cl.AwaitPeers(1, 0)
	cl.AwaitPeers(2)
	hangUp(t, alice, l, bob) // node 2 is not told
	cl.Heal()
	cl.AwaitHealed()
	cl.Sync()

	for _, c := range []struct{ from, to *user }{{carol, bob}, {carol, alice}, {carol, erin}, {alice, dave}, {bob, erin}} {
		c.from.invite(c.to.id, "after the heal")
		c.from.expect("local received")
		assert.False(t, c.to.received().CalleeBusy(), "%s's node takes %s for free", c.from.id, c.to.id)
	}
	assert.ErrorIs(t, lx.Hangup(ctxT(t)), core.ErrAlreadyEnd)
	assert.ErrorIs(t, rx.Hangup(ctxT(t)), core.ErrAlreadyEnd)
}

// A resume, during a partition longer than PeerTimeout, of a session on the
// far side of the split gets RESUME_FAILED, as after a death: the node it
// reaches no longer counts the session's node among its peers, so it has no
// node to relay the client to. The client is ABORTED.
func TestClusterResumeAcrossPartition(t *testing.T) {
	cl := rtmcalltest.NewCluster(t, 3)
	alice := login(t, cl.Nodes[0], "alice")
	net := rtmcalltest.NewProxy(t, cl.Nodes[2])
	dave := loginAt(t, net.URL, "dave") // its session lives on node 2
	cl.Sync()

	cl.Partition([]int{0, 1}, []int{2})
	cl.AwaitPeers(0, 1) // node 0 took node 2 for dead
	net.Block(true)
	net.Drop()
	dave.expect("state RECONNECTING INTERRUPTED")
	net.Retarget(cl.Nodes[0]) // the near side of alice's, the far side of dave's session
	net.Block(false)
	dave.expect("state ABORTED INTERRUPTED") // RESUME_FAILED
	alice.quiet()
}
