//go:build !js

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/static"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, o options)
	}{
		{name: "defaults need a secret", args: nil, wantErr: "secret is required"},
		{name: "dev needs no secret", args: []string{"-dev"}, check: func(t *testing.T, o options) {
			assert.True(t, o.dev)
			assert.Equal(t, "127.0.0.1:8080", o.addr)
			assert.Empty(t, o.web, "the embedded assets by default")
			assert.Equal(t, server.DefaultReceiptTimeout, o.receiptTimeout)
			assert.Equal(t, server.DefaultInvitationTimeout, o.invitationTimeout)
			assert.Empty(t, o.origins)
			assert.Equal(t, slog.LevelInfo, o.logLevel)
			assert.True(t, o.push, "Web Push is on by default")
			assert.Equal(t, "rtmcall-data", o.data)
			assert.Equal(t, server.DefaultWakeWindow, o.wakeWindow)
		}},
		{name: "push flags", args: []string{"-dev", "-data", "/var/lib/rtmcall", "-wake-window", "5s", "-push-public-url", "https://call.example.com",
			"-push-contact", "mailto:ops@example.com", "-push-allow-http", "-push-ringing", "-push-replicas", "3"},
			env: map[string]string{"RTMCALL_VAPID_PUBLIC_KEY": "pub", "RTMCALL_VAPID_PRIVATE_KEY": "priv"}, check: func(t *testing.T, o options) {
				assert.Equal(t, "/var/lib/rtmcall", o.data)
				assert.Equal(t, 5*time.Second, o.wakeWindow)
				assert.Equal(t, "https://call.example.com", o.pushPublicURL)
				assert.Equal(t, "mailto:ops@example.com", o.pushContact)
				assert.True(t, o.pushAllowHTTP && o.pushRinging)
				assert.Equal(t, 3, o.pushReplicas)
				assert.Equal(t, "pub", o.vapidPublic)
				assert.Equal(t, "priv", o.vapidPrivate)
			}},
		{name: "one VAPID key alone", args: []string{"-dev"}, env: map[string]string{"RTMCALL_VAPID_PRIVATE_KEY": "priv"}, wantErr: "go together"},
		{name: "push needs a data directory", args: []string{"-dev", "-data", ""}, wantErr: "-push needs -data"},
		{name: "push off", args: []string{"-dev", "-data", "", "-push=false"}, check: func(t *testing.T, o options) { assert.False(t, o.push) }},
		{name: "log level debug", args: []string{"-dev", "-log-level", "debug"},
			check: func(t *testing.T, o options) { assert.Equal(t, slog.LevelDebug, o.logLevel) }},
		{name: "log level error", args: []string{"-dev", "-log-level", "error"},
			check: func(t *testing.T, o options) { assert.Equal(t, slog.LevelError, o.logLevel) }},
		{name: "unknown log level", args: []string{"-dev", "-log-level", "verbose"}, wantErr: `-log-level "verbose" is not one of`},
		{name: "log levels are lowercase", args: []string{"-dev", "-log-level", "WARN"}, wantErr: "is not one of"},
		{name: "secret from the environment", env: map[string]string{"RTMCALL_SECRET": "s3"}, check: func(t *testing.T, o options) {
			assert.Equal(t, "s3", o.secret)
		}},
		{name: "flag beats the environment", args: []string{"-secret", "flag"}, env: map[string]string{"RTMCALL_SECRET": "env"},
			check: func(t *testing.T, o options) { assert.Equal(t, "flag", o.secret) }},
		{name: "all flags", args: []string{"-secret", "s", "-addr", ":9", "-origins", "a.com, *.b.org,,", "-receipt-timeout", "2s",
			"-invitation-timeout", "30s", "-web", "/srv/www"}, check: func(t *testing.T, o options) {
			assert.Equal(t, ":9", o.addr)
			assert.Equal(t, []string{"a.com", "*.b.org"}, o.origins)
			assert.Equal(t, 2*time.Second, o.receiptTimeout)
			assert.Equal(t, 30*time.Second, o.invitationTimeout)
			assert.Equal(t, "/srv/www", o.web)
		}},
		{name: "unknown flag", args: []string{"-dev", "-nope"}, wantErr: "not defined"},
		{name: "webhooks and API keys", args: []string{"-dev", "-webhook", "http://a/x, http://b/y", "-webhook", "http://c/z",
			"-webhook-secret", "whsec_abc", "-api-keys", "k1, k2,"}, check: func(t *testing.T, o options) {
			assert.Equal(t, []string{"http://a/x", "http://b/y", "http://c/z"}, o.webhooks)
			assert.Equal(t, "whsec_abc", o.webhookSecret)
			assert.Equal(t, []string{"k1", "k2"}, o.apiKeys)
		}},
		{name: "backend secrets from the environment", args: []string{"-dev", "-webhook", "http://a/x"},
			env: map[string]string{"RTMCALL_WEBHOOK_SECRET": "whsec_env", "RTMCALL_API_KEYS": "e1,e2"}, check: func(t *testing.T, o options) {
				assert.Equal(t, "whsec_env", o.webhookSecret)
				assert.Equal(t, []string{"e1", "e2"}, o.apiKeys)
			}},
		{name: "webhook without secret", args: []string{"-dev", "-webhook", "http://a/x"}, wantErr: "needs -webhook-secret"},
		{name: "webhook secret without webhook", args: []string{"-dev", "-webhook-secret", "whsec_x"}, wantErr: "without -webhook"},
		{name: "cluster through NATS", args: []string{"-dev", "-node-id", "0000000a", "-nats", "nats://n1:4222,nats://n2:4222"},
			check: func(t *testing.T, o options) {
				assert.Equal(t, "0000000a", o.nodeID)
				assert.Equal(t, "nats://n1:4222,nats://n2:4222", o.natsURL)
			}},
		{name: "cluster of embedded NATS", args: []string{"-dev", "-nats-listen", "127.0.0.1:4222", "-nats-cluster", "0.0.0.0:6222",
			"-nats-routes", "nats://n2:6222, nats://n3:6222"}, check: func(t *testing.T, o options) {
			assert.Equal(t, "127.0.0.1:4222", o.natsListen)
			assert.Equal(t, "0.0.0.0:6222", o.natsCluster)
			assert.Equal(t, []string{"nats://n2:6222", "nats://n3:6222"}, o.natsRoutes)
		}},
		{name: "push in a cluster needs routes on every node", args: []string{"-dev", "-nats-listen", ":4222", "-nats-cluster", ":6222"},
			wantErr: "needs -nats-routes on every node"},
		{name: "a seed without routes, push off", args: []string{"-dev", "-nats-listen", ":4222", "-nats-cluster", ":6222", "-push=false"},
			check: func(t *testing.T, o options) { assert.False(t, o.push) }},
		{name: "NATS or embedded, not both", args: []string{"-dev", "-nats", "nats://n1:4222", "-nats-listen", ":4222"}, wantErr: "exclude each other"},
		{name: "routes need an embedded server", args: []string{"-dev", "-nats-routes", "nats://n2:6222"}, wantErr: "need -nats-listen"},
		{name: "routes need a route address", args: []string{"-dev", "-nats-listen", ":4222", "-nats-routes", "nats://n2:6222"}, wantErr: "needs -nats-cluster"},
		{name: "stray argument", args: []string{"-dev", "serve"}, wantErr: "unexpected arguments"},
		{name: "token", args: []string{"token", "-user", "alice", "-ttl", "2h", "-secret", "s"}, check: func(t *testing.T, o options) {
			assert.True(t, o.token)
			assert.Equal(t, "alice", o.user)
			assert.Equal(t, 2*time.Hour, o.ttl)
			assert.Equal(t, "s", o.secret)
		}},
		{name: "token secret from the environment", args: []string{"token", "-user", "alice"}, env: map[string]string{"RTMCALL_SECRET": "e"},
			check: func(t *testing.T, o options) {
				assert.Equal(t, "e", o.secret)
				assert.Equal(t, time.Hour, o.ttl)
			}},
		{name: "token without user", args: []string{"token", "-secret", "s"}, wantErr: "-user is required"},
		{name: "token without secret", args: []string{"token", "-user", "alice"}, wantErr: "secret is required"},
		{name: "token with a bad ttl", args: []string{"token", "-user", "alice", "-secret", "s", "-ttl", "-1h"}, wantErr: "-ttl must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			o, err := parseArgs(tt.args, env(tt.env), &stderr)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Contains(t, stderr.String(), "Usage", "the usage is printed")
				return
			}
			require.NoError(t, err, stderr.String())
			tt.check(t, o)
		})
	}
}

