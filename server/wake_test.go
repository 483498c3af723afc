//go:build !js

package server_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// waker is a server.Waker for users listed in can; it records its calls.
type waker struct {
	mu          sync.Mutex
	can         map[string]bool
	woke, ended []server.Wake
}

func (w *waker) CanWake(user string) bool { w.mu.Lock(); defer w.mu.Unlock(); return w.can[user] }
func (w *waker) Wake(x server.Wake)       { w.mu.Lock(); defer w.mu.Unlock(); w.woke = append(w.woke, x) }
func (w *waker) Ended(x server.Wake)      { w.mu.Lock(); defer w.mu.Unlock(); w.ended = append(w.ended, x) }

func (w *waker) calls() (woke, ended []server.Wake) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]server.Wake(nil), w.woke...), append([]server.Wake(nil), w.ended...)
}

func wakeServer(t *testing.T, more ...func(*server.Config)) (*rtmcalltest.Server, *waker) {
	w := &waker{can: map[string]bool{"bob": true}}
	srv := rtmcalltest.NewServer(t, append([]func(*server.Config){func(c *server.Config) { c.Waker = w }}, more...)...)
	return srv, w
}

// A send to an offline callee with devices to wake: ok, local.waking with
// the window, one Wake; a device that logs in rings, and its accept wins;
// the end tells the Waker.
func TestWakeThenLateLogin(t *testing.T) {
	srv, w := wakeServer(t)
	alice := login(t, srv, "alice")
	reply, _ := alice.do(&protocol.Frame{Type: protocol.TypeSend, Callee: "bob", Content: "hi"})
	require.Equal(t, protocol.TypeOK, reply.Type)
	inv := reply.Inv
	assert.Equal(t, server.DefaultWakeWindow.Milliseconds(), alice.expect(protocol.TypeLocalWaking, inv).Wake)
	woke, ended := w.calls()
	require.Len(t, woke, 1)
	assert.Equal(t, server.Wake{Inv: inv, Caller: "alice", Callee: "bob", Content: "hi", Expires: woke[0].Expires}, woke[0])
	assert.Empty(t, ended)

	bob := login(t, srv, "bob")
	assert.Equal(t, "hi", bob.expect(protocol.TypeInvite, inv).Content)
	bob.ack(inv)
	alice.expect(protocol.TypeLocalReceived, inv)
	bob.answered(frame(protocol.TypeAccept, inv), "remote.accepted")
	alice.expect(protocol.TypeLocalAccepted, inv)
	_, ended = w.calls()
	require.Len(t, ended, 1)
	assert.Equal(t, inv, ended[0].Inv)
}

// No device in the window: PEER_OFFLINE. The caller's wake caps the
// server's window; -1 asks for none (PEER_OFFLINE at once, no Wake); a
// user the Waker cannot wake is PEER_OFFLINE at once.
func TestWakeWindow(t *testing.T) {
	srv, w := wakeServer(t, func(c *server.Config) { c.WakeWindow = 10 * time.Second })
	alice := login(t, srv, "alice")
	reply, _ := alice.do(&protocol.Frame{Type: protocol.TypeSend, Callee: "bob", Wake: 30})
	inv := reply.Inv
	assert.Equal(t, int64(30), alice.expect(protocol.TypeLocalWaking, inv).Wake)
	assert.Equal(t, "PEER_OFFLINE", alice.expect(protocol.TypeLocalFailure, inv).Reason)
	alice.fails(frame(protocol.TypeCancel, inv), protocol.CodeAlreadyEnd)
	login(t, srv, "bob").sync() // after the end: not rung

	srv2, w2 := wakeServer(t)
	alice2 := login(t, srv2, "alice")
	for _, f := range []*protocol.Frame{
		{Type: protocol.TypeSend, Callee: "bob", Wake: protocol.NoWake},
		{Type: protocol.TypeSend, Callee: "carol"},
	} {
		reply, _ := alice2.do(f)
		require.Equal(t, protocol.TypeOK, reply.Type)
		assert.Equal(t, "PEER_OFFLINE", alice2.expect(protocol.TypeLocalFailure, reply.Inv).Reason)
	}
	woke, _ := w2.calls()
	assert.Empty(t, woke)
	woke, _ = w.calls()
	assert.Len(t, woke, 1)
}

// The receipt timeout counts from the first ring, not from the send.
func TestWakeReceiptFromFirstRing(t *testing.T) {
	srv, _ := wakeServer(t, func(c *server.Config) { c.ReceiptTimeout = 50 * time.Millisecond })
	alice := login(t, srv, "alice")
	reply, _ := alice.do(&protocol.Frame{Type: protocol.TypeSend, Callee: "bob"})
	inv := reply.Inv
	alice.expect(protocol.TypeLocalWaking, inv)
	bob := login(t, srv, "bob")
	bob.expect(protocol.TypeInvite, inv) // no ack
	assert.Equal(t, "PEER_NO_RESPONSE", alice.expect(protocol.TypeLocalFailure, inv).Reason)
	assert.Equal(t, "INVITATION_EXPIRE", bob.expect(protocol.TypeRemoteFailure, inv).Reason)
}

// wake is -1, 0 or 1 to 600000 ms.
func TestWakeBounds(t *testing.T) {
	srv, _ := wakeServer(t)
	alice := login(t, srv, "alice")
	for _, ms := range []int64{-2, protocol.MaxWake.Milliseconds() + 1} {
		alice.fails(&protocol.Frame{Type: protocol.TypeSend, Callee: "bob", Wake: ms}, protocol.CodeInvalidArgument)
	}
	reply, _ := alice.do(&protocol.Frame{Type: protocol.TypeSend, Callee: "bob", Wake: protocol.MaxWake.Milliseconds()})
	require.Equal(t, protocol.TypeOK, reply.Type)
	// min(the caller's, the server's window, the invitation's timeout)
	assert.Equal(t, server.DefaultWakeWindow.Milliseconds(), alice.expect(protocol.TypeLocalWaking, reply.Inv).Wake)
	_, err := server.New(server.Config{Dev: true, WakeWindow: -time.Second})
	assert.ErrorIs(t, err, server.ErrInvalidConfig)
}
