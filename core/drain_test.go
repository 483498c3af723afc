//go:build !js

package core_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
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

// drainCluster is three nodes behind a Balancer.
func drainCluster(t *testing.T, opts ...func(*server.Config)) (*rtmcalltest.Cluster, *rtmcalltest.Balancer) {
	cl := rtmcalltest.NewCluster(t, 3, opts...)
	return cl, rtmcalltest.NewBalancer(t, cl)
}

// nodeOf waits until exactly one node holds a session of user and returns it.
func nodeOf(t *testing.T, cl *rtmcalltest.Cluster, user string) int {
	t.Helper()
	at := -1
	require.Eventually(t, func() bool {
		at = -1
		for i := range cl.Nodes {
			if cl.Node(i).Node.LocalSessions(user) > 0 {
				if at >= 0 {
					return false
				}
				at = i
			}
		}
		return at >= 0
	}, waitFor, time.Millisecond, "%s on one node", user)
	return at
}

// loginOn logs id in through the balancer until its session lands on node
// want (the balancer takes turns).
func loginOn(t *testing.T, cl *rtmcalltest.Cluster, lb *rtmcalltest.Balancer, id string, want int) *user {
	t.Helper()
	return loginOnWith(t, cl, lb, core.Options{}, id, want)
}

// loginOnWith is loginOn with a client made with opts (its URL lb's).
func loginOnWith(t *testing.T, cl *rtmcalltest.Cluster, lb *rtmcalltest.Balancer, opts core.Options, id string, want int) *user {
	t.Helper()
	opts.URL = lb.URL
	for range 6 {
		u := loginOpts(t, opts, id)
		if nodeOf(t, cl, id) == want {
			return u
		}
		require.NoError(t, u.c.Logout(ctxT(t)))
		u.expect("state DISCONNECTED LOGOUT")
		require.NoError(t, u.c.Close())
		require.Eventually(t, func() bool {
			return cl.Node(0).Node.LocalSessions(id)+cl.Node(1).Node.LocalSessions(id)+cl.Node(2).Node.LocalSessions(id) == 0
		},
			waitFor, time.Millisecond)
	}
	require.FailNow(t, "the balancer never picked node", "%d", want)
	return nil
}

// ringing logs alice in on node 0 and bob on node 1, through lb, and
// rings bob from alice.
func ringing(t *testing.T, cl *rtmcalltest.Cluster, lb *rtmcalltest.Balancer) (alice, bob *user, l *core.LocalInvitation, r *core.RemoteInvitation) {
	t.Helper()
	alice, bob = loginOn(t, cl, lb, "alice", 0), loginOn(t, cl, lb, "bob", 1)
	cl.Sync()
	l = alice.invite("bob", "hi")
	r = bob.received()
	alice.expect("local received")
	return alice, bob, l, r
}

// acceptBoth accepts r and requires both sides to see it.
func acceptBoth(t *testing.T, caller, callee *user, r *core.RemoteInvitation) {
	t.Helper()
	require.NoError(t, r.Accept(ctxT(t)))
	callee.expect("remote accepted ACCEPTED")
	caller.expect(`local accepted "" ACCEPTED_BY_REMOTE`)
}

// answerAndMove: bob, rung by alice on node 1, which drains (errc), accepts
// and hangs up, both sides see it, then bob moves and the drain ends.
func answerAndMove(t *testing.T, cl *rtmcalltest.Cluster, alice, bob *user, r *core.RemoteInvitation, errc chan error) {
	t.Helper()
	acceptBoth(t, alice, bob, r)
	require.NoError(t, r.Hangup(ctxT(t)))
	bob.expectOn(bob.calls, "remote call ended HANGUP bob ENDED")
	alice.expectOn(alice.calls, "local call ended HANGUP bob ENDED")
	bob.expect("state RECONNECTING INTERRUPTED", "state CONNECTED LOGIN_SUCCESS")
	awaitDrained(t, errc)
	assert.NotEqual(t, 1, nodeOf(t, cl, "bob"))
}

// drain starts draining node i and returns a channel with Drain's error.
func drain(cl *rtmcalltest.Cluster, i int) chan error {
	errc := make(chan error, 1)
	n := cl.Node(i).Node
	go func() { errc <- n.Drain(context.Background()) }()
	return errc
}

func awaitDrained(t *testing.T, errc chan error) {
	t.Helper()
	select {
	case err := <-errc:
		require.NoError(t, err)
	case <-time.After(3 * waitFor):
		require.FailNow(t, "the drain did not end")
	}
}

