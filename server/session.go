package server

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

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
	// remoteUntil is when the latest of the remote invitations that rang
	// it times out (their invites' time left): a drain's default timeout
	// covers them (drainTimeoutLocked), their owner's timer is not here.
	remoteUntil time.Time
	// inCall are the calls the session is in, by invitation id, owned here
	// or elsewhere: the session's user is busy while it has any.
	inCall  map[string]struct{}
	waiting bool // call waiting: invitations ring this session while its user is busy
	// forwarding counts its answers forwarded to another node's invitation
	// and not yet replied to: a drain does not move it meanwhile (idle),
	// or the reply would be dropped and its client, moving, would fail a
	// refuse carried out ALREADY_END.
	forwarding int
	// moved: a draining node told the client to move (drain.go); the read
	// loop reads it without the lock. byeDue: its bye waits for the peers.
	// claimed: a session of the user has appeared elsewhere since.
	moved   atomic.Bool
	byeDue  bool
	claimed bool
	// The hand-over of a move (handover.go). On the moved session: moveHold,
	// the peer messages it got since the move; dropped, those past
	// MaxMovedMessages; claimBy, the session whose claim is under way or
	// was granted, and claimByAttempt, its login's attempt; handed, the
	// claim was answered; holdUntil, when the hold expires. On the new
	// session: claim, the moved session its login
	// named, claimKey, the key it named it with, and claimAttempt, the
	// login's attempt number (0 from a client of an earlier version);
	// passOn, a re-claim waiting for the claim's answer; passedTo, where a
	// re-claim took what it was owed (handover.go, "A lost login reply");
	// claimCall, its claim's call while an answer may still matter.
	// Guarded by Node.mu.
	moveHold       []heldMessage
	dropped        int
	claimBy        string
	claimByAttempt uint64
	claimNode      string
	handed         bool
	holdUntil      time.Time
	claim          string
	claimKey       string
	claimAttempt   uint64
	passOn         func()
	passedTo       *passTarget
	claimCall      *call

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
	// held are the invitations a draining node rings this session for
	// without telling its client (drain.go, holdBackLocked): their frames are
	// not queued. Written under Node.mu and qmu.
	held map[string]struct{}
	// claiming: the session's claim of a moved session is under way, and
	// the peer messages for it wait in diverted, to follow those the moved
	// session held (handover.go), up to MaxMovedMessages: one more ends the
	// wait (stopDivertingLocked). owing: the session claims a moved one
	// and its client has acknowledged nothing yet, so the login's reply
	// may have been lost; owed are the peer messages queued to it since
	// (up to MaxMovedMessages; owedDropped past it, and those the moved
	// session dropped), for a later login of its device (handover.go).
	claiming    bool
	diverted    []heldMessage
	owing       bool
	owed        []heldMessage
	owedDropped int
	// lastRID is the rid of the last reply queued: every request the
	// stream answers, whether carried out or refused, or of an ack carried
	// out since (acked), so that a resumed client resends only what the
	// server has not done.
	lastRID    uint64
	overflowed bool   // frames were dropped: the session cannot be resumed
	chunk      []byte // the array the stream's last frame was encoded into, its free end for the next (entryLocked)
}

// entry is a frame of the stream, kept encoded rather than as a Frame: a
// few bytes the collector need not scan, where a Frame is 576 and points
// to its strings.
type entry struct {
	seq  uint64
	rid  uint64 // a reply's (ok, error, or an event with a rid), else 0; data nil: the frame is {"type":"ok","rid":rid}
	data []byte // protocol.AppendFrameUnsequenced's, numbered when written
	at   int32  // where in data the seq goes
	err  bool   // an error reply
}

// newEntry encodes f for a stream.
func newEntry(f *protocol.Frame) entry {
	buf := getIOBuf()
	b, at := protocol.AppendFrameUnsequenced((*buf)[:0], f)
	e := entry{data: bytes.Clone(b), at: int32(at), err: f.Type == protocol.TypeError}
	*buf = b
	putIOBuf(buf)
	e.rid = f.RID // a reply: ok, error, or an event that answers its request
	return e
}

