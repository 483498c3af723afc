package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// NATSConfig connects a node to its cluster through NATS: to external
// NATS servers (URL), or to a NATS server the node embeds (Listen), which
// joins the embedded servers of other nodes through routes.
type NATSConfig struct {
	// URL lists the NATS servers to connect to, comma-separated
	// ("nats://10.0.0.1:4222,nats://10.0.0.2:4222"). Empty: embed a server.
	URL string
	// Listen is the embedded server's client address (default
	// 127.0.0.1:4222; port -1 picks a free one).
	Listen string
	// ClusterListen is the embedded server's route address, e.g.
	// "0.0.0.0:6222"; empty: the embedded server has no routes (one node,
	// or other nodes connect to it by URL).
	ClusterListen string
	// Routes are the route URLs of other embedded servers
	// ("nats://10.0.0.2:6222"); one reachable seed is enough, the others
	// are discovered.
	Routes []string
	// ClusterName names the NATS cluster of the embedded servers
	// (default "rtmcall").
	ClusterName string
	// Subject prefixes every subject the nodes use (default "rtmcall"), so
	// that several rtmcall clusters can share one NATS.
	Subject string
	// JetStreamDir turns JetStream on in the embedded server, kept in this
	// directory, for what the nodes store in NATS (the Web Push store,
	// server/store.KV). Clustered, every embedded server then needs
	// Routes: JetStream refuses to start a cluster without them.
	JetStreamDir string
	// ServerName names the embedded server in its cluster (default
	// "rtmcall-<node id>"); JetStream needs the names to differ.
	ServerName string
}

// natsBroker is the Broker of a cluster: a node listens on
// <subject>.node.<id> for what is sent to it and on <subject>.all for
// broadcasts. NATS keeps the order of the messages of one publisher on one
// subject, which is the order Broker promises.
//
// The NATS client reconnects by itself after a link breaks, but closes for
// good when the server refuses a message over its max_payload (a reload
// lowered it since the connection said how large it was): the broker then
// connects again and subscribes again, so that a node is never cut from its
// cluster for good; what was in flight is lost, as for any broken link
// (docs/CLUSTER.md "Lost messages").
type natsBroker struct {
	subject string
	url     string // what the node connected to
	log     *slog.Logger
	ns      *natsserver.Server // the embedded server, or nil
	nc      atomic.Pointer[nats.Conn]
	unicast atomic.Pointer[nats.Subscription] // the node's own subject
	handled atomic.Uint64                     // unicasts deliver returned from
	redials atomic.Uint64                     // connections made again after the client closed one
	// maxPayload is the connection's max_payload, kept when it connects
	// (again): asking the client takes its lock, and a node asks per
	// message (Node.publish).
	maxPayload atomic.Int64

	mu      sync.Mutex
	id      string        // Start's
	deliver func([]byte)  // Start's
	closing bool          // Close began: a connection that closes is not made again
	closed  chan struct{} // closed once the last connection closed after Close
	once    sync.Once
}

var (
	_ Broker         = (*natsBroker)(nil)
	_ UnicastCounter = (*natsBroker)(nil)
	_ PayloadLimiter = (*natsBroker)(nil)
)

// NewNATSBroker returns the broker Config.NATS makes, for a Config.Broker
// that wraps it (rtmcalltest injects loss this way). The node that takes
// it closes it.
func NewNATSBroker(cfg NATSConfig, log *slog.Logger) (Broker, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return newNATSBroker(cfg, log)
}

// newNATSBroker starts the embedded server if there is one, and connects.
func newNATSBroker(cfg NATSConfig, log *slog.Logger) (*natsBroker, error) {
	b := &natsBroker{subject: cfg.Subject, log: log, closed: make(chan struct{})}
	if b.subject == "" {
		b.subject = "rtmcall"
	}
	url := cfg.URL
	if url == "" {
		ns, err := startNATSServer(cfg)
		if err != nil {
			return nil, err
		}
		b.ns, url = ns, ns.ClientURL()
	}
	b.url = url
	nc, err := b.connect()
	if err != nil {
		b.shutdownServer()
		return nil, fmt.Errorf("failed to connect to NATS at %s: %w", url, err)
	}
	// A page of the directory (dirPageBytes) must go through: refuse to
	// start rather than lose snapshots later.
	if err := checkPayload(nc); err != nil {
		nc.Close()
		b.shutdownServer()
		return nil, err
	}
	b.nc.Store(nc)
	b.maxPayload.Store(nc.MaxPayload())
	return b, nil
}

