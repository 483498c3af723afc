package server

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// The hand-over of a move (PROTOCOL.md "Drain"): a moved session passes
// nothing on to its client, gone, but it stays in the directory until a
// session of its user appears elsewhere, so peer messages keep reaching it.
// It holds them (up to MaxMovedMessages) for its device's next session,
// whose login names it with its key. That session's node announces the
// claim with the session and, once every peer has it (a sync), asks the
// moved session's node, which syncs its peers in turn: then every message a
// node sent the moved session before it knew of the claim has arrived, and
// every later one went to the claimer too, tagged so (also). The moved
// session's node answers with what it held, but those tagged for the
// claimer, and the claimer's node queues them, then the peer messages that
// reached the claimer meanwhile (diverted), in order, exactly once.
//
// A lost login reply: the claimer's client may never have had its login's
// reply (the connection dropped first), so it logs in again, naming the
// moved session as before. Its claim goes to the node of the session that
// claims it already, if any (the directory carries claims), and not to the
// moved session's node, which may be gone by then (its drain ends once
// handed over). That node passes on what its claimer owes its device: every
// peer message queued to it since its login (it held them, handed over or
// not, in owed), while its client acknowledged nothing; the key must be the
// one the first claim named. Every node sends a peer message for a session
// claiming a moved session tagged with the other claimers of that session
// it goes to too (also), so that the owed skip those the new claimer got
// itself. The old claimer then ends: its device is the new one's.
//
// A stale login: the client numbers its login attempts within a move
// (attempt), so that a login whose frame reached its node only after the
// client gave up on it, and after its next attempt succeeded, takes nothing
// from that next one: a claimer passes on what it owes only to a login of a
// higher attempt than its own. The stale login's claim is refused, and its
// session is an ordinary one. A login without a number (a client of an
// earlier version), or a claimer without one, is taken as before.

// MaxMovedMessages bounds the peer messages a moved session holds for its
// device's next session; past it they are dropped and counted, and the new
// session is told how many (CodeMessagesDropped).
const MaxMovedMessages = 256

// heldMessage is a peer message a moved session holds; also are the
// sessions claiming it that the message went to as well.
type heldMessage struct {
	f    *protocol.Frame
	also []string
}

// claimNodeLocked records that s's login names id, the session its device
// moved from, and returns the node that holds id: the node its id starts
// with, if a peer (a moved session that ended keeps its hold there for a
// claim, out of the directory), else "": then nothing is handed over.
// A session that claims id already (a login of the same device whose reply
// was lost) takes the claim instead: then its node is returned. attempt is
// the login's attempt number within its move (0: none).
func (n *Node) claimNodeLocked(s *session, id, key string, attempt uint64) string {
	if id == "" {
		return ""
	}
	node := n.claimerNodeLocked(s.user, id, key)
	if node == "" {
		node = ownerOf(id)
		if _, ok := n.cl.peers[node]; !ok {
			n.logSessionLocked(s, slog.LevelInfo, "move claim of no session of another node: nothing handed over", "moved", id)
			return ""
		}
	}
	s.claim, s.claimAttempt = id, attempt
	s.owing = true // s is not yet known to any other goroutine
	return node
}

// claimerNodeLocked returns the node of a session of user that claims the
// moved session id (this node's id for one here with key), or "": of
// several, the one of the highest attempt, the device's latest login.
func (n *Node) claimerNodeLocked(user, id, key string) string {
	node, attempt := "", uint64(0)
	if x := n.localClaimerLocked(user, id, key, ""); x != nil {
		node, attempt = n.id, x.claimAttempt
	}
	for r := range n.cl.users[user] {
		if r.claim == id && (node == "" || r.attempt > attempt) {
			node, attempt = r.node, r.attempt
		}
	}
	return node
}

// localClaimerLocked returns the session here of user, but not (the one
// asking), that claims the moved session id with key and has not passed on
// what it owes, or nil: of several, the one of the highest attempt.
func (n *Node) localClaimerLocked(user, id, key, not string) *session {
	var found *session
	for x := range n.hub.users[user] {
		if x.claim == id && x.id != not && !x.ended && x.passedTo == nil && x.claimKeyMatches(key) &&
			(found == nil || x.claimAttempt > found.claimAttempt) {
			found = x
		}
	}
	return found
}