// chunkSize is the size of the arrays a busy stream's frames are encoded
// into, several to one (entryLocked); a new one is taken when less than
// chunkSize/4 is left.
const chunkSize = 1 << 10

// entryLocked is newEntry for s's stream. While the stream holds frames,
// f is encoded straight into the free end of the array the last one was
// (s.chunk): no buffer to encode into first and no copy, and one
// allocation for several frames. Into an empty stream, an idle session's,
// f is encoded as newEntry does, exactly sized, so that an idle session
// keeps no spare room. qmu is held.
func (s *session) entryLocked(f *protocol.Frame) entry {
	if len(s.buf) == 0 {
		s.chunk = nil
		return newEntry(f)
	}
	if cap(s.chunk)-len(s.chunk) < chunkSize/4 {
		s.chunk = make([]byte, 0, chunkSize)
	}
	free := s.chunk[len(s.chunk):]
	b, at := protocol.AppendFrameUnsequenced(free, f)
	if len(b) > cap(free) { // outgrew the chunk: a chunk of its own
		s.chunk = append(make([]byte, 0, max(chunkSize, len(b))), b...)
		b = s.chunk
	} else {
		s.chunk = s.chunk[:len(s.chunk)+len(b)]
	}
	return entry{data: b[:len(b):len(b)], at: int32(at), err: f.Type == protocol.TypeError, rid: f.RID}
}

// appendTo appends e's frame with its seq.
func (e entry) appendTo(dst []byte) []byte {
	if e.data == nil {
		return protocol.AppendOK(dst, e.rid, e.seq)
	}
	return protocol.AppendSequenced(dst, e.data, int(e.at), e.seq)
}

// frame decodes e's frame (without its seq).
func (e entry) frame() *protocol.Frame {
	if e.data == nil {
		return &protocol.Frame{Type: protocol.TypeOK, RID: e.rid}
	}
	f, err := protocol.Decode(e.data)
	if err != nil { // unreachable: the codec decodes what it encodes
		return protocol.ErrorFrame(e.rid, protocol.Errorf(protocol.CodeUnknown, "%v", err))
	}
	return f
}

// attachment is one connection's turn at writing a session's stream: its
// writer goroutine writes frames in seq order after the ones the client
// has. The writer runs only while there is something to write, so an idle
// connection costs one goroutine (its read loop), not two.
type attachment struct {
	ws      wsConn
	done    chan struct{} // closed once the attachment is finished: stopped, closed, or its connection failed
	written uint64        // the last seq written; the writer's own once started
	batch   []entry       // the writer's, reused from batch to batch
	closing atomic.Bool   // the server is closing this connection
	batched bool          // ws collects writes (batcher): writes may be made inline, never waiting
	partial bool          // the writer's: the socket took part of the last batch, the rest waits in ws

	// Guarded by the session's qmu.
	pre      []*protocol.Frame // unsequenced frames written first (the resume reply)
	stop     bool              // return after writing what is queued, leaving the connection open
	running  bool              // a writer is at work: a goroutine of its own, or the read loop (held)
	held     bool              // the read loop is carrying out a request: it writes what is queued next
	owed     bool              // frames were queued while held
	finished bool              // done is closed
	code     ws.StatusCode
	reason   string
}

// wsConn is what a session and a connection need of a WebSocket: a
// socket, or a vconn for a client connected to another node (relay.go).
// Write writes a text message; Close sends a close frame and waits for the
// client's; CloseNow drops the connection.
type wsConn interface {
	Read() (ws.OpCode, []byte, error)
	Write(data []byte) error
	Close(code ws.StatusCode, reason string) error
	CloseNow() error
}

// newSession makes a session of user. Its id starts with the node's id, so
// that a resume reaching another node finds the session's node.
func newSession(n *Node, user string) *session {
	s := &session{
		n:       n,
		key:     randomHex(16),
		order:   n.nextSeqLocked(),
		user:    user,
		nextSeq: 1,
	}
	for {
		s.id = n.id + randomHex(sessionRandomBytes)
		if _, dup := n.hub.sessions[s.id]; !dup {
			break
		}
	}
	return s
}