// checkPayload is ErrNATSPayload if nc's server takes messages smaller
// than rtmcall needs.
func checkPayload(nc *nats.Conn) error {
	if max := nc.MaxPayload(); max < minNATSPayload {
		return fmt.Errorf("%w: the NATS server at %s has max_payload %d bytes; rtmcall needs at least %d (512 KiB): raise max_payload in the NATS server's configuration",
			ErrNATSPayload, nc.ConnectedUrlRedacted(), max, minNATSPayload)
	}
	return nil
}

// warnPayload logs, once a connection is back, a server that takes smaller
// messages than rtmcall needs: larger ones are refused from then on.
func (b *natsBroker) warnPayload(nc *nats.Conn) {
	if err := checkPayload(nc); err != nil {
		b.log.Error("NATS server takes smaller messages than rtmcall needs: larger ones are refused", "err", err)
	}
}

// connect makes a connection to b.url.
func (b *natsBroker) connect() (*nats.Conn, error) {
	return nats.Connect(b.url,
		nats.Name("rtmcall-server"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			b.log.Warn("NATS connection lost", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.log.Info("NATS connection back", "server", nc.ConnectedUrlRedacted(), "max_payload", nc.MaxPayload())
			if b.nc.Load() == nc { // not one the broker replaced since
				b.maxPayload.Store(nc.MaxPayload())
			}
			b.warnPayload(nc)
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			b.log.Error("NATS error", "err", err)
		}),
		nats.ClosedHandler(b.onClosed),
	)
}

// onClosed is a connection's ClosedHandler: after Close it lets Close
// return; before, the client gave the connection up (a max_payload
// violation), and the broker connects again.
func (b *natsBroker) onClosed(nc *nats.Conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing || b.deliver == nil {
		if b.nc.Load() == nc || b.deliver == nil {
			b.once.Do(func() { close(b.closed) })
		}
		return
	}
	b.log.Error("NATS connection closed by the client: connecting again; what was in flight is lost",
		"err", nc.LastError(), "max_payload", nc.MaxPayload())
	go b.redial(nc)
}

// redial replaces the closed connection old, with backoff, until it is
// made and subscribed or Close begins.
func (b *natsBroker) redial(old *nats.Conn) {
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		nc, err := b.connect()
		if err == nil {
			b.mu.Lock()
			if b.closing {
				b.mu.Unlock()
				nc.Close()
				return
			}
			b.nc.Store(nc)
			b.maxPayload.Store(nc.MaxPayload())
			err = b.subscribe()
			b.mu.Unlock()
			if err == nil {
				b.redials.Add(1)
				b.log.Warn("NATS connection made again", "server", nc.ConnectedUrlRedacted(), "max_payload", nc.MaxPayload())
				b.warnPayload(nc)
				return
			}
			nc.Close() // its handler dials again
			return
		}
		b.log.Error("NATS connection not made again", "err", err, "retry_in", wait)
		b.mu.Lock()
		closing := b.closing
		b.mu.Unlock()
		if closing {
			return
		}
		select {
		case <-time.After(wait): // a backoff between attempts
		case <-b.closed:
			return
		}
	}
}

// MaxPayload is the largest message the NATS server takes, as the
// connection last heard it when it connected (PayloadLimiter).
func (b *natsBroker) MaxPayload() int { return int(b.maxPayload.Load()) }

// NATSURL is the NATS the node is connected to, its embedded server's or
// Config.NATS.URL, for other clients of the same NATS (server/store.KV);
// empty for a node without NATS.
func (n *Node) NATSURL() string {
	if b, ok := n.broker.(*natsBroker); ok {
		return b.url
	}
	return ""
}

