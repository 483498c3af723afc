//go:build !js

package server_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// The wire of a drain on one node: an idle session gets bye MOVED and the
// close 1012 at once; the parties of an invitation stay, finish it (accept,
// call, hang-up), and only then get the same; new connections, logins and
// health checks get 503 or SHUTTING_DOWN meanwhile. With no other node to
// log in on, Drain returns once every session has moved.
func TestDrainWire(t *testing.T) {
	srv := rtmcalltest.NewServer(t, func(c *server.Config) { c.ResumeGrace = time.Hour })
	alice, bob, carol := login(t, srv, "alice"), login(t, srv, "bob"), login(t, srv, "carol")
	anon := dial(t, srv, "anonymous")
	anon.sync()
	inv := alice.send("bob")
	bob.expect(protocol.TypeInvite, inv)
	bob.ack(inv)
	alice.expect(protocol.TypeLocalReceived, inv)

	errc := make(chan error, 1)
	go func() { errc <- srv.Node.Drain(context.Background()) }()
	before, status, _ := carol.closed()
	assert.Equal(t, []string{"bye MOVED"}, types(before), "an idle session moves at once")
	assert.Equal(t, websocket.StatusServiceRestart, status)
	_, status, _ = anon.closed()
	assert.Equal(t, websocket.StatusServiceRestart, status, "a connection without a session is sent elsewhere")

	code, body := httpGet(t, srv.HTTPURL+"/healthz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "draining", body)
	_, resp, err := websocket.Dial(context.Background(), srv.URL, &websocket.DialOptions{Subprotocols: []string{protocol.Subprotocol}})
	require.Error(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)

	alice.sync() // the parties of the invitation stay
	bob.answered(&protocol.Frame{Type: protocol.TypeAccept, Inv: inv}, protocol.TypeRemoteAccepted)
	alice.expect(protocol.TypeLocalAccepted, inv)
	alice.answered(&protocol.Frame{Type: protocol.TypeHangup, Inv: inv}, "call.ended HANGUP")
	for _, c := range []*client{alice, bob} {
		before, status, _ := c.closed()
		assert.Equal(t, websocket.StatusServiceRestart, status, c.name)
		require.NotEmpty(t, before, c.name)
		assert.Equal(t, "bye MOVED", types(before)[len(before)-1], "%s: moves once the call ended", c.name)
	}
	awaitDrain(t, errc, "once every session moved")
	assert.True(t, srv.Node.Draining())
}

// A connection without a session when the drain starts is closed with 1012,
// which tells a client to log in elsewhere; a resume read on it meanwhile
// must not attach its session, here or relayed: a client told 1012 right
// after its resume logs in anew and leaves the session, whose pending
// invitation then ends CALLER_LEFT at the grace (the cluster soak: a caller
// cut just before its node drained). The resume is refused SHUTTING_DOWN,
// which a client tries again elsewhere, and the session stays as it was.
func TestDrainResumeOnAClosingConnection(t *testing.T) {
	for name, home := range map[string]int{"own session": 0, "relayed": 1} {
		t.Run(name, func(t *testing.T) {
			cl := rtmcalltest.NewCluster(t, 2, func(c *server.Config) { c.ResumeGrace = time.Hour })
			alice, bob := login(t, cl.Node(home), "alice"), login(t, cl.Node(0), "bob") // bob keeps node 0 draining
			cl.Sync()
			inv := alice.send("bob")
			bob.expect(protocol.TypeInvite, inv)
			bob.ack(inv)
			alice.ws.CloseNow() // dropped: kept for resume
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			again, _, err := websocket.Dial(ctx, cl.Node(0).URL, &websocket.DialOptions{Subprotocols: []string{protocol.Subprotocol}})
			require.NoError(t, err)
			defer again.CloseNow()
			do := func(f *protocol.Frame) *protocol.Frame {
				data, err := protocol.Encode(f)
				require.NoError(t, err)
				require.NoError(t, again.Write(ctx, websocket.MessageText, data))
				_, data, err = again.Read(ctx)
				require.NoError(t, err)
				reply, err := protocol.Decode(data)
				require.NoError(t, err)
				return reply
			}
			require.Equal(t, protocol.TypeOK, do(&protocol.Frame{Type: protocol.TypePing, RID: 1}).Type, "open, without a session")

			// The close is held (under load its goroutine may run late): the
			// server reads the resume before it.
			release := server.HoldDrainCloses(cl.Node(0).Node)
			defer release()
			errc := make(chan error, 1)
			go func() { errc <- cl.Node(0).Node.Drain(context.Background()) }()
			require.Eventually(t, cl.Node(0).Node.Draining, waitTimeout, time.Millisecond)
			requireError(t, do(&protocol.Frame{Type: protocol.TypeResume, RID: 2, Session: alice.session, Key: alice.key}),
				protocol.CodeShuttingDown)
			release()
			_, _, err = again.Read(ctx)
			assert.Equal(t, websocket.StatusServiceRestart, websocket.CloseStatus(err), "%v", err)

			// The session is still there, its invitation pending.
			bob.okAfter(&protocol.Frame{Type: protocol.TypeRefuse, Inv: inv}, protocol.TypeRemoteRefused)
			require.NoError(t, cl.Node(0).Node.Shutdown(context.Background()))
			require.NoError(t, <-errc)
		})
	}
}

// A login read on a connection the drain is closing (made before the
// drain, without a session) gets SHUTTING_DOWN, which a client tries again
// elsewhere, and makes no session: a session made there would have to move
// at once.
func TestDrainLoginOnAClosingConnection(t *testing.T) {
	srv := rtmcalltest.NewServer(t, func(c *server.Config) { c.ResumeGrace = time.Hour })
	alice, bob := login(t, srv, "alice"), login(t, srv, "bob")
	inv := alice.send("bob") // its parties keep the node draining
	bob.expect(protocol.TypeInvite, inv)
	carol := dial(t, srv, "carol")
	carol.sync() // open, without a session

	// The close is held: the server reads the login before it.
	release := server.HoldDrainCloses(srv.Node)
	defer release()
	errc := make(chan error, 1)
	go func() { errc <- srv.Node.Drain(context.Background()) }()
	require.Eventually(t, srv.Node.Draining, waitTimeout, time.Millisecond)
	carol.fails(&protocol.Frame{Type: protocol.TypeLogin, User: "carol"}, protocol.CodeShuttingDown)
	release()
	_, status, _ := carol.closed()
	assert.Equal(t, websocket.StatusServiceRestart, status)
	assert.Zero(t, srv.Node.LocalSessions("carol"))

	bob.okAfter(&protocol.Frame{Type: protocol.TypeRefuse, Inv: inv}, protocol.TypeRemoteRefused)
	awaitDrain(t, errc, "once every session moved")
}

// A draining node's refusal of an upgrade closes the connection it came
// on. Kept alive, the HTTP client's pool gave it to the next dial of any
// client of the process, and a TCP load balancer, which picks a node per
// connection, sent every such dial to the draining node again, refused,
// until that node shut down (the cluster soak: 20 upgrades refused on one
// connection in 740 ms, and a 3.4 s stretch with no login reaching a node,
// while moved clients' sessions ended at the resume grace).
func TestDrainRefusalClosesTheConnection(t *testing.T) {
	cl := rtmcalltest.NewCluster(t, 2, func(c *server.Config) { c.ResumeGrace = time.Hour })
	lb := rtmcalltest.NewBalancer(t, cl)
	bob := login(t, cl.Node(0), "bob") // keeps node 0 draining (moved, never logged in elsewhere)
	var dials atomic.Int32
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	opts := func(h http.Header) *websocket.DialOptions {
		return &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}, HTTPHeader: h,
			Subprotocols: []string{protocol.Subprotocol}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	// An upgrade refused (a foreign origin) leaves its connection, which the
	// balancer sent to node 0, in the pool of the transport's upgrades.
	_, resp, err := websocket.Dial(ctx, lb.URL, opts(http.Header{"Origin": {"http://elsewhere.example"}}))
	require.Error(t, err)
	require.NotNil(t, resp)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)

	require.True(t, cl.Node(0).Node.StartDrain())
	_, status, _ := bob.closed()
	require.Equal(t, websocket.StatusServiceRestart, status)
	_, resp, err = websocket.Dial(ctx, lb.URL, opts(nil)) // on the pooled connection: node 0
	require.Error(t, err)
	require.NotNil(t, resp)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.True(t, resp.Close, "the refusal says Connection: close")
	assert.Equal(t, int32(1), dials.Load(), "the pooled connection was reused")
	ws, _, err := websocket.Dial(ctx, lb.URL, opts(nil)) // a new connection, which the balancer sends to node 1
	require.NoError(t, err, "the next dial must not reuse the draining node's connection")
	ws.CloseNow()
	assert.Equal(t, int32(2), dials.Load())
}

