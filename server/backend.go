package server

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/gobwas/ws"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
)

// What the server API (package server/api) asks of a node. The node stays
// the authority: an invitation the API places is sent, decided and ended
// by the same code as one a client sends, through a caller session that is
// in no hub (so it rings nothing and has no presence) and whose frames
// nobody reads. Invitations are owned by the node that placed them; the
// other calls work from any node of a cluster, asking the others through
// the broker.

// callerKind tells sessions the server API made from clients' sessions.
type callerKind uint8

const (
	notAPI     callerKind = iota // a client's session
	apiUser                      // the API sends as a user
	apiService                   // the API sends as a named service caller
)

// Bounds of MintToken's ttl.
const (
	MinTokenTTL = time.Second
	MaxTokenTTL = 24 * time.Hour
)

// The API's request ids on its caller sessions.
const (
	apiSendRID   = 1
	apiCancelRID = 2
)

var (
	errNoInvitation = protocol.Errorf(protocol.CodeNotYours, "no such invitation (or its tombstone time has passed)")
	errNotAPIPlaced = protocol.Errorf(protocol.CodeNotYours, "only invitations placed through the server API can be canceled by it")
	errNoSecret     = protocol.Errorf(protocol.CodeRejected, "the server has no secret to sign tokens with (dev mode without -secret)")
)

// Placement is an invitation the server API sends.
type Placement struct {
	// Caller is the user id the callee sees as the caller: a user, or the
	// name of a service (Service), with the rules of a user id. Either way
	// it counts against that id's MaxPendingPerUser.
	Caller  string
	Service bool
	Callee  string
	Content string
	Channel string
	// Timeout is the ring time; zero: Config.InvitationTimeout.
	Timeout time.Duration
}

// Presence is a user's status in the whole cluster and how many sessions
// the user has, attached or not.
type Presence struct {
	User     string `json:"user"`
	Status   string `json:"status"` // ONLINE, UNREACHABLE or OFFLINE
	Sessions int    `json:"sessions"`
}

// Invite places an invitation as p.Caller, with the validation and limits
// of a send frame, and returns it as it is right after the send (an
// offline callee: already ended).
func (n *Node) Invite(p Placement) (*InvitationInfo, error) {
	if err := protocol.ValidateUserID(p.Caller); err != nil {
		return nil, err
	}
	if p.Timeout < 0 || p.Timeout%time.Millisecond != 0 {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "timeout must be a whole number of milliseconds, not negative")
	}
	f := &protocol.Frame{Type: protocol.TypeSend, RID: apiSendRID, Callee: p.Callee, Content: p.Content,
		Channel: p.Channel, Timeout: p.Timeout.Milliseconds()}
	if err := f.CheckRequest(); err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.settleBusyLocked(sendCallees(f))
	s := newSession(n, p.Caller)
	s.api = apiUser
	if p.Service {
		s.api = apiService
	}
	n.sendLocked(s, f)
	reply := s.replyTo(apiSendRID)
	if reply.Type == protocol.TypeError {
		return nil, protocol.Errorf(reply.Code, "%s", reply.Message)
	}
	return n.localInvitationLocked(reply.Inv)
}

// replyTo returns the reply to request rid in an API caller's stream.
func (s *session) replyTo(rid uint64) *protocol.Frame {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	for _, e := range s.buf {
		if e.rid == rid {
			return e.frame()
		}
	}
	// Unreachable: every request is answered before the lock is released.
	return protocol.ErrorFrame(rid, protocol.Errorf(protocol.CodeUnknown, "no reply"))
}

// Invitation returns invitation id while it is pending, and its outcome
// for TombstoneTTL after it ended, from whichever node owns it.
func (n *Node) Invitation(ctx context.Context, id string) (*InvitationInfo, error) {
	return n.onOwner(ctx, id, "get", "")
}

