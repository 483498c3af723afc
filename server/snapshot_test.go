//go:build !js

package server_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
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

// startNATS starts a NATS server for a test with the given options (a
// free port on 127.0.0.1, no logs).
func startNATS(t *testing.T, opts *natsserver.Options) *natsserver.Server {
	t.Helper()
	opts.Host, opts.Port, opts.NoLog, opts.NoSigs = "127.0.0.1", -1, true, true
	ns, err := natsserver.NewServer(opts)
	require.NoError(t, err)
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	require.True(t, ns.ReadyForConnections(10*time.Second))
	return ns
}

// payloadPair is two nodes on the NATS servers at urls, peers of each other.
func payloadPair(t *testing.T, urlA, urlB string) (a, b *rtmcalltest.Server) {
	t.Helper()
	fast := func(c *server.Config) { c.PeerHeartbeat, c.PeerTimeout = 50*time.Millisecond, time.Second }
	a = rtmcalltest.NewServer(t, fast, func(c *server.Config) { c.NATS = &server.NATSConfig{URL: urlA} })
	b = rtmcalltest.NewServer(t, fast, func(c *server.Config) { c.NATS = &server.NATSConfig{URL: urlB} })
	awaitPeers(t, a, b)
	return a, b
}

// awaitPeers waits until a and b know each other.
func awaitPeers(t *testing.T, a, b *rtmcalltest.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, a.Node.AwaitPeers(ctx, 1))
	require.NoError(t, b.Node.AwaitPeers(ctx, 1))
}

// syncOfSize syncs from's node with to's with a message of size bytes.
func syncOfSize(t *testing.T, from, to *rtmcalltest.Server, size int) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return server.SyncOfSize(ctx, from.Node, to.Node.ID(), size)
}

// assertMetric checks that srv's /metrics has line, and shows only the
// lines of the same metric when it does not.
func assertMetric(t *testing.T, srv *rtmcalltest.Server, line string) {
	t.Helper()
	_, body := httpGet(t, srv.HTTPURL+"/metrics")
	name, _, _ := strings.Cut(strings.Fields(line)[0], "{")
	var same []string
	for _, l := range strings.Split(body, "\n") {
		if l == line {
			return
		}
		if strings.HasPrefix(l, name) {
			same = append(same, l)
		}
	}
	assert.Fail(t, "metric not as expected", "want %q, have %q", line, same)
}

// A message between nodes of exactly the NATS server's max_payload goes;
// one byte more is not sent: the sender counts it and logs it, and the
// receiver finds the gap, so the pair resets ("Lost messages") and what
// waited for it ends (the sync gets ErrSyncLost) within the bound of a
// lost message, then the two are peers again.
func TestClusterMessageAtMaxPayload(t *testing.T) {
	ns := startNATS(t, &natsserver.Options{MaxPayload: 512 << 10})
	a, b := payloadPair(t, ns.ClientURL(), ns.ClientURL())

	require.NoError(t, syncOfSize(t, a, b, 512<<10), "a message at the bound")
	start := time.Now()
	err := syncOfSize(t, a, b, 512<<10+1)
	assert.ErrorIs(t, err, server.ErrSyncLost, "a message one byte past the bound")
	assert.Less(t, time.Since(start), 3*50*time.Millisecond+time.Second, "within 3 × PeerHeartbeat and some slack")
	assertMetric(t, a, `rtmcall_cluster_messages_too_large_total{kind="sync"} 1`)
	assertMetric(t, b, "rtmcall_cluster_gaps_total 1") // the receiver found the gap
	assert.Equal(t, 2, ns.NumClients(), "both nodes still connected")
	assert.Equal(t, uint64(0), server.NATSRedials(a.Node))

	awaitPeers(t, a, b)
	require.NoError(t, syncOfSize(t, a, b, 512<<10), "peers again, a message at the bound goes")
}

