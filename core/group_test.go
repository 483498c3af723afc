//go:build !js

package core_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
)

// groupInvite creates, watches and sends a group invitation.
func (u *user) groupInvite(mode core.GroupMode, callees ...string) *core.LocalInvitation {
	u.t.Helper()
	l, err := u.c.CreateGroupInvitation(callees, mode)
	require.NoError(u.t, err)
	u.watchLocal(l)
	l.OnCallee(func(c core.CalleeUpdate) {
		s := fmt.Sprintf("callee %s %s", c.Callee, c.State)
		if c.Reason != core.LocalFailureUnknown {
			s += " " + c.Reason.String()
		}
		if c.Response != "" {
			s += fmt.Sprintf(" %q", c.Response)
		}
		u.events <- s
	})
	l.OnCalleeCallEnded(func(callee string, reason core.CallEndReason, by string) {
		u.calls <- fmt.Sprintf("leg ended %s %s %s", callee, reason, by)
	})
	require.NoError(u.t, l.Send(ctxT(u.t)))
	return l
}

// The hunt group natively: the remote side is a normal invitation with
// its group; the first accept wins; the others learn who took it.
func TestGroupInvitationFirst(t *testing.T) {
	srv := startServer(t)
	alice, ann, ben := login(t, srv, "alice"), login(t, srv, "ann"), login(t, srv, "ben")
	l := alice.groupInvite(core.GroupFirst, "ann", "ben", "cat")
	assert.Empty(t, l.CalleeID())
	assert.Equal(t, core.GroupFirst, l.Mode())
	alice.expect("callee cat FAILURE PEER_OFFLINE")
	ra, rb := ann.received(), ben.received()
	assert.Equal(t, &core.Group{Mode: core.GroupFirst, Callees: []string{"ann", "ben", "cat"}}, ra.Group())
	assert.Equal(t, "alice", rb.CallerID())
	// Each device acks on its own: two receipts, one local received.
	seen := map[string]bool{}
	for range 3 {
		seen[alice.next()] = true
	}
	assert.Equal(t, map[string]bool{"callee ann RECEIVED": true, "callee ben RECEIVED": true, "local received": true}, seen)

	require.NoError(t, rb.SetResponse("got it"))
	require.NoError(t, rb.Accept(ctxT(t)))
	ben.expect("remote accepted ACCEPTED")
	ann.expect("remote failure ANSWERED_BY_OTHER")
	assert.Equal(t, "ben", ra.AnsweredBy())
	assert.Equal(t, core.RemoteFailure, ra.State())
	alice.expect(`callee ben ACCEPTED "got it"`, "callee ann CANCELED", `local accepted "got it" ACCEPTED_BY_REMOTE`)
	assert.Equal(t, "ben", l.AcceptedBy())
	assert.Equal(t, map[string]core.CalleeState{"ann": core.CalleeCanceled, "ben": core.CalleeAccepted, "cat": core.CalleeFailure},
		l.Callees())
	assert.Equal(t, core.CallInCall, l.CallState())
	assert.Equal(t, core.CodeOf(ra.Accept(ctxT(t))), protocol.CodeAlreadyEnd)
	hangUp(t, alice, l, ben)
	alice.quiet()
	ann.quiet()
}

// A group call natively: per-callee events, and the caller's call lasts
// while any callee is in it.
func TestGroupInvitationAll(t *testing.T) {
	srv := startServer(t)
	alice, ann, ben, cat := login(t, srv, "alice"), login(t, srv, "ann"), login(t, srv, "ben"), login(t, srv, "cat")
	l := alice.groupInvite(core.GroupAll, "ann", "ben", "cat")
	ra, rb, rc := ann.received(), ben.received(), cat.received()
	for range 4 {
		alice.next() // three receipts and the local received, in any order
	}
	require.NoError(t, ra.Accept(ctxT(t)))
	ann.expect("remote accepted ACCEPTED")
	alice.expect("callee ann ACCEPTED")
	assert.Equal(t, core.CallInCall, l.CallState(), "in call with the first to accept")
	assert.Equal(t, core.LocalReceivedByRemote, l.State(), "the invitation goes on for the others")
	require.NoError(t, rb.Refuse(ctxT(t)))
	ben.expect("remote refused REFUSED")
	alice.expect("callee ben REFUSED")
	require.NoError(t, rc.Accept(ctxT(t)))
	cat.expect("remote accepted ACCEPTED")
	alice.expect("callee cat ACCEPTED", `local accepted "" ACCEPTED_BY_REMOTE`)
	assert.Equal(t, []string{"ann", "cat"}, l.InCallWith())

	require.NoError(t, ra.Hangup(ctxT(t)))
	ann.expectOn(ann.calls, "remote call ended HANGUP ann ENDED")
	alice.expectOn(alice.calls, "leg ended ann HANGUP ann")
	assert.Equal(t, []string{"cat"}, l.InCallWith())
	assert.Equal(t, core.CallInCall, l.CallState())
	require.NoError(t, l.Hangup(ctxT(t)))
	alice.expectOn(alice.calls, "leg ended cat HANGUP alice", "local call ended HANGUP alice ENDED")
	cat.expectOn(cat.calls, "remote call ended HANGUP alice ENDED")
	for _, u := range []*user{alice, ann, ben, cat} {
		u.quiet()
	}
}

