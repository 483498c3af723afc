package jsbridge

import (
	"context"
	"fmt"
	"syscall/js"
	"time"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
)

const kindClient = "RtmClient"

// session is the Go side of a client from login until it is disconnected
// again: the core client and the records its callbacks deliver to. Between
// sessions a client is only its record (url, handlers, delegate, last
// userId), and a new login starts a new core client.
type session struct {
	h        int
	c        *core.Client
	rec, obj js.Value
	busy     int // login and logout calls in flight; guarded by Kit.mu
}

func (k *Kit) newClientProto() js.Value {
	p := newProto(kindClient)
	k.accessor(p, "userId", func(this js.Value) any {
		rec, err := k.record(this, kindClient)
		if err != nil {
			return k.throw(err)
		}
		if s := k.sessionOf(rec); s != nil {
			return s.c.UserID()
		}
		return rec.Get("userId")
	}, nil)
	k.accessor(p, "connectionState", func(this js.Value) any {
		rec, err := k.record(this, kindClient)
		if err != nil {
			return k.throw(err)
		}
		if s := k.sessionOf(rec); s != nil {
			return s.c.ConnectionState().String()
		}
		return rec.Get("connectionState")
	}, nil)
	k.method(p, "login", k.login)
	k.method(p, "logout", k.logout)
	k.method(p, "renewToken", func(this js.Value, args []js.Value) any {
		rec, err := k.record(this, kindClient)
		if err != nil {
			return k.rejected(err)
		}
		token, err := StringFromJS(arg(args, 0), "token")
		if err != nil {
			return k.rejected(err)
		}
		c, err := k.coreClient(rec)
		if err != nil {
			return k.rejected(err)
		}
		return k.Promise(func() (any, error) { return nil, c.RenewToken(context.Background(), token) })
	})
	k.method(p, "on", func(this js.Value, args []js.Value) any {
		rec, err := k.record(this, kindClient)
		if err == nil {
			err = on(rec, clientEvents, arg(args, 0), arg(args, 1))
		}
		if err != nil {
			return k.throw(err)
		}
		return nil
	})
	k.method(p, "off", func(this js.Value, args []js.Value) any {
		rec, err := k.record(this, kindClient)
		if err == nil {
			err = off(rec, clientEvents, arg(args, 0), arg(args, 1))
		}
		if err != nil {
			return k.throw(err)
		}
		return nil
	})
	k.method(p, "setCallDelegate", func(this js.Value, args []js.Value) any {
		rec, err := k.record(this, kindClient)
		if err != nil {
			return k.throw(err)
		}
		d := arg(args, 0)
		switch {
		case isNullish(d):
			rec.Set(delegateKey, jsNull)
		case d.Type() == js.TypeObject || d.Type() == js.TypeFunction:
			rec.Set(delegateKey, d)
		default:
			return k.throw(invalid("the call delegate must be an object, got %s", typeName(d)))
		}
		return nil
	})
	k.method(p, "queryPeersOnlineStatus", func(this js.Value, args []js.Value) any {
		return k.presence(this, arg(args, 0), func(c *core.Client, ids []string) (any, error) {
			m, err := c.QueryPeersOnlineStatus(context.Background(), ids)
			if err != nil {
				return nil, err
			}
			return BoolMapToJS(m), nil
		})
	})
	k.method(p, "subscribePeersOnlineStatus", func(this js.Value, args []js.Value) any {
		return k.presence(this, arg(args, 0), func(c *core.Client, ids []string) (any, error) {
			return nil, c.SubscribePeersOnlineStatus(context.Background(), ids)
		})
	})
	k.method(p, "unsubscribePeersOnlineStatus", func(this js.Value, args []js.Value) any {
		return k.presence(this, arg(args, 0), func(c *core.Client, ids []string) (any, error) {
			return nil, c.UnsubscribePeersOnlineStatus(context.Background(), ids)
		})
	})
	k.method(p, "enablePush", k.enablePush)
	k.method(p, "disablePush", k.disablePush)
	k.method(p, "createLocalInvitation", k.createLocalInvitation)
	k.method(p, "createGroupInvitation", k.createGroupInvitation)
	k.method(p, "sendMessageToPeer", k.sendMessageToPeer)
	k.method(p, "setCallWaiting", k.setCallWaiting)
	k.method(p, "toJSON", func(this js.Value, _ []js.Value) any {
		if _, err := k.record(this, kindClient); err != nil {
			return k.throw(err)
		}
		o := newObject()
		o.Set("userId", this.Get("userId"))
		o.Set("connectionState", this.Get("connectionState"))
		return o
	})
	return p
}

