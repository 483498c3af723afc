package server

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"slices"
	"time"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
)

// invitation is one call invitation, owned by the node of the caller's
// session (the session never moves: relay.go). Its state moves along the
// edges of core.NextLocal, the machine the caller's client runs, so that
// both ends agree on what may follow what. Every field is guarded by Node.mu.
type invitation struct {
	id         string
	seq        uint64
	state      core.LocalInvitationState
	caller     *session // the session that sent it; nil once ended, so a tombstone pins no session
	callerID   string   // the caller session's id, for requests on the tombstone
	callerUser string
	callee     string
	content    string
	channel    string
	timeout    time.Duration
	created    time.Time

	answerer string                     // the session that accepted it
	told     map[string]*protocol.Frame // the last word to each remote session it rang: for a settle after a reset
	ringing  []party                    // sessions still ringing, in the order they were rung
	// rung is the id of every session the invite was sent to, in that order:
	// a few devices, and shared with the call and the tombstone.
	rung    []string
	counted bool // counted in invitations.pending
	ignored bool // a session ignored it: it goes on when nobody rings
	busy    bool // the callee was busy: only sessions with call waiting were rung

	// timer fires at receiptDue, then at expiresAt (invitationTimer): one
	// timer for both, which an ack does not touch.
	timer      *time.Timer
	receiptDue time.Time   // PEER_NO_RESPONSE then, unless a ringing session acks; zero: none
	expiresAt  time.Time   // INVITATION_EXPIRE then, unless answered
	wake       *time.Timer // waking: PEER_OFFLINE unless a device logs in and rings
	woke       bool        // Config.Waker was asked to wake the callee
	// pushRefused: refused through a push's capability (RefuseInvitation).
	pushRefused bool

	// For events and the server API (events.go).
	api, service bool      // placed by the server API; as a named service caller
	received     time.Time // the first ack
	answered     time.Time // the accept or refuse
	answeredBy   string    // the session that answered

	group *group // the group invitation it is one callee of (group.go); nil for a one-callee invitation
}

// party is a session an invitation rings: a *session of this node, or a
// *remoteSession whose frames go through its own node, in the order they
// are queued here.
type party interface {
	sessionID() string
	enqueue(f *protocol.Frame)
}

// enqueueTo queues f to p. A session of this node encodes f at once; a
// remote one is given a copy: f itself does not escape, and may stay on
// its maker's stack.
func enqueueTo(p party, f *protocol.Frame) {
	if s, ok := p.(*session); ok {
		s.enqueue(f)
		return
	}
	g := *f
	p.enqueue(&g)
}

// requester is a party that made a request on an invitation: a local
// session, or a remoteRequest forwarded by the party's node.
type requester interface {
	party
	replyOK(rid uint64)
	replyError(rid uint64, err *protocol.Error)
	// acked records that ack rid was carried out: it gets no reply.
	acked(rid uint64)
	// answered records that request rid was carried out and answered by
	// the event queued to the requester with its rid (remote.accepted,
	// call.ended): it gets no ok.
	answered(rid uint64)
}

// isRinging reports whether the session with id sid is still ringing for inv.
func (inv *invitation) isRinging(sid string) bool {
	return slices.ContainsFunc(inv.ringing, func(p party) bool { return p.sessionID() == sid })
}

// stopRinging takes the session with id sid out of inv's ringing parties
// and reports whether it was one.
func (inv *invitation) stopRinging(sid string) bool {
	k := len(inv.ringing)
	inv.ringing = slices.DeleteFunc(inv.ringing, func(p party) bool { return p.sessionID() == sid })
	return len(inv.ringing) < k
}

