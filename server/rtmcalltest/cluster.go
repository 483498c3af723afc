package rtmcalltest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/rtmcall/rtmcall/server"
)

// Peer timing of the nodes NewCluster starts: a node silent for
// PeerTimeout is declared dead by the others.
const (
	PeerHeartbeat = 50 * time.Millisecond
	PeerTimeout   = 400 * time.Millisecond
)

// Cluster is several nodes acting as one system, each connected to its own
// embedded NATS server; the NATS servers form a full mesh of routes, each
// route through a TCP proxy of its own, so that a test can cut any pair
// (Partition). Each node's broker is a LossyBroker (Loss).
type Cluster struct {
	// Nodes are the servers, each with its own address: a test connects
	// clients to any of them (or to a Proxy in front of one).
	Nodes []*Server

	tb     testing.TB
	opts   []func(*server.Config)
	mu     sync.Mutex // guards Nodes and loss against Restart, for a Balancer and Loss
	nats   []*natsserver.Server
	loss   []*LossyBroker
	links  map[[2]int]*Proxy // the route between NATS servers i < j
	routes map[int]int       // each NATS server's route connections before Partition
}

// NewCluster starts n nodes (see NewServer: dev mode, the test secret) on
// n NATS servers joined by routes, waits until every node knows every
// other, and stops them all when the test ends. opts adjust each node's
// Config; the node's index is the Config's place in the cluster.
func NewCluster(tb testing.TB, n int, opts ...func(*server.Config)) *Cluster {
	tb.Helper()
	return newCluster(tb, n, true, false, opts)
}

// NewClusterDirect is NewCluster with routes straight between the NATS
// servers, without the proxies that Partition cuts (which cost each
// message between nodes two more loopback hops): for benchmarks.
// Partition fails the test.
func NewClusterDirect(tb testing.TB, n int, opts ...func(*server.Config)) *Cluster {
	tb.Helper()
	return newCluster(tb, n, false, false, opts)
}

// NewJetStreamCluster is NewClusterDirect with JetStream on in every NATS
// server (under a temporary directory), for what the nodes keep in it:
// the Web Push store (server/store.KV on NATSURL). Partition fails the
// test.
func NewJetStreamCluster(tb testing.TB, n int, opts ...func(*server.Config)) *Cluster {
	tb.Helper()
	return newCluster(tb, n, false, true, opts)
}

// NATSURL is the client URL of node i's NATS server.
func (cl *Cluster) NATSURL(i int) string { return cl.nats[i].ClientURL() }

func newCluster(tb testing.TB, n int, links, jetStream bool, opts []func(*server.Config)) *Cluster {
	tb.Helper()
	cl := &Cluster{tb: tb, opts: opts, links: make(map[[2]int]*Proxy), routes: make(map[int]int)}
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
				NoAdvertise: true, // a node reconnects to its own server only: killing it cuts the node off
				// Gossip names an address that refuses: servers meet only
				// through the routes below, which go through the links.
				Advertise: "127.0.0.1:1"},
		}
		// Server i routes to every server before it, each through a link:
		// explicit routes, which NATS redials for ever once a link heals.
		for j, prev := range cl.nats {
			if jetStream {
				break // routes on ports chosen up front, below
			}
			addr := prev.ClusterAddr().String()
			if links {
				link := newTCPProxy(tb, addr)
				cl.links[[2]int{j, i}] = link
				addr = link.ln.Addr().String()
			}
			o.Routes = append(o.Routes, &url.URL{Scheme: "nats", Host: addr})
		}
		if jetStream {
			// A JetStream cluster needs configured routes: every server
			// routes to every other, on ports chosen up front.
			o.JetStream, o.StoreDir = true, tb.TempDir()
			o.Cluster.Port = routePorts[i]
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
		cl.nats = append(cl.nats, ns)
	}
	for i, ns := range cl.nats {
		if !ns.ReadyForConnections(30 * time.Second) {
			tb.Fatalf("rtmcalltest: NATS server %d did not start", i)
		}
	}
	cl.loss = make([]*LossyBroker, n)
	cl.Nodes = make([]*Server, n)
	for i := range cl.nats {
		cl.Nodes[i] = cl.startNode(i)
	}
	cl.awaitWhole()
	return cl
}

