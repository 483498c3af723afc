package jsbridge

import (
	"math"
	"syscall/js"

	"github.com/rtmcall/rtmcall/core"
)

// StringsFromJS converts a JavaScript array of strings. Anything else (not
// an array, or an element that is not a string) is INVALID_ARGUMENT.
func StringsFromJS(v js.Value, what string) ([]string, error) {
	if v.Type() != js.TypeObject || !jsArray.Call("isArray", v).Bool() {
		return nil, invalid("%s must be an array of strings, got %s", what, typeName(v))
	}
	length, err := getProp(v, "length")
	if err != nil {
		return nil, err
	}
	n := length.Int()
	out := make([]string, n)
	for i := range n {
		e, err := getProp(v, i)
		if err != nil {
			return nil, err
		}
		if e.Type() != js.TypeString {
			return nil, invalid("%s[%d] must be a string, got %s", what, i, typeName(e))
		}
		out[i] = e.String()
	}
	return out, nil
}

// StringFromJS converts a JavaScript string; anything else is INVALID_ARGUMENT.
func StringFromJS(v js.Value, what string) (string, error) {
	if v.Type() != js.TypeString {
		return "", invalid("%s must be a string, got %s", what, typeName(v))
	}
	return v.String(), nil
}

// OptionalStringFromJS is StringFromJS where undefined and null mean "".
func OptionalStringFromJS(v js.Value, what string) (string, error) {
	if isNullish(v) {
		return "", nil
	}
	return StringFromJS(v, what)
}

// MillisFromJS converts a whole, non-negative number of milliseconds, such
// as a timeout; anything else is INVALID_ARGUMENT.
func MillisFromJS(v js.Value, what string) (int64, error) {
	if v.Type() != js.TypeNumber {
		return 0, invalid("%s must be a number of milliseconds, got %s", what, typeName(v))
	}
	f := v.Float()
	if math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) || f < 0 || f > 1<<53 {
		return 0, invalid("%s must be a whole number of milliseconds from 0, got %v", what, f)
	}
	return int64(f), nil
}

// BoolMapToJS converts {id: bool}, as queryPeersOnlineStatus resolves.
func BoolMapToJS(m map[string]bool) js.Value {
	o := newObject()
	for k, v := range m {
		setOwn(o, k, v)
	}
	return o
}

// StatusMapToJS converts {id: "ONLINE" | "OFFLINE" | "UNREACHABLE"}, as
// PeersOnlineStatusChanged receives.
func StatusMapToJS(m map[string]core.PeerStatus) js.Value {
	o := newObject()
	for k, v := range m {
		setOwn(o, k, v.String())
	}
	return o
}

// setOwn sets an own enumerable property, even one named "__proto__" (a
// valid user id), which a plain assignment would take as the prototype.
func setOwn(o js.Value, key string, v any) {
	if key != "__proto__" {
		o.Set(key, v)
		return
	}
	d := newObject()
	d.Set("value", v)
	d.Set("enumerable", true)
	d.Set("writable", true)
	d.Set("configurable", true)
	jsObject.Call("defineProperty", o, key, d)
}

// enumToJS returns the frozen {NAME: "NAME"} object of an enum's names.
func enumToJS(names []string) js.Value {
	o := newObject()
	for _, n := range names {
		o.Set(n, n)
	}
	return freeze(o)
}

// typeName describes v's type for error messages.
func typeName(v js.Value) string {
	switch v.Type() {
	case js.TypeObject:
		if jsArray.Call("isArray", v).Bool() {
			return "an array"
		}
		return "an object"
	case js.TypeNull:
		return "null"
	case js.TypeUndefined:
		return "undefined"
	default:
		return "a " + v.Type().String()
	}
}
