// Package protocol defines rtmcall's wire protocol: JSON text frames over a
// WebSocket with subprotocol "rtmcall.v1", the error codes both ends share,
// and the limits the server enforces. docs/PROTOCOL.md describes it for
// people writing their own client.
package protocol

// Subprotocol is negotiated on the WebSocket upgrade; Path is where the server listens.
const (
	Subprotocol = "rtmcall.v1"
	Path        = "/ws"
)

// Frame types sent by the client. Each carries a request id (rid) that the
// server echoes in its reply: "ok" or "error", or for an accept and a hangup
// carried out the requester's own remote.accepted or call.ended.
const (
	TypeLogin       = "login"
	TypeLogout      = "logout"
	TypeSend        = "send"
	TypeCancel      = "cancel"
	TypeAck         = "ack"
	TypeAccept      = "accept"
	TypeRefuse      = "refuse"
	TypeQuery       = "query"
	TypeSubscribe   = "subscribe"
	TypeUnsubscribe = "unsubscribe"
	TypePing        = "ping"
	// TypeResume reattaches a new connection to a session whose connection
	// dropped, within the grace period.
	TypeResume = "resume"
	// TypeRenew replaces the session's token before it expires.
	TypeRenew = "renew"
	// TypeMessage sends a peer message (text or raw) to every other session of
	// a user: sendMessageToPeer.
	TypeMessage = "message"
	// TypeHangup ends the call that followed an accepted invitation.
	TypeHangup = "hangup"
	// TypeIgnore stops an invitation ringing this session only; the caller is not told.
	TypeIgnore = "ignore"
	// TypeWaiting turns call waiting on or off for this session.
	TypeWaiting = "waiting"
	// TypePushSubscribe registers a Web Push subscription for the user,
	// which wakes the user's devices when no session is logged in;
	// TypePushUnsubscribe removes one by endpoint (docs/PUSH.md).
	TypePushSubscribe   = "push.subscribe"
	TypePushUnsubscribe = "push.unsubscribe"
)

// Frame types sent by the server.
const (
	TypeOK    = "ok"
	TypeError = "error"

	// TypeInvite rings a callee device: RemoteInvitationReceived.
	TypeInvite = "invite"
	// Events on the caller's invitation.
	TypeLocalReceived = "local.received"
	// TypeLocalWaking: the callee has no session but has devices to wake
	// (Web Push); the server waits for one to log in.
	TypeLocalWaking   = "local.waking"
	TypeLocalAccepted = "local.accepted"
	TypeLocalRefused  = "local.refused"
	TypeLocalCanceled = "local.canceled"
	TypeLocalFailure  = "local.failure"
	// Events on a callee device's invitation.
	// TypeLocalCallee is one callee's event on a group invitation: state is
	// the callee's new CalleeState (docs/PROTOCOL.md "Groups").
	TypeLocalCallee    = "local.callee"
	TypeRemoteAccepted = "remote.accepted"
	TypeRemoteRefused  = "remote.refused"
	TypeRemoteCanceled = "remote.canceled"
	TypeRemoteFailure  = "remote.failure"
	// TypePeerMessage delivers a peer message: MessageFromPeer.
	TypePeerMessage = "peer.message"
	// TypeCallEnded ends the call of an accepted invitation on both parties' sessions.
	TypeCallEnded = "call.ended"
	// TypePresence reports subscribed peers' online status.
	TypePresence = "presence"
	// TypeBye ends the session from the server's side; reason is a
	// ConnectionChangeReason name, or ByeMoved. The connection closes after
	// it and the session cannot be resumed.
	TypeBye = "bye"
)

// ByeMoved is the reason of the bye a draining node sends before it
// closes the connection with 1012: the client logs in anew, through the
// same URL, with the user and token it holds (PROTOCOL.md "Drain").
const ByeMoved = "MOVED"

