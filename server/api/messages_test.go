package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
)

func init() {
	moreRoutes = append(moreRoutes, struct {
		name string
		run  func(t *testing.T, a *apiServer, bob *callee)
	}{"peer messages", testMessages})
}

func testMessages(t *testing.T, a *apiServer, bob *callee) {
	type got struct {
		msg  core.Message
		from string
	}
	msgs := make(chan got, 4)
	bob.c.OnMessageFromPeer(func(m core.Message, from string, _ core.MessageProps) { msgs <- got{m, from} })
	next := func() got {
		t.Helper()
		select {
		case m := <-msgs:
			return m
		case <-time.After(wait):
			t.Fatal("no message")
			return got{}
		}
	}
	var res struct {
		Received bool `json:"received"`
	}
	require.Equal(t, http.StatusOK, a.call(t, "POST", "/api/v1/users/bob/messages", key, map[string]any{"from": "desk", "text": "hello"}, &res))
	assert.True(t, res.Received)
	m := next()
	assert.Equal(t, "desk", m.from)
	assert.Equal(t, "hello", m.msg.Text)

	require.Equal(t, http.StatusOK, a.call(t, "POST", "/api/v1/users/bob/messages", key,
		map[string]any{"from": "desk", "raw": []byte{0, 1, 2}, "description": "bytes"}, &res)) // raw is base64 in JSON
	assert.True(t, res.Received)
	m = next()
	assert.Equal(t, []byte{0, 1, 2}, m.msg.Raw)
	assert.Equal(t, "bytes", m.msg.Description)

	text := strings.Repeat("x", protocol.MaxMessageBytes)
	require.Equal(t, http.StatusOK, a.call(t, "POST", "/api/v1/users/bob/messages", key, map[string]any{"from": "desk", "text": text}, &res), "at the bound")
	assert.Len(t, next().msg.Text, protocol.MaxMessageBytes)

	require.Equal(t, http.StatusOK, a.call(t, "POST", "/api/v1/users/nobody/messages", key, map[string]any{"from": "desk", "text": "hi"}, &res))
	assert.False(t, res.Received, "nobody got it")

	for _, body := range []map[string]any{
		{"from": "desk"},
		{"from": "desk", "text": text + "x"},
		{"from": "desk", "text": "a", "raw": []byte{1}},
		{"from": "desk", "text": "a", "description": "d"},
		{"from": "null", "text": "a"},
	} {
		a.fails(t, "POST", "/api/v1/users/bob/messages", body, http.StatusBadRequest, protocol.CodeInvalidArgument)
	}
	a.fails(t, "POST", "/api/v1/users/bob/messages", map[string]any{"text": "a"}, http.StatusBadRequest, protocol.CodeMalformedFrame)
	a.fails(t, "POST", "/api/v1/users/null/messages", map[string]any{"from": "desk", "text": "a"}, http.StatusBadRequest, protocol.CodeInvalidArgument)
}
