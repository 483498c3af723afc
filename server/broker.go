package server

import (
	"context"
	"errors"
)

// Broker carries what crosses nodes: it is the transport of a cluster, and
// knows nothing of what it carries (cluster.go defines the messages). A
// single node uses memoryBroker, which has no other node to talk to; a
// cluster uses NATS (natsbroker.go).
type Broker interface {
	// Start begins handing deliver every message sent to node id and every
	// broadcast. Messages from one sender reach deliver in the order they
	// were sent; deliver may be called from several goroutines, but one at
	// a time per sender and kind (unicast, broadcast).
	Start(id string, deliver func(data []byte)) error
	// Send sends data to node id without waiting for the network.
	Send(id string, data []byte) error
	// Broadcast sends data to every node, this one included.
	Broadcast(data []byte) error
	// Close stops delivering; it returns once deliver is no longer running,
	// or with ctx's error.
	Close(ctx context.Context) error
}

// UnicastCounter is a Broker that counts the unicasts to its node: those
// received from the network, in the order of the connection, and those
// deliver returned from. A heartbeat and the unicasts sent before it
// arrive in that order but wait apart to be handled, so the lost-message
// check (owedLostLocked) asks it whether an owed number may still be
// queued here rather than lost.
type UnicastCounter interface {
	Unicasts() (received, handled uint64)
}

// PayloadLimiter is a Broker whose transport bounds a message's size:
// MaxPayload is the bound in force now (NATS's max_payload, which a
// reconnect to another server may change). A node sends nothing over it
// (docs/CLUSTER.md "Message size").
type PayloadLimiter interface {
	MaxPayload() int
}

// ErrNoNode is returned by Broker.Send when the node does not exist.
var ErrNoNode = errors.New("server: no such node")

// ErrTooLarge is returned by Broker.Send or Broadcast for a message over the
// transport's bound: one sent in the moment between a reconnect to a server
// with a smaller bound and the PayloadLimiter learning it.
var ErrTooLarge = errors.New("server: message over the broker's max_payload")

// memoryBroker is the broker of a node alone: there is nobody else to
// talk to, so it starts nothing and every message to another node fails.
type memoryBroker struct{}

var _ Broker = (*memoryBroker)(nil)

func (*memoryBroker) Start(string, func([]byte)) error { return nil }
func (*memoryBroker) Send(string, []byte) error        { return ErrNoNode }
func (*memoryBroker) Broadcast([]byte) error           { return nil }
func (*memoryBroker) Close(context.Context) error      { return nil }
