//go:build !js

package push_test

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/push"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
	"github.com/rtmcall/rtmcall/server/store"
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func p256dh(t *testing.T) string {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	require.NoError(t, err)
	return b64(k.PublicKey().Bytes())
}

// Every subscription limit at its bound and one past it, checked by the
// server on raw frames.
func TestSubscribeLimits(t *testing.T) {
	e := newEnv(t, envOpts{pushCfg: func(c *push.Config) { c.AllowHTTP = false }})
	bob := rawLogin(t, e, "bob")
	key, auth := p256dh(t), b64(make([]byte, 16))
	sub := func(endpoint, p256dh, auth string) protocol.Code {
		return bob.code(&protocol.Frame{Type: protocol.TypePushSubscribe, Endpoint: endpoint, P256dh: p256dh, Auth: auth})
	}
	base := "https://push.example.net/"
	long := base + strings.Repeat("a", protocol.MaxPushEndpointBytes-len(base))
	assert.Equal(t, protocol.Code(0), sub(long, key, auth), "an endpoint of %d bytes", len(long))
	assert.Equal(t, protocol.CodeInvalidArgument, sub(long+"a", key, auth), "one byte over")
	assert.Equal(t, protocol.CodeInvalidArgument, sub("http://push.example.net/x", key, auth), "http only in dev mode")
	assert.Equal(t, protocol.CodeInvalidArgument, sub("push.example.net/x", key, auth), "not absolute")
	assert.Equal(t, protocol.CodeMalformedFrame, sub(base+"x", "", auth))

	raw, _ := base64.RawURLEncoding.DecodeString(key)
	assert.Equal(t, protocol.Code(0), sub(base+"padded", key+"=", auth+"=="), "padding is allowed")
	assert.Equal(t, protocol.CodeInvalidArgument, sub(base+"x", b64(raw[:64]), auth), "64 bytes")
	assert.Equal(t, protocol.CodeInvalidArgument, sub(base+"x", b64(append(raw, 0)), auth), "66 bytes")
	offCurve := append([]byte{4}, make([]byte, 64)...)
	assert.Equal(t, protocol.CodeInvalidArgument, sub(base+"x", b64(offCurve), auth), "65 bytes, not a point")
	assert.Equal(t, protocol.CodeInvalidArgument, sub(base+"x", key, b64(make([]byte, 15))), "auth of 15 bytes")
	assert.Equal(t, protocol.CodeInvalidArgument, sub(base+"x", key, b64(make([]byte, 17))), "auth of 17 bytes")
	assert.Equal(t, protocol.CodeInvalidArgument, sub(base+"x", key, "not base64!"))
	assert.Len(t, e.st.Subscriptions("bob"), 2)

	for i := 2; i < protocol.MaxPushSubscriptions; i++ {
		require.Equal(t, protocol.Code(0), sub(fmt.Sprintf("%s%d", base, i), key, auth))
	}
	assert.Len(t, e.st.Subscriptions("bob"), protocol.MaxPushSubscriptions)
	assert.Equal(t, protocol.CodeTooManySubscriptions, sub(base+"one-more", key, auth), "one past the cap")
	assert.Equal(t, protocol.Code(0), sub(base+"2", p256dh(t), auth), "the same endpoint replaces")
	assert.Len(t, e.st.Subscriptions("bob"), protocol.MaxPushSubscriptions)

	assert.Equal(t, protocol.Code(0), bob.code(&protocol.Frame{Type: protocol.TypePushUnsubscribe, Endpoint: base + "2"}))
	assert.Equal(t, protocol.Code(0), bob.code(&protocol.Frame{Type: protocol.TypePushUnsubscribe, Endpoint: base + "2"}), "again: no error")
	assert.Len(t, e.st.Subscriptions("bob"), protocol.MaxPushSubscriptions-1)
	assert.Equal(t, protocol.CodeInvalidArgument, bob.code(&protocol.Frame{Type: protocol.TypePushUnsubscribe, Endpoint: long + "a"}))
	assert.Equal(t, protocol.CodeMalformedFrame, bob.code(&protocol.Frame{Type: protocol.TypePushUnsubscribe}))

	anon := rawLogin(t, e, "carol")
	anon.do(&protocol.Frame{Type: protocol.TypeLogout})
	assert.Equal(t, protocol.CodeNotLoggedIn, anon.code(&protocol.Frame{Type: protocol.TypePushSubscribe, Endpoint: base + "c", P256dh: key, Auth: auth}))
}

