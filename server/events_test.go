//go:build !js

package server_test

import (
	"context"
	"sync"
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

// recorder is an Observer that keeps every event and wakes waiters.
type recorder struct {
	mu     sync.Mutex
	events []server.Event
	change chan struct{}
}

func newRecorder() *recorder { return &recorder{change: make(chan struct{})} }

func (r *recorder) Observe(e server.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	close(r.change)
	r.change = make(chan struct{})
}

func (r *recorder) option(c *server.Config) { c.Observer = r }

// wait returns the first event of typ about id (an invitation or session id).
func (r *recorder) wait(t *testing.T, typ, id string) server.Event {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		r.mu.Lock()
		for _, e := range r.events {
			if e.Type == typ && eventID(e) == id {
				r.mu.Unlock()
				return e
			}
		}
		change := r.change
		r.mu.Unlock()
		select {
		case <-change:
		case <-deadline:
			t.Fatalf("no %s event about %s", typ, id)
		}
	}
}

// about returns the types of the events about id, in order.
func (r *recorder) about(id string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if eventID(e) == id {
			out = append(out, e.Type)
		}
	}
	return out
}

func eventID(e server.Event) string {
	switch {
	case e.Invitation != nil:
		return e.Invitation.ID
	case e.Call != nil:
		return e.Call.ID
	}
	return e.Session.ID
}

func TestInvitationEventsOfEveryOutcome(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     func(*server.Config)
		timeout int64
		play    func(t *testing.T, srv *rtmcalltest.Server, alice, bob *client, inv string)
		outcome string
		reason  string
		state   string
	}{
		{name: "accepted", outcome: server.OutcomeAccepted, state: "ACCEPTED_BY_REMOTE",
			play: func(t *testing.T, _ *rtmcalltest.Server, _, bob *client, inv string) {
				bob.ack(inv)
				bob.answered(frame(protocol.TypeAccept, inv), protocol.TypeRemoteAccepted)
			}},
		{name: "refused", outcome: server.OutcomeRefused, state: "REFUSED_BY_REMOTE",
			play: func(t *testing.T, _ *rtmcalltest.Server, _, bob *client, inv string) {
				bob.ack(inv)
				bob.okAfter(frame(protocol.TypeRefuse, inv), protocol.TypeRemoteRefused)
			}},
		{name: "canceled", outcome: server.OutcomeCanceled, state: "CANCELED",
			play: func(t *testing.T, _ *rtmcalltest.Server, alice, _ *client, inv string) {
				alice.okAfter(frame(protocol.TypeCancel, inv), protocol.TypeLocalCanceled)
			}},
		{name: "expired", timeout: 1000, outcome: server.OutcomeExpired, reason: "INVITATION_EXPIRE", state: "FAILURE",
			play: func(t *testing.T, _ *rtmcalltest.Server, alice, bob *client, inv string) {
				bob.ack(inv)
				alice.expect(protocol.TypeLocalReceived, inv)
				alice.expect(protocol.TypeLocalFailure, inv)
			}},
		{name: "no response", cfg: func(c *server.Config) { c.ReceiptTimeout = 50 * time.Millisecond },
			outcome: server.OutcomeNoResponse, reason: "PEER_NO_RESPONSE", state: "FAILURE",
			play: func(t *testing.T, _ *rtmcalltest.Server, alice, _ *client, inv string) {
				alice.expect(protocol.TypeLocalFailure, inv)
			}},
		{name: "callee left", outcome: server.OutcomeOffline, reason: "PEER_OFFLINE", state: "FAILURE",
			play: func(t *testing.T, _ *rtmcalltest.Server, alice, bob *client, inv string) {
				bob.leave()
				alice.expect(protocol.TypeLocalFailure, inv)
			}},
		{name: "caller left", outcome: server.OutcomeCallerLeft, state: "FAILURE",
			play: func(t *testing.T, _ *rtmcalltest.Server, alice, bob *client, inv string) {
				alice.leave()
				bob.expect(protocol.TypeRemoteFailure, inv)
			}},
		{name: "shutdown", outcome: server.OutcomeUnknown, reason: "UNKNOWN", state: "FAILURE",
			play: func(t *testing.T, srv *rtmcalltest.Server, _, _ *client, _ string) {
				ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
				defer cancel()
				require.NoError(t, srv.Node.Shutdown(ctx))
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			opts := []func(*server.Config){rec.option}
			if tc.cfg != nil {
				opts = append(opts, tc.cfg)
			}
			srv := rtmcalltest.NewServer(t, opts...)
			alice, bob := login(t, srv, "alice"), login(t, srv, "bob")
			reply := alice.ok(&protocol.Frame{Type: protocol.TypeSend, Callee: "bob", Channel: "room", Timeout: tc.timeout})
			inv := reply.Inv
			bob.expect(protocol.TypeInvite, inv)
			tc.play(t, srv, alice, bob, inv)

			sent := rec.wait(t, server.EventInvitationSent, inv).Invitation
			assert.Equal(t, "alice", sent.Caller)
			assert.Equal(t, "bob", sent.Callee)
			assert.Equal(t, "room", sent.Channel)
			assert.Equal(t, 1, sent.Rung)
			assert.Empty(t, sent.Outcome)
			e := rec.wait(t, server.EventInvitationEnded, inv)
			assert.Equal(t, srv.Node.ID(), e.Node)
			ended := e.Invitation
			assert.Equal(t, tc.outcome, ended.Outcome)
			assert.Equal(t, tc.reason, ended.Reason)
			assert.Equal(t, tc.state, ended.State)
			require.NotNil(t, ended.RangMS)
			require.NotNil(t, ended.EndedAt)
			if tc.outcome == server.OutcomeAccepted || tc.outcome == server.OutcomeRefused {
				assert.Equal(t, bob.session, ended.AnsweredBy)
				require.NotNil(t, ended.AnsweredMS)
				require.NotNil(t, ended.ReceivedMS)
				assert.LessOrEqual(t, *ended.ReceivedMS, *ended.AnsweredMS)
				assert.LessOrEqual(t, *ended.AnsweredMS, *ended.RangMS)
			} else {
				assert.Nil(t, ended.AnsweredMS)
				assert.Empty(t, ended.AnsweredBy)
			}
			if tc.timeout != 0 {
				assert.GreaterOrEqual(t, *ended.RangMS, tc.timeout, "it rang for its timeout")
			}
			assert.Equal(t, []string{server.EventInvitationSent, server.EventInvitationEnded}, rec.about(inv), "each once, in order")
		})
	}
}

