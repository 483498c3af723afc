package server

import (
	"context"
	"encoding/binary"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/gobwas/ws"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// An idle WebSocket connection holds no buffer: the server drops the
// bufio.Reader and bufio.Writer net/http hands over with the hijacked
// connection, reads take a pooled buffer only once the socket has data
// (netconn_unix.go), and the frames of a writer batch are collected into a
// pooled buffer and written with one system call (cork, uncork).

// ioBufSize is the size of the pooled read and write buffers.
const ioBufSize = 4 << 10

var ioBufs = sync.Pool{New: func() any { b := make([]byte, 0, ioBufSize); return &b }}

func getIOBuf() *[]byte { return ioBufs.Get().(*[]byte) }

func putIOBuf(b *[]byte) {
	if cap(*b) > 16*ioBufSize {
		return // a batch of large frames: let it go
	}
	*b = (*b)[:0]
	ioBufs.Put(b)
}

// netConn is a hijacked connection as the server's WebSockets use it.
type netConn struct {
	net.Conn
	raw syscall.RawConn // nil: reads block in Conn.Read with a buffer of their own

	rmu     sync.Mutex
	pending []byte  // read from the socket, not yet taken
	pooled  *[]byte // pending's buffer, returned once pending is taken
	rerr    error   // the error of a read by waitRead, for Read to return

	wmu       sync.Mutex
	corked    *[]byte                // collects frames between cork and uncork
	closeSent bool                   // the close frame is written or collected: no frame may follow
	whdr      [ws.MaxHeaderSize]byte // ws.WriteHeaderBuffer's

	rd rawOp // the raw read in progress, under rmu
	wr rawOp // the raw write in progress, under wmu
}

// rawOp is the state of a raw read or write (netconn_unix.go), which its
// callback, made once per connection, fills in.
type rawOp struct {
	fn  func(fd uintptr) bool
	buf *[]byte // read: the pooled buffer read into
	p   []byte  // write: what to write
	n   int
	err error
}

func newNetConn(c net.Conn, early []byte) *netConn {
	nc := &netConn{Conn: c, pending: early}
	if sc, ok := c.(syscall.Conn); ok && (rawReads || rawWrites) {
		nc.raw, _ = sc.SyscallConn()
		nc.initRaw()
	}
	return nc
}

func (c *netConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if len(c.pending) == 0 && c.rerr != nil {
		return 0, c.rerr
	}
	if len(c.pending) == 0 && rawReads && c.raw != nil && len(p) < ioBufSize {
		b, err := c.readRaw()
		if err != nil {
			return 0, err
		}
		c.pending, c.pooled = *b, b
	}
	if len(c.pending) == 0 {
		return c.Conn.Read(p)
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	if len(c.pending) == 0 && c.pooled != nil {
		putIOBuf(c.pooled)
		c.pending, c.pooled = nil, nil
	}
	return n, nil
}

// takeFrame hands over what is pending when it is one whole message in
// one frame that checks for a server (ws.CheckHeader), not a control frame,
// and in a pooled buffer: its header, its payload (masked, in place), and
// the buffer, which the caller gives back. Otherwise it takes nothing, and
// reports false. A request usually arrives so, alone in its read: it is
// then read without a buffer of its own and a copy into it.
func (c *netConn) takeFrame() (h ws.Header, payload []byte, buf *[]byte, ok bool) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	p := c.pending
	if c.pooled == nil || len(p) < 6 || p[1]&0x80 == 0 { // a client's frames are masked
		return h, nil, nil, false
	}
	hl, n := 6, int(p[1]&0x7f)
	switch {
	case n == 126:
		if len(p) < 8 {
			return h, nil, nil, false
		}
		hl, n = 8, int(binary.BigEndian.Uint16(p[2:]))
	case n == 127:
		return h, nil, nil, false // larger than a pooled buffer
	}
	if hl+n != len(p) || n > protocol.MaxFrameBytes {
		return h, nil, nil, false
	}
	h = ws.Header{Fin: p[0]&0x80 != 0, Rsv: (p[0] & 0x70) >> 4, OpCode: ws.OpCode(p[0] & 0x0f), Masked: true, Length: int64(n)}
	copy(h.Mask[:], p[hl-4:hl])
	if !h.Fin || h.OpCode.IsControl() || ws.CheckHeader(h, ws.StateServerSide) != nil {
		return ws.Header{}, nil, nil, false
	}
	buf = c.pooled
	c.pending, c.pooled = nil, nil
	return h, p[hl:], buf, true
}

// readable reports whether a read would not wait for the socket.
func (c *netConn) readable() bool {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	return !rawReads || c.raw == nil || len(c.pending) > 0 || c.rerr != nil
}

// waitRead waits until the socket has data and reads it for Read. Called
// at the shallow end of the read loop, it lets the collector shrink an idle
// connection's stack, which the read path deepens.
func (c *netConn) waitRead() {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if len(c.pending) > 0 || c.rerr != nil {
		return
	}
	b, err := c.readRaw()
	if err != nil {
		c.rerr = err
		return
	}
	c.pending, c.pooled = *b, b
}

// writeFrame writes one whole unmasked frame of opcode op: into the
// collected writes between cork and uncork, otherwise at once within
// writeTimeout. After a close frame it writes nothing (errCloseSent).
func (c *netConn) writeFrame(op ws.OpCode, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return errCloseSent
	}
	c.closeSent = op == ws.OpClose
	b := c.corked
	if b == nil {
		b = getIOBuf()
		defer putIOBuf(b)
	}
	// The header cannot fail: p's length fits in it.
	_ = ws.WriteHeaderBuffer(appender{b}, ws.Header{Fin: true, OpCode: op, Length: int64(len(p))}, c.whdr[:])
	*b = append(*b, p...)
	if c.corked != nil {
		return nil
	}
	c.Conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.Conn.Write(*b)
	c.Conn.SetWriteDeadline(time.Time{})
	return err
}

