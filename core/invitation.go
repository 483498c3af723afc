package core

import (
	"context"
	"slices"
	"time"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// LocalInvitation is the caller's side of a call invitation. Set its
// content, channel id and timeout, then Send it; Cancel withdraws it. Its
// fields and callbacks are guarded by the client's lock.
type LocalInvitation struct {
	callSide // the call once accepted: Hangup, OnCallEnded, CallState
	c        *Client
	calleeID string
	content  string
	channel  string
	timeout  time.Duration
	wake     int64 // the wire's wake: 0 the server's window, protocol.NoWake none
	waking   bool  // the server is waking the callee's devices: none rings yet
	id       string
	response string
	state    LocalInvitationState
	reason   LocalFailureReason
	// The send request, guarded by the client's lock: answered, it has its
	// reply; abandoned, Send stopped waiting first. sendDone, made only
	// when Cancel waits for the answer, is closed once either is set.
	answered, abandoned bool
	sendDone            chan struct{}

	onReceived func()
	onWaking   func(window time.Duration)
	onAccepted func(response string)
	onRefused  func(response string)
	onCanceled func()
	onFailure  func(LocalFailureReason)

	group *localGroup // a group invitation's callees (group_invitation.go); nil for one callee
}

// CalleeID is the user being invited; empty for a group invitation (Callees).
func (l *LocalInvitation) CalleeID() string { return l.calleeID }

// ID is the server-assigned invitation id; empty until Send succeeds.
func (l *LocalInvitation) ID() string { return get(l.c, &l.id) }

// Content is the text sent with the invitation.
func (l *LocalInvitation) Content() string { return get(l.c, &l.content) }

// ChannelID is the channel the call will use, as set by the caller.
func (l *LocalInvitation) ChannelID() string { return get(l.c, &l.channel) }

// Response is the callee's answer text, set once accepted or refused.
func (l *LocalInvitation) Response() string { return get(l.c, &l.response) }

// State is the invitation's current state.
func (l *LocalInvitation) State() LocalInvitationState { return get(l.c, &l.state) }

// FailureReason is why the invitation failed; meaningful in state FAILURE.
func (l *LocalInvitation) FailureReason() LocalFailureReason { return get(l.c, &l.reason) }

// Timeout is how long the invitation rings: the value set, or after Send the
// effective one the server applies.
func (l *LocalInvitation) Timeout() time.Duration { return get(l.c, &l.timeout) }

// SetContent sets the text sent with the invitation (at most 8192 bytes).
func (l *LocalInvitation) SetContent(s string) error {
	return l.setBeforeSend(func() { l.content = s }, protocol.ValidateContent("content", s))
}

// SetChannelID sets the channel id sent with the invitation (at most 64 bytes).
func (l *LocalInvitation) SetChannelID(s string) error {
	return l.setBeforeSend(func() { l.channel = s }, protocol.ValidateChannelID(s))
}

// SetTimeout sets how long the invitation may ring unanswered (1 s to
// 600 s; 0 means the server's default).
func (l *LocalInvitation) SetTimeout(d time.Duration) error {
	return l.setBeforeSend(func() { l.timeout = d }, protocol.ValidateTimeout(d))
}

// SetWakeWindow caps how long the server waits for a device of an offline
// callee to log in after it wakes the callee's devices (Web Push), at
// most 600 s; 0 asks for no waiting (PEER_OFFLINE at once). Unset, the
// server's window applies.
func (l *LocalInvitation) SetWakeWindow(d time.Duration) error {
	var invalid error
	if d < 0 || d > protocol.MaxWake || d%time.Millisecond != 0 {
		invalid = protocol.Errorf(protocol.CodeInvalidArgument, "wake window must be 0 to %v in whole ms, got %v", protocol.MaxWake, d)
	}
	return l.setBeforeSend(func() {
		l.wake = d.Milliseconds()
		if d == 0 {
			l.wake = protocol.NoWake
		}
	}, invalid)
}

// Waking reports whether the server is waking the callee's devices: the
// callee had no session at the send; no device rings yet.
func (l *LocalInvitation) Waking() bool { return get(l.c, &l.waking) }

func (l *LocalInvitation) setBeforeSend(set func(), invalid error) error {
	if invalid != nil {
		return invalid
	}
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	if l.state != LocalIdle {
		_, err := NextLocal(l.state, LocalEvSend)
		return err
	}
	set()
	return nil
}

// OnReceivedByPeer sets the callback for LocalInvitationReceivedByPeer: a
// callee device got the invitation. The last callback set wins; nil clears.
func (l *LocalInvitation) OnReceivedByPeer(f func()) { set(l.c, &l.onReceived, f) }

// OnWaking sets the callback for LocalInvitationWaking(window): the callee
// has no session, and the server has woken its devices and waits up to
// window for one to log in; then it rings, or the invitation fails with
// PEER_OFFLINE.
func (l *LocalInvitation) OnWaking(f func(window time.Duration)) { set(l.c, &l.onWaking, f) }

// OnAccepted sets the callback for LocalInvitationAccepted(response).
func (l *LocalInvitation) OnAccepted(f func(response string)) { set(l.c, &l.onAccepted, f) }

// OnRefused sets the callback for LocalInvitationRefused(response).
func (l *LocalInvitation) OnRefused(f func(response string)) { set(l.c, &l.onRefused, f) }

// OnCanceled sets the callback for LocalInvitationCanceled.
func (l *LocalInvitation) OnCanceled(f func()) { set(l.c, &l.onCanceled, f) }

// OnFailure sets the callback for LocalInvitationFailure(reason).
func (l *LocalInvitation) OnFailure(f func(LocalFailureReason)) { set(l.c, &l.onFailure, f) }

// Send sends the invitation and returns once the server has taken it (the
// state is then SENT_TO_REMOTE, or FAILURE if the callee is offline).
// Not logged in: the invitation fails with NOT_LOGGEDIN and Send returns
// NOT_LOGGED_IN. Sending twice returns ALREADY_SENT; after the end, ALREADY_END.
func (l *LocalInvitation) Send(ctx context.Context) error {
	c := l.c
	c.mu.Lock()
	if l.state == LocalIdle && !c.loggedIn() {
		l.fail(LocalFailureNotLoggedIn)
		c.mu.Unlock()
		return protocol.Errorf(protocol.CodeNotLoggedIn, "send needs a logged-in client")
	}
	if l.state == LocalIdle && (l.calleeID == c.userID || l.group != nil && slices.Contains(l.group.callees, c.userID)) {
		c.mu.Unlock()
		return protocol.Errorf(protocol.CodeInvalidArgument, "a user cannot invite itself")
	}
	next, err := NextLocal(l.state, LocalEvSend)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	l.state = next
	cl := pooledCall()
	f := &cl.f
	f.Type, f.Callee, f.Content, f.Channel = protocol.TypeSend, l.calleeID, l.content, l.channel
	f.Timeout, f.Wake = l.timeout.Milliseconds(), l.wake
	if g := l.group; g != nil {
		f.Callees, f.Mode = g.callees, string(g.mode)
		for _, id := range g.callees {
			g.states[id], _ = NextCallee(CalleeIdle, CalleeEvSend) // IDLE -send-> RINGING
		}
	}
	c.mu.Unlock()

	_, err = c.exchangeCall(ctx, cl, l) // l.onReply
	if err != nil {
		c.mu.Lock()
		if !l.answered {
			l.abandoned = true
			l.fail(LocalFailureUnknown)
			l.sendOver()
		}
		c.mu.Unlock()
	}
	return err
}

// onReply takes the reply to Send, in the reader with the lock held,
// before any event on the new invitation. l is the request's hook rather
// than a closure: a request then allocates none.
func (l *LocalInvitation) onReply(reply *protocol.Frame) {
	c := l.c
	l.answered = true
	if l.abandoned {
		// Send gave up waiting and failed the invitation; withdraw it
		// from the server too so the callee stops ringing.
		if reply.Type == protocol.TypeOK {
			c.goRequest(&protocol.Frame{Type: protocol.TypeCancel, Inv: reply.Inv})
		}
		return
	}
	defer l.sendOver()
	if reply.Type == protocol.TypeError {
		l.fail(failureReasonFor(reply.Code))
		return
	}
	l.id = reply.Inv
	l.timeout = protocol.Millis(reply.Timeout)
	put(&c.locals, l.id, l)
}

// sendOver tells a Cancel waiting for the send's answer. The lock is held.
func (l *LocalInvitation) sendOver() {
	if l.sendDone != nil {
		close(l.sendDone)
	}
}

func failureReasonFor(code protocol.Code) LocalFailureReason {
	if code == protocol.CodeNotLoggedIn {
		return LocalFailureNotLoggedIn
	}
	return LocalFailureUnknown
}

// Cancel withdraws a sent invitation and returns once the server confirmed;
// the state is then CANCELED. Before Send: NOT_STARTED; after the end (for
// instance when the callee answered first): ALREADY_END.
func (l *LocalInvitation) Cancel(ctx context.Context) error {
	c := l.c
	c.mu.Lock()
	if _, err := NextLocal(l.state, LocalEvCancel); err != nil {
		c.mu.Unlock()
		return err
	}
	if !l.answered && !l.abandoned { // the send is in flight: wait for its answer
		if l.sendDone == nil {
			l.sendDone = make(chan struct{})
		}
		done := l.sendDone
		c.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return protocol.Errorf(protocol.CodeTimeout, "cancel: %v", ctx.Err())
		}
		c.mu.Lock()
	}
	if _, err := NextLocal(l.state, LocalEvCancel); err != nil {
		c.mu.Unlock()
		return err
	}
	f := &protocol.Frame{Type: protocol.TypeCancel, Inv: l.id}
	c.mu.Unlock()
	err := c.request(ctx, f, nil)
	return err
}