// A session that became idle during a drain, with no look of the drain
// since (its looks held here, as between two ticks), moves when an
// invitation comes to ring it, instead of being rung there: bob, in a call
// on draining node 1, is hung up on, then carol's invitation comes; bob is
// told bye MOVED and nothing of it, logs in anew on node 2, and is rung
// there by late ringing.
func TestDrainMovesASessionIdleSinceTheLastLook(t *testing.T) {
	cl := rtmcalltest.NewCluster(t, 3, func(c *server.Config) { c.ResumeGrace = time.Hour })
	alice, carol := login(t, cl.Node(0), "alice"), login(t, cl.Node(0), "carol")
	bob := login(t, cl.Node(1), "bob")
	cl.Sync()
	call := inCall(t, alice, bob)

	release := server.HoldDrainLooks(cl.Node(1).Node)
	defer release()
	errc := make(chan error, 1)
	go func() { errc <- cl.Node(1).Node.Drain(context.Background()) }()
	require.Eventually(t, cl.Node(1).Node.Draining, waitTimeout, time.Millisecond)
	hangUp(t, alice, call, bob) // idle now; no look of the drain moves it
	inv := carol.send("bob")
	before, status, _ := bob.closed()
	assert.Equal(t, []string{"bye MOVED"}, types(before), "moved, not rung there")
	assert.Equal(t, websocket.StatusServiceRestart, status)

	moved := login(t, cl.Node(2), "bob")
	moved.expect(protocol.TypeInvite, inv) // late ringing, from node 0
	moved.ack(inv)
	carol.expect(protocol.TypeLocalReceived, inv)
	moved.okAfter(&protocol.Frame{Type: protocol.TypeRefuse, Inv: inv}, protocol.TypeRemoteRefused)
	carol.expect(protocol.TypeLocalRefused, inv)
	release()
	awaitDrain(t, errc, "once bob moved")
	assert.Zero(t, cl.Node(1).Node.LocalSessions("bob"))
}

