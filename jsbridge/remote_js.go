package jsbridge

import (
	"context"
	"slices"
	"syscall/js"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
)

const kindRemote = "RemoteInvitation"

// remoteEntry is the Go side of a remote invitation from its arrival until
// its terminal event was delivered; after that its record holds the final
// state and response.
type remoteEntry struct {
	h        int
	r        *core.RemoteInvitation
	rec, obj js.Value
	crec     js.Value // the client's record, for its call delegate
}

func (k *Kit) newRemoteProto() js.Value {
	p := newProto(kindRemote)
	for _, name := range []string{"callerId", "content", "channelId", "id", "calleeBusy", "group", "answeredBy"} {
		k.accessor(p, name, func(this js.Value) any {
			rec, err := k.record(this, kindRemote)
			if err != nil {
				return k.throw(err)
			}
			return rec.Get(name)
		}, nil)
	}
	k.accessor(p, "state", func(this js.Value) any {
		rec, err := k.record(this, kindRemote)
		if err != nil {
			return k.throw(err)
		}
		if e := k.remoteOf(rec); e != nil {
			return e.r.State().String()
		}
		return rec.Get("state")
	}, nil)
	k.accessor(p, "callState", func(this js.Value) any {
		rec, err := k.record(this, kindRemote)
		if err != nil {
			return k.throw(err)
		}
		if e := k.remoteOf(rec); e != nil {
			return e.r.CallState().String()
		}
		return rec.Get("callState")
	}, nil)
	k.accessor(p, "response", func(this js.Value) any {
		rec, err := k.record(this, kindRemote)
		if err != nil {
			return k.throw(err)
		}
		if e := k.remoteOf(rec); e != nil {
			return e.r.Response()
		}
		return rec.Get("response")
	}, func(this, v js.Value) any {
		if err := k.setResponse(this, v); err != nil {
			return k.throw(err)
		}
		return nil
	})
	answer := func(ev core.RemoteEvent, do func(*core.RemoteInvitation) error) func(js.Value, []js.Value) any {
		return func(this js.Value, _ []js.Value) any {
			rec, err := k.record(this, kindRemote)
			if err != nil {
				return k.rejected(err)
			}
			if e := k.remoteOf(rec); e != nil {
				return k.Promise(func() (any, error) { return nil, do(e.r) })
			}
			if rec.Get("ignored").Truthy() {
				return k.rejected(protocol.Errorf(protocol.CodeAlreadyEnd, "the invitation was ignored on this device"))
			}
			if _, err = core.NextRemote(remoteState(rec), ev); err == nil {
				err = protocol.Errorf(protocol.CodeUnknown, "no invitation") // cannot happen: a record alone has ended
			}
			return k.rejected(err)
		}
	}
	k.method(p, "accept", answer(core.RemoteEvAccept, func(r *core.RemoteInvitation) error {
		return r.Accept(context.Background())
	}))
	k.method(p, "refuse", answer(core.RemoteEvRefuse, func(r *core.RemoteInvitation) error {
		return r.Refuse(context.Background())
	}))
	k.method(p, "ignore", func(this js.Value, args []js.Value) any {
		rec, err := k.record(this, kindRemote)
		if err != nil {
			return k.rejected(err)
		}
		e := k.remoteOf(rec)
		if e == nil {
			return answer(core.RemoteEvRefuse, nil)(this, args) // the error the record's state gives
		}
		return k.Promise(func() (any, error) {
			if err := e.r.Ignore(context.Background()); err != nil {
				return nil, err
			}
			rec.Set("ignored", true)
			k.endRemote(e) // no event comes any more
			return nil, nil
		})
	})
	k.method(p, "hangup", k.hangup(kindRemote, func(rec js.Value) interface{ Hangup(context.Context) error } {
		if e := k.remoteOf(rec); e != nil {
			return e.r
		}
		return nil
	}))
	k.method(p, "on", func(this js.Value, args []js.Value) any {
		rec, err := k.record(this, kindRemote)
		if err == nil {
			err = on(rec, remoteEvents, arg(args, 0), arg(args, 1))
		}
		if err != nil {
			return k.throw(err)
		}
		return nil
	})
	k.method(p, "off", func(this js.Value, args []js.Value) any {
		rec, err := k.record(this, kindRemote)
		if err == nil {
			err = off(rec, remoteEvents, arg(args, 0), arg(args, 1))
		}
		if err != nil {
			return k.throw(err)
		}
		return nil
	})
	k.method(p, "toJSON", func(this js.Value, _ []js.Value) any {
		if _, err := k.record(this, kindRemote); err != nil {
			return k.throw(err)
		}
		o := newObject()
		for _, name := range []string{"callerId", "content", "channelId", "id", "response", "state", "callState", "calleeBusy", "group", "answeredBy"} {
			o.Set(name, this.Get(name))
		}
		return o
	})
	return p
}

