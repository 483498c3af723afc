package jsbridge

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"syscall/js"
	"time"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
)

// vapidPath is where the server gives its VAPID public key (server/push).
const vapidPath = "/push/vapid"

// vapidTimeout bounds the fetch of the server's VAPID key.
const vapidTimeout = 10 * time.Second

// defaultSubscribeTimeout bounds pushManager.subscribe once the permission
// is granted: a browser whose push service cannot be reached (headless
// Chromium, a network that blocks it) never settles it.
const defaultSubscribeTimeout = 20 * time.Second

// pushEndpointKey is the record's field with the endpoint the client's
// last enablePush registered, for disablePush without an argument.
const pushEndpointKey = "pushEndpoint"

// enablePush is client.enablePush(registrationOrSubscription, {vapidUrl?}).
// Given a ServiceWorkerRegistration it subscribes with the server's VAPID
// key; given a PushSubscription or its JSON it registers that. It resolves
// with the subscription's JSON once the server has it.
func (k *Kit) enablePush(this js.Value, args []js.Value) any {
	rec, err := k.record(this, kindClient)
	if err != nil {
		return k.rejected(err)
	}
	target := arg(args, 0)
	vapidURL, within, err := pushOptions(rec, arg(args, 1))
	if err != nil {
		return k.rejected(err)
	}
	if target.Type() != js.TypeObject {
		return k.rejected(invalid("enablePush takes a ServiceWorkerRegistration, a PushSubscription or its JSON, got %s", typeName(target)))
	}
	pm, err := getProp(target, "pushManager")
	if err != nil {
		return k.rejected(err)
	}
	var sub core.PushSubscription
	if pm.Type() != js.TypeObject { // not a registration: read the subscription first, so bad input fails at once
		if sub, err = subscriptionFromJS(target); err != nil {
			return k.rejected(err)
		}
	}
	c, err := k.loggedIn(rec)
	if err != nil {
		return k.rejected(err)
	}
	return k.Promise(func() (any, error) {
		if pm.Type() == js.TypeObject {
			if sub, err = k.subscribe(pm, vapidURL, within); err != nil {
				return nil, err
			}
		}
		if err := c.EnablePush(context.Background(), sub); err != nil { // the client's request timeout applies
			return nil, err
		}
		rec.Set(pushEndpointKey, sub.Endpoint)
		return subscriptionToJS(sub), nil
	})
}

// disablePush is client.disablePush(registrationOrSubscription?): the server
// forgets the subscription (the one the client's last enablePush registered,
// or the one given) for the user. The browser's subscription stays: other
// users of the same browser may have registered it too.
func (k *Kit) disablePush(this js.Value, args []js.Value) any {
	rec, err := k.record(this, kindClient)
	if err != nil {
		return k.rejected(err)
	}
	target := arg(args, 0)
	var endpoint string
	var pm js.Value
	switch {
	case isNullish(target):
		if v := rec.Get(pushEndpointKey); v.Type() == js.TypeString {
			endpoint = v.String()
		}
	case target.Type() != js.TypeObject:
		return k.rejected(invalid("disablePush takes a ServiceWorkerRegistration, a PushSubscription, its JSON or nothing, got %s", typeName(target)))
	default:
		if pm, err = getProp(target, "pushManager"); err != nil {
			return k.rejected(err)
		}
		if pm.Type() != js.TypeObject {
			if endpoint, err = endpointFromJS(target); err != nil {
				return k.rejected(err)
			}
		}
	}
	c, err := k.loggedIn(rec)
	if err != nil {
		return k.rejected(err)
	}
	return k.Promise(func() (any, error) {
		if pm.Type() == js.TypeObject {
			s, err := k.awaitCall(pm, "getSubscription")
			if err != nil {
				return nil, pushUnavailable("failed to read the browser's push subscription", err)
			}
			if s.Type() != js.TypeObject {
				return nil, nil // the browser has none, so the server cannot wake it
			}
			if endpoint, err = endpointFromJS(s); err != nil {
				return nil, err
			}
		}
		if endpoint == "" {
			return nil, nil // nothing registered by this client
		}
		if err := c.DisablePush(context.Background(), endpoint); err != nil {
			return nil, err
		}
		if v := rec.Get(pushEndpointKey); v.Type() == js.TypeString && v.String() == endpoint {
			rec.Set(pushEndpointKey, jsUndef)
		}
		return nil, nil
	})
}

// loggedIn returns the core client of a logged-in record, or NOT_LOGGED_IN:
// checked before anything asks the browser for push, so that a client that
// cannot register never prompts the user.
func (k *Kit) loggedIn(rec js.Value) (*core.Client, error) {
	s := k.sessionOf(rec)
	if s == nil || s.c.ConnectionState() != core.ConnectionConnected {
		return nil, protocol.Errorf(protocol.CodeNotLoggedIn, "log in before enabling or disabling push")
	}
	return s.c, nil
}

