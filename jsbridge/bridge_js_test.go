package jsbridge

import (
	"errors"
	"fmt"
	"strings"
	"syscall/js"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
)

func jsEval(src string) js.Value { return js.Global().Get("Function").New("return " + src).Invoke() }

func TestStringsFromJS(t *testing.T) {
	got, err := StringsFromJS(jsEval(`["alice", "bob", ""]`), "ids")
	require.NoError(t, err)
	assert.Equal(t, []string{"alice", "bob", ""}, got)
	got, err = StringsFromJS(jsEval(`[]`), "ids")
	require.NoError(t, err)
	assert.Empty(t, got)
	for _, bad := range []string{`"alice"`, `{0: "a", length: 1}`, `["a", 1]`, `[null]`, `undefined`, `null`} {
		_, err := StringsFromJS(jsEval(bad), "ids")
		assert.Equal(t, protocol.CodeInvalidArgument, core.CodeOf(err), bad)
		assert.Contains(t, err.Error(), "ids", bad)
	}
}

func TestScalarsFromJS(t *testing.T) {
	s, err := StringFromJS(js.ValueOf("héllo"), "content")
	require.NoError(t, err)
	assert.Equal(t, "héllo", s)
	_, err = StringFromJS(js.ValueOf(5), "content")
	assert.Equal(t, protocol.CodeInvalidArgument, core.CodeOf(err))
	s, err = OptionalStringFromJS(js.Undefined(), "token")
	require.NoError(t, err)
	assert.Empty(t, s)
	s, err = OptionalStringFromJS(js.Null(), "token")
	require.NoError(t, err)
	assert.Empty(t, s)

	for src, want := range map[string]int64{`0`: 0, `1000`: 1000, `600000`: 600000, `1.0`: 1} {
		ms, err := MillisFromJS(jsEval(src), "timeoutMs")
		require.NoError(t, err, src)
		assert.Equal(t, want, ms)
	}
	for _, bad := range []string{`1.5`, `-1`, `NaN`, `Infinity`, `"1000"`, `null`, `1e300`} {
		_, err := MillisFromJS(jsEval(bad), "timeoutMs")
		assert.Equal(t, protocol.CodeInvalidArgument, core.CodeOf(err), bad)
	}
}

func TestMapsToJS(t *testing.T) {
	o := BoolMapToJS(map[string]bool{"alice": true, "bob": false, "__proto__": true})
	assert.Equal(t, `{"alice":true,"bob":false,"__proto__":true}`, sortedJSON(o))
	assert.True(t, jsObject.Call("getPrototypeOf", o).Equal(jsObject.Get("prototype")), "a plain object")

	o = StatusMapToJS(map[string]core.PeerStatus{"alice": core.PeerOnline, "bob": core.PeerOffline, "carol": core.PeerUnreachable})
	assert.Equal(t, `{"alice":"ONLINE","bob":"OFFLINE","carol":"UNREACHABLE"}`, sortedJSON(o))
}

// sortedJSON is JSON.stringify with keys in order, "__proto__" last.
func sortedJSON(o js.Value) string {
	return jsEval(`(o) => { const keys = Object.keys(o).sort((a, b) => (a === "__proto__") - (b === "__proto__") || (a < b ? -1 : 1)); return JSON.stringify(o, keys); }`).Invoke(o).String()
}

func TestErrorToJS(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		code     int
		codeName string
		message  string
	}{
		{"protocol error", protocol.Errorf(protocol.CodeAlreadyEnd, "the invitation has ended"), 3, "ALREADY_END", "the invitation has ended"},
		{"bare code", &protocol.Error{Code: protocol.CodeNotStarted}, 2, "NOT_STARTED", "NOT_STARTED"},
		{"wrapped sentinel", fmt.Errorf("%w: IDLE -cancel->", core.ErrNotStarted), 2, "NOT_STARTED", "NOT_STARTED: IDLE -cancel->"},
		{"login error", protocol.Errorf(protocol.CodeInvalidToken, "bad signature"), 103, "INVALID_TOKEN", "bad signature"},
		{"not a protocol error", errors.New("disk on fire"), 100, "UNKNOWN", "disk on fire"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := ErrorToJS(tt.err)
			requireRtmError(t, v, tt.code, tt.codeName)
			assert.Equal(t, tt.message, v.Get("message").String())
			assert.True(t, strings.HasPrefix(jsToString.Invoke(v).String(), "RtmError: "), "toString")
		})
	}
}