// claimLocked asks node, once every peer knows of s and its claim, for the
// peer messages the moved session held for s; until the answer, those for s
// wait (diverted), up to MaxMovedMessages (stopDivertingLocked).
func (n *Node) claimLocked(s *session, node, key string) {
	s.claimKey = key
	s.qmu.Lock()
	s.claiming = true
	s.qmu.Unlock()
	n.afterPeersLocked(func() { n.askClaimLocked(s, node, key, false) })
}

// askClaimLocked asks node for what s's claim is owed: the moved session's
// node, or that of a session claiming it already. An answer that names the
// session the moved one was handed to, a claimer of an earlier attempt
// than s's (a stale login whose claim got there first), is asked again
// there: that one passes it all on. Only once (redirected): that node
// answers with what it passes on or nothing, never with a name (a peer's
// answer that does is taken as a refusal, not followed round and round).
func (n *Node) askClaimLocked(s *session, node, key string, redirected bool) {
	if node == n.id && !s.ended { // a session here claims it already
		n.reclaimLocked(s.user, s.claim, key, s.claimAttempt, passTarget{sess: s.id, node: n.id}, 0,
			func(pages []*message) { n.handOverLocked(s, pages) })
		return
	}
	if _, ok := n.cl.peers[node]; !ok || s.ended {
		n.handOverLocked(s, nil)
		return
	}
	c := &call{waiting: map[string]struct{}{node: {}}, done: make(chan struct{})}
	n.cl.next++
	corr := n.cl.next
	n.cl.calls[corr] = c
	var late, expire *time.Timer
	c.forget = func() {
		n.stopTimer(&late)
		n.stopTimer(&expire)
		if n.cl.calls[corr] == c {
			delete(n.cl.calls, corr)
		}
		if s.claimCall == c {
			s.claimCall = nil
		}
	}
	s.claimCall = c
	asked := time.Now()
	c.then = func() {
		c.forget()
		if a := c.answers; len(a) == 1 && !a[0].Live && a[0].By != "" && a[0].By != s.id && !s.ended {
			if !redirected {
				n.logSessionLocked(s, slog.LevelInfo, "move claimed by an earlier login attempt first: asking it", "moved", s.claim, "claimer", a[0].By)
				n.askClaimLocked(s, ownerOf(a[0].By), key, true)
				return
			}
			n.logSessionLocked(s, slog.LevelWarn, "move claim sent on a second time: taken as refused", "moved", s.claim, "claimer", a[0].By, "peer", node)
		}
		n.handOverLocked(s, c.answers)
	}
	n.tell(node, &message{K: kindClaim, Corr: corr, Sess: s.claim, User: s.user, Key: key, By: s.id, Attempt: s.claimAttempt})
	// A node that does not answer (one of an earlier version, in a
	// rolling upgrade, knows no claim; one slow to get to it) must not
	// keep s's messages waiting: its answer is due once it synced its
	// peers, which the death of one bounds.
	// A late answer is still handed over, after those (c.then), until
	// ResumeGrace from the claim, when what the moved session's node kept
	// is gone (keepHoldLocked): then the call is dropped (c.forget), not
	// kept until that peer dies, one per login that names a session of
	// such a node. An end of s with nothing to pass a late answer on to
	// drops it too (forgetClaimLocked), as does a shutdown.
	late = n.afterFunc(n.cfg.PeerTimeout+2*n.cfg.PeerHeartbeat, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		late = nil
		if n.cl.calls[corr] != c {
			return
		}
		n.logSessionLocked(s, slog.LevelWarn, "move claim not answered in time: the peer messages that waited go on",
			"moved", s.claim, "peer", node)
		n.handOverLocked(s, nil)
		if n.cl.calls[corr] == c && !n.closing {
			expire = n.afterFunc(time.Until(asked.Add(n.cfg.ResumeGrace)), func() {
				n.mu.Lock()
				defer n.mu.Unlock()
				expire = nil
				if n.cl.calls[corr] == c {
					n.logSessionLocked(s, slog.LevelInfo, "move claim never answered: given up", "moved", s.claim, "peer", node)
					c.forget()
				}
			})
		}
	})
}

