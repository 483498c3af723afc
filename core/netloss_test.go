//go:build !js

package core_test

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// A directory change lost between nodes is not silent: the receiver sees
// the gap at the sender's next heartbeat, the pair resets, and the
// directory converges (no ghost session, no wrong presence).
func TestClusterLostDirectoryChange(t *testing.T) {
	cl := rtmcalltest.NewCluster(t, 3)
	alice := login(t, cl.Nodes[0], "alice")
	bob := login(t, cl.Nodes[1], "bob")
	cl.Sync()
	require.NoError(t, alice.c.SubscribePeersOnlineStatus(ctxT(t), []string{"bob"}))
	alice.expect("presence bob=ONLINE")

	// Node 1 loses every directory change it sends node 0 from now on.
	cl.Loss(1).SetFault(rtmcalltest.Fault{Drop: 1, Kinds: []string{"session"}, To: []string{cl.Nodes[0].Node.ID()}})
	require.NoError(t, bob.c.Logout(ctxT(t)))
	alice.expect("presence bob=OFFLINE") // from the snapshot of the reset, not from the lost change
	assert.Equal(t, 1, cl.Loss(1).Stats().Dropped)
	assert.Equal(t, 1, gaps(t, cl.Nodes[0]), "node 0 saw the gap")

	cl.Loss(1).SetFault(rtmcalltest.Fault{})
	cl.AwaitHealed()
	online, err := alice.c.QueryPeersOnlineStatus(ctxT(t), []string{"bob"})
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"bob": false}, online)
	converged(t, cl, map[string]string{"alice": "ONLINE", "bob": "OFFLINE"})
	alice.quiet()
}

// With messages between two nodes dropped (and delayed and reordered) at
// random, every invitation still ends for both parties within the
// deadline, every call that started ends on both sides, and caller and
// callee agree on the outcome: the owner settles it after each reset.
// Only a settle that did not come within PeerTimeout (its own messages
// lost, or more resets) may leave the callee with PEER_OFFLINE where the
// caller saw an accept; then its call has ended too.
func TestClusterLossFlows(t *testing.T) {
	kinds := []string{"deliver", "request", "reply", "left", "session", "pending"}
	t.Run("drop", func(t *testing.T) {
		lossFlows(t, 30, rtmcalltest.Fault{Drop: 0.08, Kinds: kinds})
	})
	t.Run("drop, delay and reorder, settles too", func(t *testing.T) {
		lossFlows(t, 30, rtmcalltest.Fault{Drop: 0.05, Reorder: 0.03, Delay: time.Millisecond, Kinds: append(kinds, "settle", "settled")})
	})
}