// A connection that just logged out when the drain starts is closed after
// its logout's replies: closed before them (the drain's 1012 racing the
// session's writer), the client never had its logout answered and took the
// 1012 for a move, logging in elsewhere while the server had ended its
// invitations CALLER_LEFT (the cluster soak, seed 8: the caller UNKNOWN,
// its callee PEER_OFFLINE). The writer is held up by a stalled link, with
// more queued than the sockets take.
func TestDrainClosesALoggedOutConnectionAfterItsReplies(t *testing.T) {
	srv := rtmcalltest.NewServer(t, func(c *server.Config) { c.ResumeGrace = time.Hour })
	proxy := rtmcalltest.NewProxy(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, proxy.URL, &websocket.DialOptions{Subprotocols: []string{protocol.Subprotocol}})
	require.NoError(t, err)
	alice := newClient(t, ws, "alice")
	alice.login("alice")
	bob, carol := login(t, srv, "bob"), login(t, srv, "carol")
	inv := alice.send("bob")
	bob.expect(protocol.TypeInvite, inv)
	pending := carol.send("bob") // keeps the node draining until the end
	bob.expect(protocol.TypeInvite, pending)

	proxy.Stall(true)
	const messages = 600 // 19 MiB: more than loopback's socket buffers hold
	text := strings.Repeat("x", 32<<10)
	for range messages {
		received, err := srv.Node.SendMessage("service", "alice", text, nil, "")
		require.NoError(t, err)
		require.True(t, received)
	}
	rid := alice.start(&protocol.Frame{Type: protocol.TypeLogout})
	require.Eventually(t, func() bool { return srv.Node.LocalSessions("alice") == 0 }, waitTimeout, time.Millisecond)
	errc := make(chan error, 1)
	go func() { errc <- srv.Node.Drain(context.Background()) }()
	require.Eventually(t, srv.Node.Draining, waitTimeout, time.Millisecond)
	bob.expect(protocol.TypeRemoteFailure, inv) // the logout ended it
	proxy.Stall(false)

	before, status, _ := alice.closed()
	assert.Equal(t, websocket.StatusServiceRestart, status)
	require.Equal(t, messages+2, len(before), "every message, the logout's local.failure and its ok, then the close")
	assert.Equal(t, protocol.TypeLocalFailure, before[messages].Type)
	assert.Equal(t, core.LocalFailureNotLoggedIn.String(), before[messages].Reason)
	assert.Equal(t, protocol.TypeOK, before[messages+1].Type)
	assert.Equal(t, rid, before[messages+1].RID)
	bob.okAfter(&protocol.Frame{Type: protocol.TypeRefuse, Inv: pending}, protocol.TypeRemoteRefused)
	select {
	case err := <-errc:
		require.NoError(t, err)
	case <-time.After(waitTimeout):
		require.FailNow(t, "the drain did not end")
	}
}

