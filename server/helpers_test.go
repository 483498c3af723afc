//go:build !js

package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// waitTimeout bounds every wait for a frame.
const waitTimeout = 5 * time.Second

// unlimited lifts the rate limit for tests that send many frames.
func unlimited(c *server.Config) {
	c.RateLimit = 1e9
	c.RateBurst = 1 << 30
}

// client is a raw protocol connection for tests: it writes frames as JSON
// and a reader goroutine buffers every frame the server sends.
type client struct {
	t       testing.TB
	name    string
	ws      *websocket.Conn
	rid     uint64
	session string // from the login reply
	key     string // the resume key, from the login reply

	mu     sync.Mutex
	frames []*protocol.Frame
	raw    [][]byte
	done   bool  // the reader has stopped
	err    error // why it stopped
	notify chan struct{}
	exited chan struct{}
}

// dial connects to srv with subprotocol rtmcall.v1.
func dial(t testing.TB, srv *rtmcalltest.Server, name string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, srv.URL, &websocket.DialOptions{Subprotocols: []string{protocol.Subprotocol}})
	require.NoError(t, err, "dial %s", name)
	require.Equal(t, protocol.Subprotocol, ws.Subprotocol())
	return newClient(t, ws, name)
}

func newClient(t testing.TB, ws *websocket.Conn, name string) *client {
	ws.SetReadLimit(protocol.MaxFrameBytes)
	c := &client{t: t, name: name, ws: ws, notify: make(chan struct{}, 1), exited: make(chan struct{})}
	go c.readLoop()
	t.Cleanup(func() {
		c.ws.CloseNow()
		<-c.exited
	})
	return c
}

// login dials and logs in as user (dev mode, no token).
func login(t testing.TB, srv *rtmcalltest.Server, user string) *client {
	t.Helper()
	c := dial(t, srv, user)
	c.login(user)
	return c
}

