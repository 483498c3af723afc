//go:build !js

package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// sendGroup sends a group invitation and returns its id; the frames after
// the reply are the caller's to read.
func (c *client) sendGroup(mode string, callees ...string) string {
	c.t.Helper()
	reply := c.ok(&protocol.Frame{Type: protocol.TypeSend, Callees: callees, Mode: mode})
	require.Len(c.t, reply.Inv, 32)
	return reply.Inv
}

// expectCallee requires the next frame to be local.callee about callee of
// group g, moving to state.
func (c *client) expectCallee(g, callee, state string) *protocol.Frame {
	c.t.Helper()
	f := c.expect(protocol.TypeLocalCallee, g)
	require.Equal(c.t, callee+" "+state, f.Callee+" "+f.State, "%s: %+v", c.name, f)
	return f
}

// rung requires an invite of group g's callee, with the group, and returns its id.
func (c *client) rung(mode string, callees ...string) string {
	c.t.Helper()
	f := c.expect(protocol.TypeInvite, "")
	require.Equal(c.t, callees, f.Callees)
	require.Equal(c.t, mode, f.Mode)
	return f.Inv
}

// Offline and busy callees fail at once, after the reply; the others ring;
// the hunt group ends refused when every callee refused or failed.
func TestGroupFirstAllRefuseOrFail(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	alice, dave := login(t, srv, "alice"), login(t, srv, "dave")
	ann, ben, cat := login(t, srv, "ann"), login(t, srv, "ben"), login(t, srv, "cat")
	call := dave.send("cat")
	cat.expect(protocol.TypeInvite, call)
	cat.okAfter(frame(protocol.TypeAccept, call), protocol.TypeRemoteAccepted)
	dave.expect(protocol.TypeLocalAccepted, call) // cat is busy now

	g := alice.sendGroup(protocol.GroupFirst, "ann", "ben", "cat", "eve")
	alice.expectCallee(g, "cat", "FAILURE")
	f := alice.expectCallee(g, "eve", "FAILURE")
	assert.Equal(t, "PEER_OFFLINE", f.Reason)
	a, b := ann.rung(protocol.GroupFirst, "ann", "ben", "cat", "eve"), ben.rung(protocol.GroupFirst, "ann", "ben", "cat", "eve")
	ann.okAfter(frame(protocol.TypeRefuse, a), protocol.TypeRemoteRefused)
	alice.expectCallee(g, "ann", "REFUSED")
	ben.okAfter(frame(protocol.TypeRefuse, b), protocol.TypeRemoteRefused)
	alice.expectCallee(g, "ben", "REFUSED")
	alice.expect(protocol.TypeLocalRefused, g)
	alice.sync()
	cat.sync()
}

func TestGroupFirstAllFailGivesTheLastReason(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	alice := login(t, srv, "alice")
	g := alice.sendGroup(protocol.GroupFirst, "x", "y")
	alice.expectCallee(g, "x", "FAILURE")
	alice.expectCallee(g, "y", "FAILURE")
	f := alice.expect(protocol.TypeLocalFailure, g)
	assert.Equal(t, "PEER_OFFLINE", f.Reason)
	alice.fails(frame(protocol.TypeCancel, g), protocol.CodeAlreadyEnd)
	alice.fails(frame(protocol.TypeHangup, g), protocol.CodeNotStarted)
}

// The caller cancels: every callee still ringing gets remote.canceled;
// the callees that answered keep their outcome.
func TestGroupCancel(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	alice, ann, ben, cat := login(t, srv, "alice"), login(t, srv, "ann"), login(t, srv, "ben"), login(t, srv, "cat")
	g := alice.sendGroup(protocol.GroupAll, "ann", "ben", "cat")
	a, b, c := ann.rung(protocol.GroupAll, "ann", "ben", "cat"), ben.rung(protocol.GroupAll, "ann", "ben", "cat"),
		cat.rung(protocol.GroupAll, "ann", "ben", "cat")
	ann.okAfter(frame(protocol.TypeRefuse, a), protocol.TypeRemoteRefused)
	alice.expectCallee(g, "ann", "REFUSED")
	// Only the caller's session cancels; the callees may not, by either id.
	ben.fails(frame(protocol.TypeCancel, g), protocol.CodeNotYours)
	ben.fails(frame(protocol.TypeCancel, b), protocol.CodeNotYours)
	ben.fails(frame(protocol.TypeAccept, g), protocol.CodeNotYours)
	alice.fails(frame(protocol.TypeAccept, b), protocol.CodeNotYours)
	alice2 := login(t, srv, "alice")
	alice2.fails(frame(protocol.TypeCancel, g), protocol.CodeNotYours)
	ann.fails(frame(protocol.TypeAccept, b), protocol.CodeNotYours)

	reply, before := alice.do(frame(protocol.TypeCancel, g))
	require.Equal(t, protocol.TypeOK, reply.Type)
	require.Equal(t, []string{protocol.TypeLocalCallee, protocol.TypeLocalCallee, protocol.TypeLocalCanceled}, types(before))
	assert.Equal(t, "ben CANCELED", before[0].Callee+" "+before[0].State)
	assert.Equal(t, "cat CANCELED", before[1].Callee+" "+before[1].State)
	ben.expect(protocol.TypeRemoteCanceled, b)
	cat.expect(protocol.TypeRemoteCanceled, c)
	cat.fails(frame(protocol.TypeAccept, c), protocol.CodeAlreadyEnd)
	alice.fails(frame(protocol.TypeCancel, g), protocol.CodeAlreadyEnd)
}

