//go:build !js

package core_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// waitFor bounds every wait on an event: a test never sleeps, it waits for
// the event with this deadline.
const waitFor = 5 * time.Second

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

// user is a logged-in client whose callbacks record every event, as text,
// in order.
type user struct {
	t       *testing.T
	id      string
	c       *core.Client
	events  chan string
	invites chan *core.RemoteInvitation
	// calls records the ends of calls, apart from events, so that flows
	// that never hang up read as before.
	calls    chan string
	messages chan string // MessageFromPeer, as "from: text" or "from: raw <hex> desc"
}

func startServer(t *testing.T, opts ...func(*server.Config)) *rtmcalltest.Server {
	return rtmcalltest.NewServer(t, opts...)
}

func newClient(t *testing.T, srv *rtmcalltest.Server, id string) *user {
	t.Helper()
	return newClientAt(t, srv.URL, id)
}

// newClientAt makes a client for url, e.g. a rtmcalltest.Proxy in front of the server.
func newClientAt(t *testing.T, url, id string) *user {
	t.Helper()
	return newClientWith(t, core.Options{URL: url}, id)
}

// newClientWith makes a client with opts, logging to t.
func newClientWith(t *testing.T, opts core.Options, id string) *user {
	t.Helper()
	opts.Logf = t.Logf
	c, err := core.NewClient(opts)
	require.NoError(t, err)
	u := &user{t: t, id: id, c: c, events: make(chan string, 1024), invites: make(chan *core.RemoteInvitation, 64),
		calls: make(chan string, 1024), messages: make(chan string, 4096)}
	c.OnMessageFromPeer(func(m core.Message, from string, props core.MessageProps) {
		if m.Raw != nil {
			u.messages <- fmt.Sprintf("%s: raw %x %q", from, m.Raw, m.Description)
			return
		}
		u.messages <- from + ": " + m.Text
	})
	t.Cleanup(func() { _ = c.Close() })
	c.OnConnectionStateChanged(func(s core.ConnectionState, r core.ConnectionChangeReason) {
		u.events <- fmt.Sprintf("state %s %s", s, r)
	})
	c.OnPeersOnlineStatusChanged(func(m map[string]core.PeerStatus) {
		var parts []string
		for id, s := range m {
			parts = append(parts, id+"="+s.String())
		}
		sort.Strings(parts)
		u.events <- "presence " + strings.Join(parts, " ")
	})
	c.OnInvitationReceived(func(r *core.RemoteInvitation) {
		u.watchRemote(r)
		u.events <- fmt.Sprintf("invite from %s %q %q", r.CallerID(), r.Content(), r.ChannelID())
		u.invites <- r
	})
	return u
}

// login connects as id with a dev-mode login (no token).
func login(t *testing.T, srv *rtmcalltest.Server, id string) *user {
	t.Helper()
	return loginAt(t, srv.URL, id)
}

func loginAt(t *testing.T, url, id string) *user {
	t.Helper()
	return loginOpts(t, core.Options{URL: url}, id)
}

// loginOpts is loginAt with a client made with opts.
func loginOpts(t *testing.T, opts core.Options, id string) *user {
	t.Helper()
	u := newClientWith(t, opts, id)
	require.NoError(t, u.c.Login(ctxT(t), id, ""))
	u.expect("state CONNECTING LOGIN", "state CONNECTED LOGIN_SUCCESS")
	return u
}

// loginWith connects as id, with call waiting in the login when waiting is set.
func loginWith(t *testing.T, url, id string, waiting bool) *user {
	t.Helper()
	u := newClientAt(t, url, id)
	require.NoError(t, u.c.LoginWith(ctxT(t), id, "", core.LoginOptions{CallWaiting: waiting}))
	u.expect("state CONNECTING LOGIN", "state CONNECTED LOGIN_SUCCESS")
	return u
}

func (u *user) watchRemote(r *core.RemoteInvitation) {
	r.OnAccepted(func() { u.events <- "remote accepted " + r.State().String() })
	r.OnRefused(func() { u.events <- "remote refused " + r.State().String() })
	r.OnCanceled(func(content string) { u.events <- fmt.Sprintf("remote canceled %q", content) })
	r.OnFailure(func(reason core.RemoteFailureReason) { u.events <- "remote failure " + reason.String() })
	r.OnCallEnded(func(reason core.CallEndReason, by string) {
		u.calls <- fmt.Sprintf("remote call ended %s %s %s", reason, by, r.CallState())
	})
}