// invitations is the node's table of invitations, pending and ended.
type invitations struct {
	byID map[string]*invitation // pending invitations
	// byCallee are the pending invitations that ring, or rang, each callee
	// user: a session of the user that appears later rings too.
	byCallee map[string]calleeInvs
	ended    map[string]*tombstone // ended invitations, for TombstoneTTL
	pending  map[string]int        // pending outgoing invitations per caller user
	tombs    []*tombstone          // ended invitations, oldest first
	calls    map[string]*callRec   // calls in progress, by invitation id
	// remoteCallees counts the calls in progress of each session of
	// another node, by session id: that session is busy.
	remoteCallees map[string]int
	groups        map[string]*group // group invitations, pending or with calls in progress (group.go)
	sweeper       *time.Timer       // forgets old tombstones; nil when none is armed
}

// calleeInvs is a set of invitations, those pending for one callee: most
// callees have one, which needs no map of its own.
type calleeInvs struct {
	one  *invitation
	more map[*invitation]struct{}
}

func (c *calleeInvs) add(inv *invitation) {
	if c.one == nil {
		c.one = inv
		return
	}
	put(&c.more, inv, struct{}{})
}

func (c *calleeInvs) remove(inv *invitation) {
	if c.one == inv {
		c.one = nil
		return
	}
	delete(c.more, inv)
}

func (c calleeInvs) len() int {
	if c.one != nil {
		return len(c.more) + 1
	}
	return len(c.more)
}

// bySeq returns the set's invitations in creation order.
func (c calleeInvs) bySeq() []*invitation {
	out := sortedBySeq(c.more)
	if c.one != nil {
		i, _ := slices.BinarySearchFunc(out, c.one, func(a, b *invitation) int { return cmp.Compare(a.seq, b.seq) })
		out = slices.Insert(out, i, c.one)
	}
	return out
}

// tombstone is what is kept of an ended invitation: who may still ask
// about it (and get ALREADY_END rather than NOT_YOURS). It is small, and
// points at no session, so that thousands of them cost little.
type tombstone struct {
	id       string
	callerID string                     // the session that sent it
	rung     []string                   // the sessions it rang
	heard    []string                   // of another node's invitation: the sessions here its owner told its end
	answerer string                     // the session that accepted it, if any: the call's other party; of another node's invitation, the session here whose call ended
	told     map[string]*protocol.Frame // invitation.told
	ended    time.Time
	info     *InvitationInfo // its outcome, for the server API
}

func newInvitations() invitations {
	return invitations{byID: make(map[string]*invitation), byCallee: make(map[string]calleeInvs), ended: make(map[string]*tombstone), pending: make(map[string]int),
		calls: make(map[string]*callRec), remoteCallees: make(map[string]int)}
}

// sweep forgets tombstones older than ttl.
func (t *invitations) sweep(now time.Time, ttl time.Duration) {
	i := 0
	for ; i < len(t.tombs) && now.Sub(t.tombs[i].ended) >= ttl; i++ {
		if t.ended[t.tombs[i].id] == t.tombs[i] { // a call's end replaces its invitation's tombstone
			delete(t.ended, t.tombs[i].id)
		}
		t.tombs[i] = nil
	}
	t.tombs = t.tombs[i:]
}

// sweepLaterLocked arms a timer that forgets tombstones once they are old,
// so that an idle node does not keep them (requests also sweep).
func (n *Node) sweepLaterLocked() {
	if n.invs.sweeper != nil || n.closing {
		return
	}
	n.invs.sweeper = n.afterFunc(n.cfg.TombstoneTTL, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.invs.sweeper = nil
		n.invs.sweep(n.mu.now(), n.cfg.TombstoneTTL)
		if len(n.invs.tombs) > 0 {
			n.sweepLaterLocked()
		}
	})
}

// newInvitationID returns 32 lowercase hex characters: the owner node's
// id (8), so that any node routes requests on the invitation without a
// lookup, then 12 random bytes (96 bits: unguessable).
func newInvitationID(node string) string {
	var b [invitationRandomBytes]byte
	rand.Read(b[:])
	var buf [64]byte
	return string(hex.AppendEncode(append(buf[:0], node...), b[:])) // one allocation, the string's
}

// The invitation requests. Each is called with Node.mu held by a logged-in
// session, queues every event the request causes and then its reply.

