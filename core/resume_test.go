//go:build !js

package core_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// Events that happen while a device is cut off reach it after the resume,
// in order, exactly once; its peers see it UNREACHABLE meanwhile.
func TestResumeDeliversMissedEventsOnce(t *testing.T) {
	srv := startServer(t)
	net := rtmcalltest.NewProxy(t, srv)
	alice := login(t, srv, "alice")
	bob := loginAt(t, net.URL, "bob")
	require.NoError(t, alice.c.SubscribePeersOnlineStatus(ctxT(t), []string{"bob"}))
	alice.expect("presence bob=ONLINE")

	first := alice.invite("bob", "one")
	r1 := bob.received()
	alice.expect("local received")

	net.Block(true)
	net.Drop()
	bob.expect("state RECONNECTING INTERRUPTED")
	alice.expect("presence bob=UNREACHABLE")
	require.NoError(t, first.Cancel(ctxT(t)))
	alice.expect("local canceled")
	alice.invite("bob", "two") // rings the session though its connection is down
	alice.invite("bob", "three")

	net.Block(false)
	bob.expect("state CONNECTED LOGIN_SUCCESS", `remote canceled "one"`)
	assert.Equal(t, core.RemoteCanceled, r1.State())
	two, three := bob.received(), bob.received()
	assert.Equal(t, "two", two.Content())
	assert.Equal(t, "three", three.Content())
	alice.expect("presence bob=ONLINE", "local received", "local received")
	require.NoError(t, three.Accept(ctxT(t)))
	bob.expect("remote accepted ACCEPTED")
	alice.expect(`local accepted "" ACCEPTED_BY_REMOTE`)
	bob.quiet()
	alice.quiet()
}

// Operations called while reconnecting are held and sent on resume.
func TestOperationsWhileReconnectingAreHeld(t *testing.T) {
	srv := startServer(t)
	net := rtmcalltest.NewProxy(t, srv)
	alice := login(t, srv, "alice")
	carol := login(t, srv, "carol")
	bob := loginAt(t, net.URL, "bob")
	alice.invite("bob", "")
	r := bob.received()
	alice.expect("local received")

	net.Block(true)
	net.Drop()
	bob.expect("state RECONNECTING INTERRUPTED")
	assert.Equal(t, core.ConnectionReconnecting, bob.c.ConnectionState())
	accepted := make(chan error, 1)
	go func() { accepted <- r.Accept(ctxT(t)) }()
	// A send while down is held too. It goes to carol: once bob's accept is
	// carried out alice is in a call, busy, whichever request goes first.
	out := bob.newInvitation("carol", "call back")
	sent := make(chan error, 1)
	go func() { sent <- out.Send(ctxT(t)) }()

	net.Block(false)
	require.NoError(t, <-accepted)
	require.NoError(t, <-sent)
	// The two held requests went in the order they were made, which the
	// goroutines above leave open: compare as sets.
	assert.ElementsMatch(t, []string{"state CONNECTED LOGIN_SUCCESS", "remote accepted ACCEPTED", "local received"},
		[]string{bob.next(), bob.next(), bob.next()})
	assert.Equal(t, `local accepted "" ACCEPTED_BY_REMOTE`, alice.next())
	assert.Equal(t, `invite from bob "call back" ""`, carol.next())
}

// A connection that dies silently is noticed by the heartbeat and resumed.
func TestHeartbeatNoticesADeadLink(t *testing.T) {
	srv := startServer(t, func(c *server.Config) { c.Heartbeat = 100 * time.Millisecond })
	net := rtmcalltest.NewProxy(t, srv)
	alice := login(t, srv, "alice")
	bob := loginAt(t, net.URL, "bob")
	net.Freeze()
	bob.expect("state RECONNECTING INTERRUPTED", "state CONNECTED LOGIN_SUCCESS")
	alice.invite("bob", "still there?")
	bob.received()
	alice.expect("local received")
}