func (u *user) watchLocal(l *core.LocalInvitation) {
	l.OnReceivedByPeer(func() { u.events <- "local received" })
	l.OnWaking(func(window time.Duration) { u.events <- fmt.Sprintf("local waking %v %v", window, l.Waking()) })
	l.OnAccepted(func(resp string) { u.events <- fmt.Sprintf("local accepted %q %s", resp, l.State()) })
	l.OnRefused(func(resp string) { u.events <- fmt.Sprintf("local refused %q", resp) })
	l.OnCanceled(func() { u.events <- "local canceled" })
	l.OnFailure(func(reason core.LocalFailureReason) { u.events <- "local failure " + reason.String() })
	l.OnCallEnded(func(reason core.CallEndReason, by string) {
		u.calls <- fmt.Sprintf("local call ended %s %s %s", reason, by, l.CallState())
	})
}

// invite creates and sends an invitation to callee with the given content.
func (u *user) invite(callee, content string) *core.LocalInvitation {
	u.t.Helper()
	l := u.newInvitation(callee, content)
	require.NoError(u.t, l.Send(ctxT(u.t)))
	return l
}

func (u *user) newInvitation(callee, content string) *core.LocalInvitation {
	u.t.Helper()
	l, err := u.c.CreateLocalInvitation(callee)
	require.NoError(u.t, err)
	require.NoError(u.t, l.SetContent(content))
	u.watchLocal(l)
	return l
}

// expect waits for the next events, in order.
func (u *user) expect(want ...string) {
	u.t.Helper()
	for _, w := range want {
		select {
		case got := <-u.events:
			require.Equal(u.t, w, got, "%s: events out of order or wrong", u.id)
		case <-time.After(waitFor):
			require.FailNow(u.t, "timed out", "%s: waiting for %q", u.id, w)
		}
	}
}

// expectOn waits for the next values on ch, in order.
func (u *user) expectOn(ch chan string, want ...string) {
	u.t.Helper()
	for _, w := range want {
		select {
		case got := <-ch:
			require.Equal(u.t, w, got, "%s: wrong or out of order", u.id)
		case <-time.After(waitFor):
			require.FailNow(u.t, "timed out", "%s: waiting for %q", u.id, w)
		}
	}
}

// hangUp ends caller's call l with callee: both see it end by the caller.
func hangUp(t *testing.T, caller *user, l *core.LocalInvitation, callee *user) {
	t.Helper()
	require.NoError(t, l.Hangup(ctxT(t)))
	caller.expectOn(caller.calls, "local call ended HANGUP "+caller.id+" ENDED")
	callee.expectOn(callee.calls, "remote call ended HANGUP "+caller.id+" ENDED")
}

// next waits for the next event and returns it.
func (u *user) next() string {
	u.t.Helper()
	select {
	case got := <-u.events:
		return got
	case <-time.After(waitFor):
		require.FailNow(u.t, "timed out", "%s: waiting for an event", u.id)
		return ""
	}
}

// received waits for the next incoming invitation (its event was recorded too).
func (u *user) received() *core.RemoteInvitation {
	u.t.Helper()
	select {
	case r := <-u.invites:
		u.next() // the "invite from" event
		return r
	case <-time.After(waitFor):
		require.FailNow(u.t, "timed out", "%s: waiting for an invitation", u.id)
		return nil
	}
}

// quiet asserts that no event is pending: it subscribes to its own
// presence, whose event the server sends after everything before it, and
// requires that event to come next.
func (u *user) quiet() {
	u.t.Helper()
	require.NoError(u.t, u.c.SubscribePeersOnlineStatus(ctxT(u.t), []string{u.id}))
	u.expect("presence " + u.id + "=ONLINE")
	require.NoError(u.t, u.c.UnsubscribePeersOnlineStatus(ctxT(u.t), []string{u.id}))
}