func (n *Node) sendLocked(s *session, f *protocol.Frame) {
	if len(f.Callees) > 0 {
		n.sendGroupLocked(s, f)
		return
	}
	if f.Callee == s.user {
		s.replyError(f.RID, errSelfInvite)
		return
	}
	if err := n.mayOpenLocked(s); err != nil {
		s.replyError(f.RID, err)
		return
	}
	n.openLocked(s, f, nil)
}

// mayOpenLocked says why s may not open one more invitation (or group):
// the node is shutting down, or its user has its cap of pending ones.
func (n *Node) mayOpenLocked(s *session) *protocol.Error {
	switch {
	case n.closing:
		return errShuttingDown
	case n.clusterPendingLocked(s.user) >= n.cfg.MaxPendingPerUser:
		return protocol.Errorf(protocol.CodeTooManyPending, "%s already has %d pending invitations", s.user, n.cfg.MaxPendingPerUser)
	}
	return nil
}

// openLocked creates and rings the invitation of a checked send: alone,
// or as one callee of group g, whose frames to the caller go through
// toCallerLocked. It returns the invitation.
func (n *Node) openLocked(s *session, f *protocol.Frame, g *group) *invitation {
	now := n.mu.now()
	n.invs.sweep(now, n.cfg.TombstoneTTL)
	timeout := n.cfg.InvitationTimeout
	if f.Timeout != 0 {
		timeout = protocol.Millis(f.Timeout)
	}
	inv := &invitation{
		seq:        n.nextSeqLocked(),
		caller:     s,
		callerID:   s.id,
		callerUser: s.user,
		callee:     f.Callee,
		content:    f.Content,
		channel:    f.Channel,
		timeout:    timeout,
		created:    now,
		expiresAt:  now.Add(timeout),
		api:        s.api != notAPI,
		service:    s.api == apiService,
		group:      g,
	}
	for {
		inv.id = newInvitationID(n.id)
		if _, dup := n.invs.byID[inv.id]; !dup && n.invs.ended[inv.id] == nil {
			break
		}
	}
	inv.state, _ = core.NextLocal(core.LocalIdle, core.LocalEvSend) // IDLE -send-> SENT_TO_REMOTE
	n.invs.byID[inv.id] = inv
	n.m.invitations.Inc()
	n.m.pendingInvitees.Inc()
	ok := &protocol.Frame{Type: protocol.TypeOK, RID: f.RID, Inv: inv.id, Timeout: timeout.Milliseconds()}
	logCreated := func(rung int) {
		if n.debug() {
			n.logLocked(n.log, slog.LevelDebug, "invitation created", "inv", inv.id, "caller", inv.callerUser,
				"callee", inv.callee, "session", s.id, "timeout", timeout, "rung", rung)
		}
	}

	var buf [4]party // most callees have a few devices
	targets := n.appendPartiesLocked(buf[:0], f.Callee)
	why := core.LocalFailurePeerOffline
	if busy, _ := n.busyLocked(f.Callee); len(targets) > 0 && busy { // on word only, the send settled it (settleBusyLocked)
		// Busy: only the sessions with call waiting ring.
		inv.busy, why = true, core.LocalFailurePeerBusy
		targets = slices.DeleteFunc(targets, func(p party) bool { return !waits(p) })
	}
	if len(targets) == 0 && !inv.busy {
		if w := n.wakeWindowLocked(f, timeout); w > 0 {
			// Waking (PROTOCOL.md): pending with nobody ringing until a
			// device logs in; the receipt timeout counts from its ring.
			n.pendLocked(s, inv)
			inv.woke = true
			inv.wake = n.afterFunc(w, func() { n.wakeExpired(inv) })
			n.armInvitationLocked(inv, now)
			n.toCallerLocked(inv, ok)
			n.toCallerLocked(inv, &protocol.Frame{Type: protocol.TypeLocalWaking, Inv: inv.id, Wake: w.Milliseconds()})
			n.emitSentLocked(inv)
			n.cfg.Waker.Wake(inv.wakeInfo())
			n.log.Info("invitation waking the callee", "inv", inv.id, "caller", inv.callerUser, "callee", inv.callee,
				"timeout", timeout, "window", w)
			return inv
		}
	}
	if len(targets) == 0 {
		// The reply first, so that the client knows the id the failure is about.
		n.toCallerLocked(inv, ok)
		n.toCallerLocked(inv, &protocol.Frame{Type: protocol.TypeLocalFailure, Inv: inv.id, Reason: why.String()})
		logCreated(0)
		n.emitSentLocked(inv)
		n.finishLocked(inv, core.LocalEvFailure, why.String())
		return inv
	}

	invite := &protocol.Frame{Type: protocol.TypeInvite, Inv: inv.id, Caller: inv.callerUser,
		Content: inv.content, Channel: inv.channel, Timeout: timeout.Milliseconds(), Busy: inv.busy,
		Callees: g.calleeIDs(), Mode: g.modeName()}
	for _, t := range targets {
		inv.ringing = append(inv.ringing, t)
		inv.rung = append(inv.rung, t.sessionID())
		if t, ok := t.(*session); ok { // a remote session's node does this itself
			held := n.holdBackLocked(t, inv.id)
			put(&t.ringing, inv, struct{}{})
			if held {
				continue
			}
			t.ackCredits.Add(1)
		}
		enqueueTo(t, invite)
	}
	n.pendLocked(s, inv)
	if inv.group == nil && n.cfg.WakeRinging && n.cfg.Waker != nil && n.cfg.Waker.CanWake(inv.callee) { // a group wakes no one
		inv.woke = true // pushes too, though sessions ring (Config.WakeRinging)
		n.cfg.Waker.Wake(inv.wakeInfo())
	}
	if n.cfg.ReceiptTimeout < timeout {
		// Otherwise the expiry comes first (PROTOCOL.md, lifecycle 5).
		inv.receiptDue = now.Add(n.cfg.ReceiptTimeout)
	}
	n.armInvitationLocked(inv, now)
	n.emitSentLocked(inv)
	n.toCallerLocked(inv, ok)
	logCreated(len(targets))
	return inv
}

