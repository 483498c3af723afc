//go:build !js

package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// A node joining a node that holds 30,000 sessions learns them all: the
// snapshot (about 1.6 MB) goes in pages under NATS's max_payload. The
// user that logged in last is at the end of the directory.
func TestClusterLargeDirectory(t *testing.T) {
	const simulated = 30_000
	// Heartbeats slower than rtmcalltest's: under -race on a busy machine a
	// page takes more than 50 ms to decode and apply, and the test is about
	// the snapshot, not about how fast a death is seen.
	fast := func(c *server.Config) { c.PeerHeartbeat, c.PeerTimeout = 100*time.Millisecond, 2*time.Second }
	a := rtmcalltest.NewServer(t, fast, func(c *server.Config) { c.NATS = &server.NATSConfig{Listen: "127.0.0.1:-1"} })
	users := make([]string, simulated)
	for i := range users {
		users[i] = fmt.Sprintf("user-%07d", i)
	}
	server.SimulateSessions(t, a.Node, users)
	login(t, a, "last")

	start := time.Now()
	b := rtmcalltest.NewServer(t, fast, func(c *server.Config) { c.NATS = &server.NATSConfig{URL: a.Node.NATSURL()} })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	require.NoError(t, b.Node.AwaitPeers(ctx, 1), "the joining node never took the large node as a peer")
	t.Logf("%d sessions known on the joining node %v after it started", simulated+1, time.Since(start))
	assert.Equal(t, simulated+1, server.RemoteSessions(b.Node, a.Node.ID()))

	watcher := login(t, b, "watcher")
	watcher.ok(&protocol.Frame{Type: protocol.TypeSubscribe, IDs: []string{"last", users[simulated-1], users[0], "nobody"}})
	assert.Equal(t, map[string]string{"last": "ONLINE", users[simulated-1]: "ONLINE", users[0]: "ONLINE", "nobody": "OFFLINE"},
		watcher.presence())
}

// A node refuses a NATS server whose max_payload is under 512 KiB, one
// byte under included, and takes one at the bound.
func TestClusterNATSMaxPayload(t *testing.T) {
	for _, tc := range []struct {
		max int32
		ok  bool
	}{{512 << 10, true}, {512<<10 - 1, false}, {64 << 10, false}} {
		t.Run(fmt.Sprint(tc.max), func(t *testing.T) {
			ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, MaxPayload: tc.max, NoLog: true, NoSigs: true})
			require.NoError(t, err)
			ns.Start()
			t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
			require.True(t, ns.ReadyForConnections(10*time.Second))
			n, err := server.New(server.Config{Dev: true, NATS: &server.NATSConfig{URL: ns.ClientURL()},
				Logger: slog.New(slog.DiscardHandler)})
			if tc.ok {
				require.NoError(t, err)
				assert.NoError(t, n.Shutdown(context.Background()))
				return
			}
			assert.ErrorIs(t, err, server.ErrNATSPayload)
			assert.ErrorContains(t, err, fmt.Sprintf("has max_payload %d bytes", tc.max))
			assert.ErrorContains(t, err, "raise max_payload")
			assert.Eventually(t, func() bool { return ns.NumClients() == 0 }, 5*time.Second, 5*time.Millisecond,
				"the refused node let go of its connection")
		})
	}
}

// Pages lost on the way: the joining node never counts the large node as
// known while they are lost (its gap resets the pair, again and again),
// and knows all of its sessions once they go through.
func TestClusterLargeDirectoryPagesLost(t *testing.T) {
	const simulated = 12_000 // 3 pages
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	require.NoError(t, err)
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	require.True(t, ns.ReadyForConnections(10*time.Second))
	fast := func(c *server.Config) { c.PeerHeartbeat, c.PeerTimeout = 100*time.Millisecond, time.Second }

	inner, err := server.NewNATSBroker(server.NATSConfig{URL: ns.ClientURL()}, nil)
	require.NoError(t, err)
	lossy := rtmcalltest.NewLossyBroker(inner)
	lossy.SetFault(rtmcalltest.Fault{Drop: 1, Kinds: []string{"dir"}})
	a := rtmcalltest.NewServer(t, fast, func(c *server.Config) { c.Broker = lossy })
	users := make([]string, simulated)
	for i := range users {
		users[i] = fmt.Sprintf("user-%07d", i)
	}
	server.SimulateSessions(t, a.Node, users)

	b := rtmcalltest.NewServer(t, fast, func(c *server.Config) { c.NATS = &server.NATSConfig{URL: ns.ClientURL()} })
	gaps := func() bool {
		_, body := httpGet(t, b.HTTPURL+"/metrics")
		return !strings.Contains(body, "rtmcall_cluster_gaps_total 0\n") && strings.Contains(body, "rtmcall_cluster_gaps_total ")
	}
	require.Eventually(t, gaps, 10*time.Second, 20*time.Millisecond, "the lost pages were never seen")
	require.Eventually(t, func() bool { return lossy.Stats().Dropped >= 4 }, 10*time.Second, 10*time.Millisecond,
		"a second exchange lost its pages too")
	assert.Empty(t, b.Node.Peers(), "known without its pages")

	lossy.SetFault(rtmcalltest.Fault{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, b.Node.AwaitPeers(ctx, 1))
	assert.Equal(t, simulated, server.RemoteSessions(b.Node, a.Node.ID()))
}
