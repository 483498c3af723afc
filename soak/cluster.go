//go:build !js

package soak

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// Peer timing of the cluster's nodes: slow enough that a loaded 2-core
// machine does not declare a live node dead, fast enough that a death is
// acted on well within a flow's deadline (docs/CLUSTER.md: at most
// PeerTimeout + PeerHeartbeat).
const (
	clusterHeartbeat = 250 * time.Millisecond
	clusterTimeout   = 2 * time.Second
)

// cluster is the nodes of a cluster shard, each on its own embedded NATS
// server (the NATS servers routed to one another, as rtmcalltest.Cluster
// builds them), behind one load balancer that the clients dial.
type cluster struct {
	cfg     server.Config // the nodes' common settings
	members []*member
	lb      *balancer
	links   map[[2]int]*link // the NATS route from server i to server j
}

// member is one node of the cluster and its NATS server, restartable on
// the same ports.
type member struct {
	i                   int
	id                  string
	natsPort, routePort int
	routes              []*url.URL

	mu sync.Mutex
	ns *natsserver.Server
	nd *node // the current incarnation; nil while down
	// deaths counts its deaths (kills and partitions, harness.nodeDied).
	deaths atomic.Int32
}

// startCluster starts n nodes on n routed NATS servers and waits until
// every node knows every other.
func startCluster(ctx context.Context, name string, n int, cfg server.Config) (*cluster, error) {
	cl := &cluster{cfg: cfg, links: map[[2]int]*link{}}
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	for i := range n {
		m := &member{i: i, id: fmt.Sprintf("%08x", 0x50a40001+i), natsPort: ports[2*i], routePort: ports[2*i+1]}
		for j := range n {
			if j == i {
				continue
			}
			l, err := newLink(fmt.Sprintf("127.0.0.1:%d", ports[2*j+1]))
			if err != nil {
				cl.closeLinks()
				return nil, err
			}
			cl.links[[2]int{i, j}] = l
			m.routes = append(m.routes, &url.URL{Scheme: "nats", Host: l.addr()})
		}
		cl.members = append(cl.members, m)
	}
	cl.lb, err = newBalancer(cl)
	if err != nil {
		cl.closeLinks()
		return nil, err
	}
	for _, m := range cl.members {
		ns, nd, err := cl.start(m, name)
		if err != nil {
			cl.stop(ctx)
			return nil, err
		}
		m.publish(ns, nd)
	}
	if err := cl.settle(ctx, cl.nodes()); err != nil {
		cl.stop(ctx)
		return nil, err
	}
	return cl, nil
}

// freePorts returns n ports free now, below the kernel's ephemeral range: a
// node's NATS ports are bound again at each restart, and one in that range
// could meanwhile be taken as the local port of any outgoing connection (the
// fleet's thousands, or another test's), so that the restarted server never
// started ("NATS server … did not start").
func freePorts(n int) ([]int, error) {
	low := ephemeralLow()
	var out []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	for port := portsFrom + rand.IntN(max(low-portsFrom-4096, 1)); len(out) < n && port < low; port++ {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // taken: the next
		}
		lns = append(lns, ln)
		out = append(out, port)
	}
	if len(out) < n {
		return nil, fmt.Errorf("no %d free ports between %d and %d", n, portsFrom, low)
	}
	return out, nil
}

// portsFrom is where freePorts looks from: above the ports services listen on.
const portsFrom = 10000

// ephemeralLow returns the first port of the kernel's ephemeral range
// (Linux's default where it cannot be read).
func ephemeralLow() int {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil && v > portsFrom+4096 {
				low = v
			}
		}
	}
	return low
}