// pendLocked records inv, sent by s, as pending: the caller's, the
// callee's (for late ringing), and against the caller's cap.
func (n *Node) pendLocked(s *session, inv *invitation) {
	put(&s.outgoing, inv, struct{}{})
	set := n.invs.byCallee[inv.callee]
	set.add(inv)
	n.invs.byCallee[inv.callee] = set
	if inv.group == nil { // a group counts once, as a whole (group.go)
		inv.counted = true
		n.invs.pending[inv.callerUser]++
		n.pendingChangedLocked(inv.callerUser)
	}
}

// ringLateLocked rings p, a session of user that appeared (logged in
// here, or became known from another node) while invitations owned here
// ring user: each it was not rung for gets an invite with the time left,
// oldest first. Busy and call waiting apply as at send, as they are now:
// while user is in a call, only a session with call waiting rings, and its
// invite says busy. For a session without call waiting, a busy on other
// nodes' word only is settled first (afterBusySettledLocked): the call may
// have ended before the login.
func (n *Node) ringLateLocked(p party, user string) {
	if n.invs.byCallee[user].len() == 0 {
		return
	}
	if waits(p) {
		n.ringLateNowLocked(p, user) // it rings either way
		return
	}
	n.afterBusySettledLocked([]string{user}, func() {
		if n.partyHereLocked(p) {
			n.ringLateNowLocked(p, user)
		}
	})
}

// partyHereLocked reports whether p is still a session of the cluster as
// this node knows it.
func (n *Node) partyHereLocked(p party) bool {
	switch p := p.(type) {
	case *session:
		return !p.ended && n.hub.sessions[p.id] == p
	case *remoteSession:
		peer := n.cl.peers[p.node]
		return peer != nil && peer.sessions[p.id] == p
	}
	return false
}