// The caller's node drains while its invitation rings: the caller stays on
// it until the invitation and the call that follows end (the accept and the
// hang-up reach both sides), then moves: RECONNECTING, CONNECTED, on
// another node, and calls again. Meanwhile the draining node answers
// /healthz and upgrades with 503.
func TestDrainCallerNodeMidRing(t *testing.T) {
	cl, lb := drainCluster(t)
	alice, bob, l, r := ringing(t, cl, lb)

	n0 := cl.Node(0)
	errc := drain(cl, 0)
	require.Eventually(t, n0.Node.Draining, waitFor, time.Millisecond)
	resp, err := http.Get(n0.HTTPURL + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "/healthz while draining")
	_, resp, err = websocket.Dial(ctxT(t), n0.URL, &websocket.DialOptions{Subprotocols: []string{protocol.Subprotocol}})
	require.Error(t, err)
	require.NotNil(t, resp)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "an upgrade while draining")

	acceptBoth(t, alice, bob, r)
	hangUp(t, alice, l, bob)
	alice.expect("state RECONNECTING INTERRUPTED", "state CONNECTED LOGIN_SUCCESS")
	awaitDrained(t, errc)
	assert.NotEqual(t, 0, nodeOf(t, cl, "alice"))

	cl.Sync()
	l = alice.invite("bob", "again")
	r = bob.received()
	alice.expect("local received")
	acceptBoth(t, alice, bob, r)
	hangUp(t, alice, l, bob)
	bob.quiet()
	alice.quiet()
}

// A caller on a draining node that calls again as soon as its call ended
// is not kept there by its new invitation (a caller calling back to back
// would stay until the drain timeout): the send moves it instead, and its
// client sends it again on its new node, which owns the invitation. (Without
// that, it fails unless the drain's 20 ms tick lands between the hang-up's
// reply and the send.) The new node knows the call ended, for the bye waited
// until the peers had handled what the draining node sent: bob, without call
// waiting, rings, not busy.
func TestDrainCallerCallingAgainMoves(t *testing.T) {
	cl, lb := drainCluster(t, func(c *server.Config) { c.DrainTimeout = time.Minute })
	alice, bob, l, r := ringing(t, cl, lb)
	errc := drain(cl, 0)
	require.Eventually(t, cl.Node(0).Node.Draining, waitFor, time.Millisecond)
	acceptBoth(t, alice, bob, r)
	require.NoError(t, l.Hangup(ctxT(t)))
	again := alice.invite("bob", "again")
	assert.NotEqual(t, cl.Node(0).Node.ID(), again.ID()[:len(cl.Node(0).Node.ID())], "the draining node owns the new invitation")
	alice.expectOn(alice.calls, "local call ended HANGUP alice ENDED")
	bob.expectOn(bob.calls, "remote call ended HANGUP alice ENDED")
	alice.expect("state RECONNECTING INTERRUPTED", "state CONNECTED LOGIN_SUCCESS", "local received")
	awaitDrained(t, errc)
	r = bob.received()
	assert.Equal(t, again.ID(), r.ID())
	assert.False(t, r.CalleeBusy(), "the new node knew the call had ended")
	acceptBoth(t, alice, bob, r)
	hangUp(t, alice, again, bob)
	alice.quiet()
	bob.quiet()
}

// The bye MOVED waits until the peers have handled what the draining node
// sent them: with the draining owner's word of the call's end held back
// 500 ms on its way to both other nodes, the caller that hangs up and calls
// again at once moves only once it arrived, so its new node, either one,
// rings bob, without call waiting, and not busy.
func TestDrainMoveWaitsForPeers(t *testing.T) {
	// Heartbeats slower than the delay, which the loss detector would take
	// for a lost message.
	cl, lb := drainCluster(t, func(c *server.Config) {
		c.DrainTimeout, c.PeerHeartbeat, c.PeerTimeout = time.Minute, time.Second, 3*time.Second
	})
	alice, bob, l, r := ringing(t, cl, lb)
	errc := drain(cl, 0)
	require.Eventually(t, cl.Node(0).Node.Draining, waitFor, time.Millisecond)
	acceptBoth(t, alice, bob, r)
	const delay = 500 * time.Millisecond
	cl.Loss(0).SetFault(rtmcalltest.Fault{Delay: delay, MinDelay: delay, Kinds: []string{"deliver", "call.end"},
		To: []string{cl.Node(1).Node.ID(), cl.Node(2).Node.ID()}})
	start := time.Now()
	require.NoError(t, l.Hangup(ctxT(t)))
	again := alice.invite("bob", "again")
	alice.expectOn(alice.calls, "local call ended HANGUP alice ENDED")
	alice.expect("state RECONNECTING INTERRUPTED", "state CONNECTED LOGIN_SUCCESS", "local received")
	assert.GreaterOrEqual(t, time.Since(start), delay, "moved before the peers knew")
	r = bob.received()
	assert.Equal(t, again.ID(), r.ID())
	assert.False(t, r.CalleeBusy())
	bob.expectOn(bob.calls, "remote call ended HANGUP alice ENDED")
	cl.Loss(0).SetFault(rtmcalltest.Fault{})
	awaitDrained(t, errc)
	acceptBoth(t, alice, bob, r)
	hangUp(t, alice, again, bob)
	alice.quiet()
	bob.quiet()
}

