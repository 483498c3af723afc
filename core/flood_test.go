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
	"github.com/rtmcall/rtmcall/core/protocol"
)

// Thousands of invitations to one callee: every one rings and ends exactly
// once on both sides; the callee's automatic receipts do not count against
// its rate limit (it is not banned), and others are served meanwhile.
func TestThousandsOfInvitationsToOneCallee(t *testing.T) {
	const callers, each = 50, 60
	srv := startServer(t)
	bob := newClient(t, srv, "bob")
	var mu sync.Mutex
	rang, ended := map[string]bool{}, map[string]string{}
	allEnded := make(chan struct{})
	bob.c.OnInvitationReceived(func(r *core.RemoteInvitation) {
		mu.Lock()
		defer mu.Unlock()
		require.False(t, rang[r.ID()], "an invite delivered twice")
		rang[r.ID()] = true
		r.OnFailure(func(reason core.RemoteFailureReason) {
			mu.Lock()
			defer mu.Unlock()
			require.Empty(t, ended[r.ID()], "a terminal event delivered twice")
			ended[r.ID()] = reason.String()
			if len(ended) == callers*each {
				close(allEnded)
			}
		})
	})
	require.NoError(t, bob.c.Login(ctxT(t), "bob", ""))

	outcomes := make(chan string, callers*each)
	var wg sync.WaitGroup
	for i := range callers {
		caller := login(t, srv, fmt.Sprintf("caller-%d", i))
		wg.Go(func() {
			for range each {
				l, err := caller.c.CreateLocalInvitation("bob")
				require.NoError(t, err)
				require.NoError(t, l.SetTimeout(time.Second))
				l.OnFailure(func(r core.LocalFailureReason) { outcomes <- r.String() })
				require.NoError(t, l.Send(ctxT(t)))
			}
		})
	}
	wg.Wait()

	// Someone else is served while bob rings thousands of times.
	carol, dave := login(t, srv, "carol"), login(t, srv, "dave")
	carol.invite("dave", "")
	dave.received()
	carol.expect("local received")

	byReason := map[string]int{}
	deadline := time.After(30 * time.Second)
	for range callers * each {
		select {
		case r := <-outcomes:
			byReason[r]++
		case <-deadline:
			t.Fatalf("only %v of %d invitations ended", byReason, callers*each)
		}
	}
	assert.Equal(t, map[string]int{"INVITATION_EXPIRE": callers * each}, byReason)
	select {
	case <-allEnded:
	case <-time.After(waitFor):
		t.Fatal("bob did not see every invitation end")
	}
	assert.Len(t, rang, callers*each)
	assert.Equal(t, core.ConnectionConnected, bob.c.ConnectionState(), "the flood did not get bob banned")
	_, err := bob.c.QueryPeersOnlineStatus(ctxT(t), []string{"carol"})
	assert.NotEqual(t, protocol.CodeRateLimited, core.CodeOf(err))
	require.NoError(t, err)
}