// pushOptions reads enablePush's options: the VAPID key's URL, by default
// /push/vapid on the HTTP origin of the client's WebSocket URL (ws: ->
// http:, wss: -> https:), and how long pushManager.subscribe may take.
func pushOptions(rec, opts js.Value) (string, time.Duration, error) {
	within := defaultSubscribeTimeout
	var vapid string
	if !isNullish(opts) {
		if opts.Type() != js.TypeObject {
			return "", 0, invalid("enablePush options must be an object, got %s", typeName(opts))
		}
		v, err := getProp(opts, "vapidUrl")
		if err != nil {
			return "", 0, err
		}
		if !isNullish(v) {
			if vapid, err = clientURL(v); err != nil { // a string or a URL object
				return "", 0, invalid("vapidUrl must be a string or a URL, got %s", typeName(v))
			}
		}
		if v, err = getProp(opts, "subscribeTimeoutMs"); err != nil {
			return "", 0, err
		}
		if !isNullish(v) {
			ms, err := MillisFromJS(v, "subscribeTimeoutMs")
			if err != nil {
				return "", 0, err
			}
			if ms == 0 {
				return "", 0, invalid("subscribeTimeoutMs must be at least 1")
			}
			within = time.Duration(ms) * time.Millisecond
		}
	}
	if vapid != "" {
		return vapid, within, nil
	}
	u, err := vapidURLOf(rec.Get("url").String())
	return u, within, err
}

// vapidURLOf is /push/vapid on the HTTP origin of the WebSocket URL ws.
func vapidURLOf(ws string) (string, error) {
	rest, ok := strings.CutPrefix(ws, "ws")
	if !ok {
		return "", invalid("the client's url %q is not ws:// or wss://", ws)
	}
	origin := "http" + rest // ws://h:p/ws -> http://h:p/ws
	if i := strings.Index(origin, "://"); i >= 0 {
		if j := strings.IndexByte(origin[i+3:], '/'); j >= 0 {
			origin = origin[:i+3+j]
		}
	}
	return origin + vapidPath, nil
}

// subscribe returns the browser's push subscription for the server's VAPID
// key, made with pushManager.subscribe unless the registration has one with
// that key already; one made with another key is replaced.
func (k *Kit) subscribe(pm js.Value, vapidURL string, within time.Duration) (core.PushSubscription, error) {
	// The permission first, as long as the user takes: then the push
	// service's answer alone is bounded by within.
	if perm := notificationPermission(); perm == "default" {
		if _, err := k.awaitCall(js.Global().Get("Notification"), "requestPermission"); err != nil {
			return core.PushSubscription{}, pushUnavailable("failed to ask for the notification permission", err)
		}
	}
	switch perm := notificationPermission(); perm {
	case "granted", "unsupported":
	default:
		return core.PushSubscription{}, protocol.Errorf(protocol.CodePushDenied,
			"notifications are not allowed for this site (Notification.permission is %q); the user can allow them in the browser's site settings", perm)
	}
	key, err := k.fetchVAPIDKey(vapidURL)
	if err != nil {
		return core.PushSubscription{}, err
	}
	if old, err := k.awaitCall(pm, "getSubscription"); err == nil && old.Type() == js.TypeObject {
		if bytes.Equal(bytesOf(old.Get("options").Get("applicationServerKey")), key) {
			return subscriptionFromJS(old)
		}
		if _, err := k.awaitCall(old, "unsubscribe"); err != nil {
			return core.PushSubscription{}, pushUnavailable("failed to drop the browser's subscription for another server key", err)
		}
	}
	opts := newObject()
	opts.Set("userVisibleOnly", true)
	ask := js.Global().Get("Uint8Array").New(len(key))
	js.CopyBytesToJS(ask, key)
	opts.Set("applicationServerKey", ask)
	p, err := callJS(pm, "subscribe", opts)
	if err != nil {
		return core.PushSubscription{}, pushUnavailable("the browser could not subscribe to push (pushManager.subscribe)", err)
	}
	s, err := k.awaitWithin(p, within)
	if errors.Is(err, errAwaitTimeout) {
		return core.PushSubscription{}, protocol.Errorf(protocol.CodePushUnavailable,
			"the browser's push service did not answer pushManager.subscribe within %v (is it reachable from this device?)", within)
	}
	if err != nil {
		if je := (jsRejection{}); errors.As(err, &je) && je.name == "NotAllowedError" {
			return core.PushSubscription{}, protocol.Errorf(protocol.CodePushDenied,
				"the browser did not allow push: %s (notifications permission: %s)", je.message, notificationPermission())
		}
		return core.PushSubscription{}, pushUnavailable("the browser could not subscribe to push (pushManager.subscribe)", err)
	}
	return subscriptionFromJS(s)
}

