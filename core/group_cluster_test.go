//go:build !js

package core_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// groupCallee is a callee that accepts whatever rings it and records, by
// round (the invitation's content), how the invitation and its call ended
// for it, and when.
type groupCallee struct {
	*user
	mu    sync.Mutex
	rung  map[string]bool
	ends  chan groupEnd
	calls chan groupEnd
}

type groupEnd struct {
	round, what string
	at          time.Time
}

func newGroupCallee(t *testing.T, u *user) *groupCallee {
	g := &groupCallee{user: u, rung: make(map[string]bool), ends: make(chan groupEnd, 64), calls: make(chan groupEnd, 64)}
	u.c.OnInvitationReceived(func(r *core.RemoteInvitation) {
		round := r.Content()
		g.mu.Lock()
		g.rung[round] = true
		g.mu.Unlock()
		end := func(what string) { g.ends <- groupEnd{round, what, time.Now()} }
		r.OnAccepted(func() { end("accepted") })
		r.OnRefused(func() { end("refused") })
		r.OnCanceled(func(string) { end("canceled") })
		r.OnFailure(func(why core.RemoteFailureReason) { end("failure " + why.String()) })
		r.OnCallEnded(func(why core.CallEndReason, _ string) { g.calls <- groupEnd{round, why.String(), time.Now()} })
		go func() { _ = r.Accept(ctxT(t)) }() // ALREADY_END when another won or the pair reset meanwhile
	})
	return g
}