func TestPromise(t *testing.T) {
	k, _ := newTestKit(t)
	before := k.Live().Funcs

	p := k.Promise(func() (any, error) { return "done", nil })
	require.True(t, p.InstanceOf(jsPromise))
	assert.Equal(t, "done", await(t, p).String())

	assert.True(t, await(t, k.Promise(func() (any, error) { return nil, nil })).IsUndefined(), "nil resolves undefined")
	assert.Equal(t, `{"a":true}`, sortedJSON(await(t, k.Promise(func() (any, error) {
		return BoolMapToJS(map[string]bool{"a": true}), nil
	}))))

	v := rejection(t, k.Promise(func() (any, error) { return nil, protocol.Errorf(protocol.CodeNotLoggedIn, "log in first") }))
	requireRtmError(t, v, 204, "NOT_LOGGED_IN")
	v = rejection(t, k.Promise(func() (any, error) { return "ignored", errors.New("boom") }))
	requireRtmError(t, v, 100, "UNKNOWN")

	requireRtmError(t, rejection(t, k.rejected(core.ErrAlreadyEnd)), 3, "ALREADY_END")
	assert.True(t, await(t, k.resolved()).IsUndefined())
	assert.Equal(t, before, k.Live().Funcs, "the executors are released")
}

func TestHandlers(t *testing.T) {
	k, _ := newTestKit(t)
	rec := newRecord(kindLocal)
	obj := k.newPublic(k.localProto, rec)
	var calls []string
	mk := func(name string) js.Func {
		f := js.FuncOf(func(this js.Value, args []js.Value) any {
			assert.True(t, this.Equal(obj), "this is the object")
			calls = append(calls, name+":"+args[0].String())
			return nil
		})
		t.Cleanup(f.Release)
		return f
	}
	a, b := mk("a"), mk("b")
	ev := js.ValueOf(EvLocalAccepted)
	require.NoError(t, on(rec, localEvents, ev, a.Value))
	require.NoError(t, on(rec, localEvents, ev, b.Value))
	require.NoError(t, on(rec, localEvents, ev, a.Value))
	emit(rec, obj, EvLocalAccepted, "yes")
	assert.Equal(t, []string{"a:yes", "b:yes", "a:yes"}, calls, "in registration order, twice when added twice")

	calls = nil
	require.NoError(t, off(rec, localEvents, ev, a.Value))
	emit(rec, obj, EvLocalAccepted, "1")
	assert.Equal(t, []string{"a:1", "b:1"}, calls, "off removes the most recent registration")

	calls = nil
	require.NoError(t, off(rec, localEvents, ev, js.Undefined()))
	emit(rec, obj, EvLocalAccepted, "2")
	emit(rec, obj, EvLocalRefused, "2")
	assert.Empty(t, calls, "off without a function removes all")

	for _, bad := range []struct {
		name, fn js.Value
	}{
		{js.ValueOf("RemoteInvitationAccepted"), a.Value}, // a remote event on a local invitation
		{js.ValueOf("localinvitationaccepted"), a.Value},
		{js.ValueOf(3), a.Value},
		{ev, js.ValueOf("not a function")},
		{ev, js.Null()},
	} {
		err := on(rec, localEvents, bad.name, bad.fn)
		assert.Equal(t, protocol.CodeInvalidArgument, core.CodeOf(err), "on(%s, %s)", describe(bad.name), describe(bad.fn))
	}
	assert.Equal(t, protocol.CodeInvalidArgument, core.CodeOf(off(rec, localEvents, js.ValueOf("nope"), a.Value)))

	// Through the public methods, bad arguments throw.
	requireRtmError(t, thrown(t, func() { obj.Call("on", "Nope", a) }), 1, "INVALID_ARGUMENT")
	requireRtmError(t, thrown(t, func() { obj.Call("off", EvLocalAccepted, 42) }), 1, "INVALID_ARGUMENT")
}

