package jsbridge

import (
	"context"
	"slices"
	"syscall/js"
	"time"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
)

const kindLocal = "LocalInvitation"

// localEntry is the Go side of a local invitation from send until its
// terminal event was delivered. Before send the record holds the fields;
// after the end it holds their final values.
type localEntry struct {
	h        int
	l        *core.LocalInvitation
	rec, obj js.Value
	crec     js.Value // the client's record, for its call delegate
}

// localFields are the record keys of a local invitation that Go tracks
// while it is live, and the record holds otherwise.
var localFields = []string{"content", "channelId", "timeoutMs", "id", "response", "state", "callState",
	"callees", "acceptedBy", "inCallWith"}

func (k *Kit) newLocalProto() js.Value {
	p := newProto(kindLocal)
	for _, name := range []string{"calleeId", "mode", "calleeIds"} {
		k.accessor(p, name, func(this js.Value) any {
			rec, err := k.record(this, kindLocal)
			if err != nil {
				return k.throw(err)
			}
			return rec.Get(name)
		}, nil)
	}
	for _, name := range localFields {
		var set func(this, v js.Value) any
		switch name {
		case "content", "channelId", "timeoutMs":
			set = func(this, v js.Value) any {
				if err := k.setLocal(this, name, v); err != nil {
					return k.throw(err)
				}
				return nil
			}
		}
		k.accessor(p, name, func(this js.Value) any {
			rec, err := k.record(this, kindLocal)
			if err != nil {
				return k.throw(err)
			}
			if e := k.localOf(rec); e != nil {
				return e.get(name)
			}
			return rec.Get(name)
		}, set)
	}
	k.method(p, "send", k.send)
	k.method(p, "cancel", func(this js.Value, _ []js.Value) any {
		rec, err := k.record(this, kindLocal)
		if err != nil {
			return k.rejected(err)
		}
		if e := k.localOf(rec); e != nil {
			return k.Promise(func() (any, error) { return nil, e.l.Cancel(context.Background()) })
		}
		_, err = core.NextLocal(localState(rec), core.LocalEvCancel)
		if err == nil { // cannot happen: a record alone is IDLE or ended
			err = protocol.Errorf(protocol.CodeUnknown, "cancel: no invitation")
		}
		return k.rejected(err)
	})
	k.method(p, "hangup", k.hangup(kindLocal, func(rec js.Value) interface{ Hangup(context.Context) error } {
		if e := k.localOf(rec); e != nil {
			return e.l
		}
		return nil
	}))
	k.method(p, "on", func(this js.Value, args []js.Value) any {
		rec, err := k.record(this, kindLocal)
		if err == nil {
			err = on(rec, localEvents, arg(args, 0), arg(args, 1))
		}
		if err != nil {
			return k.throw(err)
		}
		return nil
	})
	k.method(p, "off", func(this js.Value, args []js.Value) any {
		rec, err := k.record(this, kindLocal)
		if err == nil {
			err = off(rec, localEvents, arg(args, 0), arg(args, 1))
		}
		if err != nil {
			return k.throw(err)
		}
		return nil
	})
	k.method(p, "toJSON", func(this js.Value, _ []js.Value) any {
		if _, err := k.record(this, kindLocal); err != nil {
			return k.throw(err)
		}
		o := newObject()
		for _, name := range append([]string{"calleeId", "mode", "calleeIds"}, localFields...) {
			o.Set(name, this.Get(name))
		}
		return o
	})
	return p
}

// createLocalInvitation is client.createLocalInvitation(calleeId); it throws
// INVALID_ARGUMENT for a bad id. Nothing is kept in Go until send.
func (k *Kit) createLocalInvitation(this js.Value, args []js.Value) any {
	crec, err := k.record(this, kindClient)
	if err != nil {
		return k.throw(err)
	}
	callee, err := StringFromJS(arg(args, 0), "calleeId")
	if err == nil {
		err = protocol.ValidateUserID(callee)
	}
	if err != nil {
		return k.throw(err)
	}
	return k.newPublic(k.localProto, newLocalRecord(crec, callee))
}

