package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// maxQueuedFrames bounds a session's unacknowledged frames. A client that
// lets them pile up (it does not read, or does not acknowledge) loses its
// session: the connection is closed with 1008.
const maxQueuedFrames = 4096

// session is a logged-in client. It outlives its connection: when the
// connection drops without a close, the session keeps its invitations and
// its frames for ResumeGrace, and a new connection may resume it with the
// session id and key it got at login (PROTOCOL.md, "Resume").
//
// Every frame the session sends has a sequence number and stays in buf
// until the client acknowledges it, so a resumed connection gets what the
// dropped one missed, in order, exactly once.
type session struct {
	n     *Node
	id    string
	key   string // the resume key, known only to the client
	order uint64 // creation order, for stable iteration
	log   *slog.Logger

	// Guarded by Node.mu. user is written by the read loop of the attached
	// connection only, so that loop may read it without the lock.
	user     string
	live     bool                     // a connection is attached
	ended    bool                     // gone for good
	outgoing map[*invitation]struct{} // pending invitations this session sent
	ringing  map[*invitation]struct{} // pending invitations ringing this session
	// remoteRinging are the pending invitations of other nodes ringing this
	// session, by id, with the order they were rung in: their owner is told
	// when the session leaves.
	remoteRinging map[string]uint64

	// api marks a caller the server API made (backend.go): such a session
	// is never in the hub.
	api callerKind

	// ackCredits counts invites sent and not yet acknowledged: their acks
	// are the server's own asking and do not count against the rate limit,
	// so that a flood of invitations cannot get the callee banned.
	ackCredits atomic.Int64
	grace      *time.Timer // ends the session while detached
	expiry     *time.Timer // ends the session when its token expires

	// The stream. qmu is taken under Node.mu, never the reverse.
	qmu     sync.Mutex
	buf     []entry // sent or to send, not yet acknowledged, in seq order
	nextSeq uint64  // the seq of the next frame
	att     *attachment
	closed  bool // no more frames are queued
	// lastRID is the rid of the last reply queued: every request the
	// stream answers, whether carried out or refused, so that a resumed
	// client resends only what has no reply in the stream.
	lastRID    uint64
	overflowed bool // frames were dropped: the session cannot be resumed
}

type entry struct {
	seq uint64
	f   *protocol.Frame // shared between sessions, never changed
}

// attachment is one connection's turn at writing a session's stream: its
// writer goroutine writes frames in seq order after the ones the client
// has. The writer runs only while there is something to write, so an idle
// connection costs one goroutine (its read loop), not two.
type attachment struct {
	ws      wsConn
	done    chan struct{} // closed once the attachment is finished: stopped, closed, or its connection failed
	written uint64        // the last seq written; the writer's own once started
	closing atomic.Bool   // the server is closing this connection

	// Guarded by the session's qmu.
	pre      []*protocol.Frame // unsequenced frames written first (the resume reply)
	stop     bool              // return after writing what is queued, leaving the connection open
	running  bool              // a writer goroutine is at work
	finished bool              // done is closed
	code     websocket.StatusCode
	reason   string
}

// wsConn is what a session and a connection need of a WebSocket: a
// *websocket.Conn, or a vconn for a client connected to another node (relay.go).
type wsConn interface {
	Read(ctx context.Context) (websocket.MessageType, []byte, error)
	Write(ctx context.Context, typ websocket.MessageType, data []byte) error
	Close(code websocket.StatusCode, reason string) error
	CloseNow() error
}

var _ wsConn = (*websocket.Conn)(nil)

// newSession makes a session of user. Its id starts with the node's id, so
// that a resume reaching another node finds the session's node.
func newSession(n *Node, user string) *session {
	s := &session{
		n:             n,
		key:           randomHex(16),
		order:         n.nextSeqLocked(),
		user:          user,
		outgoing:      make(map[*invitation]struct{}),
		ringing:       make(map[*invitation]struct{}),
		remoteRinging: make(map[string]uint64),
		nextSeq:       1,
	}
	for {
		s.id = n.id + randomHex(sessionRandomBytes)
		if _, dup := n.hub.sessions[s.id]; !dup {
			break
		}
	}
	s.log = n.log.With("session", s.id, "user", user)
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// attach makes ws the session's connection, writing from seq after, and
// starts its writer. pre is written before the stream. Node.mu is held.
func (s *session) attach(ws wsConn, after uint64, pre ...*protocol.Frame) *attachment {
	a := &attachment{ws: ws, done: make(chan struct{}), written: after, pre: pre}
	s.qmu.Lock()
	if old := s.att; old != nil {
		old.stop = true
		s.kickLocked(old)
		old.ws.CloseNow() // a resume replaces a connection that has not noticed it is dead
	}
	s.att = a
	s.kickLocked(a)
	s.qmu.Unlock()
	s.live = true
	return a
}

// attachedTo reports whether a is still the session's connection.
func (s *session) attachedTo(a *attachment) bool {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return a != nil && s.att == a
}

// detach stops the attached connection's writer after what it has queued;
// the frames stay for the next connection. Node.mu is held.
func (s *session) detach() *attachment {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	a := s.att
	if a != nil {
		a.stop = true
		s.kickLocked(a)
	}
	s.att = nil
	s.live = false
	return a
}

// close stops the stream: the attached connection is closed with code and
// reason after the frames already queued. Node.mu is held.
func (s *session) close(code websocket.StatusCode, reason string) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	s.closed = true
	if a := s.att; a != nil {
		a.closing.Store(true)
		a.code, a.reason = code, reason
		s.kickLocked(a)
	}
	s.live = false
}