// startNode starts node i on NATS server i, with id c0de0001+i.
func (cl *Cluster) startNode(i int) *Server {
	return NewServer(cl.tb, append([]func(*server.Config){func(c *server.Config) {
		c.NodeID = fmt.Sprintf("%08x", 0xc0de0001+i)
		b, err := server.NewNATSBroker(server.NATSConfig{URL: cl.nats[i].ClientURL()}, c.Logger)
		if err != nil {
			cl.tb.Fatalf("rtmcalltest: node %d: %v", i, err)
		}
		lossy := NewLossyBroker(b)
		cl.mu.Lock()
		cl.loss[i] = lossy
		cl.mu.Unlock()
		c.Broker = lossy
		c.PeerHeartbeat, c.PeerTimeout = PeerHeartbeat, PeerTimeout
	}}, cl.opts...)...)
}

// awaitWhole waits until every node knows every other, then syncs.
func (cl *Cluster) awaitWhole() {
	cl.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, node := range cl.Nodes {
		if err := node.Node.AwaitPeers(ctx, len(cl.Nodes)-1); err != nil {
			cl.tb.Fatalf("rtmcalltest: node %d knows %v of %d peers: %v", i, node.Node.Peers(), len(cl.Nodes)-1, err)
		}
	}
	cl.Sync()
}

// Restart starts node i again, with the same id and options, on its NATS
// server, once it has shut down (Drain or Shutdown) and the other nodes
// no longer count it; it returns once the cluster is whole again. The new
// node has a new address (Node(i), a Balancer, find it).
func (cl *Cluster) Restart(i int) *Server {
	cl.tb.Helper()
	old := cl.Node(i)
	select {
	case <-old.Node.Done():
	case <-time.After(30 * time.Second):
		cl.tb.Fatalf("rtmcalltest: Restart(%d): the node has not shut down", i)
	}
	var others []string
	for j := range cl.Nodes {
		if j != i {
			others = append(others, cl.Node(j).Node.ID())
		}
	}
	slices.Sort(others)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for j := range cl.Nodes {
		if j == i {
			continue
		}
		ids := slices.DeleteFunc(slices.Clone(others), func(id string) bool { return id == cl.Node(j).Node.ID() })
		if err := cl.Node(j).Node.AwaitPeerSet(ctx, ids); err != nil {
			cl.tb.Fatalf("rtmcalltest: Restart(%d): node %d still has peers %v: %v", i, j, cl.Node(j).Node.Peers(), err)
		}
	}
	srv := cl.startNode(i)
	cl.mu.Lock()
	cl.Nodes[i] = srv
	cl.mu.Unlock()
	cl.awaitWhole()
	return srv
}

// Node returns node i (Nodes[i], which Restart replaces).
func (cl *Cluster) Node(i int) *Server {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.Nodes[i]
}