// ringLateNowLocked is ringLateLocked with busy as this node knows it now.
func (n *Node) ringLateNowLocked(p party, user string) {
	set := n.invs.byCallee[user]
	if set.len() == 0 {
		return
	}
	busy, _ := n.busyLocked(user)
	if busy && !waits(p) {
		return
	}
	invs := set.bySeq()
	sid := p.sessionID()
	for _, inv := range invs {
		left := inv.timeout - n.mu.now().Sub(inv.created)
		if slices.Contains(inv.rung, sid) || inv.state.Ended() || left <= 0 {
			continue
		}
		inv.ringing = append(inv.ringing, p)
		inv.rung = append(inv.rung, sid)
		if s, ok := p.(*session); ok {
			held := n.holdBackLocked(s, inv.id)
			put(&s.ringing, inv, struct{}{})
			if held {
				continue
			}
			s.ackCredits.Add(1)
		}
		p.enqueue(&protocol.Frame{Type: protocol.TypeInvite, Inv: inv.id, Caller: inv.callerUser,
			Content: inv.content, Channel: inv.channel, Timeout: max(left.Milliseconds(), 1), Busy: busy,
			Callees: inv.group.calleeIDs(), Mode: inv.group.modeName()})
		n.m.lateRings.Inc()
		if inv.wake != nil {
			// The first ring of a waking invitation: the window is over and
			// the receipt timeout counts from now.
			n.stopTimer(&inv.wake)
			if inv.state == core.LocalSentToRemote && n.cfg.ReceiptTimeout < left {
				now := n.mu.now()
				inv.receiptDue = now.Add(n.cfg.ReceiptTimeout)
				n.armInvitationLocked(inv, now)
			}
		}
		n.log.Debug("invitation rings a late session", "inv", inv.id, "session", sid, "left", left)
	}
}

// lookupLocked finds the invitation id that s acts on with request typ. Who
// may act: the sending session may cancel; sessions that were rung may ack,
// accept and refuse. Anyone else gets NOT_YOURS whether or not the id
// exists. An ended invitation, or one that stopped ringing s, gets
// ALREADY_END.
func (n *Node) lookupLocked(s party, typ, id string) (*invitation, *protocol.Error) {
	n.invs.sweep(n.mu.now(), n.cfg.TombstoneTTL)
	sid := s.sessionID()
	inv := n.invs.byID[id]
	if inv == nil {
		// Authorization first: only those who could act on it learn it ended.
		if t := n.invs.ended[id]; t != nil && (typ == protocol.TypeCancel && t.callerID == sid ||
			typ != protocol.TypeCancel && slices.Contains(t.rung, sid)) {
			return nil, errAlreadyEnd
		}
		return nil, errNotYours
	}
	// inv is pending: an ended invitation leaves byID for a tombstone.
	if typ == protocol.TypeCancel {
		if inv.callerID != sid {
			return nil, errNotYours
		}
		return inv, nil
	}
	if !slices.Contains(inv.rung, sid) {
		return nil, errNotYours
	}
	if !inv.isRinging(sid) {
		return nil, errAlreadyEnd // this session stopped ringing (it logged out)
	}
	return inv, nil
}

func (n *Node) cancelLocked(s *session, f *protocol.Frame) {
	if g := n.invs.groups[f.Inv]; g != nil && !g.state.Ended() {
		n.cancelGroupLocked(s, f, g)
		return
	}
	inv, err := n.lookupLocked(s, f.Type, f.Inv)
	if err == nil && inv.group != nil {
		err = errNotYours // a group's callee is canceled with the group, by the group's id
	}
	if err != nil {
		s.replyError(f.RID, err)
		return
	}
	s.enqueue(&protocol.Frame{Type: protocol.TypeLocalCanceled, Inv: inv.id})
	canceled := &protocol.Frame{Type: protocol.TypeRemoteCanceled, Inv: inv.id, Content: inv.content}
	for _, r := range inv.ringing {
		r.enqueue(canceled)
	}
	n.m.answerLatency.WithLabelValues("canceled").Observe(since(inv.created))
	n.finishLocked(inv, core.LocalEvCanceled, "canceled")
	s.replyOK(f.RID)
}

