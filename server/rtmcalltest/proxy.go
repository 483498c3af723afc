package rtmcalltest

import (
	"bytes"
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
// link: nothing is lost), LoseReplies lets a new connection's first request
// through and loses what comes back.
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
	lose    int // LoseReplies: so many new connections yet
	// pick, when set, chooses each new connection's target ("" refuses it):
	// a Balancer's.
	pick func() string
}

type pair struct {
	client, server net.Conn
	frozen         atomic.Bool // bytes are read and dropped: a black hole
	mute           bool        // what the server sends after its HTTP head is dropped
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
		if p.lose > 0 {
			p.lose--
			pr.mute = true
		}
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
	var head []byte // a muted pair's: what the server sent of its HTTP head so far
	for {
		n, err := src.Read(buf)
		if dst == pr.client {
			p.mu.Lock()
			stalled := p.stalled
			p.mu.Unlock()
			if stalled != nil {
				<-stalled
			}
			if pr.mute {
				n = muted(&head, buf[:n])
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

// muted returns how much of b, what the server of a muted pair sent next,
// goes to the client: up to the end of the HTTP head (the upgrade's
// answer), nothing after it. head is what came of the head before.
func muted(head *[]byte, b []byte) int {
	const end = "\r\n\r\n"
	if bytes.HasSuffix(*head, []byte(end)) {
		return 0
	}
	before := len(*head)
	*head = append(*head, b...)
	if i := bytes.Index(*head, []byte(end)); i >= 0 {
		*head = (*head)[:i+len(end)]
		return len(*head) - before
	}
	return len(b)
}

// LoseReplies makes the next n new connections lose every frame the server
// sends (the answer to the upgrade goes through): a client's first request,
// a login, reaches its node, and the reply never reaches the client, as
// when a connection drops right after the request.
func (p *Proxy) LoseReplies(n int) {
	p.mu.Lock()
	p.lose = n
	p.mu.Unlock()
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