func TestOfflineInvitationEvents(t *testing.T) {
	rec := newRecorder()
	srv := rtmcalltest.NewServer(t, rec.option)
	alice := login(t, srv, "alice")
	reply, _ := alice.do(&protocol.Frame{Type: protocol.TypeSend, Callee: "nobody"})
	ended := rec.wait(t, server.EventInvitationEnded, reply.Inv).Invitation
	assert.Equal(t, server.OutcomeOffline, ended.Outcome)
	assert.Equal(t, 0, ended.Rung)
	assert.Nil(t, ended.RangMS, "it rang nothing")
	assert.Equal(t, []string{server.EventInvitationSent, server.EventInvitationEnded}, rec.about(reply.Inv))
}

func TestSessionEvents(t *testing.T) {
	rec := newRecorder()
	srv := rtmcalltest.NewServer(t, rec.option)
	a, b := login(t, srv, "alice"), login(t, srv, "alice")
	for _, c := range []*client{a, b} {
		assert.Equal(t, "alice", rec.wait(t, server.EventSessionStarted, c.session).Session.User)
	}
	a.ok(&protocol.Frame{Type: protocol.TypeLogout})
	assert.Equal(t, "logout", rec.wait(t, server.EventSessionEnded, a.session).Session.Why)
	b.leave()
	assert.Equal(t, "closed", rec.wait(t, server.EventSessionEnded, b.session).Session.Why)
	assert.Equal(t, []string{server.EventSessionStarted, server.EventSessionEnded}, rec.about(b.session))
}