// A group invitation's callees are invitations of their own, owned by the
// caller's node, so a lost message between the caller's node and a callee's
// resets that pair and settles what rang there, callee by callee, as for one
// callee ("Lost messages"). With loss injected between all three nodes,
// every round of a group (first and all, in turn) ends for the caller and for
// every callee it rang, within the invitation's timeout plus the bound of a
// lost message, and the caller's word on each callee agrees with the
// callee's, but where a settle came late (then the callee saw PEER_OFFLINE,
// and a call that started ended on both sides). A callee never rung has
// nothing to hear: the caller says FAILURE PEER_OFFLINE of it, or CANCELED
// when another callee won first.
func TestGroupLossFlows(t *testing.T) {
	const rounds, timeout = 30, 3 * time.Second
	cl := rtmcalltest.NewCluster(t, 3)
	alice := login(t, cl.Nodes[0], "alice")
	callees := []*groupCallee{newGroupCallee(t, login(t, cl.Nodes[1], "ann")), newGroupCallee(t, login(t, cl.Nodes[2], "ben"))}
	cl.Sync()
	kinds := []string{"deliver", "request", "reply", "left", "session", "pending", "call.end", "settle", "settled"}
	for i := range 3 {
		cl.Loss(i).SetFault(rtmcalltest.Fault{Seed: uint64(i + 1), Drop: 0.05, Reorder: 0.02, Delay: time.Millisecond, Kinds: kinds})
	}
	// What the caller's node and a callee's may take from the send to an
	// outcome: the timeout, then the bound of a lost message's settle
	// (3 × PeerHeartbeat + PeerTimeout), and slack for this machine.
	bound := timeout + 3*rtmcalltest.PeerHeartbeat + rtmcalltest.PeerTimeout + time.Second
	var longest time.Duration
	outcomes := make(map[string]int)
	late := 0
	for round := range rounds {
		mode := core.GroupFirst
		if round%2 == 1 {
			mode = core.GroupAll
		}
		name := fmt.Sprintf("round %d", round)
		l, err := alice.c.CreateGroupInvitation([]string{"ann", "ben"}, mode)
		require.NoError(t, err)
		require.NoError(t, l.SetContent(name))
		require.NoError(t, l.SetTimeout(timeout))
		var mu sync.Mutex
		said := make(map[string]string) // the caller's last word on each callee
		l.OnCallee(func(c core.CalleeUpdate) {
			s := c.State.String()
			if c.State == core.CalleeFailure {
				s += " " + c.Reason.String()
			}
			mu.Lock()
			said[c.Callee] = s
			mu.Unlock()
		})
		ends, calls := make(chan string, 4), make(chan string, 4)
		l.OnAccepted(func(string) { ends <- "accepted" })
		l.OnRefused(func(string) { ends <- "refused" })
		l.OnCanceled(func() { ends <- "canceled" })
		l.OnFailure(func(why core.LocalFailureReason) { ends <- "failure " + why.String() })
		l.OnCallEnded(func(why core.CallEndReason, _ string) { calls <- why.String() })
		sent := time.Now()
		require.NoError(t, l.Send(ctxT(t)))
		a := waitOn(t, ends, "alice's outcome of %s", name)
		longest = max(longest, time.Since(sent))
		if a == "accepted" {
			if l.Hangup(ctxT(t)) != nil {
				t.Logf("%s: hang-up failed: the call had ended", name)
			}
			assert.Contains(t, []string{"HANGUP", "PEER_OFFLINE"}, waitOn(t, calls, "alice's call end, %s", name))
		}

		// Once the nodes are peers again and each callee has seen what came
		// before its barrier, its side is settled.
		cl.AwaitHealed()
		nowLate := 0
		for i := range 3 {
			nowLate += metric(t, cl.Nodes[i], settlesLate)
		}
		mu.Lock()
		words := fmt.Sprint(said)
		mu.Unlock()
		for _, c := range callees {
			c.quiet()
			c.mu.Lock()
			wasRung := c.rung[name]
			c.mu.Unlock()
			b := "not rung"
			if wasRung {
				e := waitOn(t, c.ends, "%s's outcome, %s", c.id, name)
				require.Equal(t, name, e.round)
				longest = max(longest, e.at.Sub(sent))
				b = e.what
				if b == "accepted" {
					e := waitOn(t, c.calls, "%s's call end, %s", c.id, name)
					assert.Contains(t, []string{"HANGUP", "PEER_OFFLINE"}, e.what)
				}
			}
			mu.Lock()
			w := said[c.id]
			mu.Unlock()
			outcomes[string(mode)+": "+w+" / "+b]++
			agree := map[string][]string{
				"ACCEPTED": {"accepted"},
				// Its invite lost, and the group won by another callee
				// before the pair reset: it never rang, and has nothing
				// to hear, as a callee whose invite was lost before a cancel.
				"CANCELED":             {"failure ANSWERED_BY_OTHER", "canceled", "not rung"},
				"FAILURE PEER_OFFLINE": {"not rung", "failure PEER_OFFLINE"},
			}[w]
			if nowLate > late && w != "FAILURE PEER_OFFLINE" {
				agree = append(agree, "failure PEER_OFFLINE") // a settle that came late
			}
			assert.Contains(t, agree, b, "%s (%s): alice says %s of %s, who saw %s (alice: %v)", name, mode, w, c.id, b, words)
		}
		late = nowLate
	}
	t.Logf("outcomes (mode: alice's word / the callee's): %v", outcomes)
	t.Logf("longest wait of a party for its outcome, from the send: %v (bound %v)", longest, bound)
	for i := range 3 {
		t.Logf("node %d: %+v, gaps seen %d, settled %d, late %d", i, cl.Loss(i).Stats(), gaps(t, cl.Nodes[i]),
			metric(t, cl.Nodes[i], `rtmcall_cluster_settles_total{result="settled"}`), metric(t, cl.Nodes[i], settlesLate))
	}
	assert.Less(t, longest, bound)
	assert.Positive(t, gaps(t, cl.Nodes[0])+gaps(t, cl.Nodes[1])+gaps(t, cl.Nodes[2]), "loss was seen")
	assert.Positive(t, outcomes["first: ACCEPTED / accepted"], "some hunt groups went through")
	assert.Positive(t, outcomes["all: ACCEPTED / accepted"], "some group calls went through")

	for i := range 3 {
		cl.Loss(i).SetFault(rtmcalltest.Fault{})
	}
	cl.AwaitHealed()
	converged(t, cl, map[string]string{"alice": "ONLINE", "ann": "ONLINE", "ben": "ONLINE"})
	alice.quiet()
}