// start starts m's NATS server and a new incarnation of its node, with the
// same node id as before (a restarted process keeps its configuration).
// The balancer sends it clients once publish has run.
func (cl *cluster) start(m *member, name string) (*natsserver.Server, *node, error) {
	o := &natsserver.Options{Host: "127.0.0.1", Port: m.natsPort, NoLog: true, NoSigs: true,
		ServerName: "soak-" + m.id,
		// Gossip names an address that refuses: servers meet only through
		// the links, which a partition cuts.
		Cluster: natsserver.ClusterOpts{Name: "soak", Host: "127.0.0.1", Port: m.routePort, NoAdvertise: true,
			Advertise: "127.0.0.1:1"},
		Routes: m.routes}
	ns, err := natsserver.NewServer(o)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to make NATS server %s: %w", m.id, err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, nil, fmt.Errorf("NATS server %s did not start", m.id)
	}
	cfg := cl.cfg
	cfg.NodeID = m.id
	cfg.PeerHeartbeat, cfg.PeerTimeout = clusterHeartbeat, clusterTimeout
	cfg.Logger = cfg.Logger.With("member", m.i)
	b, err := server.NewNATSBroker(server.NATSConfig{URL: ns.ClientURL()}, cfg.Logger)
	if err != nil {
		ns.Shutdown()
		return nil, nil, fmt.Errorf("failed to connect node %s to NATS: %w", m.id, err)
	}
	lossy := rtmcalltest.NewLossyBroker(b) // passes everything until the loss chaos sets a fault
	cfg.Broker = lossy
	nd, err := startNode(fmt.Sprintf("%s%d", name, m.i), cfg)
	if err != nil {
		_ = b.Close(context.Background())
		ns.Shutdown()
		return nil, nil, err
	}
	nd.loss = lossy
	return ns, nd, nil
}

// publish makes m's new incarnation live.
func (m *member) publish(ns *natsserver.Server, nd *node) {
	m.mu.Lock()
	m.ns, m.nd = ns, nd
	m.mu.Unlock()
}

// node returns m's live node, or nil.
func (m *member) node() *node {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.nd
}

// nodes returns the live nodes.
func (cl *cluster) nodes() []*node {
	var out []*node
	for _, m := range cl.members {
		if nd := m.node(); nd != nil {
			out = append(out, nd)
		}
	}
	return out
}

// settle waits until every node of live knows every other and has told
// them everything.
func (cl *cluster) settle(ctx context.Context, live []*node) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, nd := range live {
		if err := nd.n.AwaitPeers(ctx, len(live)-1); err != nil {
			return fmt.Errorf("node %s knows %v: %w", nd.name, nd.n.Peers(), err)
		}
	}
	for _, nd := range live {
		err := nd.n.Sync(ctx)
		for errors.Is(err, server.ErrSyncLost) {
			if err = nd.n.AwaitPeers(ctx, len(live)-1); err == nil {
				err = nd.n.Sync(ctx)
			}
		}
		if err != nil {
			return fmt.Errorf("sync of node %s: %w", nd.name, err)
		}
	}
	return nil
}

// kill ends member i as a crash would: the balancer stops sending it
// clients, its NATS server stops without a word (the others declare the
// node dead after PeerTimeout), and every TCP connection of its clients is
// cut. died runs between the balancer's switch and the cuts, so that the
// harness knows which sessions were lost before their clients notice.
// The node's process state is then discarded (Shutdown, which reaches
// nobody).
func (cl *cluster) kill(i int, died func(i int)) {
	ns, nd := cl.unpublish(i)
	if nd == nil {
		return
	}
	died(i)
	close(nd.gone)
	ns.Shutdown()
	ns.WaitForShutdown()
	nd.cutAll()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_ = nd.stop(ctx) // its clients are gone and its NATS with them: an error here says nothing
	cl.lb.cutTo(i)
}

// drain drains member i (the balancer sends it nothing new: pickLocked),
// then takes it and its NATS server down.
func (cl *cluster) drain(ctx context.Context, i int) error {
	err := cl.members[i].node().n.Drain(ctx)
	ns, nd := cl.unpublish(i)
	close(nd.gone)
	err = errors.Join(err, nd.stop(ctx))
	ns.Shutdown()
	ns.WaitForShutdown()
	return err
}