func (k *Kit) remoteOf(rec js.Value) *remoteEntry {
	h := rec.Get("h").Int()
	if h == 0 {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.remotes[h]
}

func remoteState(rec js.Value) core.RemoteInvitationState {
	return core.RemoteInvitationState(slices.Index(remoteStateNames, rec.Get("state").String()))
}

// setResponse assigns remote.response: INVALID_ARGUMENT for a bad value,
// else what the core answers (ALREADY_ACCEPT while an accept is in flight,
// ALREADY_END after the end).
func (k *Kit) setResponse(this, v js.Value) error {
	rec, err := k.record(this, kindRemote)
	if err != nil {
		return err
	}
	s, err := StringFromJS(v, "response")
	if err != nil {
		return err
	}
	if e := k.remoteOf(rec); e != nil {
		return e.r.SetResponse(s)
	}
	if err := protocol.ValidateContent("response", s); err != nil {
		return err
	}
	_, err = core.NextRemote(remoteState(rec), core.RemoteEvRefuse)
	return err
}

// newRemote makes the JavaScript object of an incoming invitation and
// delivers RemoteInvitationReceived. It runs on the core's callback
// goroutine, so the invitation's own callbacks are set before any later
// event of it is delivered.
func (k *Kit) newRemote(s *session, r *core.RemoteInvitation) {
	rec := newRecord(kindRemote)
	rec.Set("client", s.rec)
	rec.Set("callerId", r.CallerID())
	rec.Set("content", r.Content())
	rec.Set("channelId", r.ChannelID())
	rec.Set("id", r.ID())
	rec.Set("response", "")
	rec.Set("state", r.State().String())
	rec.Set("callState", r.CallState().String())
	rec.Set("calleeBusy", r.CalleeBusy())
	rec.Set("group", groupToJS(r.Group()))
	rec.Set("answeredBy", "")
	obj := k.newPublic(k.remoteProto, rec)
	e := &remoteEntry{r: r, rec: rec, obj: obj, crec: s.rec}
	k.mu.Lock()
	e.h = k.handle()
	k.remotes[e.h] = e
	k.mu.Unlock()
	rec.Set("h", e.h)
	r.OnAccepted(func() { // the call goes on: the entry stays for CallEnded
		emit(e.rec, e.obj, EvRemoteAccepted)
		callDelegate(e.crec, "remoteInvitationAccepted", e.obj)
	})
	r.OnCallEnded(func(why core.CallEndReason, by string) {
		k.remoteEvent(e, EvCallEnded, "callEnded", why.String(), by)
	})
	r.OnRefused(func() { k.remoteEvent(e, EvRemoteRefused, "remoteInvitationRefused") })
	r.OnCanceled(func(content string) {
		emit(e.rec, e.obj, EvRemoteCanceled, content)
		callDelegate(e.crec, "remoteInvitationCanceled", e.obj)
		k.endRemote(e)
	})
	r.OnFailure(func(why core.RemoteFailureReason) {
		e.rec.Set("answeredBy", r.AnsweredBy())
		k.remoteEvent(e, EvRemoteFailure, "remoteInvitationFailure", why.String())
	})
	emit(s.rec, s.obj, EvRemoteInvitationReceived, obj)
	callDelegate(s.rec, "remoteInvitationReceived", obj)
}

// remoteEvent delivers a terminal event: the invitation's handlers, then
// the client's call delegate; then the entry ends.
func (k *Kit) remoteEvent(e *remoteEntry, name, hook string, args ...any) {
	emit(e.rec, e.obj, name, args...)
	callDelegate(e.crec, hook, append([]any{e.obj}, args...)...)
	k.endRemote(e)
}

// endRemote copies the final state and response into the record and drops
// the Go entry and the handlers.
func (k *Kit) endRemote(e *remoteEntry) {
	k.mu.Lock()
	if k.remotes[e.h] != e {
		k.mu.Unlock()
		return
	}
	delete(k.remotes, e.h)
	k.mu.Unlock()
	e.rec.Set("state", e.r.State().String())
	e.rec.Set("response", e.r.Response())
	e.rec.Set("callState", e.r.CallState().String())
	e.rec.Set("h", 0)
	e.rec.Set(handlersKey, jsNull)
	e.rec.Set("client", jsNull)
}
