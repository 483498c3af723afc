//go:build !js

package core_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// BenchmarkClientFlow is one complete invitation per iteration between two
// core.Clients through a real server over loopback: Send, the callee's
// RemoteInvitationReceived, the caller's receipt, Accept and the caller's
// LocalInvitationAccepted. It measures the client library and the server
// together, in one process.
func BenchmarkClientFlow(b *testing.B) {
	ctx, alice, bob := benchClients(b)
	invites := make(chan *core.RemoteInvitation, 1)
	bob.OnInvitationReceived(func(r *core.RemoteInvitation) { invites <- r })

	b.ReportAllocs()
	for b.Loop() {
		inv, err := alice.CreateLocalInvitation("bob")
		if err != nil {
			b.Fatal(err)
		}
		received := make(chan struct{})
		accepted := make(chan struct{})
		inv.OnReceivedByPeer(func() { close(received) })
		inv.OnAccepted(func(string) { close(accepted) })
		if err := inv.Send(ctx); err != nil {
			b.Fatal(err)
		}
		r := <-invites
		<-received
		if err := r.Accept(ctx); err != nil {
			b.Fatal(err)
		}
		<-accepted
		if err := inv.Hangup(ctx); err != nil { // the call goes on until hang-up; bob would be busy
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "flows/s")
}

// benchClients starts a server without a rate limit and logs in alice and
// bob; the context bounds the benchmark.
func benchClients(b *testing.B) (ctx context.Context, alice, bob *core.Client) {
	srv := rtmcalltest.NewServer(b, func(c *server.Config) {
		c.RateLimit, c.RateBurst = 1e9, 1<<30
		c.Logger = slog.New(slog.DiscardHandler)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	b.Cleanup(cancel)
	login := func(user string) *core.Client {
		c, err := core.NewClient(core.Options{URL: srv.URL, Logf: b.Logf})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		if err := c.Login(ctx, user, ""); err != nil {
			b.Fatal(err)
		}
		return c
	}
	return ctx, login("alice"), login("bob")
}
