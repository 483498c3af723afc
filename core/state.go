package core

// The enums below carry the exact wire and JavaScript strings of REFERENCE.md.
// Each zero value is the idle or unknown member.

// LocalInvitationState is the state of the caller's invitation.
type LocalInvitationState uint8

const (
	LocalIdle LocalInvitationState = iota
	LocalSentToRemote
	LocalReceivedByRemote
	LocalAcceptedByRemote
	LocalRefusedByRemote
	LocalCanceled
	LocalFailure
)

var localStateNames = []string{"IDLE", "SENT_TO_REMOTE", "RECEIVED_BY_REMOTE", "ACCEPTED_BY_REMOTE",
	"REFUSED_BY_REMOTE", "CANCELED", "FAILURE"}

func (s LocalInvitationState) String() string { return enumName(s, localStateNames) }

// Ended reports whether s is terminal.
func (s LocalInvitationState) Ended() bool { return s >= LocalAcceptedByRemote }

// RemoteInvitationState is the state of the invitation on one callee device.
type RemoteInvitationState uint8

const (
	RemoteInvitationReceived RemoteInvitationState = iota
	RemoteAcceptSentToLocal
	RemoteRefused
	RemoteAccepted
	RemoteCanceled
	RemoteFailure
)

var remoteStateNames = []string{"INVITATION_RECEIVED", "ACCEPT_SENT_TO_LOCAL", "REFUSED", "ACCEPTED",
	"CANCELED", "FAILURE"}

func (s RemoteInvitationState) String() string { return enumName(s, remoteStateNames) }

// Ended reports whether s is terminal.
func (s RemoteInvitationState) Ended() bool { return s >= RemoteRefused }

// LocalFailureReason says why a caller's invitation failed.
type LocalFailureReason uint8

const (
	LocalFailureUnknown LocalFailureReason = iota
	LocalFailurePeerNoResponse
	LocalFailureInvitationExpire
	LocalFailurePeerOffline
	LocalFailureNotLoggedIn
	// LocalFailurePeerBusy is rtmcall's: a session of the callee is in a
	// call and none of its sessions has call waiting on; no device rang.
	LocalFailurePeerBusy
)

var localReasonNames = []string{"UNKNOWN", "PEER_NO_RESPONSE", "INVITATION_EXPIRE", "PEER_OFFLINE", "NOT_LOGGEDIN",
	"PEER_BUSY"}

func (r LocalFailureReason) String() string { return enumName(r, localReasonNames) }

// ParseLocalFailureReason maps a wire string to a reason; unknown strings give UNKNOWN.
func ParseLocalFailureReason(s string) LocalFailureReason {
	return parseEnum[LocalFailureReason](s, localReasonNames)
}

// RemoteFailureReason says why an invitation failed on a callee device.
// ANSWERED_ELSEWHERE is rtmcall's: another device of the callee answered;
// ANSWERED_BY_OTHER too: another callee of a hunt group took it.
type RemoteFailureReason uint8

const (
	RemoteFailureUnknown RemoteFailureReason = iota
	RemoteFailurePeerOffline
	RemoteFailureAcceptFailure
	RemoteFailureInvitationExpire
	RemoteFailureAnsweredElsewhere
	RemoteFailureAnsweredByOther
)

var remoteReasonNames = []string{"UNKNOWN", "PEER_OFFLINE", "ACCEPT_FAILURE", "INVITATION_EXPIRE", "ANSWERED_ELSEWHERE",
	"ANSWERED_BY_OTHER"}

func (r RemoteFailureReason) String() string { return enumName(r, remoteReasonNames) }

// ParseRemoteFailureReason maps a wire string to a reason; unknown strings give UNKNOWN.
func ParseRemoteFailureReason(s string) RemoteFailureReason {
	return parseEnum[RemoteFailureReason](s, remoteReasonNames)
}

// CallState is the state of the call that follows an accepted invitation,
// on either side. It is rtmcall's addition to the invitation states, which
// stay as they are: an invitation ACCEPTED (or ACCEPTED_BY_REMOTE) is IN_CALL
// until hang-up, then ENDED.
type CallState uint8