// unpublish takes member i out of the balancer and returns its NATS server
// and node (nil if it was down already).
func (cl *cluster) unpublish(i int) (*natsserver.Server, *node) {
	m := cl.members[i]
	cl.lb.mu.Lock() // no connection is routed to it from now on, nor half-way
	defer cl.lb.mu.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	ns, nd := m.ns, m.nd
	m.ns, m.nd = nil, nil
	return ns, nd
}

// restart starts member i again and, once every node knows every other
// (a login there is then known everywhere once synced), sends it clients.
func (cl *cluster) restart(ctx context.Context, i int, name string) error {
	ns, nd, err := cl.start(cl.members[i], name)
	if err != nil {
		return err
	}
	if err := cl.settle(ctx, append(cl.nodes(), nd)); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = nd.stop(ctx)
		ns.Shutdown()
		return err
	}
	cl.members[i].publish(ns, nd)
	return nil
}

// awaitDeclaredDead waits until no live node counts member i among its
// peers. The nodes have no event for it: it polls, as waitGoroutines does.
func (cl *cluster) awaitDeclaredDead(ctx context.Context, i int) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		known := false
		for _, nd := range cl.nodes() {
			known = known || slices.Contains(nd.n.Peers(), cl.members[i].id)
		}
		if !known {
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("node %d still a peer: %w", i, ctx.Err())
		}
	}
}

// stop shuts every live node and NATS server down.
func (cl *cluster) stop(ctx context.Context) error {
	var first error
	for _, m := range cl.members {
		m.mu.Lock()
		ns, nd := m.ns, m.nd
		m.ns, m.nd = nil, nil
		m.mu.Unlock()
		if nd != nil {
			first = firstErr(first, nd.stop(ctx))
		}
		if ns != nil {
			ns.Shutdown()
			ns.WaitForShutdown()
		}
	}
	cl.lb.close()
	cl.closeLinks()
	return first
}

func (cl *cluster) closeLinks() {
	for _, l := range cl.links {
		l.close()
	}
}

// isolate cuts member i off the others as a partition would: every NATS
// route between its server and theirs is cut and stays cut until mend,
// and, the balancer being on the others' side, it gets no clients and
// those it had lose their connections. died runs as for kill. It returns
// the node, which goes on running alone.
func (cl *cluster) isolate(i int, died func(i int)) (*natsserver.Server, *node) {
	ns, nd := cl.unpublish(i)
	if nd == nil {
		return nil, nil
	}
	died(i)
	for pair, l := range cl.links {
		if pair[0] == i || pair[1] == i {
			l.cut()
		}
	}
	nd.cutAll()
	cl.lb.cutTo(i)
	return ns, nd
}

// mend lets member i's routes through again, waits until every node knows
// every other, and sends it clients again.
func (cl *cluster) mend(ctx context.Context, i int, ns *natsserver.Server, nd *node) error {
	for pair, l := range cl.links {
		if pair[0] == i || pair[1] == i {
			l.mend()
		}
	}
	if err := cl.settle(ctx, append(cl.nodes(), nd)); err != nil {
		return err
	}
	cl.members[i].publish(ns, nd)
	return nil
}

// balancer is the cluster's load balancer: a TCP proxy that reads the
// device slot from the request line of each new connection and sends it to
// the node its session lives on if that node is up, else to the device's
// home node, else to the next live one.
type balancer struct {
	cl  *cluster
	ln  net.Listener
	url string

	mu    sync.Mutex
	open  map[string][]openConn         // by slot: its open connections, oldest first
	prev  map[string]dial               // by slot: its latest connection, open or not
	dials uint64                        // connections so far
	stuck map[string]int                // by slot: the node of its session
	conns map[int]map[net.Conn]struct{} // client-side connections by node
	wg    sync.WaitGroup
}

func newBalancer(cl *cluster) (*balancer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &balancer{cl: cl, ln: ln, url: "ws://" + ln.Addr().String() + "/ws", open: map[string][]openConn{}, prev: map[string]dial{}, stuck: map[string]int{},
		conns: map[int]map[net.Conn]struct{}{}}
	b.wg.Go(b.serve)
	return b, nil
}