// TestTokenRoundTrip prints a token with the subcommand and logs in with it
// on a server started the way main starts it; then the server drains on
// its context (a signal): the idle session is told to move (bye MOVED, close
// 1012), and the server, with no other node to wait for, stops.
func TestTokenRoundTrip(t *testing.T) {
	o, err := parseArgs([]string{"token", "-user", "alice", "-ttl", "1h", "-secret", "round trip"}, env(nil), io.Discard)
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), o, &out, io.Discard))
	token := strings.TrimSpace(out.String())
	require.Equal(t, token+"\n", out.String(), "one line")

	o, err = parseArgs([]string{"-secret", "round trip", "-web", "", "-data", t.TempDir(), "-drain-timeout", "200ms"}, env(nil), io.Discard)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx, o, ln, slog.New(slog.DiscardHandler)) }()

	base := "http://" + ln.Addr().String()
	resp, err := http.Get(base + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp, err = http.Get(base + "/metrics")
	require.NoError(t, err)
	metrics, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(metrics), "rtmcall_connections 0\n")
	resp, err = http.Get(base + "/")
	require.NoError(t, err)
	resp.Body.Close()
	// The embedded assets: the demo after make build, else the page that says they were not built.
	want := http.StatusServiceUnavailable
	if _, built := static.Embedded(); built {
		want = http.StatusOK
	}
	assert.Equal(t, want, resp.StatusCode)

	dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, "ws://"+ln.Addr().String()+"/ws",
		&websocket.DialOptions{Subprotocols: []string{protocol.Subprotocol}})
	require.NoError(t, err)
	defer ws.CloseNow()
	roundTrip := func(f protocol.Frame) protocol.Frame {
		data, err := json.Marshal(f)
		require.NoError(t, err)
		require.NoError(t, ws.Write(dctx, websocket.MessageText, data))
		_, data, err = ws.Read(dctx)
		require.NoError(t, err)
		var reply protocol.Frame
		require.NoError(t, json.Unmarshal(data, &reply))
		return reply
	}
	reply := roundTrip(protocol.Frame{Type: protocol.TypeLogin, RID: 1, User: "bob", Token: token})
	assert.Equal(t, protocol.CodeNotAuthorized, reply.Code, "the token is alice's")
	reply = roundTrip(protocol.Frame{Type: protocol.TypeLogin, RID: 2, User: "alice", Token: token})
	assert.Equal(t, protocol.TypeOK, reply.Type, "%+v", reply)

	stop()
	_, data, err := ws.Read(dctx)
	require.NoError(t, err)
	var bye protocol.Frame
	require.NoError(t, json.Unmarshal(data, &bye))
	assert.Equal(t, protocol.TypeBye, bye.Type, "the session is told it ends")
	assert.Equal(t, protocol.ByeMoved, bye.Reason)
	_, _, err = ws.Read(dctx)
	assert.Equal(t, websocket.StatusServiceRestart, websocket.CloseStatus(err), "%v", err)
	require.NoError(t, <-served)
}

