package jsbridge

import (
	"os"
	"strconv"
	"sync"
	"syscall/js"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// wsURL is the live server internal/wasmexec started for this run.
var wsURL = os.Getenv("RTMCALL_WS_URL")

func TestMain(m *testing.M) {
	if wsURL == "" {
		println("jsbridge: RTMCALL_WS_URL is not set; run these tests with `make test-wasm` (internal/wasmexec starts the server)")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// receiptTimeout is the server's, as the wrapper reports it.
func receiptTimeout(t *testing.T) time.Duration {
	ms, err := strconv.Atoi(os.Getenv("RTMCALL_RECEIPT_TIMEOUT_MS"))
	require.NoError(t, err)
	return time.Duration(ms) * time.Millisecond
}

// hostSource is the host of web/rtmcall.js (guard and raise), rebuilt here
// because these tests load the module without the loader.
const hostSource = `
class Raised { constructor(error) { this.error = error; } }
return {
	guard: (fn) => function (...args) {
		const result = fn.apply(this, args);
		if (result instanceof Raised) throw result.error;
		return result;
	},
	raise: (error) => new Raised(error),
};`

func newTestKit(t *testing.T) (*Kit, js.Value) {
	t.Helper()
	host := js.Global().Get("Function").New(hostSource).Invoke()
	k, err := NewKit(host, "test-version")
	require.NoError(t, err)
	return k, k.Value()
}

// await waits for a promise and returns its value; a rejection fails the test.
func await(t *testing.T, p js.Value) js.Value {
	t.Helper()
	v, err := awaitErr(p)
	require.NoError(t, err, "promise rejected: %s", describe(v))
	return v
}

// rejection waits for a promise that must reject and returns the reason.
func rejection(t *testing.T, p js.Value) js.Value {
	t.Helper()
	v, err := awaitErr(p)
	require.Error(t, err, "the promise resolved with %s", describe(v))
	return v
}

// awaitErr waits for a promise: its value, or its reason and an error.
func awaitErr(p js.Value) (js.Value, error) {
	type result struct {
		v  js.Value
		ok bool
	}
	ch := make(chan result, 1)
	onOK := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- result{arg(args, 0), true}
		return nil
	})
	onErr := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- result{arg(args, 0), false}
		return nil
	})
	defer onOK.Release()
	defer onErr.Release()
	jsPromise.Call("resolve", p).Call("then", onOK, onErr)
	select {
	case r := <-ch:
		if !r.ok {
			return r.v, js.Error{Value: r.v}
		}
		return r.v, nil
	case <-time.After(20 * time.Second):
		return jsUndef, errTimeout
	}
}

type timeoutError struct{}

func (timeoutError) Error() string { return "timed out waiting for the promise" }

var errTimeout = timeoutError{}

// thrown calls f, which must throw (a guarded function raising an
// RtmError), and returns what it threw.
func thrown(t *testing.T, f func()) (v js.Value) {
	t.Helper()
	defer func() {
		r := recover()
		jerr, ok := r.(js.Error)
		require.True(t, ok, "expected a JavaScript exception, got %v", r)
		v = jerr.Value
	}()
	f()
	return jsUndef
}

// setProp assigns obj[name] = v through Reflect.set, so that a setter
// that throws panics with a js.Error (js.Value.Set cannot catch).
func setProp(obj js.Value, name string, v any) {
	jsReflect.Call("set", obj, name, v)
}

// requireRtmError checks the shape of an RtmError and its code.
func requireRtmError(t *testing.T, v js.Value, code int, codeName string) {
	t.Helper()
	require.True(t, v.InstanceOf(jsError), "an Error instance: %s", describe(v))
	require.Equal(t, "RtmError", v.Get("name").String())
	require.Equal(t, js.TypeNumber, v.Get("code").Type())
	require.Equal(t, code, v.Get("code").Int(), describe(v))
	require.Equal(t, codeName, v.Get("codeName").String())
	require.Equal(t, js.TypeString, v.Get("message").Type())
	require.NotEmpty(t, v.Get("message").String())
}

func describe(v js.Value) string {
	if v.Type() == js.TypeObject && v.InstanceOf(jsError) {
		return v.Get("name").String() + " " + v.Get("codeName").String() + ": " + v.Get("message").String()
	}
	return jsToString.Invoke(v).String()
}

// event is one handler call: its event name, arguments, and the state the
// object showed inside the handler.
type event struct {
	name  string
	args  []js.Value
	state string
}

// recorder records events of JavaScript objects through real handlers.
type recorder struct {
	t    *testing.T
	mu   sync.Mutex
	ch   chan event
	undo []func()
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{t: t, ch: make(chan event, 256)}
	t.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, f := range r.undo {
			f()
		}
	})
	return r
}

// on registers a handler for each event name on obj.
func (r *recorder) on(obj js.Value, names ...string) {
	for _, name := range names {
		f := js.FuncOf(func(this js.Value, args []js.Value) any {
			st := this.Get("state")
			if st.IsUndefined() {
				st = this.Get("connectionState")
			}
			select {
			case r.ch <- event{name: name, args: append([]js.Value(nil), args...), state: st.String()}:
			default:
				panic("recorder: too many events")
			}
			return nil
		})
		obj.Call("on", name, f)
		r.mu.Lock()
		r.undo = append(r.undo, func() {
			obj.Call("off", name, f)
			f.Release()
		})
		r.mu.Unlock()
	}
}

// next returns the next event, which must be name.
func (r *recorder) next(name string) event {
	r.t.Helper()
	select {
	case e := <-r.ch:
		require.Equal(r.t, name, e.name, "the next event")
		return e
	case <-time.After(15 * time.Second):
		r.t.Fatalf("no %s event within 15 s", name)
		return event{}
	}
}

// none checks that no event is pending.
func (r *recorder) none() {
	r.t.Helper()
	select {
	case e := <-r.ch:
		r.t.Fatalf("unexpected event %s", e.name)
	default:
	}
}

// client returns a client of the live server, logged in as user when not empty.
func client(t *testing.T, kit js.Value, user string) js.Value {
	t.Helper()
	opts := newObject()
	opts.Set("url", wsURL)
	c := kit.Call("createClient", opts)
	if user != "" {
		await(t, c.Call("login", user))
		t.Cleanup(func() { _, _ = awaitErr(c.Call("logout")) })
	}
	return c
}

// uniq returns a user id unique to the test run, as all tests share the server.
func uniq(t *testing.T, name string) string {
	idMu.Lock()
	defer idMu.Unlock()
	idSeq++
	return name + "-" + strconv.Itoa(idSeq)
}

var (
	idMu  sync.Mutex
	idSeq int
)

// requireNoInvitations checks that the kit soon holds no Go entry for
// invitations. (A handler written in Go, as the recorder's, lets the test
// run on before the rest of the event's delivery, which drops the entry.)
func requireNoInvitations(t *testing.T, k *Kit) {
	t.Helper()
	eventually(t, func() bool {
		n := k.Live()
		return n.LocalInvitations == 0 && n.RemoteInvitations == 0
	}, "no live invitations: %+v", k.Live)
}

// eventually waits until cond holds, checking every few milliseconds, for
// at most 10 s.
func eventually(t *testing.T, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			for i, a := range args {
				if f, ok := a.(func() LiveObjects); ok {
					args[i] = f()
				}
			}
			t.Fatalf("timed out waiting for "+format, args...)
		}
		<-time.After(5 * time.Millisecond)
	}
}
