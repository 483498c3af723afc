package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/api"
	"github.com/rtmcall/rtmcall/server/webhook"
)

// A backend in the loop (docs/BACKEND.md): it receives the server's
// signed webhooks, and places a call through the server API. The callee
// is not logged in, so the call ends at once as offline.
func Example_backend() {
	// The backend's webhook endpoint: verify, then handle.
	secret := webhook.NewSecret() // share it with the server: -webhook-secret
	verifier, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		fmt.Println(err)
		return
	}
	events := make(chan webhook.Envelope, 16)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil || verifier.Verify(body, r.Header) != nil {
			w.WriteHeader(http.StatusBadRequest) // not from the server: refuse
			return
		}
		var e webhook.Envelope
		if json.Unmarshal(body, &e) == nil {
			events <- e // handle it (deduplicate by e.ID: delivery is at least once)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer backend.Close()

	// The server, as rtmcall-server -webhook URL -webhook-secret S -api-keys K runs it.
	quiet := slog.New(slog.DiscardHandler)
	hooks, err := webhook.New(webhook.Config{URLs: []string{backend.URL}, Secret: secret, Workers: 1, Logger: quiet})
	if err != nil {
		fmt.Println(err)
		return
	}
	node, err := server.New(server.Config{Dev: true, Logger: quiet, Observer: server.ObserverFunc(func(e server.Event) {
		_, _ = hooks.Send(e.Type, e.Data())
	})})
	if err != nil {
		fmt.Println(err)
		return
	}
	const key = "example-api-key-0123456789"
	h, err := api.New(node, []string{key}, quiet)
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(h)
	defer func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = node.Shutdown(ctx)
		_ = hooks.Close(ctx)
	}()

	// The backend places a call as its support desk.
	req, err := http.NewRequest("POST", srv.URL+"/api/v1/invitations",
		strings.NewReader(`{"caller": "support desk", "service": true, "callee": "bob", "channel": "room-7"}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	var inv server.InvitationInfo
	err = json.NewDecoder(resp.Body).Decode(&inv)
	resp.Body.Close()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.StatusCode, inv.State, inv.Outcome)

	for range 2 {
		e := <-events
		var data server.InvitationInfo
		if err := json.Unmarshal(e.Data, &data); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s: same id %v, outcome %q\n", e.Type, data.ID == inv.ID, data.Outcome)
	}
	// Output:
	// 201 FAILURE offline
	// invitation.sent: same id true, outcome ""
	// invitation.ended: same id true, outcome "offline"
}