func TestRunRefusesWithoutSecret(t *testing.T) {
	err := run(context.Background(), options{addr: "127.0.0.1:0"}, io.Discard, io.Discard)
	assert.ErrorIs(t, err, server.ErrNoSecret)
}

func TestStaticHandler(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	_, err := staticHandler(filepath.Join(t.TempDir(), "missing"), logger)
	assert.ErrorIs(t, err, os.ErrNotExist, "a -web directory that does not exist is an error, not a silent 404")
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	_, err = staticHandler(file, logger)
	assert.ErrorContains(t, err, "not a directory")

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "index.html"), []byte("<h1>rtmcall</h1>"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "package.json"), []byte("{}"), 0o644))
	o := options{dev: true, web: dir}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx, o, ln, logger) }()
	defer func() {
		stop()
		require.NoError(t, <-served)
	}()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + ln.Addr().String() + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}
	code, body := get("/")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "<h1>rtmcall</h1>", body)
	code, _ = get("/package.json")
	assert.Equal(t, http.StatusNotFound, code, "only the module and the demo are served")
}

func TestPageURL(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:8080": "http://127.0.0.1:8080/",
		"0.0.0.0:80":     "http://127.0.0.1:80/",
		"[::]:8080":      "http://127.0.0.1:8080/",
		"[::1]:9":        "http://[::1]:9/",
	} {
		tcp, err := net.ResolveTCPAddr("tcp", addr)
		require.NoError(t, err)
		assert.Equal(t, want, pageURL(tcp), addr)
	}
}