// forgetClaimLocked drops the call of s's claim, ended, unless a late
// answer would still go somewhere: to the re-claim that waits for it
// (passOn) or that took what s owed (passedTo).
func (n *Node) forgetClaimLocked(s *session) {
	if c := s.claimCall; c != nil && s.passOn == nil && s.passedTo == nil {
		c.forget()
	}
}

// forgetClaimsLocked drops every claim's call (at shutdown) and stops its
// timers: no answer matters any more.
func (n *Node) forgetClaimsLocked() {
	for _, corr := range slices.Sorted(maps.Keys(n.cl.calls)) {
		if c := n.cl.calls[corr]; c != nil && c.forget != nil {
			c.forget()
		}
	}
}

// handOverLocked queues to s what the moved session held for it (the
// pages of its node's answer; none when it is gone or did not answer),
// then what waited for it.
func (n *Node) handOverLocked(s *session, pages []*message) {
	if s.ended && s.passOn != nil {
		n.handOverEndedLocked(s, pages)
		return
	}
	if s.ended && s.passedTo != nil {
		n.passLateLocked(s, pages)
		return
	}
	refused := len(pages) > 0 && !pages[0].Live
	s.qmu.Lock()
	s.claiming = false
	waited := s.diverted
	s.diverted = nil
	if refused {
		s.owing, s.owed, s.owedDropped = false, nil, 0
	}
	if len(pages) > 0 {
		for _, page := range pages {
			for i, f := range page.Held {
				s.enqueueAlsoLocked(f, page.tag(i))
			}
		}
		if m := pages[len(pages)-1]; m.Code > 0 {
			if s.owing {
				s.owedDropped += m.Code
			}
			s.enqueueLocked(droppedFrame(m.Code))
		}
	}
	for _, h := range waited {
		s.enqueueAlsoLocked(h.f, h.also)
	}
	s.qmu.Unlock()
	n.logSessionLocked(s, slog.LevelInfo, "move hand-over", "moved", s.claim, "answered", len(pages) > 0, "refused", refused, "waited", len(waited))
	if refused && s.passOn == nil && !s.ended {
		// Not the device's: a later login of the device must not find it
		// as the claimer (claimNodeLocked).
		s.claim, s.claimKey, s.claimAttempt = "", "", 0
		n.announceLocked(s)
	}
	if f := s.passOn; f != nil {
		s.passOn = nil
		f()
	}
}

// handOverEndedLocked is handOverLocked for s, ended while a re-claim
// waits for s's claim to be answered (passOn): what s would have queued
// (the pages, then what waited), it owes, and the re-claim gets it (else
// it would get no answer at all). A refused claim, as for a live s, makes
// s owe nothing.
func (n *Node) handOverEndedLocked(s *session, pages []*message) {
	refused := len(pages) > 0 && !pages[0].Live
	s.qmu.Lock()
	s.claiming = false
	if refused {
		s.owed, s.owedDropped = nil, 0
	} else {
		for _, page := range pages {
			for i, f := range page.Held {
				s.oweLocked(f, page.tag(i))
			}
		}
		if len(pages) > 0 {
			s.owedDropped += pages[len(pages)-1].Code
		}
		for _, h := range s.diverted {
			s.oweLocked(h.f, h.also)
		}
	}
	s.diverted = nil
	s.qmu.Unlock()
	f := s.passOn
	s.passOn = nil
	f()
}