// put sets (*m)[k] to v, making the map first: a session's maps of
// invitations and calls stay nil until used, which saves an idle session
// their headers (about 190 bytes of heap).
func put[K comparable, V any](m *map[K]V, k K, v V) {
	if *m == nil {
		*m = make(map[K]V)
	}
	(*m)[k] = v
}

// log is the session's logger, made when needed: an idle session does not
// keep one.
func (s *session) log() *slog.Logger { return s.n.log.With("session", s.id, "user", s.user) }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// attach makes ws the session's connection, writing from seq after, and
// starts its writer. pre is written before the stream. Node.mu is held.
func (s *session) attach(ws wsConn, after uint64, pre ...*protocol.Frame) *attachment {
	a := &attachment{ws: ws, done: make(chan struct{}), written: after, pre: pre}
	_, a.batched = ws.(batcher)
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
func (s *session) close(code ws.StatusCode, reason string) {
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

// replyOK queues a plain ok: an entry without a Frame, which a heartbeat's
// reply would otherwise keep until the next heartbeat acknowledges it.
func (s *session) replyOK(rid uint64) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	s.pushLocked(entry{rid: rid})
}

// acked records that ack rid was carried out. It has no reply; lastRID
// counts it as answered, so that a resumed client does not send it again.
func (s *session) acked(rid uint64) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if !s.closed {
		s.lastRID = rid
	}
}

// answered: the event queued with rid was the reply, and its entry moved
// lastRID (appendLocked).
func (s *session) answered(uint64) {}

func (s *session) replyError(rid uint64, err *protocol.Error) {
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

func (s *session) enqueueLocked(f *protocol.Frame) { s.enqueueAlsoLocked(f, nil) }

// enqueueAlso is enqueue for a peer message that went to the sessions also
// as well (claimers of the same moved session: handover.go).
func (s *session) enqueueAlso(f *protocol.Frame, also []string) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	s.enqueueAlsoLocked(f, also)
}

func (s *session) enqueueAlsoLocked(f *protocol.Frame, also []string) {
	if f.Type == protocol.TypePeerMessage && !s.closed {
		if s.claiming && len(s.diverted) < MaxMovedMessages {
			cp := *f
			s.diverted = append(s.diverted, heldMessage{f: &cp, also: also})
			return
		}
		if s.claiming {
			s.stopDivertingLocked()
		}
		if s.owing {
			s.oweLocked(f, also)
		}
	}
	if s.held != nil && f.Inv != "" {
		if _, ok := s.held[f.Inv]; ok {
			return
		}
	}
	s.pushLocked(s.entryLocked(f))
}

// stopDivertingLocked ends the wait of s's peer messages for its claim's
// answer once MaxMovedMessages wait, as the answer's wait running out
// would (handover.go): they are queued, in order, and so is every later
// one, and what the moved session held comes when the answer does, after
// them. Dropping the next one instead would keep the order but lose it.
func (s *session) stopDivertingLocked() {
	waited := s.diverted
	s.claiming, s.diverted = false, nil
	s.n.log.Warn("move claim's answer awaited by as many peer messages as a moved session holds: they go on",
		"session", s.id, "user", s.user, "moved", s.claim, "waited", len(waited))
	for _, h := range waited {
		s.enqueueAlsoLocked(h.f, h.also)
	}
}

// pushLocked adds e to the stream with the next seq, unless it is closed.
func (s *session) pushLocked(e entry) {
	if !s.closed {
		s.appendLocked(e)
	}
}