// CancelInvitation cancels a pending invitation that the server API placed,
// as its caller would, and returns it ended.
func (n *Node) CancelInvitation(ctx context.Context, id string) (*InvitationInfo, error) {
	return n.onOwner(ctx, id, "cancel", "")
}

// RefuseInvitation refuses pending invitation id as its callee, from no
// session: the refuse capability of a push (package server/push), whose
// signature already proved callee. The caller gets local.refused as for
// any refuse, and the callee's sessions still ringing get remote.failure
// ANSWERED_ELSEWHERE. It fails with NOT_YOURS when callee is not the
// invitation's, and ALREADY_END once it ended. Any node of a cluster.
func (n *Node) RefuseInvitation(ctx context.Context, id, callee string) (*InvitationInfo, error) {
	return n.onOwner(ctx, id, "refuse", callee)
}

// onOwner runs op on invitation id on the node that owns it; user is the
// callee a refuse is made as.
func (n *Node) onOwner(ctx context.Context, id, op, user string) (*InvitationInfo, error) {
	owner := ownerOf(id)
	n.mu.Lock()
	if owner == n.id || n.cl.peers[owner] == nil {
		defer n.mu.Unlock()
		return n.apiOpLocked(op, id, user)
	}
	n.mu.Unlock()
	answers, err := n.ask(ctx, []string{owner}, &message{K: kindAPI, Reason: op, Inv: id, User: user})
	if err == errNoAnswer || errors.Is(err, context.DeadlineExceeded) {
		return nil, errOwnerTimeout
	}
	if err != nil {
		return nil, err
	}
	if len(answers) == 0 { // the owner died meanwhile: its invitations ended with it
		return nil, errNoInvitation
	}
	a := answers[0]
	if a.F != nil {
		return nil, protocol.Errorf(a.F.Code, "%s", a.F.Message)
	}
	var info InvitationInfo
	if err := json.Unmarshal(a.Data, &info); err != nil {
		return nil, protocol.Errorf(protocol.CodeUnknown, "the owner's answer did not decode: %v", err)
	}
	return &info, nil
}

// apiOpLocked runs a get, cancel or refuse on an invitation of this node.
func (n *Node) apiOpLocked(op, id, user string) (*InvitationInfo, error) {
	if op == "refuse" {
		return n.refuseAsCalleeLocked(id, user)
	}
	if op == "cancel" {
		inv := n.invs.byID[id]
		if c := n.invs.calls[id]; inv == nil && c != nil && c.caller.api != notAPI {
			// Accepted, and its call goes on: hang up, as its caller would.
			n.hangupLocked(c.caller, &protocol.Frame{Type: protocol.TypeHangup, RID: apiCancelRID, Inv: id})
			return n.localInvitationLocked(id)
		}
		switch {
		case inv == nil && n.invs.ended[id] != nil:
			return nil, errAlreadyEnd
		case inv == nil:
			return nil, errNoInvitation
		case !inv.api:
			return nil, errNotAPIPlaced
		}
		caller := inv.caller
		n.cancelLocked(caller, &protocol.Frame{Type: protocol.TypeCancel, RID: apiCancelRID, Inv: id})
		if reply := caller.replyTo(apiCancelRID); reply.Type == protocol.TypeError {
			return nil, protocol.Errorf(reply.Code, "%s", reply.Message)
		}
	}
	return n.localInvitationLocked(id)
}

// refuseAsCalleeLocked carries out RefuseInvitation on this node.
func (n *Node) refuseAsCalleeLocked(id, callee string) (*InvitationInfo, error) {
	n.invs.sweep(time.Now(), n.cfg.TombstoneTTL)
	inv := n.invs.byID[id]
	switch {
	case inv == nil && n.invs.ended[id] != nil:
		return nil, errAlreadyEnd
	case inv == nil:
		return nil, errNoInvitation
	case inv.callee != callee:
		return nil, errNotYours
	}
	inv.pushRefused = true
	inv.caller.enqueue(&protocol.Frame{Type: protocol.TypeLocalRefused, Inv: inv.id})
	elsewhere := &protocol.Frame{Type: protocol.TypeRemoteFailure, Inv: inv.id, Reason: core.RemoteFailureAnsweredElsewhere.String()}
	for _, r := range inv.ringing {
		r.enqueue(elsewhere)
	}
	n.m.answerLatency.WithLabelValues(core.LocalEvRefused.String()).Observe(since(inv.created))
	inv.answered = time.Now()
	n.finishLocked(inv, core.LocalEvRefused, "refused through a push")
	return n.localInvitationLocked(id)
}

