//go:build !js

package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/server/push"
	"github.com/rtmcall/rtmcall/server/push/pushtest"
)

// The program with -data, -wake-window and -push-allow-http: bob's
// subscription wakes him for alice (the caller sees waking for the
// window), and after a restart on the same -data the same VAPID key
// serves and bob is still subscribed. The private key is never logged.
func TestPushFlags(t *testing.T) {
	emu := pushtest.New(t)
	sub := emu.Subscribe()
	data := t.TempDir()
	var logs lockedBuffer
	start := func() (base string, stop func()) {
		o, err := parseArgs([]string{"-dev", "-web", "", "-data", data, "-wake-window", "3s", "-push-allow-http", "-push-allow-private"}, env(nil), io0{})
		require.NoError(t, err)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		served := make(chan error, 1)
		go func() { served <- serve(ctx, o, ln, slog.New(slog.NewTextHandler(&logs, nil))) }()
		return "http://" + ln.Addr().String(), func() { cancel(); require.NoError(t, <-served) }
	}
	vapid := func(base string) string {
		resp, err := http.Get(base + push.VAPIDPath)
		require.NoError(t, err)
		defer resp.Body.Close()
		var body struct{ PublicKey string }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		return body.PublicKey
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client := func(base, user string) *core.Client {
		c, err := core.NewClient(core.Options{URL: "ws" + strings.TrimPrefix(base, "http") + "/ws", Logf: t.Logf})
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		require.NoError(t, c.Login(ctx, user, ""))
		return c
	}

	base, stop := start()
	key := vapid(base)
	require.NotEmpty(t, key)
	bob := client(base, "bob")
	require.NoError(t, bob.EnablePush(ctx, core.PushSubscription{Endpoint: sub.Endpoint, P256dh: sub.P256dh, Auth: sub.Auth}))
	require.NoError(t, bob.Logout(ctx))
	stop()

	base, stop = start()
	defer stop()
	assert.Equal(t, key, vapid(base), "kept in -data")
	emu.SetVAPIDKey(key)
	alice := client(base, "alice")
	l, err := alice.CreateLocalInvitation("bob")
	require.NoError(t, err)
	window := make(chan time.Duration, 1)
	l.OnWaking(func(w time.Duration) { window <- w })
	require.NoError(t, l.Send(ctx))
	select {
	case w := <-window:
		assert.Equal(t, 3*time.Second, w, "-wake-window")
	case <-ctx.Done():
		t.Fatal("no waking")
	}
	p := emu.Next(10 * time.Second)
	var inv push.Invite
	require.NoError(t, json.Unmarshal(p.Payload, &inv))
	assert.Equal(t, l.ID(), inv.Inv)
	assert.Equal(t, base+push.RefusePath, inv.RefuseURL)
	require.NoError(t, l.Cancel(ctx))
	emu.Next(10 * time.Second) // the close
	require.NoError(t, alice.Logout(ctx))
	assert.Contains(t, logs.String(), key, "the public key is logged")
	b, err := os.ReadFile(filepath.Join(data, "push", "secrets", "vapid"))
	require.NoError(t, err)
	var kept struct{ Private string }
	require.NoError(t, json.Unmarshal(b, &kept))
	require.NotEmpty(t, kept.Private)
	assert.NotContains(t, logs.String(), kept.Private, "the private key is not")
}

// io0 discards the usage output.
type io0 struct{}

func (io0) Write(p []byte) (int, error) { return len(p), nil }
