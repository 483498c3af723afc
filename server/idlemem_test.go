//go:build !js

package server_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// idleMemSessions is how many idle sessions the per-session bytes are
// averaged over: enough that the heap's fixed costs and the span classes'
// rounding do not move the mean.
const idleMemSessions = 2000

// idleMemHeap and idleMemStack bound the heap and the goroutine stacks in
// use per idle logged-in connection, in bytes. Measured about 3.2 KiB of
// heap after the login (the login's reply is kept until a heartbeat
// acknowledges it), 3.0 KiB after heartbeats (0.3 KiB of it the clients'
// sockets), and 4.0 KiB of stacks (5.2, 5.0 and 4.0 KiB with coder/websocket
// on the server). The bounds leave about 1 KiB, not room
// for a read loop whose stack grows back to 8 KiB on a heartbeat
// (docs/BENCHMARKS.md, finding 4) or for net/http's buffers. Under the
// race detector the stacks are twice as large and so is their bound: the
// re-growth is caught without it.
const (
	idleMemHeap  = 9 << 9 // 4.5 KiB
	idleMemStack = raceStacks * 5 << 10
)

// TestIdleSessionMemory counts the bytes each idle logged-in connection
// keeps on a real node: heap and goroutine stacks in use
// (runtime.MemStats), over idleMemSessions connections, after the login
// and again after each sent a heartbeat. The clients are raw sockets that
// keep no buffers or goroutine of their own, so the difference is the
// node's. The count does not depend on the machine's load or speed.
func TestIdleSessionMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 2,000 connections")
	}
	srv := rtmcalltest.NewServer(t, func(c *server.Config) {
		c.Secret = nil
		c.RateLimit, c.RateBurst = 1e9, 1<<30
		c.Logger = slog.New(slog.DiscardHandler)
	})
	addr := strings.TrimSuffix(strings.TrimPrefix(srv.URL, "ws://"), "/ws")
	// A few connections first, so that pools and the node's maps exist.
	warm := make([]*rawClient, 0, 16)
	for i := range cap(warm) {
		warm = append(warm, dialRaw(t, addr, fmt.Sprintf("w%02d", i)))
	}
	before := inUse()
	clients := make([]*rawClient, 0, idleMemSessions)
	t.Cleanup(func() {
		for _, c := range append(clients, warm...) {
			c.conn.Close()
		}
	})
	for i := range idleMemSessions {
		clients = append(clients, dialRaw(t, addr, fmt.Sprintf("u%05d", i)))
	}
	perConn := func(m memInUse) (heap, stack float64) {
		return float64(int64(m.heap)-int64(before.heap)) / idleMemSessions,
			float64(int64(m.stack)-int64(before.stack)) / idleMemSessions
	}
	check := func(when string, m memInUse) {
		t.Helper()
		heap, stack := perConn(m)
		t.Logf("%s: per idle connection heap %.0f B, stacks %.0f B", when, heap, stack)
		if heap > idleMemHeap || stack > idleMemStack {
			t.Errorf("%s: an idle connection keeps %.0f B of heap and %.0f B of stacks, want at most %d and %d",
				when, heap, stack, idleMemHeap, idleMemStack)
		}
	}
	check("after login", inUse())
	for i := range 2 {
		for _, c := range clients {
			c.seq = c.roundTrip(t, &protocol.Frame{Type: protocol.TypePing, RID: c.rid + 1, Ack: c.seq})
		}
		// The stacks as the heartbeats left them, before a collection
		// shrinks them again; the heap once collected.
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		m := inUse()
		m.stack = ms.StackInuse
		check(fmt.Sprintf("after heartbeat %d", i+1), m)
	}
}

type memInUse struct{ heap, stack uint64 }

// inUse collects twice, so that the collector also shrank idle goroutines'
// stacks, and reads the heap and stacks in use.
func inUse() memInUse {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return memInUse{m.HeapInuse, m.StackInuse}
}

// rawClient is a logged-in WebSocket client that keeps nothing but its
// socket: no reader, writer or goroutine.
type rawClient struct {
	conn     net.Conn
	rid, seq uint64
}

// dialRaw upgrades a TCP connection to addr by hand and logs in as user.
func dialRaw(t *testing.T, addr, user string) *rawClient {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	req := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Protocol: " + protocol.Subprotocol + "\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	// The node writes nothing after the 101 until the login: the header
	// is all there is to read.
	var head []byte
	buf := make([]byte, 1024)
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("upgrade: %v (read %q)", err, head)
		}
		head = append(head, buf[:n]...)
	}
	if !bytes.HasPrefix(head, []byte("HTTP/1.1 101 ")) {
		t.Fatalf("upgrade: %q", head)
	}
	c := &rawClient{conn: conn}
	c.seq = c.roundTrip(t, &protocol.Frame{Type: protocol.TypeLogin, RID: 1, User: user})
	return c
}

// roundTrip writes f as one masked text frame (a zero mask key, which
// leaves the payload as it is) and reads the reply, which must be the ok
// to f's rid; it returns its seq.
func (c *rawClient) roundTrip(t *testing.T, f *protocol.Frame) uint64 {
	t.Helper()
	c.rid = f.RID
	payload := protocol.AppendFrame(nil, f)
	if len(payload) > 125 {
		t.Fatalf("frame of %d bytes: only short frames are written", len(payload))
	}
	msg := append([]byte{0x81, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...)
	if _, err := c.conn.Write(msg); err != nil {
		t.Fatal(err)
	}
	var h [4]byte
	if _, err := io.ReadFull(c.conn, h[:2]); err != nil {
		t.Fatal(err)
	}
	n := int(h[1] & 0x7f)
	if n == 126 {
		if _, err := io.ReadFull(c.conn, h[2:4]); err != nil {
			t.Fatal(err)
		}
		n = int(binary.BigEndian.Uint16(h[2:4]))
	}
	if h[0] != 0x81 || h[1]&0x80 != 0 || n == 127 {
		t.Fatalf("reply frame header %x: want an unmasked final text frame", h[:2])
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(c.conn, data); err != nil {
		t.Fatal(err)
	}
	var reply protocol.Frame
	if err := protocol.DecodeInto(&reply, data); err != nil || reply.Type != protocol.TypeOK || reply.RID != f.RID {
		t.Fatalf("reply %s (%v), want the ok to rid %d", data, err, f.RID)
	}
	return reply.Seq
}
