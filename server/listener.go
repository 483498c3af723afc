package server

import (
	"bytes"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// net/http allocates a 4 KiB bufio.Reader and bufio.Writer for every
// connection before any handler runs, and a WebSocket's hijack hands them
// over, never to return to its pools. The Listener reads a connection's
// request head itself: a WebSocket upgrade at protocol.Path that would
// succeed is upgraded on the raw connection, with gobwas/ws's Upgrader;
// every other request, and every upgrade that would fail, goes to net/http
// unchanged, with the bytes already read, to get today's answer from
// ServeHTTP. docs/BENCHMARKS.md item 8 has the measurements.

// maxFastHead is the largest request head the Listener upgrades itself,
// read into a pooled buffer; a longer one (cookies) goes to net/http, whose
// limit is http.Server.MaxHeaderBytes.
const maxFastHead = ioBufSize

// fastUpgrader is accept's ws.HTTPUpgrader as a ws.Upgrader: the same
// checks of the same headers, the same 101 (gobwas/ws writes both with
// one function).
var fastUpgrader = ws.Upgrader{Protocol: func(p []byte) bool { return string(p) == protocol.Subprotocol }}

// Listener returns a listener on ln for an http.Server whose handler serves
// this node at protocol.Path (ServeHTTP, or WebSocketHandler there): the
// WebSocket upgrades it takes itself never reach the server, which accepts
// every other connection from it. headerTimeout (0: none) bounds the wait
// for a request head, as the server's ReadHeaderTimeout does. Closing the
// listener closes ln. For TLS, serve it with ServeTLS, which terminates TLS
// above it: it then sees encrypted bytes and hands every connection to
// net/http (TestListenerUnderTLS). A tls.Listener as ln would hand net/http
// connections that are no *tls.Conn, so that r.TLS is nil.
func (n *Node) Listener(ln net.Listener, headerTimeout time.Duration) net.Listener {
	l := &listener{Listener: ln, n: n, timeout: headerTimeout, conns: make(chan net.Conn),
		errs: make(chan error), closed: make(chan struct{}), done: make(chan struct{}),
		reading: make(map[net.Conn]struct{})}
	go l.acceptLoop()
	return l
}

type listener struct {
	net.Listener
	n         *Node
	timeout   time.Duration
	conns     chan net.Conn // for net/http
	errs      chan error    // ln's temporary errors, for net/http's backoff
	closed    chan struct{} // Close was called
	closeOnce sync.Once
	done      chan struct{} // acceptLoop returned: ln failed for good
	err       error         // that failure; read after done

	mu      sync.Mutex
	reading map[net.Conn]struct{} // the connections whose heads are being read
}

// acceptLoop accepts until ln fails for good, and reads each connection's
// head on a goroutine of its own.
func (l *listener) acceptLoop() {
	defer close(l.done)
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			l.mu.Lock()
			select {
			case <-l.closed:
				c.Close()
			default:
				l.reading[c] = struct{}{}
				go l.serve(c)
			}
			l.mu.Unlock()
			continue
		}
		if te, ok := err.(interface{ Temporary() bool }); ok && te.Temporary() {
			// EMFILE and the like: net/http waits before it accepts again.
			select {
			case l.errs <- err:
				continue
			case <-l.closed:
			}
		}
		l.err = err
		return
	}
}

// Accept returns the next connection for net/http; once closed, ln's
// error.
func (l *listener) Accept() (net.Conn, error) {
	select {
	case <-l.closed:
		<-l.done
		return nil, l.err
	default:
	}
	select {
	case c := <-l.conns:
		return c, nil
	case err := <-l.errs:
		return nil, err
	case <-l.done:
		return nil, l.err
	}
}

// Close closes ln, and the connections whose heads are being read, as
// http.Server.Close closes those it has not read a request from.
func (l *listener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.closed) })
	l.mu.Lock()
	for c := range l.reading {
		c.Close()
	}
	l.mu.Unlock()
	return err
}

