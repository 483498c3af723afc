package server

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
)

// How nodes talk (docs/CLUSTER.md): every node listens on its own subject
// and on one subject for all; these are the messages, JSON-encoded.
//
// Membership: a node broadcasts hello when it starts and heartbeats every
// PeerHeartbeat. A node answers a hello with welcome; both carry the
// sender's sessions (a snapshot of its part of the directory, in pages:
// snapshot.go), and from then on the two are peers: every change to a
// session is sent to every peer, in order on the peer's own subject. A
// peer silent for PeerTimeout is dead (peerGoneLocked). A heartbeat from a node that is not a peer
// (it was declared dead, or its hello was missed) gets reset: "forget me,
// then hello me again", so that both ends drop what they had of each other
// before they are peers again.
//
// Unicast messages from one node to another are handled in the order they
// were sent, which is what keeps every session's frames in the order the
// invitation's owner decided them.
//
// No silent loss: NATS core may lose a message (a link that breaks, a
// partition shorter than PeerTimeout), so every unicast (but a reset to a
// node that is no peer) carries the next number of its pair (sender,
// receiver), and each heartbeat the last number the sender gave each
// receiver. A receiver that sees a number skipped, or
// that still lacks a number a heartbeat owed it a whole PeerHeartbeat
// before, on its own clock, while the pair's unicasts made no progress for
// as long and once every unicast NATS had delivered by then was handled
// (unicastsQueued), has lost a message: it forgets the sender and resets it, as
// after a death (gapLocked). Both ends then end what they shared, with the
// reasons of a death, and exchange their sessions again.
const (
	kindHeartbeat = "heartbeat" // broadcast: I am alive
	kindHello     = "hello"     // broadcast or unicast: take me as a peer; dir: my sessions
	kindWelcome   = "welcome"   // unicast: I took you as a peer; dir: my sessions
	kindDir       = "dir"       // unicast: page (2 to pages) of my hello or welcome
	kindReset     = "reset"     // unicast: you are not my peer; forget me and hello me
	kindLeave     = "leave"     // unicast: I am shutting down
	kindSession   = "session"   // a session here changed: sess, user, live, gone
	kindSync      = "sync"      // answer synced once you handled what I sent before
	kindSynced    = "synced"    // answer to sync: corr
	kindDeliver   = "deliver"   // queue f to session sess (a peer message: also, handover.go)
	kindClaim     = "claim"     // session by claims sess, moved (or claimed by a session of yours), with its key: answer claimed once you synced your peers
	kindClaimed   = "claimed"   // answer to claim: corr, held (what sess held for by), code (how many it dropped); or by (ask it there)
	kindRequest   = "request"   // sess asks f (ack, accept, refuse) on an invitation you own; answer reply
	kindReply     = "reply"     // the reply f to request corr, after its events
	kindLeft      = "left"      // session sess no longer rings invitation inv (it left, or it was gone)
	kindCallEnd   = "call.end"  // the call inv (or the calls calls) ended: their sessions are not busy with them (callEndedLocked)
	kindAPI       = "api"       // the server API asks (reason: get, cancel, kick) about inv or user; answer api.reply
	kindAPIReply  = "api.reply" // answer to api: corr, data (JSON), f (an error), code (a count)
	kindPending   = "pending"   // the sender's pending invitations of user: code
	kindSettle    = "settle"    // after a reset: what became of the invitations in ask (settle.go)? page of pages; answer settled
	kindSettled   = "settled"   // answer to settle: ask, with the owner's last word to each session; page of pages

	// The relay of a client connected here to its session on another node
	// (relay.go). corr names the relay on both ends.
	kindRelayOpen  = "relay.open"  // here → session's node: a connection, its first frame in data
	kindRelayIn    = "relay.in"    // here → session's node: a frame from the client
	kindRelayEnd   = "relay.end"   // here → session's node: the client closed (code, reason) or dropped (code -1)
	kindRelayOut   = "relay.out"   // session's node → here: write data to the client
	kindRelayClose = "relay.close" // session's node → here: close with code and reason after what was written
	kindRelayDrop  = "relay.drop"  // session's node → here: drop the connection now
)

// message is everything nodes send each other; K says which fields are set.
type message struct {
	Seq    uint64          `json:"q,omitempty"` // unicast: the pair's number, set by tell
	K      string          `json:"k"`
	From   string          `json:"from"`
	Inc    string          `json:"inc"` // the sender's incarnation: a restarted node is a new peer
	Corr   uint64          `json:"corr,omitempty"`
	Sess   string          `json:"sess,omitempty"`
	User   string          `json:"user,omitempty"`
	Live   bool            `json:"live,omitempty"`
	Gone   bool            `json:"gone,omitempty"`
	Calls  []string        `json:"calls,omitempty"` // session: the calls it is in
	Wait   bool            `json:"wait,omitempty"`  // session: it has call waiting on
	Dir    []dirEntry      `json:"dir,omitempty"`
	Page   int             `json:"page,omitempty"`  // hello, welcome, dir: a page of a directory snapshot; settle, settled: of ask
	Pages  int             `json:"pages,omitempty"` // of so many
	Inv    string          `json:"inv,omitempty"`
	F      *protocol.Frame `json:"f,omitempty"`
	Data   []byte          `json:"data,omitempty"`
	Binary bool            `json:"binary,omitempty"`
	Code   int             `json:"code,omitempty"`
	Reason string          `json:"reason,omitempty"`
	// Seqs (heartbeat, hello) is the last Seq the sender gave each node.
	Seqs map[string]uint64 `json:"seqs,omitempty"`
	// Ack (unicast hello, welcome) is the highest Seq of the receiver's
	// that had reached the sender (seenLocked): a hello or welcome sent
	// before the sender had the receiver's reset is stale (staleLocked).
	Ack uint64 `json:"ack,omitempty"`
	// Pend (hello, welcome) is the sender's pending invitations per user.
	Pend map[string]int `json:"pend,omitempty"`
	// Ask (settle, settled) are sessions and invitations (settle.go).
	Ask []settleEntry `json:"ask,omitempty"`
	// The hand-over of a move (handover.go). Claim (session): the moved
	// session the session's login named. Key, By (claim): the moved
	// session's key and the claiming session. Attempt (session, claim):
	// the attempt number of the claiming session's login (0: none, as from
	// a node of an earlier version). Also (deliver): the claimers
	// of the session that the peer message went to too. Held (claimed):
	// the peer messages the moved session held, Code those it dropped,
	// Live set if the claim was granted (a node of an earlier version
	// never sets it); By, on a refusal, the session the moved one was
	// handed to, a stale login's, to ask instead. A claim may also go to
	// the node of a session that claims the same moved session already,
	// whose login's reply was lost: it answers with what that session
	// owes (handover.go). Tags (claimed), if any, are Held's also, in
	// turn: the other claimers each went to too.
	Claim   string            `json:"claim,omitempty"`
	Key     string            `json:"key,omitempty"`
	By      string            `json:"by,omitempty"`
	Attempt uint64            `json:"attempt,omitempty"`
	Also    []string          `json:"also,omitempty"`
	Held    []*protocol.Frame `json:"held,omitempty"`
	Tags    [][]string        `json:"tags,omitempty"`
}

