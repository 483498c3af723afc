//go:build !js

package pagetest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/api"
)

// TestBackendPlacedCall: a backend places a call through the server API as
// a named service caller; the browser module rings in headless Chromium
// and accepts; the backend reads the outcome from the API.
func TestBackendPlacedCall(t *testing.T) {
	s := newSite(t)
	const key = "pagetest-api-key-0123456789"
	h, err := api.New(s.srv.Node, []string{key}, nil)
	require.NoError(t, err)
	backend := httptest.NewServer(h)
	t.Cleanup(backend.Close)
	call := func(method, path string, body any, out any) int {
		t.Helper()
		data, err := json.Marshal(body)
		require.NoError(t, err)
		req, err := http.NewRequest(method, backend.URL+path, bytes.NewReader(data))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
		return resp.StatusCode
	}

	tb := apiTab(t, s)
	tb.eval(`
const bob = await T.client("bob");
globalThis.ring = T.next(bob, "RemoteInvitationReceived");`, nil)

	var placed server.InvitationInfo
	require.Equal(t, http.StatusCreated, call("POST", "/api/v1/invitations",
		map[string]any{"caller": "support desk", "service": true, "callee": "bob", "content": "ticket 42", "channel": "room-9"}, &placed))

	var res struct {
		ID, CallerID, Content, ChannelID, State string
	}
	tb.eval(`
const [remote] = await globalThis.ring;
remote.response = "on my way";
await remote.accept();
return { id: remote.id, callerId: remote.callerId, content: remote.content, channelId: remote.channelId, state: remote.state };`, &res)
	assert.Equal(t, placed.ID, res.ID)
	assert.Equal(t, "support desk", res.CallerID)
	assert.Equal(t, "ticket 42", res.Content)
	assert.Equal(t, "room-9", res.ChannelID)
	assert.Equal(t, "ACCEPTED", res.State)
	tb.screenshot("backend-placed-call")

	var ended server.InvitationInfo
	require.Equal(t, http.StatusOK, call("GET", "/api/v1/invitations/"+placed.ID, nil, &ended))
	assert.Equal(t, server.OutcomeAccepted, ended.Outcome)
	assert.NotEmpty(t, ended.AnsweredBy)
	assert.True(t, ended.Service)
}
