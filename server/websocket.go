package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// The server's WebSockets are framed with gobwas/ws, which parses and
// writes frame headers and leaves the I/O to its caller: a frame the
// server writes is its header and payload appended whole to the
// connection's batch (netConn.writeFrame), and a message is read straight
// from the netConn's buffer into a pooled one, with no lock or goroutine
// of the library's per message or per connection. The clients keep
// coder/websocket. docs/BENCHMARKS.md has the measurements that chose it.

// statusServiceRestart is close code 1012 (RFC 6455 registry), which
// gobwas/ws does not name.
const statusServiceRestart ws.StatusCode = 1012

// closeTimeout bounds the wait for the client's close frame once the
// server sent its own.
const closeTimeout = 5 * time.Second

// errCloseSent: the close frame is sent; nothing may follow it.
var errCloseSent = errors.New("server: websocket close frame already sent")

// errMessageTooBig is the reason of a 1009 close.
var errMessageTooBig = fmt.Errorf("read limited at %d bytes", protocol.MaxFrameBytes)

// socket is a server-side WebSocket over a netConn.
type socket struct {
	nc      *netConn
	closing atomic.Bool // Close or CloseNow was called, or the client's close was answered
	waiting atomic.Bool // Close waits for the client's close: it closes the connection itself

	// One reader at a time: the read loop, or Close waiting for the
	// client's close frame.
	rmu  sync.Mutex
	rerr error                      // why reading ended: a wsutil.ClosedError once the client closed
	hdr  [ws.MaxHeaderSize - 2]byte // ws.ReadHeaderBuffer's
}

var _ wsConn = (*socket)(nil)

// accept upgrades r to a WebSocket with subprotocol rtmcall.v1 if the
// client offers it, and returns the socket and the subprotocol agreed; on
// failure the response says why.
func accept(w http.ResponseWriter, r *http.Request, origins []string) (*socket, string, error) {
	if err := checkOrigin(r.Header.Get("Origin"), r.Host, origins); err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return nil, "", err
	}
	u := ws.HTTPUpgrader{
		Timeout:  writeTimeout,
		Protocol: func(p string) bool { return p == protocol.Subprotocol },
	}
	c, rw, hs, err := u.Upgrade(r, w)
	if err != nil {
		if c != nil {
			c.Close() // gobwas/ws wrote the error response
		}
		return nil, "", err
	}
	// What net/http read past the request, from a client that did not wait
	// for the 101; net/http's buffers are left to the collector.
	early, _ := rw.Reader.Peek(rw.Reader.Buffered())
	return &socket{nc: newNetConn(c, slices.Clone(early))}, hs.Protocol, nil
}

// checkOrigin allows a request to host without origin (its Origin header),
// from its own host, or from a host matching one of patterns (path.Match,
// case-insensitively; a pattern with "://" matches scheme://host), as
// coder/websocket's Accept did before.
func checkOrigin(origin, host string, patterns []string) error {
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil {
		return fmt.Errorf("failed to parse Origin header %q: %w", origin, err)
	}
	if strings.EqualFold(host, u.Host) {
		return nil
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, err := path.Match(strings.ToLower(p), strings.ToLower(target)); err != nil {
			return fmt.Errorf("failed to parse origin pattern %q: %w", p, err)
		} else if ok {
			return nil
		}
	}
	return fmt.Errorf("request Origin %q is not authorized for Host %q", u.Host, host)
}

// Read reads the next message into a buffer of its own.
func (s *socket) Read() (ws.OpCode, []byte, error) {
	var b []byte
	op, err := s.readInto(&b)
	return op, b, err
}

// readInto reads the next message into *buf, grown as needed: the
// frames of a fragmented message joined, pings answered, a close
// answered and returned as a wsutil.ClosedError. A frame against RFC 6455
// closes with 1002, a message over protocol.MaxFrameBytes with 1009.
func (s *socket) readInto(buf *[]byte) (ws.OpCode, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if s.rerr != nil {
		return 0, s.rerr
	}
	op, err := s.readMessage(buf)
	if err != nil {
		s.rerr = err
	}
	return op, err
}

// readOwned reads the next message as readInto does, into a pooled buffer
// it returns, which the caller gives back: the one the socket's bytes were
// read into when they are the message alone (netConn.takeFrame).
func (s *socket) readOwned() (ws.OpCode, []byte, *[]byte, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if s.rerr != nil {
		return 0, nil, nil, s.rerr
	}
	if h, p, buf, ok := s.nc.takeFrame(); ok {
		ws.Cipher(p, h.Mask, 0)
		return h.OpCode, p, buf, nil
	}
	buf := getIOBuf()
	op, err := s.readMessage(buf)
	if err != nil {
		s.rerr = err
		putIOBuf(buf)
		return 0, nil, nil, err
	}
	return op, *buf, buf, nil
}