// A server without Web Push answers PUSH_UNAVAILABLE; logout dropPush is
// still a logout.
func TestPushUnavailable(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	bob := rawLogin(t, &env{srv: srv}, "bob")
	assert.Equal(t, protocol.CodePushUnavailable, bob.code(&protocol.Frame{Type: protocol.TypePushSubscribe,
		Endpoint: "https://push.example.net/x", P256dh: p256dh(t), Auth: b64(make([]byte, 16))}))
	assert.Equal(t, protocol.Code(0), bob.code(&protocol.Frame{Type: protocol.TypeLogout, DropPush: true}))
	assert.Equal(t, protocol.CodeNotLoggedIn, bob.code(&protocol.Frame{Type: protocol.TypePushUnsubscribe, Endpoint: "https://push.example.net/x"}))
}

// logout dropPush removes the subscriptions of that session only; a plain
// logout keeps them.
func TestLogoutDropPush(t *testing.T) {
	e := newEnv(t, envOpts{})
	one, two := e.emu.Subscribe(), e.emu.Subscribe()
	subscribe(t, e, "bob", one) // a plain logout
	c := login(t, e, "bob")
	require.NoError(t, c.EnablePush(ctxT(t), corePush(two)))
	require.Len(t, e.st.Subscriptions("bob"), 2)
	require.NoError(t, c.LogoutDroppingPush(ctxT(t)))
	subs := e.st.Subscriptions("bob")
	require.Len(t, subs, 1)
	assert.Equal(t, one.Endpoint, subs[0].Endpoint)

	c = login(t, e, "bob")
	bad := corePush(two)
	bad.Auth = b64(make([]byte, 15))
	assert.ErrorIs(t, c.EnablePush(ctxT(t), bad), core.ErrInvalidArgument, "checked by the client first")
	assert.ErrorIs(t, c.DisablePush(ctxT(t), "not a URL"), core.ErrInvalidArgument)
	err := e.svc.Subscribe(ctxT(t), "bob", "s", server.PushSubscription{Endpoint: "https://x/y", P256dh: "bad", Auth: "bad"})
	assert.ErrorIs(t, err, protocol.ErrInvalidArgument, "the Service checks what it is given")
	require.NoError(t, c.DisablePush(ctxT(t), one.Endpoint))
	assert.Empty(t, e.st.Subscriptions("bob"))
}

// A push service answering 410 (or 404) for a subscription: it is
// dropped, the other stays; 429 keeps it.
func TestGoneSubscriptionsDropped(t *testing.T) {
	e := newEnv(t, envOpts{})
	gone, notFound, busy, ok := e.emu.Subscribe(), e.emu.Subscribe(), e.emu.Subscribe(), e.emu.Subscribe()
	subscribe(t, e, "bob", gone, notFound, busy, ok)
	gone.Respond(http.StatusGone)
	notFound.Respond(http.StatusNotFound)
	busy.Respond(http.StatusTooManyRequests)
	alice := login(t, e, "alice")
	l, ev := alice.invite(t, "bob", "")
	expect(t, ev, "waking")
	status := map[string]int{}
	for range 4 {
		p := e.emu.Next(waitFor)
		status[p.Sub.Endpoint] = p.Status
	}
	assert.Equal(t, map[string]int{gone.Endpoint: 410, notFound.Endpoint: 404, busy.Endpoint: 429, ok.Endpoint: 201}, status)
	require.NoError(t, l.Cancel(ctxT(t)))
	p, _ := closePush(t, e)
	assert.Equal(t, ok, p.Sub, "the close goes where the invite was taken")
	// The drops are made before the close is sent.
	assert.ElementsMatch(t, []string{busy.Endpoint, ok.Endpoint}, endpoints(e.st.Subscriptions("bob")))
}

// Subscriptions and the VAPID keys survive a restart on the same
// directory: the same key signs, and bob is woken.
func TestRestartKeepsStore(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, envOpts{dir: dir})
	sub := e.emu.Subscribe()
	subscribe(t, e, "bob", sub)
	key := e.svc.PublicKey()
	e.stop()

	e2 := newEnv(t, envOpts{dir: dir, emu: e.emu})
	assert.Equal(t, key, e2.svc.PublicKey())
	resp, err := http.Get(e2.web.URL + "/push/vapid")
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]string
	require.NoError(t, jsonDecode(resp, &body))
	assert.Equal(t, map[string]string{"publicKey": key}, body)
	raw, err := base64.RawURLEncoding.DecodeString(key)
	require.NoError(t, err)
	_, err = ecdh.P256().NewPublicKey(raw)
	assert.NoError(t, err, "an uncompressed P-256 point")

	alice := login(t, e2, "alice")
	l, ev := alice.invite(t, "bob", "")
	expect(t, ev, "waking")
	p, inv := invitePush(t, e2)
	assert.Equal(t, sub, p.Sub)
	assert.Equal(t, l.ID(), inv.Inv)
}

func endpoints(subs []store.Subscription) []string {
	var out []string
	for _, s := range subs {
		out = append(out, s.Endpoint)
	}
	return out
}
