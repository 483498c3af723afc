//go:build !js

package soak

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"time"

	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// slotParam is the query parameter naming the device a connection belongs
// to, so that the harness can cut that connection (the server ignores the
// query: it only checks the path).
const slotParam = "soak-slot"

// node is one server.Node on a real loopback listener, with the TCP
// connection of every device at hand so that a flow can cut it.
type node struct {
	name string
	url  string // ws://127.0.0.1:PORT/ws
	n    *server.Node
	hs   *http.Server
	done chan error               // Serve's result
	gone chan struct{}            // closed when a cluster's chaos kills the node
	loss *rtmcalltest.LossyBroker // in a cluster: what the node sends its peers goes through it

	mu    sync.Mutex
	conns map[string]map[net.Conn]struct{} // by device slot: a reconnecting client may have several
}

type connKey struct{}

func startNode(name string, cfg server.Config) (*node, error) {
	n, err := server.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("failed to make node %s: %w", name, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("failed to listen for node %s: %w", name, err)
	}
	nd := &node{name: name, n: n, conns: make(map[string]map[net.Conn]struct{}), done: make(chan error, 1), gone: make(chan struct{}),
		url: "ws://" + ln.Addr().String() + "/ws"}
	nd.hs = &http.Server{
		Handler:           nd,
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext:       func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) },
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	go func() { nd.done <- nd.hs.Serve(trackingListener{ln}) }()
	return nd, nil
}

// ServeHTTP hands the request to the node, remembering the connection of
// the device named in the query until it is closed (the node serves a
// WebSocket after its handler returned).
func (nd *node) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	slot := r.URL.Query().Get(slotParam)
	c, _ := r.Context().Value(connKey{}).(*trackedConn)
	if slot != "" && c != nil {
		nd.mu.Lock()
		set := nd.conns[slot]
		if set == nil {
			set = make(map[net.Conn]struct{})
			nd.conns[slot] = set
		}
		set[c] = struct{}{}
		c.closed = func() {
			nd.mu.Lock()
			if delete(set, c); len(set) == 0 && nd.conns[slot] != nil && len(nd.conns[slot]) == 0 {
				delete(nd.conns, slot)
			}
			nd.mu.Unlock()
		}
		nd.mu.Unlock()
	}
	nd.n.ServeHTTP(w, r)
}

// trackingListener hands out trackedConns.
type trackingListener struct{ net.Listener }

func (l trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &trackedConn{Conn: c}, nil
}

// trackedConn forgets itself when closed. It passes the TCP connection's
// SyscallConn through, as the server uses it to read.
type trackedConn struct {
	net.Conn
	once   sync.Once
	closed func() // set once the connection's slot is known
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		if c.closed != nil {
			c.closed()
		}
	})
	return c.Conn.Close()
}

func (c *trackedConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}

// clientURL is the URL a device in slot dials.
func (nd *node) clientURL(slot string) string {
	return nd.url + "?" + slotParam + "=" + url.QueryEscape(slot)
}

// cut closes the TCP connections of slot under both ends, as a network
// failure would: no close frame, no logout. It reports whether there was
// one.
func (nd *node) cut(slot string) bool {
	return closeConns(&nd.mu, func(yield func(net.Conn)) {
		for c := range nd.conns[slot] {
			yield(c)
		}
	}) > 0
}

// closeConns closes the connections each lists under mu, after releasing
// it (a closed connection forgets itself under mu), and returns how many.
func closeConns(mu *sync.Mutex, each func(yield func(net.Conn))) int {
	mu.Lock()
	var cs []net.Conn
	each(func(c net.Conn) { cs = append(cs, c) })
	mu.Unlock()
	for _, c := range cs {
		_ = c.Close()
	}
	return len(cs)
}

// cutAll closes every TCP connection of the node's devices, as the death
// of its process would.
func (nd *node) cutAll() {
	closeConns(&nd.mu, func(yield func(net.Conn)) {
		for _, set := range nd.conns {
			for c := range set {
				yield(c)
			}
		}
	})
}

// stop shuts the node down and closes its listener.
func (nd *node) stop(ctx context.Context) error {
	err := nd.n.Shutdown(ctx)
	if cerr := nd.hs.Shutdown(ctx); cerr != nil && err == nil {
		err = cerr
	}
	if serr := <-nd.done; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
