package rtmcalltest

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Balancer is the load balancer in front of a Cluster: a TCP proxy that
// sends each new connection to the next node, in turn, whose /healthz
// answers 200, so that a draining node (503) gets no new clients, and a
// restarted node gets them again. Dial URL.
type Balancer struct {
	// URL is the balanced WebSocket endpoint.
	URL string

	p    *Proxy
	cl   *Cluster
	http *http.Client

	mu   sync.Mutex
	next int
	held chan struct{} // not nil while Hold is on: new connections wait
}

// NewBalancer starts a balancer over cl's nodes and closes it when the
// test ends.
func NewBalancer(tb testing.TB, cl *Cluster) *Balancer {
	tb.Helper()
	b := &Balancer{cl: cl, http: &http.Client{Timeout: time.Second}}
	b.p = newTCPProxy(tb, "")
	b.p.mu.Lock()
	b.p.pick = b.pick
	b.p.mu.Unlock()
	b.URL = "ws://" + b.p.ln.Addr().String() + "/ws"
	tb.Cleanup(b.http.CloseIdleConnections)
	tb.Cleanup(func() { b.Hold(false) }) // before the proxy closes: its accept loop may wait
	return b
}

// Hold makes new connections wait (connected to the balancer, not yet to a
// node) while on: a client that moves stays between nodes until Hold(false).
func (b *Balancer) Hold(on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case on && b.held == nil:
		b.held = make(chan struct{})
	case !on && b.held != nil:
		close(b.held)
		b.held = nil
	}
}

// LoseReplies makes the next n connections lose what their node sends
// after the upgrade (Proxy.LoseReplies).
func (b *Balancer) LoseReplies(n int) { b.p.LoseReplies(n) }

// pick returns the address of the next healthy node, or "" if none is.
func (b *Balancer) pick() string {
	b.mu.Lock()
	held := b.held
	b.mu.Unlock()
	if held != nil {
		<-held
	}
	n := len(b.cl.Nodes)
	b.mu.Lock()
	start := b.next
	b.next = (b.next + 1) % n
	b.mu.Unlock()
	for k := range n {
		srv := b.cl.Node((start + k) % n)
		if b.healthy(srv.HTTPURL) {
			return strings.TrimPrefix(srv.HTTPURL, "http://")
		}
	}
	return ""
}

func (b *Balancer) healthy(base string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := b.http.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
