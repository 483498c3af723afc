package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/rtmcall/rtmcall/core/protocol"
)

const (
	// maxQueuedFrames bounds a session's outbound queue; a client that lets
	// it fill is closed with 1008.
	maxQueuedFrames = 4096
	// writeTimeout bounds the write of one frame; a connection that does not
	// take a frame within it is dropped.
	writeTimeout = 10 * time.Second
)

// session is one WebSocket connection: a read loop (the HTTP handler's
// goroutine) that handles frames in order, and a writer goroutine draining
// the outbound queue, so that queuing a frame never blocks the node.
type session struct {
	n      *Node
	conn   *websocket.Conn
	id     string
	seq    uint64
	remote string
	log    *slog.Logger

	// ctx ends when the node gives up on a graceful shutdown; reads and
	// writes then fail and the connection is closed at once.
	ctx        context.Context
	cancel     context.CancelFunc
	writerDone chan struct{}

	// Guarded by Node.mu. user is also read without it by the read loop,
	// the only goroutine that changes it.
	user     string                   // "" until login
	outgoing map[*invitation]struct{} // pending invitations this session sent
	ringing  map[*invitation]struct{} // pending invitations ringing this session

	limiter bucket // read loop only

	// The outbound queue. qmu is taken under Node.mu, never the reverse.
	qmu         sync.Mutex
	queue       []*protocol.Frame
	closing     bool // no more frames are queued; the writer closes after the queue
	closeCode   websocket.StatusCode
	closeReason string
	wake        chan struct{} // one-slot: the queue or closing changed
}

func newSession(n *Node, c *websocket.Conn, remote string) *session {
	var b [8]byte
	rand.Read(b[:])
	s := &session{
		n:          n,
		conn:       c,
		id:         hex.EncodeToString(b[:]),
		remote:     remote,
		writerDone: make(chan struct{}),
		outgoing:   make(map[*invitation]struct{}),
		ringing:    make(map[*invitation]struct{}),
		wake:       make(chan struct{}, 1),
		limiter:    newBucket(n.cfg.RateLimit, n.cfg.RateBurst, time.Now()),
	}
	s.log = n.log.With("session", s.id)
	s.ctx, s.cancel = context.WithCancel(n.ctx)
	return s
}

// run serves the connection until it closes, then takes the session out of
// the node.
func (s *session) run() {
	defer s.cancel()
	n := s.n
	n.mu.Lock()
	if n.closing {
		n.mu.Unlock()
		s.conn.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	s.seq = n.nextSeqLocked()
	n.hub.sessions[s] = struct{}{}
	n.wg.Go(s.writeLoop)
	n.mu.Unlock()
	s.log.Info("connected", "remote", s.remote)

	err := s.readLoop()

	n.mu.Lock()
	user := s.user
	n.leaveLocked(s, false)
	delete(n.hub.sessions, s)
	n.mu.Unlock()
	s.closeWith(websocket.StatusNormalClosure, "", false)
	<-s.writerDone
	s.log.Info("disconnected", "user", user, "status", int(websocket.CloseStatus(err)), "err", err)
}

func (s *session) readLoop() error {
	for {
		typ, data, err := s.conn.Read(s.ctx)
		if err != nil {
			return err
		}
		if s.isClosing() {
			continue // read on, so that the close handshake completes
		}
		s.handle(typ, data, time.Now())
	}
}

// handle carries out one frame from the client and queues its reply.
func (s *session) handle(typ websocket.MessageType, data []byte, now time.Time) {
	if ok, abuse := s.limiter.take(now); !ok {
		if abuse {
			s.log.Warn("closing connection: over the rate limit for too long", "user", s.user)
			s.closeWith(websocket.StatusPolicyViolation, "rate limit exceeded", true)
			return
		}
		s.replyError(ridOf(data), protocol.Errorf(protocol.CodeRateLimited,
			"over %g frames per second (burst %d); the request was not carried out", s.n.cfg.RateLimit, s.n.cfg.RateBurst))
		return
	}
	if typ != websocket.MessageText {
		s.replyError(0, errBinaryFrame)
		return
	}
	f, err := protocol.Decode(data)
	if err != nil {
		rid := ridOf(data)
		if f != nil {
			rid = f.RID // Decode zeroes an out-of-range rid
		}
		s.replyError(rid, asProtocolError(err))
		return
	}
	if err := f.CheckRequest(); err != nil {
		s.replyError(f.RID, asProtocolError(err))
		return
	}
	s.log.Debug("request", "type", f.Type, "rid", f.RID, "inv", f.Inv)
	s.dispatch(f)
}

// dispatch carries out a valid request.
func (s *session) dispatch(f *protocol.Frame) {
	n := s.n
	switch f.Type {
	case protocol.TypePing:
		s.replyOK(f.RID)
		return
	case protocol.TypeLogin:
		// user is only changed by this goroutine, so it can be read unlocked.
		if s.user != "" {
			s.replyError(f.RID, errAlreadyLogin)
			return
		}
		if err := n.authenticate(f.User, f.Token); err != nil {
			s.log.Info("login refused", "user", f.User, "code", err.Code.String(), "err", err.Message)
			s.replyError(f.RID, err)
			return
		}
		n.mu.Lock()
		n.loginLocked(s, f.RID, f.User)
		n.mu.Unlock()
		return
	}

	n.mu.Lock()
	defer n.mu.Unlock()
	if s.user == "" {
		s.replyError(f.RID, errNotLoggedIn)
		return
	}
	switch f.Type {
	case protocol.TypeLogout:
		n.logoutLocked(s, f.RID)
	case protocol.TypeSend:
		n.sendLocked(s, f)
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
	}
}

func (s *session) replyOK(rid uint64) {
	s.enqueue(&protocol.Frame{Type: protocol.TypeOK, RID: rid})
}

func (s *session) replyError(rid uint64, err *protocol.Error) {
	s.log.Debug("error reply", "rid", rid, "code", err.Code.String(), "err", err.Message)
	s.enqueue(protocol.ErrorFrame(rid, err))
}

// enqueue queues f for the writer without blocking. A client that lets
// maxQueuedFrames pile up is closed with 1008, its queue dropped.
func (s *session) enqueue(f *protocol.Frame) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	s.enqueueLocked(f)
}

