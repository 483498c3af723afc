package server

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// Drain (docs/CLUSTER.md "Drain and rolling restart"): a node about to stop
// takes no new connections, lets what it holds end, and moves its clients
// to the other nodes, so that a rolling restart drops no call.
//
// A session moves (bye MOVED, then close 1012; its client logs in anew
// through the load balancer) once it is party to nothing: no invitation it
// sent or that rings it is pending, it is in no call, and no answer of its
// waits for another node's reply. Until then it stays
// and works as before, so that no outcome, answer or hang-up has to cross a
// move. A moved session is kept, still counted as connected, until a session
// of its user appears on another node (then PeerHeartbeat more, for the
// other nodes to learn of the new one first) or ResumeGrace passes: so the
// user's presence does not flap, and an invitation sent to the user meanwhile
// rings the new session by late ringing. The stream of a moved session is
// closed: the client, gone, is sent nothing more; the peer messages it gets
// it holds for the device's next session (handover.go).

// Drain limits.
const (
	// MaxDefaultDrainTimeout caps the default drain timeout.
	MaxDefaultDrainTimeout = 10 * time.Minute
	// drainTick is how often a draining node looks for sessions that may move.
	drainTick = 20 * time.Millisecond
)

// Drain drains the node, then shuts it down (Shutdown): new connections
// and logins are refused with 503 and SHUTTING_DOWN, /healthz answers 503,
// and every session moves once it is party to nothing pending. It returns
// once the node has shut down: when every session has moved and ended (or,
// on a node without peers, moved) and nothing is pending, or at the drain timeout (Config.DrainTimeout, or by
// default the longest time left to an invitation in flight here, at least
// ResumeGrace and at most MaxDefaultDrainTimeout), or when ctx ends; what is
// left then ends as Shutdown ends it, with the sessions told bye MOVED.
// Calling it again, or during a StartDrain, waits for the same end.
func (n *Node) Drain(ctx context.Context) error {
	n.mu.Lock()
	if !n.draining && !n.closing {
		n.draining = true
		timeout := n.drainTimeoutLocked()
		n.drainDeadline = time.Now().Add(timeout)
		n.logLocked(n.log, slog.LevelInfo, "draining", "sessions", len(n.hub.sessions), "pending", len(n.invs.byID),
			"calls", len(n.invs.calls), "timeout", timeout)
		for c := range n.hub.conns {
			switch {
			case c.relay != nil:
				c.ws.CloseNow() // its session lives on another node: the client resumes through another
			case c.sess == nil:
				// A resume read before the close is written must not
				// attach its session: its client, told 1012 right after,
				// would leave it with what it holds (resumeLocked).
				// One that just logged out is closed after its logout's
				// replies, which its client waits for.
				c.drained = true
				go func(hold chan struct{}, loggedOut <-chan struct{}) {
					if loggedOut != nil {
						<-loggedOut
					}
					if hold != nil {
						<-hold
					}
					c.ws.Close(statusServiceRestart, "server draining")
				}(n.drainCloses, c.loggedOut)
			}
		}
	}
	deadline, hold := n.drainDeadline, n.drainLooks
	n.mu.Unlock()
	if hold != nil {
		<-hold
	}

	tick := time.NewTicker(drainTick)
	defer tick.Stop()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		n.mu.Lock()
		done := n.closing || n.moveIdleLocked()
		n.drainLooked++
		n.mu.Unlock()
		if done {
			n.log.Info("drained")
			break
		}
		select {
		case <-tick.C:
			continue
		case <-timer.C:
			n.m.drainTimeouts.Inc()
			n.mu.Lock()
			unmoved, busy := 0, 0
			for _, s := range n.hub.sessions {
				if !s.moved.Load() {
					unmoved++
					if !idle(s) {
						busy++
						if n.debug() { // what held it: the drain timeout is the bug to find
							n.logSessionLocked(s, slog.LevelDebug, "drain timeout: busy session",
								"outgoing", invIDs(s.outgoing), "ringing", invIDs(s.ringing),
								"remote_ringing", slices.Collect(maps.Keys(s.remoteRinging)),
								"in_call", slices.Collect(maps.Keys(s.inCall)), "held", slices.Collect(maps.Keys(s.held)))
						}
					}
				}
			}
			n.logLocked(n.log, slog.LevelWarn, "drain timeout: ending what is left", "pending", len(n.invs.byID),
				"calls", len(n.invs.calls), "sessions", len(n.hub.sessions), "unmoved", unmoved, "busy", busy)
			n.mu.Unlock()
		case <-ctx.Done():
			n.log.Warn("drain interrupted: ending what is left", "err", ctx.Err())
		}
		break
	}
	return n.Shutdown(ctx)
}

// invIDs returns the ids of invs (debug logs).
func invIDs(invs map[*invitation]struct{}) []string {
	var ids []string
	for inv := range invs {
		ids = append(ids, inv.id)
	}
	return ids
}

// StartDrain starts Drain on a goroutine of its own and returns at once
// (the server API's POST /api/v1/drain); false if the node already drains
// or has shut down. Done is closed once the node has shut down.
func (n *Node) StartDrain() bool {
	if n.Draining() {
		return false
	}
	started := false
	n.drainOnce.Do(func() {
		started = true
		go func() {
			if err := n.Drain(context.Background()); err != nil {
				n.log.Warn("drain", "err", err)
			}
		}()
	})
	return started
}

// Draining reports whether the node drains or has shut down.
func (n *Node) Draining() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.draining || n.closing
}

// Done is closed once Shutdown (or Drain) has finished.
func (n *Node) Done() <-chan struct{} { return n.done }

// drainTimeoutLocked is the drain timeout: Config.DrainTimeout, or the
// longest time left to an invitation pending here or ringing a session here
// from another node, plus a PeerHeartbeat for its end to arrive, at least
// ResumeGrace (how long moved sessions wait for their clients), at most
// MaxDefaultDrainTimeout. (Counting only those owned here, a callee's node
// cut its ringing devices at ResumeGrace: UNKNOWN, and PEER_OFFLINE for a
// group's callee, in the cluster soak with its 2 s grace.)
func (n *Node) drainTimeoutLocked() time.Duration {
	if n.cfg.DrainTimeout > 0 {
		return n.cfg.DrainTimeout
	}
	left := time.Duration(0)
	for _, inv := range n.invs.byID {
		left = max(left, inv.timeout-time.Since(inv.created))
	}
	for _, s := range n.hub.sessions {
		if len(s.remoteRinging) > 0 {
			left = max(left, time.Until(s.remoteUntil))
		}
	}
	if left > 0 {
		left += n.cfg.PeerHeartbeat
	}
	return min(max(left, n.cfg.ResumeGrace), MaxDefaultDrainTimeout)
}

// moveIdleLocked moves every connected session that is party to nothing,
// and reports whether the node is done: no invitation pending, no call, and
// no session, or only moved ones on a node with no peer (no other node for
// their clients to log in on: waiting for them is pointless).
func (n *Node) moveIdleLocked() bool {
	moved := true
	for _, s := range n.hub.sessionsInOrder() {
		if s.live && !s.moved.Load() && idle(s) {
			n.moveLocked(s)
		}
		moved = moved && s.moved.Load()
	}
	return len(n.invs.byID) == 0 && len(n.invs.calls) == 0 &&
		(len(n.hub.sessions) == 0 && !n.holdingLocked() || moved && len(n.cl.peers) == 0)
}

// idle reports whether s is party to no pending invitation and no call,
// and waits for no reply to an answer it forwarded: an invitation held
// back from it (holdBackLocked) does not count, its client knows nothing
// of it.
func idle(s *session) bool {
	if len(s.outgoing) > 0 || len(s.inCall) > 0 || s.forwarding > 0 {
		return false
	}
	for inv := range s.ringing {
		if _, ok := s.held[inv.id]; !ok {
			return false
		}
	}
	for id := range s.remoteRinging {
		if _, ok := s.held[id]; !ok {
			return false
		}
	}
	return true
}

// holdBackLocked is told that invitation id is about to ring s, a session
// here, and reports whether its client must not hear of it. A draining
// node rings a session in a call for no new invitation, so that it is not
// pinned there by invitations that keep coming (a call has no timeout):
// it is rung without its client hearing of it and moves once done with
// the rest, then is rung on its new node by late ringing, by whichever
// node owns the invitation. An idle session moves at once (its invite is
// dropped, as for any moved session) and is rung there so too. One that
// rings, or has an invitation of its own pending, rings as before: held
// back, a ringing device stayed deaf to every new invitation until its
// ringing ended, up to an invitation's timeout, and its user, if it was
// the only device, was rung for none (the cluster soak's callees online
// at the send never rung); it moves once nothing rings it, which the
// invitations' timeouts bound, and the drain timeout past those. The held
// invitation rings s until s ends, so that it does not fail PEER_OFFLINE
// meanwhile.
func (n *Node) holdBackLocked(s *session, id string) bool {
	if !n.draining || n.closing || s.moved.Load() || len(s.outgoing) > 0 {
		// (A caller rings as before: its invitation may wait on the answer
		// of a device that this one would otherwise hold back, and so on
		// around, until the timeouts.)
		return false
	}
	if idle(s) {
		n.moveLocked(s)
		return false
	}
	if len(s.inCall) == 0 {
		return false // it rings: as before
	}
	s.qmu.Lock()
	if s.held == nil {
		s.held = make(map[string]struct{})
	}
	s.held[id] = struct{}{}
	s.qmu.Unlock()
	return true
}

// moveSenderLocked is told that s sends a new invitation, and reports
// whether s moved instead, the send not carried out: on a draining node an
// idle session moves rather than being kept there by the invitations it
// keeps placing (a caller calling back to back is idle only between a
// hang-up and its next send, which a tick rarely catches). Its client
// sends it again on its new node, as any request left unanswered by a move.
func (n *Node) moveSenderLocked(s *session) bool {
	if !n.draining || n.closing || s.moved.Load() || !idle(s) {
		return false
	}
	n.moveLocked(s)
	return true
}

// moveLocked tells s's client to move and keeps s, connected for presence,
// until a session of its user appears elsewhere (claimMovedLocked) or
// ResumeGrace passes. The bye goes once every peer has handled what this
// node sent it before (afterPeersLocked), so that the node the client logs
// in on next knows what this one decided until then: the end of a call the
// client just hung up, whose callee it would otherwise find busy there.
func (n *Node) moveLocked(s *session) {
	s.qmu.Lock()
	s.closed = true // the client is leaving: nothing more is queued but the bye
	s.qmu.Unlock()
	s.byeDue = true
	n.afterPeersLocked(func() { byeMovedLocked(s) })
	s.moved.Store(true)
	s.holdUntil = time.Now().Add(n.cfg.ResumeGrace)
	n.stopTimer(&s.expiry)
	s.grace = n.afterFunc(n.cfg.ResumeGrace, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.endSessionLocked(s, statusServiceRestart, "moved", "moved")
	})
	n.m.moves.Inc()
	n.logSessionLocked(s, slog.LevelInfo, "session moved")
}

// byeMovedLocked queues bye MOVED to s, moved, and closes its connection
// after it with 1012.
func byeMovedLocked(s *session) {
	s.byeDue = false
	if s.ended {
		return // its connection was closed with it
	}
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if s.overflowed {
		return // its client was cut off as too slow
	}
	s.appendLocked(newEntry(&protocol.Frame{Type: protocol.TypeBye, Reason: protocol.ByeMoved}))
	if a := s.att; a != nil {
		a.closing.Store(true)
		a.code, a.reason = statusServiceRestart, "moved"
		s.kickLocked(a)
	}
}

// claimMovedLocked is told that a session of user appeared on another node,
// whose login named session named (handover.go; "" none): that moved
// session of user, or else the oldest not yet replaced, ends PeerHeartbeat
// later, once every node has had time to learn of the new one (and, for the
// invitations they own, to ring it).
func (n *Node) claimMovedLocked(user, named string) {
	if !n.draining {
		return
	}
	ss := n.hub.sessionsOf(user)
	if i := slices.IndexFunc(ss, func(s *session) bool { return s.id == named }); i > 0 {
		first := ss[i]
		ss = slices.Insert(slices.Delete(ss, i, i+1), 0, first)
	}
	for _, s := range ss {
		if !s.moved.Load() || s.claimed || s.ended {
			continue
		}
		n.replacedLocked(s)
		return
	}
}

// replacedLocked ends s, moved, PeerHeartbeat from now, once every node
// has had time to learn of the session that replaces it. Unless handed
// over by then, it keeps its hold for a claim: the new session may be
// another device's, and its own claim may come yet (handover.go).
func (n *Node) replacedLocked(s *session) {
	s.claimed = true
	n.stopTimer(&s.grace)
	hold := n.replacedHold
	s.grace = n.afterFunc(n.cfg.PeerHeartbeat, func() {
		if hold != nil {
			<-hold
		}
		n.mu.Lock()
		defer n.mu.Unlock()
		n.endSessionLocked(s, statusServiceRestart, "moved", "moved")
		n.keepHoldLocked(s)
	})
}

// LocalSessions returns how many sessions of user live on this node, moved
// ones included (tests and harnesses: which node holds a client).
func (n *Node) LocalSessions(user string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.hub.users[user])
}
