//go:build !js

package push_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/push"
)

// An offline callee with a subscription: the caller sees waking, the push
// service gets the invite push (decrypted, VAPID checked), the callee logs
// in, rings late and accepts; the device's notification gets a close push
// on the same Topic.
func TestWakeAcceptClose(t *testing.T) {
	e := newEnv(t, envOpts{})
	sub := e.emu.Subscribe()
	subscribe(t, e, "bob", sub)
	alice := login(t, e, "alice")
	l, ev := alice.invite(t, "bob", "lunch?", func(l *core.LocalInvitation) { require.NoError(t, l.SetChannelID("room-1")) })
	expect(t, ev, "waking")

	p, inv := invitePush(t, e)
	assert.Equal(t, sub, p.Sub)
	assert.Equal(t, push.Invite{V: 1, Kind: "invite", Inv: l.ID(), Caller: "alice", Content: "lunch?", Channel: "room-1",
		ExpiresAt: inv.ExpiresAt, Refuse: inv.Refuse, RefuseURL: e.web.URL + push.RefusePath}, inv)
	assert.NotEmpty(t, inv.Refuse)
	left := time.Until(time.UnixMilli(inv.ExpiresAt))
	assert.True(t, left > 0 && left <= server.DefaultInvitationTimeout, "expiresAt is the invitation's end: %v", left)
	assert.Equal(t, l.ID(), p.Topic, "the Topic lets the close replace the invite")
	assert.Equal(t, "high", p.Urgency)
	assert.True(t, p.TTL >= 1 && p.TTL <= int(server.DefaultInvitationTimeout/time.Second), "TTL %d", p.TTL)

	bob := login(t, e, "bob")
	r := next(t, bob.invites)
	assert.Equal(t, l.ID(), r.ID())
	expect(t, ev, "received") // the client's ack, before the accept
	require.NoError(t, r.Accept(ctxT(t)))
	expect(t, ev, "accepted")

	p, c := closePush(t, e)
	assert.Equal(t, push.Close{V: 1, Kind: "close", Inv: l.ID(), Reason: server.WakeAnsweredElsewhere}, c)
	assert.Equal(t, l.ID(), p.Topic)
	assert.Equal(t, int(push.CloseTTL/time.Second), p.TTL)
}

// Cancel while waking: a close push CANCELED. A wake window that passes:
// PEER_OFFLINE, and a close push EXPIRED.
func TestCancelAndWindowClose(t *testing.T) {
	e := newEnv(t, envOpts{cfg: []func(*server.Config){func(c *server.Config) { c.WakeWindow = 200 * time.Millisecond }}})
	subscribe(t, e, "bob", e.emu.Subscribe())
	alice := login(t, e, "alice")

	l, ev := alice.invite(t, "bob", "")
	expect(t, ev, "waking")
	invitePush(t, e)
	require.NoError(t, l.Cancel(ctxT(t)))
	expect(t, ev, "canceled")
	_, c := closePush(t, e)
	assert.Equal(t, push.Close{V: 1, Kind: "close", Inv: l.ID(), Reason: server.WakeCanceled}, c)

	l, ev = alice.invite(t, "bob", "")
	expect(t, ev, "waking", "failure PEER_OFFLINE")
	_, inv := invitePush(t, e)
	assert.Equal(t, l.ID(), inv.Inv)
	_, c = closePush(t, e)
	assert.Equal(t, push.Close{V: 1, Kind: "close", Inv: l.ID(), Reason: server.WakeExpired}, c)
}

// A callee with a session that rings gets no Wake and no push; with
// WakeRinging, it gets both.
func TestNoPushWhileRinging(t *testing.T) {
	e := newEnv(t, envOpts{})
	sub := e.emu.Subscribe()
	subscribe(t, e, "bob", sub)
	bob := login(t, e, "bob")
	alice := login(t, e, "alice")
	_, ev := alice.invite(t, "bob", "")
	r := next(t, bob.invites)
	expect(t, ev, "received")
	require.NoError(t, r.Refuse(ctxT(t)))
	expect(t, ev, "refused")
	assert.Empty(t, e.woke, "the node decided not to wake bob: his session rang")
	assert.Zero(t, e.emu.Count())

	e2 := newEnv(t, envOpts{emu: e.emu, cfg: []func(*server.Config){func(c *server.Config) { c.WakeRinging = true }}})
	subscribe(t, e2, "bob", sub)
	bob2 := login(t, e2, "bob")
	alice2 := login(t, e2, "alice")
	l, ev := alice2.invite(t, "bob", "")
	assert.Equal(t, l.ID(), next(t, e2.woke).Inv)
	_, inv := invitePush(t, e2)
	assert.Equal(t, l.ID(), inv.Inv)
	r = next(t, bob2.invites)
	expect(t, ev, "received")
	require.NoError(t, r.Accept(ctxT(t)))
	expect(t, ev, "accepted")
	_, c := closePush(t, e2)
	assert.Equal(t, server.WakeAnsweredElsewhere, c.Reason)
}

