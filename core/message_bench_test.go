//go:build !js

package core_test

import (
	"strings"
	"testing"

	"github.com/rtmcall/rtmcall/core"
)

// BenchmarkMessageToPeer is one peer message per iteration between two
// core.Clients through a real server over loopback, from SendMessageToPeer
// to the peer's MessageFromPeer, with a 512-byte text (an SDP fragment's
// size). make bench compares the same path with the baseline relay.
func BenchmarkMessageToPeer(b *testing.B) {
	ctx, alice, bob := benchClients(b)
	got := make(chan struct{}, 1)
	bob.OnMessageFromPeer(func(core.Message, string, core.MessageProps) { got <- struct{}{} })
	msg := core.Message{Text: strings.Repeat("a=candidate:1 1 udp ", 26)[:512]}

	b.ReportAllocs()
	sched := startSched()
	for b.Loop() {
		if _, err := alice.SendMessageToPeer(ctx, bob.UserID(), msg); err != nil {
			b.Fatal(err)
		}
		<-got
	}
	sched.report(b)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "messages/s")
}