// claimAskedLocked answers p's claim m of a moved session here, once every
// peer has handled what it sent before: what the session held, but what
// went to the claimer too. A wrong key, or a session that is unknown, not
// moved, someone else's or claimed already, gets an empty answer.
func (n *Node) claimAskedLocked(p *peer, m *message) {
	s := n.hub.sessions[m.Sess]
	if s == nil {
		s = n.holds[m.Sess]
	}
	if s == nil && ownerOf(m.Sess) != n.id { // a session here claims it already
		n.reclaimLocked(m.User, m.Sess, m.Key, m.Attempt, passTarget{sess: m.By, node: p.id}, m.Corr, func(pages []*message) {
			for _, page := range pages {
				n.tell(p.id, page)
			}
		})
		return
	}
	if s != nil && s.moved.Load() && s.user == m.User && s.claimBy != "" && s.claimBy != m.By &&
		s.claimByAttempt > 0 && m.Attempt > s.claimByAttempt && s.resumeKeyMatches(m.Key) {
		// A stale login's claim got here first: the device's later one
		// asks it, and it passes on all it was handed (reclaimLocked).
		n.logSessionLocked(s, slog.LevelInfo, "move claim of a later login attempt: sent to the earlier one's", "by", m.By, "claimer", s.claimBy)
		n.tell(p.id, &message{K: kindClaimed, Corr: m.Corr, By: s.claimBy})
		return
	}
	if s == nil || !s.moved.Load() || s.user != m.User || s.claimBy != "" || !s.resumeKeyMatches(m.Key) {
		n.logLocked(n.log, slog.LevelInfo, "move claim refused", "moved", m.Sess, "by", m.By, "peer", p.id)
		n.tell(p.id, &message{K: kindClaimed, Corr: m.Corr})
		return
	}
	s.claimBy, s.claimNode, s.claimByAttempt = m.By, p.id, m.Attempt
	n.afterPeersLocked(func() {
		var held []*protocol.Frame
		var tags [][]string
		for _, h := range s.moveHold {
			if !slices.Contains(h.also, m.By) {
				held, tags = append(held, h.f), append(tags, h.also)
			}
		}
		dropped := s.dropped
		s.moveHold, s.dropped, s.handed = nil, 0, true
		if n.holds[s.id] == s {
			delete(n.holds, s.id)
			n.stopTimer(&s.grace)
		}
		for _, page := range heldPages(n.id, n.inc, m.Corr, held, tags, dropped, dirPageBytes) {
			n.tell(p.id, page)
		}
		n.logSessionLocked(s, slog.LevelInfo, "move claim granted", "by", m.By, "held", len(held), "dropped", dropped)
		if !s.ended && !s.claimed {
			n.replacedLocked(s) // its device is back
		}
	})
}

// passTarget is the session, and its node, that a claimer's owed peer
// messages were passed on to.
type passTarget struct{ sess, node string }

// reclaimLocked answers (with answer, as claim corr's) the claim of the
// moved session moved, with key, by to, whose login was attempt, where a
// session x here claims it already: a login of the same device whose reply
// was lost. x passes on what it owes its device, once its own claim is
// answered, and ends. A wrong key, no such session, one whose client has
// acknowledged a frame (it had the reply: a later claim is not its
// device's), or a claim of an attempt not after x's (a login that reached
// its node after the device's next one: stale) gets an empty answer.
func (n *Node) reclaimLocked(user, moved, key string, attempt uint64, to passTarget, corr uint64, answer func([]*message)) {
	x := n.localClaimerLocked(user, moved, key, to.sess)
	owing, claiming := false, false
	if x != nil {
		x.qmu.Lock()
		owing, claiming = x.owing, x.claiming
		x.qmu.Unlock()
	}
	if x != nil && attempt > 0 && x.claimAttempt >= attempt {
		n.logSessionLocked(x, slog.LevelInfo, "move claim by an earlier login attempt refused: the claimer keeps what it holds",
			"moved", moved, "by", to.sess, "peer", to.node, "attempt", attempt, "claimer_attempt", x.claimAttempt)
		answer([]*message{{K: kindClaimed, Corr: corr}})
		return
	}
	if x == nil || !owing {
		n.logLocked(n.log, slog.LevelInfo, "move claim of a claimed session refused", "moved", moved, "by", to.sess, "peer", to.node)
		answer([]*message{{K: kindClaimed, Corr: corr}})
		return
	}
	x.passedTo = &to
	if claiming {
		// What the moved session's node hands x comes first.
		x.passOn = func() { n.passOnLocked(x, corr, answer) }
		return
	}
	n.passOnLocked(x, corr, answer)
}