func (c *client) readLoop() {
	defer close(c.exited)
	for {
		typ, data, err := c.ws.Read(context.Background())
		var f protocol.Frame
		if err == nil && typ != websocket.MessageText {
			err = fmt.Errorf("binary frame from the server")
		}
		if err == nil {
			err = json.Unmarshal(data, &f)
		}
		c.mu.Lock()
		if err != nil {
			c.done, c.err = true, err
		} else {
			c.frames = append(c.frames, &f)
			c.raw = append(c.raw, data)
		}
		c.mu.Unlock()
		select {
		case c.notify <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

// next returns the next frame from the server; nil when the connection
// has closed. It fails the test after waitTimeout.
func (c *client) next() *protocol.Frame {
	c.t.Helper()
	f, _ := c.nextRaw()
	return f
}

func (c *client) nextRaw() (*protocol.Frame, []byte) {
	c.t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		c.mu.Lock()
		if len(c.frames) > 0 {
			f, raw := c.frames[0], c.raw[0]
			c.frames, c.raw = c.frames[1:], c.raw[1:]
			c.mu.Unlock()
			return f, raw
		}
		done := c.done
		c.mu.Unlock()
		if done {
			return nil, nil
		}
		select {
		case <-c.notify:
		case <-timer.C:
			require.FailNow(c.t, "timed out waiting for a frame", "%s: no frame within %v", c.name, waitTimeout)
		}
	}
}

// readErr is what ended the read loop, if anything has: it sets it under
// mu while the test may read it.
func (c *client) readErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// expect requires the next frame to be of type typ (and, for events, about
// invitation inv when inv is not empty).
func (c *client) expect(typ, inv string) *protocol.Frame {
	c.t.Helper()
	f := c.next()
	if f == nil {
		require.FailNow(c.t, "connection closed", "%s: connection closed (%v) while waiting for %s", c.name, c.readErr(), typ)
	}
	require.Equal(c.t, typ, f.Type, "%s: unexpected frame %+v", c.name, f)
	if inv != "" {
		require.Equal(c.t, inv, f.Inv, "%s: %s about another invitation", c.name, typ)
	}
	return f
}

// write sends v as one text frame.
func (c *client) write(v any) {
	c.t.Helper()
	data, err := json.Marshal(v)
	require.NoError(c.t, err)
	c.writeRaw(websocket.MessageText, data)
}

func (c *client) writeRaw(typ websocket.MessageType, data []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	require.NoError(c.t, c.ws.Write(ctx, typ, data), "%s: write", c.name)
}

// start sends request f with the next request id (unless it has one) and returns the id.
func (c *client) start(f *protocol.Frame) uint64 {
	c.t.Helper()
	if f.RID == 0 {
		c.rid++
		f.RID = c.rid
	}
	c.write(f)
	return f.RID
}

// reply reads frames until the reply to rid, and returns the frames before it too.
// The reply is the frame with the rid: an ok, an error, or the event that
// answers an accept or a hangup.
func (c *client) reply(rid uint64) (reply *protocol.Frame, before []*protocol.Frame) {
	c.t.Helper()
	for {
		f := c.next()
		if f == nil {
			require.FailNow(c.t, "connection closed", "%s: connection closed (%v) while waiting for the reply to rid %d", c.name, c.readErr(), rid)
		}
		if f.RID == rid {
			return f, before
		}
		before = append(before, f)
	}
}

// do sends f and returns its reply and the frames that came before it.
func (c *client) do(f *protocol.Frame) (reply *protocol.Frame, before []*protocol.Frame) {
	c.t.Helper()
	return c.reply(c.start(f))
}

// ok sends f, requires an ok reply with no frame before it, and returns the reply.
func (c *client) ok(f *protocol.Frame) *protocol.Frame {
	c.t.Helper()
	reply, before := c.do(f)
	require.Empty(c.t, types(before), "%s: frames before the reply to %s", c.name, f.Type)
	require.Equal(c.t, protocol.TypeOK, reply.Type, "%s: %s failed: %+v", c.name, f.Type, reply)
	return reply
}

// okAfter sends f and requires an ok reply after exactly the events of the
// given types (with reasons, as types formats them), about inv.
func (c *client) okAfter(f *protocol.Frame, events ...string) *protocol.Frame {
	c.t.Helper()
	reply, before := c.do(f)
	require.Equal(c.t, events, types(before), "%s: frames before the reply to %s", c.name, f.Type)
	for _, e := range before {
		require.Equal(c.t, f.Inv, e.Inv, "%s: event about another invitation", c.name)
	}
	require.Equal(c.t, protocol.TypeOK, reply.Type, "%s: %s failed: %+v", c.name, f.Type, reply)
	return reply
}

// answered sends f, an accept or a hangup, and requires that it is carried
// out and answered without an ok: its reply is the last of the events, of
// the types given (with reasons, as types formats them), the one that
// carries its rid, all about inv. It returns the reply.
func (c *client) answered(f *protocol.Frame, events ...string) *protocol.Frame {
	c.t.Helper()
	reply, before := c.do(f)
	require.Equal(c.t, events, types(append(before, reply)), "%s: frames up to the reply to %s", c.name, f.Type)
	for _, e := range append(before, reply) {
		require.Equal(c.t, f.Inv, e.Inv, "%s: event about another invitation", c.name)
	}
	return reply
}

// fails sends f and requires an error reply with code and no frame before it.
func (c *client) fails(f *protocol.Frame, code protocol.Code) *protocol.Frame {
	c.t.Helper()
	reply, before := c.do(f)
	require.Empty(c.t, types(before), "%s: frames before the reply to %s", c.name, f.Type)
	requireError(c.t, reply, code)
	return reply
}

func (c *client) login(user string) {
	c.t.Helper()
	reply := c.ok(&protocol.Frame{Type: protocol.TypeLogin, User: user})
	require.Equal(c.t, user, reply.User)
	c.session, c.key = reply.Session, reply.Key
}

// sync pings and requires that no frame comes before the pong: every event
// queued to this session before the ping has been seen.
func (c *client) sync() {
	c.t.Helper()
	c.ok(&protocol.Frame{Type: protocol.TypePing})
}

// ack acknowledges invitation inv. An ack carried out has no reply: a ping
// after it is answered with no frame (no error) before its reply.
func (c *client) ack(inv string) {
	c.t.Helper()
	c.start(&protocol.Frame{Type: protocol.TypeAck, Inv: inv})
	c.sync()
}

// send sends an invitation to callee and returns its id.
func (c *client) send(callee string) string {
	c.t.Helper()
	reply := c.ok(&protocol.Frame{Type: protocol.TypeSend, Callee: callee})
	require.Len(c.t, reply.Inv, 32)
	return reply.Inv
}

// closed waits for the connection to close and returns the frames that came
// first and the close status and reason.
func (c *client) closed() (before []*protocol.Frame, status websocket.StatusCode, reason string) {
	c.t.Helper()
	for {
		f := c.next()
		if f == nil {
			break
		}
		before = append(before, f)
	}
	err := c.readErr()
	var ce websocket.CloseError
	require.ErrorAs(c.t, err, &ce, "%s: connection ended without a close frame", c.name)
	return before, ce.Code, ce.Reason
}

// dropped waits for the connection to end without a close frame, as the
// server drops connections it gives up on, and returns the frames before.
func (c *client) dropped() (before []*protocol.Frame) {
	c.t.Helper()
	for {
		f := c.next()
		if f == nil {
			break
		}
		before = append(before, f)
	}
	err := c.readErr()
	require.Equal(c.t, websocket.StatusCode(-1), websocket.CloseStatus(err), "%s: %v", c.name, err)
	return before
}

// leave closes the connection with a close frame: the session ends at once
// (a connection that just drops is kept for resume).
func (c *client) leave() {
	c.t.Helper()
	require.NoError(c.t, c.ws.Close(websocket.StatusNormalClosure, ""))
}

func requireError(t testing.TB, f *protocol.Frame, code protocol.Code) {
	t.Helper()
	require.Equal(t, protocol.TypeError, f.Type, "want error %v, got %+v", code, f)
	require.Equal(t, code, f.Code, "want error %v, got %v: %s", code, f.Code, f.Message)
	assert.Equal(t, code.String(), f.Name)
	assert.NotEmpty(t, f.Message)
}

// types lists the types of frames, for readable assertions.
func types(fs []*protocol.Frame) []string {
	out := []string{}
	for _, f := range fs {
		s := f.Type
		if f.Reason != "" {
			s += " " + f.Reason
		}
		out = append(out, s)
	}
	return out
}

func httpGet(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}
