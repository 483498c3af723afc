//go:build !js

package core

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawUpgradeServer accepts one connection, reads the upgrade request and
// calls answer with it.
func rawUpgradeServer(t *testing.T, answer func(c net.Conn, req *http.Request)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		answer(c, req)
	}()
	return "ws://" + ln.Addr().String() + "/ws"
}

// TestUpgradeTransportBytesAfterHead: a frame the server writes in the
// same segment as its 101 is the connection's first message, not lost with
// the buffer that read the head.
func TestUpgradeTransportBytesAfterHead(t *testing.T) {
	url := rawUpgradeServer(t, func(c net.Conn, req *http.Request) {
		sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		head := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(sum[:]) + "\r\n" +
			"Sec-WebSocket-Protocol: " + req.Header.Get("Sec-WebSocket-Protocol") + "\r\n\r\n"
		frame := []byte{0x81, 5, 'h', 'e', 'l', 'l', 'o'} // FIN, text, unmasked, 5 bytes
		_, _ = c.Write(append([]byte(head), frame...))
		_, _ = c.Read(make([]byte, 1)) // until the client closes
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, dialOptions)
	require.NoError(t, err)
	defer ws.CloseNow()
	typ, data, err := ws.Read(ctx)
	require.NoError(t, err)
	assert.Equal(t, websocket.MessageText, typ)
	assert.Equal(t, "hello", string(data))
}

// TestUpgradeTransportContextEnds: a server that never answers the upgrade
// holds the dial only until its context ends, with the context's error.
func TestUpgradeTransportContextEnds(t *testing.T) {
	read := make(chan struct{})
	url := rawUpgradeServer(t, func(c net.Conn, _ *http.Request) {
		close(read)
		_, _ = c.Read(make([]byte, 1)) // no answer, until the client closes
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-read; cancel() }()
	_, _, err := websocket.Dial(ctx, url, dialOptions)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
}

// TestUpgradeTransportRefusedBody: a refused upgrade's response is read
// with its status, and its connection closed (never reused: a draining
// node's 503 must not carry the next login).
func TestUpgradeTransportRefusedBody(t *testing.T) {
	closed := make(chan error, 1)
	url := rawUpgradeServer(t, func(c net.Conn, _ *http.Request) {
		_, _ = c.Write([]byte("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 8\r\n\r\ndraining"))
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := c.Read(make([]byte, 1))
		closed <- err
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, url, dialOptions)
	require.Error(t, err)
	require.NotNil(t, resp)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.ErrorIs(t, <-closed, io.EOF, "the client closes the refused connection")
}

// TestUpgradedConnCutMidFrame: a connection cut inside a frame (a proxy
// or a node going away mid-write) is a lost connection, not a message of
// what arrived: cut right after the header, where the reader's buffer
// filled (readMessage's first 512 bytes), or anywhere else. Before
// upgradedConn reported the end as unexpected, coder/websocket returned
// the first two as whole messages (an empty one, and 512 bytes of 600),
// which the client dropped as frames "not a valid JSON object" (the
// cluster soak with drain, issue 16). A whole frame before the cut is read.
func TestUpgradedConnCutMidFrame(t *testing.T) {
	for _, tc := range []struct {
		name      string
		size, cut int
	}{{"after the header", 100, 0}, {"at the read buffer's end", 600, 512}, {"inside", 100, 40}} {
		t.Run(tc.name, func(t *testing.T) {
			payload := []byte(`{"type":"pong","rid":1,"x":"` + strings.Repeat("a", tc.size-len(`{"type":"pong","rid":1,"x":""}`)) + `"}`)
			require.Len(t, payload, tc.size)
			hdr := []byte{0x81, 126, byte(tc.size >> 8), byte(tc.size)} // FIN, text, unmasked, 16-bit length
			whole := append([]byte{0x81, 5}, "hello"...)
			url := rawUpgradeServer(t, func(c net.Conn, req *http.Request) {
				sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
				head := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
					"Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(sum[:]) + "\r\n" +
					"Sec-WebSocket-Protocol: " + req.Header.Get("Sec-WebSocket-Protocol") + "\r\n\r\n"
				_, _ = c.Write([]byte(head))
				_, _ = c.Write(whole)
				_, _ = c.Write(append(hdr, payload[:tc.cut]...))
				c.(*net.TCPConn).CloseWrite() // the stream ends there
				_, _ = c.Read(make([]byte, 1))
			})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ws, _, err := websocket.Dial(ctx, url, dialOptions)
			require.NoError(t, err)
			defer ws.CloseNow()
			typ, data, err := readMessage(ws, nil)
			require.NoError(t, err)
			assert.Equal(t, websocket.MessageText, typ)
			assert.Equal(t, "hello", string(data))
			_, data, err = readMessage(ws, nil)
			require.Error(t, err, "read %d bytes as a whole message", len(data))
			assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
		})
	}
}