// dirEntry is a session in a directory snapshot.
type dirEntry struct {
	Sess  string   `json:"s"`
	User  string   `json:"u"`
	Live  bool     `json:"l,omitempty"`
	Calls []string `json:"c,omitempty"`
	Wait  bool     `json:"w,omitempty"`
	Claim string   `json:"m,omitempty"` // the moved session its login named (handover.go)
	// Attempt is the attempt number of the login that made the claim
	// (protocol.MaxLoginAttempt at most; 0: none, as from a node or a
	// client of an earlier version).
	Attempt uint64 `json:"a,omitempty"`
}

// Lengths of the random parts of ids, in bytes, after the node id (4 bytes).
const (
	nodeIDBytes           = 4
	sessionRandomBytes    = 4
	invitationRandomBytes = 12
)

// ownerOf returns the node id an invitation or session id starts with.
func ownerOf(id string) string {
	if len(id) < 2*nodeIDBytes {
		return ""
	}
	return id[:2*nodeIDBytes]
}

// cluster is what a node knows of the others. Guarded by Node.mu.
type cluster struct {
	peers  map[string]*peer                       // live peers by node id
	users  map[string]map[*remoteSession]struct{} // remote sessions by user
	calls  map[uint64]*call                       // requests waiting for an answer
	relays map[uint64]*relay                      // clients here relayed to sessions elsewhere
	vconns map[relayKey]*vconn                    // clients elsewhere relayed to sessions here
	next   uint64                                 // correlation ids
	change chan struct{}                          // closed and replaced when peers change
	stop   chan struct{}                          // stops the heartbeat loop
	done   chan struct{}                          // closed when the heartbeat loop returns
	out    *outbox                                // its own lock
	// unsettled are, by owner node, the invitations that rang sessions
	// here when the owner reset us or we it (settle.go).
	unsettled map[string]*settling
	// asked is when this node last said hello to a node, or reset it (""
	// for its broadcast hello): its answer is on the way (answerDueLocked).
	asked map[string]time.Time
	// endedCalls are the calls of other nodes' sessions whose end the node
	// that decided it told (call.end), kept PeerTimeout; endedOrder, oldest
	// first.
	endedCalls map[string]time.Time
	endedOrder []endedCall
	// toldEnds are the call ends this node decided and told (call.end) in
	// the last PeerTimeout, oldest first: a node that meets it since
	// missed them, and gets them after its snapshot (tellEndsLocked).
	toldEnds []endedCall
	// seen is, by node, the highest Seq of the node's that reached this
	// one (handled, dropped, or said sent by its heartbeat while it was
	// no peer), sent back as a hello's or welcome's Ack; resets, the
	// numbered resets this node sent nodes that are no peers again yet;
	// hellos, the hellos it sent the peers it forgot for their reset.
	seen, resets, hellos map[string]seqMark
}

// seqMark is a Seq of a node's incarnation: a restarted node numbers anew.
type seqMark struct {
	inc string
	seq uint64
}

// endedCall is a call's end as another node told it (call.end).
type endedCall struct {
	id string
	at time.Time
}

// outbox numbers the unicasts to each node. Its lock is held from the
// number to the send, so that numbers go out in order: relays send
// without Node.mu.
type outbox struct {
	mu  sync.Mutex
	seq map[string]uint64 // the last number given to each node
}

// peer is another live node and its sessions.
type peer struct {
	id       string
	inc      string
	seen     time.Time
	sessions map[string]*remoteSession
	recv     uint64         // the last Seq handled from it
	owed     []owedSeq      // what its heartbeats said it sent, not yet handled here, older first
	progress time.Time      // when recv last moved
	pending  map[string]int // its pending invitations per caller user (the cross-node cap)
	reset    bool           // gone by a reset, not a death: its invitations here are settled when it is back
	// confirmed: it takes us for its peer (it welcomed us), so a hello
	// from it means it forgot us.
	confirmed bool
	snap      *snapshotIn // its sessions, while their pages arrive
	// settleAsk, settleWords: its settle, and its answer to ours, while
	// their pages arrive (settle.go).
	settleAsk, settleWords *settleIn
}

// owedSeq is the last Seq a peer's heartbeat said it sent, when the
// heartbeat was handled here, and how many unicasts this node had received
// by then (UnicastCounter): the owed one among them, unless it was lost.
type owedSeq struct {
	seq      uint64
	at       time.Time
	received uint64
}

// remoteSession is a session of another node, as the directory knows it.
type remoteSession struct {
	n       *Node
	node    string
	id      string
	user    string
	live    bool
	calls   []string // the calls it is in, as its node last said
	waiting bool     // call waiting on
	order   uint64   // when this node learned of it, for stable iteration
	claim   string   // the moved session its login named (handover.go)
	attempt uint64   // the attempt number of that login (handover.go)
}

func (r *remoteSession) sessionID() string { return r.id }

// enqueue sends f to the session through its node. Called with Node.mu
// held, so frames reach the node in the order they were decided.
func (r *remoteSession) enqueue(f *protocol.Frame) {
	r.n.toldLocked(r.id, f)
	r.n.tell(r.node, &message{K: kindDeliver, Sess: r.id, F: f})
}

// remoteRequest is a request forwarded by a session's node: the request's
// events go to the session as any other, and the reply goes back to the
// request's waiting read loop.
type remoteRequest struct {
	*remoteSession
	corr uint64
}

func (r remoteRequest) replyOK(rid uint64) {
	r.n.tell(r.node, &message{K: kindReply, Corr: r.corr, F: &protocol.Frame{Type: protocol.TypeOK, RID: rid}})
}

// acked answers the session's node, whose read loop waits: it queues no
// reply (call.ack).
func (r remoteRequest) acked(rid uint64) { r.replyOK(rid) }

// answered answers the session's node, whose read loop waits: the event
// delivered before it, with the rid, was the reply (replyLocked).
func (r remoteRequest) answered(rid uint64) { r.replyOK(rid) }

func (r remoteRequest) replyError(rid uint64, err *protocol.Error) {
	r.n.tell(r.node, &message{K: kindReply, Corr: r.corr, F: protocol.ErrorFrame(rid, err)})
}

// call is a request to other nodes waiting for its answer: a request
// forwarded to an invitation's owner (node, sess, rid), or a sync (waiting).
type call struct {
	node    string
	sess    *session
	rid     uint64
	req     *protocol.Frame // the forwarded request
	waiting map[string]struct{}
	done    chan struct{}
	lost    bool       // a sync: a peer it waited for left or reset us meanwhile
	reset   bool       // a peer it waited for reset us meanwhile: alive, its answer not known
	then    func()     // a sync: run under Node.mu once answered (afterPeersLocked)
	answers []*message // the answers to a server API call (backend.go)
	forget  func()     // a claim: drops it and stops its timers (handover.go)
}

func newCluster() cluster {
	return cluster{
		peers:  make(map[string]*peer),
		users:  make(map[string]map[*remoteSession]struct{}),
		calls:  make(map[uint64]*call),
		relays: make(map[uint64]*relay),
		vconns: make(map[relayKey]*vconn),
		change: make(chan struct{}),
		out:    &outbox{seq: make(map[string]uint64)},

		unsettled:  make(map[string]*settling),
		asked:      make(map[string]time.Time),
		endedCalls: make(map[string]time.Time),
		seen:       make(map[string]seqMark),
		resets:     make(map[string]seqMark),
		hellos:     make(map[string]seqMark),
	}
}

