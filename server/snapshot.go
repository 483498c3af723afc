package server

import (
	"encoding/json"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// A node's part of the directory travels in pages (docs/CLUSTER.md,
// "Directory snapshots"): the hello or welcome is page 1 of Pages, and
// pages 2 to Pages follow at once as dir messages, unicast, so each
// carries its pair's number (Seq) like any other: a lost page is a gap
// (gapLocked), and the pair resets and exchanges its sessions again. The
// receiver applies each page as it arrives; sessions it knew of the sender
// that no page listed leave only with the last page, and until then the
// peer does not count as known (Peers, AwaitPeers).

const (
	// dirPageBytes bounds a page's JSON, before its pair number is spliced
	// in (at most 25 bytes more): a page of 256 KiB is about 4,900
	// sessions, few enough that it holds a NATS route for a moment only
	// (a whole directory in one message broke at 1 MiB, NATS's default
	// max_payload, about 19,800 sessions), and many enough that 100,000
	// sessions take 21 messages.
	dirPageBytes = 256 << 10
	// minNATSPayload is the smallest max_payload a node accepts from its
	// NATS server: a page with room to spare, and a relayed frame of
	// protocol.MaxFrameBytes, which base64 makes 342 KiB.
	minNATSPayload = 512 << 10
)

// snapshotIn is a snapshot of a peer's sessions arriving page by page.
type snapshotIn struct {
	pages int                 // how many the first page said
	got   int                 // how many arrived
	keep  map[string]struct{} // the sessions the pages so far listed
}

// snapshotLocked is this node's sessions and pending counts, in pages,
// the first of kind (hello, welcome) with Ack ack (0: none).
func (n *Node) snapshotLocked(kind string, ack uint64) []*message {
	ss := n.hub.sessionsInOrder()
	dir := make([]dirEntry, len(ss))
	for i, s := range ss {
		dir[i] = dirEntry{Sess: s.id, User: s.user, Live: s.live, Calls: s.callIDs(), Wait: s.waiting, Claim: s.claim, Attempt: s.claimAttempt}
	}
	limit := dirPageBytes
	if ack != 0 { // room for it in page 1 (every page, for simplicity)
		limit -= len(`,"ack":`) + len(strconv.FormatUint(ack, 10))
	}
	pages := pageSnapshot(kind, n.id, n.inc, n.invs.pending, dir, limit)
	pages[0].Ack = ack
	return pages
}

// tellSnapshotLocked sends node id this node's snapshot, first page kind,
// then the call ends it missed (tellEndsLocked), and returns page 1's
// number. Page 1 acks the highest
// number of id's that reached us (seenLocked), so that id knows whether
// we had its reset (staleLocked).
// Node.mu is held from the first page to the last, so no change of a
// session comes between them.
func (n *Node) tellSnapshotLocked(id, kind string) (first uint64) {
	var ack uint64
	if s, ok := n.cl.seen[id]; ok {
		ack = s.seq
	}
	for i, m := range n.snapshotLocked(kind, ack) {
		if seq := n.tell(id, m); i == 0 {
			first = seq
		}
	}
	n.tellEndsLocked(id)
	return first
}

// pageSnapshot splits pend and dir into as few pages as keep each page's
// JSON, as encode makes it for from and inc, within limit bytes: page 1
// of kind, the others dir. The sizes are counted exactly, so a page may
// reach limit itself. An entry too large for a page on its own (none is:
// ids and calls are short) gets a page of its own.
func pageSnapshot(kind, from, inc string, pend map[string]int, dir []dirEntry, limit int) []*message {
	users := slices.Sorted(maps.Keys(pend))
	sizes := make([]int, 0, len(users)+len(dir)) // pend entries, then dir entries
	for _, u := range users {
		sizes = append(sizes, jsonStringLen(u)+len(":")+len(strconv.Itoa(pend[u])))
	}
	for _, e := range dir {
		sizes = append(sizes, dirEntryLen(e))
	}
	pageKind := func(page int) string {
		if page == 1 {
			return kind
		}
		return kindDir
	}
	head := func(page, pages int) int {
		return jsonLen(&message{K: pageKind(page), From: from, Inc: inc, Page: page, Pages: pages})
	}
	counts := pageCounts(sizes, []pageList{{len(users), len(`,"pend":{}`)}, {len(dir), len(`,"dir":[]`)}}, head, limit)
	pages := make([]*message, len(counts))
	for i, c := range counts {
		m := &message{K: pageKind(i + 1), Page: i + 1, Pages: len(counts)}
		for ; c > 0 && len(users) > 0; c-- {
			if m.Pend == nil {
				m.Pend = make(map[string]int)
			}
			m.Pend[users[0]] = pend[users[0]]
			users = users[1:]
		}
		if c > 0 {
			m.Dir, dir = dir[:c:c], dir[c:]
		}
		pages[i] = m
	}
	return pages
}

// dirEntryLen is len(json.Marshal(e)), counted without marshaling: the
// sender counts every entry of its snapshot under Node.mu.
func dirEntryLen(e dirEntry) int {
	n := len(`{"s":,"u":}`) + jsonStringLen(e.Sess) + jsonStringLen(e.User)
	if e.Live {
		n += len(`,"l":true`)
	}
	if len(e.Calls) > 0 {
		n += len(`,"c":[]`) + len(e.Calls) - 1
		for _, c := range e.Calls {
			n += jsonStringLen(c)
		}
	}
	if e.Wait {
		n += len(`,"w":true`)
	}
	if e.Claim != "" {
		n += len(`,"m":`) + jsonStringLen(e.Claim)
	}
	if e.Attempt != 0 {
		n += len(`,"a":`) + len(strconv.FormatUint(e.Attempt, 10))
	}
	return n
}

// jsonStringLen is len(json.Marshal(s)), counted without marshaling, by
// encoding/json's escapes (jsonASCIILen; \ufffd for a byte that is not
// UTF-8; \u2028 and \u2029): TestJSONStringLen holds it to json.Marshal.
func jsonStringLen(s string) int {
	n := len(`""`)
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			n += int(jsonASCIILen[c])
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			n += len(`\ufffd`)
		} else {
			n += size
		}
		i += size
	}
	return n
}

