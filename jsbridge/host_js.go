package jsbridge

import (
	"errors"
	"syscall/js"
)

// Host holds what only JavaScript can provide, passed in by the loader
// (web/rtmcall.js) on the hook object:
//
//	guard(fn)     returns a function that calls fn with the same this and
//	              arguments and throws r.error when fn returned a raised value r
//	raise(error)  returns a value that a guarded function throws
type Host struct {
	guard js.Value
	raise js.Value
}

// NewHost checks that v has the host's functions.
func NewHost(v js.Value) (Host, error) {
	if v.Type() != js.TypeObject {
		return Host{}, errors.New("jsbridge: the host is not an object")
	}
	h := Host{guard: v.Get("guard"), raise: v.Get("raise")}
	if h.guard.Type() != js.TypeFunction || h.raise.Type() != js.TypeFunction {
		return Host{}, errors.New("jsbridge: the host has no guard or raise function")
	}
	return h, nil
}

var (
	jsObject   = js.Global().Get("Object")
	jsArray    = js.Global().Get("Array")
	jsError    = js.Global().Get("Error")
	jsPromise  = js.Global().Get("Promise")
	jsWeakMap  = js.Global().Get("WeakMap")
	jsReflect  = js.Global().Get("Reflect")
	jsSymbol   = js.Global().Get("Symbol")
	jsConsole  = js.Global().Get("console")
	jsUndef    = js.Undefined()
	jsNull     = js.Null()
	jsToString = js.Global().Get("String")
)

// newObject returns a new empty plain object.
func newObject() js.Value { return jsObject.New() }

// newDict returns an object without a prototype, for maps keyed by user data.
func newDict() js.Value { return jsObject.Call("create", jsNull) }

// freeze freezes v and returns it.
func freeze(v js.Value) js.Value { return jsObject.Call("freeze", v) }

// arg returns args[i], or undefined when the caller passed fewer arguments.
func arg(args []js.Value, i int) js.Value {
	if i < len(args) {
		return args[i]
	}
	return jsUndef
}

// isNullish reports whether v is undefined or null.
func isNullish(v js.Value) bool { return v.IsUndefined() || v.IsNull() }

// getProp reads obj[key] from an object the page gave us. Unlike
// js.Value.Get, it survives a getter or proxy that throws (Go cannot
// unwind a JavaScript exception that passes through js.Value.Get): the
// exception becomes an INVALID_ARGUMENT error.
func getProp(obj js.Value, key any) (v js.Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			jerr, ok := r.(js.Error)
			if !ok {
				panic(r)
			}
			v, err = jsUndef, invalid("reading %v threw: %s", key, jsToString.Invoke(jerr.Value).String())
		}
	}()
	return jsReflect.Call("get", obj, key), nil
}