// Frame is every frame of the protocol, flat: which fields are set depends
// on Type (docs/PROTOCOL.md has the table). Unknown fields are ignored.
type Frame struct {
	Type string `json:"type"`
	RID  uint64 `json:"rid,omitempty"`

	// error
	Code    Code   `json:"code,omitempty"`
	Name    string `json:"name,omitempty"`
	Message string `json:"message,omitempty"`

	// login and its reply; resume
	User    string `json:"user,omitempty"`
	Token   string `json:"token,omitempty"`
	Session string `json:"session,omitempty"`
	Key     string `json:"key,omitempty"` // the session's resume key
	// login naming a moved session: the client's attempt to log in within
	// this move, 1 for the first (PROTOCOL.md "Drain"); 0 from a client
	// of an earlier version.
	Attempt   uint64 `json:"attempt,omitempty"`
	Grace     int64  `json:"grace,omitempty"`     // ms a dropped session is kept
	Heartbeat int64  `json:"heartbeat,omitempty"` // ms between the client's pings
	LastRID   uint64 `json:"lastRid,omitempty"`   // the last request the session carried out

	// the session's stream: every server frame but the resume reply has a
	// seq; the client acknowledges what it has received in ping and resume.
	Seq uint64 `json:"seq,omitempty"`
	Ack uint64 `json:"ack,omitempty"`

	// invitations
	Inv      string `json:"inv,omitempty"`
	Callee   string `json:"callee,omitempty"`
	Caller   string `json:"caller,omitempty"`
	Content  string `json:"content,omitempty"`
	Channel  string `json:"channel,omitempty"`
	Response string `json:"response,omitempty"`
	Timeout  int64  `json:"timeout,omitempty"` // milliseconds
	Reason   string `json:"reason,omitempty"`
	Busy     bool   `json:"busy,omitempty"` // invite: the callee is in a call (call waiting)
	// send: the caller's wake window in ms, at most the server's; absent
	// or 0 the server's, NoWake (-1) none.
	Wake int64  `json:"wake,omitempty"`
	By   string `json:"by,omitempty"` // call.ended HANGUP: the user who hung up; remote.failure ANSWERED_BY_OTHER: the winner

	// groups: send and invite carry the callees and the mode; local.callee
	// names one callee (callee) and its new state.
	Callees []string `json:"callees,omitempty"`
	Mode    string   `json:"mode,omitempty"`
	State   string   `json:"state,omitempty"`

	// peer messages and call waiting
	Peer        string `json:"peer,omitempty"`        // message: the receiving user
	From        string `json:"from,omitempty"`        // peer.message: the sending user
	Text        string `json:"text,omitempty"`        // a text message
	Raw         []byte `json:"raw,omitempty"`         // a raw message, base64 on the wire
	Description string `json:"description,omitempty"` // a raw message's description
	TS          int64  `json:"ts,omitempty"`          // peer.message: serverReceivedTs, ms since the epoch
	Received    bool   `json:"received,omitempty"`    // ok to message: hasPeerReceived
	Waiting     bool   `json:"waiting,omitempty"`     // waiting: call waiting on

	// Web Push subscriptions, as PushSubscription.toJSON() gives them
	// (keys base64url); logout: dropPush also removes the subscriptions
	// this session registered.
	Endpoint string `json:"endpoint,omitempty"`
	P256dh   string `json:"p256dh,omitempty"`
	Auth     string `json:"auth,omitempty"`
	DropPush bool   `json:"dropPush,omitempty"`

	// presence
	IDs    []string          `json:"ids,omitempty"`
	Online map[string]bool   `json:"online,omitempty"`
	Status map[string]string `json:"status,omitempty"`
}

// ErrorFrame is the reply to a failed request.
func ErrorFrame(rid uint64, err *Error) *Frame {
	return &Frame{Type: TypeError, RID: rid, Code: err.Code, Name: err.Code.String(), Message: err.Message}
}

// Err returns the *Error an error frame carries.
func (f *Frame) Err() *Error {
	return &Error{Code: f.Code, Message: f.Message}
}

