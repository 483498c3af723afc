//go:build !js

package core_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// benchLogin logs a client in on url for a benchmark.
func benchLogin(b *testing.B, url, user string) *core.Client {
	b.Helper()
	c, err := core.NewClient(core.Options{URL: url, Logf: func(string, ...any) {}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	if err := c.Login(context.Background(), user, ""); err != nil {
		b.Fatal(err)
	}
	return c
}

// flowPair is a caller and a callee that accepts every invitation.
type flowPair struct {
	caller   *core.Client
	received chan time.Time
}

func newFlowPair(b *testing.B, callerURL, calleeURL, name string) *flowPair {
	b.Helper()
	p := &flowPair{caller: benchLogin(b, callerURL, "caller-"+name), received: make(chan time.Time, 1)}
	callee := benchLogin(b, calleeURL, "callee-"+name)
	callee.OnInvitationReceived(func(r *core.RemoteInvitation) {
		p.received <- time.Now()
		go func() { _ = r.Accept(context.Background()) }()
	})
	return p
}

// flow runs one complete invitation (send, receipt, accept, confirmation)
// and returns the time from Send to the callee's RemoteInvitationReceived.
func (p *flowPair) flow(b *testing.B) time.Duration {
	l, err := p.caller.CreateLocalInvitation(calleeOf(p))
	if err != nil {
		b.Fatal(err)
	}
	accepted := make(chan struct{})
	l.OnAccepted(func(string) { close(accepted) })
	start := time.Now()
	if err := l.Send(context.Background()); err != nil {
		b.Fatal(err)
	}
	got := <-p.received
	select {
	case <-accepted:
	case <-time.After(10 * time.Second):
		b.Fatal("no LocalInvitationAccepted within 10 s")
	}
	if err := l.Hangup(context.Background()); err != nil { // or the callee stays busy
		b.Fatal(err)
	}
	return got.Sub(start)
}

// unlimited lifts the per-connection rate limit (60 frames/s): a benchmark
// caller places flows back to back, far faster than a person would.
func unlimited(c *server.Config) { c.RateLimit, c.RateBurst = 1e9, 1e9 }

func calleeOf(p *flowPair) string { return "callee-" + p.caller.UserID()[len("caller-"):] }

// BenchmarkClusterInvite measures send → RemoteInvitationReceived on a
// three-node cluster on embedded NATS, with the callee on the caller's node
// and on another node; the p50 difference is what crossing nodes costs.
// One flow at a time: a latency, not a throughput.
func BenchmarkClusterInvite(b *testing.B) {
	cl := rtmcalltest.NewClusterDirect(b, 3, unlimited)
	// The pairs outlive the sub-benchmarks' runs: b.Run calls its function
	// more than once, and a second login would be a second ringing device.
	same := newFlowPair(b, cl.Nodes[0].URL, cl.Nodes[0].URL, "same-node")
	cross := newFlowPair(b, cl.Nodes[0].URL, cl.Nodes[1].URL, "cross-node")
	cl.Sync()
	for _, tc := range []struct {
		name string
		p    *flowPair
	}{{"same-node", same}, {"cross-node", cross}} {
		b.Run(tc.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				lat = append(lat, tc.p.flow(b))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-send-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-send-µs")
		})
	}
}

// BenchmarkClusterThroughput runs complete flows on a three-node cluster,
// 30 pairs with caller and callee on different nodes, 30 flows in flight.
func BenchmarkClusterThroughput(b *testing.B) {
	const pairs = 30
	cl := rtmcalltest.NewClusterDirect(b, 3, unlimited)
	ps := make([]*flowPair, pairs)
	for i := range ps {
		ps[i] = newFlowPair(b, cl.Nodes[i%3].URL, cl.Nodes[(i+1)%3].URL, fmt.Sprint(i))
	}
	cl.Sync()
	work := make(chan struct{})
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for _, p := range ps {
		wg.Go(func() {
			for range work {
				p.flow(b)
			}
		})
	}
	for range b.N {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "flows/s")
}
