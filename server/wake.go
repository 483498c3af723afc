package server

import (
	"time"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
)

// Waker wakes the devices of a user who has no session, for an invitation
// (Web Push: package server/push). The server decides: it calls CanWake
// at send, Wake once if it waits, and Ended when the invitation ends
// having woken. Calls are made with the node's lock held: implementations
// must not block (queue the work) and must not call back into the Node.
type Waker interface {
	CanWake(user string) bool
	Wake(w Wake)
	Ended(w Wake)
}

// Wake is an invitation that wakes its callee's devices.
type Wake struct {
	Inv, Caller, Callee, Content, Channel string
	Expires                               time.Time // the invitation's own end
	// Reason, in Ended, is how it ended: one of the WakeEnd constants.
	Reason string
}

// How an invitation that woke its callee ended (Wake.Reason): what the
// close push tells the callee's devices.
const (
	WakeCanceled          = "CANCELED"           // the caller canceled
	WakeAnsweredElsewhere = "ANSWERED_ELSEWHERE" // a session of the callee accepted or refused
	WakeRefused           = "REFUSED"            // refused through a push's capability (RefuseInvitation)
	WakeExpired           = "EXPIRED"            // nobody answered in time, or no device came
	WakeEnded             = "ENDED"              // the caller left, or the server shut down
)

// wakeWindowLocked is how long a send f to an offline callee waits: 0
// when nothing can wake the callee or the caller asked for none.
func (n *Node) wakeWindowLocked(f *protocol.Frame, timeout time.Duration) time.Duration {
	if n.cfg.Waker == nil || f.Wake == protocol.NoWake || !n.cfg.Waker.CanWake(f.Callee) {
		return 0
	}
	w := n.cfg.WakeWindow
	if f.Wake > 0 {
		w = min(w, protocol.Millis(f.Wake))
	}
	return min(w, timeout)
}

// wakeExpired fails an invitation that woke its callee when no device
// logged in and rang within the window.
func (n *Node) wakeExpired(inv *invitation) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if inv.state.Ended() || len(inv.rung) > 0 {
		return
	}
	n.failLocked(inv, core.LocalFailurePeerOffline, core.RemoteFailurePeerOffline)
}

func (inv *invitation) wakeInfo() Wake {
	return Wake{Inv: inv.id, Caller: inv.callerUser, Callee: inv.callee, Content: inv.content, Channel: inv.channel,
		Expires: inv.created.Add(inv.timeout)}
}

// wakeReason is Wake.Reason for an invitation ending with ev and outcome.
func (inv *invitation) wakeReason(ev core.LocalEvent, outcome string) string {
	switch {
	case ev == core.LocalEvCanceled:
		return WakeCanceled
	case inv.pushRefused:
		return WakeRefused
	case ev == core.LocalEvAccepted || ev == core.LocalEvRefused:
		return WakeAnsweredElsewhere
	case outcome == core.LocalFailureInvitationExpire.String(), outcome == core.LocalFailurePeerNoResponse.String(),
		outcome == core.LocalFailurePeerOffline.String():
		return WakeExpired
	}
	return WakeEnded
}
