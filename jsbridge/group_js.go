package jsbridge

import (
	"syscall/js"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
)

// createGroupInvitation is client.createGroupInvitation(calleeIds, {mode}):
// INVALID_ARGUMENT for a bad list or mode (mode defaults to "first").
// Nothing is kept in Go until send, as for createLocalInvitation.
func (k *Kit) createGroupInvitation(this js.Value, args []js.Value) any {
	crec, err := k.record(this, kindClient)
	if err != nil {
		return k.throw(err)
	}
	callees, err := StringsFromJS(arg(args, 0), "calleeIds")
	if err != nil {
		return k.throw(err)
	}
	mode := string(core.GroupFirst)
	if opts := arg(args, 1); !isNullish(opts) {
		if opts.Type() != js.TypeObject {
			return k.throw(invalid("createGroupInvitation takes an options object, got %s", typeName(opts)))
		}
		m, err := getProp(opts, "mode")
		if err != nil {
			return k.throw(err)
		}
		if !isNullish(m) {
			if mode, err = StringFromJS(m, "mode"); err != nil {
				return k.throw(err)
			}
		}
	}
	if err := protocol.ValidateGroup("", callees, mode); err != nil {
		return k.throw(err)
	}
	rec := newLocalRecord(crec, "")
	rec.Set("mode", mode)
	states := make(map[string]core.CalleeState, len(callees))
	for _, id := range callees {
		states[id] = core.CalleeIdle
	}
	rec.Set("calleeIds", stringsToJS(callees))
	rec.Set("callees", CalleeMapToJS(states))
	return k.newPublic(k.localProto, rec)
}

// CalleeMapToJS converts a group invitation's {id: CalleeState}.
func CalleeMapToJS(m map[string]core.CalleeState) js.Value {
	if m == nil {
		return jsNull
	}
	o := newObject()
	for k, v := range m {
		setOwn(o, k, v.String())
	}
	return o
}

// calleeUpdateToJS is the argument of LocalInvitationCallee.
func calleeUpdateToJS(u core.CalleeUpdate) js.Value {
	o := newObject()
	o.Set("calleeId", u.Callee)
	o.Set("state", u.State.String())
	if u.State == core.CalleeFailure {
		o.Set("reason", u.Reason.String())
	}
	if u.Response != "" {
		o.Set("response", u.Response)
	}
	return o
}

// stringsToJS converts a list of ids to a JavaScript array.
func stringsToJS(ids []string) js.Value {
	a := jsArray.New()
	for _, id := range ids {
		a.Call("push", id)
	}
	return a
}

// groupToJS is a remote invitation's group: {mode, callees}, or null.
func groupToJS(g *core.Group) js.Value {
	if g == nil {
		return jsNull
	}
	o := newObject()
	o.Set("mode", string(g.Mode))
	o.Set("callees", stringsToJS(g.Callees))
	return freeze(o)
}
