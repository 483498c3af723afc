//go:build !js

package server

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// OverflowQueue queues one frame more than the outbound queue holds to the
// session with id sessionID, at once, as a client that does not read would
// let happen. It reports whether the session was found.
func OverflowQueue(n *Node, sessionID string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, s := range n.hub.sessions {
		if s.id != sessionID {
			continue
		}
		s.qmu.Lock()
		defer s.qmu.Unlock()
		for i := 0; i <= maxQueuedFrames; i++ {
			s.enqueueLocked(&protocol.Frame{Type: protocol.TypePresence, Status: map[string]string{"x": "ONLINE"}})
		}
		return true
	}
	return false
}

// SimulateSessions gives n one live session for each of users, without a
// connection, as if each had logged in before any peer joined: a cheap
// large directory. They leave quietly when the test ends, before n shuts
// down (no announcement, no log line each).
func SimulateSessions(tb testing.TB, n *Node, users []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	made := make([]*session, 0, len(users))
	for _, u := range users {
		s := newSession(n, u)
		s.live = true
		n.hub.add(s)
		made = append(made, s)
	}
	tb.Cleanup(func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		for _, s := range made {
			n.hub.remove(s)
		}
	})
}

// RemoteSessions is how many sessions of peer the directory of n holds.
func RemoteSessions(n *Node, peer string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if p := n.cl.peers[peer]; p != nil {
		return len(p.sessions)
	}
	return 0
}

// HoldDrainCloses makes the next Drain of n hold its closes of connections
// without a session until release is called.
func HoldDrainCloses(n *Node) (release func()) { return holdDrain(n, &n.drainCloses) }

// HoldDrainLooks makes the next Drain of n look for sessions that may move
// (at its start and at each tick) only once release is called: a session
// that becomes idle meanwhile moves only if something else moves it.
func HoldDrainLooks(n *Node) (release func()) { return holdDrain(n, &n.drainLooks) }

// DrainLooked is how many looks n's drain made for sessions that may move.
func DrainLooked(n *Node) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.drainLooked
}

// RemoteRinging is how many invitations of other nodes ring user's
// sessions on n.
func RemoteRinging(n *Node, user string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	k := 0
	for _, s := range n.hub.sessions {
		if s.user == user {
			k += len(s.remoteRinging)
		}
	}
	return k
}

// holdDrain sets the drain's hold c, under n's lock, to a channel that
// release closes.
func holdDrain(n *Node, c *chan struct{}) (release func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	hold := make(chan struct{})
	*c = hold
	return sync.OnceFunc(func() { close(hold) })
}

// SyncOfSize is Node.Sync with each sync message to peer made exactly size
// bytes, its pair's number in, for a cluster of two (size is more than
// SyncBytes(n, peer, 0)).
func SyncOfSize(ctx context.Context, n *Node, peer string, size int) error {
	return n.sync(ctx, strings.Repeat("x", size-SyncBytes(n, peer, 1)+1))
}

// NATSRedials is how many times n's NATS broker connected again after
// the NATS client closed its connection.
func NATSRedials(n *Node) uint64 { return n.broker.(*natsBroker).redials.Load() }

// SyncBytes is the size of the next sync message n would send peer, with
// pad bytes of padding and its pair's number.
func SyncBytes(n *Node, peer string, pad int) int {
	n.mu.Lock()
	n.cl.out.mu.Lock()
	next := n.cl.out.seq[peer] + 1
	n.cl.out.mu.Unlock()
	corr := n.cl.next + 1
	data := n.encode(&message{K: kindSync, Corr: corr, Reason: strings.Repeat("x", pad)})
	n.mu.Unlock()
	return len(data) + len(`{"q":`) + len(strconv.FormatUint(next, 10)) + len(",") - len("{")
}

// EndedCalls is how many ends of other nodes' calls n holds (call.end).
func EndedCalls(n *Node) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.cl.endedCalls)
}

// DeliverReset hands n a reset from node from, not numbered, as one that
// from sent to n while n was not its peer and that reached n late.
func DeliverReset(n, from *Node) {
	n.receive(from.encode(&message{K: kindReset}))
}