// The callee's node drains while the callee rings: the device stays until
// its invitation ends (it accepts on the draining node; the call and its
// hang-up work), then moves and is rung on its new node.
func TestDrainCalleeNodeMidRing(t *testing.T) {
	cl, lb := drainCluster(t)
	alice, bob, l, r := ringing(t, cl, lb)
	errc := drain(cl, 1)
	require.Eventually(t, cl.Node(1).Node.Draining, waitFor, time.Millisecond)
	answerAndMove(t, cl, alice, bob, r, errc)

	cl.Sync()
	l = alice.invite("bob", "again")
	r = bob.received()
	alice.expect("local received")
	require.NoError(t, r.Refuse(ctxT(t)))
	bob.expect("remote refused REFUSED")
	alice.expect(`local refused ""`)
	_ = l
	alice.quiet()
	bob.quiet()
}

// The callee's node drains while another node's invitation rings it, and
// the device answers past ResumeGrace: the drain's default timeout covers
// the time left to that invitation, so the accept and the hang-up reach
// both sides, then the device moves. Before, the timeout counted only the
// invitations the draining node owned: at ResumeGrace it ended the ring
// UNKNOWN on both sides (in the cluster soak, with its 2 s grace, group
// callees failed PEER_OFFLINE).
func TestDrainTimeoutCoversRemoteInvitations(t *testing.T) {
	const grace = 300 * time.Millisecond
	cl, lb := drainCluster(t, func(c *server.Config) { c.ResumeGrace = grace })
	alice, bob, _, r := ringing(t, cl, lb)
	errc := drain(cl, 1)
	require.Eventually(t, cl.Node(1).Node.Draining, waitFor, time.Millisecond)
	select {
	case err := <-errc:
		require.FailNow(t, "the drain ended while the invitation rang", "%v", err)
	case <-time.After(3 * grace): // past the timeout it had
	}
	bob.quiet()
	answerAndMove(t, cl, alice, bob, r, errc)
	alice.quiet()
}

// While a callee moves (its old node drained, its new login held at the
// balancer): an invitation sent to it rings the new session by late
// ringing once it logs in on another node, and it accepts; a request the
// callee makes meanwhile waits and is carried out on the new session; a
// watcher on the third node sees bob ONLINE throughout (no OFFLINE, no
// UNREACHABLE); bob's own subscription is set again on the new session.
func TestDrainMoveLateRingAndPresence(t *testing.T) {
	cl, lb := drainCluster(t)
	alice := loginOn(t, cl, lb, "alice", 0)
	bob := loginOn(t, cl, lb, "bob", 1)
	carol := loginOn(t, cl, lb, "carol", 2)
	cl.Sync()
	require.NoError(t, carol.c.SubscribePeersOnlineStatus(ctxT(t), []string{"bob"}))
	carol.expect("presence bob=ONLINE")
	require.NoError(t, bob.c.SubscribePeersOnlineStatus(ctxT(t), []string{"carol"}))
	bob.expect("presence carol=ONLINE")

	lb.Hold(true)
	errc := drain(cl, 1)
	bob.expect("state RECONNECTING INTERRUPTED")
	assert.Equal(t, core.ConnectionReconnecting, bob.c.ConnectionState())

	queried := make(chan error, 1)
	var online map[string]bool
	go func() {
		var err error
		online, err = bob.c.QueryPeersOnlineStatus(context.Background(), []string{"alice"})
		queried <- err
	}()
	l := alice.invite("bob", "while moving")
	select {
	case err := <-queried:
		require.FailNow(t, "a request while moving returned before the move", "%v", err)
	default:
	}

	lb.Hold(false)
	bob.expect("state CONNECTED LOGIN_SUCCESS")
	select {
	case err := <-queried:
		require.NoError(t, err)
		assert.Equal(t, map[string]bool{"alice": true}, online)
	case <-time.After(waitFor):
		require.FailNow(t, "the request made while moving never returned")
	}
	r := bob.received()
	assert.Equal(t, l.ID(), r.ID(), "rung again on the new node")
	assert.Equal(t, "while moving", r.Content())
	bob.expect("presence carol=ONLINE") // its subscription, set again
	alice.expect("local received")
	acceptBoth(t, alice, bob, r)
	hangUp(t, alice, l, bob)
	awaitDrained(t, errc)
	assert.NotEqual(t, 1, nodeOf(t, cl, "bob"))
	cl.Sync()
	carol.quiet() // nothing came for bob: no OFFLINE, no UNREACHABLE
	p, err := cl.Node(2).Node.Presence("bob")
	require.NoError(t, err)
	assert.Equal(t, server.Presence{User: "bob", Status: "ONLINE", Sessions: 1}, p)
}