// A NATS server whose max_payload is lowered while the nodes run (a
// configuration reload) closes the connection of the first node that
// publishes more; the NATS client gives that connection up for good, so
// the broker connects again: the message and what was in flight are lost,
// and the pair resets as for any broken link. From then on the node knows
// the new bound and refuses larger messages itself, keeping its connection.
func TestClusterNATSMaxPayloadLowered(t *testing.T) {
	opts := &natsserver.Options{}
	ns := startNATS(t, opts)
	a, b := payloadPair(t, ns.ClientURL(), ns.ClientURL())
	lower := opts.Clone()
	lower.MaxPayload = 64 << 10
	require.NoError(t, ns.ReloadOptions(lower))

	assert.ErrorIs(t, syncOfSize(t, a, b, 100<<10), server.ErrSyncLost, "lost with the connection")
	require.Eventually(t, func() bool { return server.NATSRedials(a.Node) == 1 }, 10*time.Second, 5*time.Millisecond,
		"the broker connected again")
	awaitPeers(t, a, b)

	refusedHere(t, a, b, 64<<10, 1)
}

// refusedHere checks that a sync from a one byte past bound is refused by
// a itself (counted; a's NATS connection kept: still redials redials), and
// that one at bound goes once the pair met again.
func refusedHere(t *testing.T, a, b *rtmcalltest.Server, bound int, redials uint64) {
	t.Helper()
	assert.ErrorIs(t, syncOfSize(t, a, b, bound+1), server.ErrSyncLost, "one byte past the new bound: refused here")
	assertMetric(t, a, `rtmcall_cluster_messages_too_large_total{kind="sync"} 1`)
	assert.Equal(t, redials, server.NATSRedials(a.Node), "refused before NATS saw it: the connection stays")
	awaitPeers(t, a, b)
	require.NoError(t, syncOfSize(t, a, b, bound), "at the new bound")
}

// The node keeps its connection's max_payload rather than ask the NATS
// client per message, and takes it again when the connection comes back:
// a NATS server restarted with a smaller max_payload is known at the
// reconnect, and a larger message is refused here (counted, the pair
// reset) rather than sent, which would make the server close the
// connection (the broker then connects again: a redial).
func TestClusterNATSMaxPayloadAfterReconnect(t *testing.T) {
	ns := startNATS(t, &natsserver.Options{})
	port := ns.Addr().(*net.TCPAddr).Port
	a, b := payloadPair(t, ns.ClientURL(), ns.ClientURL())
	require.NoError(t, syncOfSize(t, a, b, 600<<10), "600 KiB within the default 1 MiB")
	ns.Shutdown()
	ns.WaitForShutdown()
	small, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: port, MaxPayload: 512 << 10, NoLog: true, NoSigs: true})
	require.NoError(t, err)
	small.Start()
	t.Cleanup(func() { small.Shutdown(); small.WaitForShutdown() })
	require.True(t, small.ReadyForConnections(10*time.Second))
	require.Eventually(t, func() bool { return small.NumClients() == 2 }, 10*time.Second, 5*time.Millisecond, "both nodes reconnected")
	awaitPeers(t, a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for errors.Is(a.Node.Sync(ctx), server.ErrSyncLost) { // the restart's losses reset the pair
		awaitPeers(t, a, b)
	}

	refusedHere(t, a, b, 512<<10, 0)
}

// NATS routes do not apply max_payload: what a node's own server takes
// reaches a node on a routed server with a smaller max_payload; the bound
// that counts is the sender's server's.
func TestClusterMaxPayloadAcrossRoutes(t *testing.T) {
	big := startNATS(t, &natsserver.Options{Cluster: natsserver.ClusterOpts{Name: "p", Host: "127.0.0.1", Port: -1}})
	small := startNATS(t, &natsserver.Options{MaxPayload: 512 << 10,
		Cluster: natsserver.ClusterOpts{Name: "p", Host: "127.0.0.1", Port: -1},
		Routes:  natsserver.RoutesFromStr("nats://" + big.ClusterAddr().String())})
	require.Eventually(t, func() bool { return big.NumRoutes() > 0 && small.NumRoutes() > 0 }, 10*time.Second,
		5*time.Millisecond, "the servers route to each other")
	a, b := payloadPair(t, big.ClientURL(), small.ClientURL())

	require.NoError(t, syncOfSize(t, a, b, 600<<10), "600 KiB from the 1 MiB server to the 512 KiB one")
	assert.ErrorIs(t, syncOfSize(t, b, a, 512<<10+1), server.ErrSyncLost, "past the sender's own bound")
	assertMetric(t, b, `rtmcall_cluster_messages_too_large_total{kind="sync"} 1`)
}
