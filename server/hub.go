package server

import (
	"cmp"
	"slices"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
)

// hub knows who is connected: every connection, every session (a session
// outlives a dropped connection for the grace period), the sessions of each
// user, and presence subscriptions in both directions. Every method is
// called with Node.mu held.
type hub struct {
	conns    map[*conn]struct{}               // every open connection, logged in or not
	sessions map[string]*session              // every session by id, attached or not
	users    map[string]map[*session]struct{} // sessions by user id
	subs     map[*session]map[string]struct{} // the ids each session is subscribed to
	watchers map[string]map[*session]struct{} // the sessions subscribed to each id
}

func newHub() hub {
	return hub{
		conns:    make(map[*conn]struct{}),
		sessions: make(map[string]*session),
		users:    make(map[string]map[*session]struct{}),
		subs:     make(map[*session]map[string]struct{}),
		watchers: make(map[string]map[*session]struct{}),
	}
}

// add registers a new session of s.user.
func (h *hub) add(s *session) {
	h.sessions[s.id] = s
	set := h.users[s.user]
	if set == nil {
		set = make(map[*session]struct{})
		h.users[s.user] = set
	}
	set[s] = struct{}{}
}

// remove forgets s.
func (h *hub) remove(s *session) {
	delete(h.sessions, s.id)
	set := h.users[s.user]
	delete(set, s)
	if len(set) == 0 {
		delete(h.users, s.user)
	}
}

// status is user's presence on this node: ONLINE with an attached session,
// UNREACHABLE with only sessions whose connection dropped, OFFLINE with none.
func (h *hub) status(user string) core.PeerStatus {
	set := h.users[user]
	for s := range set {
		if s.live {
			return core.PeerOnline
		}
	}
	if len(set) > 0 {
		return core.PeerUnreachable
	}
	return core.PeerOffline
}

// sessionsInOrder returns every session in the order they logged in.
func (h *hub) sessionsInOrder() []*session {
	set := make(map[*session]struct{}, len(h.sessions))
	for _, s := range h.sessions {
		set[s] = struct{}{}
	}
	return sortedSessions(set)
}

// sessionsOf returns user's sessions in the order they logged in.
func (h *hub) sessionsOf(user string) []*session {
	var ss []*session
	for s := range h.users[user] {
		ss = append(ss, s)
	}
	slices.SortFunc(ss, func(a, b *session) int { return cmp.Compare(a.order, b.order) })
	return ss
}

// subscribe adds ids to s's subscriptions, or none of them if s would then
// be subscribed to more than MaxSubscribedIDs ids.
func (h *hub) subscribe(s *session, ids []string) error {
	cur := h.subs[s]
	added := make(map[string]struct{}, len(ids)) // repeated ids count once
	for _, id := range ids {
		if _, ok := cur[id]; !ok {
			added[id] = struct{}{}
		}
	}
	if len(cur)+len(added) > protocol.MaxSubscribedIDs {
		return protocol.Errorf(protocol.CodeInvalidArgument,
			"a session may be subscribed to at most %d ids: %d now, %d more asked", protocol.MaxSubscribedIDs, len(cur), len(added))
	}
	if cur == nil {
		cur = make(map[string]struct{}, len(ids))
		h.subs[s] = cur
	}
	for _, id := range ids {
		cur[id] = struct{}{}
		w := h.watchers[id]
		if w == nil {
			w = make(map[*session]struct{})
			h.watchers[id] = w
		}
		w[s] = struct{}{}
	}
	return nil
}

// unsubscribe removes ids from s's subscriptions; ids s is not subscribed to are ignored.
func (h *hub) unsubscribe(s *session, ids []string) {
	cur := h.subs[s]
	for _, id := range ids {
		if _, ok := cur[id]; !ok {
			continue
		}
		delete(cur, id)
		if w := h.watchers[id]; w != nil {
			delete(w, s)
			if len(w) == 0 {
				delete(h.watchers, id)
			}
		}
	}
	if len(cur) == 0 {
		delete(h.subs, s)
	}
}

// unsubscribeAll drops every subscription of s.
func (h *hub) unsubscribeAll(s *session) {
	for id := range h.subs[s] {
		if w := h.watchers[id]; w != nil {
			delete(w, s)
			if len(w) == 0 {
				delete(h.watchers, id)
			}
		}
	}
	delete(h.subs, s)
}

// notify queues a presence event about user to its subscribers.
func (h *hub) notify(user string, status core.PeerStatus) {
	w := h.watchers[user]
	if len(w) == 0 {
		return
	}
	f := &protocol.Frame{Type: protocol.TypePresence, Status: map[string]string{user: status.String()}}
	for _, s := range sortedSessions(w) {
		s.enqueue(f)
	}
}

func sortedSessions(set map[*session]struct{}) []*session {
	out := make([]*session, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *session) int { return cmp.Compare(a.order, b.order) })
	return out
}

// statusLocked is user's presence in the whole cluster: the best of its
// status on this node and on the others, as the directory knows them.
// A user with a session anywhere, attached or not, is rung by invitations
// and answers true to queries.
func (n *Node) statusLocked(user string) core.PeerStatus {
	st := n.hub.status(user)
	if st == core.PeerOnline {
		return st
	}
	for r := range n.cl.users[user] {
		if r.live {
			return core.PeerOnline
		}
		st = core.PeerUnreachable
	}
	return st
}

// presenceLocked runs change and tells user's subscribers if it changed
// user's status.
func (n *Node) presenceLocked(user string, change func()) {
	before := n.statusLocked(user)
	change()
	if after := n.statusLocked(user); after != before {
		n.hub.notify(user, after)
	}
}

// dedup returns ids without repeats, in first-seen order.
func dedup(ids []string) []string {
	seen := make(map[string]struct{}, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if _, ok := seen[id]; !ok {
			seen[id] = struct{}{}
			out = append(out, id)
		}
	}
	return out
}

// The presence requests. Each is called with Node.mu held, queues the
// request's events and then its reply.

func (n *Node) queryLocked(s *session, rid uint64, ids []string) {
	online := make(map[string]bool, len(ids))
	for _, id := range ids {
		online[id] = n.statusLocked(id) != core.PeerOffline
	}
	s.enqueue(&protocol.Frame{Type: protocol.TypeOK, RID: rid, Online: online})
}

// subscribeLocked replies first and then sends the current status of the
// ids, so that the client has its subscription confirmed when the status
// arrives.
func (n *Node) subscribeLocked(s *session, rid uint64, ids []string) {
	ids = dedup(ids)
	if err := n.hub.subscribe(s, ids); err != nil {
		s.replyError(rid, asProtocolError(err))
		return
	}
	s.replyOK(rid)
	status := make(map[string]string, len(ids))
	for _, id := range ids {
		status[id] = n.statusLocked(id).String()
	}
	s.enqueue(&protocol.Frame{Type: protocol.TypePresence, Status: status})
}

func (n *Node) unsubscribeLocked(s *session, rid uint64, ids []string) {
	n.hub.unsubscribe(s, ids)
	s.replyOK(rid)
}
