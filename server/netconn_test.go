//go:build !js

package server

import (
	"bytes"
	"context"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tcpPair is a loopback TCP connection: the server's end and the peer's.
func tcpPair(t *testing.T) (server *net.TCPConn, peer net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	peer, err = net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	c, err := ln.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { c.Close(); peer.Close() })
	return c.(*net.TCPConn), peer
}

// countingConn counts the writes that reach the connection.
type countingConn struct {
	net.Conn
	writes int
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes++
	return c.Conn.Write(p)
}

// The frames of a batch reach the socket in one write, after uncork; out of
// a batch, every frame is one write; after a close frame nothing is written.
func TestNetConnBatchIsOneWrite(t *testing.T) {
	s, peer := tcpPair(t)
	cc := &countingConn{Conn: s}
	nc := newNetConn(cc, nil)
	nc.cork()
	for _, p := range []string{"one", "two", "three"} {
		require.NoError(t, nc.writeFrame(ws.OpText, []byte(p)))
	}
	assert.Equal(t, 0, cc.writes, "nothing written while corked")
	require.NoError(t, nc.uncork(context.Background()))
	assert.Equal(t, 1, cc.writes)
	// Unmasked text frames: FIN|text, then the length.
	want := "\x81\x03one\x81\x03two\x81\x05three"
	got := make([]byte, len(want))
	_, err := io.ReadFull(peer, got)
	require.NoError(t, err)
	assert.Equal(t, want, string(got))

	require.NoError(t, nc.uncork(context.Background()), "uncork without cork writes nothing")
	require.NoError(t, nc.writeFrame(ws.OpText, []byte("x")))
	assert.Equal(t, 2, cc.writes)
	require.NoError(t, nc.writeFrame(ws.OpClose, nil))
	assert.ErrorIs(t, nc.writeFrame(ws.OpText, []byte("late")), errCloseSent)
	assert.Equal(t, 3, cc.writes)
}

// rawPayload is a payload of its bytes.
type rawPayload []byte

func (p rawPayload) appendTo(dst []byte) []byte { return append(dst, p...) }

// A payload encoded into the collected writes gets the header writeFrame
// gives it, at each length where the header grows, and at once when not
// corked; after a close frame nothing is written.
func TestNetConnWritePayload(t *testing.T) {
	s, peer := tcpPair(t)
	cc := &countingConn{Conn: s}
	nc := newNetConn(cc, nil)
	var want []byte
	ref := newNetConn(&bufConn{b: &want}, nil) // writeFrame's frames, for comparison
	lens := []int{0, 1, 125, 126, 127, 0xffff, 0x10000, 0x10001}
	nc.cork()
	for i, n := range lens {
		p := bytes.Repeat([]byte{byte('a' + i)}, n)
		require.NoError(t, nc.writePayload(rawPayload(p)))
		require.NoError(t, ref.writeFrame(ws.OpText, p))
	}
	assert.Equal(t, 0, cc.writes, "nothing written while corked")
	got := make([]byte, len(want))
	read := make(chan error, 1)
	go func() { _, err := io.ReadFull(peer, got); read <- err }()
	require.NoError(t, nc.uncork(context.Background()))
	require.NoError(t, <-read)
	assert.True(t, bytes.Equal(want, got), "the frames writeFrame writes")

	require.NoError(t, nc.writePayload(rawPayload("x")))
	assert.Equal(t, 2, cc.writes, "not corked: written at once")
	got = make([]byte, 3)
	_, err := io.ReadFull(peer, got)
	require.NoError(t, err)
	assert.Equal(t, "\x81\x01x", string(got))
	require.NoError(t, nc.writeFrame(ws.OpClose, nil))
	nc.cork()
	assert.ErrorIs(t, nc.writePayload(rawPayload("late")), errCloseSent)
}

