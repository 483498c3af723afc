//go:build !js

package server

// Emit queues e to the node's observer as a decision would, and returns
// the bound of the observer's queue.
func Emit(n *Node, e Event) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.emit(e)
	return maxQueuedEvents
}