// readMessage is readInto's; rmu is held.
func (s *socket) readMessage(buf *[]byte) (ws.OpCode, error) {
	var op ws.OpCode
	state := ws.StateServerSide
	b := (*buf)[:0]
	for {
		h, err := ws.ReadHeaderBuffer(s.nc, s.hdr[:])
		if err != nil {
			return 0, err
		}
		if err := ws.CheckHeader(h, state); err != nil {
			return 0, s.fail(ws.StatusProtocolError, err)
		}
		if h.OpCode.IsControl() {
			// Read into b's spare room: a control payload is 125 bytes at most.
			p := slices.Grow(b, int(h.Length))[len(b) : len(b)+int(h.Length)]
			if err := s.control(h, p); err != nil {
				return 0, err
			}
			continue
		}
		if rest := int64(protocol.MaxFrameBytes - len(b)); h.Length > rest {
			// Read one byte past the limit first, as coder/websocket did: a
			// client whose message is just over it is not reset mid-write,
			// and reads the close frame.
			if _, err := io.CopyN(io.Discard, s.nc, rest+1); err != nil {
				return 0, err
			}
			return 0, s.fail(ws.StatusMessageTooBig, errMessageTooBig)
		}
		if !state.Fragmented() {
			op = h.OpCode
		}
		n := len(b)
		b = slices.Grow(b, int(h.Length))[:n+int(h.Length)]
		*buf = b
		if _, err := io.ReadFull(s.nc, b[n:]); err != nil {
			return 0, err
		}
		ws.Cipher(b[n:], h.Mask, 0)
		if h.Fin {
			return op, nil
		}
		state = state.Set(ws.StateFragmented)
	}
}

// control reads and handles a control frame, its payload read into p.
func (s *socket) control(h ws.Header, p []byte) error {
	if _, err := io.ReadFull(s.nc, p); err != nil {
		return err
	}
	ws.Cipher(p, h.Mask, 0)
	switch h.OpCode {
	case ws.OpPing:
		if err := s.nc.writeFrame(ws.OpPong, p); err != nil && err != errCloseSent {
			return err
		}
	case ws.OpClose:
		ce := wsutil.ClosedError{Code: ws.StatusNoStatusRcvd}
		if len(p) > 0 {
			ce.Code, ce.Reason = ws.ParseCloseFrameData(p)
			if err := checkCloseData(len(p), ce); err != nil {
				return s.fail(ws.StatusProtocolError, err)
			}
		}
		if !s.closing.Swap(true) {
			// The client closes first: answer with its code. The read loop
			// then closes the connection, after the session's writer.
			var body []byte
			if ce.Code != ws.StatusNoStatusRcvd {
				body = ws.NewCloseFrameBody(ce.Code, ce.Reason)
			}
			s.nc.writeFrame(ws.OpClose, body)
		}
		return ce
	}
	return nil // a pong
}

// checkCloseData checks a close frame's payload of n bytes: gobwas/ws's
// checks, which do not know codes 1012 to 1014.
func checkCloseData(n int, ce wsutil.ClosedError) error {
	if n == 1 {
		return errors.New("close frame payload of 1 byte")
	}
	if ce.Code >= statusServiceRestart && ce.Code <= 1014 {
		ce.Code = ws.StatusGoingAway
	}
	return ws.CheckCloseFrameData(ce.Code, ce.Reason)
}

// fail sends a close frame with code for err, and returns err.
func (s *socket) fail(code ws.StatusCode, err error) error {
	s.nc.writeFrame(ws.OpClose, ws.NewCloseFrameBody(code, err.Error()))
	return err
}

// Write writes data as one text frame: into the batch between cork and
// uncork, otherwise at once.
func (s *socket) Write(data []byte) error { return s.nc.writeFrame(ws.OpText, data) }

// Close sends a close frame, waits up to closeTimeout for the client's
// (read by the read loop, or here when none is reading), and closes the
// connection.
func (s *socket) Close(code ws.StatusCode, reason string) error {
	if s.closing.Swap(true) {
		return net.ErrClosed
	}
	s.waiting.Store(true)
	err := s.nc.writeFrame(ws.OpClose, ws.NewCloseFrameBody(code, reason))
	if err == nil {
		s.nc.SetReadDeadline(time.Now().Add(closeTimeout))
		s.rmu.Lock()
		if s.rerr == nil {
			buf := getIOBuf()
			for s.rerr == nil {
				_, s.rerr = s.readMessage(buf)
			}
			putIOBuf(buf)
		}
		s.rmu.Unlock()
	}
	s.nc.Close()
	return err
}

// CloseNow closes the connection without a close frame, unless Close is
// waiting for the client's: Close then closes it within closeTimeout.
func (s *socket) CloseNow() error {
	s.closing.Store(true)
	if s.waiting.Load() {
		return net.ErrClosed
	}
	return s.nc.Close()
}

func (s *socket) readable() bool                   { return s.nc.readable() }
func (s *socket) waitRead()                        { s.nc.waitRead() }
func (s *socket) cork()                            { s.nc.cork() }
func (s *socket) uncork(ctx context.Context) error { return s.nc.uncork(ctx) }
func (s *socket) tryUncork() (bool, error)         { return s.nc.tryUncork() }
func (s *socket) writePayload(p payload) error     { return s.nc.writePayload(p) }

// closeStatus is the code of the client's close frame that err reports,
// or -1 when err is not one (the connection dropped).
func closeStatus(err error) int {
	var ce wsutil.ClosedError
	if errors.As(err, &ce) {
		return int(ce.Code)
	}
	return -1
}