// fail moves l to FAILURE and queues its callback. The lock is held.
func (l *LocalInvitation) fail(reason LocalFailureReason) {
	l.apply(LocalEvFailure, reason, "", 0)
}

// apply runs one server event through the machine and queues its callback.
// The lock is held.
func (l *LocalInvitation) apply(ev LocalEvent, reason LocalFailureReason, response string, wake time.Duration) {
	next, err := NextLocal(l.state, ev)
	if err != nil {
		l.c.logf("rtmcall: dropped local invitation %s event: %v", l.id, err)
		return
	}
	l.state = next
	c := l.c
	if ev != LocalEvWaking {
		l.waking = false
	}
	switch ev {
	case LocalEvWaking:
		l.waking = true
		c.emit(func() { call1(c, &l.onWaking, wake) })
	case LocalEvReceived:
		c.emit0(&l.onReceived)
	case LocalEvAccepted:
		l.response = response
		l.start(l.id)
		c.emitString(&l.onAccepted, response)
	case LocalEvRefused:
		l.response = response
		c.emitString(&l.onRefused, response)
	case LocalEvCanceled:
		c.emit0(&l.onCanceled)
	case LocalEvFailure:
		l.reason = reason
		c.emit(func() { call1(c, &l.onFailure, reason) })
	}
	if next.Ended() {
		delete(c.locals, l.id)
	}
}

