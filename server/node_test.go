//go:build !js

package server_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

func TestNewConfig(t *testing.T) {
	secret := []byte("s")
	tests := []struct {
		name string
		cfg  server.Config
		want error
	}{
		{"no secret without dev", server.Config{}, server.ErrNoSecret},
		{"negative receipt timeout", server.Config{Secret: secret, ReceiptTimeout: -1}, server.ErrInvalidConfig},
		{"negative invitation timeout", server.Config{Secret: secret, InvitationTimeout: -1}, server.ErrInvalidConfig},
		{"invitation timeout under a millisecond", server.Config{Secret: secret, InvitationTimeout: time.Microsecond}, server.ErrInvalidConfig},
		{"invitation timeout over the maximum", server.Config{Secret: secret, InvitationTimeout: protocol.MaxTimeout + 1}, server.ErrInvalidConfig},
		{"negative tombstone ttl", server.Config{Secret: secret, TombstoneTTL: -1}, server.ErrInvalidConfig},
		{"negative drain timeout", server.Config{Secret: secret, DrainTimeout: -1}, server.ErrInvalidConfig},
		{"negative rate", server.Config{Secret: secret, RateLimit: -1}, server.ErrInvalidConfig},
		{"negative burst", server.Config{Secret: secret, RateBurst: -1}, server.ErrInvalidConfig},
		{"negative pending cap", server.Config{Secret: secret, MaxPendingPerUser: -1}, server.ErrInvalidConfig},
		{"bad origin pattern", server.Config{Secret: secret, Origins: []string{"[a-"}}, server.ErrInvalidConfig},
		{"secret", server.Config{Secret: secret}, nil},
		{"dev without secret", server.Config{Dev: true}, nil},
		{"millisecond timeouts", server.Config{Dev: true, ReceiptTimeout: time.Millisecond, InvitationTimeout: time.Millisecond}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Logger = slog.New(slog.DiscardHandler)
			n, err := server.New(tt.cfg)
			if tt.want != nil {
				assert.ErrorIs(t, err, tt.want)
				assert.Nil(t, n)
				return
			}
			require.NoError(t, err)
			require.NoError(t, n.Shutdown(context.Background()))
		})
	}
}