// At the drain timeout, what is still pending ends as at shutdown
// (UNKNOWN on both sides), and the caller, told MOVED, logs in elsewhere.
func TestDrainTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	cl, lb := drainCluster(t, func(c *server.Config) { c.DrainTimeout = timeout })
	alice := loginOn(t, cl, lb, "alice", 0)
	bob := loginOn(t, cl, lb, "bob", 1)
	cl.Sync()
	alice.invite("bob", "")
	bob.received()
	alice.expect("local received")
	start := time.Now()
	errc := drain(cl, 0)
	alice.expect("local failure UNKNOWN")
	assert.GreaterOrEqual(t, time.Since(start), timeout, "not before the timeout")
	bob.expect("remote failure UNKNOWN")
	alice.expect("state RECONNECTING INTERRUPTED", "state CONNECTED LOGIN_SUCCESS")
	awaitDrained(t, errc)
	alice.quiet()
	bob.quiet()
}

// A rolling restart under load: pairs place flows (send, accept, hang up)
// back to back while each node in turn drains and restarts. No flow fails:
// every send rings, every accept reaches both sides, every hang-up too.
func TestDrainRollingRestartUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("a rolling restart under load")
	}
	const pairs = 12
	// The soak's peer timing: with rtmcalltest's 50 ms heartbeats, a node
	// loaded by -race and a rejoin's snapshot may handle a peer's messages
	// more than two heartbeats late, which the loss detector takes for a
	// gap (docs/CLUSTER.md "Lost messages"): a reset, which ends the calls
	// across the pair, as a death does. Seen here; it is not the drain's.
	//
	// A pair on one node runs a flow in about a millisecond, over the
	// per-session rate limit (60 frames/s, burst 180): a request refused
	// RATE_LIMITED (a hang-up) left a call up, which kept both on the
	// draining node. No client calls like that: the limit is lifted.
	cl, lb := drainCluster(t, unlimited, func(c *server.Config) { c.PeerHeartbeat, c.PeerTimeout = 250*time.Millisecond, 2*time.Second })
	type party struct {
		c       *core.Client
		invites chan *core.RemoteInvitation
		moves   atomic.Int64
		mu      sync.Mutex
		since   time.Time     // the last RECONNECTING
		longest time.Duration // the longest move, RECONNECTING to CONNECTED
	}
	newParty := func(id string) *party {
		c, err := core.NewClient(core.Options{URL: lb.URL, Logf: t.Logf, RequestTimeout: 20 * time.Second})
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		p := &party{c: c, invites: make(chan *core.RemoteInvitation, 8)}
		c.OnInvitationReceived(func(r *core.RemoteInvitation) { p.invites <- r })
		c.OnConnectionStateChanged(func(s core.ConnectionState, _ core.ConnectionChangeReason) {
			p.mu.Lock()
			defer p.mu.Unlock()
			switch {
			case s == core.ConnectionReconnecting:
				p.moves.Add(1)
				p.since = time.Now()
			case s == core.ConnectionConnected && !p.since.IsZero():
				p.longest = max(p.longest, time.Since(p.since))
			}
		})
		require.NoError(t, c.Login(ctxT(t), id, ""))
		return p
	}
	var callers, callees []*party
	for i := range pairs {
		callers = append(callers, newParty(fmt.Sprintf("caller%02d", i)))
		callees = append(callees, newParty(fmt.Sprintf("callee%02d", i)))
	}
	cl.Sync()

	var ok, failed atomic.Int64
	var mu sync.Mutex
	var failures []string
	fail := func(format string, args ...any) {
		failed.Add(1)
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	const flowWait = 20 * time.Second
	flow := func(i int, caller, callee *party) bool {
		ctx, cancel := context.WithTimeout(context.Background(), flowWait)
		defer cancel()
		l, err := caller.c.CreateLocalInvitation(callee.c.UserID())
		require.NoError(t, err)
		accepted, callerEnd := make(chan string, 1), make(chan string, 1)
		l.OnAccepted(func(string) { accepted <- "accepted" })
		l.OnFailure(func(r core.LocalFailureReason) { accepted <- "failure " + r.String() })
		l.OnRefused(func(string) { accepted <- "refused" })
		l.OnCallEnded(func(r core.CallEndReason, by string) { callerEnd <- r.String() })
		if err := l.Send(ctx); err != nil {
			fail("pair %d: send: %v", i, err)
			return false
		}
		var r *core.RemoteInvitation
		select {
		case r = <-callee.invites:
		case <-ctx.Done():
			select {
			case got := <-accepted:
				fail("pair %d: %s never rang (the caller saw %s)", i, l.ID(), got)
			default:
				fail("pair %d: %s never rang", i, l.ID())
			}
			return false
		}
		if r.ID() != l.ID() {
			fail("pair %d: rang %s, sent %s", i, r.ID(), l.ID())
			return false
		}
		calleeEnd := make(chan string, 1)
		r.OnCallEnded(func(reason core.CallEndReason, by string) { calleeEnd <- reason.String() })
		if err := r.Accept(ctx); err != nil {
			fail("pair %d: accept %s: %v", i, r.ID(), err)
			return false
		}
		select {
		case got := <-accepted:
			if got != "accepted" {
				fail("pair %d: caller saw %s for %s", i, got, l.ID())
				return false
			}
		case <-ctx.Done():
			fail("pair %d: caller never saw the accept of %s", i, l.ID())
			return false
		}
		if err := l.Hangup(ctx); err != nil {
			fail("pair %d: hangup %s: %v", i, l.ID(), err)
			return false
		}
		for _, ch := range []chan string{callerEnd, calleeEnd} {
			select {
			case got := <-ch:
				if got != "HANGUP" {
					fail("pair %d: call %s ended %s", i, l.ID(), got)
					return false
				}
			case <-ctx.Done():
				fail("pair %d: call %s never ended on a side", i, l.ID())
				return false
			}
		}
		ok.Add(1)
		return true
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range pairs {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if !flow(i, callers[i], callees[i]) {
					return
				}
			}
		})
	}
	start := time.Now()
	for i := range cl.Nodes {
		before := ok.Load()
		require.Eventually(t, func() bool { return ok.Load() >= before+pairs || failed.Load() > 0 }, 3*waitFor, time.Millisecond)
		awaitDrained(t, drain(cl, i))
		cl.Restart(i)
	}
	before := ok.Load()
	require.Eventually(t, func() bool { return ok.Load() >= before+pairs || failed.Load() > 0 }, 3*waitFor, time.Millisecond)
	close(stop)
	wg.Wait()
	var moves int64
	var longest time.Duration
	for _, p := range append(callers, callees...) {
		assert.Equal(t, core.ConnectionConnected, p.c.ConnectionState())
		moves += p.moves.Load()
		p.mu.Lock()
		longest = max(longest, p.longest)
		p.mu.Unlock()
	}
	t.Logf("rolling restart of 3 nodes in %v: %d flows completed, %d failed, %d client moves, the longest %v",
		time.Since(start).Round(time.Millisecond), ok.Load(), failed.Load(), moves, longest.Round(time.Millisecond))
	assert.Zero(t, failed.Load(), "dropped flows: %s", strings.Join(failures, "; "))
	assert.Positive(t, moves, "clients moved")
	assert.GreaterOrEqual(t, ok.Load(), int64(4*pairs))
}

