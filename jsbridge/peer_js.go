package jsbridge

import (
	"context"
	"slices"
	"syscall/js"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
)

var (
	jsUint8Array   = js.Global().Get("Uint8Array")
	callStateNames = core.Names()["CallState"]
)

// MessageFromJS converts sendMessageToPeer's message: {text: string} or
// {rawMessage: Uint8Array, description?: string}. Anything else is
// INVALID_ARGUMENT; the limits are the core's.
func MessageFromJS(v js.Value) (core.Message, error) {
	if v.Type() != js.TypeObject {
		return core.Message{}, invalid("the message must be {text} or {rawMessage, description?}, got %s", typeName(v))
	}
	raw, err := getProp(v, "rawMessage")
	if err != nil {
		return core.Message{}, err
	}
	if isNullish(raw) {
		text, err := getProp(v, "text")
		if err != nil {
			return core.Message{}, err
		}
		s, err := StringFromJS(text, "message.text")
		return core.Message{Text: s}, err
	}
	if !raw.InstanceOf(jsUint8Array) {
		return core.Message{}, invalid("message.rawMessage must be a Uint8Array, got %s", typeName(raw))
	}
	desc, err := getProp(v, "description")
	if err != nil {
		return core.Message{}, err
	}
	d, err := OptionalStringFromJS(desc, "message.description")
	if err != nil {
		return core.Message{}, err
	}
	b := make([]byte, raw.Length())
	js.CopyBytesToGo(b, raw)
	return core.Message{Raw: b, Description: d}, nil
}

// MessageToJS is the message object of MessageFromPeer: {text, messageType:
// "TEXT"} or {rawMessage, description, messageType: "RAW"}.
func MessageToJS(m core.Message) js.Value {
	o := newObject()
	if m.Raw != nil {
		b := jsUint8Array.New(len(m.Raw))
		js.CopyBytesToJS(b, m.Raw)
		o.Set("rawMessage", b)
		o.Set("description", m.Description)
		o.Set("messageType", "RAW")
		return o
	}
	o.Set("text", m.Text)
	o.Set("messageType", "TEXT")
	return o
}

// sendMessageToPeer is client.sendMessageToPeer(message, peerId): it resolves
// to {hasPeerReceived}.
func (k *Kit) sendMessageToPeer(this js.Value, args []js.Value) any {
	rec, err := k.record(this, kindClient)
	if err != nil {
		return k.rejected(err)
	}
	msg, err := MessageFromJS(arg(args, 0))
	if err != nil {
		return k.rejected(err)
	}
	peer, err := StringFromJS(arg(args, 1), "peerId")
	if err != nil {
		return k.rejected(err)
	}
	c, err := k.coreClient(rec)
	if err != nil {
		return k.rejected(err)
	}
	return k.Promise(func() (any, error) {
		got, err := c.SendMessageToPeer(context.Background(), peer, msg)
		if err != nil {
			return nil, err
		}
		o := newObject()
		o.Set("hasPeerReceived", got)
		return o, nil
	})
}

// setCallWaiting is client.setCallWaiting(on): per session, see core.
func (k *Kit) setCallWaiting(this js.Value, args []js.Value) any {
	rec, err := k.record(this, kindClient)
	if err != nil {
		return k.rejected(err)
	}
	on := arg(args, 0)
	if on.Type() != js.TypeBoolean {
		return k.rejected(invalid("setCallWaiting takes a boolean, got %s", typeName(on)))
	}
	c, err := k.coreClient(rec)
	if err != nil {
		return k.rejected(err)
	}
	return k.Promise(func() (any, error) { return nil, c.SetCallWaiting(context.Background(), on.Bool()) })
}

// hangup returns the hangup method of an invitation of kind: the core's
// Hangup while the invitation is live, else the error the call machine
// gives for the state its record holds.
func (k *Kit) hangup(kind string, live func(rec js.Value) interface{ Hangup(context.Context) error }) func(js.Value, []js.Value) any {
	return func(this js.Value, _ []js.Value) any {
		rec, err := k.record(this, kind)
		if err != nil {
			return k.rejected(err)
		}
		if h := live(rec); h != nil {
			return k.Promise(func() (any, error) { return nil, h.Hangup(context.Background()) })
		}
		st := core.CallState(slices.Index(callStateNames, rec.Get("callState").String()))
		if _, err = core.NextCall(st, core.CallEvHangup); err == nil {
			err = protocol.Errorf(protocol.CodeUnknown, "hangup: no call") // cannot happen: a record alone is not in a call
		}
		return k.rejected(err)
	}
}