// serve reads c's request head, then serves the WebSocket it upgrades, or
// hands c to net/http.
func (l *listener) serve(c net.Conn) {
	var due time.Time // when the head must be whole
	if l.timeout > 0 {
		due = time.Now().Add(l.timeout)
	}
	bp := getIOBuf()
	s, sub, replay, ok := l.readHead(c, (*bp)[:0:maxFastHead], due)
	putIOBuf(bp)
	l.mu.Lock()
	delete(l.reading, c)
	l.mu.Unlock()
	switch {
	case s != nil:
		// On a goroutine of its own, as from serveWebSocket: an idle
		// connection's stack, shrunk to 4 KiB, then holds the read loop's
		// frames alone, and a heartbeat does not grow it back to 8 KiB
		// (TestIdleSessionMemory).
		go l.n.serveSocket(s, sub, c.RemoteAddr().String())
	case !ok:
		c.Close() // net/http closes these without an answer too
	default:
		select {
		case l.conns <- &replayConn{Conn: c, pending: replay, due: due}:
		case <-l.closed:
			c.Close()
		}
	}
}

// readHead reads c's request head into buf and upgrades c if it can (s,
// with subprotocol sub; the caller serves it). Otherwise replay is what
// it read, for net/http, or not ok: c sent nothing, or its head was not
// whole by due (zero: no bound).
func (l *listener) readHead(c net.Conn, buf []byte, due time.Time) (s *socket, sub string, replay []byte, ok bool) {
	if !due.IsZero() {
		c.SetReadDeadline(due)
	}
	for {
		m, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		end, fast := fastHead(buf)
		if fast && end > 0 {
			if s, sub, done := l.upgrade(c, buf[:end], buf[end:]); done {
				return s, sub, nil, s != nil
			}
			break
		}
		if !fast || len(buf) == cap(buf) {
			break
		}
		if err != nil {
			var ne net.Error
			if len(buf) == 0 || errors.As(err, &ne) && ne.Timeout() {
				return nil, "", nil, false
			}
			break // net/http reads the same error after the bytes
		}
	}
	c.SetReadDeadline(time.Time{})
	return nil, "", slices.Clone(buf), true
}

// upgrade upgrades c, whose request head is head, with early the bytes
// read past it. Not done: nothing is written, the upgrade would fail, and
// net/http answers as before. Done with a nil socket: the 101 failed to
// go out and c is closed. The caller of a socket calls serveSocket, as
// n.wg counts it.
func (l *listener) upgrade(c net.Conn, head, early []byte) (s *socket, sub string, done bool) {
	n := l.n
	n.mu.Lock()
	if n.closing || n.draining {
		n.mu.Unlock()
		return nil, "", false
	}
	n.wg.Add(1) // as in serveWebSocket
	n.mu.Unlock()
	if origin := headerValue(head, "Origin"); origin != "" && checkOrigin(origin, headerValue(head, "Host"), n.cfg.Origins) != nil {
		n.wg.Done()
		return nil, "", false
	}
	c.SetDeadline(time.Time{})
	c.SetWriteDeadline(time.Now().Add(writeTimeout))
	rw := &upgradeRW{c: c}
	rw.head.Reset(head)
	hs, err := fastUpgrader.Upgrade(rw)
	c.SetWriteDeadline(time.Time{})
	switch {
	case err != nil && !rw.upgraded:
		n.wg.Done()
		return nil, "", false
	case err != nil:
		c.Close()
		n.wg.Done()
		return nil, "", true
	}
	return &socket{nc: newNetConn(c, slices.Clone(early))}, hs.Protocol, true
}

// upgradeRW is the Upgrader's connection: it reads the head, and passes
// the 101 on to c but drops a refusal, which net/http writes instead. The
// Upgrader writes its answer whole, in one call.
type upgradeRW struct {
	head     bytes.Reader
	c        net.Conn
	upgraded bool
}

func (rw *upgradeRW) Read(p []byte) (int, error) { return rw.head.Read(p) }

func (rw *upgradeRW) Write(p []byte) (int, error) {
	if !bytes.HasPrefix(p, []byte("HTTP/1.1 101 ")) {
		return len(p), nil
	}
	rw.upgraded = true
	return rw.c.Write(p)
}