// createClient is kit.createClient({url?, requestTimeoutMs?}). Without a
// url, the client talks to the page's own server: ws(s)://<host>/ws.
func (k *Kit) createClient(_ js.Value, args []js.Value) any {
	opts := arg(args, 0)
	if isNullish(opts) {
		opts = newObject()
	}
	if opts.Type() != js.TypeObject {
		return k.throw(invalid("createClient takes an options object, got %s", typeName(opts)))
	}
	urlOpt, err := getProp(opts, "url")
	if err != nil {
		return k.throw(err)
	}
	url, err := clientURL(urlOpt)
	if err != nil {
		return k.throw(err)
	}
	timeoutOpt, err := getProp(opts, "requestTimeoutMs")
	if err != nil {
		return k.throw(err)
	}
	var timeout int64
	if v := timeoutOpt; !isNullish(v) {
		if timeout, err = MillisFromJS(v, "requestTimeoutMs"); err != nil {
			return k.throw(err)
		}
	}
	if _, err := core.NewClient(core.Options{URL: url}); err != nil {
		return k.throw(err)
	}
	rec := newRecord(kindClient)
	rec.Set("url", url)
	rec.Set("requestTimeoutMs", timeout)
	rec.Set("userId", "")
	rec.Set("connectionState", core.ConnectionDisconnected.String())
	rec.Set(delegateKey, jsNull)
	return k.newPublic(k.clientProto, rec)
}

func clientURL(v js.Value) (string, error) {
	switch {
	case v.Type() == js.TypeString:
		return v.String(), nil
	case v.Type() == js.TypeObject:
		href, err := getProp(v, "href") // a URL object
		if err != nil {
			return "", err
		}
		if href.Type() != js.TypeString {
			return "", invalid("url must be a string or a URL, got %s", typeName(v))
		}
		return href.String(), nil
	case !isNullish(v):
		return "", invalid("url must be a string, got %s", typeName(v))
	}
	loc := js.Global().Get("location")
	if loc.Type() != js.TypeObject || loc.Get("host").Type() != js.TypeString || loc.Get("host").String() == "" {
		return "", invalid("url is required when there is no page location to derive it from")
	}
	scheme := "ws://"
	if loc.Get("protocol").String() == "https:" {
		scheme = "wss://"
	}
	return scheme + loc.Get("host").String() + protocol.Path, nil
}