// A login that reaches a node that drains or has shut down (503) is tried
// again until its context ends: a load balancer may send a connection to a
// node just before its health check sees the drain.
func TestLoginRetriesARefusingNode(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	require.NoError(t, srv.Node.Drain(context.Background())) // nothing to wait for: it shuts down
	u := newClient(t, srv, "alice")
	const d = 500 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	err := u.c.Login(ctx, "alice", "")
	assert.GreaterOrEqual(t, time.Since(start), d, "tried again until the deadline")
	assert.Equal(t, protocol.CodeTimeout, core.CodeOf(err), "%v", err)
	assert.Contains(t, err.Error(), "503")
	u.expect("state CONNECTING LOGIN", "state DISCONNECTED LOGIN_TIMEOUT")
}

// TestDrainAnswerCrossingTheMove: bob answers an invitation whose cancel,
// and then the bye MOVED, are on their way to him, so his accept reaches
// the draining node after it moved him, which carries out nothing more.
// The client then holds a request on an invitation of its old session: it
// answers ALREADY_END, what the old session would have said, rather than
// sending it on the new session, whose node would say NOT_YOURS.
func TestDrainAnswerCrossingTheMove(t *testing.T) {
	cl, lb := drainCluster(t)
	alice := loginOn(t, cl, lb, "alice", 0)
	p := rtmcalltest.NewProxy(t, cl.Node(1))
	bob := loginAt(t, p.URL, "bob")
	cl.Sync()
	l := alice.invite("bob", "hi")
	r := bob.received()
	alice.expect("local received")

	p.Retarget(cl.Node(2)) // bob's login after the move
	p.Stall(true)          // bob hears nothing of the cancel and the bye yet
	require.NoError(t, l.Cancel(ctxT(t)))
	alice.expect("local canceled")
	errc := drain(cl, 1)
	require.Eventually(t, func() bool { return metric(t, cl.Node(1), "rtmcall_drain_moves_total") == 1 },
		waitFor, time.Millisecond, "node 1 moved bob")
	accepted := make(chan error, 1)
	go func() { accepted <- r.Accept(ctxT(t)) }()
	require.Eventually(t, func() bool { return r.State() == core.RemoteAcceptSentToLocal }, waitFor, time.Millisecond)
	p.Stall(false)

	bob.expect(`remote canceled "hi"`, "state RECONNECTING INTERRUPTED", "state CONNECTED LOGIN_SUCCESS")
	select {
	case err := <-accepted:
		assert.Equal(t, protocol.CodeAlreadyEnd, core.CodeOf(err), "%v", err)
	case <-time.After(waitFor):
		require.FailNow(t, "the accept never returned")
	}
	awaitDrained(t, errc)
	assert.Equal(t, 2, nodeOf(t, cl, "bob"))
	alice.quiet()
	bob.quiet()
}

