package jsbridge

import (
	"slices"
	"sync"
	"syscall/js"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
)

// Kit is one instance of the JavaScript API: the kit object, its three
// prototypes, and the Go entries of what is live. A page normally has one.
type Kit struct {
	host    Host
	records js.Value // WeakMap: public object -> its record
	value   js.Value // the kit object

	clientProto js.Value
	localProto  js.Value
	remoteProto js.Value

	mu       sync.Mutex
	nextH    int
	funcs    int // js.Funcs made by this kit and not yet released
	sessions map[int]*session
	locals   map[int]*localEntry
	remotes  map[int]*remoteEntry
}

// NewKit builds the kit object that load() resolves to: version, the frozen
// enums, ErrorCode, createClient, and _debug (internal, for tests).
func NewKit(host js.Value, version string) (*Kit, error) {
	h, err := NewHost(host)
	if err != nil {
		return nil, err
	}
	k := &Kit{
		host:     h,
		records:  jsWeakMap.New(),
		sessions: make(map[int]*session),
		locals:   make(map[int]*localEntry),
		remotes:  make(map[int]*remoteEntry),
	}
	k.clientProto = k.newClientProto()
	k.localProto = k.newLocalProto()
	k.remoteProto = k.newRemoteProto()

	kit := newObject()
	kit.Set("version", version)
	names := core.Names()
	keys := make([]string, 0, len(names))
	for name := range names {
		keys = append(keys, name)
	}
	slices.Sort(keys)
	for _, name := range keys {
		kit.Set(name, enumToJS(names[name]))
	}
	codes := newObject()
	for _, c := range protocol.Codes() {
		codes.Set(c.String(), int(c))
	}
	kit.Set("ErrorCode", freeze(codes))
	kit.Set("createClient", k.fn(k.createClient))

	debug := newObject()
	debug.Set("liveObjects", k.fn(func(js.Value, []js.Value) any { return k.liveObjects() }))
	hidden := newObject()
	hidden.Set("value", freeze(debug))
	jsObject.Call("defineProperty", kit, "_debug", hidden)
	k.value = freeze(kit)
	return k, nil
}

// Value is the kit object.
func (k *Kit) Value() js.Value { return k.value }

// LiveObjects counts the Go entries of live clients (sessions) and
// invitations, and the kit's unreleased js.Funcs (a constant once the kit
// is built). kit._debug.liveObjects() returns it.
type LiveObjects struct {
	Clients, LocalInvitations, RemoteInvitations, Funcs int
}

// Live returns the current counts.
func (k *Kit) Live() LiveObjects {
	k.mu.Lock()
	defer k.mu.Unlock()
	return LiveObjects{len(k.sessions), len(k.locals), len(k.remotes), k.funcs}
}

func (k *Kit) liveObjects() js.Value {
	n := k.Live()
	o := newObject()
	o.Set("clients", n.Clients)
	o.Set("localInvitations", n.LocalInvitations)
	o.Set("remoteInvitations", n.RemoteInvitations)
	o.Set("funcs", n.Funcs)
	return o
}

// funcOf is js.FuncOf with accounting; release it with k.release.
func (k *Kit) funcOf(f func(this js.Value, args []js.Value) any) js.Func {
	k.mu.Lock()
	k.funcs++
	k.mu.Unlock()
	return js.FuncOf(f)
}

func (k *Kit) release(f js.Func) {
	f.Release()
	k.mu.Lock()
	k.funcs--
	k.mu.Unlock()
}

// fn returns a guarded function for the lifetime of the kit: when f
// returns a value made by k.throw, the caller gets it thrown.
func (k *Kit) fn(f func(this js.Value, args []js.Value) any) js.Value {
	return k.host.guard.Invoke(k.funcOf(f))
}

// method defines a non-enumerable method on a prototype.
func (k *Kit) method(proto js.Value, name string, f func(this js.Value, args []js.Value) any) {
	d := newObject()
	d.Set("value", k.fn(f))
	d.Set("writable", true)
	d.Set("configurable", true)
	jsObject.Call("defineProperty", proto, name, d)
}

// accessor defines an enumerable property with a getter and, when set is
// not nil, a setter.
func (k *Kit) accessor(proto js.Value, name string, get func(this js.Value) any, set func(this js.Value, v js.Value) any) {
	d := newObject()
	d.Set("get", k.fn(func(this js.Value, _ []js.Value) any { return get(this) }))
	if set != nil {
		d.Set("set", k.fn(func(this js.Value, args []js.Value) any { return set(this, arg(args, 0)) }))
	}
	d.Set("enumerable", true)
	d.Set("configurable", true)
	jsObject.Call("defineProperty", proto, name, d)
}

// newProto returns an empty prototype whose objects print as tag.
func newProto(tag string) js.Value {
	p := newObject()
	d := newObject()
	d.Set("value", tag)
	jsReflect.Call("defineProperty", p, jsSymbol.Get("toStringTag"), d)
	return p
}

// newPublic returns a new object of proto with its record.
func (k *Kit) newPublic(proto, rec js.Value) js.Value {
	obj := jsObject.Call("create", proto)
	k.records.Call("set", obj, rec)
	return obj
}

// record returns the record of this, a public object of the given kind
// ("Client", "LocalInvitation" or "RemoteInvitation").
func (k *Kit) record(this js.Value, kind string) (js.Value, error) {
	if this.Type() == js.TypeObject {
		rec := k.records.Call("get", this)
		if rec.Type() == js.TypeObject && rec.Get("kind").String() == kind {
			return rec, nil
		}
	}
	return jsUndef, invalid("this is not a %s: call its methods on the object itself", kind)
}

// newRecord returns a record of the given kind with an empty handler list.
func newRecord(kind string) js.Value {
	rec := newObject()
	rec.Set("kind", kind)
	rec.Set("h", 0)
	rec.Set(handlersKey, newDict())
	return rec
}

// handle allocates a handle for a Go entry. The lock is held.
func (k *Kit) handle() int {
	k.nextH++
	return k.nextH
}
