//go:build !js

package core_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// The flows of a single node, with the caller and the callee on different
// nodes of a three-node cluster on real NATS. cl.Sync after a login makes
// every node know the session, as a user would by the time a peer calls.
func TestClusterFlows(t *testing.T) {
	cl := rtmcalltest.NewCluster(t, 3)
	n0, n1 := cl.Nodes[0], cl.Nodes[1]

	t.Run("accept", func(t *testing.T) {
		alice, bob := login(t, n0, "alice1"), login(t, n1, "bob1")
		cl.Sync()
		l := alice.newInvitation("bob1", "join me?")
		require.NoError(t, l.SetChannelID("room-1"))
		require.NoError(t, l.Send(ctxT(t)))
		assert.Equal(t, n0.Node.ID(), l.ID()[:8], "the caller's node owns the invitation")
		r := bob.received()
		assert.Equal(t, "alice1", r.CallerID())
		assert.Equal(t, "join me?", r.Content())
		assert.Equal(t, "room-1", r.ChannelID())
		assert.Equal(t, l.ID(), r.ID())
		alice.expect("local received")
		require.NoError(t, r.SetResponse("on my way"))
		require.NoError(t, r.Accept(ctxT(t)))
		assert.Equal(t, core.RemoteAccepted, r.State(), "Accept returns once the owner decided")
		bob.expect("remote accepted ACCEPTED")
		alice.expect(`local accepted "on my way" ACCEPTED_BY_REMOTE`)
		assert.ErrorIs(t, r.Refuse(ctxT(t)), core.ErrAlreadyEnd)
		alice.quiet()
		bob.quiet()
	})
	t.Run("refuse", func(t *testing.T) {
		alice, bob := login(t, n0, "alice2"), login(t, n1, "bob2")
		cl.Sync()
		l := alice.invite("bob2", "")
		r := bob.received()
		alice.expect("local received")
		require.NoError(t, r.SetResponse("busy"))
		require.NoError(t, r.Refuse(ctxT(t)))
		bob.expect("remote refused REFUSED")
		alice.expect(`local refused "busy"`)
		assert.Equal(t, core.LocalRefusedByRemote, l.State())
		alice.quiet()
		bob.quiet()
	})
	t.Run("cancel after receipt", func(t *testing.T) {
		alice, bob := login(t, n0, "alice3"), login(t, n1, "bob3")
		cl.Sync()
		l := alice.invite("bob3", "call me")
		r := bob.received()
		alice.expect("local received")
		require.NoError(t, l.Cancel(ctxT(t)))
		alice.expect("local canceled")
		bob.expect(`remote canceled "call me"`)
		assert.ErrorIs(t, r.Accept(ctxT(t)), core.ErrAlreadyEnd, "the owner's tombstone answers")
		alice.quiet()
		bob.quiet()
	})
	t.Run("cancel before receipt", func(t *testing.T) {
		alice := login(t, n0, "alice4")
		bob := dialRaw(t, n1.URL) // a callee device that never acknowledges
		bob.login("bob4")
		cl.Sync()
		l := alice.invite("bob4", "quick")
		assert.Equal(t, l.ID(), bob.expect(protocol.TypeInvite).Inv)
		require.NoError(t, l.Cancel(ctxT(t)))
		alice.expect("local canceled")
		assert.Equal(t, "quick", bob.expect(protocol.TypeRemoteCanceled).Content)
		alice.quiet()
	})
	t.Run("offline callee", func(t *testing.T) {
		alice := login(t, n0, "alice5")
		bob := login(t, n1, "bob5")
		require.NoError(t, bob.c.Logout(ctxT(t)))
		cl.Sync()
		start := time.Now()
		alice.invite("bob5", "")
		alice.expect("local failure PEER_OFFLINE")
		assert.Less(t, time.Since(start), time.Second, "the directory knows at once")
	})
	t.Run("expiry", func(t *testing.T) {
		alice, bob := login(t, n0, "alice6"), login(t, n1, "bob6")
		cl.Sync()
		l := alice.newInvitation("bob6", "")
		require.NoError(t, l.SetTimeout(time.Second))
		require.NoError(t, l.Send(ctxT(t)))
		r := bob.received()
		alice.expect("local received", "local failure INVITATION_EXPIRE")
		bob.expect("remote failure INVITATION_EXPIRE")
		assert.ErrorIs(t, r.Accept(ctxT(t)), core.ErrAlreadyEnd)
	})
	t.Run("callee leaves", func(t *testing.T) {
		alice := login(t, n0, "alice7")
		phone, laptop := login(t, n1, "bob7"), login(t, n2(cl), "bob7")
		cl.Sync()
		l := alice.invite("bob7", "")
		phone.received()
		laptop.received()
		alice.expect("local received")
		require.NoError(t, phone.c.Close())
		alice.quiet() // one device left: still ringing
		assert.Equal(t, core.LocalReceivedByRemote, l.State())
		require.NoError(t, laptop.c.Logout(ctxT(t)))
		alice.expect("local failure PEER_OFFLINE")
	})
	t.Run("caller leaves", func(t *testing.T) {
		alice, bob := login(t, n0, "alice8"), login(t, n1, "bob8")
		cl.Sync()
		alice.invite("bob8", "")
		r := bob.received()
		alice.expect("local received")
		require.NoError(t, alice.c.Close())
		bob.expect("remote failure PEER_OFFLINE")
		assert.Equal(t, core.RemoteFailurePeerOffline, r.FailureReason())
	})
}

