//go:build !js

package push_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/push"
	"github.com/rtmcall/rtmcall/server/push/pushtest"
	"github.com/rtmcall/rtmcall/server/store"
)

// Without AllowPrivate, push.subscribe refuses an endpoint whose host is a
// literal non-public address or localhost, with INVALID_ARGUMENT; a public
// literal and a name pass (names are checked at dial). With Hosts, only
// those push services pass.
func TestSubscribeRefusesPrivateHosts(t *testing.T) {
	e := newEnv(t, envOpts{pushCfg: func(c *push.Config) { c.AllowPrivate = false }})
	bob := rawLogin(t, e, "bob")
	key, auth := p256dh(t), b64(make([]byte, 16))
	sub := func(endpoint string) protocol.Code {
		return bob.code(&protocol.Frame{Type: protocol.TypePushSubscribe, Endpoint: endpoint, P256dh: key, Auth: auth})
	}
	for _, host := range []string{"127.0.0.1", "127.0.0.1:8443", "10.1.2.3", "172.16.0.1", "192.168.0.1", "169.254.169.254",
		"0.0.0.0", "100.64.0.1", "[::1]", "[::]", "[fd12::1]", "[fe80::1]", "[::ffff:127.0.0.1]", "[64:ff9b::a9fe:a9fe]",
		"localhost", "LocalHost.", "api.localhost"} {
		assert.Equal(t, protocol.CodeInvalidArgument, sub("https://"+host+"/push/x"), host)
	}
	assert.Equal(t, protocol.CodeInvalidArgument, sub(e.emu.Subscribe().Endpoint), "the emulator, on loopback")
	assert.Empty(t, e.st.Subscriptions("bob"))
	assert.Equal(t, protocol.Code(0), sub("https://8.8.8.8/push/x"))
	assert.Equal(t, protocol.Code(0), sub("https://push.example.net/x"))

	e2 := newEnv(t, envOpts{pushCfg: func(c *push.Config) {
		c.AllowPrivate, c.Hosts = false, []string{"fcm.googleapis.com", "*.push.apple.com"}
	}})
	bob = rawLogin(t, e2, "bob")
	assert.Equal(t, protocol.Code(0), sub("https://fcm.googleapis.com/fcm/send/x"))
	assert.Equal(t, protocol.Code(0), sub("https://web.push.apple.com/x"))
	assert.Equal(t, protocol.CodeInvalidArgument, sub("https://push.example.net/x"), "not in Hosts")
	assert.Equal(t, protocol.CodeInvalidArgument, sub("https://fcm.googleapis.com.evil.example/x"))
	assert.Len(t, e2.st.Subscriptions("bob"), 2)
}

// A subscription whose endpoint resolves to a non-public address when the
// push is sent (a name that rebinds, or one stored before the guard) is
// refused at dial: nothing reaches the address, the subscription is
// dropped, the caller gets PEER_OFFLINE once the window passes, and the
// log names the host, not the endpoint's secret path.
func TestDialRefusesPrivateAddress(t *testing.T) {
	var logs pushtest.Log
	e := newEnv(t, envOpts{
		cfg: []func(*server.Config){func(c *server.Config) { c.WakeWindow = 300 * time.Millisecond }},
		pushCfg: func(c *push.Config) {
			c.AllowPrivate = false
			c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		},
	})
	s := e.emu.Subscribe()
	byName := strings.Replace(s.Endpoint, "127.0.0.1", "localhost", 1) // resolved at dial only
	require.NoError(t, e.st.Update(ctxT(t), "bob", func([]store.Subscription) ([]store.Subscription, error) {
		return []store.Subscription{{Endpoint: byName, P256dh: s.P256dh, Auth: s.Auth, Created: time.Now()}}, nil
	}))
	alice := login(t, e, "alice")
	_, ev := alice.invite(t, "bob", "")
	expect(t, ev, "waking", "failure PEER_OFFLINE")
	require.Eventually(t, func() bool { return len(e.st.Subscriptions("bob")) == 0 }, waitFor, 5*time.Millisecond,
		"the refused subscription is dropped")
	assert.Zero(t, e.emu.Count(), "nothing reached the loopback push service")
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "push endpoint refused") }, waitFor, 5*time.Millisecond)
	path := byName[strings.Index(byName, "/push/"):]
	assert.NotContains(t, logs.String(), path, "the endpoint's path is a secret")
	assert.Contains(t, logs.String(), "push_service=localhost:")
}
