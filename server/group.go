package server

import (
	"log/slog"
	"slices"
	"time"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
)

// group is a group invitation (PROTOCOL.md "Groups"): one send that rings
// several callees. Each callee is an invitation of its own (its children,
// with ids of their own, the ids the callees see), which rings, times out,
// is answered and fails as a one-callee invitation does; the group turns
// their events to the caller into per-callee local.callee frames on the
// group's id, and decides the group's outcome. It is owned by the caller's
// node, as its children are. Every field is guarded by Node.mu.
type group struct {
	id         string
	mode       string // protocol.GroupFirst or protocol.GroupAll
	caller     *session
	callerID   string
	callerUser string
	callees    []string
	children   []*invitation // in callees' order
	callee     map[string]core.CalleeState
	state      core.LocalInvitationState // the group's, along core.NextLocal
	lastReason string                    // the last callee failure's reason: the group's when all failed
	answerer   string                    // the session that accepted first: the caller's call began
	lastEnd    *protocol.Frame           // the caller's frame about the last leg that ended (all)
	// hangupRID is the rid of the caller's hangup of a group call (all)
	// being carried out: its last call.ended, on the group's id, carries it.
	hangupRID uint64

	// While the children are being opened the caller's frames wait, so
	// that the send's reply (with the group's id) comes first.
	opening bool
	held    []*protocol.Frame
	ending  bool // the group ends its callees itself (cancel, taken)
}

func (g *group) calleeIDs() []string {
	if g == nil {
		return nil
	}
	return g.callees
}

func (g *group) modeName() string {
	if g == nil {
		return ""
	}
	return g.mode
}

func (g *group) tell(f *protocol.Frame) {
	if g.opening {
		g.held = append(g.held, f)
		return
	}
	g.caller.enqueue(f)
}

// legFrame is the frame the caller gets about call c, one of g's: in a
// hunt group the call is the group's, under its id; in a group call it is
// one leg, under the group's id with the callee it was with (the caller's
// call ends with a last call.ended without callee: groupCallEndedLocked).
func (g *group) legFrame(c *callRec, f *protocol.Frame) *protocol.Frame {
	if g == nil || f == nil {
		return f
	}
	cp := *f
	cp.Inv = g.id
	if g.mode == protocol.GroupAll {
		cp.Callee = c.calleeUser
	}
	return &cp
}

// sendGroupLocked carries out a send with callees (CheckRequest has
// checked the mode, the count against protocol.MaxGroupCallees and
// duplicates).
func (n *Node) sendGroupLocked(s *session, f *protocol.Frame) {
	switch {
	case len(f.Callees) > n.cfg.MaxGroupCallees:
		s.replyError(f.RID, protocol.Errorf(protocol.CodeInvalidArgument,
			"a group has at most %d callees on this server, got %d", n.cfg.MaxGroupCallees, len(f.Callees)))
		return
	case slices.Contains(f.Callees, s.user):
		s.replyError(f.RID, errSelfInvite)
		return
	}
	if err := n.mayOpenLocked(s); err != nil {
		s.replyError(f.RID, err)
		return
	}
	if n.invs.groups == nil {
		n.invs.groups = make(map[string]*group)
	}
	g := &group{mode: f.Mode, caller: s, callerID: s.id, callerUser: s.user,
		callees: slices.Clone(f.Callees), callee: make(map[string]core.CalleeState, len(f.Callees)), opening: true}
	for {
		g.id = newInvitationID(n.id)
		if _, dup := n.invs.byID[g.id]; !dup && n.invs.ended[g.id] == nil && n.invs.groups[g.id] == nil {
			break
		}
	}
	g.state, _ = core.NextLocal(core.LocalIdle, core.LocalEvSend) // IDLE -send-> SENT_TO_REMOTE
	n.invs.groups[g.id] = g
	n.invs.pending[s.user]++ // once, until the group ends
	n.pendingChangedLocked(s.user)
	timeout := n.cfg.InvitationTimeout
	if f.Timeout != 0 {
		timeout = protocol.Millis(f.Timeout)
	}
	for _, id := range g.callees {
		g.callee[id], _ = core.NextCallee(core.CalleeIdle, core.CalleeEvSend) // IDLE -send-> RINGING
		// Offline or busy callees fail at once: no wake window in a group.
		child := &protocol.Frame{Type: protocol.TypeSend, RID: f.RID, Callee: id, Content: f.Content,
			Channel: f.Channel, Timeout: timeout.Milliseconds(), Wake: protocol.NoWake}
		g.children = append(g.children, n.openLocked(s, child, g))
	}
	g.opening = false
	s.enqueue(&protocol.Frame{Type: protocol.TypeOK, RID: f.RID, Inv: g.id, Timeout: timeout.Milliseconds()})
	for _, h := range g.held {
		s.enqueue(h)
	}
	g.held = nil
	n.log.Debug("group invitation created", "inv", g.id, "caller", g.callerUser, "mode", g.mode, "callees", g.callees)
	n.groupDoneLocked(g)
}

