//go:build !js

package server_test

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
	"github.com/rtmcall/rtmcall/server/webhook"
)

// blackHole accepts TCP connections and never answers: a webhook endpoint
// that is down in the worst way, holding every attempt until its timeout.
func blackHole(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String() + "/hooks"
}

// BenchmarkInvitationDeadWebhook measures an invitation's flow (send,
// invite, ack, receipt, accept, confirmation, hang-up) on a node whose webhook
// endpoint is down (a black hole) against a node without webhooks, in the
// same run, and against a node whose events go to an observer that drops
// them (ratio-vs-observed: the cost of the endpoint alone, the making of
// the events aside). The arms take turns; ratio is dead/none of the mean
// flow time. The dead endpoint's queue fills and then drops: neither may
// slow an invitation.
func BenchmarkInvitationDeadWebhook(b *testing.B) {
	quiet := func(c *server.Config) {
		c.RateLimit, c.RateBurst = 1e9, 1<<30
		c.Logger = slog.New(slog.DiscardHandler)
	}
	hooks, err := webhook.New(webhook.Config{URLs: []string{blackHole(b)}, Secret: webhook.NewSecret(),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = hooks.Close(ctx) // abandons what the black hole holds
	})
	observe := func(c *server.Config) {
		c.Observer = server.ObserverFunc(func(e server.Event) { _, _ = hooks.Send(e.Type, e.Data()) })
	}
	// none: no webhooks; observed: events made and handed to an observer
	// that drops them; dead: sent to the black hole.
	arms := []*flowPair{
		newFlowPair(b, rtmcalltest.NewServer(b, quiet)),
		newFlowPair(b, rtmcalltest.NewServer(b, quiet, func(c *server.Config) { c.Observer = server.ObserverFunc(func(server.Event) {}) })),
		newFlowPair(b, rtmcalltest.NewServer(b, quiet, observe)),
	}
	spent := make([]time.Duration, len(arms))
	i := 0
	for b.Loop() {
		for k := range arms { // rotate which goes first, so that none gains from another's warm-up
			j := (i + k) % len(arms)
			start := time.Now()
			arms[j].flow()
			spent[j] += time.Since(start)
		}
		i++
	}
	n := float64(b.N)
	b.ReportMetric(float64(spent[0].Nanoseconds())/n, "ns/flow-none")
	b.ReportMetric(float64(spent[2].Nanoseconds())/n, "ns/flow-dead")
	b.ReportMetric(float64(spent[2])/float64(spent[0]), "ratio")
	b.ReportMetric(float64(spent[2])/float64(spent[1]), "ratio-vs-observed")
}

// flowPair is a caller and a callee on one node.
type flowPair struct {
	alice, bob *client
	flows      int
}

func newFlowPair(b *testing.B, srv *rtmcalltest.Server) *flowPair {
	return &flowPair{alice: login(b, srv, "alice"), bob: login(b, srv, "bob")}
}

// flow runs one accepted invitation and its hang-up, and acknowledges the streams every 32
// flows, as a client must.
func (p *flowPair) flow() {
	inv := p.alice.send("bob")
	p.bob.expect(protocol.TypeInvite, inv)
	p.bob.ack(inv)
	p.alice.expect(protocol.TypeLocalReceived, inv)
	p.bob.answered(&protocol.Frame{Type: protocol.TypeAccept, Inv: inv}, protocol.TypeRemoteAccepted)
	p.alice.expect(protocol.TypeLocalAccepted, inv)
	p.alice.answered(frame(protocol.TypeHangup, inv), protocol.TypeCallEnded+" HANGUP") // bob is free for the next
	p.bob.expect(protocol.TypeCallEnded, inv)
	if p.flows++; p.flows%32 == 0 {
		for _, c := range []*client{p.alice, p.bob} {
			r := c.ok(&protocol.Frame{Type: protocol.TypePing})
			c.ok(&protocol.Frame{Type: protocol.TypePing, Ack: r.Seq})
		}
	}
}