// In a cluster each event comes from one node: an invitation's from its
// owner, a session's from its node; and the API's calls work from any node.
func TestClusterEventsAndAPIFromAnyNode(t *testing.T) {
	recs := []*recorder{newRecorder(), newRecorder()}
	i := 0
	cl := rtmcalltest.NewCluster(t, 2, func(c *server.Config) { c.Observer = recs[i]; i++ })
	n0, n1 := cl.Nodes[0], cl.Nodes[1]
	alice, bob := login(t, n0, "alice"), login(t, n1, "bob")
	cl.Sync()
	rec0, rec1 := recs[0], recs[1]

	inv := alice.send("bob")
	bob.expect(protocol.TypeInvite, inv)
	bob.answered(frame(protocol.TypeAccept, inv), protocol.TypeRemoteAccepted)
	ended := rec0.wait(t, server.EventInvitationEnded, inv).Invitation
	assert.Equal(t, bob.session, ended.AnsweredBy)
	alice.expect(protocol.TypeLocalAccepted, inv)
	alice.answered(frame(protocol.TypeHangup, inv), protocol.TypeCallEnded+" HANGUP") // bob is free again
	bob.expect(protocol.TypeCallEnded, inv)
	rec0.wait(t, server.EventCallEnded, inv)
	rec1.wait(t, server.EventSessionStarted, bob.session)
	cl.Sync()
	assert.Empty(t, rec1.about(inv), "the callee's node sends nothing about the invitation or its call")
	assert.Empty(t, rec0.about(bob.session), "the caller's node sends nothing about the callee's session")
	assert.Equal(t, []string{server.EventSessionStarted}, rec1.about(bob.session))

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	got, err := n1.Node.Invitation(ctx, inv)
	require.NoError(t, err, "read from the node that does not own it")
	assert.Equal(t, server.OutcomeAccepted, got.Outcome)
	_, err = n1.Node.CancelInvitation(ctx, inv)
	assert.Equal(t, protocol.CodeAlreadyEnd, core.CodeOf(err), "%v", err)

	placed, err := n0.Node.Invite(server.Placement{Caller: "desk", Service: true, Callee: "bob"})
	require.NoError(t, err)
	bob.expect(protocol.TypeInvite, placed.ID)
	canceled, err := n1.Node.CancelInvitation(ctx, placed.ID)
	require.NoError(t, err, "canceled from the other node")
	assert.Equal(t, server.OutcomeCanceled, canceled.Outcome)
	bob.expect(protocol.TypeRemoteCanceled, placed.ID)
	_, err = n1.Node.Invitation(ctx, n0.Node.ID()+"000000000000000000000000")
	assert.Equal(t, protocol.CodeNotYours, core.CodeOf(err), "%v", err)

	p, err := n0.Node.Presence("bob")
	require.NoError(t, err)
	assert.Equal(t, server.Presence{User: "bob", Status: "ONLINE", Sessions: 1}, p)

	k, err := n0.Node.Kick(ctx, "bob")
	require.NoError(t, err)
	assert.Equal(t, 1, k, "the session on the other node")
	before, status, _ := bob.closed()
	assert.Equal(t, websocket.StatusPolicyViolation, status)
	require.NotEmpty(t, before)
	assert.Equal(t, protocol.TypeBye, before[len(before)-1].Type)
	assert.Equal(t, "BANNED_BY_SERVER", before[len(before)-1].Reason)
	assert.Equal(t, "kicked", rec1.wait(t, server.EventSessionEnded, bob.session).Session.Why)
}

