package server

import (
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
)

// Settling after a reset (docs/CLUSTER.md, "Lost messages"). A pair of
// nodes that reset each other for a lost message is alive, and meets again
// within a round trip. The invitations that rang sessions here and were
// owned there are then settled rather than failed blind, so that caller
// and callee agree: this node keeps them ringing and holds the answers
// waiting for the owner; once the owner is a peer again it asks it
// (settle), the owner answers with its last word to each session on each
// invitation (what it sent, or meant to: accepted, refused, canceled,
// failure) and whether it took the session's answer (settled), and this
// node delivers the words and replies to the held answers. The owner ended the calls across the
// pair with the reset; an accepted invitation's call ends with it
// (PEER_OFFLINE). What is not settled within PeerTimeout of the reset (the
// owner died, or restarted) fails as after a death.

// A settle and its answer travel in pages, like a directory snapshot
// (snapshot.go): each page a settle or settled message of at most
// settlePageBytes, numbered like any unicast, so a lost page is a gap and
// the pair resets again. The owner answers once the asker's last page has
// come, and the asker applies the words once the owner's last page has
// come: a settle is still all or nothing.

// settlePageBytes bounds a settle page's JSON, before its pair number is
// spliced in: a directory page's bound, about 4,000 invitations asked
// about, or 29 answers carrying 8 KiB each.
const settlePageBytes = dirPageBytes

// settleIn is a settle, or its answer, arriving page by page.
type settleIn struct {
	pages   int // how many page 1 said
	got     int
	entries []settleEntry
}

// settleEntry is a session and an invitation ringing it; in a settled
// answer, the owner's last word to the session on it (F), and whether the
// session's answer was taken (OK).
type settleEntry struct {
	Sess string          `json:"s"`
	Inv  string          `json:"i"`
	F    *protocol.Frame `json:"f,omitempty"`
	OK   bool            `json:"ok,omitempty"`
}

// settling is what this node waits to hear from an owner that reset.
type settling struct {
	inc     string        // the owner's incarnation: a restarted owner settles nothing
	entries []settleEntry // in the order they rang
	held    []uint64      // forwarded answers (cluster.calls) waiting for their reply
	asked   *peer         // the peer asked, once: a reset makes a new one, asked again
	timer   *time.Timer
}

// toldLocked records f, a frame for remote session sid, as the last word
// of its invitation to that session, if it is one.
func (n *Node) toldLocked(sid string, f *protocol.Frame) {
	switch f.Type {
	case protocol.TypeRemoteAccepted, protocol.TypeRemoteRefused, protocol.TypeRemoteCanceled, protocol.TypeRemoteFailure:
	default:
		return
	}
	inv := n.invs.byID[f.Inv]
	if inv == nil {
		return
	}
	if inv.told == nil {
		inv.told = make(map[string]*protocol.Frame)
	}
	inv.told[sid] = f
}

// unsettledLocked keeps invitation inv, owned by p, ringing s until p
// settles it.
func (n *Node) unsettledLocked(p *peer, s *session, inv string) {
	st := n.cl.unsettled[p.id]
	if st == nil {
		st = &settling{inc: p.inc}
		id := p.id
		st.timer = time.AfterFunc(n.cfg.PeerTimeout, func() {
			n.mu.Lock()
			defer n.mu.Unlock()
			if n.cl.unsettled[id] == st {
				n.logLocked(n.log, slog.LevelWarn, "invitations not settled by their node in time", "peer", id, "invitations", len(st.entries))
				n.unsettleLocked(id, nil, "late")
			}
		})
		n.cl.unsettled[p.id] = st
	}
	if e := (settleEntry{Sess: s.id, Inv: inv}); !slices.Contains(st.entries, e) { // reset again before the settle
		st.entries = append(st.entries, e)
	}
}

// heldForSettleLocked reports whether forwarded request corr waits for a
// settle.
func (n *Node) heldForSettleLocked(corr uint64) bool {
	for _, st := range n.cl.unsettled {
		if slices.Contains(st.held, corr) {
			return true
		}
	}
	return false
}

// holdLocked keeps forwarded request c (corr) to p waiting for the settle
// when it answers an invitation being settled.
func (n *Node) holdLocked(p *peer, corr uint64, c *call) bool {
	st := n.cl.unsettled[p.id]
	if st == nil || c.req == nil || (c.req.Type != protocol.TypeAccept && c.req.Type != protocol.TypeRefuse) {
		return false
	}
	if !slices.Contains(st.entries, settleEntry{Sess: c.sess.id, Inv: c.req.Inv}) {
		return false
	}
	if !slices.Contains(st.held, corr) {
		st.held = append(st.held, corr)
	}
	return true
}

