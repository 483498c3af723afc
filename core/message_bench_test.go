//go:build !js

package core_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// BenchmarkMessageToPeer is one peer message per iteration between two
// core.Clients through a real server over loopback, from SendMessageToPeer
// to the peer's MessageFromPeer, with a 512-byte text (an SDP fragment's
// size). make bench compares the same path with the baseline relay.
func BenchmarkMessageToPeer(b *testing.B) {
	srv := rtmcalltest.NewServer(b, func(c *server.Config) {
		c.RateLimit, c.RateBurst = 1e9, 1<<30
		c.Logger = slog.New(slog.DiscardHandler)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
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
	alice, bob := login("alice"), login("bob")
	got := make(chan struct{}, 1)
	bob.OnMessageFromPeer(func(core.Message, string, core.MessageProps) { got <- struct{}{} })
	msg := core.Message{Text: strings.Repeat("a=candidate:1 1 udp ", 26)[:512]}

	b.ReportAllocs()
	for b.Loop() {
		if _, err := alice.SendMessageToPeer(ctx, "bob", msg); err != nil {
			b.Fatal(err)
		}
		<-got
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "messages/s")
}
