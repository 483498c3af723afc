//go:build !js

package server

import (
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
func HoldDrainCloses(n *Node) (release func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	hold := make(chan struct{})
	n.drainCloses = hold
	return sync.OnceFunc(func() { close(hold) })
}