// jsonASCIILen is the length encoding/json gives each ASCII byte in a
// string: \", \\, \b, \f, \n, \r and \t; \u00XX for the other control
// bytes and for <, > and &; the others as they are.
var jsonASCIILen = func() (t [utf8.RuneSelf]uint8) {
	for c := range t {
		switch {
		case c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t':
			t[c] = uint8(len(`\n`))
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			t[c] = uint8(len(`\u0000`))
		default:
			t[c] = 1
		}
	}
	return t
}()

func jsonLen(v any) int {
	data, err := json.Marshal(v)
	if err != nil {
		return 0 // unreachable: every field marshals
	}
	return len(data)
}

// snapshotStartLocked takes page 1 of a snapshot of p's sessions (a hello
// or welcome): it replaces what p's pages before said, if any.
func (n *Node) snapshotStartLocked(p *peer, m *message) {
	p.pending = m.Pend
	p.snap = &snapshotIn{pages: max(m.Pages, 1), keep: make(map[string]struct{})}
	n.snapshotApplyLocked(p, m)
}

// snapshotPageLocked takes a page after the first. One out of place (a
// page with no first, or one skipped) means pages were lost, as a gap.
func (n *Node) snapshotPageLocked(p *peer, m *message) {
	if p.snap == nil || m.Page != p.snap.got+1 || m.Pages != p.snap.pages {
		n.gapLocked(p, "a directory page out of place", m.Seq)
		return
	}
	for _, u := range slices.Sorted(maps.Keys(m.Pend)) {
		n.remotePendingLocked(p, u, m.Pend[u])
	}
	n.snapshotApplyLocked(p, m)
}

// snapshotApplyLocked applies a page's sessions; after the last page, the
// sessions of p that no page listed leave the directory.
func (n *Node) snapshotApplyLocked(p *peer, m *message) {
	in := p.snap
	in.got++
	for _, e := range m.Dir {
		in.keep[e.Sess] = struct{}{}
		n.sessionChangedLocked(p, e, false)
	}
	p.progress = time.Now() // a page may take longer than a heartbeat (owedLostLocked)
	if in.got < in.pages {
		return
	}
	for _, r := range sortedRemote(slices.Collect(maps.Values(p.sessions))) {
		if _, ok := in.keep[r.id]; !ok {
			n.sessionChangedLocked(p, dirEntry{Sess: r.id, User: r.user}, true)
		}
	}
	p.snap = nil
	n.peersChangedLocked()
	if in.pages > 1 {
		n.logLocked(n.log, slog.LevelInfo, "peer directory received", "peer", p.id, "pages", in.pages, "sessions", len(p.sessions))
	}
}