// The observer's queue holds 65,536 events; one more is dropped and
// counted, and the node goes on.
func TestObserverQueueBound(t *testing.T) {
	release, first := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var seen int
	srv := rtmcalltest.NewServer(t, func(c *server.Config) {
		c.Observer = server.ObserverFunc(func(server.Event) {
			once.Do(func() { close(first); <-release }) // a stalled observer, against the contract
			seen++
		})
	})
	e := server.Event{Type: server.EventSessionStarted, Session: &server.SessionInfo{ID: "x", User: "x"}}
	bound := server.Emit(srv.Node, e)
	<-first // the dispatcher holds the first; the queue is empty
	for range bound {
		server.Emit(srv.Node, e)
	}
	_, body := httpGet(t, srv.HTTPURL+"/metrics")
	assert.Contains(t, body, "rtmcall_events_dropped_total 0\n", "at the bound")
	server.Emit(srv.Node, e)
	_, body = httpGet(t, srv.HTTPURL+"/metrics")
	assert.Contains(t, body, "rtmcall_events_dropped_total 1\n", "one past it")
	close(release)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	require.NoError(t, srv.Node.Shutdown(ctx), "Shutdown waits for the observer")
	assert.Equal(t, bound+1, seen, "every queued event was observed")
}

// A server API call asked of another node whose answer is lost, and whose
// pair resets for it, has no answer: the other node lives, and what it did
// or would have said is not known. A read or cancel gets TIMEOUT (503: try
// again), a kick an error; not the answer for a node that died, "no such
// invitation" while the owner holds it, or a count without that node's
// sessions, which it ended.
func TestClusterAPIAnswerLostInAReset(t *testing.T) {
	cl := rtmcalltest.NewCluster(t, 2)
	n0, n1 := cl.Nodes[0], cl.Nodes[1]
	alice, bob := login(t, n0, "alice"), login(t, n1, "bob")
	cl.Sync()
	inv := alice.send("bob")
	bob.expect(protocol.TypeInvite, inv)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()

	cl.Loss(0).SetFault(rtmcalltest.Fault{Drop: 1, Kinds: []string{"api.reply"}})
	_, err := n1.Node.Invitation(ctx, inv)
	assert.Equal(t, protocol.CodeTimeout, core.CodeOf(err), "%v", err)
	cl.AwaitHealed() // a kick asks only the peers
	_, err = n1.Node.Kick(ctx, "alice")
	assert.Error(t, err, "alice's session on the other node: its end not known here")
	cl.Loss(0).SetFault(rtmcalltest.Fault{})
	_, status, _ := alice.closed()
	assert.Equal(t, websocket.StatusPolicyViolation, status, "kicked all the same")

	cl.AwaitHealed()
	got, err := n1.Node.Invitation(ctx, inv)
	require.NoError(t, err, "the owner answers once the pair met again")
	assert.Equal(t, server.OutcomeOffline, got.Outcome, "the reset ended it")
}

// A kick asks only the nodes that are peers at that moment: a node cut off
// by a partition longer than PeerTimeout is not asked, and its sessions of
// the user live on; a kick once the cluster is whole again ends them.
func TestClusterKickMissesACutOffNode(t *testing.T) {
	cl := rtmcalltest.NewCluster(t, 2)
	n0 := cl.Nodes[0]
	bob0, bob1 := login(t, n0, "bob"), login(t, cl.Nodes[1], "bob")
	cl.Sync()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()

	cl.Partition([]int{0}, []int{1})
	cl.AwaitPeers(0) // node 0 took node 1 for dead
	k, err := n0.Node.Kick(ctx, "bob")
	require.NoError(t, err)
	assert.Equal(t, 1, k, "the session here only")
	_, status, _ := bob0.closed()
	assert.Equal(t, websocket.StatusPolicyViolation, status)

	cl.Heal()
	cl.AwaitHealed()
	bob1.ok(&protocol.Frame{Type: protocol.TypeQuery, IDs: []string{"bob"}}) // lives on, never told
	p, err := n0.Node.Presence("bob")
	require.NoError(t, err)
	assert.Equal(t, "ONLINE", p.Status, "node 0 sees the session it could not end")
	k, err = n0.Node.Kick(ctx, "bob")
	require.NoError(t, err)
	assert.Equal(t, 1, k, "kicked again once the cluster is whole")
	_, status, _ = bob1.closed()
	assert.Equal(t, websocket.StatusPolicyViolation, status)
}
