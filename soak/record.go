//go:build !js

package soak

import (
	"slices"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// Caller is the party name of the caller's session in a Record; callee
// devices are named by their session keys (user.device#login).
const Caller = "caller"

// Kind is what a party saw: one callback of the core client.
type Kind uint8

const (
	KindInvite   Kind = iota + 1 // callee device: RemoteInvitationReceived
	KindReceived                 // caller: LocalInvitationReceivedByPeer
	KindAccepted                 // caller: LocalInvitationAccepted; device: RemoteInvitationAccepted
	KindRefused                  // caller: LocalInvitationRefused; device: RemoteInvitationRefused
	KindCanceled                 // caller: LocalInvitationCanceled; device: RemoteInvitationCanceled
	KindFailure                  // caller: LocalInvitationFailure; device: RemoteInvitationFailure
)

var kindNames = []string{"?", "invite", "received", "accepted", "refused", "canceled", "failure"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "?"
}

// terminal reports whether k ends the invitation for the party that saw it.
func (k Kind) terminal() bool { return k >= KindAccepted }

// Event is one callback, in the order the party's client delivered it.
type Event struct {
	Seq    uint64 // recording order over the whole run
	Party  string // Caller or a device session key
	Kind   Kind
	Reason string // the failure reason, for KindFailure
	// Text is the payload the event carried: "content|channel" for an
	// invite, the content for a device's cancel, the response for the
	// caller's accepted and refused.
	Text string
}

func (e Event) String() string {
	if e.Kind == KindFailure {
		return e.Party + " failure " + e.Reason
	}
	return e.Party + " " + e.Kind.String()
}

// Op is an invitation operation a party called and how it returned.
type Op struct {
	Party string
	Name  string        // "accept", "refuse", "cancel"
	Code  protocol.Code // 0 when it succeeded
	State string        // the invitation's state on that party when the call returned
	Ended bool          // whether that state is terminal
	// Response is the answer text the device set before accepting or refusing.
	Response string
	// Began is the book's sequence number when the call was made: events
	// with a higher Seq were recorded after it.
	Began uint64
}

// Leave is how a party left during a flow, on purpose.
type Leave uint8

const (
	Stayed       Leave = iota
	LeftClose          // Client.Close: a close frame ends the session at once
	LeftDrop           // the TCP connection was cut and the client closed or logged out before resuming: the server ends the session after its grace period
	LeftLogout         // Client.Logout
	LeftResumed        // the TCP connection was cut and the client resumed its session: it must see everything as if it had stayed
	LeftNodeDied       // the node the session lived on was killed: its client's resume fails and it ends on its own
)

var leaveNames = []string{"stayed", "closed", "cut and never resumed", "logged out", "cut and resumed", "lost with its node"}

func (l Leave) String() string {
	if int(l) < len(leaveNames) {
		return leaveNames[l]
	}
	return "?"
}

// abrupt reports whether l ended the session without the server telling
// the client anything: the client then ends its open invitations itself.
func (l Leave) abrupt() bool { return l == LeftClose || l == LeftDrop || l == LeftNodeDied }

// gone reports whether the party's session ended during the flow.
func (l Leave) gone() bool {
	return l == LeftClose || l == LeftDrop || l == LeftLogout || l == LeftNodeDied
}

// Record is everything the harness knows about one invitation flow, as the
// checker needs it: who took part, who was expected to ring, who left, what
// each party saw and what each operation returned.
type Record struct {
	Flow     int    // flow number; with the seed it fixes the flow's choices
	Action   string // the action that drove it
	Node     string // the server node it ran on
	Inv      string // invitation id ("" if Send failed)
	CallerID string // caller session key
	Callee   string // callee user id
	Content  string // what the caller sent
	Channel  string
	// Expected are the callee sessions logged in when the invitation was
	// sent: those must ring.
	Expected []string
	// Late are the callee sessions that logged in after the send: those
	// that logged in while it was pending must ring too (late ringing,
	// PROTOCOL.md lifecycle 1), those that logged in after it ended must not.
	Late []LateLogin
	// Allowed are the decisions the action may end with.
	Allowed []DecisionKind
	// Left maps parties (Caller or device keys) that left on purpose.
	Left map[string]Leave
	// Died are the parties whose node was killed during the flow: unless
	// they had left already, the checker holds them to docs/CLUSTER.md
	// "When a node dies" (LeftNodeDied) and allows what it says the others
	// then see.
	Died []string
	// Drained are the callee devices whose node began to drain during the
	// flow: docs/CLUSTER.md "Drain and rolling restart" lets them miss an
	// invite that ended before they logged in on another node.
	Drained []string
	// Reset are the callee devices that a loss window put across its pair
	// of nodes from the caller during the flow: the checker allows them
	// what docs/CLUSTER.md "Lost messages" says a reset of the pair does.
	Reset    []string
	Events   []Event
	Ops      []Op
	Problems []string // what the driver saw go wrong (deadlines, send errors)
	// CallEnds are the CallEnded callbacks of the call that followed an
	// acceptance, apart from Events: the invitation has ended by then.
	CallEnds []CallEnd
	// CallEnded is set when the driver ended the flow's call, if any, and
	// waited for its ends: only then are CallEnds complete.
	CallEnded bool
	// Messages are the peer messages the flow sent to the callee (texts, in
	// order), and Got what each callee session received of them.
	Messages []string
	Got      map[string][]string
}

// LateLogin is a callee session that logged in after the send, with the
// book's sequence numbers when its login began and when it returned.
type LateLogin struct {
	Key         string
	Began, Done uint64
}

// CallEnd is one CallEnded callback: on the caller (Party Caller) or on
// the answering device.
type CallEnd struct {
	Party  string
	Reason string
	By     string
}

func (r *Record) left(party string) Leave { return r.Left[party] }

// late returns the late login of session key, if it is one.
func (r *Record) late(key string) (LateLogin, bool) {
	i := slices.IndexFunc(r.Late, func(l LateLogin) bool { return l.Key == key })
	if i < 0 {
		return LateLogin{}, false
	}
	return r.Late[i], true
}