// A client whose connection drops before it reads its bye MOVED resumes
// (through another node, which relays it to the draining one) and gets the
// bye again: it moves, rather than failing RESUME_FAILED and ABORTED.
func TestDrainMovedSessionResumes(t *testing.T) {
	cl, _ := drainCluster(t)
	p := rtmcalltest.NewProxy(t, cl.Node(1))
	bob := loginAt(t, p.URL, "bob")
	cl.Sync()
	p.Freeze() // bob hears nothing of the bye
	errc := drain(cl, 1)
	require.Eventually(t, func() bool { return metric(t, cl.Node(1), "rtmcall_drain_moves_total") == 1 },
		waitFor, time.Millisecond, "node 1 moved bob")
	p.Retarget(cl.Node(2))
	p.Drop()
	bob.expect("state RECONNECTING INTERRUPTED", "state CONNECTED LOGIN_SUCCESS",
		"state RECONNECTING INTERRUPTED", "state CONNECTED LOGIN_SUCCESS")
	awaitDrained(t, errc)
	assert.Equal(t, 2, nodeOf(t, cl, "bob"))
	bob.quiet()
}

// A device that rings on a draining node is rung there for a new
// invitation as before, and moves once neither rings it: bob, rung for
// "hi", hears "again" at once, refuses "hi", accepts "again", and moves
// after its call. Before, "again" was held back until bob moved, which
// only the end of "hi" allowed: a device ringing for an invitation nobody
// answered stayed deaf to every other one up to its timeout (the cluster
// soak's callees online at the send never rung; bob heard nothing of
// "again" here). The invitation's owner is another node, or the draining
// node itself.
func TestDrainRingingDeviceRingsForNewInvitations(t *testing.T) {
	for _, tc := range []struct {
		name      string
		aliceNode int
	}{{"owner elsewhere", 0}, {"owner draining", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			cl, lb := drainCluster(t)
			alice, bob := loginOn(t, cl, lb, "alice", tc.aliceNode), loginOn(t, cl, lb, "bob", 1)
			cl.Sync()
			alice.invite("bob", "hi")
			r := bob.received()
			alice.expect("local received")
			errc := drain(cl, 1)
			require.Eventually(t, cl.Node(1).Node.Draining, waitFor, time.Millisecond)

			l := alice.invite("bob", "again")
			again := ringsAgain(t, alice, bob, l)
			require.NoError(t, r.Refuse(ctxT(t)))
			bob.expect("remote refused REFUSED")
			alice.expect(`local refused ""`)
			acceptBoth(t, alice, bob, again)
			hangUp(t, alice, l, bob)
			bob.expect("state RECONNECTING INTERRUPTED", "state CONNECTED LOGIN_SUCCESS")
			if tc.aliceNode == 1 {
				alice.expect("state RECONNECTING INTERRUPTED", "state CONNECTED LOGIN_SUCCESS")
			}
			awaitDrained(t, errc)
			assert.NotEqual(t, 1, nodeOf(t, cl, "bob"))
			alice.quiet()
			bob.quiet()
		})
	}
}

