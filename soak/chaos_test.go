//go:build !js

package soak

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/rtmcall/rtmcall/core"
)

// TestNodeDiedLoggingIn: a session still logging in is lost with a dying
// node only if its own client's last connection went there, not one of the
// device's earlier sessions (the stale attempt marked live sessions lost,
// and every flow calling their user waited for their end in vain).
func TestNodeDiedLoggingIn(t *testing.T) {
	lb := &balancer{open: map[string][]openConn{}, prev: map[string]dial{}}
	sh := &shard{cl: &cluster{lb: lb}, live: map[*session]*device{}}
	h := &harness{deaths: make(chan struct{})}
	lb.prev["u1.d0"] = dial{i: 1, n: 5} // an earlier session's connection to node 1
	fresh := &session{key: "u1.d0#2", slot: "u1.d0", since: 5, changed: make(chan struct{}, 1)}
	lb.prev["u2.d0"] = dial{i: 1, n: 7} // this session's own attempt at node 1
	dialing := &session{key: "u2.d0#1", slot: "u2.d0", since: 6, changed: make(chan struct{}, 1)}
	sh.live[fresh], sh.live[dialing] = nil, nil

	lost := h.nodeDied(sh, 1, make(chan struct{}))
	assert.Equal(t, []*session{dialing}, lost)
	assert.False(t, fresh.died.Load(), "a session that has not dialed yet is not lost with the node")
	assert.True(t, dialing.died.Load())
}

// TestLoginTriedAgain: a login tried again on the same client (loginOn,
// during a drain) is live again once it connects, though the failed
// attempt's DISCONNECTED ended it: else the flows took the retried
// session for gone while the server rang it (the "ghost sessions").
func TestLoginTriedAgain(t *testing.T) {
	sh := &shard{}
	d := &device{slot: "u1.d0"}
	s := &session{key: "u1.d0#1", sh: sh, d: d, slot: d.slot, changed: make(chan struct{}, 1)}
	sh.track(s, d)
	s.onState(core.ConnectionConnecting, core.ReasonLogin)
	s.onState(core.ConnectionDisconnected, core.ReasonLoginFailure)
	assert.True(t, s.ended.Load())
	s.onState(core.ConnectionConnecting, core.ReasonLogin)
	s.onState(core.ConnectionConnected, core.ReasonLoginSuccess)
	assert.False(t, s.ended.Load(), "the retried login is live")
	assert.Equal(t, d, sh.live[s], "the chaos finds it")
}
