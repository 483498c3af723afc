//go:build !js

package server_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// The wire of a drain on one node: an idle session gets bye MOVED and the
// close 1012 at once; the parties of an invitation stay, finish it (accept,
// call, hang-up), and only then get the same; new connections, logins and
// health checks get 503 or SHUTTING_DOWN meanwhile. With no other node to
// log in on, Drain returns once every session has moved.
func TestDrainWire(t *testing.T) {
	srv := rtmcalltest.NewServer(t, func(c *server.Config) { c.ResumeGrace = time.Hour })
	alice, bob, carol := login(t, srv, "alice"), login(t, srv, "bob"), login(t, srv, "carol")
	anon := dial(t, srv, "anonymous")
	anon.sync()
	inv := alice.send("bob")
	bob.expect(protocol.TypeInvite, inv)
	bob.ack(inv)
	alice.expect(protocol.TypeLocalReceived, inv)

	errc := make(chan error, 1)
	go func() { errc <- srv.Node.Drain(context.Background()) }()
	before, status, _ := carol.closed()
	assert.Equal(t, []string{"bye MOVED"}, types(before), "an idle session moves at once")
	assert.Equal(t, websocket.StatusServiceRestart, status)
	_, status, _ = anon.closed()
	assert.Equal(t, websocket.StatusServiceRestart, status, "a connection without a session is sent elsewhere")

	code, body := httpGet(t, srv.HTTPURL+"/healthz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "draining", body)
	_, resp, err := websocket.Dial(context.Background(), srv.URL, &websocket.DialOptions{Subprotocols: []string{protocol.Subprotocol}})
	require.Error(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)

	alice.sync() // the parties of the invitation stay
	bob.okAfter(&protocol.Frame{Type: protocol.TypeAccept, Inv: inv}, protocol.TypeRemoteAccepted)
	alice.expect(protocol.TypeLocalAccepted, inv)
	alice.okAfter(&protocol.Frame{Type: protocol.TypeHangup, Inv: inv}, "call.ended HANGUP")
	for _, c := range []*client{alice, bob} {
		before, status, _ := c.closed()
		assert.Equal(t, websocket.StatusServiceRestart, status, c.name)
		require.NotEmpty(t, before, c.name)
		assert.Equal(t, "bye MOVED", types(before)[len(before)-1], "%s: moves once the call ended", c.name)
	}
	select {
	case err := <-errc:
		require.NoError(t, err)
	case <-time.After(waitTimeout):
		require.FailNow(t, "the drain did not end once every session moved")
	}
	assert.True(t, srv.Node.Draining())
}