// ringsAgain returns the invite of l ("again") on callee, seen by both.
func ringsAgain(t *testing.T, caller, callee *user, l *core.LocalInvitation) *core.RemoteInvitation {
	t.Helper()
	again := callee.received()
	assert.Equal(t, l.ID(), again.ID())
	assert.Equal(t, "again", again.Content())
	caller.expect("local received")
	return again
}

// A device in a call on a draining node is not rung there for a new
// invitation, so that invitations that keep coming cannot pin it there
// until the drain timeout (a call has no timeout): bob, with call waiting,
// in a call with alice, hears nothing of her "again" until the call has
// ended and he moved, then "again" rings him on his new node by late
// ringing, and he accepts it. The invitation's owner is the draining node
// (alice, in the call, stays there) or another one (carol).
func TestDrainHoldsBackNewInvitations(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ownerFar bool
	}{{"owner elsewhere", true}, {"owner draining", false}} {
		t.Run(tc.name, func(t *testing.T) {
			cl, lb := drainCluster(t)
			alice, bob := loginOn(t, cl, lb, "alice", 1), loginOn(t, cl, lb, "bob", 1)
			carol := loginOn(t, cl, lb, "carol", 0)
			require.NoError(t, bob.c.SetCallWaiting(ctxT(t), true))
			cl.Sync()
			lc := alice.invite("bob", "hi")
			r := bob.received()
			alice.expect("local received")
			acceptBoth(t, alice, bob, r)
			errc := drain(cl, 1)
			require.Eventually(t, cl.Node(1).Node.Draining, waitFor, time.Millisecond)

			caller := alice
			if tc.ownerFar {
				caller = carol
			}
			l := caller.invite("bob", "again")
			bob.quiet() // not rung for it
			hangUp(t, alice, lc, bob)
			bob.expect("state RECONNECTING INTERRUPTED", "state CONNECTED LOGIN_SUCCESS")
			acceptBoth(t, caller, bob, ringsAgain(t, caller, bob, l))
			hangUp(t, caller, l, bob)
			awaitDrained(t, errc)
			alice.expect("state RECONNECTING INTERRUPTED", "state CONNECTED LOGIN_SUCCESS")
			assert.NotEqual(t, 1, nodeOf(t, cl, "bob"))
			alice.quiet()
			bob.quiet()
			carol.quiet()
		})
	}
}

// A device that moves while its user is in a call on another device, with
// call waiting on, is rung on its new node for an invitation sent while it
// moved: its login carries call waiting, so late ringing at the login
// rings it, busy (PROTOCOL.md "Late ringing").
func TestDrainBusyDeviceRingsLate(t *testing.T) {
	cl, lb := drainCluster(t)
	laptop := loginOn(t, cl, lb, "bob", 1)
	require.NoError(t, laptop.c.SetCallWaiting(ctxT(t), true))
	alice, carol := loginAt(t, cl.Node(0).URL, "alice"), loginAt(t, cl.Node(2).URL, "carol")
	phone := loginAt(t, cl.Node(0).URL, "bob")
	cl.Sync()
	lc := alice.invite("bob", "")
	rc := phone.received()
	assert.Equal(t, lc.ID(), laptop.received().ID())
	alice.expect("local received")
	acceptBoth(t, alice, phone, rc)
	laptop.expect("remote failure ANSWERED_ELSEWHERE")
	cl.Sync()

	lb.Hold(true)
	errc := drain(cl, 1)
	laptop.expect("state RECONNECTING INTERRUPTED")
	l := carol.invite("bob", "while moving") // rings the moved session, which passes nothing on
	lb.Hold(false)
	laptop.expect("state CONNECTED LOGIN_SUCCESS")
	r := laptop.received()
	assert.Equal(t, l.ID(), r.ID(), "rung late on the new node")
	assert.True(t, r.CalleeBusy())
	carol.expect("local received")
	require.NoError(t, r.Refuse(ctxT(t)))
	laptop.expect("remote refused REFUSED")
	carol.expect(`local refused ""`)
	awaitDrained(t, errc)
	assert.Zero(t, cl.Node(1).Node.LocalSessions("bob"))
	phone.quiet() // no call waiting: not rung
}