// A refuse that a draining node forwards to the invitation's owner, and
// that wins, gets its ok: the session, idle from the owner's remote.refused
// on, moves only once no answer of its own waits for the owner's reply.
// Before, a drain look between the two (here the reply is held until one
// has run; the heartbeats slowed so that the hold is no loss) moved it, the
// ok was dropped, and its client, moving, failed the refuse ALREADY_END
// though it was carried out.
func TestDrainWaitsForAForwardedAnswersReply(t *testing.T) {
	cl := rtmcalltest.NewCluster(t, 2, func(c *server.Config) {
		c.ResumeGrace, c.PeerHeartbeat, c.PeerTimeout = time.Hour, time.Second, 10*time.Second
	})
	_, _, alice, bob := ownerAndCallee(t, cl)
	inv := alice.send("bob")
	bob.expect(protocol.TypeInvite, inv)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = cl.Node(1).Node.Drain(ctx) }()
	require.Eventually(t, cl.Node(1).Node.Draining, waitTimeout, time.Millisecond)
	cl.Loss(0).SetFault(rtmcalltest.Fault{Hold: true, Kinds: []string{"reply"}})
	rid := bob.start(frame(protocol.TypeRefuse, inv))
	alice.expect(protocol.TypeLocalRefused, inv) // the owner carried it out; its ok is held
	require.Eventually(t, func() bool { return server.RemoteRinging(cl.Node(1).Node, "bob") == 0 }, waitTimeout, time.Millisecond,
		"bob's node told of the end")
	looked := server.DrainLooked(cl.Node(1).Node)
	require.Eventually(t, func() bool { return server.DrainLooked(cl.Node(1).Node) > looked }, waitTimeout, time.Millisecond,
		"a look of the drain with bob idle but for the ok")
	cl.Loss(0).SetFault(rtmcalltest.Fault{})
	reply, before := bob.reply(rid)
	assert.Equal(t, []string{"remote.refused"}, types(before))
	assert.Equal(t, protocol.TypeOK, reply.Type, "%+v", reply)
	before, status, _ := bob.closed()
	assert.Equal(t, []string{"bye MOVED"}, types(before), "moves once answered")
	assert.Equal(t, websocket.StatusServiceRestart, status)
}
