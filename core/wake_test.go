//go:build !js

package core_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// wakeAll is a server.Waker that can wake every user.
type wakeAll struct {
	mu   sync.Mutex
	woke int
}

func (w *wakeAll) CanWake(string) bool { return true }
func (w *wakeAll) Wake(server.Wake)    { w.mu.Lock(); w.woke++; w.mu.Unlock() }
func (w *wakeAll) Ended(server.Wake)   {}

// An offline callee with devices to wake: LocalInvitationWaking with the
// window, then a device that logs in rings and accepts; a wake window of
// 0 keeps PEER_OFFLINE at once; an expired window is PEER_OFFLINE.
func TestWaking(t *testing.T) {
	srv := startServer(t, func(c *server.Config) { c.Waker = &wakeAll{}; c.WakeWindow = 5 * time.Second })
	alice := login(t, srv, "alice")
	l := alice.invite("bob", "wake up")
	alice.expect("local waking 5s true")
	assert.Equal(t, core.LocalSentToRemote, l.State())
	bob := login(t, srv, "bob")
	r := bob.received()
	assert.Equal(t, "wake up", r.Content())
	alice.expect("local received")
	assert.False(t, l.Waking())
	require.NoError(t, r.Accept(ctxT(t)))
	bob.expect("remote accepted ACCEPTED")
	alice.expect(`local accepted "" ACCEPTED_BY_REMOTE`)

	now := alice.newInvitation("carol", "")
	require.NoError(t, now.SetWakeWindow(0))
	require.NoError(t, now.Send(ctxT(t)))
	alice.expect("local failure PEER_OFFLINE")

	short := alice.newInvitation("dave", "")
	require.NoError(t, short.SetWakeWindow(20*time.Millisecond))
	require.NoError(t, short.Send(ctxT(t)))
	alice.expect("local waking 20ms true", "local failure PEER_OFFLINE")
	assert.False(t, short.Waking())

	assert.ErrorIs(t, alice.newInvitation("x", "").SetWakeWindow(-time.Millisecond), core.ErrInvalidArgument)
	assert.ErrorIs(t, alice.newInvitation("x", "").SetWakeWindow(601*time.Second), core.ErrInvalidArgument)
	assert.NoError(t, alice.newInvitation("x", "").SetWakeWindow(600*time.Second))
	alice.quiet()
}

// Waking across nodes: the caller's node owns the waking invitation, and
// the callee's device that logs in on another node rings.
func TestClusterWaking(t *testing.T) {
	cl := rtmcalltest.NewCluster(t, 2, func(c *server.Config) { c.Waker = &wakeAll{} })
	alice := login(t, cl.Nodes[0], "alice")
	l := alice.invite("bob", "wake up")
	alice.expect("local waking 15s true")
	bob := login(t, cl.Nodes[1], "bob")
	r := bob.received()
	assert.Equal(t, l.ID(), r.ID())
	alice.expect("local received")
	require.NoError(t, r.Refuse(ctxT(t)))
	bob.expect("remote refused REFUSED")
	alice.expect(`local refused ""`)
	alice.quiet()
}