// DeliverNumberedReset hands n a reset from node from numbered seq, as one
// that from sent n for a gap and that reached n late.
func DeliverNumberedReset(n, from *Node, seq uint64) {
	n.receive(numbered(seq, from.encode(&message{K: kindReset})))
}

// SkipSeq spends from's next number to n, as a message from sent n and
// the network lost.
func SkipSeq(from, n *Node) {
	o := from.cl.out
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seq[n.id]++
}

// DeliverWelcome hands n, at once, the welcome (page 1) that from would
// send it now, numbered in from's stream to n: one that from sent in
// answer to a hello of n's and that reached n late. ack is its Ack, 0 for
// what from has seen of n's.
func DeliverWelcome(n, from *Node, ack uint64) {
	from.mu.Lock()
	if ack == 0 {
		ack = from.cl.seen[n.id].seq
	}
	page := from.snapshotLocked(kindWelcome, ack)[0]
	o := from.cl.out
	o.mu.Lock()
	o.seq[n.id]++
	data := numbered(o.seq[n.id], from.encode(page))
	o.mu.Unlock()
	from.mu.Unlock()
	n.receive(data)
}

// LastSent is the last number n gave its unicasts to node id.
func LastSent(n *Node, id string) uint64 {
	n.cl.out.mu.Lock()
	defer n.cl.out.mu.Unlock()
	return n.cl.out.seq[id]
}

// HoldClaims holds the claims of n's moved sessions from now on until
// release; unreleased, n ignores them, as a node of an earlier version does.
func HoldClaims(n *Node) (release func()) { return HoldClaimsFrom(n, "") }

// HoldClaimsFrom is HoldClaims for the claims that node peer sends n alone
// ("": every peer): one login's claim held back while another's, from
// elsewhere, goes on.
func HoldClaimsFrom(n *Node, peer string) (release func()) {
	n.mu.Lock()
	n.claimHoldFrom = peer
	n.mu.Unlock()
	return holdDrain(n, &n.claimHold)
}

// PassingOn reports whether a session of user on n has been claimed again
// and passes on, or waits to pass on, what it owes (handover.go).
func PassingOn(n *Node, user string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for s := range n.hub.users[user] {
		if s.passedTo != nil {
			return true
		}
	}
	return false
}

// Claims returns the moved session that session sess of n claims, if any
// (handover.go): "" once its claim was refused.
func Claims(n *Node, sess string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if s := n.hub.sessions[sess]; s != nil {
		return s.claim
	}
	return ""
}

// Moved reports whether a session of user on n has been told to move
// (drain.go).
func Moved(n *Node, user string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for s := range n.hub.users[user] {
		if s.moved.Load() {
			return true
		}
	}
	return false
}

// HoldMovedEnds holds the ends of n's moved sessions that another session
// of their user replaced, from now on until release: they stay in the
// directory, as with a slower PeerHeartbeat.
func HoldMovedEnds(n *Node) (release func()) { return holdDrain(n, &n.replacedHold) }

// KickHere ends user's sessions on n alone, as Kick does on every node,
// and returns how many ended.
func KickHere(n *Node, user string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.kickLocked(user)
}

// ClaimCalls is how many claims of moved sessions n sent that it still
// takes an answer to (handover.go).
func ClaimCalls(n *Node) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	calls := 0
	for _, c := range n.cl.calls {
		if c.forget != nil {
			calls++
		}
	}
	return calls
}

// HandedOver reports whether the moved session sess of n has answered a
// claim with what it held (handover.go).
func HandedOver(n *Node, sess string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.hub.sessions[sess]
	if s == nil {
		s = n.holds[sess]
	}
	return s != nil && s.handed
}

// Claiming reports whether a session of user on n waits for its claim of a
// moved session to be answered, its peer messages waiting (handover.go).
func Claiming(n *Node, user string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for s := range n.hub.users[user] {
		s.qmu.Lock()
		claiming := s.claiming
		s.qmu.Unlock()
		if claiming {
			return true
		}
	}
	return false
}
