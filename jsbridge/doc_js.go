// Package jsbridge is the JavaScript face of rtmcall: it turns the Go core
// (package core) into the kit that web/rtmcall.js hands to pages, with
// Promises, RtmError rejections, on/off handler registries and the
// setCallDelegate hooks. web/rtmcall.d.ts documents the API it builds.
//
// # Design
//
// Clients and invitations are plain JavaScript objects whose methods and
// accessors live on three shared prototypes, so an object costs no js.Func:
// the kit creates a fixed set of functions once. Each public object has a
// hidden record (a WeakMap entry) holding its handlers and, when no Go object
// backs it, its last known fields. Go keeps an entry only for what is live:
// a client while it has a session (from login until it is disconnected
// again), a local invitation from send until its terminal event was
// delivered, a remote invitation from its arrival until its terminal event
// was delivered. After that the record answers alone (states, ALREADY_END),
// so a page that places a thousand calls holds no Go state for them.
//
// # Wasm
//
// A js.Func body never blocks: every operation that talks to the server
// runs on a goroutine and settles a Promise. Because Go runs every runnable
// goroutine before it gives control back to JavaScript, an operation has
// taken its first step (for instance accept's move to ACCEPT_SENT_TO_LOCAL)
// by the time the next JavaScript statement runs, so calls made one after
// the other take effect in that order. Handlers run on the core's callback
// goroutine, one at a time and in the order of the events.
//
// JavaScript cannot be thrown into from Go; the loader passes a host object
// whose guard(fn) wraps a function so that a value made by raise(error)
// is thrown rather than returned (see Host).
package jsbridge
