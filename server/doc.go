// Package server is rtmcall's signaling server: it speaks the wire protocol
// of docs/PROTOCOL.md over WebSockets and is the authority on every call
// invitation.
//
// It is layered like centrifugal/centrifuge, with plain names:
//
//   - [Node] (node.go) holds the configuration, serves HTTP (/ws and /healthz)
//     and shuts everything down.
//   - The hub (hub.go) knows who is connected: the logged-in sessions of each
//     user, presence, and presence subscriptions.
//   - A session (session.go) is one WebSocket connection: one read loop that
//     decodes, rate-limits and dispatches frames, and one writer goroutine
//     draining a bounded outbound queue.
//   - A session's life (lifecycle.go): login, resume, logout and the grace
//     period; conn.go, listener.go and netconn*.go carry its WebSocket.
//   - Invitations (invitation.go) decide every outcome; group.go is a send
//     to several callees, call.go the call after an accept. The node's
//     single mutex guards the hub and the invitations; every frame an
//     outcome produces is queued to its sessions while that mutex is held,
//     so all sessions see outcomes in the same order, and a request's events
//     are queued before its reply.
//   - The broker (broker.go) carries what crosses nodes: nothing for a node
//     alone (memoryBroker), NATS for a cluster (natsbroker.go). cluster.go
//     defines the messages: membership (hello, welcome, reset, per-pair
//     numbers), the directory of every session, invitation frames routed
//     through the node of each session, requests forwarded to the
//     invitation's owner, and node death; clustercodec.go decodes the hot
//     ones fast. The directory travels in pages (snapshot.go); a pair reset
//     for a lost message settles what it shared (settle.go); relay.go relays
//     a client that resumes through another node; drain.go moves a draining
//     node's clients, and handover.go hands a moved device's peer messages
//     to its next session. docs/CLUSTER.md explains each.
//
// Authentication (auth.go) verifies HS256 JWTs; [IssueToken] makes them.
// A user with no session is woken through a [Waker] (wake.go; Web Push,
// package server/push, whose subscriptions a [PushRegistry] keeps).
// Backends (docs/BACKEND.md): events.go hands every decision to
// Config.Observer (webhooks, package server/webhook) outside the lock;
// backend.go carries out the server API's calls (package server/api).
// Package rtmcalltest starts a Node on a loopback listener for tests.
package server