// TestThrowingHandler checks that a handler that throws is reported with
// console.error and does not stop the other handlers.
func TestThrowingHandler(t *testing.T) {
	k, _ := newTestKit(t)
	rec := newRecord(kindRemote)
	obj := k.newPublic(k.remoteProto, rec)
	var reported []string
	restore := captureConsoleError(t, &reported)
	defer restore()
	bad := jsEval(`function () { throw new TypeError("handler bug"); }`)
	alsoBad := jsEval(`function () { throw "a string"; }`)
	var ran []string
	good := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ran = append(ran, args[0].String())
		return nil
	})
	defer good.Release()
	obj.Call("on", EvRemoteCanceled, bad)
	obj.Call("on", EvRemoteCanceled, alsoBad)
	obj.Call("on", EvRemoteCanceled, good)
	emit(rec, obj, EvRemoteCanceled, "content")
	assert.Equal(t, []string{"content"}, ran, "the good handler ran")
	require.Len(t, reported, 2)
	assert.Contains(t, reported[0], "a handler of RemoteInvitationCanceled threw")
	assert.Contains(t, reported[0], "handler bug")
	assert.Contains(t, reported[1], "a string")

	// A delegate hook that throws is isolated the same way.
	crec := newRecord(kindClient)
	crec.Set(delegateKey, jsEval(`{ remoteInvitationCanceled() { throw new Error("delegate bug"); } }`))
	callDelegate(crec, "remoteInvitationCanceled", obj)
	require.Len(t, reported, 3)
	assert.Contains(t, reported[2], "the call delegate's remoteInvitationCanceled threw")
}

func captureConsoleError(t *testing.T, into *[]string) (restore func()) {
	orig := jsConsole.Get("error")
	f := js.FuncOf(func(_ js.Value, args []js.Value) any {
		var parts []string
		for _, a := range args {
			parts = append(parts, jsToString.Invoke(a).String())
		}
		*into = append(*into, strings.Join(parts, " "))
		return nil
	})
	jsConsole.Set("error", f)
	return func() {
		jsConsole.Set("error", orig)
		f.Release()
	}
}

func TestKitObject(t *testing.T) {
	_, kit := newTestKit(t)
	assert.Equal(t, "test-version", kit.Get("version").String())
	assert.True(t, jsObject.Call("isFrozen", kit).Bool(), "the kit is frozen")
	for name, members := range core.Names() {
		e := kit.Get(name)
		require.Equal(t, js.TypeObject, e.Type(), name)
		assert.True(t, jsObject.Call("isFrozen", e).Bool(), name)
		assert.Equal(t, len(members), jsObject.Call("keys", e).Length(), name)
		for _, m := range members {
			assert.Equal(t, m, e.Get(m).String(), "%s.%s", name, m)
		}
	}
	codes := kit.Get("ErrorCode")
	assert.True(t, jsObject.Call("isFrozen", codes).Bool())
	for _, c := range protocol.Codes() {
		assert.Equal(t, int(c), codes.Get(c.String()).Int(), c.String())
	}
	assert.Equal(t, 3, codes.Get("ALREADY_END").Int())
	assert.Equal(t, "ANSWERED_ELSEWHERE", kit.Get("RemoteInvitationFailureReason").Get("ANSWERED_ELSEWHERE").String())
	assert.False(t, jsObject.Call("keys", kit).Call("includes", "_debug").Bool(), "_debug is not enumerable")
	live := kit.Get("_debug").Call("liveObjects")
	assert.Equal(t, 0, live.Get("clients").Int())
	assert.Positive(t, live.Get("funcs").Int())
}

func TestCreateClient(t *testing.T) {
	_, kit := newTestKit(t)
	c := kit.Call("createClient", jsEval(`{url: "ws://127.0.0.1:1/ws"}`))
	assert.Equal(t, "", c.Get("userId").String())
	assert.Equal(t, "DISCONNECTED", c.Get("connectionState").String())
	assert.Equal(t, `{"userId":"","connectionState":"DISCONNECTED"}`, js.Global().Get("JSON").Call("stringify", c).String())
	assert.Equal(t, "[object RtmClient]", jsObject.Get("prototype").Get("toString").Call("call", c).String())
	kit.Call("createClient", jsEval(`{url: new URL("wss://example.com/ws"), requestTimeoutMs: 5000}`))
	// Without a url, the page's own server (the test page's location).
	kit.Call("createClient")

	for _, bad := range []string{`{url: "http://x/ws"}`, `{url: 42}`, `"ws://x/ws"`, `{url: "ws://x/ws", requestTimeoutMs: -1}`} {
		requireRtmError(t, thrown(t, func() { kit.Call("createClient", jsEval(bad)) }), 1, "INVALID_ARGUMENT")
	}
	// Methods need their object.
	requireRtmError(t, thrown(t, func() { c.Get("on").Call("call", jsEval(`{}`), "ConnectionStateChanged", jsEval(`() => {}`)) }), 1, "INVALID_ARGUMENT")
	requireRtmError(t, rejection(t, c.Get("login").Call("call", js.Null(), "alice")), 1, "INVALID_ARGUMENT")
	requireRtmError(t, thrown(t, func() { c.Call("setCallDelegate", 5) }), 1, "INVALID_ARGUMENT")
	c.Call("setCallDelegate", jsEval(`{}`))
	c.Call("setCallDelegate", js.Null())
}

