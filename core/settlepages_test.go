//go:build !js

package core_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// A settle larger than NATS's max_payload (1 MiB) completes: 300
// invitations with 8 KiB contents from alice ring 60 callees (5 each)
// across the pair when every message from the owner to the callees' node
// is lost; meanwhile alice cancels 210 of them, 30 callees accept one
// and 30 refuse one (with 8 KiB responses; a session has one answer
// across nodes in flight at a time), and 30 are left ringing. The pair resets, and the owner's
// answer (about 1.8 MB) goes in pages: every invitation reaches its
// outcome on both sides, the same, and nothing gives up late. With its
// first page lost, the next shows the gap, the pair resets again, and the
// settle asked again completes.
func TestClusterLargeSettle(t *testing.T) {
	t.Run("whole", func(t *testing.T) { largeSettle(t, false) })
	t.Run("a page lost", func(t *testing.T) { largeSettle(t, true) })
}

func largeSettle(t *testing.T, losePage bool) {
	const n, callees = 300, 60
	// Heartbeats slow enough that the loss is not seen before the
	// outcomes are all decided on the owner (a gap needs a whole
	// PeerHeartbeat after a heartbeat owes the lost number).
	slow := func(c *server.Config) {
		c.PeerHeartbeat, c.PeerTimeout, c.MaxPendingPerUser = 2*time.Second, 15*time.Second, n
		c.RateLimit, c.RateBurst = 10_000, 10_000 // one client sends them all
	}
	cl := rtmcalltest.NewCluster(t, 2, slow)
	alice := login(t, cl.Nodes[0], "alice")
	bobs := make([]*user, callees)
	for j := range bobs {
		bobs[j] = login(t, cl.Nodes[1], fmt.Sprintf("bob-%02d", j))
	}
	cl.Sync()
	content := strings.Repeat("c", protocol.MaxContentBytes)
	response := strings.Repeat("r", protocol.MaxContentBytes)
	ls := make([]*core.LocalInvitation, n)
	rs := make([]*core.RemoteInvitation, n)
	for i := range n {
		ls[i] = alice.invite(bobs[i%callees].id, content)
		rs[i] = bobs[i%callees].received()
		alice.expect("local received")
	}
	outcome := func(i int) string {
		switch {
		case i < callees && i%2 == 0:
			return "accept"
		case i < callees:
			return "refuse"
		case i < callees+30:
			return "ring"
		}
		return "cancel"
	}

	cl.Loss(0).SetFault(rtmcalltest.Fault{Drop: 1, To: []string{cl.Nodes[1].Node.ID()}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		switch outcome(i) {
		case "accept":
			wg.Go(func() { errs[i] = rs[i].Accept(ctx) }) // held until the settle
		case "refuse":
			require.NoError(t, rs[i].SetResponse(response))
			wg.Go(func() { errs[i] = rs[i].Refuse(ctx) })
		case "cancel":
			wg.Go(func() { errs[i] = ls[i].Cancel(ctx) })
		}
	}
	decided := func() bool {
		for i, l := range ls {
			if outcome(i) != "ring" && !l.State().Ended() {
				return false
			}
		}
		return true
	}
	start := time.Now()
	if !assert.Eventually(t, decided, 10*time.Second, 5*time.Millisecond, "the owner decided every answered invitation") {
		for i, l := range ls {
			if outcome(i) != "ring" && !l.State().Ended() {
				t.Logf("invitation %d (%s): %s", i, outcome(i), l.State())
			}
		}
		t.FailNow()
	}
	t.Logf("decided %v after the loss began", time.Since(start))
	require.Zero(t, gaps(t, cl.Nodes[1]), "the loss was seen before the outcomes were decided: the test proves nothing")
	dropped := cl.Loss(0).Stats().Dropped
	// The next message, or heartbeat, shows the gap.
	if losePage {
		cl.Loss(0).SetFault(rtmcalltest.Fault{Drop: 1, MaxDrops: 1, Kinds: []string{"settled"}})
	} else {
		cl.Loss(0).SetFault(rtmcalltest.Fault{})
	}

	wg.Wait()
	for i, err := range errs {
		assert.NoError(t, err, "invitation %d (%s)", i, outcome(i))
	}
	settled := func() bool {
		for i := range n {
			if !ls[i].State().Ended() || !rs[i].State().Ended() {
				return false
			}
		}
		return true
	}
	require.Eventually(t, settled, 20*time.Second, 5*time.Millisecond, "every invitation ended on both sides")
	want := map[string][2]string{
		"accept": {"ACCEPTED_BY_REMOTE", "ACCEPTED"},
		"refuse": {"REFUSED_BY_REMOTE", "REFUSED"},
		"cancel": {"CANCELED", "CANCELED"},
		"ring":   {"FAILURE", "FAILURE"},
	}
	for i := range n {
		o := outcome(i)
		assert.Equal(t, want[o], [2]string{ls[i].State().String(), rs[i].State().String()}, "invitation %d (%s)", i, o)
		switch o {
		case "refuse":
			assert.Equal(t, response, ls[i].Response(), "invitation %d", i)
		case "ring":
			assert.Equal(t, core.LocalFailurePeerOffline, ls[i].FailureReason(), "invitation %d", i)
			assert.Equal(t, core.RemoteFailurePeerOffline, rs[i].FailureReason(), "invitation %d", i)
		}
	}
	for i := 0; i < callees; i += 2 { // the accepted calls ended with the reset
		alice.expectOn(alice.calls, "local call ended PEER_OFFLINE  ENDED")
		bobs[i].expectOn(bobs[i].calls, "remote call ended PEER_OFFLINE  ENDED")
	}
	assert.Equal(t, n, metric(t, cl.Nodes[1], `rtmcall_cluster_settles_total{result="settled"}`))
	assert.Zero(t, metric(t, cl.Nodes[1], settlesLate))
	for i, srv := range cl.Nodes {
		for _, k := range []string{"settle", "settled"} {
			assert.Zero(t, metric(t, srv, fmt.Sprintf(`rtmcall_cluster_messages_too_large_total{kind=%q}`, k)), "node %d, %s", i, k)
		}
	}
	if losePage {
		assert.Equal(t, 1, cl.Loss(0).Stats().Dropped-dropped, "one settled page lost")
		assert.Equal(t, 2, gaps(t, cl.Nodes[1]), "the lost page reset the pair again")
	} else {
		assert.Equal(t, 1, gaps(t, cl.Nodes[1]), "one reset: the settle went through at once")
	}
	cl.AwaitHealed()
}
