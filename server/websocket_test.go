//go:build !js

package server_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// rawWS is a client that writes WebSocket frames as they come, valid or
// not (gobwas/ws's client side), to test the server's framing.
type rawWS struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialFrames(t *testing.T, srv *rtmcalltest.Server) *rawWS {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, br, hs, err := ws.Dialer{Protocols: []string{protocol.Subprotocol}}.Dial(ctx, srv.URL)
	require.NoError(t, err)
	require.Equal(t, protocol.Subprotocol, hs.Protocol)
	t.Cleanup(func() { c.Close() })
	if br == nil {
		br = bufio.NewReader(c)
	}
	return &rawWS{t: t, c: c, br: br}
}

// send writes one masked frame.
func (c *rawWS) send(op ws.OpCode, fin bool, p string) {
	c.sendFrame(ws.MaskFrameInPlace(ws.NewFrame(op, fin, []byte(p))))
}

func (c *rawWS) sendFrame(f ws.Frame) {
	require.NoError(c.t, ws.WriteFrame(c.c, f))
}

// next reads the server's next frame.
func (c *rawWS) next() ws.Frame {
	require.NoError(c.t, c.c.SetReadDeadline(time.Now().Add(waitTimeout)))
	f, err := ws.ReadFrame(c.br)
	require.NoError(c.t, err)
	assert.False(c.t, f.Header.Masked, "a server's frames are not masked")
	return f
}

// closed reads frames up to the server's close frame, and returns its code
// and reason.
func (c *rawWS) closed() (ws.StatusCode, string) {
	for {
		f := c.next()
		if f.Header.OpCode == ws.OpClose {
			return ws.ParseCloseFrameData(f.Payload)
		}
	}
}

// reply reads the server's next text frame as a protocol frame.
func (c *rawWS) reply() *protocol.Frame {
	f := c.next()
	require.Equal(c.t, ws.OpText, f.Header.OpCode)
	var pf protocol.Frame
	require.NoError(c.t, protocol.DecodeInto(&pf, f.Payload))
	return &pf
}

// A message may come in fragments, with control frames between them; a
// ping gets a pong with its payload, written before the reply to the
// message it interrupted.
func TestWebSocketFragmentsAndPing(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	c := dialFrames(t, srv)
	c.send(ws.OpText, false, `{"type":"login",`)
	c.send(ws.OpPing, true, "are you there")
	c.send(ws.OpContinuation, false, `"rid":1,`)
	c.send(ws.OpContinuation, true, `"user":"alice"}`)
	pong := c.next()
	assert.Equal(t, ws.OpPong, pong.Header.OpCode)
	assert.Equal(t, "are you there", string(pong.Payload))
	r := c.reply()
	assert.Equal(t, protocol.TypeOK, r.Type)
	assert.Equal(t, uint64(1), r.RID)
}

// A fragmented message of protocol.MaxFrameBytes is read; one byte more
// closes the connection with 1009.
func TestWebSocketFragmentedLimit(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	c := dialFrames(t, srv)
	pad := strings.Repeat("x", protocol.MaxFrameBytes-len(`{"type":"ping","rid":1,"pad":""}`))
	max := `{"type":"ping","rid":1,"pad":"` + pad + `"}`
	half := len(max) / 2
	c.send(ws.OpText, false, max[:half])
	c.send(ws.OpContinuation, true, max[half:])
	assert.Equal(t, protocol.TypeOK, c.reply().Type)

	c.send(ws.OpText, false, max[:half])
	c.send(ws.OpContinuation, false, max[half:])
	c.send(ws.OpContinuation, true, " ")
	code, reason := c.closed()
	assert.Equal(t, ws.StatusMessageTooBig, code)
	assert.Equal(t, fmt.Sprintf("read limited at %d bytes", protocol.MaxFrameBytes), reason)
}

// A frame against RFC 6455 closes the connection with 1002.
func TestWebSocketProtocolErrors(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	tests := []struct {
		name string
		send func(c *rawWS)
	}{
		{"unmasked frame", func(c *rawWS) { c.sendFrame(ws.NewTextFrame([]byte(`{"type":"ping","rid":1}`))) }},
		{"continuation without a message", func(c *rawWS) { c.send(ws.OpContinuation, true, "x") }},
		{"message inside a fragmented one", func(c *rawWS) {
			c.send(ws.OpText, false, "{")
			c.send(ws.OpText, true, "}")
		}},
		{"fragmented ping", func(c *rawWS) { c.send(ws.OpPing, false, "") }},
		{"control frame over 125 bytes", func(c *rawWS) { c.send(ws.OpPing, true, strings.Repeat("p", 126)) }},
		{"reserved opcode", func(c *rawWS) { c.send(ws.OpCode(0x3), true, "") }},
		{"rsv bit without an extension", func(c *rawWS) {
			f := ws.NewTextFrame([]byte(`{"type":"ping","rid":1}`))
			f.Header.Rsv = ws.Rsv(true, false, false)
			c.sendFrame(ws.MaskFrameInPlace(f))
		}},
		{"close code not allowed on the wire", func(c *rawWS) {
			c.send(ws.OpClose, true, string(ws.NewCloseFrameBody(ws.StatusNoStatusRcvd, "")))
		}},
		{"close code out of range", func(c *rawWS) { c.send(ws.OpClose, true, string(ws.NewCloseFrameBody(999, ""))) }},
		{"close payload of 1 byte", func(c *rawWS) { c.send(ws.OpClose, true, "x") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialFrames(t, srv)
			tt.send(c)
			code, _ := c.closed()
			assert.Equal(t, ws.StatusProtocolError, code)
		})
	}
}

// The server answers a client's close frame with the same code and reason
// (none for a close without a code), then closes the connection.
func TestWebSocketClientClose(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	tests := []struct {
		name string
		body string
	}{
		{"normal", string(ws.NewCloseFrameBody(ws.StatusNormalClosure, "bye"))},
		{"service restart", string(ws.NewCloseFrameBody(1012, ""))},
		{"private code", string(ws.NewCloseFrameBody(4000, "mine"))},
		{"no code", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialFrames(t, srv)
			c.send(ws.OpClose, true, tt.body)
			f := c.next()
			require.Equal(t, ws.OpClose, f.Header.OpCode)
			assert.Equal(t, tt.body, string(f.Payload))
			_, err := ws.ReadFrame(c.br)
			assert.Error(t, err, "the server closes the connection")
		})
	}
}