// TestHostileValues: getters and proxies that throw become RtmErrors (or a
// console.error for a delegate) instead of unwinding through Go.
func TestHostileValues(t *testing.T) {
	k, kit := newTestKit(t)
	_, err := StringsFromJS(jsEval(`new Proxy(["a"], { get(t, k) { if (k === "0") throw new Error("trap"); return t[k]; } })`), "ids")
	assert.Equal(t, protocol.CodeInvalidArgument, core.CodeOf(err))
	assert.Contains(t, err.Error(), "trap")

	requireRtmError(t, thrown(t, func() {
		kit.Call("createClient", jsEval(`{ get url() { throw new Error("no url for you"); } }`))
	}), 1, "INVALID_ARGUMENT")
	requireRtmError(t, thrown(t, func() {
		kit.Call("createClient", jsEval(`{ url: { get href() { throw new Error("nope"); } } }`))
	}), 1, "INVALID_ARGUMENT")

	var reported []string
	restore := captureConsoleError(t, &reported)
	crec := newRecord(kindClient)
	crec.Set(delegateKey, jsEval(`new Proxy({}, { get() { throw new Error("proxy trap"); } })`))
	callDelegate(crec, "remoteInvitationAccepted", js.Null())
	restore()
	require.Len(t, reported, 1)
	assert.Contains(t, reported[0], "proxy trap")

	c := kit.Call("createClient", jsEval(`{url: "ws://127.0.0.1:1/ws"}`))
	requireRtmError(t, thrown(t, func() { c.Get("toJSON").Call("call", jsEval(`{}`)) }), 1, "INVALID_ARGUMENT")
	l := c.Call("createLocalInvitation", "bob")
	requireRtmError(t, thrown(t, func() { l.Get("toJSON").Call("call", c) }), 1, "INVALID_ARGUMENT")
	requireRtmError(t, thrown(t, func() {
		jsReflect.Call("get", k.localProto, "state", jsEval(`{}`)) // the getter with a foreign this
	}), 1, "INVALID_ARGUMENT")
}

func TestMessageFromJS(t *testing.T) {
	m, err := MessageFromJS(jsEval(`{ text: "offer" }`))
	require.NoError(t, err)
	assert.Equal(t, core.Message{Text: "offer"}, m)
	m, err = MessageFromJS(jsEval(`{ rawMessage: new Uint8Array([0, 1, 255]), description: "ice" }`))
	require.NoError(t, err)
	assert.Equal(t, core.Message{Raw: []byte{0, 1, 255}, Description: "ice"}, m)
	for _, bad := range []string{`"offer"`, `{}`, `{ text: 5 }`, `{ rawMessage: [1, 2] }`,
		`{ rawMessage: new Uint8Array(1), description: 7 }`, `null`} {
		_, err := MessageFromJS(jsEval(bad))
		assert.Equal(t, protocol.CodeInvalidArgument, core.CodeOf(err), bad)
	}

	raw := MessageToJS(core.Message{Raw: []byte{7, 8}, Description: "d"})
	assert.Equal(t, "RAW", raw.Get("messageType").String())
	assert.True(t, raw.Get("rawMessage").InstanceOf(js.Global().Get("Uint8Array")))
	assert.Equal(t, 2, raw.Get("rawMessage").Length())
	assert.Equal(t, "d", raw.Get("description").String())
	text := MessageToJS(core.Message{Text: "hi"})
	assert.Equal(t, "TEXT", text.Get("messageType").String())
	assert.Equal(t, "hi", text.Get("text").String())
}