// settleAskLocked asks p, a peer again, what became of what it owes here.
func (n *Node) settleAskLocked(p *peer) {
	st := n.cl.unsettled[p.id]
	if st == nil {
		return
	}
	if st.inc != p.inc {
		n.unsettleLocked(p.id, nil, "restarted") // what it owned is gone
		return
	}
	if st.asked == p {
		return // a hello and a welcome both met it: one answer is enough
	}
	st.asked = p
	// Only what still rings: a settle cut short by another reset told
	// some sessions already.
	var ask []settleEntry
	for _, e := range st.entries {
		if s := n.hub.sessions[e.Sess]; s != nil {
			if _, ringing := s.remoteRinging[e.Inv]; ringing {
				ask = append(ask, e)
			}
		}
	}
	n.tellSettleLocked(p.id, kindSettle, ask)
}

// tellSettleLocked sends node id entries as pages of kind (settle,
// settled), back to back under Node.mu.
func (n *Node) tellSettleLocked(id, kind string, entries []settleEntry) {
	for _, m := range pageSettle(kind, n.id, n.inc, entries, settlePageBytes) {
		n.tell(id, m)
	}
}

// pageSettle splits entries into as few pages of kind as keep each page's
// JSON, as encode makes it for from and inc, within limit bytes, counted
// exactly (so a page may reach limit itself); an entry too large for a
// page on its own (none is: a word's content is at most 8 KiB, 48 KiB
// escaped) gets a page of its own. No entries make one empty page.
func pageSettle(kind, from, inc string, entries []settleEntry, limit int) []*message {
	head := func(page, pages int) int {
		return jsonLen(&message{K: kind, From: from, Inc: inc, Page: page, Pages: pages})
	}
	sizes := make([]int, len(entries))
	for i, e := range entries {
		sizes[i] = jsonLen(e)
	}
	counts := pageCounts(sizes, []pageList{{len(sizes), len(`,"ask":[]`)}}, head, limit)
	pages := make([]*message, len(counts))
	for i, c := range counts {
		pages[i] = &message{K: kind, Page: i + 1, Pages: len(counts), Ask: entries[:c:c]}
		entries = entries[c:]
	}
	return pages
}

// pageList is a list of a page's JSON: how many of the entries, in order,
// are its, and the bytes around its first entry in a page (a comma goes
// before each other).
type pageList struct{ n, wrap int }

// pageCounts packs entries of the JSON sizes given, in order, into pages of
// at most limit bytes, and returns how many go in each page: a page is
// head(page, pages) bytes with its lists, the entries of lists in turn.
// The page count is in every page: pack again while it needs more digits
// than the pages were packed for. Snapshots and settles both page with it,
// so that their bounds are counted one way (TestSnapshotPageAtBound,
// TestSettlePageAtBound).
func pageCounts(sizes []int, lists []pageList, head func(page, pages int) int, limit int) []int {
	for digits, count := 1, 1; ; digits, count = digits+1, count*10 {
		counts := []int{0}
		size := head(1, count)
		l, left := -1, 0 // the list of the entry, and how many of its entries follow
		opened := false  // whether list l has an entry in the page yet
		for _, s := range sizes {
			for left == 0 {
				l++
				left, opened = lists[l].n, false
			}
			left--
			cost := s + len(",")
			if !opened {
				cost = s + lists[l].wrap
			}
			if size+cost > limit && counts[len(counts)-1] > 0 {
				counts = append(counts, 0)
				size, cost = head(len(counts), count), s+lists[l].wrap
			}
			size += cost
			opened = true
			counts[len(counts)-1]++
		}
		if len(strconv.Itoa(len(counts))) <= digits {
			return counts
		}
	}
}

// settlePageLocked takes page m of a settle or its answer from p into in
// (p.settleAsk, p.settleWords), and returns them all once the last page
// has come, else nil. Page 1 starts anew; a page after it out of place (none before
// it, or one skipped) means pages were lost, as a gap.
func (n *Node) settlePageLocked(p *peer, in **settleIn, m *message) *settleIn {
	pages := max(m.Pages, 1)
	if m.Page <= 1 {
		*in = &settleIn{pages: pages}
	} else if *in == nil || m.Page != (*in).got+1 || pages != (*in).pages {
		*in = nil
		n.gapLocked(p, "a settle page out of place", m.Seq)
		return nil
	}
	cur := *in
	cur.got++
	cur.entries = append(cur.entries, m.Ask...)
	p.progress = time.Now()
	if cur.got < cur.pages {
		return nil
	}
	*in = nil
	if cur.pages > 1 {
		n.logLocked(n.log, slog.LevelInfo, "peer settle received", "peer", p.id, "kind", m.K, "pages", cur.pages, "entries", len(cur.entries))
	}
	return cur
}