// A peer message sent to a device while it moves (its login elsewhere held
// back) reaches it on its new node once, in order with those sent after,
// from a sender on another node and one on the node it moves to; the
// senders are told it was received.
func TestDrainMovedDeviceGetsItsMessages(t *testing.T) {
	cl, lb := drainCluster(t)
	bob := loginOn(t, cl, lb, "bob", 1)
	alice := loginOn(t, cl, lb, "alice", 0)
	carol := loginOn(t, cl, lb, "carol", 2)
	cl.Sync()
	lb.Hold(true)
	errc := drain(cl, 1)
	bob.expect("state RECONNECTING INTERRUPTED")
	messageBob(t, alice, "a1")
	messageBob(t, carol, "c1")
	messageBob(t, alice, "a2")
	lb.Hold(false)
	bob.expect("state CONNECTED LOGIN_SUCCESS")
	messageBob(t, alice, "a3")
	messageBob(t, carol, "c2")
	assert.Equal(t, map[string][]string{"alice": {"a1", "a2", "a3"}, "carol": {"c1", "c2"}}, messagesBy(t, bob, 5))
	awaitDrained(t, errc)
	cl.Sync()
	messageBob(t, alice, "last")
	bob.expectOn(bob.messages, "alice: last") // none came twice
	bob.quiet()
}

// A moved device's new login whose reply is lost (the balancer lets the
// login reach its node and drops everything the node sends back): the
// client, which never learned of that session, gives up on it after
// RequestTimeout and logs in again, naming the moved session as before.
// It gets every peer message sent to it since the move once, in order:
// those the moved session held, those that reached the lost login, those
// sent after; the app saw RECONNECTING, then CONNECTED once.
func TestDrainMovedDeviceLoginReplyLost(t *testing.T) {
	cl, lb := drainCluster(t)
	bob := loginOnWith(t, cl, lb, core.Options{RequestTimeout: time.Second}, "bob", 1)
	alice := loginOn(t, cl, lb, "alice", 0)
	carol := loginOn(t, cl, lb, "carol", 2)
	cl.Sync()
	lb.Hold(true)
	lb.LoseReplies(1)
	errc := drain(cl, 1)
	bob.expect("state RECONNECTING INTERRUPTED")
	messageBob(t, alice, "a1")
	messageBob(t, carol, "c1")
	lb.Hold(false)
	// The login whose reply is lost: a session of bob on node 0 or 2.
	require.Eventually(t, func() bool {
		return cl.Node(0).Node.LocalSessions("bob")+cl.Node(2).Node.LocalSessions("bob") > 0
	}, waitFor, time.Millisecond)
	messageBob(t, alice, "a2")
	messageBob(t, carol, "c2")
	bob.expect("state CONNECTED LOGIN_SUCCESS")
	messageBob(t, alice, "a3")
	messageBob(t, carol, "c3")
	assert.Equal(t, map[string][]string{"alice": {"a1", "a2", "a3"}, "carol": {"c1", "c2", "c3"}}, messagesBy(t, bob, 6))
	awaitDrained(t, errc)
	require.Eventually(t, func() bool {
		return cl.Node(0).Node.LocalSessions("bob")+cl.Node(2).Node.LocalSessions("bob") == 1
	}, waitFor, time.Millisecond, "the lost login's session ended")
	cl.Sync()
	messageBob(t, alice, "last")
	bob.expectOn(bob.messages, "alice: last") // none came twice
	bob.quiet()
}

// messageBob sends text from u to bob and requires that it was received.
func messageBob(t *testing.T, u *user, text string) {
	t.Helper()
	received, err := u.c.SendMessageToPeer(ctxT(t), "bob", core.Message{Text: text})
	require.NoError(t, err)
	assert.True(t, received, text)
}

// messagesBy waits for n peer messages to u and returns their texts by sender.
func messagesBy(t *testing.T, u *user, n int) map[string][]string {
	t.Helper()
	got := map[string][]string{}
	for range n {
		select {
		case m := <-u.messages:
			from, text, _ := strings.Cut(m, ": ")
			got[from] = append(got[from], text)
		case <-time.After(waitFor):
			require.FailNow(t, "timed out", "%s has %v", u.id, got)
		}
	}
	return got
}