// RemoteInvitation is one callee device's side of an invitation, delivered
// by Client.OnInvitationReceived. Set a response, then Accept or Refuse.
type RemoteInvitation struct {
	callSide   // the call once accepted: Hangup, OnCallEnded, CallState
	c          *Client
	id         string
	calleeBusy bool // the callee was in a call when it rang (call waiting)
	ignored    bool // Ignore took effect: this device no longer rings
	callerID   string
	content    string
	channel    string
	timeout    time.Duration
	response   string
	state      RemoteInvitationState
	reason     RemoteFailureReason

	onAccepted func()
	onRefused  func()
	onCanceled func(content string)
	onFailure  func(RemoteFailureReason)

	group      *Group // the group it was rung for; nil for one callee
	answeredBy string // ANSWERED_BY_OTHER: the callee who took it
}

// ID is the server-assigned invitation id.
func (r *RemoteInvitation) ID() string { return r.id }

// CallerID is the inviting user, as authenticated by the server.
func (r *RemoteInvitation) CallerID() string { return r.callerID }

// Content is the caller's text.
func (r *RemoteInvitation) Content() string { return r.content }

// ChannelID is the caller's channel id.
func (r *RemoteInvitation) ChannelID() string { return r.channel }

// Timeout is how long the invitation rings, counted from when it was sent.
func (r *RemoteInvitation) Timeout() time.Duration { return r.timeout }

// Response is the answer text that Accept or Refuse sends.
func (r *RemoteInvitation) Response() string { return get(r.c, &r.response) }

// State is the invitation's current state on this device.
func (r *RemoteInvitation) State() RemoteInvitationState { return get(r.c, &r.state) }

// FailureReason is why the invitation failed; meaningful in state FAILURE.
func (r *RemoteInvitation) FailureReason() RemoteFailureReason { return get(r.c, &r.reason) }

// SetResponse sets the answer text (at most 8192 bytes) before Accept or Refuse.
func (r *RemoteInvitation) SetResponse(s string) error {
	if err := protocol.ValidateContent("response", s); err != nil {
		return err
	}
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	if _, err := NextRemote(r.state, RemoteEvRefuse); err != nil {
		return err
	}
	r.response = s
	return nil
}

// OnAccepted sets the callback for RemoteInvitationAccepted. The last
// callback set wins; nil clears.
func (r *RemoteInvitation) OnAccepted(f func()) { set(r.c, &r.onAccepted, f) }

// OnRefused sets the callback for RemoteInvitationRefused.
func (r *RemoteInvitation) OnRefused(f func()) { set(r.c, &r.onRefused, f) }

// OnCanceled sets the callback for RemoteInvitationCanceled(content).
func (r *RemoteInvitation) OnCanceled(f func(content string)) { set(r.c, &r.onCanceled, f) }

// OnFailure sets the callback for RemoteInvitationFailure(reason).
func (r *RemoteInvitation) OnFailure(f func(RemoteFailureReason)) { set(r.c, &r.onFailure, f) }