// toCallerLocked queues f, an event of inv for its caller: as it is, or,
// for a callee of a group, as the group's events.
func (n *Node) toCallerLocked(inv *invitation, f *protocol.Frame) {
	g := inv.group
	if g == nil {
		inv.caller.enqueue(f)
		return
	}
	if f.Type == protocol.TypeOK || g.state.Ended() {
		return
	}
	switch f.Type {
	case protocol.TypeLocalReceived:
		n.calleeMovedLocked(g, inv.callee, core.CalleeEvReceived, "", "")
		if g.state == core.LocalSentToRemote {
			g.state, _ = core.NextLocal(g.state, core.LocalEvReceived) // SENT_TO_REMOTE -received-> RECEIVED_BY_REMOTE
			g.tell(&protocol.Frame{Type: protocol.TypeLocalReceived, Inv: g.id})
		}
	case protocol.TypeLocalAccepted:
		if g.answerer == "" {
			g.answerer = inv.answerer
		}
		n.calleeMovedLocked(g, inv.callee, core.CalleeEvAccepted, "", f.Response)
		if g.mode == protocol.GroupFirst {
			g.ending = true
			n.takenLocked(g, inv)
			g.tell(&protocol.Frame{Type: protocol.TypeLocalAccepted, Inv: g.id, Callee: inv.callee, Response: f.Response})
			n.endGroupLocked(g, core.LocalEvAccepted, "accepted by "+inv.callee)
		}
	case protocol.TypeLocalRefused:
		n.calleeMovedLocked(g, inv.callee, core.CalleeEvRefused, "", f.Response)
	case protocol.TypeLocalFailure:
		n.calleeMovedLocked(g, inv.callee, core.CalleeEvFailure, f.Reason, "")
		g.lastReason = f.Reason
	}
}

// calleeMovedLocked moves one callee of g along core.NextCallee and tells
// the caller.
func (n *Node) calleeMovedLocked(g *group, callee string, ev core.CalleeEvent, reason, response string) {
	next, err := core.NextCallee(g.callee[callee], ev)
	if err != nil {
		n.logLocked(n.log, slog.LevelError, "callee edge refused by core.NextCallee", "inv", g.id, "callee", callee, "err", err)
		return
	}
	g.callee[callee] = next
	g.tell(&protocol.Frame{Type: protocol.TypeLocalCallee, Inv: g.id, Callee: callee, State: next.String(),
		Reason: reason, Response: response})
}

// takenLocked ends every other callee of hunt group g, whose callee of
// winner accepted: their ringing sessions get ANSWERED_BY_OTHER with the
// winner's user id.
func (n *Node) takenLocked(g *group, winner *invitation) {
	for _, c := range g.children {
		if c == winner || c.state.Ended() {
			continue
		}
		rf := &protocol.Frame{Type: protocol.TypeRemoteFailure, Inv: c.id,
			Reason: core.RemoteFailureAnsweredByOther.String(), By: winner.callee}
		for _, r := range c.ringing {
			r.enqueue(rf)
		}
		n.calleeMovedLocked(g, c.callee, core.CalleeEvCanceled, "", "")
		n.finishLocked(c, core.LocalEvCanceled, "answered by "+winner.callee)
	}
}

// calleeEndedLocked follows the end of inv, a callee of a group. A callee
// that ended without a frame to the caller (its session left) fails.
func (n *Node) calleeEndedLocked(inv *invitation) {
	g := inv.group
	if g.opening || g.ending || g.state.Ended() {
		return
	}
	if !g.callee[inv.callee].Ended() {
		g.callee[inv.callee] = core.CalleeFailure
		if g.lastReason == "" {
			g.lastReason = core.LocalFailureUnknown.String()
		}
	}
	n.groupDoneLocked(g)
}

// groupDoneLocked ends g once every callee has an outcome: ACCEPTED when
// one accepted (all), else REFUSED when one refused, else FAILURE with
// the reason of the last callee to fail.
func (n *Node) groupDoneLocked(g *group) {
	accepted, refused := false, false
	for _, id := range g.callees {
		switch g.callee[id] {
		case core.CalleeAccepted:
			accepted = true
		case core.CalleeRefused:
			refused = true
		case core.CalleeCanceled, core.CalleeFailure:
		default:
			return // still ringing
		}
	}
	switch {
	case accepted:
		g.tell(&protocol.Frame{Type: protocol.TypeLocalAccepted, Inv: g.id})
		n.endGroupLocked(g, core.LocalEvAccepted, "accepted")
	case refused:
		g.tell(&protocol.Frame{Type: protocol.TypeLocalRefused, Inv: g.id})
		n.endGroupLocked(g, core.LocalEvRefused, "refused")
	default:
		g.tell(&protocol.Frame{Type: protocol.TypeLocalFailure, Inv: g.id, Reason: g.lastReason})
		n.endGroupLocked(g, core.LocalEvFailure, g.lastReason)
	}
}