// The refuse capability refuses its invitation once, as its callee: the
// caller gets refused and the ringing devices stop. A forged, reused,
// expired or other-invitation capability is refused with its code.
func TestRefuseCapability(t *testing.T) {
	e := newEnv(t, envOpts{cfg: []func(*server.Config){func(c *server.Config) { c.Origins = []string{"app.example.com"} }}})
	subscribe(t, e, "bob", e.emu.Subscribe())
	alice := login(t, e, "alice")
	l, ev := alice.invite(t, "bob", "")
	expect(t, ev, "waking")
	_, inv := invitePush(t, e)

	status, he, _ := refuse(t, e, "https://evil.example.org", push.RefuseRequest{Cap: inv.Refuse})
	assert.Equal(t, http.StatusForbidden, status)
	assert.Equal(t, "REJECTED", he.Name)
	forged := []byte(inv.Refuse)
	forged[5] ^= 1 // in the signed part
	status, he, _ = refuse(t, e, "", push.RefuseRequest{Cap: string(forged)})
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, "INVALID_TOKEN", he.Name)
	status, he, _ = refuse(t, e, "", push.RefuseRequest{Cap: inv.Refuse, Inv: strings.Repeat("0", 32)})
	assert.Equal(t, http.StatusNotFound, status, "NOT_YOURS is 404, as in the server API")
	assert.Equal(t, "NOT_YOURS", he.Name, "a capability is for its own invitation only")
	status, he, _ = refuse(t, e, "", map[string]int{"cap": 1})
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "MALFORMED_FRAME", he.Name)
	req, err := http.NewRequestWithContext(ctxT(t), "GET", e.web.URL+push.RefusePath, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, "POST, OPTIONS", resp.Header.Get("Allow"))

	// bob's device logs in meanwhile and rings: the refuse stops it.
	bob := login(t, e, "bob")
	assert.Equal(t, l.ID(), next(t, bob.invites).ID())
	expect(t, ev, "received")
	status, _, h := refuse(t, e, "https://app.example.com", push.RefuseRequest{Cap: inv.Refuse, Inv: l.ID()})
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "https://app.example.com", h.Get("Access-Control-Allow-Origin"))
	expect(t, ev, "refused")
	expect(t, bob.events, "remote failure ANSWERED_ELSEWHERE")
	_, c := closePush(t, e)
	assert.Equal(t, server.WakeRefused, c.Reason)

	status, he, _ = refuse(t, e, "", push.RefuseRequest{Cap: inv.Refuse})
	assert.Equal(t, http.StatusConflict, status)
	assert.Equal(t, "ALREADY_END", he.Name, "a capability works once")

	// Expired: an invitation of 1 s has a window of 1 s; once it ended,
	// its capability has expired too.
	require.NoError(t, bob.Logout(ctxT(t)))
	_, ev = alice.invite(t, "bob", "", func(l *core.LocalInvitation) { require.NoError(t, l.SetTimeout(time.Second)) })
	expect(t, ev, "waking")
	// The window and the expiry end together: either failure.
	assert.Contains(t, []string{"failure PEER_OFFLINE", "failure INVITATION_EXPIRE"}, next(t, ev))
	_, inv = invitePush(t, e)
	closePush(t, e)
	status, he, _ = refuse(t, e, "", push.RefuseRequest{Cap: inv.Refuse})
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, "TOKEN_EXPIRED", he.Name)
}

// An invitation that is waking when the server shuts down ends with it,
// and its close push (ENDED) is sent before the Service's Close returns:
// Close waits for the close pushes the shutdown queued.
func TestShutdownSendsClosePush(t *testing.T) {
	e := newEnv(t, envOpts{})
	subscribe(t, e, "bob", e.emu.Subscribe())
	alice := login(t, e, "alice")
	l, ev := alice.invite(t, "bob", "")
	expect(t, ev, "waking")
	invitePush(t, e)
	e.stop()
	assert.Equal(t, 2, e.emu.Count(), "the close push was received before stop returned")
	_, c := closePush(t, e)
	assert.Equal(t, push.Close{V: 1, Kind: "close", Inv: l.ID(), Reason: server.WakeEnded}, c)
}