func TestGroupLimits(t *testing.T) {
	srv := rtmcalltest.NewServer(t, func(c *server.Config) { c.MaxPendingPerUser = 1 })
	alice := login(t, srv, "alice")
	users := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("u%d", i)
		}
		return out
	}
	send := func(mode string, callees ...string) *protocol.Frame {
		return &protocol.Frame{Type: protocol.TypeSend, Callees: callees, Mode: mode}
	}
	// At the bound: 16 offline callees fail at once, after the reply.
	g := alice.sendGroup(protocol.GroupAll, users(protocol.MaxGroupCallees)...)
	for _, u := range users(protocol.MaxGroupCallees) {
		alice.expectCallee(g, u, "FAILURE")
	}
	alice.expect(protocol.TypeLocalFailure, g)
	for _, f := range []*protocol.Frame{
		send(protocol.GroupAll, users(protocol.MaxGroupCallees+1)...), // one past the bound
		send(protocol.GroupAll, "u1"),                                 // one callee is not a group
		send(protocol.GroupFirst, "u1", "u2", "u1"),                   // duplicate
		send(protocol.GroupFirst, "u1", "alice"),                      // self
		send("any", "u1", "u2"),                                       // mode
		send("", "u1", "u2"),
		{Type: protocol.TypeSend, Callee: "u1", Mode: protocol.GroupFirst},
		{Type: protocol.TypeSend, Callee: "u0", Callees: []string{"u1", "u2"}, Mode: protocol.GroupFirst},
		send(protocol.GroupFirst, "u1", strings.Repeat("x", 65)),
	} {
		alice.fails(f, protocol.CodeInvalidArgument)
	}
	// A group counts once against the pending cap.
	bob, carl := login(t, srv, "bob"), login(t, srv, "carl")
	g = alice.sendGroup(protocol.GroupFirst, "bob", "carl")
	alice.fails(&protocol.Frame{Type: protocol.TypeSend, Callee: "bob"}, protocol.CodeTooManyPending)
	alice.fails(send(protocol.GroupFirst, "bob", "carl"), protocol.CodeTooManyPending)
	alice.okAfter(frame(protocol.TypeCancel, g), protocol.TypeLocalCallee, protocol.TypeLocalCallee, protocol.TypeLocalCanceled)
	bob.expect(protocol.TypeInvite, "")
	carl.expect(protocol.TypeInvite, "")
	alice.send("bob")
}

// The server's setting lowers the bound: at it and one past it.
func TestGroupServerBound(t *testing.T) {
	srv := rtmcalltest.NewServer(t, func(c *server.Config) { c.MaxGroupCallees = 3 })
	alice := login(t, srv, "alice")
	g := alice.sendGroup(protocol.GroupFirst, "a", "b", "c")
	for _, u := range []string{"a", "b", "c"} {
		alice.expectCallee(g, u, "FAILURE")
	}
	alice.expect(protocol.TypeLocalFailure, g)
	f := alice.fails(&protocol.Frame{Type: protocol.TypeSend, Callees: []string{"a", "b", "c", "d"}, Mode: protocol.GroupFirst},
		protocol.CodeInvalidArgument)
	assert.Contains(t, f.Message, "at most 3")
	for _, n := range []int{1, 17} {
		_, err := server.New(server.Config{Dev: true, MaxGroupCallees: n})
		assert.ErrorIs(t, err, server.ErrInvalidConfig, "%d", n)
	}
}
