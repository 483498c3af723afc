package server

import (
	"log/slog"
	"time"

	"github.com/gobwas/ws"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// A session's life (PROTOCOL.md, "Sessions" and "Resume"): login creates
// it on a connection; a dropped connection detaches it for ResumeGrace;
// resume attaches a new connection; logout, a close by either side, the
// end of the grace period, an expired token or shutdown end it.

// login authenticates f and makes a session on c. The error, if any, is
// for the caller to write: c has no session then.
func (n *Node) login(c *conn, f *protocol.Frame) *protocol.Error {
	exp, err := n.authenticate(f.User, f.Token)
	if err != nil {
		c.log().Info("login refused", "user", f.User, "code", err.Code.String(), "err", err.Message)
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closing || n.draining {
		return errShuttingDown
	}
	s := newSession(n, f.User)
	// Call waiting as the login asks, before the other nodes hear of the
	// session and before late ringing, which applies busy with it: a
	// client that moved off a draining node is rung so while its user is
	// in a call (PROTOCOL.md "Late ringing").
	s.waiting = f.Waiting
	claimNode := n.claimNodeLocked(s, f.Session, f.Key, f.Attempt) // before the others hear of s: they learn its claim with it
	n.presenceLocked(s.user, func() {
		n.hub.add(s)
		c.sess, c.att = s, s.attach(c.ws, 0)
	})
	n.announceLocked(s)
	s.enqueue(&protocol.Frame{Type: protocol.TypeOK, RID: f.RID, User: s.user, Session: s.id, Key: s.key,
		Grace: n.cfg.ResumeGrace.Milliseconds(), Heartbeat: n.cfg.Heartbeat.Milliseconds()})
	if claimNode != "" {
		n.claimLocked(s, claimNode, f.Key)
	}
	n.ringLateLocked(s, s.user)
	n.watchTokenLocked(s, exp)
	c.watchIdle()
	n.emit(Event{Type: EventSessionStarted, Session: &SessionInfo{ID: s.id, User: s.user}})
	n.logSessionLocked(s, slog.LevelInfo, "login", "remote", c.remote, "sessions_of_user", len(n.hub.users[s.user]))
	return nil
}

// resumeLocked attaches c to the session f names, if f's key matches and
// the session still has every frame after f.Ack. The reply, unsequenced,
// comes first, then the frames the client missed.
func (n *Node) resumeLocked(c *conn, f *protocol.Frame) *protocol.Error {
	if c.drained {
		// Closing with 1012 (Drain): the client tries again elsewhere.
		return errShuttingDown
	}
	s := n.hub.sessions[f.Session]
	if n.closing || s == nil || s.ended || !s.resumeKeyMatches(f.Key) {
		n.logLocked(c.log(), slog.LevelInfo, "resume refused", "session", f.Session)
		return errResumeFailed
	}
	s.qmu.Lock()
	first := s.nextSeq - uint64(len(s.buf)) // the oldest seq still held
	lastRID := s.lastRID
	lost := s.overflowed || f.Ack+1 < first || f.Ack >= s.nextSeq
	if !lost {
		s.trimLocked(f.Ack)
	}
	s.qmu.Unlock()
	if lost {
		n.logSessionLocked(s, slog.LevelWarn, "resume refused: frames the client has not acknowledged were dropped", "ack", f.Ack, "first", first)
		n.endSessionLocked(s, ws.StatusPolicyViolation, "cannot resume", "resume_lost")
		return errResumeFailed
	}
	moved := s.moved.Load()
	if !moved {
		n.stopTimer(&s.grace)
	}
	reply := &protocol.Frame{Type: protocol.TypeOK, RID: f.RID, User: s.user, Session: s.id, LastRID: lastRID,
		Grace: n.cfg.ResumeGrace.Milliseconds(), Heartbeat: n.cfg.Heartbeat.Milliseconds()}
	n.presenceLocked(s.user, func() {
		c.sess, c.att = s, s.attach(c.ws, f.Ack, reply)
	})
	if moved && !s.byeDue { // else the bye closes it once queued (drain.go)
		// Its connection dropped before the client read its bye MOVED
		// (drain.go): the replay brings it, then 1012 again.
		s.qmu.Lock()
		a := c.att
		a.closing.Store(true)
		a.code, a.reason = statusServiceRestart, "moved"
		s.kickLocked(a)
		s.qmu.Unlock()
	}
	n.announceLocked(s)
	c.watchIdle()
	n.logSessionLocked(s, slog.LevelInfo, "resumed", "remote", c.remote, "ack", f.Ack, "last_rid", lastRID, "moved", moved)
	return nil
}

// logoutLocked ends c's session: the session's own pending invitations end
// with events to it, then the reply; the connection stays open, anonymous.
// It returns a channel closed once the session's writer has flushed.
func (n *Node) logoutLocked(c *conn, rid uint64) <-chan struct{} {
	s, a := c.sess, c.att
	n.leaveLocked(s, true)
	s.replyOK(rid)
	n.retireLocked(s)
	n.m.sessionsEnded.WithLabelValues("logout").Inc()
	n.emit(Event{Type: EventSessionEnded, Session: &SessionInfo{ID: s.id, User: s.user, Why: "logout"}})
	s.detach()
	c.sess, c.att, c.loggedOut = nil, nil, a.done
	c.watchLogin()
	n.logSessionLocked(s, slog.LevelInfo, "logout")
	return a.done
}

// detachLocked keeps s for ResumeGrace after its connection dropped.
func (n *Node) detachLocked(s *session, err error) {
	n.presenceLocked(s.user, func() { s.detach() })
	n.announceLocked(s)
	s.grace = n.afterFunc(n.cfg.ResumeGrace, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if !s.ended && !s.live {
			n.endSessionLocked(s, ws.StatusNormalClosure, "", "grace")
		}
	})
	n.logSessionLocked(s, slog.LevelInfo, "connection lost; session kept for resume", "grace", n.cfg.ResumeGrace, "err", err)
}

// endSessionLocked ends s for good: its invitations end as when a session
// leaves, and its connection, if any, is closed with code and reason after
// the frames already queued.
func (n *Node) endSessionLocked(s *session, code ws.StatusCode, reason, why string) {
	if s.ended {
		return
	}
	n.leaveLocked(s, false)
	n.retireLocked(s)
	s.close(code, reason)
	n.m.sessionsEnded.WithLabelValues(why).Inc()
	n.emit(Event{Type: EventSessionEnded, Session: &SessionInfo{ID: s.id, User: s.user, Why: why}})
	n.logSessionLocked(s, slog.LevelInfo, "session ended", "why", why)
}

// leaveLocked takes s out of everything it takes part in (PROTOCOL.md,
// "Sessions leaving"). On logout s itself first gets the terminal events of
// its invitations.
func (n *Node) leaveLocked(s *session, logout bool) {
	n.sessionLeftLocked(s, logout)
	n.hub.unsubscribeAll(s)
}

// retireLocked removes s from the hub and stops its timers.
func (n *Node) retireLocked(s *session) {
	s.ended = true
	n.stopTimer(&s.grace)
	n.stopTimer(&s.expiry)
	n.forgetClaimLocked(s)
	n.presenceLocked(s.user, func() {
		n.hub.remove(s)
		s.live = false
	})
	n.announceLocked(s)
}

// renew replaces s's token: same user, a later expiry.
func (n *Node) renew(s *session, f *protocol.Frame) {
	exp, err := n.authenticate(s.user, f.Token)
	n.mu.Lock()
	defer n.mu.Unlock()
	if err != nil {
		s.replyError(f.RID, err)
	} else {
		n.watchTokenLocked(s, exp)
		s.replyOK(f.RID)
		n.logSessionLocked(s, slog.LevelInfo, "token renewed", "exp", exp)
	}
}

// watchTokenLocked ends s when its token expires (zero exp: never). As on
// logout, the session's invitations end with events to it; then "bye" with
// reason TOKEN_EXPIRED.
func (n *Node) watchTokenLocked(s *session, exp time.Time) {
	n.stopTimer(&s.expiry)
	if exp.IsZero() {
		return
	}
	s.expiry = n.afterFunc(time.Until(exp), func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if s.ended {
			return
		}
		s.expiry = nil
		n.leaveLocked(s, true)
		s.enqueue(&protocol.Frame{Type: protocol.TypeBye, Reason: "TOKEN_EXPIRED"})
		n.endSessionLocked(s, ws.StatusNormalClosure, "token expired", "token_expired")
	})
}