func (n *Node) ackLocked(s requester, f *protocol.Frame) {
	inv, err := n.lookupLocked(s, f.Type, f.Inv)
	if err != nil {
		s.replyError(f.RID, err)
		return
	}
	if inv.state == core.LocalSentToRemote { // later acks change nothing
		inv.state, _ = core.NextLocal(inv.state, core.LocalEvReceived) // SENT_TO_REMOTE -received-> RECEIVED_BY_REMOTE
		n.m.receiptLatency.Observe(since(inv.created))
		inv.received = n.mu.now()
		inv.receiptDue = time.Time{} // its timer, when it fires, waits for the expiry
		n.toCallerLocked(inv, &protocol.Frame{Type: protocol.TypeLocalReceived, Inv: inv.id})
		if n.debug() {
			n.logLocked(n.log, slog.LevelDebug, "invitation received", "inv", inv.id, "session", s.sessionID())
		}
	}
	s.acked(f.RID)
}

// answerLocked carries out accept and refuse: the first answer wins.
func (n *Node) answerLocked(s requester, f *protocol.Frame) {
	inv, err := n.lookupLocked(s, f.Type, f.Inv)
	if err != nil {
		s.replyError(f.RID, err)
		return
	}
	// An accept's remote.accepted is its reply, carrying its rid; a refuse
	// gets remote.refused, then ok.
	remote, local, ev, rid := protocol.TypeRemoteAccepted, protocol.TypeLocalAccepted, core.LocalEvAccepted, f.RID
	if f.Type == protocol.TypeRefuse {
		remote, local, ev, rid = protocol.TypeRemoteRefused, protocol.TypeLocalRefused, core.LocalEvRefused, 0
	}
	enqueueTo(s, &protocol.Frame{Type: remote, RID: rid, Inv: inv.id})
	n.m.answered(ev).Observe(since(inv.created))
	inv.answered, inv.answeredBy = n.mu.now(), s.sessionID()
	if ev == core.LocalEvAccepted {
		// The call exists before the caller hears of it: a group's accept
		// may end the group (group.go), which then keeps it for its call.
		inv.answerer = s.sessionID()
		n.startCallLocked(inv, s)
	}
	n.toCallerLocked(inv, &protocol.Frame{Type: local, Inv: inv.id, Response: f.Response})
	var elsewhere *protocol.Frame // one, for every other device rung; most flows have none
	for _, r := range inv.ringing {
		if r.sessionID() != s.sessionID() {
			if elsewhere == nil {
				elsewhere = &protocol.Frame{Type: protocol.TypeRemoteFailure, Inv: inv.id, Reason: core.RemoteFailureAnsweredElsewhere.String()}
			}
			r.enqueue(elsewhere)
		}
	}
	outcome := ev.String()
	if n.debug() { // only the log says who
		outcome += " by session " + s.sessionID()
	}
	n.finishLocked(inv, ev, outcome)
	if rid != 0 {
		s.answered(rid)
	} else {
		s.replyOK(f.RID)
	}
}

// receiptFirst reports whether inv's timer is due at its receipt timeout,
// which no ringing session acknowledged yet, rather than at its expiry.
func (inv *invitation) receiptFirst() bool {
	return !inv.receiptDue.IsZero() && inv.state == core.LocalSentToRemote && inv.receiptDue.Before(inv.expiresAt)
}

// nextDeadline is when inv's timer is due.
func (inv *invitation) nextDeadline() time.Time {
	if inv.receiptFirst() {
		return inv.receiptDue
	}
	return inv.expiresAt
}

// armInvitationLocked arms inv's timer for its next deadline, from now.
// The timer is counted in the node's WaitGroup like afterFunc's.
func (n *Node) armInvitationLocked(inv *invitation, now time.Time) {
	d := inv.nextDeadline().Sub(now)
	n.wg.Add(1)
	if inv.timer == nil {
		inv.timer = time.AfterFunc(d, func() {
			defer n.wg.Done()
			n.invitationTimer(inv)
		})
		return
	}
	if inv.timer.Reset(d) { // it was armed: that count is this one now
		n.wg.Done()
	}
}

