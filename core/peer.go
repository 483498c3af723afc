package core

import (
	"context"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// Message is a peer message: a text, or raw bytes with an optional
// description (Agora's RtmTextMessage and RtmRawMessage).
type Message struct {
	// Text is a text message: 1 to 32768 bytes of UTF-8. Empty when Raw is set.
	Text string
	// Raw is a raw message, 1 to 32768 bytes; nil for a text message.
	Raw []byte
	// Description describes a raw message: at most 1024 bytes of UTF-8.
	Description string
}

// MessageProps are what the server adds to a message it delivers.
type MessageProps struct {
	// ServerReceivedTs is when the server took the message, in ms since the epoch.
	ServerReceivedTs int64
}

// OnMessageFromPeer sets the callback for MessageFromPeer: a message from
// peerID, as authenticated by the server. The last callback set wins; nil clears.
func (c *Client) OnMessageFromPeer(f func(msg Message, peerID string, props MessageProps)) {
	set(c, &c.onMessage, f)
}

// SendMessageToPeer sends msg to every logged-in session of peerID (to the
// other sessions when peerID is this client's own user) and returns once the
// server has put it on their streams. hasPeerReceived is false when the peer
// has no session: that is not an error. Messages from one session to another
// arrive in order and exactly once; sent while RECONNECTING, they are held
// and sent on resume. Like every request, a message counts against the rate
// limit.
func (c *Client) SendMessageToPeer(ctx context.Context, peerID string, msg Message) (hasPeerReceived bool, err error) {
	if err := protocol.ValidateUserID(peerID); err != nil {
		return false, err
	}
	if err := protocol.ValidateMessage(msg.Text, msg.Raw, msg.Description); err != nil {
		return false, err
	}
	if !get(c, &c.state).loggedIn() {
		return false, protocol.Errorf(protocol.CodeNotLoggedIn, "sendMessageToPeer needs a logged-in client")
	}
	reply, err := c.exchange(ctx, &protocol.Frame{Type: protocol.TypeMessage, Peer: peerID, Text: msg.Text, Raw: msg.Raw,
		Description: msg.Description}, nil)
	if err != nil {
		return false, err
	}
	return reply.received, nil
}

// SetCallWaiting turns call waiting on or off for this session (it is kept
// across resume and a move to another node, not across logins: a login
// starts with it off, or on with LoginOptions.CallWaiting). While any session of this client's
// user is in a call, invitations to the user fail on the caller with
// PEER_BUSY, except that they ring the sessions with call waiting on, with
// CalleeBusy set.
func (c *Client) SetCallWaiting(ctx context.Context, on bool) error {
	if !get(c, &c.state).loggedIn() {
		return protocol.Errorf(protocol.CodeNotLoggedIn, "setCallWaiting needs a logged-in client")
	}
	err := c.request(ctx, &protocol.Frame{Type: protocol.TypeWaiting, Waiting: on}, func(reply *protocol.Frame) {
		if reply.Type == protocol.TypeOK {
			c.waitingOn = on // set again after a move (relogin)
		}
	})
	return err
}

// handlePeerMessage delivers a peer.message frame. The lock is held.
func (c *Client) handlePeerMessage(f *protocol.Frame) {
	if protocol.ValidateUserID(f.From) != nil || protocol.ValidateMessage(f.Text, f.Raw, f.Description) != nil {
		c.logf("rtmcall: dropped a bad peer message from %q", f.From)
		return
	}
	msg, from, props := Message{Text: f.Text, Raw: f.Raw, Description: f.Description}, f.From, MessageProps{ServerReceivedTs: f.TS}
	c.emit(func() {
		if cb := get(c, &c.onMessage); cb != nil {
			cb(msg, from, props)
		}
	})
}

// callSide is one party's view of the call that follows an accepted
// invitation; LocalInvitation and RemoteInvitation embed it. Its fields
// are guarded by the client's lock.
type callSide struct {
	c       *Client
	callID  string
	state   CallState
	reason  CallEndReason
	by      string
	onEnded func(reason CallEndReason, by string)
	leg     func(callee string, reason CallEndReason, by string) // a group call's leg ended (group_invitation.go)
}

// CallState is the state of the call after the invitation was accepted:
// IDLE before, IN_CALL, then ENDED.
func (cs *callSide) CallState() CallState { return get(cs.c, &cs.state) }

// CallEndReason is why the call ended; meaningful in state ENDED.
func (cs *callSide) CallEndReason() CallEndReason { return get(cs.c, &cs.reason) }

// CallEndedBy is the user who hung up, when the call ended with HANGUP.
func (cs *callSide) CallEndedBy() string { return get(cs.c, &cs.by) }

// OnCallEnded sets the callback for CallEnded(reason, by): by is the user
// who hung up (HANGUP), empty otherwise. The last callback set wins; nil clears.
func (cs *callSide) OnCallEnded(f func(reason CallEndReason, by string)) { set(cs.c, &cs.onEnded, f) }

// Hangup ends the call and returns once the server did: both parties get
// CallEnded(HANGUP) first. Before the invitation was accepted, or on one
// that never was: NOT_STARTED; after the call ended (the other party hung
// up first): ALREADY_END.
func (cs *callSide) Hangup(ctx context.Context) error {
	c := cs.c
	c.mu.Lock()
	if _, err := NextCall(cs.state, CallEvHangup); err != nil {
		c.mu.Unlock()
		return err
	}
	cl := pooledCall()
	cl.f.Type, cl.f.Inv = protocol.TypeHangup, cs.callID
	c.mu.Unlock()
	_, err := c.exchangeCall(ctx, cl, nil)
	return err
}

// start moves the call to IN_CALL once the invitation id was accepted. The lock is held.
func (cs *callSide) start(id string) {
	if next, err := NextCall(cs.state, CallEvStarted); err == nil {
		cs.state, cs.callID = next, id
		put(&cs.c.calls, id, cs)
	}
}

// end moves the call to ENDED and queues its callback. The lock is held.
func (cs *callSide) end(reason CallEndReason, by string) {
	next, err := NextCall(cs.state, CallEvEnded)
	if err != nil {
		cs.c.logf("rtmcall: dropped call %s end: %v", cs.callID, err)
		return
	}
	cs.state, cs.reason, cs.by = next, reason, by
	delete(cs.c.calls, cs.callID)
	cs.c.emitEnd(cs, reason, by)
}