func TestDevModeWarns(t *testing.T) {
	var logs bytes.Buffer
	n, err := server.New(server.Config{Dev: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	defer n.Shutdown(context.Background())
	assert.Contains(t, logs.String(), "level=WARN")
	assert.Contains(t, logs.String(), "without a token")
}

func TestHTTP(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	code, body := httpGet(t, srv.HTTPURL+"/healthz")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok", body)
	code, _ = httpGet(t, srv.HTTPURL+"/nothing-here")
	assert.Equal(t, http.StatusNotFound, code)
	assert.True(t, strings.HasPrefix(srv.URL, "ws://127.0.0.1:") && strings.HasSuffix(srv.URL, "/ws"), srv.URL)
}

// An embedder mounts the WebSocket endpoint on its own path.
func TestWebSocketHandlerMounted(t *testing.T) {
	n, err := server.New(server.Config{Dev: true, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/signal", n.WebSocketHandler())
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		require.NoError(t, n.Shutdown(context.Background()))
		hs.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+"/signal",
		&websocket.DialOptions{Subprotocols: []string{protocol.Subprotocol}})
	require.NoError(t, err)
	c := newClient(t, ws, "alice")
	c.login("alice")
	c.sync()
}

func TestNoSubprotocolClosed1002(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, srv.URL, nil)
	require.NoError(t, err, "the upgrade succeeds; the server then closes")
	c := newClient(t, ws, "anonymous")
	before, status, reason := c.closed()
	assert.Empty(t, before)
	assert.Equal(t, websocket.StatusProtocolError, status)
	assert.Equal(t, "subprotocol rtmcall.v1 required", reason)
}

func TestOrigins(t *testing.T) {
	srv := rtmcalltest.NewServer(t, func(c *server.Config) { c.Origins = []string{"app.example.com", "*.example.org"} })
	prod := rtmcalltest.NewServer(t, func(c *server.Config) { c.Dev = false })
	tests := []struct {
		name   string
		srv    *rtmcalltest.Server
		origin string
		ok     bool
	}{
		{"no origin (native client)", srv, "", true},
		{"configured origin", srv, "https://app.example.com", true},
		{"configured wildcard", srv, "https://a.example.org", true},
		{"dev localhost with port", srv, "http://localhost:5173", true},
		{"dev localhost without port", srv, "http://localhost", true},
		{"dev 127.0.0.1", srv, "http://127.0.0.1:3000", true},
		{"dev [::1]", srv, "http://[::1]:3000", true},
		{"other origin", srv, "https://evil.example.com", false},
		{"lookalike of a dev origin", srv, "http://localhost.evil.com", false},
		{"localhost outside dev mode", prod, "http://localhost:5173", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			ws, resp, err := websocket.Dial(ctx, tt.srv.URL, &websocket.DialOptions{
				Subprotocols: []string{protocol.Subprotocol}, HTTPHeader: h})
			if !tt.ok {
				require.Error(t, err)
				require.NotNil(t, resp)
				assert.Equal(t, http.StatusForbidden, resp.StatusCode)
				return
			}
			require.NoError(t, err)
			newClient(t, ws, "browser").sync()
		})
	}
}

func TestOversizedFrameClosed1009(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	other := login(t, srv, "bob")
	c := login(t, srv, "alice")

	// A frame of exactly MaxFrameBytes is read.
	pad := strings.Repeat("x", protocol.MaxFrameBytes-len(`{"type":"ping","rid":1,"pad":""}`))
	max := []byte(`{"type":"ping","rid":1,"pad":"` + pad + `"}`)
	require.Len(t, max, protocol.MaxFrameBytes)
	c.writeRaw(websocket.MessageText, max)
	reply, _ := c.reply(1)
	assert.Equal(t, protocol.TypeOK, reply.Type)

	// One byte more closes the connection with 1009.
	c.writeRaw(websocket.MessageText, append(max, ' '))
	before, status, _ := c.closed()
	assert.Empty(t, before)
	assert.Equal(t, websocket.StatusMessageTooBig, status)

	other.sync()
	fresh := login(t, srv, "alice")
	fresh.sync()
}

func TestShutdown(t *testing.T) {
	snapshot := goleak.IgnoreCurrent()
	n, err := server.New(server.Config{Dev: true, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	hs := httptest.NewServer(n)
	srv := &rtmcalltest.Server{URL: "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws", HTTPURL: hs.URL, Node: n}

	alice := login(t, srv, "alice")
	bob1 := login(t, srv, "bob")
	bob2 := login(t, srv, "bob")
	carol := login(t, srv, "carol")
	anon := dial(t, srv, "anonymous")
	anon.sync()

	inv := alice.send("bob")
	bob1.expect(protocol.TypeInvite, inv)
	bob2.expect(protocol.TypeInvite, inv)
	bob1.start(&protocol.Frame{Type: protocol.TypeAck, Inv: inv})
	alice.expect(protocol.TypeLocalReceived, inv)
	bob1.sync()
	inv2 := carol.send("bob")
	bob1.expect(protocol.TypeInvite, inv2)
	bob2.expect(protocol.TypeInvite, inv2)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, n.Shutdown(ctx))

	check := func(c *client, want ...string) {
		t.Helper()
		if want == nil {
			want = []string{}
		}
		before, status, reason := c.closed()
		assert.Equal(t, want, types(before), c.name)
		assert.Equal(t, websocket.StatusGoingAway, status, c.name)
		assert.Equal(t, "server shutting down", reason, c.name)
	}
	check(alice, "local.failure UNKNOWN", "bye INTERRUPTED")
	check(carol, "local.failure UNKNOWN", "bye INTERRUPTED")
	check(bob1, "remote.failure UNKNOWN", "remote.failure UNKNOWN", "bye INTERRUPTED")
	check(bob2, "remote.failure UNKNOWN", "remote.failure UNKNOWN", "bye INTERRUPTED")
	check(anon)

	// New connections and health checks are refused.
	code, _ := httpGet(t, srv.HTTPURL+"/healthz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	dctx, dcancel := context.WithTimeout(context.Background(), waitTimeout)
	defer dcancel()
	_, resp, err := websocket.Dial(dctx, srv.URL, &websocket.DialOptions{Subprotocols: []string{protocol.Subprotocol}})
	require.Error(t, err)
	require.NotNil(t, resp)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)

	require.NoError(t, n.Shutdown(ctx), "a second Shutdown returns at once")
	hs.Close()
	for _, c := range []*client{alice, bob1, bob2, carol, anon} {
		<-c.exited
	}
	goleak.VerifyNone(t, snapshot)
}

// Shutdown gives up when its context ends, closing what is left at once.
func TestShutdownDeadline(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	// A client that never reads does not answer the close handshake.
	ws, _, err := websocket.Dial(ctx, srv.URL, &websocket.DialOptions{Subprotocols: []string{protocol.Subprotocol}})
	require.NoError(t, err)
	defer ws.CloseNow()
	require.NoError(t, ws.Write(ctx, websocket.MessageText, []byte(`{"type":"ping","rid":1}`)))

	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	err = srv.Node.Shutdown(short)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	// The cleanup's Shutdown then waits for the forced closes to finish.
}

// lockedBuffer is a log sink written by the node's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Config.LogLevel filters the node's logs whatever its handler allows:
// invitations are logged at debug, sessions at info. The logs recorded
// under the node's lock are written once it is released, before the next
// frame of the connection is read (the ping here).
func TestLogLevel(t *testing.T) {
	for _, tt := range []struct {
		level       slog.Level
		login, flow bool
	}{
		{level: slog.LevelDebug, login: true, flow: true},
		{level: slog.LevelInfo, login: true},
		{level: slog.LevelWarn},
	} {
		t.Run(tt.level.String(), func(t *testing.T) {
			var logs lockedBuffer
			srv := rtmcalltest.NewServer(t, func(c *server.Config) {
				c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug, AddSource: true}))
				c.LogLevel = tt.level
			})
			alice := login(t, srv, "alice")
			alice.send("nobody")
			alice.expect(protocol.TypeLocalFailure, "")
			alice.sync()
			out := logs.String()
			assert.Equal(t, tt.login, strings.Contains(out, "msg=login "), out)
			if tt.login { // the session's attributes, in the order its own logger would give them
				assert.Regexp(t, `source=\S+/server/lifecycle\.go:\d+ msg=login node=[0-9a-f]{8} session=[0-9a-f]+ user=alice remote=127\.0\.0\.1:\d+ sessions_of_user=1\n`, out)
			}
			assert.Equal(t, tt.flow, strings.Contains(out, `msg="invitation created"`), out)
			if tt.flow { // logged by logLocked's caller, not by logLocked
				assert.Regexp(t, `source=\S+/server/invitation\.go:\d+ msg="invitation created"`, out)
			}
			assert.Equal(t, tt.flow, strings.Contains(out, `msg="invitation ended"`), out)
			assert.Equal(t, tt.flow, strings.Contains(out, "level=DEBUG"), out)
		})
	}
}