func n2(cl *rtmcalltest.Cluster) *rtmcalltest.Server { return cl.Nodes[2] }

// A caller on node 0 rings the callee's devices on nodes 1 and 2: both
// ring, the first answer wins, the other device is answered elsewhere.
func TestClusterMultiDevice(t *testing.T) {
	cl := rtmcalltest.NewCluster(t, 3)
	alice := login(t, cl.Nodes[0], "alice")
	phone, laptop := login(t, cl.Nodes[1], "bob"), login(t, cl.Nodes[2], "bob")
	cl.Sync()
	firstAnswerWins(t, alice, phone, laptop)

	l := alice.invite("bob", "again")
	rp, _ := phone.received(), laptop.received()
	alice.expect("local received")
	require.NoError(t, rp.Refuse(ctxT(t)))
	phone.expect("remote refused REFUSED")
	laptop.expect("remote failure ANSWERED_ELSEWHERE")
	alice.expect(`local refused ""`)
	assert.Equal(t, core.LocalRefusedByRemote, l.State())
	alice.quiet()
	phone.quiet()
	laptop.quiet()
}

// Races across nodes have one winner, and both ends agree on it.
func TestClusterRaces(t *testing.T) {
	const rounds = 30
	cl := rtmcalltest.NewCluster(t, 3)
	t.Run("cancel vs accept", func(t *testing.T) {
		alice, bob := login(t, cl.Nodes[0], "alice"), login(t, cl.Nodes[1], "bob")
		cl.Sync()
		raceCancelAccept(t, alice, bob, rounds)
	})
	t.Run("accept on two devices on two nodes", func(t *testing.T) {
		carol := login(t, cl.Nodes[0], "carol")
		devs := [2]*user{login(t, cl.Nodes[1], "dave"), login(t, cl.Nodes[2], "dave")}
		cl.Sync()
		raceTwoDevices(t, carol, devs, rounds)
	})
}

// Presence sees users wherever they are connected.
func TestClusterPresence(t *testing.T) {
	cl := rtmcalltest.NewCluster(t, 3)
	alice := login(t, cl.Nodes[0], "alice")
	require.NoError(t, alice.c.SubscribePeersOnlineStatus(ctxT(t), []string{"bob"}))
	alice.expect("presence bob=OFFLINE")

	net := rtmcalltest.NewProxy(t, cl.Nodes[1])
	phone := loginAt(t, net.URL, "bob")
	alice.expect("presence bob=ONLINE")
	online, err := alice.c.QueryPeersOnlineStatus(ctxT(t), []string{"bob", "nobody"})
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"bob": true, "nobody": false}, online)

	net.Block(true)
	net.Drop()
	phone.expect("state RECONNECTING INTERRUPTED")
	alice.expect("presence bob=UNREACHABLE")
	laptop := login(t, cl.Nodes[2], "bob")
	alice.expect("presence bob=ONLINE")
	net.Block(false)
	phone.expect("state CONNECTED LOGIN_SUCCESS")
	// Changes on different nodes reach node 0 in any order: let the resume
	// arrive before the logout, or bob flickers through UNREACHABLE.
	cl.Sync()
	require.NoError(t, laptop.c.Logout(ctxT(t)))
	require.NoError(t, phone.c.Close())
	alice.expect("presence bob=OFFLINE")
	alice.quiet()
}