// invitationTimer fails inv with PEER_NO_RESPONSE when no ringing session
// acknowledged it by its receipt deadline, or INVITATION_EXPIRE when nobody
// answered it by its expiry; otherwise (acknowledged since) it waits for
// the expiry.
func (n *Node) invitationTimer(inv *invitation) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if inv.state.Ended() {
		return
	}
	now := n.mu.now()
	switch {
	case now.Before(inv.nextDeadline()):
		n.armInvitationLocked(inv, now)
	case inv.receiptFirst():
		n.failLocked(inv, core.LocalFailurePeerNoResponse, core.RemoteFailureInvitationExpire)
	default:
		n.failLocked(inv, core.LocalFailureInvitationExpire, core.RemoteFailureInvitationExpire)
	}
}

// failLocked ends inv with local.failure to the caller and remote.failure
// to every ringing session.
func (n *Node) failLocked(inv *invitation, local core.LocalFailureReason, remote core.RemoteFailureReason) {
	n.toCallerLocked(inv, &protocol.Frame{Type: protocol.TypeLocalFailure, Inv: inv.id, Reason: local.String()})
	rf := &protocol.Frame{Type: protocol.TypeRemoteFailure, Inv: inv.id, Reason: remote.String()}
	for _, r := range inv.ringing {
		r.enqueue(rf)
	}
	n.finishLocked(inv, core.LocalEvFailure, local.String())
}

// sessionLeftLocked applies PROTOCOL.md "Sessions leaving" to the
// invitations of s, which logs out (logout) or has closed.
func (n *Node) sessionLeftLocked(s *session, logout bool) {
	for _, inv := range sortedBySeq(s.outgoing) {
		if logout {
			n.toCallerLocked(inv, &protocol.Frame{Type: protocol.TypeLocalFailure, Inv: inv.id, Reason: core.LocalFailureNotLoggedIn.String()})
		}
		rf := &protocol.Frame{Type: protocol.TypeRemoteFailure, Inv: inv.id, Reason: core.RemoteFailurePeerOffline.String()}
		for _, r := range inv.ringing {
			r.enqueue(rf)
		}
		n.finishLocked(inv, core.LocalEvFailure, callerLeft)
	}
	for _, inv := range sortedBySeq(s.ringing) {
		if logout {
			s.enqueue(&protocol.Frame{Type: protocol.TypeRemoteFailure, Inv: inv.id, Reason: core.RemoteFailureUnknown.String()})
		}
		delete(s.ringing, inv)
		n.stoppedRingingLocked(inv, s.id)
	}
	for _, id := range s.remoteRingingInOrder() {
		if logout {
			s.enqueue(&protocol.Frame{Type: protocol.TypeRemoteFailure, Inv: id, Reason: core.RemoteFailureUnknown.String()})
		}
		delete(s.remoteRinging, id)
		n.tell(ownerOf(id), &message{K: kindLeft, Sess: s.id, Inv: id})
	}
	n.callsLeftLocked(s, logout)
}

// stoppedRingingLocked takes the session with id sid out of inv's ringing
// sessions; when it was the last one, the invitation fails with
// PEER_OFFLINE.
func (n *Node) stoppedRingingLocked(inv *invitation, sid string) {
	if inv.state.Ended() || !inv.stopRinging(sid) || len(inv.ringing) > 0 || inv.ignored {
		return
	}
	n.toCallerLocked(inv, &protocol.Frame{Type: protocol.TypeLocalFailure, Inv: inv.id, Reason: core.LocalFailurePeerOffline.String()})
	n.finishLocked(inv, core.LocalEvFailure, core.LocalFailurePeerOffline.String())
}

