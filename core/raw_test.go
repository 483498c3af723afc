//go:build !js

package core_test

import (
	"testing"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// rawConn is a hand-driven protocol peer: it does only what a test tells it,
// e.g. a callee that never acknowledges an invitation.
type rawConn struct {
	t   *testing.T
	c   *websocket.Conn
	rid uint64
}

func dialRaw(t *testing.T, url string) *rawConn {
	t.Helper()
	c, _, err := websocket.Dial(ctxT(t), url, &websocket.DialOptions{Subprotocols: []string{protocol.Subprotocol}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.CloseNow() })
	return &rawConn{t: t, c: c}
}

func (r *rawConn) write(f *protocol.Frame) {
	r.t.Helper()
	data, err := protocol.Encode(f)
	require.NoError(r.t, err)
	require.NoError(r.t, r.c.Write(ctxT(r.t), websocket.MessageText, data))
}

func (r *rawConn) read() *protocol.Frame {
	r.t.Helper()
	_, data, err := r.c.Read(ctxT(r.t))
	require.NoError(r.t, err)
	f, err := protocol.Decode(data)
	require.NoError(r.t, err)
	return f
}

// request sends f and returns its reply; events before it fail the test.
func (r *rawConn) request(f *protocol.Frame) *protocol.Frame {
	r.t.Helper()
	r.rid++
	f.RID = r.rid
	r.write(f)
	reply := r.read()
	require.Equal(r.t, f.RID, reply.RID, "reply to %s: %+v", f.Type, reply)
	return reply
}

func (r *rawConn) login(user string) {
	r.t.Helper()
	reply := r.request(&protocol.Frame{Type: protocol.TypeLogin, User: user})
	require.Equal(r.t, protocol.TypeOK, reply.Type, "%+v", reply)
}

// expect reads the next frame and requires its type.
func (r *rawConn) expect(typ string) *protocol.Frame {
	r.t.Helper()
	f := r.read()
	require.Equal(r.t, typ, f.Type, "%+v", f)
	return f
}