// Accept answers yes. The state is ACCEPT_SENT_TO_LOCAL until the server
// decides; Accept returns once it did, in state ACCEPTED. If another device
// answered or the caller canceled first it returns ALREADY_END and the
// winner's event follows; while an accept is in flight, ALREADY_ACCEPT.
func (r *RemoteInvitation) Accept(ctx context.Context) error {
	return r.answer(ctx, RemoteEvAccept, protocol.TypeAccept)
}

// Refuse answers no; it returns once the server decided, in state REFUSED.
// Errors as for Accept.
func (r *RemoteInvitation) Refuse(ctx context.Context) error {
	return r.answer(ctx, RemoteEvRefuse, protocol.TypeRefuse)
}

func (r *RemoteInvitation) answer(ctx context.Context, ev RemoteEvent, typ string) error {
	c := r.c
	c.mu.Lock()
	if r.ignored {
		c.mu.Unlock()
		return protocol.Errorf(protocol.CodeAlreadyEnd, "the invitation was ignored on this device")
	}
	next, err := NextRemote(r.state, ev)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	r.state = next
	cl := pooledCall()
	cl.f.Type, cl.f.Inv, cl.f.Response = typ, r.id, r.response
	c.mu.Unlock()
	var hook replyHook = r // r.onReply, an accept's
	if ev != RemoteEvAccept {
		hook = ignoreReply // as the closure did for a refuse: a late reply is taken, not logged
	}
	_, err = c.exchangeCall(ctx, cl, hook)
	if err != nil && ev == RemoteEvAccept && CodeOf(err) == protocol.CodeNotConnected {
		c.mu.Lock()
		if r.state == RemoteAcceptSentToLocal {
			r.apply(RemoteEvAcceptRejected, 0, "")
		}
		c.mu.Unlock()
	}
	return err
}

// onReply takes the reply to Accept, in the reader with the lock held. r is
// the request's hook rather than a closure: a request then allocates none.
func (r *RemoteInvitation) onReply(reply *protocol.Frame) {
	if reply.Type == protocol.TypeError && r.state == RemoteAcceptSentToLocal {
		r.apply(RemoteEvAcceptRejected, 0, "") // the server did not take it; the call still rings
	}
}

// CalleeBusy reports whether the callee was in a call when the invitation
// rang: it rings because this session has call waiting on.
func (r *RemoteInvitation) CalleeBusy() bool { return r.calleeBusy }

// Ignore stops the invitation ringing on this device only, and returns once
// the server took it: the caller is not told, and other devices go on
// ringing. When no device rings any more, the invitation goes on until it
// expires (or the caller cancels). No further event reaches this
// invitation; Accept, Refuse and Ignore then return ALREADY_END. The state
// stays INVITATION_RECEIVED. Errors otherwise as for Refuse.
func (r *RemoteInvitation) Ignore(ctx context.Context) error {
	c := r.c
	c.mu.Lock()
	if r.ignored {
		c.mu.Unlock()
		return protocol.Errorf(protocol.CodeAlreadyEnd, "the invitation was already ignored")
	}
	if _, err := NextRemote(r.state, RemoteEvRefuse); err != nil {
		c.mu.Unlock()
		return err
	}
	c.mu.Unlock()
	err := c.request(ctx, &protocol.Frame{Type: protocol.TypeIgnore, Inv: r.id}, func(reply *protocol.Frame) {
		if reply.Type == protocol.TypeOK {
			r.ignored = true
			delete(c.remotes, r.id)
		}
	})
	return err
}

// apply runs one event through the machine and queues its callback. The
// lock is held.
func (r *RemoteInvitation) apply(ev RemoteEvent, reason RemoteFailureReason, content string) {
	next, err := NextRemote(r.state, ev)
	if err != nil {
		r.c.logf("rtmcall: dropped remote invitation %s event: %v", r.id, err)
		return
	}
	r.state = next
	c := r.c
	switch ev {
	case RemoteEvAccepted:
		r.start(r.id)
		c.emit0(&r.onAccepted)
	case RemoteEvRefused:
		c.emit0(&r.onRefused)
	case RemoteEvCanceled:
		c.emitString(&r.onCanceled, content)
	case RemoteEvFailure:
		r.reason = reason
		c.emit(func() { call1(c, &r.onFailure, reason) })
	}
	if next.Ended() {
		delete(c.remotes, r.id)
	}
}

// get reads a field under the client's lock.
func get[T any](c *Client, p *T) T {
	c.mu.Lock()
	defer c.mu.Unlock()
	return *p
}

// set writes a callback under the client's lock.
func set[F any](c *Client, p *F, f F) {
	c.mu.Lock()
	*p = f
	c.mu.Unlock()
}

// call0 and call1 read a callback under the lock and call it outside.
func call0(c *Client, p *func()) {
	if f := get(c, p); f != nil {
		f()
	}
}

func call1[T any](c *Client, p *func(T), v T) {
	if f := get(c, p); f != nil {
		f(v)
	}
}