func lossFlows(t *testing.T, rounds int, lossy rtmcalltest.Fault) {
	cl := rtmcalltest.NewCluster(t, 3)
	alice := login(t, cl.Nodes[0], "alice")
	bob := login(t, cl.Nodes[1], "bob")
	cl.Sync()

	// bob accepts whatever rings, and reports how each invitation ended
	// for him, and how its call ended.
	type end struct{ inv, what string }
	var mu sync.Mutex
	rung := make(map[string]bool)
	bobEnds, bobCalls := make(chan end, rounds*2), make(chan end, rounds*2)
	bob.c.OnInvitationReceived(func(r *core.RemoteInvitation) {
		mu.Lock()
		rung[r.ID()] = true
		mu.Unlock()
		r.OnAccepted(func() { bobEnds <- end{r.ID(), "accepted"} })
		r.OnRefused(func() { bobEnds <- end{r.ID(), "refused"} })
		r.OnCanceled(func(string) { bobEnds <- end{r.ID(), "canceled"} })
		r.OnFailure(func(why core.RemoteFailureReason) { bobEnds <- end{r.ID(), "failure " + why.String()} })
		r.OnCallEnded(func(why core.CallEndReason, _ string) { bobCalls <- end{r.ID(), why.String()} })
		go func() { _ = r.Accept(ctxT(t)) }() // ALREADY_END when the pair reset meanwhile
	})

	for i, seed := range []uint64{1, 2} {
		f := lossy
		f.Seed = seed
		cl.Loss(i).SetFault(f)
	}

	outcomes := make(map[string]int)
	late := 0
	for round := range rounds {
		ends, calls := make(chan string, 4), make(chan string, 4)
		l, err := alice.c.CreateLocalInvitation("bob")
		require.NoError(t, err)
		l.OnAccepted(func(string) { ends <- "accepted" })
		l.OnRefused(func(string) { ends <- "refused" })
		l.OnCanceled(func() { ends <- "canceled" })
		l.OnFailure(func(why core.LocalFailureReason) { ends <- "failure " + why.String() })
		l.OnCallEnded(func(why core.CallEndReason, _ string) { calls <- why.String() })
		require.NoError(t, l.SetTimeout(3*time.Second))
		require.NoError(t, l.Send(ctxT(t)))
		a := waitOn(t, ends, "alice's outcome of round %d", round)
		if a == "accepted" {
			if l.Hangup(ctxT(t)) != nil {
				t.Logf("round %d: hang-up failed: the call had ended", round)
			}
			aCall := waitOn(t, calls, "alice's call end, round %d", round)
			assert.Contains(t, []string{"HANGUP", "PEER_OFFLINE"}, aCall)
		}

		// Once the nodes are peers again and bob has seen everything
		// before his barrier, his side of the invitation is settled.
		cl.AwaitHealed()
		bob.quiet()
		mu.Lock()
		wasRung := rung[l.ID()]
		mu.Unlock()
		b := "not rung"
		if wasRung {
			e := waitOn(t, bobEnds, "bob's outcome, round %d", round)
			require.Equal(t, l.ID(), e.inv)
			b = e.what
			if b == "accepted" {
				e := waitOn(t, bobCalls, "bob's call end, round %d", round)
				assert.Contains(t, []string{"HANGUP", "PEER_OFFLINE"}, e.what)
			}
		}
		outcomes[a+" / "+b]++
		nowLate := metric(t, cl.Nodes[0], settlesLate) + metric(t, cl.Nodes[1], settlesLate)
		switch a {
		case "accepted":
			if nowLate > late {
				assert.Contains(t, []string{"accepted", "failure PEER_OFFLINE"}, b, "round %d", round)
			} else {
				assert.Equal(t, "accepted", b, "round %d: settled, so they agree", round)
			}
		case "failure PEER_OFFLINE":
			assert.Contains(t, []string{"not rung", "failure PEER_OFFLINE"}, b, "round %d", round)
		default:
			assert.Failf(t, "unexpected outcome", "round %d: alice %s, bob %s", round, a, b)
		}
		late = nowLate
	}
	t.Logf("outcomes (alice / bob): %v", outcomes)
	for i := range 2 {
		t.Logf("node %d: %+v, gaps seen %d, settled %d, late %d", i, cl.Loss(i).Stats(), gaps(t, cl.Nodes[i]),
			metric(t, cl.Nodes[i], `rtmcall_cluster_settles_total{result="settled"}`), metric(t, cl.Nodes[i], settlesLate))
	}
	assert.Positive(t, cl.Loss(0).Stats().Dropped+cl.Loss(1).Stats().Dropped, "loss was injected")
	assert.Positive(t, gaps(t, cl.Nodes[0])+gaps(t, cl.Nodes[1]), "and seen")
	assert.Positive(t, outcomes["accepted / accepted"], "some flows went through")

	cl.Loss(0).SetFault(rtmcalltest.Fault{})
	cl.Loss(1).SetFault(rtmcalltest.Fault{})
	cl.AwaitHealed()
	online, err := alice.c.QueryPeersOnlineStatus(ctxT(t), []string{"bob"})
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"bob": true}, online, "the directory converged")
	converged(t, cl, map[string]string{"alice": "ONLINE", "bob": "ONLINE"})
	alice.quiet()
}

// converged requires every node of cl to see each user with the status
// and session count of want (user: status).
func converged(t *testing.T, cl *rtmcalltest.Cluster, want map[string]string) {
	t.Helper()
	for i, node := range cl.Nodes {
		for user, status := range want {
			p, err := node.Node.Presence(user)
			require.NoError(t, err)
			assert.Equal(t, status, p.Status, "node %d sees %s", i, user)
			if status == "OFFLINE" {
				assert.Zero(t, p.Sessions, "node %d: no ghost session of %s", i, user)
			} else {
				assert.Equal(t, 1, p.Sessions, "node %d: %s's one session", i, user)
			}
		}
	}
}