// passOnLocked answers x's re-claim, once every peer has handled what it
// sent before (then every peer message that did not go to the new claimer
// too has reached x), with what x owes, but those that went to the new
// claimer too, and ends x quietly: its user's session count drops, its
// status does not (the new claimer is known everywhere already). An x
// that moved in turn (its node drains) owes what it held since too.
func (n *Node) passOnLocked(x *session, corr uint64, answer func([]*message)) {
	n.afterPeersLocked(func() {
		by := x.passedTo.sess
		var held []*protocol.Frame
		var tags [][]string
		x.qmu.Lock()
		owed := x.owed
		dropped := x.owedDropped
		x.owing, x.owed, x.owedDropped = false, nil, 0
		x.qmu.Unlock()
		owed, dropped = append(owed, x.moveHold...), dropped+x.dropped
		x.moveHold, x.dropped, x.handed = nil, 0, true
		for _, h := range owed {
			if !slices.Contains(h.also, by) {
				held, tags = append(held, h.f), append(tags, h.also)
			}
		}
		if len(held) > MaxMovedMessages {
			held, tags, dropped = held[:MaxMovedMessages], tags[:MaxMovedMessages], dropped+len(held)-MaxMovedMessages
		}
		n.logSessionLocked(x, slog.LevelInfo, "move claimed again: login reply lost, owed peer messages passed on",
			"moved", x.claim, "by", by, "peer", x.passedTo.node, "held", len(held), "dropped", dropped)
		answer(heldPages(n.id, n.inc, corr, held, tags, dropped, dirPageBytes))
		if !x.ended {
			n.endSessionLocked(x, statusServiceRestart, "moved", "moved")
		}
	})
}

// droppedFrame tells a device's new session that the moved session
// dropped dropped peer messages sent to it while it moved.
func droppedFrame(dropped int) *protocol.Frame {
	return protocol.ErrorFrame(0, protocol.Errorf(protocol.CodeMessagesDropped,
		"%d peer messages sent to this device while it moved were dropped (over %d)", dropped, MaxMovedMessages))
}

// passLateLocked passes on to the session x's owed went to the pages of
// x's claim answered after that (late), rather than lose them, but those
// tagged as gone to it too, and the count of those the moved session
// dropped (MESSAGES_DROPPED, after them).
func (n *Node) passLateLocked(x *session, pages []*message) {
	t := x.passedTo
	pass := func(f *protocol.Frame) {
		if t.node != n.id {
			n.tell(t.node, &message{K: kindDeliver, Sess: t.sess, F: f})
		} else if s := n.hub.sessions[t.sess]; s != nil && !s.ended {
			s.enqueue(f)
		}
	}
	held, dropped := 0, 0
	for _, page := range pages {
		for i, f := range page.Held {
			if !slices.Contains(page.tag(i), t.sess) { // else it went to t too
				held++
				pass(f)
			}
		}
	}
	if len(pages) > 0 && pages[0].Live {
		dropped = pages[len(pages)-1].Code
	}
	if dropped > 0 {
		pass(droppedFrame(dropped))
	}
	if held > 0 || dropped > 0 {
		n.logSessionLocked(x, slog.LevelWarn, "move hand-over after the claimer passed on: passed on late", "by", t.sess, "held", held, "dropped", dropped)
	}
}

