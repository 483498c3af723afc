package server

import (
	"bytes"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// writeTimeout bounds the write of one frame; a connection that does not
// take a frame within it is dropped.
const writeTimeout = 10 * time.Second

// conn is one WebSocket connection. Its read loop (the HTTP handler's
// goroutine) decodes and carries out frames in order. Until the connection
// logs in or resumes a session, the read loop writes its replies itself;
// from then on the session's stream owns the writing (see session).
type conn struct {
	n       *Node
	ws      wsConn
	remote  string
	limiter bucket // read loop only

	// The session this connection carries and its attachment to it. Changed
	// only by the read loop, under Node.mu; so the read loop reads them
	// without the lock and others read them with it.
	sess *session
	att  *attachment
	// relay is set, by the read loop, once the connection resumed a session
	// of another node: its frames then go there (relay.go).
	relay *relay
	// drained is set, under Node.mu, by a drain that closes the connection
	// (with 1012: its client logs in elsewhere); no session attaches to it.
	drained bool
	// loggedOut is set, by the read loop under Node.mu, at a logout: the
	// logout's frames are flushed once it is closed, and a drain closes
	// the connection only after them (a close first cut off the logout's
	// replies, and its client took the 1012 for a move).
	loggedOut <-chan struct{}

	// watchdog drops a connection that does not log in within LoginTimeout
	// or, logged in, sends nothing for IdleTimeout. A frame does not reset
	// it (a timer reset per frame): it records its time in lastFrame, and
	// the watchdog, when it fires, waits the rest of IdleTimeout since then.
	watchdog *time.Timer
	// lastFrame is when the last frame of the logged-in session came (a
	// monotonic clockTime); 0 while the connection is not logged in.
	lastFrame atomic.Int64
	expired   atomic.Bool
	// watchMu orders the watchdog's arming and its firing: a firing that
	// raced with a login, a logout or the end of the connection sees what
	// they set and neither closes a connection just re-armed nor arms the
	// timer of one that ended. Frames only store lastFrame.
	watchMu       sync.Mutex
	loginDeadline int64 // clockTime by which an anonymous connection must log in
	watchStopped  bool
}

// clockStart is the origin of clockTime.
var clockStart = time.Now()

// clockTime is t on a monotonic clock, never 0.
func clockTime(t time.Time) int64 { return int64(t.Sub(clockStart)) | 1 }

// watchIdle arms the watchdog for IdleTimeout from now: c logged in or
// resumed a session. Read loop only.
func (c *conn) watchIdle() {
	c.watchMu.Lock()
	defer c.watchMu.Unlock()
	if c.watchStopped {
		return
	}
	c.lastFrame.Store(clockTime(time.Now()))
	c.watchdog.Reset(c.n.cfg.IdleTimeout)
}

// watchLogin arms the watchdog for LoginTimeout: c is new or logged out.
// Read loop only.
func (c *conn) watchLogin() {
	c.watchMu.Lock()
	defer c.watchMu.Unlock()
	if c.watchStopped {
		return
	}
	c.lastFrame.Store(0)
	c.loginDeadline = clockTime(time.Now().Add(c.n.cfg.LoginTimeout))
	if c.watchdog == nil {
		c.watchdog = time.AfterFunc(c.n.cfg.LoginTimeout, c.expire)
	} else {
		c.watchdog.Reset(c.n.cfg.LoginTimeout)
	}
}

// stopWatch stops the watchdog for good: the connection has ended, or is
// relayed to the session's node, which watches it.
func (c *conn) stopWatch() {
	c.watchMu.Lock()
	c.watchStopped = true
	c.lastFrame.Store(0)
	c.watchdog.Stop()
	c.watchMu.Unlock()
}

func newConn(n *Node, ws wsConn, remote string) *conn {
	return &conn{n: n, ws: ws, remote: remote,
		limiter: newBucket(n.cfg.RateLimit, n.cfg.RateBurst, time.Now())}
}

// run serves the connection until it closes. A logged-in session whose
// connection drops without a close frame is kept for ResumeGrace; a close
// by either side ends it.
func (c *conn) run() {
	n := c.n
	n.mu.Lock()
	if n.closing {
		n.mu.Unlock()
		c.ws.Close(ws.StatusGoingAway, "server shutting down")
		return
	}
	n.hub.conns[c] = struct{}{}
	n.mu.Unlock()
	c.watchLogin()
	if c.n.debug() {
		c.log().Debug("connected")
	}

	err := c.readLoop()
	c.stopWatch()
	if c.relay != nil {
		c.relay.end(err)
	}

	n.mu.Lock()
	delete(n.hub.conns, c)
	if v, ok := c.ws.(*vconn); ok && n.cl.vconns[v.key] == v {
		delete(n.cl.vconns, v.key)
	}
	var writer <-chan struct{}
	if s := c.sess; s != nil && s.attachedTo(c.att) && !s.moved.Load() { // a moved session waits (drain.go)
		if c.resumable(err) {
			n.detachLocked(s, err)
		} else {
			n.endSessionLocked(s, ws.StatusNormalClosure, "", "closed")
		}
	}
	if c.att != nil {
		writer = c.att.done
	}
	n.mu.Unlock()
	if writer != nil {
		<-writer
	}
	c.ws.CloseNow()
	if c.n.debug() {
		c.log().Debug("disconnected", "status", closeStatus(err), "err", err, "idle", c.expired.Load())
	}
}

// log is the connection's logger, made when needed: an idle connection
// does not keep one.
func (c *conn) log() *slog.Logger { return c.n.log.With("remote", c.remote) }

// resumable reports whether the connection dropped rather than closed: no
// close frame from the client, and not a close the server decided.
func (c *conn) resumable(err error) bool {
	return closeStatus(err) == -1 && !c.att.closing.Load()
}

// expire is the watchdog: it drops the connection, unless it is logged in
// and sent a frame less than IdleTimeout ago: then it waits for the rest.
// A logged-in session stays resumable; an anonymous connection simply ends.
// A firing that a login or logout overtook (the timer re-armed while this
// call waited for watchMu) finds its deadline not yet reached and returns.
func (c *conn) expire() {
	c.watchMu.Lock()
	now := clockTime(time.Now())
	if c.watchStopped {
		c.watchMu.Unlock()
		return
	}
	if last := c.lastFrame.Load(); last != 0 {
		if left := c.n.cfg.IdleTimeout - time.Duration(now-last); left > 0 {
			c.watchdog.Reset(left)
			c.watchMu.Unlock()
			return
		}
	} else if now < c.loginDeadline {
		c.watchMu.Unlock()
		return
	}
	c.watchMu.Unlock()
	c.expired.Store(true)
	c.ws.CloseNow()
}

func (c *conn) readLoop() error {
	// Once, for the login: not again after the collector shrank an idle
	// connection's stack, which would keep every idle connection at 8 KiB
	// (stack.go).
	reserveStack()
	for {
		if s := c.sess; s != nil && c.relay == nil {
			s.waitReadable(c.att)
		}
		typ, data, buf, err := c.read()
		if err != nil {
			return err
		}
		if c.relay != nil {
			c.relay.in(typ, data) // keeps data: buf is nil
			continue
		}
		switch s, a := c.sess, c.att; {
		case a != nil && a.closing.Load():
			// read on, so that the close handshake completes
		case s == nil:
			c.handle(typ, data, time.Now())
		default:
			s.hold(a)
			c.handle(typ, data, time.Now())
			s.release(a)
		}
		if buf != nil && c.relay == nil { // a resume relayed keeps data
			putIOBuf(buf)
		}
	}
}

// read reads the next message. From a socket, it reads it into a pooled
// buffer, buf, which the caller gives back once nothing keeps data, so that
// a message, a heartbeat's included, allocates none. Until a relay is
// started: relayed messages are kept.
func (c *conn) read() (typ ws.OpCode, data []byte, buf *[]byte, err error) {
	sk, ok := c.ws.(*socket)
	if !ok || c.relay != nil {
		typ, data, err = c.ws.Read()
		return typ, data, nil, err
	}
	return sk.readOwned()
}

// handle carries out one frame from the client and queues its reply.
func (c *conn) handle(typ ws.OpCode, data []byte, now time.Time) {
	if c.sess != nil {
		c.lastFrame.Store(clockTime(now)) // puts the watchdog off
	}
	c.n.m.frames.Inc()
	// A frame that may be the ack of an invite is decoded before the rate
	// limit, which it may not count, and carried out from that decoding.
	var f *protocol.Frame
	var err error
	if c.mayBeSolicited(typ, data) {
		f = requestFrames.Get().(*protocol.Frame)
		err = protocol.DecodeInto(f, data)
		if c.solicited(f, err, data) {
			c.dispatchDecoded(f, err, data)
			return
		}
	}
	if ok, abuse := c.limiter.take(now); !ok {
		if f != nil {
			putRequestFrame(f)
		}
		c.n.m.rateLimited.Inc()
		if abuse {
			c.log().Warn("closing connection: over the rate limit for too long", "user", c.user())
			c.ban("rate limit exceeded")
			return
		}
		c.replyError(protocol.RequestID(data), protocol.Errorf(protocol.CodeRateLimited,
			"over %g frames per second (burst %d); the request was not carried out", c.n.cfg.RateLimit, c.n.cfg.RateBurst))
		return
	}
	if typ != ws.OpText {
		c.replyError(0, errBinaryFrame)
		return
	}
	if f != nil {
		c.dispatchDecoded(f, err, data)
		return
	}
	c.dispatchFrame(data)
}

// mayBeSolicited reports whether the frame may be the ack of an invite
// this session was sent: without a credit the frame counts whatever it is,
// and need not be decoded first (the caller's frames, a callee's once it
// acknowledged).
func (c *conn) mayBeSolicited(typ ws.OpCode, data []byte) bool {
	s := c.sess
	return s != nil && typ == ws.OpText && s.ackCredits.Load() > 0 && bytes.Contains(data, []byte(`"ack"`))
}

// solicited reports whether the frame, decoded into f with err, is the ack
// of an invite this session was sent, which the rate limit does not count,
// and spends the credit. A frame that did not decode is peeked at for its
// type: dispatchDecoded refuses it.
func (c *conn) solicited(f *protocol.Frame, err error, data []byte) bool {
	if err == nil && f.Type != protocol.TypeAck {
		return false
	}
	if err != nil {
		if typ, ok := protocol.RawField(data, "type"); !ok || string(typ) != `"`+protocol.TypeAck+`"` {
			return false
		}
	}
	s := c.sess
	if s.ackCredits.Add(-1) < 0 {
		s.ackCredits.Add(1)
		return false
	}
	return true
}

// requestFrames are the Frames requests are decoded into. A frame refused,
// a ping, a login or resume carried out here, and a send, ack, accept,
// refuse or hangup carried out on this node go back once answered (their
// handlers keep no request frame), so that heartbeats, logins and flows
// allocate none; other requests may be kept.
var requestFrames = sync.Pool{New: func() any { return new(protocol.Frame) }}

func putRequestFrame(f *protocol.Frame) {
	*f = protocol.Frame{}
	requestFrames.Put(f)
}

// dispatchFrame decodes, checks and carries out one text frame.
func (c *conn) dispatchFrame(data []byte) {
	f := requestFrames.Get().(*protocol.Frame)
	c.dispatchDecoded(f, protocol.DecodeInto(f, data), data)
}

// dispatchDecoded checks and carries out the text frame data, decoded
// into f (from requestFrames) with err.
func (c *conn) dispatchDecoded(f *protocol.Frame, err error, data []byte) {
	if err != nil {
		c.replyError(f.RID, asProtocolError(err)) // the rid to echo, when it was readable
		putRequestFrame(f)
		return
	}
	if err := f.CheckRequest(); err != nil {
		c.replyError(f.RID, asProtocolError(err))
		putRequestFrame(f)
		return
	}
	if c.n.debug() {
		c.log().Debug("request", "type", f.Type, "rid", f.RID, "inv", f.Inv, "user", c.user())
	}
	if f.Type == protocol.TypeResume && c.sess == nil {
		if node := ownerOf(f.Session); node != c.n.id && node != "" {
			c.startRelay(node, f, data)
			return
		}
	}
	c.dispatch(f)
}

// dispatch carries out a valid request.
func (c *conn) dispatch(f *protocol.Frame) {
	n := c.n
	switch f.Type {
	case protocol.TypePing:
		if s := c.sess; s != nil {
			s.ackUpTo(f.Ack)
			s.replyOK(f.RID)
		} else {
			c.writeDirect(&protocol.Frame{Type: protocol.TypeOK, RID: f.RID})
		}
		putRequestFrame(f)
		return
	case protocol.TypeLogin, protocol.TypeResume:
		if c.sess != nil {
			c.replyError(f.RID, errAlreadyLogin)
			return
		}
		var err *protocol.Error
		if f.Type == protocol.TypeLogin {
			err = n.login(c, f)
		} else {
			n.mu.Lock()
			err = n.resumeLocked(c, f)
			n.mu.Unlock()
		}
		result := "ok"
		if err != nil {
			result = err.Code.String()
			c.directError(f.RID, err)
		}
		if f.Type == protocol.TypeLogin {
			n.m.logins.WithLabelValues(result).Inc()
		} else {
			n.m.resumes.WithLabelValues(result).Inc()
		}
		putRequestFrame(f) // the session keeps f's strings, not f
		return
	}
	s := c.sess
	if s == nil {
		c.directError(f.RID, errNotLoggedIn)
		return
	}
	if s.moved.Load() {
		return // told to move: the client sends it again on its new session (drain.go)
	}
	if f.Type == protocol.TypeRenew {
		n.renew(s, f)
		return
	}
	if f.Type == protocol.TypePushSubscribe || f.Type == protocol.TypePushUnsubscribe ||
		f.Type == protocol.TypeLogout && f.DropPush {
		// The store may block: the read loop waits, without the node's lock.
		err := n.pushRequest(s, f)
		if err != nil || f.Type != protocol.TypeLogout {
			n.mu.Lock()
			if err != nil {
				s.replyError(f.RID, err) // a failed dropPush leaves the session logged in
			} else {
				s.replyOK(f.RID)
			}
			n.mu.Unlock()
			return
		}
	}
	switch f.Type {
	case protocol.TypeAck, protocol.TypeAccept, protocol.TypeRefuse, protocol.TypeHangup, protocol.TypeIgnore:
		if owner := ownerOf(f.Inv); owner != n.id && owner != "" {
			if f.Type == protocol.TypeIgnore {
				n.mu.Lock()
				delete(s.remoteRinging, f.Inv) // it no longer rings here, whatever the owner answers
				n.mu.Unlock()
			}
			n.forward(s, f) // the owner decides; the read loop waits for its reply
			return
		}
	}
	n.mu.Lock()
	if s.moved.Load() {
		n.mu.Unlock()
		return // moved while this request was read: not carried out
	}
	if f.Type == protocol.TypeLogout {
		done := n.logoutLocked(c, f.RID)
		n.mu.Unlock()
		<-done // the session's writer has flushed: the read loop writes again
		return
	}
	switch f.Type {
	case protocol.TypeSend:
		// The read loop waits for a settle, so that replies stay in order.
		if n.settleBusyLocked(sendCallees(f)) && (s.moved.Load() || s.ended) {
			break // moved or ended while it waited: not carried out
		}
		if !n.moveSenderLocked(s) {
			n.sendLocked(s, f)
		}
	case protocol.TypeCancel:
		n.cancelLocked(s, f)
	case protocol.TypeAck:
		n.ackLocked(s, f)
	case protocol.TypeAccept, protocol.TypeRefuse:
		n.answerLocked(s, f)
	case protocol.TypeQuery:
		n.queryLocked(s, f.RID, f.IDs)
	case protocol.TypeSubscribe:
		n.subscribeLocked(s, f.RID, f.IDs)
	case protocol.TypeUnsubscribe:
		n.unsubscribeLocked(s, f.RID, f.IDs)
	case protocol.TypeMessage:
		n.messageLocked(s, f)
	case protocol.TypeHangup:
		n.hangupLocked(s, f)
	case protocol.TypeIgnore:
		n.ignoreLocked(s, f)
	case protocol.TypeWaiting:
		n.waitingLocked(s, f)
	}
	n.mu.Unlock()
	switch f.Type {
	case protocol.TypeSend, protocol.TypeAck, protocol.TypeAccept, protocol.TypeRefuse, protocol.TypeHangup:
		putRequestFrame(f)
	}
}

// user is the logged-in user id, for logs; read loop only.
func (c *conn) user() string {
	if c.sess == nil {
		return ""
	}
	return c.sess.user
}

// replyError answers through the session's stream when there is one.
func (c *conn) replyError(rid uint64, err *protocol.Error) {
	if s := c.sess; s != nil {
		s.replyError(rid, err)
		return
	}
	c.directError(rid, err)
}

// directError writes an error reply from the read loop of a connection
// without a session.
func (c *conn) directError(rid uint64, err *protocol.Error) {
	c.n.m.errors.WithLabelValues(err.Code.String()).Inc()
	c.writeDirect(protocol.ErrorFrame(rid, err))
}

// writeDirect writes f from the read loop of a connection without a
// session, encoded into a pooled buffer: on a socket, one system call.
func (c *conn) writeDirect(f *protocol.Frame) {
	buf := getIOBuf()
	defer putIOBuf(buf)
	*buf = protocol.AppendFrame((*buf)[:0], f)
	if err := c.ws.Write(*buf); err != nil {
		c.log().Debug("write failed", "err", err)
		c.ws.CloseNow()
	}
}

// ban closes the connection with 1008 and ends its session for good.
func (c *conn) ban(reason string) {
	n := c.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if s := c.sess; s != nil && s.attachedTo(c.att) {
		s.enqueue(&protocol.Frame{Type: protocol.TypeBye, Reason: "BANNED_BY_SERVER"})
		n.endSessionLocked(s, ws.StatusPolicyViolation, reason, "banned")
		return
	}
	go c.ws.Close(ws.StatusPolicyViolation, reason) // the read loop sees the close and ends
}

// bucket is a token bucket: rate tokens per second up to burst. Frames over
// it are rejected; rejected frames are counted until the bucket is full
// again, and the one after burst of them is abuse.
type bucket struct {
	rate     float64
	burst    float64
	tokens   float64
	last     time.Time
	rejected int
}

func newBucket(rate float64, burst int, now time.Time) bucket {
	return bucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}
}

// take spends a token for one frame. ok reports whether the frame may be
// carried out; abuse, whether the connection is to be closed.
func (b *bucket) take(now time.Time) (ok, abuse bool) {
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(b.burst, b.tokens+dt*b.rate)
	}
	b.last = now
	if b.tokens >= b.burst {
		b.rejected = 0 // the client has slowed down enough to refill the bucket
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, false
	}
	b.rejected++
	return false, float64(b.rejected) > b.burst
}

// asProtocolError returns err's *protocol.Error, or UNKNOWN wrapping it.
func asProtocolError(err error) *protocol.Error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe
	}
	return protocol.Errorf(protocol.CodeUnknown, "%v", err)
}
