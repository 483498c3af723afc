//go:build !js

package rtmcalltest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
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

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestNewServer(t *testing.T) {
	srv := rtmcalltest.NewServer(t, func(c *server.Config) { c.Dev = false })
	require.NotNil(t, srv.Node)
	assert.True(t, strings.HasPrefix(srv.URL, "ws://127.0.0.1:"))
	assert.Equal(t, "ws"+strings.TrimPrefix(srv.HTTPURL, "http")+"/ws", srv.URL)
	assert.NotEmpty(t, srv.Secret)

	resp, err := http.Get(srv.HTTPURL + "/healthz")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "ok", string(body))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, srv.URL, &websocket.DialOptions{Subprotocols: []string{protocol.Subprotocol}})
	require.NoError(t, err)
	defer ws.CloseNow()
	login, err := json.Marshal(protocol.Frame{Type: protocol.TypeLogin, RID: 1, User: "alice", Token: srv.Token("alice", time.Minute)})
	require.NoError(t, err)
	require.NoError(t, ws.Write(ctx, websocket.MessageText, login))
	_, data, err := ws.Read(ctx)
	require.NoError(t, err)
	var reply protocol.Frame
	require.NoError(t, json.Unmarshal(data, &reply))
	assert.Equal(t, protocol.TypeOK, reply.Type, "%s", data)
	assert.Equal(t, "alice", reply.User)
}