// fastHead reports whether buf may be the start of a request the Listener
// upgrades itself (ok), and, once buf holds the whole head, where the head
// ends (end > 0). Not ok: net/http reads it. The Listener takes a head only
// as strict as net/http's parser: a request line "GET /ws[?query]
// HTTP/1.1", lines ending in CRLF, no control characters, header names
// that are tokens, exactly one Host (validHost), none of the upgrade's
// headers twice, no body (Content-Length, Transfer-Encoding), within
// maxFastHead.
func fastHead(buf []byte) (end int, ok bool) {
	const prefix = "GET " + protocol.Path
	if len(buf) <= len(prefix) {
		return 0, bytes.HasPrefix([]byte(prefix), buf)
	}
	if !bytes.HasPrefix(buf, []byte(prefix)) || buf[len(prefix)] != ' ' && buf[len(prefix)] != '?' {
		return 0, false
	}
	seen := 0 // bits of onceHeaders
	for start, first := 0, true; ; first = false {
		i := bytes.IndexByte(buf[start:], '\n')
		if i < 0 {
			return 0, true // not whole yet
		}
		l := buf[start : start+i]
		start += i + 1
		if len(l) == 0 || l[len(l)-1] != '\r' || !isText(l[:len(l)-1]) {
			return 0, false
		}
		l = l[:len(l)-1]
		switch {
		case first: // the request line
			if !bytes.HasSuffix(l, []byte(" HTTP/1.1")) || bytes.Count(l, []byte(" ")) != 2 {
				return 0, false
			}
		case len(l) == 0:
			return start, seen&1 != 0
		default:
			name, value, found := bytes.Cut(l, []byte(":"))
			if !found || !isToken(name) {
				return 0, false
			}
			for i, h := range onceHeaders {
				if len(name) != len(h) || !bytes.EqualFold(name, []byte(h)) {
					continue
				}
				if seen&(1<<i) != 0 || i == 0 && !validHost(bytes.Trim(value, " \t")) {
					return 0, false
				}
				seen |= 1 << i
			}
			if bytes.EqualFold(name, []byte("Content-Length")) || bytes.EqualFold(name, []byte("Transfer-Encoding")) {
				return 0, false
			}
		}
	}
}

// onceHeaders are the headers a head fastHead takes has at most once, Host
// exactly once: net/http answers two Hosts with 400, and ws.HTTPUpgrader
// checks the first of the others, ws.Upgrader each.
var onceHeaders = [...]string{"Host", "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version"}

// isText reports whether s has no control characters but tabs.
func isText(s []byte) bool {
	for _, b := range s {
		if ctlByte[b] {
			return false
		}
	}
	return true
}

// isToken reports whether s is an RFC 9110 token, as a header name must be.
func isToken(s []byte) bool {
	for _, b := range s {
		if !tokenByte[b] {
			return false
		}
	}
	return len(s) > 0
}

// validHost reports whether a Host header is not empty (ws.HTTPUpgrader
// refuses an empty one, ws.Upgrader does not) and every byte of it is one
// net/http takes (httpguts.ValidHostHeader).
func validHost(h []byte) bool {
	if len(h) == 0 {
		return false
	}
	for _, b := range h {
		if !hostByte[b] {
			return false
		}
	}
	return true
}

var tokenByte, hostByte = byteSet("!#$%&'*+-.^_`|~"), byteSet("!$%&'()*+,-.:;=[]_~")

var ctlByte = func() (set [256]bool) {
	for b := range ' ' {
		set[b] = b != '\t'
	}
	set[0x7f] = true
	return set
}()

// byteSet is the letters, the digits and the bytes of extra.
func byteSet(extra string) (set [256]bool) {
	for b := range 256 {
		set[b] = 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || strings.IndexByte(extra, byte(b)) >= 0
	}
	return set
}

// headerValue is the value of header name in head, which fastHead took,
// without the whitespace around it; "" if absent.
func headerValue(head []byte, name string) string {
	for l := range bytes.SplitSeq(head, []byte("\r\n")) {
		k, v, found := bytes.Cut(l, []byte(":"))
		if found && bytes.EqualFold(k, []byte(name)) {
			return string(bytes.Trim(v, " \t"))
		}
	}
	return ""
}

// replayConn is a connection for net/http: the bytes the Listener read,
// then the connection's.
type replayConn struct {
	net.Conn
	pending []byte
	// due is when the head had to be whole (zero: no header timeout).
	// net/http's first read deadline, its header timeout's when it has
	// one, is put no later: a head the Listener hands over late (a first
	// line of "GET /ws", then 4 KiB slowly) gets no second header timeout.
	// Without a header timeout, net/http's first deadline is the whole
	// request's, or none, set once the head is read: left as it is.
	due time.Time
}

func (c *replayConn) SetReadDeadline(t time.Time) error {
	if !c.due.IsZero() {
		if !t.IsZero() && t.After(c.due) {
			t = c.due
		}
		c.due = time.Time{}
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		m := copy(p, c.pending)
		c.pending = c.pending[m:]
		return m, nil
	}
	return c.Conn.Read(p)
}