// maskedFrame is a client's frame of op with payload p.
func maskedFrame(t *testing.T, fin bool, op ws.OpCode, p string) []byte {
	var b bytes.Buffer
	h := ws.Header{Fin: fin, OpCode: op, Masked: true, Mask: [4]byte{1, 2, 3, 4}, Length: int64(len(p))}
	require.NoError(t, ws.WriteHeader(&b, h))
	m := []byte(p)
	ws.Cipher(m, h.Mask, 0)
	return append(b.Bytes(), m...)
}

// A message alone in the pooled buffer its bytes were read into is handed
// over with that buffer, unmasked by the caller; anything else (more bytes,
// fewer, a control frame, a fragment, a frame that fails its checks, bytes
// not in a pooled buffer) is left to the reader.
func TestNetConnTakeFrame(t *testing.T) {
	long := strings.Repeat("y", 300) // a 16-bit length
	pending := func(b []byte) *netConn {
		buf := getIOBuf()
		*buf = append((*buf)[:0], b...)
		return &netConn{pending: *buf, pooled: buf}
	}
	for _, p := range []string{"", "hello", long} {
		nc := pending(maskedFrame(t, true, ws.OpText, p))
		h, data, buf, ok := nc.takeFrame()
		require.True(t, ok, "%d bytes", len(p))
		ws.Cipher(data, h.Mask, 0)
		assert.Equal(t, p, string(data))
		assert.Equal(t, ws.OpText, h.OpCode)
		assert.NotNil(t, buf)
		assert.Empty(t, nc.pending)
		assert.Nil(t, nc.pooled)
	}
	nc := pending(maskedFrame(t, true, ws.OpBinary, "b"))
	_, _, _, ok := nc.takeFrame()
	assert.True(t, ok, "a binary message is the reader's to refuse")

	text := maskedFrame(t, true, ws.OpText, "hello")
	unmasked := append([]byte{0x81, 5}, "hello"...)
	rsv := slices.Clone(text)
	rsv[0] |= 0x40
	for name, b := range map[string][]byte{
		"two frames":   append(slices.Clone(text), text...),
		"part":         text[:len(text)-1],
		"ping":         maskedFrame(t, true, ws.OpPing, "p"),
		"a fragment":   maskedFrame(t, false, ws.OpText, "hel"),
		"continuation": maskedFrame(t, true, ws.OpContinuation, "lo"),
		"unmasked":     unmasked,
		"rsv":          rsv,
	} {
		nc := pending(b)
		_, _, _, ok := nc.takeFrame()
		assert.False(t, ok, name)
		assert.Equal(t, b, nc.pending, name)
	}
	nc = &netConn{pending: text} // net/http's early bytes
	_, _, _, ok = nc.takeFrame()
	assert.False(t, ok, "not a pooled buffer")
}

// bufConn is a net.Conn whose writes append to *b.
type bufConn struct {
	net.Conn
	b *[]byte
}

func (c *bufConn) Write(p []byte) (int, error)      { *c.b = append(*c.b, p...); return len(p), nil }
func (c *bufConn) SetWriteDeadline(time.Time) error { return nil }

// A read takes a pooled buffer only once the socket has data, and gives it
// back once the data is taken; the bytes net/http read past the request
// come first.
func TestNetConnReadsHoldNoBufferWhenDrained(t *testing.T) {
	s, peer := tcpPair(t)
	nc := newNetConn(s, []byte("early "))
	if rawReads {
		require.NotNil(t, nc.raw)
	}
	_, err := peer.Write([]byte("bytes then more"))
	require.NoError(t, err)
	var got []byte
	p := make([]byte, 4)
	for len(got) < len("early bytes then more") {
		n, err := nc.Read(p)
		require.NoError(t, err)
		got = append(got, p[:n]...)
	}
	assert.Equal(t, "early bytes then more", string(got))
	assert.Nil(t, nc.pooled, "drained: the buffer went back to the pool")
	assert.Empty(t, nc.pending)

	peer.Close()
	_, err = nc.Read(p)
	assert.ErrorIs(t, err, io.EOF)
}