// emitCallEndedLocked tells the observer that c ended at t; its reason is
// what the party that did not end it was told.
func (n *Node) emitCallEndedLocked(c *callRec, toCaller, toCallee *protocol.Frame, t time.Time) {
	if n.cfg.Observer == nil {
		return // nobody to tell: not even the CallInfo is made
	}
	info := &CallInfo{ID: c.id, Caller: c.callerUser, Callee: c.calleeUser, CalleeSess: c.callee.sessionID(),
		Reason: core.CallEndUnknown.String(), StartedAt: c.started.UTC(), EndedAt: t.UTC(), DurationMS: t.Sub(c.started).Milliseconds()}
	for _, f := range []*protocol.Frame{toCaller, toCallee} {
		if f != nil && f.Reason != core.CallEndUnknown.String() {
			info.Reason, info.By = f.Reason, f.By
			break
		}
	}
	n.emit(Event{Type: EventCallEnded, Call: info})
}

// SendMessage sends a peer message from the user or service from to every
// session of user to (on any node), with the validation and limits of a
// message frame, and reports whether any session got it.
func (n *Node) SendMessage(from, to, text string, raw []byte, description string) (bool, error) {
	if err := protocol.ValidateUserID(from); err != nil {
		return false, err
	}
	f := &protocol.Frame{Type: protocol.TypeMessage, RID: apiSendRID, Peer: to, Text: text, Raw: raw, Description: description}
	if err := f.CheckRequest(); err != nil {
		return false, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closing {
		return false, errShuttingDown
	}
	s := newSession(n, from)
	s.api = apiService
	n.messageLocked(s, f)
	return s.replyTo(apiSendRID).Received, nil
}

// localInvitationLocked describes an invitation of this node.
func (n *Node) localInvitationLocked(id string) (*InvitationInfo, error) {
	n.invs.sweep(time.Now(), n.cfg.TombstoneTTL)
	if inv := n.invs.byID[id]; inv != nil {
		return n.infoLocked(inv), nil
	}
	if t := n.invs.ended[id]; t != nil && t.info != nil {
		info := *t.info
		return &info, nil
	}
	return nil, errNoInvitation
}

// Presence returns user's status and session count in the whole cluster.
func (n *Node) Presence(user string) (Presence, error) {
	if err := protocol.ValidateUserID(user); err != nil {
		return Presence{}, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return Presence{User: user, Status: n.statusLocked(user).String(),
		Sessions: len(n.hub.users[user]) + len(n.cl.users[user])}, nil
}

// Kick ends every session of user on every node: as when a token expires,
// each session first gets the terminal events of its invitations, then bye
// BANNED_BY_SERVER, then the close (1008). It returns how many sessions
// ended.
func (n *Node) Kick(ctx context.Context, user string) (int, error) {
	if err := protocol.ValidateUserID(user); err != nil {
		return 0, err
	}
	n.mu.Lock()
	k := n.kickLocked(user)
	peers := make([]string, 0, len(n.cl.peers))
	for _, p := range n.peersInOrder() {
		peers = append(peers, p.id)
	}
	n.mu.Unlock()
	if len(peers) == 0 {
		return k, nil
	}
	answers, err := n.ask(ctx, peers, &message{K: kindAPI, Reason: "kick", User: user})
	for _, a := range answers {
		k += a.Code
	}
	return k, err
}

// kickLocked ends user's sessions on this node.
func (n *Node) kickLocked(user string) int {
	ss := n.hub.sessionsOf(user)
	for _, s := range ss {
		n.leaveLocked(s, true)
		s.enqueue(&protocol.Frame{Type: protocol.TypeBye, Reason: core.ReasonBannedByServer.String()})
		n.endSessionLocked(s, ws.StatusPolicyViolation, "ended by the server API", "kicked")
	}
	return len(ss)
}

// MintToken returns a login token for user, signed with the node's secret,
// valid for ttl (MinTokenTTL to MaxTokenTTL).
func (n *Node) MintToken(user string, ttl time.Duration) (string, error) {
	if ttl < MinTokenTTL || ttl > MaxTokenTTL {
		return "", protocol.Errorf(protocol.CodeInvalidArgument, "ttl must be %v to %v, got %v", MinTokenTTL, MaxTokenTTL, ttl)
	}
	if len(n.cfg.Secret) == 0 {
		return "", errNoSecret
	}
	return IssueToken(n.cfg.Secret, user, ttl)
}

// Registerer is where packages that serve the node (webhooks) register
// their metrics, so that /metrics shows them.
func (n *Node) Registerer() prometheus.Registerer { return n.m.reg }

// ask sends m to nodes and waits for their api.reply answers: until every
// one answered or died, ctx ended, or twice PeerTimeout passed (a lost
// message; as forward does). A node that reset the pair meanwhile lives on,
// and what it did is not known: errNoAnswer, as for no answer in time (its
// silence taken for a death's answered reads "no such invitation" while it
// held the invitation, and a kick with its sessions left out).
func (n *Node) ask(ctx context.Context, nodes []string, m *message) ([]*message, error) {
	n.mu.Lock()
	c := &call{waiting: make(map[string]struct{}), done: make(chan struct{})}
	n.cl.next++
	corr := n.cl.next
	m.Corr = corr
	for _, id := range nodes {
		if n.cl.peers[id] != nil {
			c.waiting[id] = struct{}{}
			n.tell(id, m)
		}
	}
	if len(c.waiting) == 0 {
		n.mu.Unlock()
		return nil, nil
	}
	n.cl.calls[corr] = c
	n.mu.Unlock()
	t := time.NewTimer(2 * n.cfg.PeerTimeout)
	defer t.Stop()
	var err error
	select {
	case <-c.done:
	case <-ctx.Done():
		err = ctx.Err()
	case <-n.ctx.Done():
		err = errShuttingDown
	case <-t.C:
		err = errNoAnswer
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.cl.calls, corr)
	if err == nil && c.reset {
		err = errNoAnswer
	}
	return c.answers, err
}

// apiRequestLocked answers a server API call of node p.
func (n *Node) apiRequestLocked(p *peer, m *message) {
	reply := &message{K: kindAPIReply, Corr: m.Corr}
	switch m.Reason {
	case "kick":
		reply.Code = n.kickLocked(m.User)
	case "get", "cancel", "refuse":
		info, err := n.apiOpLocked(m.Reason, m.Inv, m.User)
		if err != nil {
			reply.F = protocol.ErrorFrame(0, asProtocolError(err))
		} else {
			reply.Data, _ = json.Marshal(info) // every field marshals
		}
	default:
		reply.F = protocol.ErrorFrame(0, protocol.Errorf(protocol.CodeUnknownType, "unknown server API call %q", m.Reason))
	}
	n.tell(p.id, reply)
}

// apiAnsweredLocked records p's answer to a server API call.
func (n *Node) apiAnsweredLocked(p *peer, m *message) {
	c := n.cl.calls[m.Corr]
	if c == nil || c.sess != nil {
		return
	}
	if _, ok := c.waiting[p.id]; !ok {
		return
	}
	c.answers = append(c.answers, m)
	n.answeredLocked(m.Corr, c, p.id)
}
