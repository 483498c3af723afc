//go:build !js

package server_test

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// BenchmarkGroupRing is the time from a send until the last of 16
// callees is rung: one group invitation (group16) against 16 one-callee
// invitations sent back to back (single16), in the same run, over a real
// node and loopback WebSockets. Each iteration then cancels, untimed.
func BenchmarkGroupRing(b *testing.B) {
	for _, group := range []bool{true, false} {
		name := "single16"
		if group {
			name = "group16"
		}
		b.Run(name, func(b *testing.B) {
			srv := rtmcalltest.NewServer(b, unlimited, func(c *server.Config) { c.Logger = slog.New(slog.DiscardHandler) })
			caller := login(b, srv, "boss")
			callees := make([]*client, protocol.MaxGroupCallees)
			ids := make([]string, len(callees))
			for i := range callees {
				ids[i] = fmt.Sprintf("agent%02d", i)
				callees[i] = login(b, srv, ids[i])
			}
			acked := map[*client]uint64{}
			ack := func(c *client) { acked[c] = c.ok(&protocol.Frame{Type: protocol.TypePing, Ack: acked[c]}).Seq }
			b.ResetTimer()
			for b.Loop() {
				var invs []string
				if group {
					invs = append(invs, caller.sendGroup(protocol.GroupFirst, ids...))
				} else {
					for _, id := range ids {
						invs = append(invs, caller.send(id))
					}
				}
				for _, c := range callees {
					c.expect(protocol.TypeInvite, "")
				}
				b.StopTimer()
				for _, inv := range invs {
					reply, _ := caller.do(frame(protocol.TypeCancel, inv))
					requireOK(b, reply)
				}
				for _, c := range callees {
					c.expect(protocol.TypeRemoteCanceled, "")
					ack(c)
				}
				ack(caller)
				b.StartTimer()
			}
		})
	}
}

func requireOK(b *testing.B, f *protocol.Frame) {
	if f.Type != protocol.TypeOK {
		b.Fatalf("want ok, got %+v", f)
	}
}
