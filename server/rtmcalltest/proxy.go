package rtmcalltest

import (
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy forwards TCP connections to a server so that a test can fail the
// network under a client for real: Drop cuts every connection without a
// close frame, Block refuses new ones, Freeze stops forwarding on the
// current ones while keeping them open (a dead link that only a heartbeat
// notices), Stall holds what servers send until it is turned off (a slow
// link: nothing is lost).
type Proxy struct {
	// URL is the proxied WebSocket endpoint; dial it instead of the server's.
	URL string

	tb     testing.TB
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu      sync.Mutex
	blocked bool
	stalled chan struct{} // closed when Stall is turned off; nil when not stalled
	conns   map[*pair]struct{}
	// pick, when set, chooses each new connection's target ("" refuses it):
	// a Balancer's.
	pick func() string
}

type pair struct {
	client, server net.Conn
	frozen         atomic.Bool // bytes are read and dropped: a black hole
}

// NewProxy starts a proxy to srv on 127.0.0.1 and closes it when the test ends.
func NewProxy(tb testing.TB, srv *Server) *Proxy {
	tb.Helper()
	p := newTCPProxy(tb, strings.TrimPrefix(srv.HTTPURL, "http://"))
	p.URL = "ws://" + p.ln.Addr().String() + "/ws"
	return p
}

// newTCPProxy starts a proxy to any TCP address (a NATS route: Cluster).
func newTCPProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("rtmcalltest: proxy: %v", err)
	}
	p := &Proxy{tb: tb, ln: ln, target: target, conns: make(map[*pair]struct{})}
	p.wg.Add(1)
	go p.accept()
	tb.Cleanup(p.close)
	return p
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		blocked, target, pick := p.blocked, p.target, p.pick
		p.mu.Unlock()
		if pick != nil && !blocked {
			target = pick()
		}
		if blocked || target == "" {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			continue
		}
		pr := &pair{client: c, server: s}
		p.mu.Lock()
		p.conns[pr] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(pr, c, s)
		go p.pipe(pr, s, c)
	}
}

// pipe copies src to dst until either ends; a frozen pair swallows what it
// reads, so both ends stay connected and hear nothing.
func (p *Proxy) pipe(pr *pair, dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if dst == pr.client {
			p.mu.Lock()
			stalled := p.stalled
			p.mu.Unlock()
			if stalled != nil {
				<-stalled
			}
		}
		if n > 0 && !pr.frozen.Load() {
			if _, err := dst.Write(buf[:n]); err != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	p.cut(pr)
}

func (p *Proxy) cut(pr *pair) {
	pr.client.Close()
	pr.server.Close()
	p.mu.Lock()
	delete(p.conns, pr)
	p.mu.Unlock()
}

// Drop cuts every current connection at once, as a network failure would:
// no close frame reaches either side.
func (p *Proxy) Drop() {
	p.mu.Lock()
	var prs []*pair
	for pr := range p.conns {
		prs = append(prs, pr)
	}
	p.mu.Unlock()
	for _, pr := range prs {
		p.cut(pr)
	}
}

// Freeze silences every current connection without closing it: a link that
// died without telling anyone. New connections are not frozen.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for pr := range p.conns {
		pr.frozen.Store(true)
	}
}

// Retarget sends new connections to srv instead, as if the server had
// restarted at the same address.
func (p *Proxy) Retarget(srv *Server) {
	p.mu.Lock()
	p.target = strings.TrimPrefix(srv.HTTPURL, "http://")
	p.mu.Unlock()
}

// Block makes the proxy refuse (accept and close at once) new connections
// while on.
func (p *Proxy) Block(on bool) {
	p.mu.Lock()
	p.blocked = on
	p.mu.Unlock()
}

// Stall holds, in order, what servers send to clients while on; turning it
// off delivers it. Clients to servers flows as before.
func (p *Proxy) Stall(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case on && p.stalled == nil:
		p.stalled = make(chan struct{})
	case !on && p.stalled != nil:
		close(p.stalled)
		p.stalled = nil
	}
}

func (p *Proxy) close() {
	p.Stall(false)
	p.ln.Close()
	p.Drop()
	p.wg.Wait()
}