func (b *balancer) serve() {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.wg.Go(func() { b.proxy(c) })
	}
}

// home is the node a slot's devices belong to: spread by device, so that a
// user's devices, and callers and callees, are on different nodes.
func (b *balancer) home(slot string) int {
	h := 0
	for _, r := range slot {
		h = 31*h + int(r)
	}
	return (h%len(b.cl.members) + len(b.cl.members)) % len(b.cl.members)
}

// pickLocked chooses the live node for a new connection of slot. b.mu is
// held.
func (b *balancer) pickLocked(slot string) (int, *node) {
	want, ok := b.stuck[slot]
	if !ok {
		want = b.home(slot)
	}
	n := len(b.cl.members)
	for k := range n {
		if nd := b.cl.members[(want+k)%n].node(); nd != nil && !nd.n.Draining() {
			return (want + k) % n, nd
		}
	}
	return -1, nil
}

func (b *balancer) proxy(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		return
	}
	slot := ""
	if f := strings.Fields(line); len(f) >= 2 {
		if u, err := url.Parse(f[1]); err == nil {
			slot = u.Query().Get(slotParam)
		}
	}
	// Picked and recorded at once, so that a node's death (kill) sees
	// every connection routed to it.
	b.mu.Lock()
	i, nd := b.pickLocked(slot)
	if nd == nil {
		b.mu.Unlock()
		return
	}
	b.open[slot] = append(b.open[slot], openConn{c, i})
	b.dials++
	b.prev[slot] = dial{i, b.dials}
	set := b.conns[i]
	if set == nil {
		set = map[net.Conn]struct{}{}
		b.conns[i] = set
	}
	set[c] = struct{}{}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(set, c)
		if b.open[slot] = slices.DeleteFunc(b.open[slot], func(o openConn) bool { return o.c == c }); len(b.open[slot]) == 0 {
			delete(b.open, slot)
		}
		b.mu.Unlock()
	}()
	up, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(nd.url, "ws://"), "/ws"))
	if err != nil {
		return
	}
	defer up.Close()
	if _, err := io.WriteString(up, line); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, br); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done // either side closed: close both, as a proxy whose peer went away does
	_ = c.Close()
	_ = up.Close()
	<-done
}

// openConn is a client's connection and the node it goes to.
type openConn struct {
	c net.Conn
	i int
}

// nodeOf returns the node of slot's newest open connection.
func (b *balancer) nodeOf(slot string) (int, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	os := b.open[slot]
	if len(os) == 0 {
		return 0, false
	}
	return os[len(os)-1].i, true
}

// dial is a connection through the balancer: its node, and its number
// (the count of connections once it was made).
type dial struct {
	i int
	n uint64
}

// lastDial returns slot's latest connection, even if closed.
func (b *balancer) lastDial(slot string) (dial, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d, ok := b.prev[slot]
	return d, ok
}

// dialCount returns how many connections the balancer has made so far.
func (b *balancer) dialCount() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dials
}

// stick routes slot's later connections (resumes) to node i while it is up.
func (b *balancer) stick(slot string, i int) {
	b.mu.Lock()
	b.stuck[slot] = i
	b.mu.Unlock()
}

// unstick sends slot's later connections to its home node again: a new
// login of its device, whose earlier sessions' node says nothing of it.
// Else every client a drained rolling restart moved stayed on the node it
// moved to for good, and, as each move goes to a node not yet drained, all
// of them ended on one node, which no later kill or partition then hit
// (TestSoakClusterShort with drain: no flow hit by a death).
func (b *balancer) unstick(slot string) {
	b.mu.Lock()
	delete(b.stuck, slot)
	b.mu.Unlock()
}

// cutTo closes the client side of every connection to node i.
func (b *balancer) cutTo(i int) {
	closeConns(&b.mu, func(yield func(net.Conn)) {
		for c := range b.conns[i] {
			yield(c)
		}
	})
}

func (b *balancer) close() {
	_ = b.ln.Close()
	for i := range b.cl.members {
		b.cutTo(i)
	}
	b.wg.Wait()
}