// startCluster starts the broker and, for a real one, says hello and
// starts the heartbeats.
func (n *Node) startCluster(alone bool) error {
	if err := n.broker.Start(n.id, n.receive); err != nil {
		return err
	}
	if alone {
		return nil
	}
	// A broadcast is not numbered: it carries page 1 only, and a receiver
	// that needs more resets this node, which then hellos it by unicast.
	n.mu.Lock()
	hello := n.snapshotLocked(kindHello, 0)[0]
	n.cl.asked[""] = time.Now()
	n.mu.Unlock()
	n.broadcastNumbered(hello)
	n.cl.stop, n.cl.done = make(chan struct{}), make(chan struct{})
	go n.heartbeats(n.cl.stop, n.cl.done)
	return nil
}

// stopCluster tells the peers this node leaves and closes the broker.
func (n *Node) stopCluster(ctx context.Context) error {
	n.mu.Lock()
	for _, p := range n.peersInOrder() {
		n.tell(p.id, &message{K: kindLeave})
	}
	stop, done := n.cl.stop, n.cl.done
	n.cl.stop = nil
	n.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	return n.broker.Close(ctx)
}

// heartbeats says this node is alive every PeerHeartbeat and declares dead
// the peers it has not heard from for PeerTimeout.
func (n *Node) heartbeats(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(n.cfg.PeerHeartbeat)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			n.broadcastNumbered(&message{K: kindHeartbeat})
			n.mu.Lock()
			n.sweepEndedCallsLocked(now)
			for _, p := range n.peersInOrder() {
				if now.Sub(p.seen) >= n.cfg.PeerTimeout {
					n.logLocked(n.log, slog.LevelWarn, "peer silent: declared dead", "peer", p.id, "silent", now.Sub(p.seen))
					n.peerGoneLocked(p, core.LocalFailurePeerOffline, core.RemoteFailurePeerOffline)
				}
			}
			n.mu.Unlock()
		}
	}
}

func (n *Node) encode(m *message) []byte {
	m.From, m.Inc = n.id, n.inc
	data, err := json.Marshal(m)
	if err != nil {
		// Unreachable: every field marshals.
		n.log.Error("cluster message not encoded", "kind", m.K, "err", err)
	}
	return data
}

func (n *Node) broadcast(m *message) {
	n.publish("", m.K, n.encode(m))
}

// publish hands data to the broker, for node to ("" for every node),
// unless it is over what the broker takes (PayloadLimiter): such a message
// is not sent, and is counted and logged, as one the broker refuses for
// its size (docs/CLUSTER.md "Message size"). A unicast's number is spent
// all the same, so that its receiver finds the gap and the pair resets, as
// for any lost message.
func (n *Node) publish(to, kind string, data []byte) {
	if l, ok := n.broker.(PayloadLimiter); ok {
		if max := l.MaxPayload(); max > 0 && len(data) > max {
			n.countTooLarge(to, kind, len(data), max)
			return
		}
	}
	var err error
	if to == "" {
		err = n.broker.Broadcast(data)
	} else {
		err = n.broker.Send(to, data)
	}
	if errors.Is(err, ErrTooLarge) {
		n.countTooLarge(to, kind, len(data), 0) // refused before the limit was known here (0: not known)
	} else if err != nil {
		n.log.Warn("cluster message not sent", "peer", to, "kind", kind, "err", err)
	}
}

// countTooLarge counts and logs a message lost for its size.
func (n *Node) countTooLarge(to, kind string, size, max int) {
	n.m.tooLarge.WithLabelValues(kind).Inc()
	n.log.Error("cluster message over the broker's max_payload: not sent, lost", "peer", to, "kind", kind,
		"bytes", size, "max_payload", max)
}

// broadcastNumbered broadcasts m with the last number given to each node,
// taken under the outbox lock so that no unicast overtakes it unseen.
func (n *Node) broadcastNumbered(m *message) {
	o := n.cl.out
	o.mu.Lock()
	defer o.mu.Unlock()
	m.Seqs = maps.Clone(o.seq)
	n.broadcast(m)
}

// tell sends m to node id with the pair's next number, and returns it.
// Called with Node.mu held by everything that must keep an order (frames,
// directory changes).
func (n *Node) tell(id string, m *message) uint64 {
	return n.send(id, m.K, n.encode(m))
}

// tellPeersLocked sends m to every peer, encoded once.
func (n *Node) tellPeersLocked(m *message) {
	if len(n.cl.peers) == 0 {
		return
	}
	data := n.encode(m)
	for _, p := range n.peersInOrder() {
		n.send(p.id, m.K, data)
	}
}

// send numbers data, an encoded message without Seq, for node id and sends
// it: the number, which it returns, is spliced in after the opening brace.
func (n *Node) send(id, kind string, data []byte) uint64 {
	o := n.cl.out
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seq[id]++
	seq := o.seq[id]
	n.publish(id, kind, numbered(seq, data))
	return seq
}

// numbered returns data, an encoded message without Seq, with Seq seq.
func numbered(seq uint64, data []byte) []byte {
	out := make([]byte, 0, len(data)+24)
	out = append(out, `{"q":`...)
	out = strconv.AppendUint(out, seq, 10)
	out = append(out, ',')
	return append(out, data[1:]...)
}

func (n *Node) peersInOrder() []*peer {
	ps := slices.Collect(maps.Values(n.cl.peers))
	slices.SortFunc(ps, func(a, b *peer) int { return cmp.Compare(a.id, b.id) })
	return ps
}

// announceLocked tells the peers that s changed: logged in, attached,
// detached, or gone.
func (n *Node) announceLocked(s *session) {
	if len(n.cl.peers) == 0 {
		return // alone: not even the message is made
	}
	n.tellPeersLocked(&message{K: kindSession, Sess: s.id, User: s.user, Live: s.live && !s.ended, Gone: s.ended,
		Calls: s.callIDs(), Wait: s.waiting, Claim: s.claim, Attempt: s.claimAttempt})
}