// sessionOf returns the live session of a client record, or nil.
func (k *Kit) sessionOf(rec js.Value) *session {
	h := rec.Get("h").Int()
	if h == 0 {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.sessions[h]
}

// coreClient returns the core client of the record's session, or a new
// one that is not connected, so that operations get the core's answer for
// a client that is not logged in (NOT_LOGGED_IN after argument checks).
func (k *Kit) coreClient(rec js.Value) (*core.Client, error) {
	if s := k.sessionOf(rec); s != nil {
		return s.c, nil
	}
	return k.newCoreClient(rec)
}

func (k *Kit) newCoreClient(rec js.Value) (*core.Client, error) {
	return core.NewClient(core.Options{
		URL:            rec.Get("url").String(),
		RequestTimeout: time.Duration(rec.Get("requestTimeoutMs").Int()) * time.Millisecond,
		Logf: func(format string, args ...any) {
			jsConsole.Call("warn", fmt.Sprintf(format, args...))
		},
	})
}

// startSession returns the record's session, starting one if there is none,
// and counts one more call in flight on it.
func (k *Kit) startSession(rec, obj js.Value) (*session, error) {
	if s := k.sessionOf(rec); s != nil {
		k.mu.Lock()
		s.busy++
		k.mu.Unlock()
		return s, nil
	}
	c, err := k.newCoreClient(rec)
	if err != nil {
		return nil, err
	}
	s := &session{c: c, rec: rec, obj: obj, busy: 1}
	c.OnConnectionStateChanged(func(st core.ConnectionState, why core.ConnectionChangeReason) {
		emit(rec, obj, EvConnectionStateChanged, st.String(), why.String())
		k.endSession(s)
	})
	c.OnInvitationReceived(func(r *core.RemoteInvitation) { k.newRemote(s, r) })
	c.OnPeersOnlineStatusChanged(func(m map[string]core.PeerStatus) {
		emit(rec, obj, EvPeersOnlineStatusChanged, StatusMapToJS(m))
	})
	c.OnTokenPrivilegeWillExpire(func() { emit(rec, obj, EvTokenPrivilegeWillExpire) })
	c.OnMessageFromPeer(func(m core.Message, from string, props core.MessageProps) {
		p := newObject()
		p.Set("serverReceivedTs", props.ServerReceivedTs)
		emit(rec, obj, EvMessageFromPeer, MessageToJS(m), from, p)
	})
	k.mu.Lock()
	s.h = k.handle()
	k.sessions[s.h] = s
	k.mu.Unlock()
	rec.Set("h", s.h)
	return s, nil
}

// done ends one call in flight on s and ends s if that was the last thing
// keeping a disconnected client alive.
func (k *Kit) done(s *session) {
	k.mu.Lock()
	s.busy--
	k.mu.Unlock()
	k.endSession(s)
}

// endSession drops s once its client is disconnected and no login or logout
// is in flight: the record keeps the last user id and state, and the core
// client is closed.
func (k *Kit) endSession(s *session) {
	k.mu.Lock()
	st := s.c.ConnectionState()
	if k.sessions[s.h] != s || s.busy > 0 || (st != core.ConnectionDisconnected && st != core.ConnectionAborted) {
		k.mu.Unlock()
		return
	}
	delete(k.sessions, s.h)
	k.mu.Unlock()
	if id := s.c.UserID(); id != "" { // a failed login keeps the last user id
		s.rec.Set("userId", id)
	}
	s.rec.Set("connectionState", st.String())
	s.rec.Set("h", 0)
	go s.c.Close()
}

// login is client.login(userId, token?, {callWaiting?}).
func (k *Kit) login(this js.Value, args []js.Value) any {
	rec, err := k.record(this, kindClient)
	if err != nil {
		return k.rejected(err)
	}
	user, err := StringFromJS(arg(args, 0), "userId")
	if err != nil {
		return k.rejected(err)
	}
	token, err := OptionalStringFromJS(arg(args, 1), "token")
	if err != nil {
		return k.rejected(err)
	}
	waiting, err := boolOption(arg(args, 2), "login", "callWaiting")
	if err != nil {
		return k.rejected(err)
	}
	s, err := k.startSession(rec, this)
	if err != nil {
		return k.rejected(err)
	}
	return k.Promise(func() (any, error) {
		err := s.c.LoginWith(context.Background(), user, token, core.LoginOptions{CallWaiting: waiting})
		k.done(s)
		if err != nil {
			err = k.explainDialFailure(rec.Get("url").String(), err)
		}
		return nil, err
	})
}

// boolOption reads the boolean option name of method's options object opts
// (absent, null or undefined: false).
func boolOption(opts js.Value, method, name string) (bool, error) {
	if isNullish(opts) {
		return false, nil
	}
	if opts.Type() != js.TypeObject {
		return false, invalid("%s options must be an object, got %s", method, typeName(opts))
	}
	v, err := getProp(opts, name)
	switch {
	case err != nil:
		return false, err
	case isNullish(v):
		return false, nil
	case v.Type() == js.TypeBoolean:
		return v.Bool(), nil
	}
	return false, invalid("%s option %s must be a boolean, got %s", method, name, typeName(v))
}

// logout is client.logout({disablePush?}): with disablePush the server
// also forgets the push subscriptions this session registered, and a
// failure to do so rejects and leaves the client logged in.
func (k *Kit) logout(this js.Value, args []js.Value) any {
	rec, err := k.record(this, kindClient)
	if err != nil {
		return k.rejected(err)
	}
	dropPush, err := boolOption(arg(args, 0), "logout", "disablePush")
	if err != nil {
		return k.rejected(err)
	}
	if k.sessionOf(rec) == nil {
		return k.resolved()
	}
	s, err := k.startSession(rec, this)
	if err != nil {
		return k.rejected(err)
	}
	return k.Promise(func() (any, error) {
		var err error
		if dropPush {
			err = s.c.LogoutDroppingPush(context.Background())
		} else {
			err = s.c.Logout(context.Background())
		}
		k.done(s)
		return nil, err
	})
}

// presence runs a presence request with the ids argument checked.
func (k *Kit) presence(this, idsArg js.Value, run func(*core.Client, []string) (any, error)) js.Value {
	rec, err := k.record(this, kindClient)
	if err != nil {
		return k.rejected(err)
	}
	ids, err := StringsFromJS(idsArg, "ids")
	if err != nil {
		return k.rejected(err)
	}
	c, err := k.coreClient(rec)
	if err != nil {
		return k.rejected(err)
	}
	return k.Promise(func() (any, error) { return run(c, ids) })
}