// appendLocked is pushLocked on a closed stream too: a moved session's
// bye (byeMovedLocked).
func (s *session) appendLocked(e entry) {
	if len(s.buf) >= maxQueuedFrames {
		s.buf, s.closed, s.overflowed = nil, true, true
		if a := s.att; a != nil {
			a.closing.Store(true)
			a.code, a.reason = ws.StatusPolicyViolation, "client too slow"
			s.kickLocked(a)
		}
		return
	}
	e.seq = s.nextSeq
	s.buf = append(s.buf, e)
	s.nextSeq++
	if e.rid != 0 || e.data == nil {
		s.lastRID = e.rid
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
	if s.owing && seq > 0 {
		// The client has the login's reply: it resumes this session, it
		// never logs in again naming the moved one (handover.go).
		s.owing, s.owed, s.owedDropped = false, nil, 0
	}
	if len(s.buf) == 0 || seq < s.buf[0].seq {
		return
	}
	k := len(s.buf) // an ack past the last frame (a client's mistake) acknowledges them all
	if d := seq - s.buf[0].seq; d < uint64(len(s.buf)) {
		k = int(d) + 1
	}
	// What is left moves to the front when it is little, so that the
	// slice's room is reused rather than each heartbeat's reply allocating.
	if rest := len(s.buf) - k; rest <= 64 {
		copy(s.buf, s.buf[k:])
		clear(s.buf[rest:])
		s.buf = s.buf[:rest]
		if rest == 0 {
			s.chunk = nil // idle: no spare room kept
		}
		return
	}
	clear(s.buf[:k])
	s.buf = s.buf[k:]
}

// kickLocked starts a's writer unless it is running or a is finished.
// While the connection's read loop holds a, the frames wait for it
// (release) rather than for a goroutine. Otherwise, while Node.mu is held,
// they wait for its Unlock, which writes them from the goroutine that
// queued them (nodeMutex.deferWrite); only then, and to stop or close a,
// does a goroutine write them. qmu is held.
func (s *session) kickLocked(a *attachment) {
	if a.running || a.finished {
		return
	}
	quiet := !a.stop && !a.closing.Load()
	if a.held && quiet {
		a.owed = true
		return
	}
	a.running = true
	if quiet && a.batched && s.n.mu.deferWrite(s, a) {
		return
	}
	s.n.wg.Go(func() { s.writeLoop(a, false) })
}

// waitReadable waits, before the read loop reads its next frame, until the
// connection has data (readWaiter). Not once the attachment is stopping or
// closing: the socket's Close then reads the connection too, and
// checking for buffered data must come before it (qmu orders the two).
func (s *session) waitReadable(a *attachment) {
	w, ok := a.ws.(readWaiter)
	if !ok {
		return
	}
	s.qmu.Lock()
	wait := !a.stop && !a.closing.Load() && !w.readable()
	s.qmu.Unlock()
	if wait {
		w.waitRead()
	}
}

// hold is called by a's read loop before it carries out a request: the
// frames the request causes to this session are written by release, from
// the read loop itself, without waking a writer goroutine.
func (s *session) hold(a *attachment) {
	s.qmu.Lock()
	a.held = true
	s.qmu.Unlock()
}

// release writes what was queued to a while held, unless a writer is at
// work. Stopping or closing a is left to a writer goroutine, which waits
// for the close handshake.
func (s *session) release(a *attachment) {
	s.qmu.Lock()
	owed := a.owed
	a.held, a.owed = false, false
	if !owed || a.running || a.finished {
		s.qmu.Unlock()
		return
	}
	a.running = true
	s.qmu.Unlock()
	s.writeLoop(a, true)
}

// writeLoop writes a's pre frames, then the stream after a.written, until
// nothing is left to write (it returns; the next frame starts it again), or
// the session stops or closes this attachment (it finishes a). Inline (on
// a read loop from release, or on whichever goroutine queued the frames,
// from nodeMutex.Unlock), it never waits for the socket: it hands a stop,
// a close, or what the socket did not take at once to a goroutine.
func (s *session) writeLoop(a *attachment, inline bool) {
	batch := a.batch[:0] // handed back under qmu before another writer may start
	for {
		s.qmu.Lock()
		if inline && (a.stop || a.closing.Load()) {
			a.batch = batch
			s.qmu.Unlock()
			s.n.wg.Go(func() { s.writeLoop(a, false) })
			return
		}
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
		stop, closing, code, reason, overflowed := a.stop, a.closing.Load(), a.code, a.reason, s.overflowed
		if len(pre) == 0 && len(batch) == 0 && !stop && !closing && !a.partial {
			a.running = false // idle: the next frame or stop starts a writer again
			a.batch = batch
			s.qmu.Unlock()
			return
		}
		s.qmu.Unlock()

		ok, whole := s.writeBatch(a, pre, batch, !inline)
		clear(batch)
		if !whole {
			// The socket is full: a goroutine waits for it.
			s.n.m.writeWaits.Inc()
			a.partial = true
			s.qmu.Lock()
			a.batch = batch
			s.qmu.Unlock()
			s.n.wg.Go(func() { s.writeLoop(a, false) })
			return
		}
		a.partial = false
		switch {
		case !ok:
		case closing:
			if overflowed {
				s.log().Warn("closing session: client does not read or acknowledge its frames", "queued", maxQueuedFrames)
			}
			a.ws.Close(code, reason)
		case stop && len(batch) == 0 && len(pre) == 0:
		default:
			continue // wrote a batch: look again before stopping
		}
		s.qmu.Lock()
		a.running, a.finished, a.batch = false, true, nil
		s.qmu.Unlock()
		close(a.done)
		return
	}
}

// writeBatch writes pre, unsequenced, then batch, with one system call
// when the connection collects writes (batcher), after what an earlier
// batch left unwritten. Unless wait, it writes what the socket takes at
// once and reports whether that was the whole; the rest stays collected.
// On failure it drops the connection; its read loop then detaches the
// session.
func (s *session) writeBatch(a *attachment, pre []*protocol.Frame, batch []entry, wait bool) (ok, whole bool) {
	b, batched := a.ws.(batcher)
	if batched {
		b.cork()
	}
	ok = true
	for _, f := range pre {
		if ok = s.writeFrom(a, (*preFrame)(f)); !ok {
			break
		}
	}
	for i := range batch {
		if !ok {
			break
		}
		e := &batch[i]
		if e.err && s.n.debug() {
			f := e.frame()
			s.log().Debug("error reply", "rid", f.RID, "code", f.Name, "err", f.Message)
		}
		if ok = s.writeFrom(a, e); ok {
			a.written = e.seq
		}
	}
	whole = true
	if batched {
		var err error
		if wait {
			err = b.uncork(s.n.ctx)
		} else {
			whole, err = b.tryUncork()
		}
		if err != nil && ok {
			return s.writeFailed(a, err), true
		}
	}
	return ok, whole
}

// writeFrom writes the frame p appends; batched, encoded straight into
// the connection's collected writes, which take no time.
func (s *session) writeFrom(a *attachment, p payload) bool {
	var err error
	if w, ok := a.ws.(payloadWriter); ok {
		err = w.writePayload(p)
	} else {
		buf := getIOBuf()
		*buf = p.appendTo((*buf)[:0])
		err = a.ws.Write(*buf) // copies it
		putIOBuf(buf)
	}
	if err != nil {
		return s.writeFailed(a, err)
	}
	return true
}

// payload is a frame to write, which appends its encoding.
type payload interface{ appendTo(dst []byte) []byte }

// preFrame is a frame written ahead of the stream, unsequenced.
type preFrame protocol.Frame

func (f *preFrame) appendTo(dst []byte) []byte {
	return protocol.AppendFrame(dst, (*protocol.Frame)(f))
}

// payloadWriter is a wsConn that writes a text frame from its payload,
// without a buffer to encode it into first.
type payloadWriter interface {
	writePayload(p payload) error
}

func (s *session) writeFailed(a *attachment, err error) bool {
	s.log().Info("write failed; dropping connection", "err", err)
	a.ws.CloseNow()
	return false
}

// claimKeyMatches compares key with the one s's login named its moved
// session with, in constant time.
func (s *session) claimKeyMatches(key string) bool {
	return s.claimKey != "" && subtle.ConstantTimeCompare([]byte(s.claimKey), []byte(key)) == 1
}

// resumeKeyMatches compares keys in constant time.
func (s *session) resumeKeyMatches(key string) bool {
	return subtle.ConstantTimeCompare([]byte(s.key), []byte(key)) == 1
}