// heldPages answers claim corr with held, in as few pages as keep each
// page's JSON, as encode makes it for from and inc, within limit bytes
// (dirPageBytes: 256 peer messages of 32 KiB are over NATS's max_payload
// in one), the last with dropped; tags are held's also, in turn, sent
// (Tags) if any is not empty. Pages are counted as a snapshot's are
// (pageCounts), each frame by peerMessageLen, without marshaling it, with
// its tags and their comma; each page's head counts dropped, so only the
// last may reach limit itself.
func heldPages(from, inc string, corr uint64, held []*protocol.Frame, tags [][]string, dropped, limit int) []*message {
	tagged := slices.ContainsFunc(tags, func(t []string) bool { return len(t) > 0 })
	wrap := len(`,"held":[]`)
	if tagged {
		wrap += len(`,"tags":[]`) - len(",") // each size counts its tags' comma
	}
	sizes := make([]int, len(held))
	for i, f := range held {
		sizes[i] = peerMessageLen(f)
		if tagged {
			sizes[i] += jsonLen(tags[i]) + len(",")
		}
	}
	head := func(page, pages int) int {
		return jsonLen(&message{K: kindClaimed, From: from, Inc: inc, Corr: corr, Page: page, Pages: pages, Code: dropped, Live: true})
	}
	counts := pageCounts(sizes, []pageList{{len(held), wrap}}, head, limit)
	pages := make([]*message, len(counts))
	for i, c := range counts {
		pages[i] = &message{K: kindClaimed, Corr: corr, Page: i + 1, Pages: len(counts), Live: true}
		if c > 0 {
			pages[i].Held, held = held[:c:c], held[c:]
			if tagged {
				pages[i].Tags, tags = tags[:c:c], tags[c:]
			}
		}
	}
	pages[len(pages)-1].Code = dropped
	return pages
}

// tag returns the also of m's held frame i (Tags), or nil.
func (m *message) tag(i int) []string {
	if i < len(m.Tags) {
		return m.Tags[i]
	}
	return nil
}

// peerMessageLen is len(json.Marshal(f)) for f, a peer message, counted
// without marshaling when it has only the fields messageLocked sets; a
// frame with others (none: a peer's of a later version, say) is marshaled.
func peerMessageLen(f *protocol.Frame) int {
	rest := *f
	rest.Type, rest.From, rest.Text, rest.Raw, rest.Description, rest.TS = "", "", "", nil, "", 0
	if !reflect.ValueOf(rest).IsZero() {
		return jsonLen(f)
	}
	n := len(`{"type":}`) + jsonStringLen(f.Type)
	if f.From != "" {
		n += len(`,"from":`) + jsonStringLen(f.From)
	}
	if f.Text != "" {
		n += len(`,"text":`) + jsonStringLen(f.Text)
	}
	if len(f.Raw) > 0 {
		n += len(`,"raw":""`) + base64.StdEncoding.EncodedLen(len(f.Raw))
	}
	if f.Description != "" {
		n += len(`,"description":`) + jsonStringLen(f.Description)
	}
	if f.TS != 0 {
		n += len(`,"ts":`) + len(strconv.FormatInt(f.TS, 10))
	}
	return n
}

// deliverMessageLocked queues ev, a peer message, to p: a moved session
// here holds it. A session of claimers (those the message goes to that
// claim a moved session: claimersOf) that claims p is named with it, so
// that p's hand-over skips it.
func (n *Node) deliverMessageLocked(p party, ev *protocol.Frame, claimers []party) {
	var also []string
	for _, q := range claimers {
		if c := claimOf(q); c == p.sessionID() || c == claimOf(p) && q.sessionID() != p.sessionID() {
			also = append(also, q.sessionID()) // a claimer of p, or another claimer of what p claims
		}
	}
	switch p := p.(type) {
	case *session:
		if p.moved.Load() {
			n.holdMessageLocked(p, ev, also)
			return
		}
		if also != nil {
			p.enqueueAlso(ev, also)
			return
		}
	case *remoteSession:
		if also != nil {
			n.tell(p.node, &message{K: kindDeliver, Sess: p.id, F: ev, Also: also})
			return
		}
	}
	p.enqueue(ev)
}

// claimersOf returns those of parties that claim a moved session, in
// order; nil, with no allocation, when none does (the common case), which
// spares deliverMessageLocked a scan of parties for each of them.
func claimersOf(parties []party) []party {
	var claimers []party
	for _, q := range parties {
		if claimOf(q) != "" {
			claimers = append(claimers, q)
		}
	}
	return claimers
}

