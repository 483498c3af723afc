//go:build !js

package server

import "github.com/rtmcall/rtmcall/core/protocol"

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