// newLocalRecord is the record of an unsent invitation of client crec: to
// callee, or (createGroupInvitation) a group whose fields the caller adds.
func newLocalRecord(crec js.Value, callee string) js.Value {
	rec := newRecord(kindLocal)
	rec.Set("client", crec)
	rec.Set("calleeId", callee)
	rec.Set("mode", jsNull)
	rec.Set("calleeIds", jsNull)
	rec.Set("callees", jsNull)
	rec.Set("acceptedBy", "")
	rec.Set("inCallWith", jsArray.New())
	rec.Set("content", "")
	rec.Set("channelId", "")
	rec.Set("timeoutMs", 0)
	rec.Set("id", "")
	rec.Set("response", "")
	rec.Set("state", core.LocalIdle.String())
	rec.Set("callState", core.CallIdle.String())
	return rec
}

func (k *Kit) localOf(rec js.Value) *localEntry {
	h := rec.Get("h").Int()
	if h == 0 {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.locals[h]
}

// localState is the state a record holds: IDLE before send, the final one
// after the end.
func localState(rec js.Value) core.LocalInvitationState {
	return core.LocalInvitationState(slices.Index(localStateNames, rec.Get("state").String()))
}

var (
	localStateNames  = core.Names()["LocalInvitationState"]
	remoteStateNames = core.Names()["RemoteInvitationState"]
)

func (e *localEntry) get(name string) any {
	switch name {
	case "content":
		return e.l.Content()
	case "channelId":
		return e.l.ChannelID()
	case "timeoutMs":
		return e.l.Timeout().Milliseconds()
	case "id":
		return e.l.ID()
	case "response":
		return e.l.Response()
	case "callState":
		return e.l.CallState().String()
	case "callees":
		return CalleeMapToJS(e.l.Callees())
	case "acceptedBy":
		return e.l.AcceptedBy()
	case "inCallWith":
		return stringsToJS(e.l.InCallWith())
	default:
		return e.l.State().String()
	}
}

// setLocal assigns content, channelId or timeoutMs: INVALID_ARGUMENT for a
// bad value, else what the core answers (ALREADY_SENT after send,
// ALREADY_END after the end).
func (k *Kit) setLocal(this js.Value, name string, v js.Value) error {
	rec, err := k.record(this, kindLocal)
	if err != nil {
		return err
	}
	var (
		value   any
		invalid error
		set     func(*core.LocalInvitation) error
	)
	switch name {
	case "content", "channelId":
		s, err := StringFromJS(v, name)
		if err != nil {
			return err
		}
		value = s
		if name == "content" {
			invalid = protocol.ValidateContent("content", s)
			set = func(l *core.LocalInvitation) error { return l.SetContent(s) }
		} else {
			invalid = protocol.ValidateChannelID(s)
			set = func(l *core.LocalInvitation) error { return l.SetChannelID(s) }
		}
	case "timeoutMs":
		ms, err := MillisFromJS(v, name)
		if err != nil {
			return err
		}
		value = ms
		d := protocol.Millis(ms)
		invalid = protocol.ValidateTimeout(d)
		set = func(l *core.LocalInvitation) error { return l.SetTimeout(d) }
	}
	if invalid != nil {
		return invalid
	}
	if e := k.localOf(rec); e != nil {
		return set(e.l)
	}
	if st := localState(rec); st != core.LocalIdle {
		_, err := core.NextLocal(st, core.LocalEvSend)
		return err
	}
	rec.Set(name, value)
	return nil
}

// send is local.send(): the first send creates the core invitation from the
// record, on the client's session (or, when the client is not logged in, on
// a client that is not connected, so that the invitation fails with
// NOT_LOGGEDIN and send rejects with NOT_LOGGED_IN, as the core decides).
func (k *Kit) send(this js.Value, _ []js.Value) any {
	rec, err := k.record(this, kindLocal)
	if err != nil {
		return k.rejected(err)
	}
	if e := k.localOf(rec); e != nil {
		return k.Promise(func() (any, error) { return nil, e.l.Send(context.Background()) })
	}
	if st := localState(rec); st != core.LocalIdle {
		_, err := core.NextLocal(st, core.LocalEvSend)
		return k.rejected(err)
	}
	crec := rec.Get("client")
	c, err := k.coreClient(crec)
	if err != nil {
		return k.rejected(err)
	}
	var l *core.LocalInvitation
	if mode := rec.Get("mode"); mode.Type() == js.TypeString {
		var ids []string
		if ids, err = StringsFromJS(rec.Get("calleeIds"), "calleeIds"); err == nil {
			l, err = c.CreateGroupInvitation(ids, core.GroupMode(mode.String()))
		}
	} else {
		l, err = c.CreateLocalInvitation(rec.Get("calleeId").String())
	}
	if err == nil {
		err = l.SetContent(rec.Get("content").String())
	}
	if err == nil {
		err = l.SetChannelID(rec.Get("channelId").String())
	}
	if err == nil {
		err = l.SetTimeout(time.Duration(rec.Get("timeoutMs").Int()) * time.Millisecond)
	}
	if err != nil {
		return k.rejected(err)
	}
	e := &localEntry{l: l, rec: rec, obj: this, crec: crec}
	l.OnReceivedByPeer(func() {
		k.localEvent(e, EvLocalReceivedByPeer, "localInvitationReceivedByPeer", false)
	})
	l.OnWaking(func(window time.Duration) {
		k.localEvent(e, EvLocalWaking, "localInvitationWaking", false, window.Milliseconds())
	})
	l.OnAccepted(func(response string) {
		k.localEvent(e, EvLocalAccepted, "localInvitationAccepted", false, response) // the call goes on
	})
	l.OnCallEnded(func(why core.CallEndReason, by string) {
		k.localEvent(e, EvCallEnded, "callEnded", true, why.String(), by)
	})
	l.OnRefused(func(response string) {
		k.localEvent(e, EvLocalRefused, "localInvitationRefused", true, response)
	})
	// A group call's legs may outlive its invitation's cancel: the entry
	// then stays for CallEnded.
	l.OnCanceled(func() {
		k.localEvent(e, EvLocalCanceled, "localInvitationCanceled", l.CallState() != core.CallInCall)
	})
	l.OnCallee(func(u core.CalleeUpdate) {
		k.localEvent(e, EvLocalCallee, "localInvitationCallee", false, calleeUpdateToJS(u))
	})
	l.OnCalleeCallEnded(func(callee string, why core.CallEndReason, by string) {
		k.localEvent(e, EvCalleeCallEnded, "calleeCallEnded", false, callee, why.String(), by)
	})
	l.OnFailure(func(why core.LocalFailureReason) {
		k.localEvent(e, EvLocalFailure, "localInvitationFailure", true, why.String())
	})
	k.mu.Lock()
	e.h = k.handle()
	k.locals[e.h] = e
	k.mu.Unlock()
	rec.Set("h", e.h)
	return k.Promise(func() (any, error) {
		err := l.Send(context.Background())
		if err != nil && l.State() == core.LocalIdle {
			// Refused before it left (a self-invitation): no event will
			// come, and the record is an unsent invitation again.
			k.endLocal(e)
		}
		return nil, err
	})
}

// localEvent delivers one event: the invitation's handlers, then the
// client's call delegate; after a terminal event the entry ends.
func (k *Kit) localEvent(e *localEntry, name, hook string, terminal bool, args ...any) {
	emit(e.rec, e.obj, name, args...)
	callDelegate(e.crec, hook, append([]any{e.obj}, args...)...)
	if terminal {
		k.endLocal(e)
	}
}

// endLocal copies the invitation's final fields into its record and drops
// the Go entry and the handlers.
func (k *Kit) endLocal(e *localEntry) {
	k.mu.Lock()
	if k.locals[e.h] != e {
		k.mu.Unlock()
		return
	}
	delete(k.locals, e.h)
	k.mu.Unlock()
	for _, name := range localFields {
		e.rec.Set(name, e.get(name))
	}
	e.rec.Set("h", 0)
	if e.l.State().Ended() {
		e.rec.Set(handlersKey, jsNull)
		e.rec.Set("client", jsNull)
	}
}