// Misuse is refused before anything is sent, with INVALID_ARGUMENT.
func TestGroupInvitationInvalid(t *testing.T) {
	srv := startServer(t)
	alice := login(t, srv, "alice")
	many := make([]string, protocol.MaxGroupCallees+1)
	for i := range many {
		many[i] = fmt.Sprintf("u%d", i)
	}
	for _, tc := range []struct {
		callees []string
		mode    core.GroupMode
	}{{[]string{"ann"}, core.GroupFirst}, {[]string{"ann", "ann"}, core.GroupAll}, {many, core.GroupAll},
		{[]string{"ann", "ben"}, "some"}, {[]string{"ann", ""}, core.GroupFirst}} {
		_, err := alice.c.CreateGroupInvitation(tc.callees, tc.mode)
		assert.Equal(t, protocol.CodeInvalidArgument, core.CodeOf(err), "%v %s", tc.callees, tc.mode)
	}
	_, err := alice.c.CreateGroupInvitation(many[:protocol.MaxGroupCallees], core.GroupAll)
	assert.NoError(t, err, "at the bound")
	l, err := alice.c.CreateGroupInvitation([]string{"ann", "alice"}, core.GroupFirst)
	require.NoError(t, err)
	assert.Equal(t, protocol.CodeInvalidArgument, core.CodeOf(l.Send(ctxT(t))), "self in the list")
}

// Two agents accept at once, 30 rounds: one wins, and the caller, the
// winner and the loser agree on who.
func TestGroupInvitationRace(t *testing.T) {
	srv := startServer(t)
	alice, ann, ben := login(t, srv, "alice"), login(t, srv, "ann"), login(t, srv, "ben")
	for round := range 30 {
		l := alice.groupInvite(core.GroupFirst, "ann", "ben")
		remotes := map[string]*core.RemoteInvitation{"ann": ann.received(), "ben": ben.received()}
		errs := map[string]error{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for name, r := range remotes {
			wg.Go(func() {
				err := r.Accept(ctxT(t))
				mu.Lock()
				errs[name] = err
				mu.Unlock()
			})
		}
		wg.Wait()
		var winners []string
		for name, err := range errs {
			if err == nil {
				winners = append(winners, name)
			} else {
				assert.Equal(t, protocol.CodeAlreadyEnd, core.CodeOf(err), "round %d", round)
			}
		}
		require.Len(t, winners, 1, "round %d: %v", round, errs)
		winner := winners[0]
		loser := map[string]string{"ann": "ben", "ben": "ann"}[winner]
		// Drain alice until the group is accepted.
		for l.State() != core.LocalAcceptedByRemote {
			alice.next()
		}
		assert.Equal(t, winner, l.AcceptedBy(), "round %d", round)
		assert.Equal(t, core.CalleeAccepted, l.Callees()[winner])
		assert.Equal(t, core.CalleeCanceled, l.Callees()[loser])
		r := remotes[loser]
		users := map[string]*user{"ann": ann, "ben": ben}
		for r.State() != core.RemoteFailure {
			users[loser].next()
		}
		assert.Equal(t, core.RemoteFailureAnsweredByOther, r.FailureReason(), "round %d", round)
		assert.Equal(t, winner, r.AnsweredBy(), "round %d", round)
		assert.Equal(t, core.RemoteAccepted, remotes[winner].State())
		require.NoError(t, l.Hangup(ctxT(t)))
		alice.expectOn(alice.calls, "local call ended HANGUP alice ENDED")
		users[winner].expectOn(users[winner].calls, "remote call ended HANGUP alice ENDED")
		for _, u := range []*user{alice, ann, ben} {
			u.settle()
		}
	}
}

// settle reads events until every event queued before it was seen (see quiet).
func (u *user) settle() {
	u.t.Helper()
	require.NoError(u.t, u.c.SubscribePeersOnlineStatus(ctxT(u.t), []string{u.id}))
	for u.next() != "presence "+u.id+"=ONLINE" {
	}
	require.NoError(u.t, u.c.UnsubscribePeersOnlineStatus(ctxT(u.t), []string{u.id}))
}
