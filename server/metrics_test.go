//go:build !js

package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// /metrics reports what happened, in the Prometheus text format.
func TestMetrics(t *testing.T) {
	srv := rtmcalltest.NewServer(t, func(c *server.Config) { c.RateBurst = 5; c.RateLimit = 0.001 })
	alice := login(t, srv, "alice")
	bob := login(t, srv, "bob")
	inv := ringing(t, alice, bob)
	bob.start(frame(protocol.TypeAck, inv)) // no reply: the accept's events come first
	alice.expect(protocol.TypeLocalReceived, inv)
	bob.answered(frame(protocol.TypeAccept, inv), "remote.accepted")
	alice.expect(protocol.TypeLocalAccepted, inv)
	offline := alice.send("nobody")
	alice.expect(protocol.TypeLocalFailure, offline)
	// bob's login, accept and cancel count; the ack of the invite does not.
	bob.fails(frame(protocol.TypeCancel, inv), protocol.CodeNotYours)
	bob.ok(&protocol.Frame{Type: protocol.TypePing})             // the 4th
	bob.ok(&protocol.Frame{Type: protocol.TypePing})             // the 5th
	reply, _ := bob.do(&protocol.Frame{Type: protocol.TypePing}) // the 6th: over the burst
	requireError(t, reply, protocol.CodeRateLimited)

	code, body := httpGet(t, srv.HTTPURL+"/metrics")
	require.Equal(t, http.StatusOK, code)
	for _, line := range []string{
		`rtmcall_logins_total{result="ok"} 2`,
		`rtmcall_invitations_total 2`,
		`rtmcall_invitation_outcomes_total{reason="",state="ACCEPTED_BY_REMOTE"} 1`,
		`rtmcall_invitation_outcomes_total{reason="PEER_OFFLINE",state="FAILURE"} 1`,
		`rtmcall_invitations_pending 0`,
		`rtmcall_invitation_receipt_seconds_count 1`,
		`rtmcall_invitation_answer_seconds_count{answer="accepted"} 1`,
		`rtmcall_error_replies_total{code="NOT_YOURS"} 1`,
		`rtmcall_error_replies_total{code="RATE_LIMITED"} 1`,
		`rtmcall_rate_limited_total 1`,
		`rtmcall_connections 2`,
		`rtmcall_sessions_attached 2`,
		`rtmcall_sessions_detached 0`,
	} {
		assert.Contains(t, body, line+"\n")
	}
	assert.True(t, strings.Contains(body, "go_goroutines "), "runtime metrics too")
}