func (s *session) sessionID() string { return s.id }

func (s *session) replyOK(rid uint64) {
	s.enqueue(&protocol.Frame{Type: protocol.TypeOK, RID: rid})
}

func (s *session) replyError(rid uint64, err *protocol.Error) {
	s.log.Debug("error reply", "rid", rid, "code", err.Code.String(), "err", err.Message)
	s.n.m.errors.WithLabelValues(err.Code.String()).Inc()
	s.enqueue(protocol.ErrorFrame(rid, err))
}

// enqueue adds f to the stream without blocking. A session whose client lets
// maxQueuedFrames pile up unacknowledged is closed with 1008.
func (s *session) enqueue(f *protocol.Frame) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	s.enqueueLocked(f)
}

func (s *session) enqueueLocked(f *protocol.Frame) {
	if s.closed {
		return
	}
	if len(s.buf) >= maxQueuedFrames {
		s.log.Warn("closing session: client does not read or acknowledge its frames", "queued", len(s.buf))
		s.buf, s.closed, s.overflowed = nil, true, true
		if a := s.att; a != nil {
			a.closing.Store(true)
			a.code, a.reason = websocket.StatusPolicyViolation, "client too slow"
			s.kickLocked(a)
		}
		return
	}
	s.buf = append(s.buf, entry{seq: s.nextSeq, f: f})
	s.nextSeq++
	if f.RID != 0 && (f.Type == protocol.TypeOK || f.Type == protocol.TypeError) {
		s.lastRID = f.RID
	}
	if a := s.att; a != nil {
		s.kickLocked(a)
	}
}

// ackUpTo forgets the frames the client has received, up to seq.
func (s *session) ackUpTo(seq uint64) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	s.trimLocked(seq)
}

func (s *session) trimLocked(seq uint64) {
	if len(s.buf) == 0 || seq < s.buf[0].seq {
		return
	}
	k := len(s.buf) // an ack past the last frame (a client's mistake) acknowledges them all
	if d := seq - s.buf[0].seq; d < uint64(len(s.buf)) {
		k = int(d) + 1
	}
	clear(s.buf[:k])
	s.buf = s.buf[k:]
}

// kickLocked starts a's writer unless it is running or a is finished.
// qmu is held.
func (s *session) kickLocked(a *attachment) {
	if a.running || a.finished {
		return
	}
	a.running = true
	s.n.wg.Go(func() { s.writeLoop(a) })
}

// writeLoop writes a's pre frames, then the stream after a.written, until
// nothing is left to write (it returns; the next frame starts it again), or
// the session stops or closes this attachment (it finishes a).
func (s *session) writeLoop(a *attachment) {
	var batch []entry
	for {
		s.qmu.Lock()
		pre := a.pre
		a.pre = nil
		batch = batch[:0]
		if len(s.buf) > 0 {
			// Frames acknowledged before they were written (a client's
			// mistake) are gone: write what is left.
			first := max(a.written+1, s.buf[0].seq)
			if k := first - s.buf[0].seq; k < uint64(len(s.buf)) {
				batch = append(batch, s.buf[k:]...)
			}
		}
		stop, closing, code, reason := a.stop, a.closing.Load(), a.code, a.reason
		if len(pre) == 0 && len(batch) == 0 && !stop && !closing {
			a.running = false // idle: the next frame or stop starts a writer again
			s.qmu.Unlock()
			return
		}
		s.qmu.Unlock()

		ok := true
		for _, f := range pre {
			if ok = s.write(a, f, 0); !ok {
				break
			}
		}
		for _, e := range batch {
			if !ok {
				break
			}
			if ok = s.write(a, e.f, e.seq); ok {
				a.written = e.seq
			}
		}
		clear(batch)
		switch {
		case !ok:
		case closing:
			a.ws.Close(code, reason)
		case stop && len(batch) == 0 && len(pre) == 0:
		default:
			continue // wrote a batch: look again before stopping
		}
		s.qmu.Lock()
		a.running, a.finished = false, true
		s.qmu.Unlock()
		close(a.done)
		return
	}
}

// write writes f with sequence number seq (0: none). On failure it drops
// the connection; its read loop then detaches the session.
func (s *session) write(a *attachment, f *protocol.Frame, seq uint64) bool {
	g := *f
	g.Seq = seq
	data, err := protocol.Encode(&g)
	if err == nil {
		ctx, cancel := context.WithTimeout(s.n.ctx, writeTimeout)
		err = a.ws.Write(ctx, websocket.MessageText, data)
		cancel()
	}
	if err != nil {
		s.log.Info("write failed; dropping connection", "err", err)
		a.ws.CloseNow()
		return false
	}
	return true
}

// resumeKeyMatches compares keys in constant time.
func (s *session) resumeKeyMatches(key string) bool {
	return subtle.ConstantTimeCompare([]byte(s.key), []byte(key)) == 1
}
