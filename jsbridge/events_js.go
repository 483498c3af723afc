package jsbridge

import (
	"slices"
	"syscall/js"
)

// Event names, exactly as JavaScript passes them to on and off.
const (
	EvRemoteInvitationReceived = "RemoteInvitationReceived"
	EvConnectionStateChanged   = "ConnectionStateChanged"
	EvPeersOnlineStatusChanged = "PeersOnlineStatusChanged"
	EvTokenPrivilegeWillExpire = "TokenPrivilegeWillExpire"
	EvLocalReceivedByPeer      = "LocalInvitationReceivedByPeer"
	EvLocalWaking              = "LocalInvitationWaking"
	EvLocalAccepted            = "LocalInvitationAccepted"
	EvLocalRefused             = "LocalInvitationRefused"
	EvLocalCanceled            = "LocalInvitationCanceled"
	EvLocalFailure             = "LocalInvitationFailure"
	EvRemoteAccepted           = "RemoteInvitationAccepted"
	EvRemoteRefused            = "RemoteInvitationRefused"
	EvRemoteCanceled           = "RemoteInvitationCanceled"
	EvRemoteFailure            = "RemoteInvitationFailure"
	EvMessageFromPeer          = "MessageFromPeer"
	EvCallEnded                = "CallEnded"
	EvLocalCallee              = "LocalInvitationCallee" // one callee's event on a group invitation
	EvCalleeCallEnded          = "CalleeCallEnded"       // one leg of a group call ended
)

// Keys of a record (see records.go).
const (
	handlersKey = "handlers"
	delegateKey = "delegate"
)

var (
	clientEvents = []string{EvRemoteInvitationReceived, EvConnectionStateChanged, EvPeersOnlineStatusChanged,
		EvTokenPrivilegeWillExpire, EvMessageFromPeer}
	localEvents = []string{EvLocalReceivedByPeer, EvLocalWaking, EvLocalAccepted, EvLocalRefused, EvLocalCanceled, EvLocalFailure, EvCallEnded,
		EvLocalCallee, EvCalleeCallEnded}
	remoteEvents = []string{EvRemoteAccepted, EvRemoteRefused, EvRemoteCanceled, EvRemoteFailure, EvCallEnded}
)

// on adds fn to the handlers of event name in rec. The same function added
// twice runs twice. Once an object has ended (rec has no handlers any more)
// no event can come, and on keeps nothing.
func on(rec js.Value, events []string, name, fn js.Value) error {
	ev, err := eventName(events, name)
	if err != nil {
		return err
	}
	if fn.Type() != js.TypeFunction {
		return invalid("the handler of %s must be a function, got %s", ev, typeName(fn))
	}
	hs := rec.Get(handlersKey)
	if hs.Type() != js.TypeObject {
		return nil
	}
	list := hs.Get(ev)
	if list.IsUndefined() {
		list = jsArray.New()
		hs.Set(ev, list)
	}
	list.Call("push", fn)
	return nil
}

// off removes the most recent registration of fn for event name, or every
// handler of that event when fn is undefined.
func off(rec js.Value, events []string, name, fn js.Value) error {
	ev, err := eventName(events, name)
	if err != nil {
		return err
	}
	if !fn.IsUndefined() && fn.Type() != js.TypeFunction {
		return invalid("the handler of %s must be a function, got %s", ev, typeName(fn))
	}
	hs := rec.Get(handlersKey)
	if hs.Type() != js.TypeObject {
		return nil
	}
	if fn.IsUndefined() {
		hs.Delete(ev)
		return nil
	}
	list := hs.Get(ev)
	if list.IsUndefined() {
		return nil
	}
	if i := list.Call("lastIndexOf", fn).Int(); i >= 0 {
		list.Call("splice", i, 1)
	}
	return nil
}

func eventName(events []string, name js.Value) (string, error) {
	if name.Type() != js.TypeString {
		return "", invalid("the event name must be a string, got %s", typeName(name))
	}
	ev := name.String()
	if !slices.Contains(events, ev) {
		return "", invalid("unknown event %q (events: %v)", ev, events)
	}
	return ev, nil
}

// emit calls every handler of event name in rec, in registration order,
// with this set to obj. It works on a copy of the list, so a handler may
// call on or off. A handler that throws is reported with console.error and
// the others still run.
func emit(rec, obj js.Value, name string, args ...any) {
	hs := rec.Get(handlersKey)
	if hs.Type() != js.TypeObject {
		return
	}
	list := hs.Get(name)
	if list.Type() != js.TypeObject || list.Length() == 0 {
		return
	}
	list = list.Call("slice")
	for i, n := 0, list.Length(); i < n; i++ {
		callSafe("a handler of "+name, list.Index(i), obj, args...)
	}
}

// callDelegate calls the hook method of the call delegate stored in the
// client record crec, if the delegate has one, with this set to the delegate.
func callDelegate(crec js.Value, hook string, args ...any) {
	if crec.Type() != js.TypeObject {
		return
	}
	d := crec.Get(delegateKey)
	if d.Type() != js.TypeObject && d.Type() != js.TypeFunction {
		return
	}
	fn, err := getProp(d, hook)
	if err != nil {
		jsConsole.Call("error", "rtmcall: the call delegate's "+hook+": "+err.Error())
		return
	}
	if fn.Type() != js.TypeFunction {
		return
	}
	callSafe("the call delegate's "+hook, fn, d, args...)
}

// callSafe calls fn with this and args; if it throws, the exception is
// reported with console.error and swallowed, so that one faulty user
// callback breaks neither the module nor the other callbacks.
func callSafe(what string, fn, this js.Value, args ...any) {
	defer func() {
		if r := recover(); r != nil {
			jerr, ok := r.(js.Error)
			if !ok {
				panic(r)
			}
			jsConsole.Call("error", "rtmcall: "+what+" threw:", jerr.Value)
		}
	}()
	fn.Call("call", append([]any{this}, args...)...)
}
