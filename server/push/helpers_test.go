//go:build !js

package push_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/httperr"
	"github.com/rtmcall/rtmcall/server/push"
	"github.com/rtmcall/rtmcall/server/push/pushtest"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
	"github.com/rtmcall/rtmcall/server/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitFor bounds every wait on an event.
const waitFor = 10 * time.Second

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

// env is a node with Web Push on loopback: the node, its push endpoints
// on their own listener, a file store, and a push service emulator.
type env struct {
	srv  *rtmcalltest.Server
	svc  *push.Service
	st   store.Store
	web  *httptest.Server // the push endpoints: PublicURL
	emu  *pushtest.Service
	woke chan server.Wake // every Wake the node made
	stop func()           // the node, then the Service, then the store
}

type envOpts struct {
	dir     string
	emu     *pushtest.Service
	cfg     []func(*server.Config)
	pushCfg func(*push.Config)
}

// recorder passes a Waker's calls on and records the Wakes.
type recorder struct {
	server.Waker
	woke chan server.Wake
}

// Wake must not block (the node's lock is held): past the buffer, Wakes
// go unrecorded, as in benchmarks that nobody reads them in.
func (r recorder) Wake(w server.Wake) {
	select {
	case r.woke <- w:
	default:
	}
	r.Waker.Wake(w)
}

// pushWeb serves a Service's endpoints; the handler is set once the
// Service exists, which needs the URL first.
func pushWeb(t testing.TB) (*httptest.Server, func(http.Handler)) {
	var h atomic.Pointer[http.Handler]
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := h.Load(); p != nil {
			(*p).ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(web.Close)
	return web, func(x http.Handler) { h.Store(&x) }
}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	e := &env{emu: o.emu, woke: make(chan server.Wake, 64)}
	if e.emu == nil {
		e.emu = pushtest.New(t)
	}
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	web, serve := pushWeb(t)
	e.web = web
	var set []func(*push.Config)
	if o.pushCfg != nil {
		set = append(set, o.pushCfg)
	}
	e.svc = e.emu.NewPusher(t, e.web.URL, set...)
	st, err := store.OpenFile(o.dir)
	require.NoError(t, err)
	e.st = st
	e.srv = rtmcalltest.NewServer(t, append([]func(*server.Config){func(c *server.Config) {
		c.Waker, c.Push = recorder{e.svc, e.woke}, e.svc
	}}, o.cfg...)...)
	serve(e.svc.Handler())
	e.stop = e.emu.Start(t, e.svc, e.srv.Node, st)
	return e
}

// client is a logged-in native client whose events arrive on channels.
type client struct {
	*core.Client
	invites chan *core.RemoteInvitation
	events  chan string
}

func login(t testing.TB, e *env, user string) *client {
	t.Helper()
	c, err := core.NewClient(core.Options{URL: e.srv.URL, Logf: t.Logf})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	cl := &client{Client: c, invites: make(chan *core.RemoteInvitation, 16), events: make(chan string, 64)}
	c.OnInvitationReceived(func(r *core.RemoteInvitation) {
		r.OnFailure(func(reason core.RemoteFailureReason) { cl.events <- "remote failure " + reason.String() })
		r.OnCanceled(func(string) { cl.events <- "remote canceled" })
		cl.invites <- r
	})
	require.NoError(t, c.Login(ctxT(t), user, ""))
	return cl
}

// subscribe logs user in, registers sub and logs out: user is offline
// with a device to wake.
func subscribe(t testing.TB, e *env, user string, subs ...*pushtest.Subscription) {
	t.Helper()
	c := login(t, e, user)
	for _, s := range subs {
		require.NoError(t, c.EnablePush(ctxT(t), core.PushSubscription{Endpoint: s.Endpoint, P256dh: s.P256dh, Auth: s.Auth}))
	}
	require.NoError(t, c.Logout(ctxT(t)))
}