// A client whose connection dropped resumes through another node: its
// session, which stays on its node, gets what it missed, in order, once.
func TestClusterResumeOnAnotherNode(t *testing.T) {
	cl := rtmcalltest.NewCluster(t, 3)
	net := rtmcalltest.NewProxy(t, cl.Nodes[1])
	alice := login(t, cl.Nodes[0], "alice")
	bob := loginAt(t, net.URL, "bob")
	cl.Sync()
	first := alice.invite("bob", "one")
	r1 := bob.received()
	alice.expect("local received")

	net.Block(true)
	net.Drop()
	bob.expect("state RECONNECTING INTERRUPTED")
	require.NoError(t, first.Cancel(ctxT(t)))
	alice.expect("local canceled")
	second := alice.invite("bob", "two")
	net.Retarget(cl.Nodes[2]) // the load balancer sends it elsewhere
	net.Block(false)
	bob.expect("state CONNECTED LOGIN_SUCCESS", `remote canceled "one"`)
	assert.Equal(t, core.RemoteCanceled, r1.State())
	two := bob.received()
	assert.Equal(t, "two", two.Content())
	alice.expect("local received")
	require.NoError(t, two.Accept(ctxT(t)), "a request through the relay")
	bob.expect("remote accepted ACCEPTED")
	alice.expect(`local accepted "" ACCEPTED_BY_REMOTE`)
	require.NoError(t, two.Hangup(ctxT(t)), "a hang-up through the relay")
	bob.expectOn(bob.calls, "remote call ended HANGUP bob ENDED")
	alice.expectOn(alice.calls, "local call ended HANGUP bob ENDED")
	assert.Equal(t, core.CallEnded, second.CallState())
	bob.quiet()

	// And again, through the third node, then home.
	for _, to := range []*rtmcalltest.Server{cl.Nodes[0], cl.Nodes[1]} {
		net.Block(true)
		net.Drop()
		bob.expect("state RECONNECTING INTERRUPTED")
		alice.invite("bob", "again")
		net.Retarget(to)
		net.Block(false)
		bob.expect("state CONNECTED LOGIN_SUCCESS")
		r := bob.received()
		alice.expect("local received")
		require.NoError(t, r.Refuse(ctxT(t)))
		bob.expect("remote refused REFUSED")
		alice.expect(`local refused ""`)
	}
	require.NoError(t, bob.c.Logout(ctxT(t)), "a logout through the relay")
	alice.quiet()
}

// A node that dies mid-invitation: within the bound, the invitations it
// owned end on the other nodes, the invitations that rang only its
// sessions fail, its users go offline, and its sessions cannot be resumed.
func TestClusterNodeKilled(t *testing.T) {
	cl := rtmcalltest.NewCluster(t, 3)
	alice := login(t, cl.Nodes[0], "alice")
	bob := login(t, cl.Nodes[1], "bob")
	carol := login(t, cl.Nodes[2], "carol") // on the node to be killed
	net := rtmcalltest.NewProxy(t, cl.Nodes[2])
	dave := loginAt(t, net.URL, "dave") // also there, behind a proxy
	cl.Sync()
	require.NoError(t, alice.c.SubscribePeersOnlineStatus(ctxT(t), []string{"carol"}))
	alice.expect("presence carol=ONLINE")

	alice.invite("carol", "to the dying node")
	carol.received()
	alice.expect("local received")
	carol.invite("bob", "from the dying node")
	rb := bob.received()
	carol.expect("local received")

	start := time.Now()
	cl.Kill(2)
	bob.expect("remote failure PEER_OFFLINE")
	alice.expect("presence carol=OFFLINE", "local failure PEER_OFFLINE")
	bound := rtmcalltest.PeerTimeout + 2*rtmcalltest.PeerHeartbeat
	assert.Less(t, time.Since(start), bound+time.Second, "dead within the bound (%v) and some slack", bound)
	assert.Equal(t, core.RemoteFailurePeerOffline, rb.FailureReason())

	net.Block(true)
	net.Drop()
	dave.expect("state RECONNECTING INTERRUPTED")
	net.Retarget(cl.Nodes[0])
	net.Block(false)
	dave.expect("state ABORTED INTERRUPTED") // RESUME_FAILED: its node is dead
	alice.quiet()
	bob.quiet()
}