const (
	CallIdle CallState = iota // no call: the invitation was not accepted
	CallInCall
	CallEnded
)

var callStateNames = []string{"IDLE", "IN_CALL", "ENDED"}

func (s CallState) String() string { return enumName(s, callStateNames) }

// CallEndReason says why a call ended.
type CallEndReason uint8

const (
	// CallEndUnknown: this side ended it (logout, token expiry, the client
	// closed or gave up its session).
	CallEndUnknown CallEndReason = iota
	// CallEndHangup: one party hung up (CallEndedBy says who).
	CallEndHangup
	// CallEndPeerOffline: the other party's session ended.
	CallEndPeerOffline
	// CallEndServerShutdown: the server shut down.
	CallEndServerShutdown
)

var callReasonNames = []string{"UNKNOWN", "HANGUP", "PEER_OFFLINE", "SERVER_SHUTDOWN"}

func (r CallEndReason) String() string { return enumName(r, callReasonNames) }

// ParseCallEndReason maps a wire string to a reason; unknown strings give UNKNOWN.
func ParseCallEndReason(s string) CallEndReason { return parseEnum[CallEndReason](s, callReasonNames) }

// ConnectionState is the client's connection to the server.
type ConnectionState uint8

const (
	ConnectionDisconnected ConnectionState = iota
	ConnectionConnecting
	ConnectionConnected
	ConnectionReconnecting
	ConnectionAborted
)

var connStateNames = []string{"DISCONNECTED", "CONNECTING", "CONNECTED", "RECONNECTING", "ABORTED"}

func (s ConnectionState) String() string { return enumName(s, connStateNames) }

// ConnectionChangeReason says why the connection state changed.
type ConnectionChangeReason uint8

const (
	ReasonLogin ConnectionChangeReason = iota
	ReasonLoginSuccess
	ReasonLoginFailure
	ReasonLoginTimeout
	ReasonInterrupted
	ReasonLogout
	ReasonBannedByServer
	ReasonRemoteLogin
	ReasonTokenExpired
)

var connReasonNames = []string{"LOGIN", "LOGIN_SUCCESS", "LOGIN_FAILURE", "LOGIN_TIMEOUT", "INTERRUPTED",
	"LOGOUT", "BANNED_BY_SERVER", "REMOTE_LOGIN", "TOKEN_EXPIRED"}

func (r ConnectionChangeReason) String() string { return enumName(r, connReasonNames) }

// PeerStatus is a peer's presence as reported to subscribers.
type PeerStatus uint8

const (
	PeerOffline PeerStatus = iota
	PeerOnline
	PeerUnreachable
)

var peerStatusNames = []string{"OFFLINE", "ONLINE", "UNREACHABLE"}

func (s PeerStatus) String() string { return enumName(s, peerStatusNames) }

// ParsePeerStatus maps a wire string to a status; unknown strings give OFFLINE.
func ParsePeerStatus(s string) PeerStatus { return parseEnum[PeerStatus](s, peerStatusNames) }

// Names lists every member's string of each enum, in order, for tables such
// as the frozen objects of the JavaScript API.
func Names() map[string][]string {
	return map[string][]string{
		"LocalInvitationState":          clone(localStateNames),
		"RemoteInvitationState":         clone(remoteStateNames),
		"LocalInvitationFailureReason":  clone(localReasonNames),
		"RemoteInvitationFailureReason": clone(remoteReasonNames),
		"ConnectionState":               clone(connStateNames),
		"CallState":                     clone(callStateNames),
		"CalleeState":                   clone(calleeStateNames),
		"CallEndReason":                 clone(callReasonNames),
		"ConnectionChangeReason":        clone(connReasonNames),
		"PeerOnlineState":               clone(peerStatusNames),
	}
}

func clone(s []string) []string { return append([]string(nil), s...) }

func enumName[T ~uint8](v T, names []string) string {
	if int(v) < len(names) {
		return names[v]
	}
	return "UNKNOWN"
}

func parseEnum[T ~uint8](s string, names []string) T {
	for i, n := range names {
		if n == s {
			return T(i)
		}
	}
	return 0
}
