package server

import (
	"cmp"
	"slices"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
)

// hub knows who is connected: every session, the logged-in sessions of each
// user (a user is ONLINE while it has one), and presence subscriptions in
// both directions. Every method is called with Node.mu held.
type hub struct {
	sessions map[*session]struct{}            // every connected session, logged in or not
	users    map[string]map[*session]struct{} // logged-in sessions by user id
	subs     map[*session]map[string]struct{} // the ids each session is subscribed to
	watchers map[string]map[*session]struct{} // the sessions subscribed to each id
}

func newHub() hub {
	return hub{
		sessions: make(map[*session]struct{}),
		users:    make(map[string]map[*session]struct{}),
		subs:     make(map[*session]map[string]struct{}),
		watchers: make(map[string]map[*session]struct{}),
	}
}

// login adds s to user's sessions and reports whether user just came online.
func (h *hub) login(s *session, user string) (first bool) {
	set := h.users[user]
	if set == nil {
		set = make(map[*session]struct{})
		h.users[user] = set
	}
	set[s] = struct{}{}
	return len(set) == 1
}

// logout removes s from user's sessions and reports whether user just went offline.
func (h *hub) logout(s *session, user string) (last bool) {
	set := h.users[user]
	if _, ok := set[s]; !ok {
		return false
	}
	delete(set, s)
	if len(set) == 0 {
		delete(h.users, user)
		return true
	}
	return false
}

func (h *hub) online(user string) bool { return len(h.users[user]) > 0 }

// sessionsOf returns user's logged-in sessions in the order they connected.
func (h *hub) sessionsOf(user string) []*session {
	var ss []*session
	for s := range h.users[user] {
		ss = append(ss, s)
	}
	slices.SortFunc(ss, func(a, b *session) int { return cmp.Compare(a.seq, b.seq) })
	return ss
}

// subscribe adds ids to s's subscriptions, or none of them if s would then
// be subscribed to more than MaxSubscribedIDs ids.
func (h *hub) subscribe(s *session, ids []string) error {
	cur := h.subs[s]
	added := 0
	for _, id := range ids {
		if _, ok := cur[id]; !ok {
			added++
		}
	}
	if len(cur)+added > protocol.MaxSubscribedIDs {
		return protocol.Errorf(protocol.CodeInvalidArgument,
			"a session may be subscribed to at most %d ids: %d now, %d more asked", protocol.MaxSubscribedIDs, len(cur), added)
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
func (h *hub) notify(user string, online bool) {
	w := h.watchers[user]
	if len(w) == 0 {
		return
	}
	f := &protocol.Frame{Type: protocol.TypePresence, Status: map[string]string{user: statusName(online)}}
	for s := range w {
		s.enqueue(f)
	}
}

func statusName(online bool) string {
	if online {
		return core.PeerOnline.String()
	}
	return core.PeerOffline.String()
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

// The presence and login requests. Each is called with Node.mu held, queues
// the request's events and then its reply.

func (n *Node) loginLocked(s *session, rid uint64, user string) {
	if n.closing {
		s.replyError(rid, errShuttingDown)
		return
	}
	s.user = user
	if n.hub.login(s, user) {
		n.hub.notify(user, true)
	}
	s.enqueue(&protocol.Frame{Type: protocol.TypeOK, RID: rid, User: user, Session: s.id})
	n.log.Info("login", "session", s.id, "user", user, "sessions_of_user", len(n.hub.users[user]))
}

func (n *Node) logoutLocked(s *session, rid uint64) {
	user := s.user
	n.leaveLocked(s, true)
	s.replyOK(rid)
	n.log.Info("logout", "session", s.id, "user", user)
}

// leaveLocked takes s out of everything it takes part in as a logged-in
// session (PROTOCOL.md, "Sessions leaving"). On logout s itself first gets
// the terminal events of its invitations; on a closed connection it gets
// nothing.
func (n *Node) leaveLocked(s *session, logout bool) {
	user := s.user
	if user == "" {
		return
	}
	n.sessionLeftLocked(s, logout)
	n.hub.unsubscribeAll(s)
	if n.hub.logout(s, user) {
		n.hub.notify(user, false)
	}
	s.user = ""
}

func (n *Node) queryLocked(s *session, rid uint64, ids []string) {
	online := make(map[string]bool, len(ids))
	for _, id := range ids {
		online[id] = n.hub.online(id)
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
		status[id] = statusName(n.hub.online(id))
	}
	s.enqueue(&protocol.Frame{Type: protocol.TypePresence, Status: status})
}

func (n *Node) unsubscribeLocked(s *session, rid uint64, ids []string) {
	n.hub.unsubscribe(s, ids)
	s.replyOK(rid)
}