// settleAnswerLocked takes a page of p's settle and, after the last,
// answers it: for each session and invitation it asks about, the last word
// this node had for it, all pages under one hold of Node.mu.
func (n *Node) settleAnswerLocked(p *peer, m *message) {
	in := n.settlePageLocked(p, &p.settleAsk, m)
	if in == nil {
		return
	}
	var words []settleEntry
	for _, e := range in.entries {
		if ownerOf(e.Inv) != n.id {
			continue
		}
		var word *protocol.Frame
		answerer := ""
		if t := n.invs.ended[e.Inv]; t != nil {
			word, answerer = t.told[e.Sess], t.answerer
		} else if inv := n.invs.byID[e.Inv]; inv != nil {
			word = inv.told[e.Sess]
		}
		switch {
		case answerer == e.Sess:
			e.F, e.OK = &protocol.Frame{Type: protocol.TypeRemoteAccepted, Inv: e.Inv}, true
		case word == nil: // never told: it stopped ringing with the reset
			e.F = &protocol.Frame{Type: protocol.TypeRemoteFailure, Inv: e.Inv, Reason: core.RemoteFailurePeerOffline.String()}
		default:
			e.F, e.OK = word, word.Type == protocol.TypeRemoteRefused
		}
		words = append(words, e)
	}
	n.tellSettleLocked(p.id, kindSettled, words)
}

// settledLocked takes a page of the owner's answer and, after the last,
// applies the owner's words: each still ringing session
// gets its word, as if the owner had just sent it, the held answers their
// reply, and an accepted invitation's call, which ended with the reset,
// its end.
func (n *Node) settledLocked(p *peer, m *message) {
	in := n.settlePageLocked(p, &p.settleWords, m)
	if in == nil || n.cl.unsettled[p.id] == nil {
		return
	}
	words := in.entries
	var answered []settleEntry
	for _, e := range words {
		if e.F == nil || e.F.Inv != e.Inv {
			continue
		}
		if s := n.hub.sessions[e.Sess]; s != nil {
			if _, ringing := s.remoteRinging[e.Inv]; ringing {
				n.deliverWordLocked(p, e)
			}
		}
		if e.OK {
			answered = append(answered, settleEntry{Sess: e.Sess, Inv: e.Inv})
		}
	}
	n.unsettleLocked(p.id, answered, "settled")
	for _, e := range words {
		if e.F != nil && e.F.Type == protocol.TypeRemoteAccepted {
			if s := n.hub.sessions[e.Sess]; s != nil {
				if _, in := s.inCall[e.Inv]; in {
					n.deliverLocked(p, e.Sess, callEnded(e.Inv, core.CallEndPeerOffline))
				}
			}
		}
	}
}

// deliverWordLocked delivers the owner's word e to its session. The
// remote.accepted of an accept the settle held is that accept's reply: it
// carries its rid, and the held request is answered with it.
func (n *Node) deliverWordLocked(p *peer, e settleEntry) {
	if e.F.Type == protocol.TypeRemoteAccepted && e.OK {
		for _, corr := range n.cl.unsettled[p.id].held {
			if c := n.cl.calls[corr]; c != nil && c.sess.id == e.Sess && c.req.Inv == e.Inv && c.req.Type == protocol.TypeAccept {
				f := *e.F
				f.RID = c.rid
				n.deliverLocked(p, e.Sess, &f)
				delete(n.cl.calls, corr)
				n.replyLocked(c, &protocol.Frame{Type: protocol.TypeOK, RID: c.rid}) // queues nothing: f was it
				return
			}
		}
	}
	n.deliverLocked(p, e.Sess, e.F)
}

// unsettleLocked ends what node id owes here: what is still ringing fails
// PEER_OFFLINE, and the held answers get their reply (ok for the sessions
// in answered, ALREADY_END for the others). result counts the invitations
// in the metric.
func (n *Node) unsettleLocked(id string, answered []settleEntry, result string) {
	st := n.cl.unsettled[id]
	delete(n.cl.unsettled, id)
	st.timer.Stop()
	n.m.settles.WithLabelValues(result).Add(float64(len(st.entries)))
	for _, e := range st.entries {
		s := n.hub.sessions[e.Sess]
		if s == nil {
			continue
		}
		if _, ringing := s.remoteRinging[e.Inv]; ringing {
			delete(s.remoteRinging, e.Inv)
			s.enqueue(&protocol.Frame{Type: protocol.TypeRemoteFailure, Inv: e.Inv, Reason: core.RemoteFailurePeerOffline.String()})
			n.remoteEndedLocked(e.Inv, s.id)
		}
	}
	for _, corr := range st.held {
		c := n.cl.calls[corr]
		if c == nil {
			continue // answered meanwhile (forward's own timeout)
		}
		delete(n.cl.calls, corr)
		if slices.Contains(answered, settleEntry{Sess: c.sess.id, Inv: c.req.Inv}) {
			n.replyLocked(c, &protocol.Frame{Type: protocol.TypeOK, RID: c.rid})
		} else {
			n.replyLocked(c, protocol.ErrorFrame(c.rid, errAlreadyEnd))
		}
	}
}
