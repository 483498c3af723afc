package rtmcalltest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/rtmcall/rtmcall/server"
)

// Peer timing of the nodes NewCluster starts: a node silent for
// PeerTimeout is declared dead by the others.
const (
	PeerHeartbeat = 50 * time.Millisecond
	PeerTimeout   = 400 * time.Millisecond
)

// Cluster is several nodes acting as one system, each connected to its own
// embedded NATS server; the NATS servers form a cluster through routes.
type Cluster struct {
	// Nodes are the servers, each with its own address: a test connects
	// clients to any of them (or to a Proxy in front of one).
	Nodes []*Server

	tb   testing.TB
	nats []*natsserver.Server
}

// NewCluster starts n nodes (see NewServer: dev mode, the test secret) on
// n NATS servers joined by routes, waits until every node knows every
// other, and stops them all when the test ends. opts adjust each node's
// Config; the node's index is the Config's place in the cluster.
func NewCluster(tb testing.TB, n int, opts ...func(*server.Config)) *Cluster {
	tb.Helper()
	return newCluster(tb, n, false, opts)
}

// NewJetStreamCluster is NewCluster with JetStream on in every NATS
// server (under a temporary directory), for what the nodes keep in it:
// the Web Push store (server/store.KV on NATSURL).
func NewJetStreamCluster(tb testing.TB, n int, opts ...func(*server.Config)) *Cluster {
	tb.Helper()
	return newCluster(tb, n, true, opts)
}

// NATSURL is the client URL of node i's NATS server.
func (cl *Cluster) NATSURL(i int) string { return cl.nats[i].ClientURL() }

func newCluster(tb testing.TB, n int, jetStream bool, opts []func(*server.Config)) *Cluster {
	tb.Helper()
	cl := &Cluster{tb: tb}
	var seed *url.URL
	var routePorts []int
	var held []net.Listener // until all are chosen, so that they differ
	for range n {
		if !jetStream {
			break
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("rtmcalltest: %v", err)
		}
		routePorts = append(routePorts, ln.Addr().(*net.TCPAddr).Port)
		held = append(held, ln)
	}
	for _, ln := range held {
		ln.Close()
	}
	for i := range n {
		o := &natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
			ServerName: fmt.Sprintf("rtmcalltest-%d", i),
			Cluster: natsserver.ClusterOpts{Name: "rtmcalltest", Host: "127.0.0.1", Port: -1,
				NoAdvertise: true}, // a node reconnects to its own server only: killing it cuts the node off
		}
		if seed != nil {
			o.Routes = []*url.URL{seed}
		}
		if jetStream {
			// A JetStream cluster needs configured routes: every server
			// routes to every other, on ports chosen up front.
			o.JetStream, o.StoreDir = true, tb.TempDir()
			o.Cluster.Port = routePorts[i]
			o.Routes = nil
			for j, p := range routePorts {
				if j != i {
					o.Routes = append(o.Routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
				}
			}
		}
		ns, err := natsserver.NewServer(o)
		if err != nil {
			tb.Fatalf("rtmcalltest: NATS server: %v", err)
		}
		ns.Start()
		tb.Cleanup(func() {
			ns.Shutdown()
			ns.WaitForShutdown()
		})
		if jetStream {
			cl.nats = append(cl.nats, ns)
			continue // ready once all are started
		}
		if !ns.ReadyForConnections(10 * time.Second) {
			tb.Fatalf("rtmcalltest: NATS server %d did not start", i)
		}
		if seed == nil {
			seed = &url.URL{Scheme: "nats", Host: ns.ClusterAddr().String()}
		}
		cl.nats = append(cl.nats, ns)
	}
	for i, ns := range cl.nats {
		if !ns.ReadyForConnections(30 * time.Second) {
			tb.Fatalf("rtmcalltest: NATS server %d did not start", i)
		}
	}
	for i, ns := range cl.nats {
		node := NewServer(tb, append([]func(*server.Config){func(c *server.Config) {
			c.NodeID = fmt.Sprintf("%08x", 0xc0de0001+i)
			c.NATS = &server.NATSConfig{URL: ns.ClientURL()}
			c.PeerHeartbeat, c.PeerTimeout = PeerHeartbeat, PeerTimeout
		}}, opts...)...)
		cl.Nodes = append(cl.Nodes, node)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, node := range cl.Nodes {
		if err := node.Node.AwaitPeers(ctx, n-1); err != nil {
			tb.Fatalf("rtmcalltest: node %d knows %v of %d peers: %v", i, node.Node.Peers(), n-1, err)
		}
	}
	cl.Sync()
	return cl
}

// Sync returns once every live node has handled everything every other
// node sent it: a session logged in anywhere before the call is known
// everywhere after it.
func (cl *Cluster) Sync() {
	cl.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	live := 0
	for _, ns := range cl.nats {
		if ns.Running() {
			live++
		}
	}
	for i, node := range cl.Nodes {
		if !cl.nats[i].Running() {
			continue
		}
		// Nodes that hello each other at once may reset each other: the
		// sync is then lost, and answered again once they rejoined.
		err := node.Node.Sync(ctx)
		for errors.Is(err, server.ErrSyncLost) {
			if err = node.Node.AwaitPeers(ctx, live-1); err == nil {
				err = node.Node.Sync(ctx)
			}
		}
		if err != nil {
			cl.tb.Fatalf("rtmcalltest: sync node %d: %v", i, err)
		}
	}
}

// Kill cuts node i off the cluster at once, as a crash or a network
// partition would: its NATS server stops without a word, and the other
// nodes declare it dead after PeerTimeout. Its clients stay connected to
// it (put them behind a Proxy to cut them too); it shuts down when the
// test ends.
func (cl *Cluster) Kill(i int) {
	cl.nats[i].Shutdown()
	cl.nats[i].WaitForShutdown()
}