func notificationPermission() string {
	n := js.Global().Get("Notification")
	if n.Type() != js.TypeFunction {
		return "unsupported"
	}
	return n.Get("permission").String()
}

// fetchVAPIDKey fetches the server's VAPID public key: {"publicKey": "<base64url>"}.
func (k *Kit) fetchVAPIDKey(url string) ([]byte, error) {
	fetch := js.Global().Get("fetch")
	if fetch.Type() != js.TypeFunction {
		return nil, protocol.Errorf(protocol.CodePushUnavailable, "this environment has no fetch to get the server's push key")
	}
	opts := newObject()
	opts.Set("cache", "no-store")
	opts.Set("credentials", "omit")
	if abort := js.Global().Get("AbortSignal"); abort.Type() == js.TypeFunction && abort.Get("timeout").Type() == js.TypeFunction {
		opts.Set("signal", abort.Call("timeout", vapidTimeout.Milliseconds()))
	}
	// this is undefined: the Go program's global is a view of the page's, which fetch refuses as its this.
	p, err := invokeJS(fetch, url, opts)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodePushUnavailable, "failed to fetch the server's push key from %s: %v", url, err)
	}
	res, err := k.await(p)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodePushUnavailable, "failed to fetch the server's push key from %s: %v", url, err)
	}
	body, err := k.awaitCall(res, "json")
	if !res.Get("ok").Bool() {
		// The server answers an error as {code, name, message}.
		if err == nil && body.Type() == js.TypeObject && body.Get("code").Type() == js.TypeNumber {
			return nil, protocol.Errorf(protocol.Code(body.Get("code").Int()), "the server has no push key at %s: %s",
				url, body.Get("message").String())
		}
		return nil, protocol.Errorf(protocol.CodePushUnavailable, "the server has no push key at %s (HTTP %d)",
			url, res.Get("status").Int())
	}
	if err != nil || body.Type() != js.TypeObject || body.Get("publicKey").Type() != js.TypeString {
		return nil, protocol.Errorf(protocol.CodePushUnavailable, `%s did not answer {"publicKey": "..."}`, url)
	}
	key, derr := base64.RawURLEncoding.DecodeString(strings.TrimRight(body.Get("publicKey").String(), "="))
	if derr != nil || len(key) != 65 || key[0] != 4 {
		return nil, protocol.Errorf(protocol.CodePushUnavailable, "%s gave a push key that is not an uncompressed P-256 point in base64url", url)
	}
	return key, nil
}

// subscriptionFromJS reads a PushSubscription (through its toJSON) or its
// JSON, {endpoint, keys: {p256dh, auth}}; the core checks the values.
func subscriptionFromJS(v js.Value) (core.PushSubscription, error) {
	bad := func(format string, args ...any) (core.PushSubscription, error) {
		return core.PushSubscription{}, invalid("bad push subscription: "+format, args...)
	}
	if toJSON, err := getProp(v, "toJSON"); err != nil {
		return core.PushSubscription{}, err
	} else if toJSON.Type() == js.TypeFunction {
		if v, err = callJS(v, "toJSON"); err != nil {
			return core.PushSubscription{}, err
		}
	}
	endpoint, err := getProp(v, "endpoint")
	if err != nil {
		return core.PushSubscription{}, err
	}
	keys, err := getProp(v, "keys")
	if err != nil {
		return core.PushSubscription{}, err
	}
	if endpoint.Type() != js.TypeString {
		return bad("endpoint must be a string, got %s", typeName(endpoint))
	}
	if keys.Type() != js.TypeObject {
		return bad("keys must be an object with p256dh and auth, got %s", typeName(keys))
	}
	sub := core.PushSubscription{Endpoint: endpoint.String()}
	for name, dst := range map[string]*string{"p256dh": &sub.P256dh, "auth": &sub.Auth} {
		kv, err := getProp(keys, name)
		if err != nil {
			return core.PushSubscription{}, err
		}
		if kv.Type() != js.TypeString {
			return bad("keys.%s must be a base64url string, got %s", name, typeName(kv))
		}
		*dst = kv.String()
	}
	if err := protocol.ValidatePushSubscription(sub.Endpoint, sub.P256dh, sub.Auth); err != nil {
		return core.PushSubscription{}, err
	}
	return sub, nil
}

// endpointFromJS reads the endpoint of a PushSubscription or its JSON.
func endpointFromJS(v js.Value) (string, error) {
	e, err := getProp(v, "endpoint")
	if err != nil {
		return "", err
	}
	if e.Type() != js.TypeString {
		return "", invalid("bad push subscription: endpoint must be a string, got %s", typeName(e))
	}
	if err := protocol.ValidatePushEndpoint(e.String()); err != nil {
		return "", err
	}
	return e.String(), nil
}

