package server

import (
	"sync"
	"time"

	"github.com/rtmcall/rtmcall/core"
)

// Event types, as webhooks name them (docs/BACKEND.md).
const (
	EventInvitationSent  = "invitation.sent"
	EventInvitationEnded = "invitation.ended"
	EventSessionStarted  = "session.started"
	EventSessionEnded    = "session.ended"
	EventCallEnded       = "call.ended"
)

// Outcomes of an ended invitation (InvitationInfo.Outcome).
const (
	OutcomeAccepted   = "accepted"
	OutcomeRefused    = "refused"
	OutcomeCanceled   = "canceled"
	OutcomeExpired    = "expired"     // INVITATION_EXPIRE: nobody answered within the timeout
	OutcomeNoResponse = "no_response" // PEER_NO_RESPONSE: no device acknowledged within the receipt timeout
	OutcomeOffline    = "offline"     // PEER_OFFLINE: no session to ring, or every one left
	OutcomeBusy       = "busy"        // PEER_BUSY: the callee is in a call and none of its sessions has call waiting
	OutcomeCallerLeft = "caller_left" // the caller's session logged out or ended
	OutcomeUnknown    = "unknown"     // UNKNOWN: the server shut down
)

// Observer receives the node's decisions as events, for webhooks. Observe
// is called after the decision, in the order of the decisions, from one
// goroutine and outside the node's lock; it must not block (queue and
// return). A node alone or in a cluster sends each event once: an
// invitation's events come from its owner node, a session's from its node.
type Observer interface {
	Observe(Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(Event)

// Observe calls f(e).
func (f ObserverFunc) Observe(e Event) { f(e) }

// Event is one decision: Invitation is set for invitation.*, Session for
// session.*, Call for call.ended.
type Event struct {
	Type       string
	Time       time.Time
	Node       string // the node that decided
	Invitation *InvitationInfo
	Session    *SessionInfo
	Call       *CallInfo
}

// Data is the event's payload: its invitation, session or call.
func (e Event) Data() any {
	switch {
	case e.Invitation != nil:
		return e.Invitation
	case e.Call != nil:
		return e.Call
	}
	return e.Session
}

// CallInfo is the call that followed an accepted invitation, as
// call.ended shows it.
type CallInfo struct {
	ID         string `json:"id"` // the invitation's
	Caller     string `json:"caller"`
	Callee     string `json:"callee"`
	CalleeSess string `json:"callee_session"` // the session that accepted
	// Reason is the wire protocol's CallEndReason: HANGUP (By hung up),
	// PEER_OFFLINE (a party's session ended), SERVER_SHUTDOWN, UNKNOWN.
	Reason     string    `json:"reason"`
	By         string    `json:"by,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	EndedAt    time.Time `json:"ended_at"`
	DurationMS int64     `json:"duration_ms"`
}

// InvitationInfo is an invitation as webhooks and the server API show it.
type InvitationInfo struct {
	ID      string `json:"id"`
	Caller  string `json:"caller"`
	Service bool   `json:"service,omitempty"` // placed by the server API as a named service caller
	API     bool   `json:"api,omitempty"`     // placed by the server API
	Callee  string `json:"callee"`
	Channel string `json:"channel,omitempty"`
	// Content is set while the invitation is pending.
	Content   string `json:"content,omitempty"`
	TimeoutMS int64  `json:"timeout_ms"`
	// State is the caller's state, as core.LocalInvitationState names it.
	State string `json:"state"`
	// Outcome, Reason and the times after SentAt are set once it ended.
	Outcome string `json:"outcome,omitempty"`
	// Reason is the caller's failure reason (PEER_OFFLINE, ...) when State is FAILURE.
	Reason string `json:"reason,omitempty"`
	// AnsweredBy is the session that accepted or refused.
	AnsweredBy string    `json:"answered_by,omitempty"`
	Rung       int       `json:"rung"` // how many sessions it rang
	SentAt     time.Time `json:"sent_at"`
	// ReceivedMS is when the first device acknowledged it, after SentAt.
	ReceivedMS *int64 `json:"received_ms,omitempty"`
	// AnsweredMS is when it was accepted or refused, after SentAt.
	AnsweredMS *int64 `json:"answered_ms,omitempty"`
	// RangMS is how long it rang: from SentAt to its end, when it rang any session.
	RangMS  *int64     `json:"rang_ms,omitempty"`
	EndedAt *time.Time `json:"ended_at,omitempty"`
}

// SessionInfo is a session as webhooks show it.
type SessionInfo struct {
	ID   string `json:"id"`
	User string `json:"user"`
	// Why is set on session.ended: logout, closed, grace, token_expired,
	// banned, kicked, too_slow, shutdown, resume_lost.
	Why string `json:"why,omitempty"`
}

// maxQueuedEvents bounds the events waiting for the observer; past it they
// are dropped and counted (the observer does not block, so only a stalled
// observer fills it).
const maxQueuedEvents = 1 << 16

// eventQueue hands events from under the node's lock to the observer. Its
// dispatcher goroutine runs only while there are events, counted in the
// node's WaitGroup, so Shutdown returns after the last event was observed.
type eventQueue struct {
	mu      sync.Mutex
	q       []Event
	running bool
}

// emit queues e for the observer. It is called with Node.mu held, right
// after the decision, so events keep the order of decisions.
func (n *Node) emit(e Event) {
	if n.cfg.Observer == nil {
		return
	}
	e.Time, e.Node = time.Now().UTC(), n.id
	ev := &n.events
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if len(ev.q) >= maxQueuedEvents {
		n.m.eventsDropped.Inc()
		return
	}
	ev.q = append(ev.q, e)
	if !ev.running {
		ev.running = true
		n.wg.Go(n.dispatchEvents)
	}
}

func (n *Node) dispatchEvents() {
	ev := &n.events
	for {
		ev.mu.Lock()
		batch := ev.q
		ev.q = nil
		if len(batch) == 0 {
			ev.running = false
			ev.mu.Unlock()
			return
		}
		ev.mu.Unlock()
		for _, e := range batch {
			n.cfg.Observer.Observe(e)
		}
	}
}

// emitSentLocked emits invitation.sent for inv, describing it only when
// someone observes.
func (n *Node) emitSentLocked(inv *invitation) {
	if n.cfg.Observer != nil {
		n.emit(Event{Type: EventInvitationSent, Invitation: n.infoLocked(inv)})
	}
}

// outcomeOf names how an invitation in state ended, with reason the
// caller's failure reason.
func outcomeOf(state core.LocalInvitationState, reason string) string {
	switch state {
	case core.LocalAcceptedByRemote:
		return OutcomeAccepted
	case core.LocalRefusedByRemote:
		return OutcomeRefused
	case core.LocalCanceled:
		return OutcomeCanceled
	}
	switch reason {
	case core.LocalFailureInvitationExpire.String():
		return OutcomeExpired
	case core.LocalFailurePeerNoResponse.String():
		return OutcomeNoResponse
	case core.LocalFailurePeerOffline.String():
		return OutcomeOffline
	case core.LocalFailurePeerBusy.String():
		return OutcomeBusy
	case callerLeft:
		return OutcomeCallerLeft
	}
	return OutcomeUnknown
}

// callerLeft is the outcome finishLocked records when the caller's session left.
const callerLeft = "CALLER_LEFT"

// infoBlock holds an InvitationInfo and what its pointers point at, so
// that describing an invitation costs one allocation.
type infoBlock struct {
	info                     InvitationInfo
	received, answered, rang int64
	ended                    time.Time
}

// infoLocked describes inv as it is now. Node.mu is held.
func (n *Node) infoLocked(inv *invitation) *InvitationInfo { return &describe(inv).info }

func describe(inv *invitation) *infoBlock {
	b := &infoBlock{}
	b.info = InvitationInfo{ID: inv.id, Caller: inv.callerUser, Service: inv.service, API: inv.api, Callee: inv.callee,
		Channel: inv.channel, Content: inv.content, TimeoutMS: inv.timeout.Milliseconds(), State: inv.state.String(),
		AnsweredBy: inv.answeredBy, Rung: len(inv.rung), SentAt: inv.created.UTC()}
	if !inv.received.IsZero() {
		b.received = inv.received.Sub(inv.created).Milliseconds()
		b.info.ReceivedMS = &b.received
	}
	if !inv.answered.IsZero() {
		b.answered = inv.answered.Sub(inv.created).Milliseconds()
		b.info.AnsweredMS = &b.answered
	}
	return b
}

// endedInfoLocked describes inv, which just ended at t with reason.
func (n *Node) endedInfoLocked(inv *invitation, reason string, t time.Time) *InvitationInfo {
	b := describe(inv)
	i := &b.info
	i.Content = ""
	i.Outcome = outcomeOf(inv.state, reason)
	if inv.state == core.LocalFailure && reason != callerLeft {
		i.Reason = reason
	}
	if len(inv.rung) > 0 {
		b.rang = t.Sub(inv.created).Milliseconds()
		i.RangMS = &b.rang
	}
	b.ended = t.UTC()
	i.EndedAt = &b.ended
	return i
}