// waitOn returns the next value on ch, failing the test after waitFor.
func waitOn[T any](t *testing.T, ch <-chan T, what string, args ...any) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		require.FailNow(t, "timed out", "waiting for "+fmt.Sprintf(what, args...))
		var zero T
		return zero
	}
}

const settlesLate = `rtmcall_cluster_settles_total{result="late"}`

// gaps returns how many times srv reset a peer for a lost message.
func gaps(t *testing.T, srv *rtmcalltest.Server) int {
	t.Helper()
	return metric(t, srv, "rtmcall_cluster_gaps_total")
}

// metric returns the value of the sample named (with its labels) name in
// srv's /metrics; 0 if it has none yet.
func metric(t *testing.T, srv *rtmcalltest.Server, name string) int {
	t.Helper()
	resp, err := http.Get(srv.HTTPURL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\d+)$`).FindSubmatch(body)
	if m == nil {
		return 0
	}
	v, err := strconv.Atoi(string(m[1]))
	require.NoError(t, err)
	return v
}

// The frame that told the callee the outcome is lost: the callee's node
// sees the gap, the pair resets, and the owner settles the invitation, so
// that the callee learns the outcome the caller saw, not PEER_OFFLINE.
func TestClusterSettleAfterLoss(t *testing.T) {
	cl := rtmcalltest.NewCluster(t, 3)
	alice := login(t, cl.Nodes[0], "alice")
	bob := login(t, cl.Nodes[1], "bob")
	cl.Sync()
	loseOutcomes := func() { // every invitation frame from node 0 to node 1
		cl.Loss(0).SetFault(rtmcalltest.Fault{Drop: 1, Kinds: []string{"deliver"}, To: []string{cl.Nodes[1].Node.ID()}})
	}

	t.Run("accept", func(t *testing.T) {
		l := alice.invite("bob", "")
		r := bob.received()
		alice.expect("local received")
		loseOutcomes()
		require.NoError(t, r.Accept(ctxT(t)), "the settle replies to the held accept")
		bob.expect("remote accepted ACCEPTED")
		alice.expect(`local accepted "" ACCEPTED_BY_REMOTE`)
		alice.expectOn(alice.calls, "local call ended PEER_OFFLINE  ENDED") // the reset ended the call
		bob.expectOn(bob.calls, "remote call ended PEER_OFFLINE  ENDED")
		assert.Equal(t, core.CallEnded, l.CallState())
		cl.Loss(0).SetFault(rtmcalltest.Fault{})
		cl.AwaitHealed()
	})
	t.Run("cancel", func(t *testing.T) {
		l := alice.invite("bob", "never mind")
		r := bob.received()
		alice.expect("local received")
		loseOutcomes()
		require.NoError(t, l.Cancel(ctxT(t)))
		alice.expect("local canceled")
		bob.expect(`remote canceled "never mind"`) // found by the heartbeat after the loss
		assert.Equal(t, core.RemoteCanceled, r.State())
		cl.Loss(0).SetFault(rtmcalltest.Fault{})
		cl.AwaitHealed()
	})
	assert.Positive(t, metric(t, cl.Nodes[1], `rtmcall_cluster_settles_total{result="settled"}`))
	assert.Zero(t, metric(t, cl.Nodes[1], settlesLate))
	alice.quiet()
	bob.quiet()
}

// ringingAcross starts three nodes, alice on node 0 and bob on node 1, and
// has alice's invitation ring bob.
func ringingAcross(t *testing.T) (*rtmcalltest.Cluster, *user, *user, *core.LocalInvitation, *core.RemoteInvitation) {
	cl := rtmcalltest.NewCluster(t, 3)
	alice := login(t, cl.Nodes[0], "alice")
	bob := login(t, cl.Nodes[1], "bob")
	cl.Sync()
	l := alice.invite("bob", "")
	r := bob.received()
	alice.expect("local received")
	return cl, alice, bob, l, r
}

// A settle that does not come (every answer lost) gives up PeerTimeout
// after the reset, not before: the callee's invitation fails PEER_OFFLINE
// and its held accept gets ALREADY_END; the caller's call has ended.
func TestClusterSettleLate(t *testing.T) {
	cl, alice, bob, l, r := ringingAcross(t)
	cl.Loss(0).SetFault(rtmcalltest.Fault{Drop: 1, Kinds: []string{"deliver", "settled"}, To: []string{cl.Nodes[1].Node.ID()}})
	start := time.Now()
	assert.ErrorIs(t, r.Accept(ctxT(t)), core.ErrAlreadyEnd)
	assert.GreaterOrEqual(t, time.Since(start), rtmcalltest.PeerTimeout, "not before PeerTimeout")
	bob.expect("remote failure PEER_OFFLINE")
	alice.expect(`local accepted "" ACCEPTED_BY_REMOTE`)
	alice.expectOn(alice.calls, "local call ended PEER_OFFLINE  ENDED")
	assert.Equal(t, core.CallEnded, l.CallState())
	assert.Positive(t, metric(t, cl.Nodes[1], settlesLate))
	cl.Loss(0).SetFault(rtmcalltest.Fault{})
	cl.AwaitHealed()
	alice.quiet()
	bob.quiet()
}

// An answer sent after the reset, while the owner is not a peer again yet,
// waits for the settle like one in flight at the reset: it gets ALREADY_END
// only after the invitation's end (PROTOCOL.md: the winner's events before
// the loser's error), not at once while it still rings.
func TestClusterAnswerDuringReset(t *testing.T) {
	cl, alice, bob, l, r := ringingAcross(t)
	owner, callee := cl.Nodes[0].Node.ID(), cl.Nodes[1].Node
	// Every unicast from the owner to bob's node is lost: the pair resets
	// at the next one, and cannot meet again (the welcome is lost too).
	cl.Loss(0).SetFault(rtmcalltest.Fault{Drop: 1, To: []string{callee.ID()}})
	_, _ = alice.c.SendMessageToPeer(ctxT(t), "bob", core.Message{Text: "lost"})
	require.Eventually(t, func() bool { return !slices.Contains(callee.Peers(), owner) }, waitFor, time.Millisecond,
		"bob's node reset the owner")
	assert.ErrorIs(t, r.Accept(ctxT(t)), core.ErrAlreadyEnd)
	assert.Equal(t, core.RemoteFailure, r.State(), "the invitation ended before the accept's error")
	bob.expect("remote failure PEER_OFFLINE")
	cl.Loss(0).SetFault(rtmcalltest.Fault{})
	cl.AwaitHealed()
	assert.Positive(t, metric(t, cl.Nodes[1], settlesLate)+metric(t, cl.Nodes[1], `rtmcall_cluster_settles_total{result="settled"}`))
	alice.expect("local failure PEER_OFFLINE") // the owner stopped ringing bob with the reset
	assert.True(t, l.State().Ended())
	alice.quiet()
	bob.quiet()
}

// A device rung late as a pair meets again after a reset gets its invite,
// and then its end: the node that takes the other for a peer from its
// hello welcomes it before it applies the hello's sessions, for their late
// ringing tells the other node invites that it would drop before the
// welcome (we are not its peer yet). Without that order the device got
// only the end, for an invitation it had never heard of (the cluster
// soak's "client dropped a frame").
func TestClusterLateRingAsThePairMeets(t *testing.T) {
	cl := rtmcalltest.NewCluster(t, 2)
	owner, other := cl.Nodes[0].Node, cl.Nodes[1].Node
	alice := login(t, cl.Nodes[0], "alice")
	bob := login(t, cl.Nodes[0], "bob") // rings at once: the invitation pends
	cl.Sync()
	// Every unicast from node 1 to node 0 is lost: node 0 resets node 1 for
	// the login of bob's second device, and node 1's hellos are lost too,
	// so node 0 does not know that device when alice sends.
	cl.Loss(1).SetFault(rtmcalltest.Fault{Drop: 1, To: []string{owner.ID()}})
	bob2 := login(t, cl.Nodes[1], "bob")
	require.Eventually(t, func() bool { return !slices.Contains(owner.Peers(), other.ID()) }, waitFor, time.Millisecond,
		"node 0 reset node 1")
	l := alice.invite("bob", "")
	bob.received()
	alice.expect("local received")

	// Node 1's resets stay lost, so that the pair meets by node 1's hello
	// (node 0 resets it), not by node 0's (node 1 resets it).
	cl.Loss(1).SetFault(rtmcalltest.Fault{Drop: 1, Kinds: []string{"reset"}, To: []string{owner.ID()}})
	r := bob2.received() // rung late by node 0 as it learns node 1's sessions
	cl.Loss(1).SetFault(rtmcalltest.Fault{})
	assert.Equal(t, l.ID(), r.ID())
	require.NoError(t, l.Cancel(ctxT(t)))
	alice.expect("local canceled")
	bob.expect(`remote canceled ""`)
	bob2.expect(`remote canceled ""`)
	cl.AwaitHealed()
	alice.quiet()
	bob.quiet()
	bob2.quiet()
}

// An answer that crosses its invitation's end, sent while the owner and
// the callee's node are reset, gets ALREADY_END (PROTOCOL.md: a session
// the invitation rang gets ALREADY_END after its end), not NOT_YOURS: the
// callee's node, which cannot ask the owner, remembers the ends it passed
// on (the cluster soak's accept NOT_YOURS under loss).
func TestClusterAnswerAfterEndDuringReset(t *testing.T) {
	cl := rtmcalltest.NewCluster(t, 2)
	owner, callee := cl.Nodes[0].Node.ID(), cl.Nodes[1].Node
	alice := login(t, cl.Nodes[0], "alice")
	bob := dialRaw(t, cl.Nodes[1].URL) // answers when told, not when its client would
	bob.login("bob")
	cl.Sync()
	l := alice.invite("bob", "")
	inv := bob.expect(protocol.TypeInvite).Inv
	require.NoError(t, l.Cancel(ctxT(t)))
	alice.expect("local canceled")
	bob.expect(protocol.TypeRemoteCanceled)

	cl.Loss(0).SetFault(rtmcalltest.Fault{Drop: 1, To: []string{callee.ID()}})
	_, _ = alice.c.SendMessageToPeer(ctxT(t), "bob", core.Message{Text: "lost"})
	require.Eventually(t, func() bool { return !slices.Contains(callee.Peers(), owner) }, waitFor, time.Millisecond,
		"bob's node reset the owner")
	reply := bob.request(&protocol.Frame{Type: protocol.TypeAccept, Inv: inv})
	assert.Equal(t, protocol.CodeAlreadyEnd, reply.Code, "%+v", reply)
	cl.Loss(0).SetFault(rtmcalltest.Fault{})
	cl.AwaitHealed()
	alice.quiet()
}

// A callee whose call ended with a reset of its pair, or with the death of
// the call's node, and that hangs up after gets ALREADY_END "the call has
// ended" (PROTOCOL.md), not NOT_YOURS: its node, which cannot ask the
// owner, remembers the calls it ended (the cluster soak's hangup NOT_YOURS
// under loss).
func TestClusterHangupAfterThePeerEndedTheCall(t *testing.T) {
	for _, how := range []string{"reset", "death"} {
		t.Run(how, func(t *testing.T) {
			cl := rtmcalltest.NewCluster(t, 2)
			owner, callee := cl.Nodes[0].Node.ID(), cl.Nodes[1].Node
			alice := login(t, cl.Nodes[0], "alice")
			bob := dialRaw(t, cl.Nodes[1].URL)
			bob.login("bob")
			cl.Sync()
			alice.invite("bob", "")
			inv := bob.expect(protocol.TypeInvite).Inv
			bob.rid++
			bob.write(&protocol.Frame{Type: protocol.TypeAccept, Inv: inv, RID: bob.rid})
			assert.Equal(t, bob.rid, bob.expect(protocol.TypeRemoteAccepted).RID, "the accept's reply")
			alice.expect(`local accepted "" ACCEPTED_BY_REMOTE`)

			if how == "death" {
				cl.Kill(0)
			} else {
				// Every unicast from the owner to bob's node is lost: the
				// pair resets, and cannot meet again.
				cl.Loss(0).SetFault(rtmcalltest.Fault{Drop: 1, To: []string{callee.ID()}})
				_, _ = alice.c.SendMessageToPeer(ctxT(t), "bob", core.Message{Text: "lost"})
			}
			require.Eventually(t, func() bool { return !slices.Contains(callee.Peers(), owner) }, waitFor, time.Millisecond,
				"bob's node forgot the owner")
			assert.Equal(t, core.CallEndPeerOffline.String(), bob.expect(protocol.TypeCallEnded).Reason)
			reply := bob.request(&protocol.Frame{Type: protocol.TypeHangup, Inv: inv})
			assert.Equal(t, protocol.CodeAlreadyEnd, reply.Code, "%+v", reply)
		})
	}
}