func (s *session) enqueueLocked(f *protocol.Frame) {
	if s.closing {
		return
	}
	if len(s.queue) >= maxQueuedFrames {
		s.log.Warn("closing connection: client does not read its frames", "queued", len(s.queue))
		s.queue = nil
		s.closeLocked(websocket.StatusPolicyViolation, "client too slow")
		return
	}
	s.queue = append(s.queue, f)
	s.signal()
}

// closeWith makes the writer close the connection with code and reason,
// after the frames already queued when flush is set. Later frames are
// dropped; the first close wins.
func (s *session) closeWith(code websocket.StatusCode, reason string, flush bool) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if s.closing {
		return
	}
	if !flush {
		s.queue = nil
	}
	s.closeLocked(code, reason)
}

func (s *session) closeLocked(code websocket.StatusCode, reason string) {
	s.closing, s.closeCode, s.closeReason = true, code, reason
	s.signal()
}

func (s *session) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *session) isClosing() bool {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return s.closing
}

// writeLoop writes queued frames in order until the session closes.
func (s *session) writeLoop() {
	defer close(s.writerDone)
	for {
		select {
		case <-s.wake:
		case <-s.ctx.Done():
			s.conn.CloseNow()
			return
		}
		s.qmu.Lock()
		batch := s.queue
		s.queue = nil
		closing, code, reason := s.closing, s.closeCode, s.closeReason
		s.qmu.Unlock()

		for _, f := range batch {
			if err := s.write(f); err != nil {
				s.log.Info("write failed; dropping connection", "err", err)
				s.closeWith(websocket.StatusInternalError, "", false) // drop what is queued from now on
				s.conn.CloseNow()
				return
			}
		}
		if closing {
			// Frames queued after closing are dropped, so batch was the last.
			s.conn.Close(code, reason)
			return
		}
	}
}

func (s *session) write(f *protocol.Frame) error {
	data, err := protocol.Encode(f)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(s.ctx, writeTimeout)
	defer cancel()
	return s.conn.Write(ctx, websocket.MessageText, data)
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

// ridOf reads the request id of a frame that did not decode, so that the
// error can echo it; 0 when there is none to read.
func ridOf(data []byte) uint64 {
	var v struct {
		RID uint64 `json:"rid"`
	}
	_ = json.Unmarshal(data, &v) // best effort: fields of the wrong type are skipped
	if v.RID > protocol.MaxRequestID {
		return 0
	}
	return v.RID
}

// asProtocolError returns err's *protocol.Error, or UNKNOWN wrapping it.
func asProtocolError(err error) *protocol.Error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe
	}
	return protocol.Errorf(protocol.CodeUnknown, "%v", err)
}