// claimOf returns the moved session p's login named, if any.
func claimOf(p party) string {
	switch p := p.(type) {
	case *session:
		return p.claim
	case *remoteSession:
		return p.claim
	}
	return ""
}

// heldLocked is told that another node delivers f, a peer message, to
// session sid here, and reports whether it took it: a moved session holds
// it; a claimer notes the others it went to (also).
func (n *Node) heldLocked(sid string, f *protocol.Frame, also []string) bool {
	s := n.hub.sessions[sid]
	if s == nil {
		s = n.holds[sid]
	}
	if s != nil && !s.moved.Load() && !s.ended && also != nil {
		s.enqueueAlso(f, also)
		return true
	}
	if s == nil || !s.moved.Load() {
		return false
	}
	n.holdMessageLocked(s, f, also)
	return true
}

// holdMessageLocked keeps f, a peer message to s, moved, for the session that
// claims s. Once the hold is handed over, a message that did not go to the
// claimer too (from a node that did not know of the claim: none should)
// goes on to it, late rather than lost.
func (n *Node) holdMessageLocked(s *session, f *protocol.Frame, also []string) {
	if s.handed {
		if s.claimBy != "" && !slices.Contains(also, s.claimBy) {
			n.logSessionLocked(s, slog.LevelWarn, "peer message to a moved session after its hand-over: passed on", "by", s.claimBy)
			if s.claimNode == n.id {
				return
			}
			n.tell(s.claimNode, &message{K: kindDeliver, Sess: s.claimBy, F: f})
		}
		return
	}
	if len(s.moveHold) >= MaxMovedMessages {
		s.dropped++
		n.m.movedDropped.Inc()
		if s.dropped == 1 {
			n.logSessionLocked(s, slog.LevelWarn, fmt.Sprintf("moved session holds %d peer messages: dropping more", MaxMovedMessages))
		}
		return
	}
	cp := *f
	s.moveHold = append(s.moveHold, heldMessage{f: &cp, also: also})
}

// keepHoldLocked keeps s, a moved session that ended before its hold was
// handed over, for a claim until ResumeGrace from its move.
func (n *Node) keepHoldLocked(s *session) {
	if s.handed || !s.moved.Load() {
		return
	}
	left := time.Until(s.holdUntil)
	if left <= 0 {
		return
	}
	n.holds[s.id] = s
	s.grace = n.afterFunc(left, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.holds[s.id] == s {
			delete(n.holds, s.id)
			if len(s.moveHold) > 0 {
				n.logSessionLocked(s, slog.LevelInfo, "moved session's hold expired unclaimed", "held", len(s.moveHold))
			}
		}
	})
}

// dropHoldsLocked forgets the holds of moved sessions that ended (at
// shutdown): what they held is lost, and logged.
func (n *Node) dropHoldsLocked() {
	for id, s := range n.holds {
		n.stopTimer(&s.grace)
		if len(s.moveHold) > 0 || s.dropped > 0 {
			n.logSessionLocked(s, slog.LevelWarn, "shutdown: moved session's hold lost unclaimed", "held", len(s.moveHold), "dropped", s.dropped)
		}
		delete(n.holds, id)
	}
}

// holdingLocked reports whether a moved session that ended holds peer
// messages no claim has taken yet: a drain waits for the claim.
func (n *Node) holdingLocked() bool {
	for _, s := range n.holds {
		if len(s.moveHold) > 0 || s.dropped > 0 || s.claimBy != "" {
			return true
		}
	}
	return false
}

// oweLocked keeps f, a peer message queued to s, which claims a moved
// session, for a later login of its device, should the reply to s's login
// have been lost (reclaimLocked); also are the other claimers it went to.
// qmu is held.
func (s *session) oweLocked(f *protocol.Frame, also []string) {
	if len(s.owed) >= MaxMovedMessages {
		s.owedDropped++
		return
	}
	cp := *f
	s.owed = append(s.owed, heldMessage{f: &cp, also: also})
}