// A node dies while it relays a client (a resume through another node than
// the session's) or holds the session relayed: the client is dropped by the
// live node, and resumes through a live node when its session lives on
// (the relaying node died), or gets RESUME_FAILED and is ABORTED when its
// session died with its node.
func TestClusterRelayNodeKilled(t *testing.T) {
	for _, tc := range []struct {
		name    string
		kill    int
		resumes bool
	}{{"the relaying node", 2, true}, {"the session's node", 1, false}} {
		t.Run(tc.name, func(t *testing.T) {
			cl := rtmcalltest.NewCluster(t, 3)
			alice := login(t, cl.Nodes[0], "alice")
			net := rtmcalltest.NewProxy(t, cl.Nodes[1])
			bob := loginAt(t, net.URL, "bob") // its session lives on node 1
			cl.Sync()
			net.Block(true)
			net.Drop()
			bob.expect("state RECONNECTING INTERRUPTED")
			net.Retarget(cl.Nodes[2])
			net.Block(false)
			bob.expect("state CONNECTED LOGIN_SUCCESS") // relayed by node 2
			l := alice.invite("bob", "relayed")
			bob.received()
			alice.expect("local received")
			require.NoError(t, l.Cancel(ctxT(t)))
			alice.expect("local canceled")
			bob.expect(`remote canceled "relayed"`)

			net.Retarget(cl.Nodes[0]) // where the client's next connection goes
			start := time.Now()
			cl.Kill(tc.kill)
			bob.expect("state RECONNECTING INTERRUPTED")
			bound := rtmcalltest.PeerTimeout + 2*rtmcalltest.PeerHeartbeat
			assert.Less(t, time.Since(start), bound+time.Second, "dropped within the bound (%v) and some slack", bound)
			if !tc.resumes {
				bob.expect("state ABORTED INTERRUPTED") // RESUME_FAILED: its node is dead
				alice.quiet()
				return
			}
			bob.expect("state CONNECTED LOGIN_SUCCESS") // relayed by node 0 now
			alice.invite("bob", "after")
			r := bob.received()
			alice.expect("local received")
			require.NoError(t, r.Refuse(ctxT(t)))
			bob.expect("remote refused REFUSED")
			alice.expect(`local refused ""`)
			alice.quiet()
		})
	}
}

// Late ringing across nodes: a session of the callee that logs in on
// another node while the invitation is pending rings, with the time left,
// and its accept wins over the device that rang at send.
func TestClusterLateRinging(t *testing.T) {
	cl := rtmcalltest.NewCluster(t, 3)
	alice := login(t, cl.Nodes[0], "alice")
	phone := login(t, cl.Nodes[1], "bob")
	cl.Sync()
	lateAccept(t, alice, phone, func() *user { return login(t, cl.Nodes[2], "bob") }) // on a third node

	// A callee who had no session when the invitation was sent is offline:
	// the invitation ended at once and a later login does not ring.
	off := alice.invite("carol", "")
	alice.expect("local failure PEER_OFFLINE")
	carol := login(t, cl.Nodes[1], "carol")
	cl.Sync()
	assert.Equal(t, core.LocalFailure, off.State())
	carol.quiet()
	phone.quiet()
}