// invite sends an invitation whose events arrive on the returned channel.
func (c *client) invite(t testing.TB, callee, content string, set ...func(*core.LocalInvitation)) (*core.LocalInvitation, chan string) {
	t.Helper()
	l, err := c.CreateLocalInvitation(callee)
	require.NoError(t, err)
	require.NoError(t, l.SetContent(content))
	ev := make(chan string, 16)
	l.OnWaking(func(w time.Duration) { ev <- "waking" })
	l.OnReceivedByPeer(func() { ev <- "received" })
	l.OnAccepted(func(string) { ev <- "accepted" })
	l.OnRefused(func(string) { ev <- "refused" })
	l.OnCanceled(func() { ev <- "canceled" })
	l.OnFailure(func(r core.LocalFailureReason) { ev <- "failure " + r.String() })
	for _, f := range set {
		f(l)
	}
	require.NoError(t, l.Send(ctxT(t)))
	return l, ev
}

func next[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		t.Fatalf("no event within %v", waitFor)
		var zero T
		return zero
	}
}

func expect(t testing.TB, ch <-chan string, want ...string) {
	t.Helper()
	for _, w := range want {
		require.Equal(t, w, next(t, ch))
	}
}

// invitePush reads the next push, an invite; closePush, a close.
func invitePush(t testing.TB, e *env) (*pushtest.Push, push.Invite) {
	t.Helper()
	return nextPush(t, e, "invite", func(v *push.Invite) string { return v.Kind })
}

func closePush(t testing.TB, e *env) (*pushtest.Push, push.Close) {
	t.Helper()
	return nextPush(t, e, "close", func(v *push.Close) string { return v.Kind })
}

func nextPush[T any](t testing.TB, e *env, kind string, kindOf func(*T) string) (*pushtest.Push, T) {
	t.Helper()
	p := e.emu.Next(waitFor)
	var v T
	require.NoError(t, json.Unmarshal(p.Payload, &v), "%s", p.Payload)
	require.Equal(t, kind, kindOf(&v), "%s", p.Payload)
	return p, v
}

// refuse posts a capability to the refuse endpoint from origin.
func refuse(t testing.TB, e *env, origin string, body any) (int, push.HTTPError, http.Header) {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(ctxT(t), "POST", e.web.URL+push.RefusePath, strings.NewReader(string(b)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var he push.HTTPError
	_ = json.NewDecoder(resp.Body).Decode(&he)
	if resp.StatusCode != http.StatusOK {
		// One status per code, on every endpoint: the server API's too.
		assert.Equal(t, httperr.Status(he.Code), resp.StatusCode, "%+v", he)
	}
	return resp.StatusCode, he, resp.Header
}

// raw is a WebSocket speaking frames directly, to test the server's checks
// without the client's.
type raw struct {
	t   testing.TB
	ws  *websocket.Conn
	rid uint64
}

func rawLogin(t testing.TB, e *env, user string) *raw {
	t.Helper()
	ws, _, err := websocket.Dial(ctxT(t), e.srv.URL, &websocket.DialOptions{Subprotocols: []string{protocol.Subprotocol}})
	require.NoError(t, err)
	ws.SetReadLimit(protocol.MaxFrameBytes)
	t.Cleanup(func() { ws.CloseNow() })
	r := &raw{t: t, ws: ws}
	require.Equal(t, protocol.TypeOK, r.do(&protocol.Frame{Type: protocol.TypeLogin, User: user}).Type)
	return r
}

// do sends f and returns the reply to it.
func (r *raw) do(f *protocol.Frame) *protocol.Frame {
	r.t.Helper()
	r.rid++
	f.RID = r.rid
	b, err := protocol.Encode(f)
	require.NoError(r.t, err)
	require.NoError(r.t, r.ws.Write(ctxT(r.t), websocket.MessageText, b))
	for {
		_, data, err := r.ws.Read(ctxT(r.t))
		require.NoError(r.t, err)
		g, err := protocol.Decode(data)
		require.NoError(r.t, err)
		if (g.Type == protocol.TypeOK || g.Type == protocol.TypeError) && g.RID == r.rid {
			return g
		}
	}
}

func (r *raw) code(f *protocol.Frame) protocol.Code {
	r.t.Helper()
	g := r.do(f)
	if g.Type == protocol.TypeOK {
		return 0
	}
	return g.Code
}

func corePush(s *pushtest.Subscription) core.PushSubscription {
	return core.PushSubscription{Endpoint: s.Endpoint, P256dh: s.P256dh, Auth: s.Auth}
}

func jsonDecode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }
