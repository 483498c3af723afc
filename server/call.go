package server

import (
	"cmp"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
)

// callRec is the call that follows an accepted invitation: between the
// caller's session and the session that answered, under the invitation's
// id, owned by the invitation's node (the caller's). Guarded by Node.mu.
type callRec struct {
	id         string
	seq        uint64
	caller     *session
	callerUser string
	callee     party // the answering session: a *session here or a *remoteSession
	calleeUser string
	rung       []string  // the sessions the invitation rang, for its tombstone
	started    time.Time // for call.ended (events.go)
	group      *group    // the group invitation the call came from, if any (group.go)
}

// messageLocked delivers a peer message to every session of f.Peer but s,
// and replies whether any got it (hasPeerReceived).
func (n *Node) messageLocked(s *session, f *protocol.Frame) {
	ev := &protocol.Frame{Type: protocol.TypePeerMessage, From: s.user, Text: f.Text, Raw: f.Raw,
		Description: f.Description, TS: n.mu.now().UnixMilli()}
	received := false
	parties := n.partiesOfLocked(f.Peer)
	claimers := claimersOf(parties)
	for _, p := range parties {
		if p.sessionID() != s.id {
			n.deliverMessageLocked(p, ev, claimers)
			received = true
		}
	}
	s.enqueue(&protocol.Frame{Type: protocol.TypeOK, RID: f.RID, Received: received})
}

// waitingLocked turns call waiting on or off for s.
func (n *Node) waitingLocked(s *session, f *protocol.Frame) {
	if s.waiting != f.Waiting {
		s.waiting = f.Waiting
		n.announceLocked(s)
	}
	s.replyOK(f.RID)
}

// busyLocked reports whether any session of user, on any node, is in a
// call, and whether that rests only on other nodes' word: calls owned
// elsewhere, whose end may be on its way here (afterBusySettledLocked). A
// call owned here is known here at once.
func (n *Node) busyLocked(user string) (busy, onWord bool) {
	for s := range n.hub.users[user] {
		for id := range s.inCall {
			if ownerOf(id) == n.id {
				return true, false
			}
			onWord = true // its end comes from its owner, or from the peer's node
		}
	}
	for r := range n.cl.users[user] {
		if n.invs.remoteCallees[r.id] > 0 {
			return true, false
		}
		// What its node said, but for calls owned here, or whose end the
		// node that decided it told: this node knows better, and sooner.
		for _, id := range r.calls {
			if _, ended := n.cl.endedCalls[id]; !ended && ownerOf(id) != n.id {
				onWord = true
			}
		}
	}
	return onWord, onWord
}

// A user taken for busy on other nodes' word only may be free already: the
// call's end may be on its way here (call.end, or the announcements of its
// parties' nodes), overtaken by what made this node ask (a login on a third
// node, a send from a client told of the end). Before it acts on such a busy
// where it decides who rings (a late ring of a session without call waiting,
// a send to a user with a session without it), a node syncs its peers: once
// each has answered, this node has handled everything the peers sent before
// they got the sync, so every call whose end was decided before the login or
// the send reached this node is known ended here (docs/CLUSTER.md "Calls,
// busy, messages"). Where only the invite's busy flag depends on it, the node
// does not wait.

// afterBusySettledLocked runs f under Node.mu: at once, unless a user of
// users is busy on other nodes' word only and has a session without call
// waiting; then once every peer has answered a sync (or is gone).
func (n *Node) afterBusySettledLocked(users []string, f func()) {
	if n.busyUnsettledLocked(users) {
		n.m.busySyncs.Inc()
		n.afterPeersLocked(f)
		return
	}
	f()
}

// busyUnsettledLocked reports whether a user of users is busy on other
// nodes' word only and has a session without call waiting.
func (n *Node) busyUnsettledLocked(users []string) bool {
	for _, u := range users {
		if busy, onWord := n.busyLocked(u); busy && onWord && n.someoneNotWaitingLocked(u) {
			return true
		}
	}
	return false
}

// someoneNotWaitingLocked reports whether a session of user, on any node,
// has call waiting off: busy decides whether it rings.
func (n *Node) someoneNotWaitingLocked(user string) bool {
	for s := range n.hub.users[user] {
		if !s.waiting {
			return true
		}
	}
	for r := range n.cl.users[user] {
		if !r.waiting {
			return true
		}
	}
	return false
}

// settleBusyLocked is afterBusySettledLocked for a send, whose read loop
// (or API call) waits: it releases Node.mu while it waits, at most 2 ×
// PeerTimeout, as a forwarded request (a lost sync resets its pair well
// before), and reports whether it did.
func (n *Node) settleBusyLocked(users []string) bool {
	if !n.busyUnsettledLocked(users) {
		return false // the common case, without the channel and closure below
	}
	settled := make(chan struct{})
	n.afterBusySettledLocked(users, func() { close(settled) })
	select {
	case <-settled:
		return false
	default:
	}
	n.mu.Unlock()
	t := time.NewTimer(2 * n.cfg.PeerTimeout)
	select {
	case <-settled:
	case <-n.ctx.Done():
	case <-t.C:
	}
	t.Stop()
	n.mu.Lock()
	return true
}

// sendCallees are the users a send frame calls.
func sendCallees(f *protocol.Frame) []string {
	if len(f.Callees) > 0 {
		return f.Callees
	}
	return []string{f.Callee}
}

// callIDs lists the calls s is in, sorted, for the directory.
func (s *session) callIDs() []string {
	if s.ended || len(s.inCall) == 0 {
		return nil
	}
	return slices.Sorted(maps.Keys(s.inCall))
}

// waits reports whether party p has call waiting on.
func waits(p party) bool {
	switch p := p.(type) {
	case *session:
		return p.waiting
	case *remoteSession:
		return p.waiting
	}
	return false
}

// joinCallLocked and leaveCallLocked keep a session's record of its calls,
// and tell the other nodes when that makes it busy or not.
func (n *Node) joinCallLocked(s *session, id string) {
	put(&s.inCall, id, struct{}{})
	n.announceLocked(s)
}

func (n *Node) leaveCallLocked(s *session, id string) {
	if _, ok := s.inCall[id]; !ok {
		return
	}
	delete(s.inCall, id)
	n.announceLocked(s)
}

// startCallLocked records the call of inv, just accepted by session by.
func (n *Node) startCallLocked(inv *invitation, by requester) {
	c := &callRec{id: inv.id, seq: inv.seq, caller: inv.caller, callerUser: inv.callerUser, calleeUser: inv.callee,
		rung: slices.Clip(inv.rung), started: n.mu.now(), group: inv.group}
	switch by := by.(type) {
	case *session:
		c.callee = by
		n.joinCallLocked(by, c.id)
	case remoteRequest:
		c.callee = by.remoteSession // its node records the call when remote.accepted reaches it
		n.invs.remoteCallees[by.id]++
	}
	n.invs.calls[c.id] = c
	n.joinCallLocked(c.caller, c.id)
}

// hangupLocked ends s's call. Who may: the two sessions of the call.
// Before the invitation was accepted, or for one that never was: NOT_STARTED;
// after the call ended: ALREADY_END; anyone else: NOT_YOURS.
func (n *Node) hangupLocked(s requester, f *protocol.Frame) {
	n.invs.sweep(n.mu.now(), n.cfg.TombstoneTTL)
	sid := s.sessionID()
	if g := n.invs.groups[f.Inv]; g != nil {
		n.hangupGroupLocked(s, f, g)
		return
	}
	if c := n.invs.calls[f.Inv]; c != nil {
		by := c.calleeUser
		switch sid {
		case c.caller.id:
			by = c.callerUser
		case c.callee.sessionID():
		default:
			s.replyError(f.RID, errNotYours)
			return
		}
		// The requester's call.ended is the hangup's reply, with its rid.
		ended := protocol.Frame{Type: protocol.TypeCallEnded, Inv: c.id, Reason: core.CallEndHangup.String(), By: by}
		reply := ended
		reply.RID = f.RID
		why := ""
		if n.debug() { // only the log says why
			why = "hangup by session " + sid
		}
		if sid == c.caller.id {
			n.endCallLocked(c, &reply, &ended, why)
		} else {
			n.endCallLocked(c, &ended, &reply, why)
		}
		s.answered(f.RID)
		return
	}
	if inv := n.invs.byID[f.Inv]; inv != nil {
		if slices.Contains(inv.rung, sid) || inv.callerID == sid {
			s.replyError(f.RID, errNotStarted)
			return
		}
		s.replyError(f.RID, errNotYours)
		return
	}
	if t := n.invs.ended[f.Inv]; t != nil {
		switch {
		case t.answerer != "" && (sid == t.callerID || sid == t.answerer):
			s.replyError(f.RID, errCallEnded)
			return
		case t.answerer == "" && (sid == t.callerID || slices.Contains(t.rung, sid)):
			s.replyError(f.RID, errNotStarted)
			return
		}
	}
	s.replyError(f.RID, errNotYours)
}

// endCallLocked ends c: toCaller and toCallee, when not nil, go to the
// parties, the sessions forget the call, and a tombstone answers late
// hang-ups with ALREADY_END.
func (n *Node) endCallLocked(c *callRec, toCaller, toCallee *protocol.Frame, why string) {
	if toCaller != nil {
		c.caller.enqueue(c.group.legFrame(c, toCaller))
	}
	if toCallee != nil {
		enqueueTo(c.callee, toCallee)
	}
	n.leaveCallLocked(c.caller, c.id)
	switch callee := c.callee.(type) {
	case *session:
		n.leaveCallLocked(callee, c.id)
	case *remoteSession:
		if n.invs.remoteCallees[callee.id]--; n.invs.remoteCallees[callee.id] <= 0 {
			delete(n.invs.remoteCallees, callee.id)
		}
		if toCallee != nil { // else its node decided the end, or is gone
			n.callEndedLocked(c.id, callee.node)
		}
	}
	delete(n.invs.calls, c.id)
	if c.group != nil {
		c.group.lastEnd = nil
		if toCaller != nil {
			end := *toCaller // a copy: toCaller may be on its maker's stack
			c.group.lastEnd = &end
		}
		n.groupCallEndedLocked(c.group)
	}
	tomb := &tombstone{id: c.id, callerID: c.caller.id, rung: c.rung, answerer: c.callee.sessionID(), ended: n.mu.now()}
	if old := n.invs.ended[c.id]; old != nil {
		tomb.info, tomb.told = old.info, old.told // the invitation's outcome stays readable
	}
	n.emitCallEndedLocked(c, toCaller, toCallee, tomb.ended)
	n.invs.ended[c.id] = tomb
	n.invs.tombs = append(n.invs.tombs, tomb)
	n.sweepLaterLocked()
	if n.debug() {
		n.logLocked(n.log, slog.LevelDebug, "call ended", "inv", c.id, "caller", c.callerUser, "callee", c.calleeUser, "why", why)
	}
}

// callEnded is the call.ended frame of call id with reason.
func callEnded(id string, reason core.CallEndReason) *protocol.Frame {
	return &protocol.Frame{Type: protocol.TypeCallEnded, Inv: id, Reason: reason.String()}
}

// callsLeftLocked ends the calls of s, which leaves (PROTOCOL.md, "The
// call"): the other party gets PEER_OFFLINE; on logout s itself first gets
// UNKNOWN.
func (n *Node) callsLeftLocked(s *session, logout bool) {
	for _, id := range slices.Sorted(maps.Keys(s.inCall)) {
		var self *protocol.Frame
		if logout {
			self = callEnded(id, core.CallEndUnknown)
		}
		offline := callEnded(id, core.CallEndPeerOffline)
		if c := n.invs.calls[id]; c != nil {
			if c.caller == s {
				n.endCallLocked(c, self, offline, "caller left")
			} else {
				n.endCallLocked(c, offline, self, "callee left")
			}
			continue
		}
		if self != nil {
			s.enqueue(self)
		}
		n.leftCallLocked(s, id)
	}
}

// leftCallLocked takes s out of call id, owned by another node, and tells
// the owner, which ends the call for the other party.
func (n *Node) leftCallLocked(s *session, id string) {
	n.leaveCallLocked(s, id)
	n.tell(ownerOf(id), &message{K: kindLeft, Sess: s.id, Inv: id})
	n.callEndedLocked(id, ownerOf(id))
}

// callEndedLocked tells every peer but skip (the node that the call.ended
// or left just sent tells) that call id ended, from the node that decided
// it: else a node learns it from the parties' nodes' announcements, one
// message after skip, and takes the other party's user for busy
// meanwhile (busyLocked).
func (n *Node) callEndedLocked(id, skip string) {
	now := n.mu.now()
	n.sweepEndedCallsLocked(now)
	n.cl.toldEnds = append(n.cl.toldEnds, endedCall{id: id, at: now}) // for the nodes that meet us later
	if len(n.cl.peers) == 0 || len(n.cl.peers) == 1 && n.cl.peers[skip] != nil {
		return
	}
	data := n.encode(&message{K: kindCallEnd, Inv: id})
	for _, p := range n.peersInOrder() {
		if p.id != skip {
			n.send(p.id, kindCallEnd, data)
		}
	}
}

// callEndToldLocked records that call id, of other nodes, ended.
func (n *Node) callEndToldLocked(id string) {
	now := n.mu.now()
	n.sweepEndedCallsLocked(now)
	n.cl.endedCalls[id] = now
	n.cl.endedOrder = append(n.cl.endedOrder, endedCall{id: id, at: now})
}

// sweepEndedCallsLocked forgets the call ends told PeerTimeout ago or
// more: the parties' nodes have announced them since, one message after
// the end was told here (and an announcement later than that comes all
// the same). So with the ends this node told as long ago.
func (n *Node) sweepEndedCallsLocked(now time.Time) {
	var old []endedCall
	old, n.cl.endedOrder = splitEnds(n.cl.endedOrder, now.Add(-n.cfg.PeerTimeout))
	for _, e := range old {
		if n.cl.endedCalls[e.id].Equal(e.at) {
			delete(n.cl.endedCalls, e.id)
		}
	}
	_, n.cl.toldEnds = splitEnds(n.cl.toldEnds, now.Add(-n.cfg.PeerTimeout))
}

// splitEnds splits ends, oldest first, into those at or before cut and the
// rest (nil when none is left, so the array goes).
func splitEnds(ends []endedCall, cut time.Time) (old, kept []endedCall) {
	i := 0
	for i < len(ends) && !ends[i].at.After(cut) {
		i++
	}
	if i == len(ends) {
		return ends, nil
	}
	return ends[:i], ends[i:]
}

// endsPerMessage bounds the ids in one call.end of tellEndsLocked: 4,096
// ids of 32 characters make about 150 KB, within the 512 KiB max_payload
// a node needs.
const endsPerMessage = 4096

// tellEndsLocked tells node id, which has just become our peer (or
// become it again), the ends this node decided in the last PeerTimeout:
// it was not told them, and its directory, from the other party's node's
// snapshot, may still show that party in the call until that node
// handles the end and announces it (TestClusterJoinAfterCallEnd). Sent
// right after the snapshot, on the same path.
func (n *Node) tellEndsLocked(id string) {
	n.sweepEndedCallsLocked(n.mu.now())
	for ends := n.cl.toldEnds; len(ends) > 0; {
		k := min(len(ends), endsPerMessage)
		ids := make([]string, k)
		for i, e := range ends[:k] {
			ids[i] = e.id
		}
		n.tell(id, &message{K: kindCallEnd, Calls: ids})
		ends = ends[k:]
	}
}

// calleeLeftLocked ends call id, owned here, whose callee session sid (on
// another node) left or is gone: the caller gets reason.
func (n *Node) calleeLeftLocked(id, sid string, reason core.CallEndReason) {
	if c := n.invs.calls[id]; c != nil && c.callee.sessionID() == sid {
		n.endCallLocked(c, callEnded(id, reason), nil, "callee left")
	}
}

// endAllCallsLocked ends every call on shutdown: both parties of the calls
// owned here get SERVER_SHUTDOWN; sessions here in calls owned elsewhere get
// it too, and the owner is told they left (their peer gets PEER_OFFLINE).
func (n *Node) endAllCallsLocked() {
	calls := slices.Collect(maps.Values(n.invs.calls))
	slices.SortFunc(calls, func(a, b *callRec) int { return cmp.Compare(a.seq, b.seq) })
	for _, c := range calls {
		f := callEnded(c.id, core.CallEndServerShutdown)
		n.endCallLocked(c, f, f, "server shutdown")
	}
	for _, s := range n.hub.sessionsInOrder() {
		for _, id := range slices.Sorted(maps.Keys(s.inCall)) {
			s.enqueue(callEnded(id, core.CallEndServerShutdown))
			n.leftCallLocked(s, id)
		}
	}
}

// peerCallsGoneLocked ends what this node's calls shared with p, which died
// or left: calls owned here with a callee on p end for the caller, and
// sessions here in calls owned by p get PEER_OFFLINE.
func (n *Node) peerCallsGoneLocked(p *peer) {
	calls := slices.Collect(maps.Values(n.invs.calls))
	slices.SortFunc(calls, func(a, b *callRec) int { return cmp.Compare(a.seq, b.seq) })
	for _, c := range calls {
		if r, ok := c.callee.(*remoteSession); ok && r.node == p.id {
			n.endCallLocked(c, callEnded(c.id, core.CallEndPeerOffline), nil, "callee's node gone")
		}
	}
	for _, s := range n.hub.sessionsInOrder() {
		for _, id := range slices.Sorted(maps.Keys(s.inCall)) {
			if ownerOf(id) == p.id {
				s.enqueue(callEnded(id, core.CallEndPeerOffline))
				n.leaveCallLocked(s, id)
				n.remoteTombLocked(id).answerer = s.id // a late hang-up gets "the call has ended" (forward)
			}
		}
	}
}

// ignoreLocked stops inv ringing s only: the caller is not told, and an
// invitation that no longer rings anyone goes on until it expires.
func (n *Node) ignoreLocked(s requester, f *protocol.Frame) {
	inv, err := n.lookupLocked(s, f.Type, f.Inv)
	if err != nil {
		s.replyError(f.RID, err)
		return
	}
	inv.stopRinging(s.sessionID())
	inv.ignored = true
	if s, ok := s.(*session); ok {
		delete(s.ringing, inv)
	}
	s.replyOK(f.RID)
}