// endAllLocked ends every pending invitation with UNKNOWN on both sides
// (server shutdown).
func (n *Node) endAllLocked() {
	var pending []*invitation
	for _, inv := range n.invs.byID {
		if !inv.state.Ended() {
			pending = append(pending, inv)
		}
	}
	slices.SortFunc(pending, func(a, b *invitation) int { return cmp.Compare(a.seq, b.seq) })
	for _, inv := range pending {
		n.failLocked(inv, core.LocalFailureUnknown, core.RemoteFailureUnknown)
	}
	n.endAllCallsLocked()
	// Invitations of other nodes ringing sessions here go on ringing their
	// other sessions; these ones leave.
	rf := core.RemoteFailureUnknown.String()
	for _, s := range n.hub.sessionsInOrder() {
		for _, id := range s.remoteRingingInOrder() {
			s.enqueue(&protocol.Frame{Type: protocol.TypeRemoteFailure, Inv: id, Reason: rf})
			delete(s.remoteRinging, id)
			n.tell(ownerOf(id), &message{K: kindLeft, Sess: s.id, Inv: id})
		}
	}
}

// finishLocked moves inv to its terminal state after its events were
// queued: timers stop, sessions forget it, and it becomes a tombstone.
func (n *Node) finishLocked(inv *invitation, ev core.LocalEvent, outcome string) {
	next, err := core.NextLocal(inv.state, ev)
	if err != nil || !next.Ended() {
		// Unreachable: callers check the state first.
		n.logLocked(n.log, slog.LevelError, "invitation edge refused by core.NextLocal", "inv", inv.id, "state", inv.state, "event", ev, "err", err)
		next = core.LocalFailure
	}
	inv.state = next
	reason := ""
	if next == core.LocalFailure {
		reason = outcome // the caller's failure reason, or CALLER_LEFT
	}
	n.m.outcome(next, reason).Inc()
	n.m.pendingInvitees.Dec()
	n.stopTimer(&inv.timer)
	n.stopTimer(&inv.wake)
	if inv.woke && n.cfg.Waker != nil {
		w := inv.wakeInfo()
		w.Reason = inv.wakeReason(ev, outcome)
		n.cfg.Waker.Ended(w) // closes the notification, answered or not
	}
	if inv.counted {
		inv.counted = false
		if n.invs.pending[inv.callerUser]--; n.invs.pending[inv.callerUser] <= 0 {
			delete(n.invs.pending, inv.callerUser)
		}
		n.pendingChangedLocked(inv.callerUser)
	}
	delete(inv.caller.outgoing, inv)
	if set, ok := n.invs.byCallee[inv.callee]; ok {
		set.remove(inv)
		if set.len() == 0 {
			delete(n.invs.byCallee, inv.callee)
		} else {
			n.invs.byCallee[inv.callee] = set
		}
	}
	inv.caller = nil
	for _, r := range inv.ringing {
		if r, ok := r.(*session); ok {
			delete(r.ringing, inv)
		}
	}
	inv.ringing = nil
	inv.content = ""
	tomb := &tombstone{id: inv.id, callerID: inv.callerID, rung: slices.Clip(inv.rung), answerer: inv.answerer,
		told: inv.told, ended: n.mu.now()}
	delete(n.invs.byID, inv.id)
	n.invs.ended[inv.id] = tomb
	n.invs.tombs = append(n.invs.tombs, tomb)
	n.sweepLaterLocked()
	tomb.info = n.endedInfoLocked(inv, reason, tomb.ended)
	n.emit(Event{Type: EventInvitationEnded, Invitation: tomb.info})
	if n.debug() {
		n.logLocked(n.log, slog.LevelDebug, "invitation ended", "inv", inv.id, "caller", inv.callerUser, "callee", inv.callee,
			"state", inv.state.String(), "outcome", outcome, "after", tomb.ended.Sub(inv.created))
	}
	if inv.group != nil {
		n.calleeEndedLocked(inv)
	}
}

func sortedBySeq(set map[*invitation]struct{}) []*invitation {
	out := make([]*invitation, 0, len(set))
	for inv := range set {
		out = append(out, inv)
	}
	slices.SortFunc(out, func(a, b *invitation) int { return cmp.Compare(a.seq, b.seq) })
	return out
}
