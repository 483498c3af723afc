//go:build !js

package push_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/push"
	"github.com/rtmcall/rtmcall/server/push/pushtest"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
	"github.com/rtmcall/rtmcall/server/store"
)

// Three nodes on three NATS servers with JetStream, sharing the KV store:
// a subscription registered on node 1 wakes bob for a caller on node 0,
// with the one VAPID key the nodes share; bob logs in on node 2, rings
// late and accepts. A second invitation is refused through node 2's
// refuse endpoint, though node 0 owns it.
func TestClusterWake(t *testing.T) {
	const n = 3
	cl, envs := pushCluster(t, n)
	svcs, webs, emu := make([]*push.Service, n), make([]*httptest.Server, n), envs[0].emu
	for i, e := range envs {
		svcs[i], webs[i] = e.svc, e.web
	}
	for i := 1; i < n; i++ {
		require.Equal(t, svcs[0].PublicKey(), svcs[i].PublicKey(), "one VAPID key for the cluster")
	}

	sub := emu.Subscribe()
	subscribe(t, envs[1], "bob", sub)
	require.NoError(t, cl.Nodes[1].Node.Sync(ctxT(t))) // node 0 knows bob logged out: it wakes, not rings
	// The registration reaches node 0 through its watch of the bucket.
	require.Eventually(t, func() bool { return svcs[0].CanWake("bob") }, waitFor, 5*time.Millisecond)

	alice := login(t, envs[0], "alice")
	l, ev := alice.invite(t, "bob", "across")
	expect(t, ev, "waking")
	p, inv := invitePush(t, envs[0])
	assert.Equal(t, sub, p.Sub)
	assert.Equal(t, l.ID(), inv.Inv)
	assert.Equal(t, webs[0].URL+push.RefusePath, inv.RefuseURL)

	bob := login(t, envs[2], "bob")
	r := next(t, bob.invites)
	assert.Equal(t, l.ID(), r.ID())
	expect(t, ev, "received")
	require.NoError(t, r.Accept(ctxT(t)))
	expect(t, ev, "accepted")
	_, c := closePush(t, envs[0])
	assert.Equal(t, server.WakeAnsweredElsewhere, c.Reason)
	// The call ends (on every node) before the next invitation: bob is not busy.
	ended := make(chan string, 1)
	l.OnCallEnded(func(reason core.CallEndReason, by string) { ended <- reason.String() })
	require.NoError(t, l.Hangup(ctxT(t)))
	assert.Equal(t, "HANGUP", next(t, ended))
	require.NoError(t, bob.Logout(ctxT(t)))
	require.NoError(t, cl.Nodes[2].Node.Sync(ctxT(t)))

	l, ev = alice.invite(t, "bob", "refuse me")
	expect(t, ev, "waking")
	_, inv = invitePush(t, envs[0])
	status, he, _ := refuse(t, envs[2], "", push.RefuseRequest{Cap: inv.Refuse})
	require.Equal(t, http.StatusOK, status, "%+v", he)
	expect(t, ev, "refused")
	_, c = closePush(t, envs[0])
	assert.Equal(t, push.Close{V: 1, Kind: "close", Inv: l.ID(), Reason: server.WakeRefused}, c)
	status, he, _ = refuse(t, envs[1], "", push.RefuseRequest{Cap: inv.Refuse})
	assert.Equal(t, http.StatusConflict, status)
	assert.Equal(t, "ALREADY_END", he.Name)
}

// pushCluster is n nodes on n NATS servers with JetStream, each with its
// Service on the shared KV store, pushing to one emulator.
func pushCluster(t *testing.T, n int) (*rtmcalltest.Cluster, []*env) {
	t.Helper()
	emu := pushtest.New(t)
	svcs := make([]*push.Service, n)
	webs := make([]*httptest.Server, n)
	for i := range n {
		web, serve := pushWeb(t)
		webs[i], svcs[i] = web, emu.NewPusher(t, web.URL)
		serve(svcs[i].Handler())
	}
	made := 0
	cl := rtmcalltest.NewJetStreamCluster(t, n, func(c *server.Config) {
		c.Waker, c.Push = svcs[made], svcs[made]
		made++
	})
	envs := make([]*env, n)
	for i := range n {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		st, err := store.DialKV(ctx, cl.NATSURL(i), "rtmcall_push", n)
		cancel()
		require.NoError(t, err)
		envs[i] = &env{srv: cl.Nodes[i], svc: svcs[i], st: st, web: webs[i], emu: emu}
		envs[i].stop = emu.Start(t, svcs[i], cl.Nodes[i].Node, st)
	}
	return cl, envs
}

// A refuse through a node other than the owner, whose answer does not come
// in time (lost here; the cluster notices a lost message only two
// heartbeats later, 100 ms, after the refuse's 20 ms): 503 TIMEOUT with
// Retry-After, not a 500. The owner did refuse (the caller sees it), so a
// retry gets 409 ALREADY_END.
func TestRefuseOwnerTimeout(t *testing.T) {
	cl, envs := pushCluster(t, 2)
	envs[1].svc.SetRefuseTimeout(20 * time.Millisecond)
	subscribe(t, envs[0], "bob", envs[0].emu.Subscribe())
	alice := login(t, envs[0], "alice")
	_, ev := alice.invite(t, "bob", "")
	expect(t, ev, "waking")
	_, inv := invitePush(t, envs[0])

	cl.Loss(0).SetFault(rtmcalltest.Fault{Drop: 1, Kinds: []string{"api.reply"}})
	status, he, h := refuse(t, envs[1], "", push.RefuseRequest{Cap: inv.Refuse})
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, "TIMEOUT", he.Name, "%+v", he)
	assert.Equal(t, "1", h.Get("Retry-After"))
	expect(t, ev, "refused")

	cl.Loss(0).SetFault(rtmcalltest.Fault{})
	// While the nodes reset each other over the lost message, node 1 may
	// not know node 0 (404 NOT_YOURS); once they have, the retry gets 409.
	assert.Eventually(t, func() bool {
		status, he, _ = refuse(t, envs[1], "", push.RefuseRequest{Cap: inv.Refuse})
		return status == http.StatusConflict && he.Name == "ALREADY_END"
	}, waitFor, 50*time.Millisecond, "a retry gets 409 ALREADY_END")
}