// A partition longer than PeerTimeout between the caller's node and a
// callee's: as for one callee, that callee fails on both sides with
// PEER_OFFLINE within the bound of a death, the others ring on and the
// group ends as their answers say; a leg of a group call across the split
// ends on both sides (the caller's under the callee's name), the others go
// on. After the heal the ended stay ended, and a group rings every callee
// again.
func TestGroupPartition(t *testing.T) {
	cl := rtmcalltest.NewCluster(t, 3)
	alice, ann, ben := login(t, cl.Nodes[0], "alice"), login(t, cl.Nodes[1], "ann"), login(t, cl.Nodes[2], "ben")
	cl.Sync()
	bound := rtmcalltest.PeerTimeout + 2*rtmcalltest.PeerHeartbeat + time.Second // "When a node dies", and slack
	split := func() time.Time {
		t.Helper()
		cl.Partition([]int{0, 1}, []int{2})
		return time.Now()
	}
	heal := func() {
		t.Helper()
		cl.Heal()
		cl.AwaitHealed()
		cl.Sync()
	}
	rings := func(l *core.LocalInvitation) (*core.RemoteInvitation, *core.RemoteInvitation) {
		t.Helper()
		ra, rb := ann.received(), ben.received()
		seen := map[string]bool{}
		for range 3 {
			seen[alice.next()] = true
		}
		require.Equal(t, map[string]bool{"callee ann RECEIVED": true, "callee ben RECEIVED": true, "local received": true}, seen)
		return ra, rb
	}

	t.Run("first, ringing across the split", func(t *testing.T) {
		hunt := alice.groupInvite(core.GroupFirst, "ann", "ben")
		ra, rb := rings(hunt)
		start := split()
		alice.expect("callee ben FAILURE PEER_OFFLINE")
		ben.expect("remote failure PEER_OFFLINE")
		assert.Less(t, time.Since(start), bound)
		assert.Equal(t, core.RemoteFailure, rb.State())
		require.NoError(t, ra.Accept(ctxT(t))) // ann rings on
		ann.expect("remote accepted ACCEPTED")
		alice.expect("callee ann ACCEPTED", `local accepted "" ACCEPTED_BY_REMOTE`)
		assert.Equal(t, "ann", hunt.AcceptedBy())
		hangUp(t, alice, hunt, ann)
		heal()
		assert.ErrorIs(t, rb.Accept(ctxT(t)), core.ErrAlreadyEnd, "ended, and stays so after the heal")
	})
	t.Run("all, a leg across the split", func(t *testing.T) {
		g := alice.groupInvite(core.GroupAll, "ann", "ben")
		ra, rb := rings(g)
		require.NoError(t, rb.Accept(ctxT(t)))
		ben.expect("remote accepted ACCEPTED")
		alice.expect("callee ben ACCEPTED")
		start := split()
		alice.expectOn(alice.calls, "leg ended ben PEER_OFFLINE ")
		ben.expectOn(ben.calls, "remote call ended PEER_OFFLINE  ENDED")
		assert.Less(t, time.Since(start), bound)
		require.NoError(t, ra.Accept(ctxT(t))) // the group rang on
		ann.expect("remote accepted ACCEPTED")
		alice.expect("callee ann ACCEPTED", `local accepted "" ACCEPTED_BY_REMOTE`)
		assert.Equal(t, []string{"ann"}, g.InCallWith())
		heal()
		assert.ErrorIs(t, rb.Hangup(ctxT(t)), core.ErrAlreadyEnd, "ben's leg stays ended after the heal")
		require.NoError(t, g.Hangup(ctxT(t)))
		alice.expectOn(alice.calls, "leg ended ann HANGUP alice", "local call ended HANGUP alice ENDED")
		ann.expectOn(ann.calls, "remote call ended HANGUP alice ENDED")
	})
	t.Run("after the heal", func(t *testing.T) {
		g := alice.groupInvite(core.GroupFirst, "ann", "ben")
		rings(g)
		require.NoError(t, g.Cancel(ctxT(t)))
		alice.expect("callee ann CANCELED", "callee ben CANCELED", "local canceled")
		ann.expect(`remote canceled ""`)
		ben.expect(`remote canceled ""`)
		for _, u := range []*user{alice, ann, ben} {
			u.quiet()
		}
	})
}