// Sync returns once every live node has handled everything every other
// node sent it: a session logged in anywhere before the call is known
// everywhere after it. During a Partition it would wait for the far side:
// call it after AwaitHealed.
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
	for i := range cl.Nodes {
		select {
		case <-cl.Node(i).Node.Done():
			if cl.nats[i].Running() {
				live-- // drained or shut down, on a live NATS server
			}
		default:
		}
	}
	for i := range cl.Nodes {
		node := cl.Node(i)
		select {
		case <-node.Node.Done():
			continue // drained or shut down (Restart starts it again)
		default:
		}
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

// Loss returns the broker of node i, to inject faults in what it sends.
func (cl *Cluster) Loss(i int) *LossyBroker {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.loss[i]
}

// Partition splits the cluster's network into groups of node indexes:
// the NATS routes between nodes of different groups are cut at once, and
// stay cut (NATS redials them in vain) until Heal. A node in no group is a
// group of its own. Messages sent across the split meanwhile are lost, as
// NATS core loses them.
func (cl *Cluster) Partition(groups ...[]int) {
	cl.tb.Helper()
	if len(cl.links) == 0 && len(cl.nats) > 1 {
		cl.tb.Fatalf("rtmcalltest: Partition of a NewClusterDirect cluster")
	}
	side := make(map[int]int)
	for g, nodes := range groups {
		for _, i := range nodes {
			side[i] = g + 1
		}
	}
	for i := range cl.nats {
		if side[i] == 0 {
			side[i] = -1 - i
		}
	}
	for i, ns := range cl.nats {
		if cl.routes[i] == 0 {
			cl.routes[i] = ns.NumRoutes()
		}
	}
	for pair, link := range cl.links {
		if side[pair[0]] != side[pair[1]] {
			link.Block(true)
			link.Drop()
		}
	}
}

// Heal lets every cut route through again and returns once NATS has
// redialed them all (within about a second, its route reconnect delay),
// or fails the test after 10 s. The nodes may not have met again yet
// (AwaitHealed).
func (cl *Cluster) Heal() {
	cl.tb.Helper()
	for _, link := range cl.links {
		link.Block(false)
	}
	// NATS tells nobody when a route is back: look, until the deadline.
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i, ns := range cl.nats {
		for ns.Running() && ns.NumRoutes() < cl.routes[i] {
			if time.Now().After(deadline) {
				cl.tb.Fatalf("rtmcalltest: NATS server %d has %d routes of %d after the heal", i, ns.NumRoutes(), cl.routes[i])
			}
			<-tick.C
		}
	}
	clear(cl.routes)
	cl.probe(deadline)
}

// probe returns once a request from every live NATS server reached a
// subscriber on every other and came back: the routes carry the nodes'
// subscriptions again, which they sent before the probe's.
func (cl *Cluster) probe(deadline time.Time) {
	cl.tb.Helper()
	var conns []*nats.Conn
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	connect := func(i int) *nats.Conn {
		nc, err := nats.Connect(cl.nats[i].ClientURL(), nats.Name("rtmcalltest probe"))
		if err != nil {
			cl.tb.Fatalf("rtmcalltest: probe NATS server %d: %v", i, err)
		}
		conns = append(conns, nc)
		return nc
	}
	var live []int
	for i, ns := range cl.nats {
		if ns.Running() {
			live = append(live, i)
		}
	}
	for _, j := range live {
		subject := fmt.Sprintf("rtmcalltest.probe.%d", j)
		nc := connect(j)
		if _, err := nc.Subscribe(subject, func(m *nats.Msg) { _ = m.Respond(nil) }); err != nil {
			cl.tb.Fatalf("rtmcalltest: probe: %v", err)
		}
		if err := nc.Flush(); err != nil {
			cl.tb.Fatalf("rtmcalltest: probe: %v", err)
		}
		for _, i := range live {
			if i == j {
				continue
			}
			from := connect(i)
			for {
				if _, err := from.Request(subject, nil, 50*time.Millisecond); err == nil {
					break
				}
				if time.Now().After(deadline) {
					cl.tb.Fatalf("rtmcalltest: NATS server %d does not reach server %d after the heal", i, j)
				}
			}
		}
	}
}

// AwaitPeers waits until node i knows exactly the nodes in want (indexes)
// as its live peers, and fails the test after 10 s.
func (cl *Cluster) AwaitPeers(i int, want ...int) {
	cl.tb.Helper()
	var ids []string
	for _, j := range want {
		ids = append(ids, cl.Nodes[j].Node.ID())
	}
	slices.Sort(ids)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.Nodes[i].Node.AwaitPeerSet(ctx, ids); err != nil {
		cl.tb.Fatalf("rtmcalltest: node %d has peers %v, not %v: %v", i, cl.Nodes[i].Node.Peers(), ids, err)
	}
}

// AwaitHealed waits until every node knows every other (after Heal), then
// syncs the cluster.
func (cl *Cluster) AwaitHealed() {
	cl.tb.Helper()
	for i := range cl.Nodes {
		var others []int
		for j := range cl.Nodes {
			if j != i {
				others = append(others, j)
			}
		}
		cl.AwaitPeers(i, others...)
	}
	cl.Sync()
}