func subscriptionToJS(sub core.PushSubscription) js.Value {
	keys := newObject()
	keys.Set("p256dh", sub.P256dh)
	keys.Set("auth", sub.Auth)
	o := newObject()
	o.Set("endpoint", sub.Endpoint)
	o.Set("keys", keys)
	return o
}

// bytesOf copies an ArrayBuffer or typed array; nil for anything else.
func bytesOf(v js.Value) []byte {
	if v.Type() != js.TypeObject {
		return nil
	}
	u8 := js.Global().Get("Uint8Array")
	if !v.InstanceOf(u8) {
		if !v.InstanceOf(js.Global().Get("ArrayBuffer")) {
			return nil
		}
		v = u8.New(v)
	}
	b := make([]byte, v.Get("length").Int())
	js.CopyBytesToGo(b, v)
	return b
}

// jsRejection is a JavaScript promise's rejection reason, as an error.
type jsRejection struct{ name, message string }

func (e jsRejection) Error() string {
	if e.name == "" {
		return e.message
	}
	return e.name + ": " + e.message
}

// await waits for the JavaScript promise p to settle. It blocks: call it
// off the JavaScript thread (in a Promise's run).
func (k *Kit) await(p js.Value) (js.Value, error) { return k.awaitWithin(p, 0) }

// errAwaitTimeout is what awaitWithin returns when the promise is late.
var errAwaitTimeout = errors.New("timed out")

// awaitWithin is await giving up after d (0: never) with errAwaitTimeout.
// The callbacks are released once p settles, even after a timeout.
func (k *Kit) awaitWithin(p js.Value, d time.Duration) (js.Value, error) {
	type result struct {
		v  js.Value
		ok bool
	}
	done := make(chan result, 1)
	onOK := k.funcOf(func(_ js.Value, args []js.Value) any {
		done <- result{v: arg(args, 0), ok: true}
		return nil
	})
	onErr := k.funcOf(func(_ js.Value, args []js.Value) any {
		done <- result{v: arg(args, 0)}
		return nil
	})
	jsPromise.Call("resolve", p).Call("then", onOK, onErr)
	var timeout <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	var r result
	select {
	case r = <-done:
		k.release(onOK)
		k.release(onErr)
	case <-timeout:
		go func() { // released when it settles; a promise that never does keeps its two callbacks
			<-done
			k.release(onOK)
			k.release(onErr)
		}()
		return jsUndef, errAwaitTimeout
	}
	if r.ok {
		return r.v, nil
	}
	return jsUndef, jsRejectionOf(r.v)
}

func jsRejectionOf(v js.Value) jsRejection {
	e := jsRejection{}
	if v.Type() == js.TypeObject {
		if n, _ := getProp(v, "name"); n.Type() == js.TypeString {
			e.name = n.String()
		}
		if m, _ := getProp(v, "message"); m.Type() == js.TypeString {
			e.message = m.String()
			return e
		}
	}
	e.message = jsToString.Invoke(v).String()
	return e
}

// callJS calls obj[method](args...) on an object from the page or the
// browser; a throw, or a method that is not a function, becomes an error
// (Go cannot unwind a JavaScript exception: see getProp).
func callJS(obj js.Value, method string, args ...any) (v js.Value, err error) {
	f, err := getProp(obj, method)
	if err != nil {
		return jsUndef, err
	}
	if f.Type() != js.TypeFunction {
		return jsUndef, invalid("%s is not a function on %s", method, typeName(obj))
	}
	return applyJS(f, obj, args)
}

// invokeJS calls the function f with this undefined, as callJS.
func invokeJS(f js.Value, args ...any) (js.Value, error) { return applyJS(f, jsUndef, args) }

func applyJS(f, this js.Value, args []any) (v js.Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			jerr, ok := r.(js.Error)
			if !ok {
				panic(r)
			}
			v, err = jsUndef, jsRejectionOf(jerr.Value)
		}
	}()
	return jsReflect.Call("apply", f, this, js.ValueOf(args)), nil
}

// awaitCall is callJS, then await of what it returned.
func (k *Kit) awaitCall(obj js.Value, method string, args ...any) (js.Value, error) {
	p, err := callJS(obj, method, args...)
	if err != nil {
		return jsUndef, err
	}
	return k.await(p)
}

// pushUnavailable is PUSH_UNAVAILABLE for a browser step that failed.
func pushUnavailable(what string, err error) error {
	return protocol.Errorf(protocol.CodePushUnavailable, "%s: %s", what, fmt.Sprint(err))
}