// startNATSServer starts an embedded NATS server for cfg.
func startNATSServer(cfg NATSConfig) (*natsserver.Server, error) {
	listen := cfg.Listen
	if listen == "" {
		listen = "127.0.0.1:4222"
	}
	host, port, err := splitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("%w: NATS Listen %q: %v", ErrInvalidConfig, listen, err)
	}
	opts := &natsserver.Options{Host: host, Port: port, NoLog: true, NoSigs: true, ServerName: cfg.ServerName}
	if cfg.JetStreamDir != "" {
		opts.JetStream, opts.StoreDir = true, cfg.JetStreamDir
	}
	if cfg.ClusterListen != "" {
		ch, cp, err := splitHostPort(cfg.ClusterListen)
		if err != nil {
			return nil, fmt.Errorf("%w: NATS ClusterListen %q: %v", ErrInvalidConfig, cfg.ClusterListen, err)
		}
		opts.Cluster = natsserver.ClusterOpts{Name: cfg.ClusterName, Host: ch, Port: cp}
		if opts.Cluster.Name == "" {
			opts.Cluster.Name = "rtmcall"
		}
		if len(cfg.Routes) > 0 {
			opts.Routes = natsserver.RoutesFromStr(strings.Join(cfg.Routes, ","))
			if len(opts.Routes) != len(cfg.Routes) {
				return nil, fmt.Errorf("%w: NATS Routes %q", ErrInvalidConfig, cfg.Routes)
			}
		}
	} else if len(cfg.Routes) > 0 {
		return nil, fmt.Errorf("%w: NATS Routes need a ClusterListen address", ErrInvalidConfig)
	}
	ns, err := natsserver.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("failed to make the embedded NATS server: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, errors.New("the embedded NATS server did not start within 10s")
	}
	return ns, nil
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, err
	}
	return host, port, nil
}

func (b *natsBroker) nodeSubject(id string) string { return b.subject + ".node." + id }

// Start subscribes to the node's subject and to the broadcasts. Each
// subscription delivers in order from its own goroutine, without limits
// on what it holds (a slow node must not lose messages).
func (b *natsBroker) Start(id string, deliver func([]byte)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.id, b.deliver = id, deliver
	return b.subscribe()
}

// subscribe subscribes the current connection. b.mu is held.
func (b *natsBroker) subscribe() error {
	nc := b.nc.Load()
	for i, subj := range []string{b.nodeSubject(b.id), b.subject + ".all"} {
		deliver := b.deliver
		handler := func(m *nats.Msg) { deliver(m.Data) }
		if i == 0 {
			handler = func(m *nats.Msg) { deliver(m.Data); b.handled.Add(1) }
		}
		sub, err := nc.Subscribe(subj, handler)
		if err != nil {
			return fmt.Errorf("failed to subscribe to %s: %w", subj, err)
		}
		if err := sub.SetPendingLimits(-1, -1); err != nil {
			return fmt.Errorf("failed to lift the limits of %s: %w", subj, err)
		}
		if i == 0 {
			b.unicast.Store(sub)
		}
	}
	// The subscriptions reach the server before anything this node sends.
	return nc.Flush()
}

// Unicasts counts the unicasts to this node (UnicastCounter): those
// deliver returned from, plus those the NATS client holds for the
// subscription, which include the one in deliver. The queue is read
// first: a message that completes meanwhile is counted twice, never missed.
func (b *natsBroker) Unicasts() (received, handled uint64) {
	sub := b.unicast.Load()
	if sub == nil {
		return 0, 0
	}
	queued, _, err := sub.Pending()
	handled = b.handled.Load()
	if err != nil || queued < 0 {
		queued = 0
	}
	return handled + uint64(queued), handled
}

func (b *natsBroker) Send(id string, data []byte) error {
	return publishErr(b.nc.Load().Publish(b.nodeSubject(id), data))
}

func (b *natsBroker) Broadcast(data []byte) error {
	return publishErr(b.nc.Load().Publish(b.subject+".all", data))
}

// publishErr names the client's own payload refusal ErrTooLarge.
func publishErr(err error) error {
	if errors.Is(err, nats.ErrMaxPayload) {
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	return err
}

// Close sends what is buffered, stops the subscriptions once their
// handlers return, and stops the embedded server.
func (b *natsBroker) Close(ctx context.Context) error {
	b.mu.Lock()
	already := b.closing
	b.closing = true
	b.mu.Unlock()
	if already {
		<-b.closed
		return nil
	}
	nc := b.nc.Load()
	var err error
	if derr := nc.Drain(); derr != nil && !errors.Is(derr, nats.ErrConnectionClosed) {
		nc.Close() // reconnecting: nothing to drain
	}
	if nc.IsClosed() {
		b.once.Do(func() { close(b.closed) }) // closed before Close: its handler may have run already
	}
	select {
	case <-b.closed:
	case <-ctx.Done():
		nc.Close()
		<-b.closed
		err = ctx.Err()
	}
	b.shutdownServer()
	return err
}

func (b *natsBroker) shutdownServer() {
	if b.ns != nil {
		b.ns.Shutdown()
		b.ns.WaitForShutdown()
	}
}