// CheckRequest validates a client request frame: a known type, a request id,
// and the fields that type requires, within the limits. It returns an
// *Error: UNKNOWN_TYPE, MALFORMED_FRAME for a missing field, or
// INVALID_ARGUMENT for a value out of bounds.
func (f *Frame) CheckRequest() error {
	switch f.Type {
	case TypeLogin, TypeLogout, TypeSend, TypeCancel, TypeAck, TypeAccept, TypeRefuse,
		TypeQuery, TypeSubscribe, TypeUnsubscribe, TypePing, TypeResume, TypeRenew,
		TypeMessage, TypeHangup, TypeIgnore, TypeWaiting, TypePushSubscribe, TypePushUnsubscribe:
	default:
		return Errorf(CodeUnknownType, "unknown frame type %q", f.Type)
	}
	if f.RID == 0 {
		return Errorf(CodeMalformedFrame, `%s frame has no "rid"`, f.Type)
	}
	switch f.Type {
	case TypeLogin:
		if f.User == "" {
			return Errorf(CodeMalformedFrame, `login frame has no "user"`)
		}
		if (f.Session == "") != (f.Key == "") {
			// A device's login after a move names the session it moved from (PROTOCOL.md "Drain").
			return Errorf(CodeMalformedFrame, `login frame needs both "session" and "key", or neither`)
		}
		if f.Attempt > 0 && f.Session == "" {
			return Errorf(CodeMalformedFrame, `login frame has "attempt" without "session" and "key"`)
		}
		if f.Attempt > MaxLoginAttempt {
			return Errorf(CodeInvalidArgument, "login attempt must be at most %d, got %d", MaxLoginAttempt, f.Attempt)
		}
		return ValidateUserID(f.User)
	case TypeSend:
		if len(f.Callees) > 0 || f.Mode != "" {
			if err := ValidateGroup(f.Callee, f.Callees, f.Mode); err != nil {
				return err
			}
		} else if f.Callee == "" {
			return Errorf(CodeMalformedFrame, `send frame has no "callee"`)
		}
		if f.Callee != "" {
			if err := ValidateUserID(f.Callee); err != nil {
				return err
			}
		}
		if err := ValidateContent("content", f.Content); err != nil {
			return err
		}
		if err := ValidateChannelID(f.Channel); err != nil {
			return err
		}
		if f.Timeout < 0 {
			return Errorf(CodeInvalidArgument, "timeout must not be negative")
		}
		if err := ValidateWake(f.Wake); err != nil {
			return err
		}
		return ValidateTimeout(Millis(f.Timeout))
	case TypeResume:
		if f.Session == "" || f.Key == "" {
			return Errorf(CodeMalformedFrame, `resume frame needs "session" and "key"`)
		}
	case TypeRenew:
		if f.Token == "" {
			return Errorf(CodeMalformedFrame, `renew frame has no "token"`)
		}
	case TypeMessage:
		if f.Peer == "" {
			return Errorf(CodeMalformedFrame, `message frame has no "peer"`)
		}
		if err := ValidateUserID(f.Peer); err != nil {
			return err
		}
		return ValidateMessage(f.Text, f.Raw, f.Description)
	case TypeCancel, TypeAck, TypeHangup, TypeIgnore:
		if f.Inv == "" {
			return Errorf(CodeMalformedFrame, `%s frame has no "inv"`, f.Type)
		}
	case TypeAccept, TypeRefuse:
		if f.Inv == "" {
			return Errorf(CodeMalformedFrame, `%s frame has no "inv"`, f.Type)
		}
		return ValidateContent("response", f.Response)
	case TypePushSubscribe:
		if f.Endpoint == "" || f.P256dh == "" || f.Auth == "" {
			return Errorf(CodeMalformedFrame, `push.subscribe frame needs "endpoint", "p256dh" and "auth"`)
		}
		return ValidatePushSubscription(f.Endpoint, f.P256dh, f.Auth)
	case TypePushUnsubscribe:
		if f.Endpoint == "" {
			return Errorf(CodeMalformedFrame, `push.unsubscribe frame has no "endpoint"`)
		}
		return ValidatePushEndpoint(f.Endpoint)
	case TypeQuery, TypeSubscribe, TypeUnsubscribe:
		if len(f.IDs) == 0 {
			return Errorf(CodeMalformedFrame, `%s frame has no "ids"`, f.Type)
		}
		max := MaxSubscribedIDs
		if f.Type == TypeQuery {
			max = MaxQueryIDs
		}
		if n := distinct(f.IDs, max); n > max {
			return Errorf(CodeInvalidArgument, "%s takes at most %d distinct ids, got %d", f.Type, max, n)
		}
		for _, id := range f.IDs {
			if err := ValidateUserID(id); err != nil {
				return err
			}
		}
	}
	return nil
}

// distinct counts the distinct ids, since repeated ids count once toward
// the limits; it only counts (with a map) when there are more than max.
func distinct(ids []string, max int) int {
	if len(ids) <= max {
		return len(ids)
	}
	set := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		set[id] = struct{}{}
	}
	return len(set)
}