// writePayload writes the text frame p appends as writeFrame does. Between
// cork and uncork p is encoded straight into the collected writes, after
// room for the longest header it could take, which then moves up to the
// header's end: no buffer of its own, and no copy of more than the frame.
func (c *netConn) writePayload(p payload) error {
	c.wmu.Lock()
	if c.corked == nil || c.closeSent {
		c.wmu.Unlock()
		buf := getIOBuf()
		defer putIOBuf(buf)
		*buf = p.appendTo((*buf)[:0])
		return c.writeFrame(ws.OpText, *buf)
	}
	defer c.wmu.Unlock()
	const room = ws.MaxHeaderSize - 4 // a server's frames are not masked
	b := c.corked
	start := len(*b)
	*b = p.appendTo(append(*b, make([]byte, room)...))
	n := len(*b) - start - room
	h := (*b)[start:]
	h[0] = 0x80 | byte(ws.OpText) // fin
	hl := 2
	switch {
	case n <= 125:
		h[1] = byte(n)
	case n <= 0xffff:
		h[1] = 126
		binary.BigEndian.PutUint16(h[2:], uint16(n))
		hl = 4
	default:
		h[1] = 127
		binary.BigEndian.PutUint64(h[2:], uint64(n))
		hl = 10
	}
	if hl < room {
		*b = (*b)[:start+hl+copy(h[hl:], h[room:])]
	}
	return nil
}

// appender is an io.Writer appending to *b.
type appender struct{ b *[]byte }

func (a appender) Write(p []byte) (int, error) {
	*a.b = append(*a.b, p...)
	return len(p), nil
}

// cork starts collecting writes.
func (c *netConn) cork() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.corked == nil {
		c.corked = getIOBuf()
	}
}

// uncork writes what was collected since cork in one write, within
// writeTimeout, or at once failing when ctx ends first.
func (c *netConn) uncork(ctx context.Context) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b := c.corked
	if b == nil {
		return nil
	}
	c.corked = nil
	defer putIOBuf(b)
	if len(*b) == 0 {
		return nil
	}
	c.Conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	stop := context.AfterFunc(ctx, func() { c.Conn.SetWriteDeadline(time.Unix(1, 0)) })
	_, err := c.Conn.Write(*b)
	stop()
	c.Conn.SetWriteDeadline(time.Time{})
	return err
}

// tryUncork writes what was collected since cork without waiting for the
// socket, and reports whether the socket took it all: what it did not
// take stays collected, ahead of what comes next, for uncork.
func (c *netConn) tryUncork() (bool, error) {
	if !rawWrites || c.raw == nil {
		return true, c.uncork(context.Background())
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b := c.corked
	if b == nil {
		return true, nil
	}
	n, err := c.writeRaw(*b)
	if err != nil {
		c.corked = nil
		putIOBuf(b)
		return true, err
	}
	if n < len(*b) {
		*b = (*b)[:copy(*b, (*b)[n:])]
		return false, nil
	}
	c.corked = nil
	putIOBuf(b)
	return true, nil
}

// readWaiter is a wsConn that can wait for data outside its Read.
type readWaiter interface {
	readable() bool
	waitRead()
}

var _ readWaiter = (*socket)(nil)

// batcher is a wsConn that collects the frames written between cork and
// uncork (or tryUncork) into one write.
type batcher interface {
	cork()
	uncork(ctx context.Context) error
	tryUncork() (bool, error)
}

var _ batcher = (*socket)(nil)
