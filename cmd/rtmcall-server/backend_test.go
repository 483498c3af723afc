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
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/webhook"
)

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

// TestBackendInTheLoop runs the program with -webhook and -api-keys: a
// backend places a call through the API, a native client answers it, and a
// real receiver on loopback gets every event, signed, verified by the
// Standard Webhooks library.
func TestBackendInTheLoop(t *testing.T) {
	secret := webhook.NewSecret()
	std, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	events := make(chan webhook.Envelope, 64)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil || std.Verify(body, r.Header) != nil {
			t.Errorf("unverified webhook: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var env webhook.Envelope
		if err := json.Unmarshal(body, &env); err != nil || env.ID != r.Header.Get("webhook-id") {
			t.Errorf("bad envelope %s: %v", body, err)
		}
		events <- env
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rc.Close()

	const apiKey = "backend-test-key-0123456789"
	o, err := parseArgs([]string{"-dev", "-web", "", "-data", t.TempDir(), "-webhook", rc.URL + "/hooks", "-webhook-secret", secret, "-api-keys", apiKey}, env(nil), io.Discard)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var logs lockedBuffer
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- serve(ctx, o, ln, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	}()
	base := "http://" + ln.Addr().String()

	// Deliveries run in parallel, so events may arrive out of order: next
	// takes the first of typ, keeping the others.
	var early []webhook.Envelope
	next := func(typ string) webhook.Envelope {
		t.Helper()
		for {
			for i, e := range early {
				if e.Type == typ {
					early = append(early[:i], early[i+1:]...)
					return e
				}
			}
			select {
			case e := <-events:
				early = append(early, e)
			case <-time.After(10 * time.Second):
				t.Fatalf("no %s event", typ)
				return webhook.Envelope{}
			}
		}
	}

	bob, err := core.NewClient(core.Options{URL: "ws://" + ln.Addr().String() + "/ws", Logf: t.Logf})
	require.NoError(t, err)
	defer bob.Close()
	bob.OnInvitationReceived(func(r *core.RemoteInvitation) {
		go func() { _ = r.Accept(context.Background()) }()
	})
	lctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, bob.Login(lctx, "bob", ""))
	var sess server.SessionInfo
	require.NoError(t, json.Unmarshal(next("session.started").Data, &sess))
	assert.Equal(t, "bob", sess.User)

	req, err := http.NewRequest("POST", base+"/api/v1/invitations", strings.NewReader(`{"caller":"desk","service":true,"callee":"bob"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var placed server.InvitationInfo
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&placed))
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)

	var sent, ended server.InvitationInfo
	sentEnv := next("invitation.sent")
	require.NoError(t, json.Unmarshal(sentEnv.Data, &sent))
	assert.Equal(t, placed.ID, sent.ID)
	assert.True(t, sent.Service)
	endedEnv := next("invitation.ended")
	require.NoError(t, json.Unmarshal(endedEnv.Data, &ended))
	assert.NotEqual(t, sentEnv.ID, endedEnv.ID, "every event has its own id")
	assert.Equal(t, placed.ID, ended.ID)
	assert.Equal(t, server.OutcomeAccepted, ended.Outcome)
	assert.Equal(t, sess.ID, ended.AnsweredBy, "accepted by bob's session")
	require.NotNil(t, ended.AnsweredMS)
	require.NotNil(t, ended.RangMS)

	require.NoError(t, bob.Logout(lctx))
	require.NoError(t, json.Unmarshal(next("session.ended").Data, &sess))
	assert.Equal(t, "logout", sess.Why)
	var call server.CallInfo
	require.NoError(t, json.Unmarshal(next("call.ended").Data, &call), "the callee's logout ended the call")
	assert.Equal(t, placed.ID, call.ID)
	assert.Equal(t, "desk", call.Caller)

	// Counted once the receiver's answer is read, just after it got the event.
	assert.Eventually(t, func() bool {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		metrics, err := io.ReadAll(resp.Body)
		return err == nil && strings.Contains(string(metrics), `rtmcall_webhook_events_total{endpoint="0",result="delivered"} 5`)
	}, 10*time.Second, 10*time.Millisecond)

	stop()
	require.NoError(t, <-served)
	assert.NotContains(t, logs.String(), apiKey, "the API key is never logged")
	assert.NotContains(t, logs.String(), strings.TrimPrefix(secret, "whsec_"), "the webhook secret is never logged")
	assert.NotContains(t, logs.String(), "/hooks", "nor the webhook URL")
}

// A key that is too short, or a bad webhook secret, stops the program at
// start, and the error names neither.
func TestBackendFlagsRefused(t *testing.T) {
	for _, args := range [][]string{
		{"-dev", "-web", "", "-api-keys", "short-key"},
		{"-dev", "-web", "", "-webhook", "http://127.0.0.1:1/h", "-webhook-secret", "whsec_dG9vc2hvcnQ="},
	} {
		o, err := parseArgs(append(args, "-data", t.TempDir()), env(nil), io.Discard)
		require.NoError(t, err)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		err = serve(context.Background(), o, ln, slog.New(slog.DiscardHandler))
		require.Error(t, err, "%q", args)
		assert.NotContains(t, err.Error(), "short-key")
		assert.NotContains(t, err.Error(), "dG9vc2hvcnQ")
	}
}