// cancelGroupLocked cancels pending g for its caller's session s: every
// callee still ringing gets remote.canceled.
func (n *Node) cancelGroupLocked(s *session, f *protocol.Frame, g *group) {
	if g.callerID != s.id {
		s.replyError(f.RID, errNotYours)
		return
	}
	g.ending = true
	n.cancelCalleesLocked(g)
	g.tell(&protocol.Frame{Type: protocol.TypeLocalCanceled, Inv: g.id})
	n.endGroupLocked(g, core.LocalEvCanceled, "canceled")
	s.replyOK(f.RID)
}

// cancelCalleesLocked cancels every callee of g still ringing: its
// sessions get remote.canceled, the caller local.callee CANCELED.
func (n *Node) cancelCalleesLocked(g *group) {
	for _, c := range g.children {
		if c.state.Ended() {
			continue
		}
		canceled := &protocol.Frame{Type: protocol.TypeRemoteCanceled, Inv: c.id, Content: c.content}
		for _, r := range c.ringing {
			r.enqueue(canceled)
		}
		n.calleeMovedLocked(g, c.callee, core.CalleeEvCanceled, "", "")
		n.finishLocked(c, core.LocalEvCanceled, "canceled")
	}
}

// endGroupLocked moves g to its end after its events were queued: it
// stops counting against the cap and leaves a tombstone, so that a late
// cancel gets ALREADY_END; it stays known while its calls go on.
func (n *Node) endGroupLocked(g *group, ev core.LocalEvent, outcome string) {
	next, err := core.NextLocal(g.state, ev)
	if err != nil {
		n.logLocked(n.log, slog.LevelError, "group edge refused by core.NextLocal", "inv", g.id, "state", g.state, "event", ev, "err", err)
		next = core.LocalFailure
	}
	wasPending := !g.state.Ended()
	g.state = next
	if wasPending {
		if n.invs.pending[g.callerUser]--; n.invs.pending[g.callerUser] <= 0 {
			delete(n.invs.pending, g.callerUser)
		}
		n.pendingChangedLocked(g.callerUser)
	}
	tomb := &tombstone{id: g.id, callerID: g.callerID, answerer: g.answerer, ended: time.Now()}
	n.invs.ended[g.id] = tomb
	n.invs.tombs = append(n.invs.tombs, tomb)
	n.sweepLaterLocked()
	n.groupCallEndedLocked(g)
	if n.debug() {
		n.logLocked(n.log, slog.LevelDebug, "group invitation ended", "inv", g.id, "state", g.state.String(), "outcome", outcome)
	}
}

// groupCalls are the calls in progress of g's callees.
func (n *Node) groupCalls(g *group) []*callRec {
	var calls []*callRec
	for _, c := range g.children {
		if rec := n.invs.calls[c.id]; rec != nil {
			calls = append(calls, rec)
		}
	}
	return calls
}

// groupCallEndedLocked forgets g once it has ended and has no call left.
// In a group call the caller's call ends then, with a call.ended on the
// group's id without callee, as the last leg's.
func (n *Node) groupCallEndedLocked(g *group) {
	if !g.state.Ended() || len(n.groupCalls(g)) > 0 {
		return
	}
	if n.invs.groups[g.id] != g {
		return // already forgotten
	}
	if g.mode == protocol.GroupAll && g.answerer != "" && g.lastEnd != nil {
		g.caller.enqueue(&protocol.Frame{Type: protocol.TypeCallEnded, RID: g.hangupRID, Inv: g.id, Reason: g.lastEnd.Reason, By: g.lastEnd.By})
		g.hangupRID = 0
	}
	delete(n.invs.groups, g.id)
	g.children = nil
}

// hangupGroupLocked: the caller's session hangs up g's call: the call of a
// hunt group; in a group call every leg, and the callees still ringing are
// canceled, so that the caller's call is over.
func (n *Node) hangupGroupLocked(s requester, f *protocol.Frame, g *group) {
	if s.sessionID() != g.callerID {
		s.replyError(f.RID, errNotYours)
		return
	}
	if g.answerer == "" {
		s.replyError(f.RID, errNotStarted)
		return
	}
	// The hangup's reply is the caller's last call.ended, with its rid: in
	// a hunt group the call's, in a group call the group's own, once every
	// leg has ended (groupCallEndedLocked).
	ended := &protocol.Frame{Type: protocol.TypeCallEnded, Reason: core.CallEndHangup.String(), By: g.callerUser}
	g.lastEnd = ended
	if g.mode == protocol.GroupAll {
		g.hangupRID = f.RID
	}
	if !g.state.Ended() {
		g.ending = true
		n.cancelCalleesLocked(g)
		g.ending = false
		n.groupDoneLocked(g)
	}
	answered := false
	for _, c := range n.groupCalls(g) {
		leg := *ended
		leg.Inv = c.id
		reply := leg
		if g.mode == protocol.GroupFirst && !answered {
			reply.RID, answered = f.RID, true
		}
		n.endCallLocked(c, &reply, &leg, "hangup of the group by session "+g.callerID)
	}
	if g.mode == protocol.GroupAll {
		answered, g.hangupRID = g.hangupRID == 0, 0
	}
	if !answered { // unreachable: the group had a call up, which ended; an ok rather than no reply
		s.replyOK(f.RID)
		return
	}
	s.answered(f.RID)
}