// receive handles one message from another node.
func (n *Node) receive(data []byte) {
	var m message
	if err := decodeMessage(data, &m); err != nil {
		n.log.Warn("cluster message not understood", "err", err)
		return
	}
	if m.From == n.id {
		return // our own broadcast
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.seenLocked(m.From, m.Inc, m.Seq)
	p := n.cl.peers[m.From]
	if p != nil && p.inc != m.Inc {
		// The node restarted with the same id: its old self is dead.
		n.logLocked(n.log, slog.LevelWarn, "peer restarted", "peer", p.id)
		n.peerGoneLocked(p, core.LocalFailurePeerOffline, core.RemoteFailurePeerOffline)
		p = nil
	}
	if p != nil && m.Seq != 0 && m.K != kindReset {
		switch {
		case m.Seq <= p.recv:
			// Overtaken by a later one, which was a gap: it was handled.
			n.logLocked(n.log, slog.LevelDebug, "cluster message out of order: dropped", "peer", p.id, "kind", m.K, "seq", m.Seq)
			return
		case m.Seq > p.recv+1:
			n.gapLocked(p, "a message skipped", m.Seq)
			return
		}
		p.recv, p.progress = m.Seq, time.Now()
	}
	if n.debug() && (m.K == kindHello || m.K == kindWelcome || m.K == kindReset) {
		n.logLocked(n.log, slog.LevelDebug, "cluster membership message", "peer", m.From, "kind", m.K, "seq", m.Seq,
			"ack", m.Ack, "pages", m.Pages, "peer_known", p != nil, "confirmed", p != nil && p.confirmed)
	}
	switch m.K {
	case kindHello, kindWelcome:
		if p != nil && m.Seq == 0 && m.Seqs[n.id] < p.recv {
			// A broadcast hello overtaken by what p sent after it: its
			// snapshot is older than what we know.
			n.tellSnapshotLocked(p.id, kindWelcome)
			return
		}
		if m.Seq == 0 && m.Pages > 1 {
			// A broadcast hello of several pages: the pages after it
			// cannot be counted. A reset draws a unicast hello.
			if p != nil {
				n.gapLocked(p, "a broadcast hello of several pages", 0)
			} else {
				n.tell(m.From, &message{K: kindReset})
			}
			return
		}
		if p != nil && m.K == kindHello && m.Seq != 0 && p.confirmed {
			// A peer that took us for its peer hellos us only once it has
			// forgotten us (a reset reached it late, after we met again):
			// it stopped ringing our sessions without a word. Forget it
			// too, so that what it owes here is settled.
			n.logLocked(n.log, slog.LevelWarn, "peer reset us", "peer", p.id, "by", "hello")
			p.reset = true
			n.peerGoneLocked(p, core.LocalFailurePeerOffline, core.RemoteFailurePeerOffline)
			p = nil
		}
		if p == nil && n.staleLocked(&m) {
			return
		}
		fresh := p == nil
		if fresh {
			// Its numbers go on from here: from this unicast, or from what
			// the broadcast says it last sent us.
			recv := m.Seq
			if recv == 0 {
				recv = m.Seqs[n.id]
			}
			p = &peer{id: m.From, inc: m.Inc, sessions: make(map[string]*remoteSession), recv: recv, progress: time.Now()}
			delete(n.cl.asked, p.id)
			delete(n.cl.resets, p.id)
			delete(n.cl.hellos, p.id)
			n.cl.peers[p.id] = p
			n.peersChangedLocked()
			n.logLocked(n.log, slog.LevelInfo, "peer joined", "peer", p.id, "sessions", len(m.Dir), "pages", m.Pages)
		}
		p.seen = time.Now()
		if m.K == kindWelcome {
			p.confirmed = true // it takes us for its peer
		}
		if m.K == kindHello || fresh {
			// A welcome that makes p a peer answers our hello, whose
			// snapshot may be older than what p was not told meanwhile
			// (a login here while p was no peer): welcome it back with
			// the directory as it is now; p, our peer, sends nothing back.
			// The welcome goes first: p drops what comes before the
			// message that makes us its peer, and applying its sessions
			// tells it things (the invites of late ringing, our pending
			// counts).
			n.tellSnapshotLocked(p.id, kindWelcome)
		}
		n.snapshotStartLocked(p, &m)
		n.settleAskLocked(p) // after the welcome, which makes us its peer
		return
	case kindReset:
		if p != nil && m.Seq != 0 && m.Seq <= p.recv {
			// Sent, for a gap, before the hello or welcome that made us
			// peers again (overtaken): already done.
			return
		}
		// What it sent us before (an unnumbered reset says how much) is
		// forgotten with it: our hello acks it, even past a numbered
		// reset of its that was lost (staleLocked).
		n.seenLocked(m.From, m.Inc, m.Seqs[n.id])
		if p != nil {
			n.logLocked(n.log, slog.LevelWarn, "peer reset us", "peer", p.id)
			p.reset = true
			n.peerGoneLocked(p, core.LocalFailurePeerOffline, core.RemoteFailurePeerOffline)
		}
		hello := n.tellSnapshotLocked(m.From, kindHello)
		if p != nil {
			// Forgotten here now: a welcome to an older hello of ours is
			// stale (staleLocked).
			n.cl.hellos[m.From] = seqMark{inc: m.Inc, seq: hello}
		}
		n.cl.asked[m.From] = time.Now()
		return
	}
	if p == nil {
		if m.K == kindHeartbeat {
			n.seenLocked(m.From, m.Inc, m.Seqs[n.id]) // what it sent us since we forgot it is forgotten
		}
		if m.K == kindHeartbeat && n.answerDueLocked(m.From) {
			return // it has not handled our hello or reset yet
		}
		if m.K == kindHeartbeat || m.K == kindSync {
			// A sync from a node that thinks we are peers would otherwise
			// wait forever. Not numbered: our numbers to a node we declared
			// dead start again, and a node that took us for its peer all
			// along would drop a low one as overtaken (above). It says how
			// far our numbers to it went (Seqs), all forgotten there with it.
			n.cl.out.mu.Lock()
			sent := n.cl.out.seq[m.From]
			n.cl.out.mu.Unlock()
			reset := &message{K: kindReset}
			if sent != 0 {
				reset.Seqs = map[string]uint64{m.From: sent}
			}
			if err := n.broker.Send(m.From, n.encode(reset)); err != nil {
				n.log.Warn("cluster message not sent", "peer", m.From, "kind", kindReset, "err", err)
			}
		}
		return // from a node that is not (or no longer) a peer: forgotten
	}
	p.seen = time.Now()
	if m.F == nil && (m.K == kindDeliver || m.K == kindRequest || m.K == kindReply) {
		// A peer's message is checked, if less than a client's: one
		// without the frame it carries is dropped, not dereferenced.
		n.logLocked(n.log, slog.LevelWarn, "cluster message without its frame: dropped", "peer", p.id, "kind", m.K)
		return
	}
	switch m.K {
	case kindHeartbeat:
		if why, seq := n.owedLostLocked(p, m.Seqs[n.id]); why != "" {
			n.gapLocked(p, why, seq)
			return
		}
	case kindPending:
		n.remotePendingLocked(p, m.User, m.Code)
	case kindSettle:
		n.settleAnswerLocked(p, &m)
	case kindSettled:
		n.settledLocked(p, &m)
	case kindLeave:
		n.logLocked(n.log, slog.LevelInfo, "peer left", "peer", p.id)
		n.peerGoneLocked(p, core.LocalFailurePeerOffline, core.RemoteFailurePeerOffline)
	case kindDir:
		n.snapshotPageLocked(p, &m)
	case kindSession:
		n.sessionChangedLocked(p, dirEntry{Sess: m.Sess, User: m.User, Live: m.Live, Calls: m.Calls, Wait: m.Wait, Claim: m.Claim, Attempt: m.Attempt}, m.Gone)
	case kindSync:
		n.tell(p.id, &message{K: kindSynced, Corr: m.Corr})
	case kindSynced:
		if c := n.cl.calls[m.Corr]; c != nil {
			n.answeredLocked(m.Corr, c, p.id)
		}
	case kindDeliver:
		if m.F != nil && m.F.Type == protocol.TypePeerMessage && n.heldLocked(m.Sess, m.F, m.Also) {
			break
		}
		n.deliverLocked(p, m.Sess, m.F)
	case kindClaim:
		if hold := n.claimHold; hold != nil && (n.claimHoldFrom == "" || n.claimHoldFrom == p.id) {
			go func() {
				<-hold
				n.mu.Lock()
				defer n.mu.Unlock()
				if p := n.cl.peers[m.From]; p != nil {
					n.claimAskedLocked(p, &m)
				}
			}()
			break
		}
		n.claimAskedLocked(p, &m)
	case kindClaimed:
		if c := n.cl.calls[m.Corr]; c != nil && c.sess == nil {
			if _, asked := c.waiting[p.id]; !asked {
				break // not p's to answer
			}
			if m.Tags != nil && len(m.Tags) != len(m.Held) {
				n.logLocked(n.log, slog.LevelWarn, "claim answer with tags not one per frame: taken without them", "peer", p.id)
				m.Tags = nil
			}
			if slices.Contains(m.Held, nil) {
				n.logLocked(n.log, slog.LevelWarn, "claim answer with a null frame: the others handed over", "peer", p.id)
				held, tags := m.Held, m.Tags
				m.Held, m.Tags = nil, nil
				for i, f := range held {
					if f != nil {
						m.Held = append(m.Held, f)
						if tags != nil {
							m.Tags = append(m.Tags, tags[i])
						}
					}
				}
			}
			c.answers = append(c.answers, &m)
			if m.Page >= m.Pages {
				n.answeredLocked(m.Corr, c, p.id)
			}
		}
	case kindRequest:
		n.requestLocked(p, &m)
	case kindReply:
		if c := n.cl.calls[m.Corr]; c != nil && c.sess != nil {
			delete(n.cl.calls, m.Corr)
			n.replyLocked(c, m.F)
		}
	case kindLeft:
		if inv := n.invs.byID[m.Inv]; inv != nil {
			n.stoppedRingingLocked(inv, m.Sess)
		}
		n.calleeLeftLocked(m.Inv, m.Sess, core.CallEndPeerOffline)
	case kindCallEnd:
		if m.Inv != "" {
			n.callEndToldLocked(m.Inv)
		}
		for _, id := range m.Calls { // the ends the peer decided before we met (tellEndsLocked)
			n.callEndToldLocked(id)
		}
	case kindAPI:
		n.apiRequestLocked(p, &m)
	case kindAPIReply:
		n.apiAnsweredLocked(p, &m)
	case kindRelayOpen, kindRelayIn, kindRelayEnd:
		n.relayInLocked(p, &m)
	case kindRelayOut, kindRelayClose, kindRelayDrop:
		n.relayOutLocked(&m)
	}
}

// owedLostLocked records that p's heartbeat says it sent us seq, and
// reports whether a number an earlier heartbeat owed is lost. A heartbeat
// travels apart from the unicasts (another subject, another goroutine
// here), so what it owes has a whole PeerHeartbeat of slack, counted from
// when the heartbeat was handled here, not sent: heartbeats that waited
// for Node.mu behind a long hold (a snapshot) are handled back to back,
// ahead of the unicasts that waited too. A number still owed while p's
// unicasts keep being handled is only late: a lost one would show as a
// number skipped; so is one while unicasts NATS delivered before the
// heartbeat still queue here (unicastsQueued). While the pages of p's snapshot arrive, each of which
// may take longer than a heartbeat to decode and apply, what is lost is a
// page: skipped, or the last ones, seen when none came for PeerTimeout.
// It returns why a message is lost, and its number, or "".
func (n *Node) owedLostLocked(p *peer, seq uint64) (string, uint64) {
	now := time.Now()
	for p.snap == nil && len(p.owed) > 0 && now.Sub(p.owed[0].at) >= n.cfg.PeerHeartbeat {
		if p.owed[0].seq <= p.recv {
			p.owed = p.owed[1:]
			continue
		}
		if now.Sub(p.progress) >= n.cfg.PeerHeartbeat && !n.unicastsQueued(p.owed[0].received) {
			return "a message owed a heartbeat ago", p.owed[0].seq
		}
		break
	}
	if p.snap != nil && now.Sub(p.progress) >= n.cfg.PeerTimeout {
		return "no page of its snapshot for PeerTimeout", seq
	}
	if seq > p.recv && (len(p.owed) == 0 || seq > p.owed[len(p.owed)-1].seq) {
		var received uint64
		if c, ok := n.broker.(UnicastCounter); ok {
			received, _ = c.Unicasts()
		}
		p.owed = append(p.owed, owedSeq{seq: seq, at: now, received: received})
	}
	return "", 0
}

// unicastsQueued reports whether some of the first received unicasts this
// node got (UnicastCounter) still wait to be handled: a busy node whose
// unicasts queue in the NATS client while its heartbeats are handled
// apart. A message owed by a heartbeat handled after those arrived is then
// late, not lost: NATS delivers what a node sends in the order it sent it.
func (n *Node) unicastsQueued(received uint64) bool {
	c, ok := n.broker.(UnicastCounter)
	if !ok {
		return false
	}
	now, handled := c.Unicasts()
	return handled < received && now > handled
}

// gapLocked handles a message lost from p (seq is the number that showed
// it): what p sent after it cannot be trusted to apply, so p is treated as
// dead and told to reset, and the two meet again as new peers, exchanging
// their sessions. The other end acts when the reset reaches it, or, if the
// reset is lost, at its next heartbeat here (answered with another reset).
func (n *Node) gapLocked(p *peer, why string, seq uint64) {
	n.logLocked(n.log, slog.LevelWarn, "cluster messages lost: peer reset", "peer", p.id, "why", why, "seq", seq, "handled", p.recv)
	n.m.clusterGaps.Inc()
	p.reset = true
	n.seenLocked(p.id, p.inc, seq) // a number owed, lost: accounted for
	n.peerGoneLocked(p, core.LocalFailurePeerOffline, core.RemoteFailurePeerOffline)
	n.cl.resets[p.id] = seqMark{inc: p.inc, seq: n.tell(p.id, &message{K: kindReset})}
	n.cl.asked[p.id] = time.Now()
}

// seenLocked records that seq of node id's incarnation inc reached us.
// A 1 starts its numbers again (it declared us dead): what came before
// counts no more, or its Acks would pass every reset of ours after.
func (n *Node) seenLocked(id, inc string, seq uint64) {
	if seq == 0 {
		return
	}
	if s := n.cl.seen[id]; s.inc != inc || s.seq < seq || seq == 1 {
		n.cl.seen[id] = seqMark{inc: inc, seq: seq}
	}
}

// staleLocked reports, and logs, whether m, a hello or welcome from a
// node that is not our peer, was sent before that node had the numbered
// reset we sent it last (gapLocked), or, a welcome, in answer to a hello
// of ours older than the one we sent when we forgot it for its reset: the
// node still held us for its peer, as of before we forgot it. Taking it
// for a peer then would apply, as a peer's, what it sends until our reset
// or hello reaches it, and then it forgets us (issue 16, the cluster
// soak's "client dropped a frame": a deliver it sent meanwhile was dropped
// here as a non-peer's, and the end that followed reached a session never
// rung; and its `order`: a session it rang meanwhile rang on here after
// it stopped ringing it, at our hello). That reset or hello draws the
// answer that counts. An Ack of 0 is a node's that has seen nothing of
// ours, or of an older version: taken.
func (n *Node) staleLocked(m *message) bool {
	stale := func(mark seqMark, ok bool) bool {
		return ok && mark.inc == m.Inc && m.Ack != 0 && m.Ack < mark.seq
	}
	r, reset := n.cl.resets[m.From]
	h, hello := n.cl.hellos[m.From]
	switch {
	case stale(r, reset):
		n.logLocked(n.log, slog.LevelDebug, "a hello sent before our reset reached it: dropped", "peer", m.From, "kind", m.K,
			"seq", m.Seq, "ack", m.Ack, "reset", r.seq)
	case m.K == kindWelcome && stale(h, hello):
		n.logLocked(n.log, slog.LevelDebug, "a welcome to an older hello: dropped", "peer", m.From,
			"seq", m.Seq, "ack", m.Ack, "hello", h.seq)
	default:
		return false
	}
	return true
}

// answerDueLocked reports whether node id may still be answering this
// node's hello or reset: for 2 × PeerHeartbeat after it, a heartbeat from
// id that sees no peer here crossed the answer, and a reset for it would
// cost both ends another exchange of their sessions (the answer to a hello
// waits for the sender to page its whole snapshot under its lock). A lost
// hello or reset is made up by the reset of the next heartbeat after that.
func (n *Node) answerDueLocked(id string) bool {
	asked, ok := n.cl.asked[id]
	if all := n.cl.asked[""]; all.After(asked) {
		asked, ok = all, true
	}
	if !ok {
		return false
	}
	if time.Since(asked) < 2*n.cfg.PeerHeartbeat {
		return true
	}
	delete(n.cl.asked, id)
	return false
}

// peersChangedLocked wakes AwaitPeers.
func (n *Node) peersChangedLocked() {
	close(n.cl.change)
	n.cl.change = make(chan struct{})
}

// sessionChangedLocked applies a change to a session of p, telling the
// subscribers of its user when the user's presence changes.
func (n *Node) sessionChangedLocked(p *peer, e dirEntry, gone bool) {
	r := p.sessions[e.Sess]
	if r == nil && gone {
		return
	}
	fresh := r == nil
	n.presenceLocked(e.User, func() {
		if gone {
			delete(p.sessions, r.id)
			set := n.cl.users[r.user]
			delete(set, r)
			if len(set) == 0 {
				delete(n.cl.users, r.user)
			}
			return
		}
		if r == nil {
			r = &remoteSession{n: n, node: p.id, id: e.Sess, user: e.User, order: n.nextSeqLocked()}
			p.sessions[r.id] = r
			set := n.cl.users[r.user]
			if set == nil {
				set = make(map[*remoteSession]struct{})
				n.cl.users[r.user] = set
			}
			set[r] = struct{}{}
		}
		r.live, r.calls, r.waiting, r.claim, r.attempt = e.Live, e.Calls, e.Wait, e.Claim, e.Attempt
	})
	if fresh && !gone {
		n.ringLateLocked(r, r.user)         // a session of a callee that logged in there rings too
		n.claimMovedLocked(r.user, r.claim) // a client this node moved may be that one
		if c := n.invs.pending[r.user]; c > 0 {
			n.tell(p.id, &message{K: kindPending, User: r.user, Code: c}) // the user may send there now
		}
	}
}

// The per-user cap across nodes: each node counts its own pending
// invitations per caller user and tells its count to the peers where the
// user has a session (where the user may send) or that count some of the
// user's themselves (the server API may place them anywhere); a send is
// refused when the sum over the nodes reaches MaxPendingPerUser. A count
// travels like a directory change, so two sends on two nodes less than one
// message apart may both pass (docs/CLUSTER.md bounds the excess).

// clusterPendingLocked returns user's pending invitations on every node,
// as this node knows them.
func (n *Node) clusterPendingLocked(user string) int {
	c := n.invs.pending[user]
	for _, p := range n.cl.peers {
		c += p.pending[user]
	}
	return c
}

// pendingChangedLocked tells the peers that need it this node's count of
// user's pending invitations.
func (n *Node) pendingChangedLocked(user string) {
	if len(n.cl.peers) == 0 {
		return
	}
	to := make(map[string]struct{})
	for r := range n.cl.users[user] {
		to[r.node] = struct{}{}
	}
	for id, p := range n.cl.peers {
		if p.pending[user] > 0 {
			to[id] = struct{}{}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(to)) {
		n.tell(id, &message{K: kindPending, User: user, Code: n.invs.pending[user]})
	}
}

// remotePendingLocked records p's count of user's pending invitations.
func (n *Node) remotePendingLocked(p *peer, user string, count int) {
	if count <= 0 {
		delete(p.pending, user)
		return
	}
	if p.pending == nil {
		p.pending = make(map[string]int)
	}
	p.pending[user] = count
}

// partiesOfLocked returns every session of user in the cluster: this
// node's in login order, then the other nodes' in the order they became
// known here.
func (n *Node) partiesOfLocked(user string) []party { return n.appendPartiesLocked(nil, user) }

// appendPartiesLocked is partiesOfLocked appending to ps: a caller's
// buffer on its stack spares the allocations of a send.
func (n *Node) appendPartiesLocked(ps []party, user string) []party {
	start := len(ps)
	for s := range n.hub.users[user] {
		ps = append(ps, s)
	}
	slices.SortFunc(ps[start:], func(a, b party) int { return cmp.Compare(a.(*session).order, b.(*session).order) })
	if len(n.cl.users[user]) == 0 {
		return ps
	}
	for _, r := range sortedRemote(slices.Collect(maps.Keys(n.cl.users[user]))) {
		ps = append(ps, r)
	}
	return ps
}

// sortedRemote returns remote sessions in the order they became known.
func sortedRemote(rs []*remoteSession) []*remoteSession {
	slices.SortFunc(rs, func(a, b *remoteSession) int { return cmp.Compare(a.order, b.order) })
	return rs
}

// deliverLocked queues f, decided by the owner of its invitation (p), to a
// session here, and keeps the session's record of what rings it. An invite
// to a session that is gone is answered with left, so that the owner stops
// ringing it.
func (n *Node) deliverLocked(p *peer, sid string, f *protocol.Frame) {
	s := n.hub.sessions[sid]
	if s == nil || s.ended {
		if f.Type == protocol.TypeInvite || f.Type == protocol.TypeRemoteAccepted {
			n.tell(p.id, &message{K: kindLeft, Sess: sid, Inv: f.Inv}) // stop ringing it; end its call
		}
		return
	}
	switch f.Type {
	case protocol.TypeInvite:
		held := n.holdBackLocked(s, f.Inv)
		put(&s.remoteRinging, f.Inv, n.nextSeqLocked())
		if until := time.Now().Add(protocol.Millis(f.Timeout)); until.After(s.remoteUntil) {
			s.remoteUntil = until
		}
		if held {
			return
		}
		s.ackCredits.Add(1)
	case protocol.TypeRemoteAccepted, protocol.TypeRemoteRefused, protocol.TypeRemoteCanceled, protocol.TypeRemoteFailure:
		if _, rung := s.remoteRinging[f.Inv]; !rung && f.Type != protocol.TypeRemoteAccepted && !n.ignoringLocked(s, f.Inv) {
			// The session was told its end already (a death, a reset, a
			// logout), or never had the invite (one this node dropped as
			// a non-peer's): its client knows nothing to end (issue 16,
			// the cluster soak's "client dropped a frame"). An accept's
			// remote.accepted is its reply: always delivered.
			if n.debug() {
				n.logLocked(n.log, slog.LevelDebug, "end of an invitation not ringing the session: dropped",
					"inv", f.Inv, "session", sid, "type", f.Type, "peer", p.id)
			}
			return
		}
		delete(s.remoteRinging, f.Inv)
		if f.Type == protocol.TypeRemoteAccepted {
			n.joinCallLocked(s, f.Inv) // the call the owner just recorded
		} else {
			// An answer that crosses this end while the owner is reset,
			// or after it died, gets ALREADY_END here, as the owner would
			// answer it (forward).
			tomb := n.remoteTombLocked(f.Inv)
			tomb.heard = append(tomb.heard, sid)
		}
	case protocol.TypeCallEnded:
		n.leaveCallLocked(s, f.Inv)
		n.remoteTombLocked(f.Inv).answerer = sid // answered here should the owner die (forward)
	}
	s.enqueue(f)
}

// ignoringLocked reports whether s's ignore of invitation inv waits for
// its owner's reply: it stopped ringing here at the ignore (conn.go), but an
// end the owner decided before the ignore still reaches the client, ahead
// of the reply (ALREADY_END).
func (n *Node) ignoringLocked(s *session, inv string) bool {
	for _, c := range n.cl.calls {
		if c.sess == s && c.req != nil && c.req.Type == protocol.TypeIgnore && c.req.Inv == inv {
			return true
		}
	}
	return false
}

// requestLocked carries out a request that a session of p made on an
// invitation this node owns, as if the session were here.
func (n *Node) requestLocked(p *peer, m *message) {
	r := p.sessions[m.Sess]
	if r == nil { // not announced yet: the request is still the session's
		r = &remoteSession{n: n, node: p.id, id: m.Sess}
	}
	req := remoteRequest{remoteSession: r, corr: m.Corr}
	switch m.F.Type {
	case protocol.TypeAck:
		n.ackLocked(req, m.F)
	case protocol.TypeAccept, protocol.TypeRefuse:
		n.answerLocked(req, m.F)
	case protocol.TypeHangup:
		n.hangupLocked(req, m.F)
	case protocol.TypeIgnore:
		n.ignoreLocked(req, m.F)
	default:
		req.replyError(m.F.RID, errNotYours)
	}
}

// forward sends s's request f on an invitation of another node to its
// owner and waits for the owner's reply, which comes after the request's
// events, through the same path. The read loop waits, so that replies stay
// in request order.
func (n *Node) forward(s *session, f *protocol.Frame) {
	n.mu.Lock()
	owner := ownerOf(f.Inv)
	n.invs.sweep(time.Now(), n.cfg.TombstoneTTL)
	tomb := n.invs.ended[f.Inv] // kept here once it ended for sessions here (remoteTombLocked)
	// An answer to an invitation still ringing until its owner, which
	// reset us and is not a peer again yet, settles it waits for the
	// settle, as one in flight at the reset does (settle.go).
	st := n.cl.unsettled[owner]
	held := n.cl.peers[owner] == nil && st != nil && (f.Type == protocol.TypeAccept || f.Type == protocol.TypeRefuse) &&
		slices.Contains(st.entries, settleEntry{Sess: s.id, Inv: f.Inv})
	died := tomb != nil && slices.Contains(tomb.rung, s.id)
	heard := tomb != nil && slices.Contains(tomb.heard, s.id) // its end came before the owner's reset or death
	// A hang-up of a call that ended here (told by the owner, or ended for
	// its reset or death) is answered here too.
	callEnded := f.Type == protocol.TypeHangup && tomb != nil && tomb.answerer == s.id
	// An answer from a session told of the end is answered here even if
	// the owner is a peer: it may have died since, its tombstone with it,
	// and be back under the same id knowing nothing of it. (A hangup is
	// about the call, which may go on: the owner decides.)
	if !held && (died || heard && f.Type != protocol.TypeHangup || callEnded || n.cl.peers[owner] == nil) {
		err := errNotYours
		if _, rung := s.remoteRinging[f.Inv]; rung || died || heard {
			err = errAlreadyEnd
		}
		if _, in := s.inCall[f.Inv]; in && f.Type == protocol.TypeHangup || callEnded {
			err = errCallEnded
		}
		s.replyError(f.RID, err)
		n.mu.Unlock()
		return
	}
	c := &call{node: owner, sess: s, rid: f.RID, req: f, done: make(chan struct{})}
	n.cl.next++
	corr := n.cl.next
	n.cl.calls[corr] = c
	if held {
		st.held = append(st.held, corr)
	} else {
		n.tell(owner, &message{K: kindRequest, Corr: corr, Sess: s.id, F: f})
	}
	s.forwarding++ // not moved by a drain until its reply is queued (idle, replyLocked)
	n.mu.Unlock()
	// A live owner answers at once; a dead one is declared so within
	// PeerTimeout and the request answered then. Past twice that, the
	// message was lost: say so rather than wait for ever.
	t := time.NewTimer(2 * n.cfg.PeerTimeout)
	defer t.Stop()
	select {
	case <-c.done:
	case <-n.ctx.Done():
	case <-t.C:
		n.mu.Lock()
		if n.heldForSettleLocked(corr) {
			// Held for a settle since (a reset after it was sent): the
			// settle answers it, after the owner's word, or its own
			// limit does (settle.go); UNKNOWN here came before the word.
			n.mu.Unlock()
			select {
			case <-c.done:
			case <-n.ctx.Done():
			}
			return
		}
		if n.cl.calls[corr] == c {
			delete(n.cl.calls, corr)
			n.logLocked(n.log, slog.LevelWarn, "no answer from the invitation's node", "inv", f.Inv, "peer", owner, "session", s.id)
			n.replyLocked(c, protocol.ErrorFrame(f.RID, errNoAnswer))
		}
		n.mu.Unlock()
	}
}

// replyLocked queues the owner's reply to a forwarded request. An ok to an
// ack, accept or hangup queues nothing: an ack carried out has no reply,
// and the remote.accepted or call.ended the owner delivered before, with
// the rid, was the others'.
func (n *Node) replyLocked(c *call, f *protocol.Frame) {
	if f.Type == protocol.TypeError {
		n.m.errors.WithLabelValues(f.Code.String()).Inc()
	}
	switch {
	case f.Type != protocol.TypeOK || c.req == nil:
		c.sess.enqueue(f)
	case c.req.Type == protocol.TypeAck:
		c.sess.acked(f.RID)
	case c.req.Type != protocol.TypeAccept && c.req.Type != protocol.TypeHangup:
		c.sess.enqueue(f)
	}
	c.sess.forwarding-- // its reply queued: a drain may move it now (one that ends the node first leaves it counted)
	close(c.done)
}

// answeredLocked records that node answered sync c.
func (n *Node) answeredLocked(corr uint64, c *call, node string) {
	delete(c.waiting, node)
	if len(c.waiting) == 0 && c.sess == nil {
		delete(n.cl.calls, corr)
		close(c.done)
		if c.then != nil {
			c.then()
		}
	}
}

// syncLocked asks every peer to answer once it has handled what this node
// sent it before, and returns the sync waiting for their answers, or nil
// without peers. pad goes in the messages (tests size them with it).
func (n *Node) syncLocked(pad string) (uint64, *call) {
	if len(n.cl.peers) == 0 {
		return 0, nil
	}
	c := &call{waiting: make(map[string]struct{}), done: make(chan struct{})}
	n.cl.next++
	corr := n.cl.next
	for id := range n.cl.peers {
		c.waiting[id] = struct{}{}
	}
	n.cl.calls[corr] = c
	n.tellPeersLocked(&message{K: kindSync, Corr: corr, Reason: pad})
	return corr, c
}

// afterPeersLocked runs f, under Node.mu, once every peer has handled what
// this node sent it before, or is gone: at once without peers.
func (n *Node) afterPeersLocked(f func()) {
	if _, c := n.syncLocked(""); c != nil {
		c.then = f
		return
	}
	f()
}

// Sync returns once every peer of this node has handled every message this
// node sent it before the call (directory changes, invitation frames), or
// ctx ends. A peer that left or reset this node meanwhile makes it return
// ErrSyncLost (its directory comes again with the next hello; call again).
// After a login's reply, Sync on the login's node makes every node know the
// session. A single node returns at once.
func (n *Node) Sync(ctx context.Context) error { return n.sync(ctx, "") }

// sync is Sync with pad in the sync messages.
func (n *Node) sync(ctx context.Context, pad string) error {
	n.mu.Lock()
	corr, c := n.syncLocked(pad)
	n.mu.Unlock()
	if c == nil {
		return nil
	}
	select {
	case <-c.done:
		if c.lost {
			return ErrSyncLost
		}
		return nil
	case <-ctx.Done():
		n.mu.Lock()
		delete(n.cl.calls, corr)
		n.mu.Unlock()
		return ctx.Err()
	}
}

// Peers returns the ids of the live nodes this node knows, sorted. A node
// is known once all of its sessions are: the last page of its snapshot
// arrived.
func (n *Node) Peers() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.knownPeersLocked()
}

func (n *Node) knownPeersLocked() []string {
	var ids []string
	for id, p := range n.cl.peers {
		if p.snap == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// AwaitPeers waits until this node knows at least k live peers (Peers), or
// ctx ends.
func (n *Node) AwaitPeers(ctx context.Context, k int) error {
	for {
		n.mu.Lock()
		have, change := len(n.knownPeersLocked()), n.cl.change
		n.mu.Unlock()
		if have >= k {
			return nil
		}
		select {
		case <-change:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// AwaitPeerSet waits until the live peers this node knows (Peers) are
// exactly ids (sorted), or ctx ends: after a partition or its heal.
func (n *Node) AwaitPeerSet(ctx context.Context, ids []string) error {
	for {
		n.mu.Lock()
		have, change := n.knownPeersLocked(), n.cl.change
		n.mu.Unlock()
		if slices.Equal(have, ids) {
			return nil
		}
		select {
		case <-change:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ID returns the node's id, which starts the ids of its sessions and
// invitations.
func (n *Node) ID() string { return n.id }

// peerGoneLocked forgets p, which died or left, and ends what this node
// shared with it (docs/CLUSTER.md, "When a node dies"):
//   - p's sessions leave the directory: their users' subscribers here get
//     presence events;
//   - invitations owned here stop ringing p's sessions; those that rang
//     nothing else fail with local (PEER_OFFLINE);
//   - invitations owned by p that ring sessions here end for them with
//     remote (PEER_OFFLINE);
//   - requests waiting for p get ALREADY_END (their invitation just ended);
//   - connections relayed to or from p are dropped (the clients resume).
func (n *Node) peerGoneLocked(p *peer, local core.LocalFailureReason, remote core.RemoteFailureReason) {
	delete(n.cl.peers, p.id)
	n.peersChangedLocked()
	if !p.reset {
		delete(n.cl.resets, p.id)
		delete(n.cl.hellos, p.id)
		// Dead: its numbers start again (heartbeats stop listing it); a
		// reset peer keeps them, for it may still count ours.
		n.cl.out.mu.Lock()
		delete(n.cl.out.seq, p.id)
		n.cl.out.mu.Unlock()
	}
	for _, r := range sortedRemote(slices.Collect(maps.Values(p.sessions))) {
		n.sessionChangedLocked(p, dirEntry{Sess: r.id, User: r.user}, true)
	}
	var pending []*invitation
	for _, inv := range n.invs.byID {
		if !inv.state.Ended() {
			pending = append(pending, inv)
		}
	}
	slices.SortFunc(pending, func(a, b *invitation) int { return cmp.Compare(a.seq, b.seq) })
	for _, inv := range pending {
		var theirs []string
		for _, r := range inv.ringing {
			if r, ok := r.(*remoteSession); ok && r.node == p.id {
				theirs = append(theirs, r.id)
			}
		}
		for _, sid := range theirs {
			if inv.state.Ended() {
				break
			}
			if len(inv.ringing) == 1 {
				n.toCallerLocked(inv, &protocol.Frame{Type: protocol.TypeLocalFailure, Inv: inv.id, Reason: local.String()})
				inv.stopRinging(sid)
				n.finishLocked(inv, core.LocalEvFailure, local.String())
				break
			}
			inv.stopRinging(sid)
		}
	}
	rf := remote.String()
	var ended []string
	rang := map[string][]string{}
	for _, s := range n.hub.sessionsInOrder() {
		for _, id := range s.remoteRingingInOrder() {
			if ownerOf(id) == p.id {
				if p.reset {
					n.unsettledLocked(p, s, id) // still ringing until settled
					continue
				}
				delete(s.remoteRinging, id)
				s.enqueue(&protocol.Frame{Type: protocol.TypeRemoteFailure, Inv: id, Reason: rf})
				if rang[id] == nil {
					ended = append(ended, id)
				}
				rang[id] = append(rang[id], s.id)
			}
		}
	}
	for _, id := range ended {
		n.remoteEndedLocked(id, rang[id]...)
	}
	n.peerCallsGoneLocked(p)
	for _, corr := range slices.Sorted(maps.Keys(n.cl.calls)) {
		c := n.cl.calls[corr]
		switch {
		case c == nil: // dropped by what an earlier one ran (a claim forgotten at its session's end)
		case c.sess != nil && c.node == p.id:
			if p.reset && n.holdLocked(p, corr, c) {
				continue // an answer: its reply comes with the settle
			}
			delete(n.cl.calls, corr)
			n.replyLocked(c, protocol.ErrorFrame(c.rid, errAlreadyEnd))
		case c.sess == nil:
			if _, ok := c.waiting[p.id]; ok {
				c.lost, c.reset = true, c.reset || p.reset
				n.answeredLocked(corr, c, p.id)
			}
		}
	}
	n.relaysGoneLocked(p.id)
}

// remoteEndedLocked records that invitation id of a dead node ended here
// for the sessions sids it rang. Its owner's tombstone died with it: this
// one makes forward answer their late answers ALREADY_END, not NOT_YOURS.
func (n *Node) remoteEndedLocked(id string, sids ...string) {
	tomb := n.remoteTombLocked(id)
	tomb.rung = append(tomb.rung, sids...)
}

// remoteTombLocked returns this node's tombstone of invitation id of
// another node, made if need be.
func (n *Node) remoteTombLocked(id string) *tombstone {
	tomb := n.invs.ended[id]
	if tomb == nil {
		tomb = &tombstone{id: id, ended: time.Now()}
		n.invs.ended[id] = tomb
		n.invs.tombs = append(n.invs.tombs, tomb)
		n.sweepLaterLocked()
	}
	return tomb
}

// remoteRingingInOrder returns the ids of the remote invitations ringing s
// in the order they rang.
func (s *session) remoteRingingInOrder() []string {
	ids := slices.Collect(maps.Keys(s.remoteRinging))
	slices.SortFunc(ids, func(a, b string) int { return cmp.Compare(s.remoteRinging[a], s.remoteRinging[b]) })
	return ids
}
