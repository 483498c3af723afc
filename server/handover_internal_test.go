//go:build !js

package server

import (
	"fmt"
	"slices"
	"testing"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// The cost of a peer message to a user with many devices on one node, none
// claiming a moved session (the common case): their queues closed, so that
// what is measured is the delivery, not the queueing.
// `go test ./server -run '^$' -bench PeerMessageDevices -count 10`.
func BenchmarkPeerMessageDevices(b *testing.B) {
	for _, devices := range []int{4, 64} {
		b.Run(fmt.Sprintf("devices=%d", devices), func(b *testing.B) {
			n := scaleNode(b)
			SimulateSessions(b, n, slices.Repeat([]string{"bob"}, devices))
			n.mu.Lock()
			for s := range n.hub.users["bob"] {
				s.closed = true
			}
			sender := newSession(n, "carol")
			sender.closed = true
			n.mu.Unlock()
			f := &protocol.Frame{Type: protocol.TypeMessage, RID: 1, Peer: "bob", Text: "hi"}
			b.ReportAllocs()
			for b.Loop() {
				n.mu.Lock()
				n.messageLocked(sender, f)
				n.mu.Unlock()
			}
		})
	}
}