// Past the grace period the session ends: the peers get PEER_OFFLINE and
// the client ends ABORTED.
func TestGracePeriodOver(t *testing.T) {
	srv := startServer(t, func(c *server.Config) { c.ResumeGrace = 300 * time.Millisecond })
	net := rtmcalltest.NewProxy(t, srv)
	alice := login(t, srv, "alice")
	bob := loginAt(t, net.URL, "bob")
	alice.invite("bob", "")
	r := bob.received()
	alice.expect("local received")
	require.NoError(t, alice.c.SubscribePeersOnlineStatus(ctxT(t), []string{"bob"}))
	alice.expect("presence bob=ONLINE")

	net.Block(true)
	net.Drop()
	bob.expect("state RECONNECTING INTERRUPTED")
	alice.expect("presence bob=UNREACHABLE", "local failure PEER_OFFLINE", "presence bob=OFFLINE")
	bob.expect("remote failure UNKNOWN", "state ABORTED INTERRUPTED")
	assert.Equal(t, core.RemoteFailure, r.State())
	assert.ErrorIs(t, r.Accept(ctxT(t)), core.ErrAlreadyEnd)

	net.Block(false)
	require.NoError(t, bob.c.Login(ctxT(t), "bob", ""), "a new login works after ABORTED")
	bob.expect("state CONNECTING LOGIN", "state CONNECTED LOGIN_SUCCESS")
}

// Resume against a server that does not know the session (it restarted):
// the client gives up at once rather than waiting out the grace period.
func TestResumeRefused(t *testing.T) {
	srv := startServer(t)
	net := rtmcalltest.NewProxy(t, srv)
	bob := loginAt(t, net.URL, "bob")
	net.Block(true)
	net.Drop()
	bob.expect("state RECONNECTING INTERRUPTED")
	net.Retarget(startServer(t))
	net.Block(false)
	bob.expect("state ABORTED INTERRUPTED")
}

func TestTokens(t *testing.T) {
	srv := startServer(t, func(c *server.Config) { c.Dev = false })
	t.Run("expiry ends the session", func(t *testing.T) {
		alice, bob := newClient(t, srv, "alice"), newClient(t, srv, "bob")
		require.NoError(t, bob.c.Login(ctxT(t), "bob", srv.Token("bob", time.Hour)))
		bob.expect("state CONNECTING LOGIN", "state CONNECTED LOGIN_SUCCESS")
		start := time.Now()
		require.NoError(t, alice.c.Login(ctxT(t), "alice", srv.Token("alice", 2*time.Second)))
		alice.expect("state CONNECTING LOGIN", "state CONNECTED LOGIN_SUCCESS")
		l := alice.invite("bob", "")
		bob.received()
		alice.expect("local received", "local failure NOT_LOGGEDIN", "state ABORTED TOKEN_EXPIRED")
		assert.GreaterOrEqual(t, time.Since(start), time.Second, "exp has a resolution of a second")
		assert.Equal(t, core.LocalFailureNotLoggedIn, l.FailureReason())
		bob.expect("remote failure PEER_OFFLINE")
	})
	t.Run("renew", func(t *testing.T) {
		alice := newClient(t, srv, "alice")
		warned := make(chan struct{}, 2)
		alice.c.OnTokenPrivilegeWillExpire(func() { warned <- struct{}{} })
		require.NoError(t, alice.c.Login(ctxT(t), "alice", srv.Token("alice", 31*time.Second)))
		alice.expect("state CONNECTING LOGIN", "state CONNECTED LOGIN_SUCCESS")
		select {
		case <-warned:
		case <-time.After(waitFor):
			t.Fatal("no TokenPrivilegeWillExpire 30 s before exp")
		}
		assert.Equal(t, protocol.CodeNotAuthorized, core.CodeOf(alice.c.RenewToken(ctxT(t), srv.Token("bob", time.Hour))), "another user's token")
		assert.Equal(t, protocol.CodeInvalidToken, core.CodeOf(alice.c.RenewToken(ctxT(t), "bad.token.here")))
		assert.Equal(t, protocol.CodeTokenExpired, core.CodeOf(alice.c.RenewToken(ctxT(t), srv.Token("alice", -time.Minute))))
		// A 2 s token replaces the 31 s one: the session now ends at its exp.
		start := time.Now()
		require.NoError(t, alice.c.RenewToken(ctxT(t), srv.Token("alice", 2*time.Second)))
		alice.expect("state ABORTED TOKEN_EXPIRED")
		assert.GreaterOrEqual(t, time.Since(start), time.Second, "exp has a resolution of a second")
		assert.Less(t, time.Since(start), 3*time.Second)
	})
}
