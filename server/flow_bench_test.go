//go:build !js

package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// benchServer starts a node without rate limit or logs, and a context
// for the benchmark's reads and writes.
func benchServer(b *testing.B) (*rtmcalltest.Server, context.Context) {
	srv := rtmcalltest.NewServer(b, func(c *server.Config) {
		c.RateLimit, c.RateBurst = 1e9, 1<<30
		c.Logger = slog.New(slog.DiscardHandler)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	b.Cleanup(cancel)
	return srv, ctx
}

// BenchmarkServerFlow is the server's hot path: one complete invitation
// (send, invite, ack, receipt, accept, confirmation) per iteration, through
// a real node over loopback WebSockets, driven by two bare protocol clients
// in the benchmark's goroutine (no client library). Its allocations are the
// node's and coder/websocket's on both ends.
func BenchmarkServerFlow(b *testing.B) {
	srv, ctx := benchServer(b)

	type conn struct {
		ws    *websocket.Conn
		rid   uint64
		seq   uint64 // the highest seq read
		acked uint64
	}
	write := func(c *conn, f *protocol.Frame) uint64 {
		c.rid++
		f.RID = c.rid
		data, err := protocol.Encode(f)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.ws.Write(ctx, websocket.MessageText, data); err != nil {
			b.Fatal(err)
		}
		return c.rid
	}
	// until reads c's frames up to one of type typ (and request id rid,
	// for replies), acknowledging the stream every 64 frames as a client must.
	until := func(c *conn, typ string, rid uint64) *protocol.Frame {
		for {
			_, data, err := c.ws.Read(ctx)
			if err != nil {
				b.Fatal(err)
			}
			f, err := protocol.Decode(data)
			if err != nil {
				b.Fatal(err)
			}
			c.seq = max(c.seq, f.Seq)
			if f.Type == protocol.TypeError {
				b.Fatalf("error while waiting for %s: %v", typ, f.Err())
			}
			if c.seq >= c.acked+64 {
				c.acked = c.seq
				write(c, &protocol.Frame{Type: protocol.TypePing, Ack: c.acked})
			}
			if f.Type == typ && (rid == 0 || f.RID == rid) {
				return f
			}
		}
	}
	login := func(user string) *conn {
		ws, _, err := websocket.Dial(ctx, srv.URL, &websocket.DialOptions{Subprotocols: []string{protocol.Subprotocol}})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { ws.Close(websocket.StatusNormalClosure, "") })
		c := &conn{ws: ws}
		until(c, protocol.TypeOK, write(c, &protocol.Frame{Type: protocol.TypeLogin, User: user}))
		return c
	}
	alice, bob := login("alice"), login("bob")

	b.ReportAllocs()
	for b.Loop() {
		sent := write(alice, &protocol.Frame{Type: protocol.TypeSend, Callee: "bob",
			Content: "video call from alice: join?", Channel: "room-000123"})
		inv := until(bob, protocol.TypeInvite, 0).Inv
		until(alice, protocol.TypeOK, sent)
		write(bob, &protocol.Frame{Type: protocol.TypeAck, Inv: inv}) // no reply when carried out
		until(alice, protocol.TypeLocalReceived, 0)
		// An accept's reply is its remote.accepted, a hangup's its call.ended.
		until(bob, protocol.TypeRemoteAccepted, write(bob, &protocol.Frame{Type: protocol.TypeAccept, Inv: inv, Response: "on my way"}))
		until(alice, protocol.TypeLocalAccepted, 0)
		// The call goes on until hang-up: end it, or the next send finds bob busy.
		until(alice, protocol.TypeCallEnded, write(alice, &protocol.Frame{Type: protocol.TypeHangup, Inv: inv}))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "flows/s")
}

// BenchmarkServerHeartbeat is one heartbeat of a logged-in bare client:
// a ping acknowledging the stream, and its ok. Its allocations are the
// node's and coder/websocket's on both ends: what idle connections cost
// the collector.
func BenchmarkServerHeartbeat(b *testing.B) {
	srv, ctx := benchServer(b)
	ws, _, err := websocket.Dial(ctx, srv.URL, &websocket.DialOptions{Subprotocols: []string{protocol.Subprotocol}})
	if err != nil {
		b.Fatal(err)
	}
	defer ws.Close(websocket.StatusNormalClosure, "")
	var rid, seq uint64
	var buf []byte
	roundTrip := func(f *protocol.Frame) {
		rid++
		f.RID = rid
		seq = roundTripOK(b, ctx, ws, f, &buf)
	}
	roundTrip(&protocol.Frame{Type: protocol.TypeLogin, User: "alice"})
	b.ReportAllocs()
	for b.Loop() {
		roundTrip(&protocol.Frame{Type: protocol.TypePing, Ack: seq})
	}
}

// BenchmarkServerLogin is the connect rate's unit (the bench's connect
// phase): a bare client dials, upgrades and logs in, and waits for the
// login's ok; the connection then stays open and idle, as the bench's do.
// The node logs at Info into a text handler (as rtmcall-server does) that
// discards the lines. Allocations are the node's, net/http's and
// coder/websocket's on both ends.
func BenchmarkServerLogin(b *testing.B) {
	srv := rtmcalltest.NewServer(b, func(c *server.Config) {
		c.Secret = nil
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	b.Cleanup(cancel)
	var conns []*websocket.Conn
	b.Cleanup(func() {
		for _, ws := range conns {
			ws.CloseNow()
		}
	})
	opts := &websocket.DialOptions{Subprotocols: []string{protocol.Subprotocol}}
	var buf []byte
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		ws, _, err := websocket.Dial(ctx, srv.URL, opts)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, ws)
		roundTripOK(b, ctx, ws, &protocol.Frame{Type: protocol.TypeLogin, RID: 1, User: fmt.Sprintf("u%06d", i)}, &buf)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}

// roundTripOK writes f, encoded into *buf, and reads its reply, which must
// be the ok to f's rid; it returns the reply's seq.
func roundTripOK(b *testing.B, ctx context.Context, ws *websocket.Conn, f *protocol.Frame, buf *[]byte) uint64 {
	*buf = protocol.AppendFrame((*buf)[:0], f)
	if err := ws.Write(ctx, websocket.MessageText, *buf); err != nil {
		b.Fatal(err)
	}
	_, data, err := ws.Read(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var reply protocol.Frame
	if err := protocol.DecodeInto(&reply, data); err != nil || reply.Type != protocol.TypeOK || reply.RID != f.RID {
		b.Fatalf("reply %s (%v), want the ok to rid %d", data, err, f.RID)
	}
	return reply.Seq
}
