package jsbridge

import (
	"context"
	"strings"
	"syscall/js"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core/protocol"
)

var localEvs = []string{EvLocalReceivedByPeer, EvLocalAccepted, EvLocalRefused, EvLocalCanceled, EvLocalFailure, EvCallEnded}
var remoteEvs = []string{EvRemoteAccepted, EvRemoteRefused, EvRemoteCanceled, EvRemoteFailure, EvCallEnded}

// call is one invitation from a caller client to a callee, with both sides recorded.
type call struct {
	local, remote js.Value
	lev, rev      *recorder
}

// ring sends an invitation from caller to callee (a user with one client,
// whose RemoteInvitationReceived events go to calleeRec) and waits until it rings.
func ring(t *testing.T, caller js.Value, calleeID string, calleeRec *recorder, setup func(local js.Value)) *call {
	t.Helper()
	c := &call{local: caller.Call("createLocalInvitation", calleeID), lev: newRecorder(t), rev: newRecorder(t)}
	c.lev.on(c.local, localEvs...)
	if setup != nil {
		setup(c.local)
	}
	assert.Equal(t, "IDLE", c.local.Get("state").String())
	p := c.local.Call("send")
	assert.Equal(t, "SENT_TO_REMOTE", c.local.Get("state").String(), "send takes effect before the next statement")
	await(t, p)
	assert.Len(t, c.local.Get("id").String(), 32)
	e := calleeRec.next(EvRemoteInvitationReceived)
	c.remote = e.args[0]
	c.rev.on(c.remote, remoteEvs...)
	assert.Equal(t, "CONNECTED", e.state, "the client's state")
	assert.Equal(t, "INVITATION_RECEIVED", c.remote.Get("state").String())
	assert.Equal(t, c.local.Get("id").String(), c.remote.Get("id").String())
	assert.Equal(t, "RECEIVED_BY_REMOTE", c.lev.next(EvLocalReceivedByPeer).state)
	return c
}

// pair is two logged-in clients, each with its client events recorded.
func pair(t *testing.T) (kit js.Value, k *Kit, alice, bob js.Value, aliceID, bobID string, aev, bev *recorder) {
	k, kit = newTestKit(t)
	aliceID, bobID = uniq(t, "alice"), uniq(t, "bob")
	alice, bob = client(t, kit, aliceID), client(t, kit, bobID)
	aev, bev = newRecorder(t), newRecorder(t)
	aev.on(alice, EvRemoteInvitationReceived)
	bev.on(bob, EvRemoteInvitationReceived)
	return
}

func TestLoginLogout(t *testing.T) {
	k, kit := newTestKit(t)
	c := client(t, kit, "")
	ev := newRecorder(t)
	ev.on(c, EvConnectionStateChanged)
	user := uniq(t, "carol")
	p := c.Call("login", user)
	assert.Equal(t, "CONNECTING", c.Get("connectionState").String())
	requireRtmError(t, rejection(t, c.Call("login", user)), 106, "ALREADY_LOGIN")
	await(t, p)
	assert.Equal(t, "CONNECTED", c.Get("connectionState").String())
	assert.Equal(t, user, c.Get("userId").String())
	e := ev.next(EvConnectionStateChanged)
	assert.Equal(t, []string{"CONNECTING", "LOGIN"}, strs(e.args))
	e = ev.next(EvConnectionStateChanged)
	assert.Equal(t, []string{"CONNECTED", "LOGIN_SUCCESS"}, strs(e.args))
	assert.Equal(t, "CONNECTED", e.state, "the state inside the handler")
	assert.Equal(t, 1, k.Live().Clients)

	await(t, c.Call("logout"))
	e = ev.next(EvConnectionStateChanged)
	assert.Equal(t, []string{"DISCONNECTED", "LOGOUT"}, strs(e.args))
	assert.Equal(t, "DISCONNECTED", c.Get("connectionState").String())
	assert.Equal(t, user, c.Get("userId").String(), "the last user id stays")
	assert.Equal(t, 0, k.Live().Clients, "a logged-out client holds nothing in Go")
	await(t, c.Call("logout")) // not logged in: nothing to do

	// The same client logs in again, as someone else.
	other := uniq(t, "dave")
	await(t, c.Call("login", other))
	assert.Equal(t, other, c.Get("userId").String())
	await(t, c.Call("logout"))

	requireRtmError(t, rejection(t, c.Call("login", "no/slash")), 1, "INVALID_ARGUMENT")
	requireRtmError(t, rejection(t, c.Call("login", 42)), 1, "INVALID_ARGUMENT")
	requireRtmError(t, rejection(t, c.Call("login", "x", 42)), 1, "INVALID_ARGUMENT")

	// A server that is not there: NOT_CONNECTED, and the client is reusable.
	dead := kit.Call("createClient", jsEval(`{url: "ws://127.0.0.1:1/ws"}`))
	requireRtmError(t, rejection(t, dead.Call("login", "erin")), 207, "NOT_CONNECTED")
	assert.Equal(t, "DISCONNECTED", dead.Get("connectionState").String())
	assert.Equal(t, 0, k.Live().Clients)
}

// TestLoginCallWaiting: login(userId, token, {callWaiting: true}) starts the
// session with call waiting on: it rings, calleeBusy, while its user is in
// a call; bad options reject with INVALID_ARGUMENT.
func TestLoginCallWaiting(t *testing.T) {
	kit, _, alice, bob, _, bobID, _, bev := pair(t)
	c := ring(t, alice, bobID, bev, nil)
	await(t, c.remote.Call("accept"))
	c.lev.next(EvLocalAccepted)

	laptop := client(t, kit, "")
	lev := newRecorder(t)
	lev.on(laptop, EvRemoteInvitationReceived)
	await(t, laptop.Call("login", bobID, js.Undefined(), jsEval(`{callWaiting: true}`)))
	t.Cleanup(func() { _, _ = awaitErr(laptop.Call("logout")) })
	carol := client(t, kit, uniq(t, "carol"))
	w := ring(t, carol, bobID, lev, nil)
	assert.True(t, w.remote.Get("calleeBusy").Bool())
	await(t, w.local.Call("cancel"))
	w.rev.next(EvRemoteCanceled)
	await(t, c.local.Call("hangup"))
	_ = bob

	other := client(t, kit, "")
	requireRtmError(t, rejection(t, other.Call("login", "x", "", 42)), 1, "INVALID_ARGUMENT")
	requireRtmError(t, rejection(t, other.Call("login", "x", "", jsEval(`{callWaiting: "yes"}`))), 1, "INVALID_ARGUMENT")
}

func strs(vs []js.Value) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.String()
	}
	return out
}

func TestAccept(t *testing.T) {
	_, k, alice, _, aliceID, bobID, _, bev := pair(t)
	c := ring(t, alice, bobID, bev, func(l js.Value) {
		l.Set("content", "lunch?")
		l.Set("channelId", "room-1")
		l.Set("timeoutMs", 30000)
	})
	assert.Equal(t, aliceID, c.remote.Get("callerId").String())
	assert.Equal(t, "lunch?", c.remote.Get("content").String())
	assert.Equal(t, "room-1", c.remote.Get("channelId").String())
	assert.Equal(t, 30000, c.local.Get("timeoutMs").Int())
	assert.Equal(t, 2, k.Live().LocalInvitations+k.Live().RemoteInvitations)

	c.remote.Set("response", "on my way")
	p := c.remote.Call("accept")
	assert.Equal(t, "ACCEPT_SENT_TO_LOCAL", c.remote.Get("state").String())
	await(t, p)
	assert.Equal(t, "ACCEPTED", c.remote.Get("state").String())
	assert.Equal(t, "ACCEPTED", c.rev.next(EvRemoteAccepted).state)
	e := c.lev.next(EvLocalAccepted)
	assert.Equal(t, "on my way", e.args[0].String())
	assert.Equal(t, "ACCEPTED_BY_REMOTE", e.state)
	assert.Equal(t, "on my way", c.local.Get("response").String())
	c.lev.none()
	c.rev.none()
	// The call goes on until hang-up: both objects stay live.
	assert.Equal(t, "IN_CALL", c.local.Get("callState").String())
	assert.Equal(t, "IN_CALL", c.remote.Get("callState").String())
	assert.Equal(t, 2, k.Live().LocalInvitations+k.Live().RemoteInvitations)
	await(t, c.remote.Call("hangup"))
	for _, e := range []event{c.rev.next(EvCallEnded), c.lev.next(EvCallEnded)} {
		assert.Equal(t, "HANGUP", e.args[0].String())
		assert.Equal(t, bobID, e.args[1].String())
	}
	requireNoInvitations(t, k)
	assert.Equal(t, "ENDED", c.local.Get("callState").String())
	assert.Equal(t, "ENDED", c.remote.Get("callState").String())
	requireRtmError(t, rejection(t, c.local.Call("hangup")), 3, "ALREADY_END")
	requireRtmError(t, rejection(t, c.remote.Call("hangup")), 3, "ALREADY_END")

	// After the end the objects still answer, from their records.
	assert.Equal(t, "ACCEPTED_BY_REMOTE", c.local.Get("state").String())
	assert.Equal(t, "lunch?", c.local.Get("content").String())
	assert.Equal(t, 30000, c.local.Get("timeoutMs").Int())
	assert.Equal(t, "ACCEPTED", c.remote.Get("state").String())
	assert.Equal(t, "on my way", c.remote.Get("response").String())
	requireRtmError(t, rejection(t, c.local.Call("cancel")), 3, "ALREADY_END")
	requireRtmError(t, rejection(t, c.local.Call("send")), 3, "ALREADY_END")
	requireRtmError(t, rejection(t, c.remote.Call("accept")), 3, "ALREADY_END")
	requireRtmError(t, rejection(t, c.remote.Call("refuse")), 3, "ALREADY_END")
	requireRtmError(t, thrown(t, func() { setProp(c.local, "content", "x") }), 3, "ALREADY_END")
	requireRtmError(t, thrown(t, func() { setProp(c.remote, "response", "x") }), 3, "ALREADY_END")
	requireRtmError(t, thrown(t, func() { setProp(c.remote, "response", strings.Repeat("x", 8193)) }), 1, "INVALID_ARGUMENT")
	c.local.Call("on", EvLocalCanceled, jsEval(`() => {}`)) // accepted, and kept nowhere
}

func TestRefuse(t *testing.T) {
	_, k, alice, _, _, bobID, _, bev := pair(t)
	c := ring(t, alice, bobID, bev, nil)
	c.remote.Set("response", "busy")
	await(t, c.remote.Call("refuse"))
	assert.Equal(t, "REFUSED", c.rev.next(EvRemoteRefused).state)
	e := c.lev.next(EvLocalRefused)
	assert.Equal(t, "busy", e.args[0].String())
	assert.Equal(t, "REFUSED_BY_REMOTE", e.state)
	requireNoInvitations(t, k)
}

func TestCancel(t *testing.T) {
	_, k, alice, _, _, bobID, _, bev := pair(t)
	c := ring(t, alice, bobID, bev, func(l js.Value) { l.Set("content", "are you there?") })
	await(t, c.local.Call("cancel"))
	assert.Equal(t, "CANCELED", c.local.Get("state").String())
	assert.Equal(t, "CANCELED", c.lev.next(EvLocalCanceled).state)
	e := c.rev.next(EvRemoteCanceled)
	assert.Equal(t, "are you there?", e.args[0].String())
	assert.Equal(t, "CANCELED", e.state)
	requireRtmError(t, rejection(t, c.remote.Call("accept")), 3, "ALREADY_END")
	requireNoInvitations(t, k)
}

func TestOffline(t *testing.T) {
	_, k, alice, _, _, _, _, _ := pair(t)
	l := alice.Call("createLocalInvitation", uniq(t, "nobody"))
	lev := newRecorder(t)
	lev.on(l, localEvs...)
	await(t, l.Call("send"))
	e := lev.next(EvLocalFailure)
	assert.Equal(t, "PEER_OFFLINE", e.args[0].String())
	assert.Equal(t, "FAILURE", e.state)
	requireNoInvitations(t, k)
}

func TestExpiry(t *testing.T) {
	_, k, alice, _, _, bobID, _, bev := pair(t)
	start := time.Now()
	c := ring(t, alice, bobID, bev, func(l js.Value) { l.Set("timeoutMs", 1000) })
	assert.Equal(t, 1000, c.local.Get("timeoutMs").Int())
	assert.Equal(t, "INVITATION_EXPIRE", c.lev.next(EvLocalFailure).args[0].String())
	assert.Equal(t, "INVITATION_EXPIRE", c.rev.next(EvRemoteFailure).args[0].String())
	assert.GreaterOrEqual(t, time.Since(start), 900*time.Millisecond)
	requireRtmError(t, rejection(t, c.remote.Call("accept")), 3, "ALREADY_END")
	requireNoInvitations(t, k)
}

// TestNoResponse rings a device that never acknowledges (a raw connection,
// not a client of this module): PEER_NO_RESPONSE after the receipt timeout.
func TestNoResponse(t *testing.T) {
	_, k, alice, _, _, _, _, _ := pair(t)
	mute := uniq(t, "mute")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{Subprotocols: []string{protocol.Subprotocol}})
	require.NoError(t, err)
	defer conn.CloseNow()
	login, err := protocol.Encode(&protocol.Frame{Type: protocol.TypeLogin, RID: 1, User: mute})
	require.NoError(t, err)
	require.NoError(t, conn.Write(ctx, websocket.MessageText, login))
	_, data, err := conn.Read(ctx)
	require.NoError(t, err)
	require.Contains(t, string(data), `"ok"`)

	l := alice.Call("createLocalInvitation", mute)
	lev := newRecorder(t)
	lev.on(l, localEvs...)
	start := time.Now()
	await(t, l.Call("send"))
	_, data, err = conn.Read(ctx)
	require.NoError(t, err)
	require.Contains(t, string(data), `"invite"`) // and no ack
	e := lev.next(EvLocalFailure)
	assert.Equal(t, "PEER_NO_RESPONSE", e.args[0].String())
	assert.GreaterOrEqual(t, time.Since(start), receiptTimeout(t)-200*time.Millisecond)
	requireNoInvitations(t, k)
}

// TestAnsweredElsewhere rings two clients of the same user: one accepts,
// the other stops ringing with ANSWERED_ELSEWHERE.
func TestAnsweredElsewhere(t *testing.T) {
	_, k, alice, _, _, bobID, _, bev := pair(t)
	_, kit := k, k.Value()
	bob2 := client(t, kit, bobID)
	bev2 := newRecorder(t)
	bev2.on(bob2, EvRemoteInvitationReceived)
	c := ring(t, alice, bobID, bev, nil)
	r2 := bev2.next(EvRemoteInvitationReceived).args[0]
	rev2 := newRecorder(t)
	rev2.on(r2, remoteEvs...)
	await(t, r2.Call("accept"))
	rev2.next(EvRemoteAccepted)
	e := c.rev.next(EvRemoteFailure)
	assert.Equal(t, "ANSWERED_ELSEWHERE", e.args[0].String())
	assert.Equal(t, "FAILURE", e.state)
	c.lev.next(EvLocalAccepted)
	requireRtmError(t, rejection(t, c.remote.Call("accept")), 3, "ALREADY_END")
	requireRtmError(t, rejection(t, c.remote.Call("hangup")), 2, "NOT_STARTED") // not this device's call
	await(t, r2.Call("hangup"))
	rev2.next(EvCallEnded)
	c.lev.next(EvCallEnded)
	requireNoInvitations(t, k)
}

func TestMisuse(t *testing.T) {
	_, k, alice, bob, aliceID, bobID, _, bev := pair(t)
	// INVALID_ARGUMENT: bad ids, values out of bounds, self-invitation.
	for _, id := range []string{"", "null", "a/b", strings.Repeat("x", 65)} {
		requireRtmError(t, thrown(t, func() { alice.Call("createLocalInvitation", id) }), 1, "INVALID_ARGUMENT")
	}
	requireRtmError(t, thrown(t, func() { alice.Call("createLocalInvitation") }), 1, "INVALID_ARGUMENT")
	l := alice.Call("createLocalInvitation", bobID)
	requireRtmError(t, thrown(t, func() { setProp(l, "content", strings.Repeat("é", 4097)) }), 1, "INVALID_ARGUMENT")
	requireRtmError(t, thrown(t, func() { setProp(l, "content", 42) }), 1, "INVALID_ARGUMENT")
	requireRtmError(t, thrown(t, func() { setProp(l, "channelId", strings.Repeat("c", 65)) }), 1, "INVALID_ARGUMENT")
	requireRtmError(t, thrown(t, func() { setProp(l, "timeoutMs", 999) }), 1, "INVALID_ARGUMENT")
	requireRtmError(t, thrown(t, func() { setProp(l, "timeoutMs", 600001) }), 1, "INVALID_ARGUMENT")
	requireRtmError(t, thrown(t, func() { setProp(l, "timeoutMs", "1000") }), 1, "INVALID_ARGUMENT")
	assert.Equal(t, "", l.Get("content").String(), "a rejected value is not kept")
	l.Set("content", strings.Repeat("é", 4096))
	l.Set("timeoutMs", 0)
	self := alice.Call("createLocalInvitation", aliceID)
	requireRtmError(t, rejection(t, self.Call("send")), 1, "INVALID_ARGUMENT")
	assert.Equal(t, "IDLE", self.Get("state").String())
	requireRtmError(t, rejection(t, alice.Call("queryPeersOnlineStatus", jsEval(`["ok", "not/ok"]`))), 1, "INVALID_ARGUMENT")
	requireRtmError(t, rejection(t, alice.Call("queryPeersOnlineStatus", "bob")), 1, "INVALID_ARGUMENT")
	requireRtmError(t, rejection(t, alice.Call("subscribePeersOnlineStatus", jsEval(`[]`))), 1, "INVALID_ARGUMENT")

	// NOT_STARTED: cancel before send.
	requireRtmError(t, rejection(t, l.Call("cancel")), 2, "NOT_STARTED")

	// ALREADY_SENT: send twice, set after send.
	c := ring(t, alice, bobID, bev, nil)
	requireRtmError(t, rejection(t, c.local.Call("send")), 5, "ALREADY_SENT")
	requireRtmError(t, thrown(t, func() { setProp(c.local, "content", "late") }), 5, "ALREADY_SENT")
	requireRtmError(t, thrown(t, func() { setProp(c.local, "timeoutMs", 5000) }), 5, "ALREADY_SENT")

	// ALREADY_ACCEPT: refuse, accept or a new response while an accept is in flight.
	accepting := c.remote.Call("accept")
	requireRtmError(t, rejection(t, c.remote.Call("refuse")), 4, "ALREADY_ACCEPT")
	requireRtmError(t, rejection(t, c.remote.Call("accept")), 4, "ALREADY_ACCEPT")
	requireRtmError(t, thrown(t, func() { setProp(c.remote, "response", "late") }), 4, "ALREADY_ACCEPT")
	await(t, accepting)

	// ALREADY_END: anything after the end.
	c.lev.next(EvLocalAccepted)
	requireRtmError(t, rejection(t, c.local.Call("cancel")), 3, "ALREADY_END")
	requireRtmError(t, rejection(t, c.remote.Call("refuse")), 3, "ALREADY_END")
	await(t, c.local.Call("hangup"))
	c.rev.next(EvRemoteAccepted)
	c.rev.next(EvCallEnded)

	// NOT_LOGGED_IN: a client that is not logged in.
	out := k.Value().Call("createClient", jsEval(`({url: "`+wsURL+`"})`))
	l = out.Call("createLocalInvitation", bobID)
	lev := newRecorder(t)
	lev.on(l, localEvs...)
	requireRtmError(t, rejection(t, l.Call("send")), 204, "NOT_LOGGED_IN")
	assert.Equal(t, "NOT_LOGGEDIN", lev.next(EvLocalFailure).args[0].String())
	assert.Equal(t, "FAILURE", l.Get("state").String())
	requireRtmError(t, rejection(t, out.Call("queryPeersOnlineStatus", jsEval(`["bob"]`))), 204, "NOT_LOGGED_IN")
	requireRtmError(t, rejection(t, out.Call("subscribePeersOnlineStatus", jsEval(`["bob"]`))), 204, "NOT_LOGGED_IN")
	_ = bob
	requireNoInvitations(t, k)
}

// TestLogoutEndsInvitations: the caller's logout fails its call with
// NOT_LOGGEDIN; the callee's device sees PEER_OFFLINE.
func TestLogoutEndsInvitations(t *testing.T) {
	_, k, alice, bob, _, bobID, _, bev := pair(t)
	c := ring(t, alice, bobID, bev, nil)
	await(t, alice.Call("logout"))
	assert.Equal(t, "NOT_LOGGEDIN", c.lev.next(EvLocalFailure).args[0].String())
	assert.Equal(t, "PEER_OFFLINE", c.rev.next(EvRemoteFailure).args[0].String())
	requireNoInvitations(t, k)

	// And the callee's logout: its ringing invitation ends with UNKNOWN.
	await(t, alice.Call("login", uniq(t, "alice")))
	c = ring(t, alice, bobID, bev, nil)
	await(t, bob.Call("logout"))
	assert.Equal(t, "UNKNOWN", c.rev.next(EvRemoteFailure).args[0].String())
	assert.Equal(t, "PEER_OFFLINE", c.lev.next(EvLocalFailure).args[0].String())
	requireNoInvitations(t, k)
	await(t, alice.Call("logout"))
	assert.Equal(t, 0, k.Live().Clients)
}

func TestPresence(t *testing.T) {
	_, k, alice, _, _, bobID, _, _ := pair(t)
	kit := k.Value()
	carolID := uniq(t, "carol")
	online := await(t, alice.Call("queryPeersOnlineStatus", js.ValueOf([]any{bobID, carolID})))
	assert.True(t, online.Get(bobID).Bool())
	assert.False(t, online.Get(carolID).Bool())

	ev := newRecorder(t)
	ev.on(alice, EvPeersOnlineStatusChanged)
	await(t, alice.Call("subscribePeersOnlineStatus", js.ValueOf([]any{carolID})))
	assert.Equal(t, "OFFLINE", ev.next(EvPeersOnlineStatusChanged).args[0].Get(carolID).String())
	carol := client(t, kit, carolID)
	assert.Equal(t, "ONLINE", ev.next(EvPeersOnlineStatusChanged).args[0].Get(carolID).String())
	await(t, carol.Call("logout"))
	assert.Equal(t, "OFFLINE", ev.next(EvPeersOnlineStatusChanged).args[0].Get(carolID).String())
	await(t, alice.Call("unsubscribePeersOnlineStatus", js.ValueOf([]any{carolID})))
	await(t, carol.Call("login", carolID))
	ev.none()
}

// TestDelegate checks every hook of setCallDelegate, with its arguments,
// after the object's own handlers.
func TestDelegate(t *testing.T) {
	_, k, alice, bob, aliceID, bobID, _, bev := pair(t)
	var calls []string
	hook := func(name string) js.Func {
		f := js.FuncOf(func(this js.Value, args []js.Value) any {
			s := name + "(" + args[0].Get("state").String()
			for _, a := range args[1:] {
				s += "," + a.String()
			}
			calls = append(calls, s+")")
			return nil
		})
		t.Cleanup(f.Release)
		return f
	}
	delegate := func(names ...string) js.Value {
		d := newObject()
		for _, n := range names {
			d.Set(n, hook(n))
		}
		return d
	}
	alice.Call("setCallDelegate", delegate("localInvitationReceivedByPeer", "localInvitationAccepted",
		"localInvitationRefused", "localInvitationCanceled", "localInvitationFailure"))
	bob.Call("setCallDelegate", delegate("remoteInvitationReceived", "remoteInvitationAccepted",
		"remoteInvitationRefused", "remoteInvitationCanceled", "remoteInvitationFailure", "callEnded"))

	c := ring(t, alice, bobID, bev, nil)
	c.remote.Set("response", "yes")
	await(t, c.remote.Call("accept"))
	c.lev.next(EvLocalAccepted)
	await(t, c.local.Call("hangup"))
	c.rev.next(EvRemoteAccepted)
	c.rev.next(EvCallEnded)
	c = ring(t, alice, bobID, bev, nil)
	await(t, c.remote.Call("refuse"))
	c.lev.next(EvLocalRefused)
	c = ring(t, alice, bobID, bev, nil)
	await(t, c.local.Call("cancel"))
	c.rev.next(EvRemoteCanceled)
	c = ring(t, alice, bobID, bev, func(l js.Value) { l.Set("timeoutMs", 1000) })
	c.lev.next(EvLocalFailure)
	c.rev.next(EvRemoteFailure)

	eventually(t, func() bool { return len(calls) == 17 }, "17 delegate calls")
	assert.ElementsMatch(t, []string{
		"remoteInvitationReceived(INVITATION_RECEIVED)", "localInvitationReceivedByPeer(RECEIVED_BY_REMOTE)",
		"remoteInvitationAccepted(ACCEPTED)", "localInvitationAccepted(ACCEPTED_BY_REMOTE,yes)",
		"callEnded(ACCEPTED,HANGUP," + aliceID + ")",
		"remoteInvitationReceived(INVITATION_RECEIVED)", "localInvitationReceivedByPeer(RECEIVED_BY_REMOTE)",
		"remoteInvitationRefused(REFUSED)", "localInvitationRefused(REFUSED_BY_REMOTE,)",
		"remoteInvitationReceived(INVITATION_RECEIVED)", "localInvitationReceivedByPeer(RECEIVED_BY_REMOTE)",
		"localInvitationCanceled(CANCELED)", "remoteInvitationCanceled(CANCELED)",
		"remoteInvitationReceived(INVITATION_RECEIVED)", "localInvitationReceivedByPeer(RECEIVED_BY_REMOTE)",
		"localInvitationFailure(FAILURE,INVITATION_EXPIRE)", "remoteInvitationFailure(FAILURE,INVITATION_EXPIRE)",
	}, calls)
	requireNoInvitations(t, k)
}

// TestManyCalls places calls until the kit's Go state would show a leak:
// every entry goes when its invitation ends, and no js.Func is left behind.
func TestManyCalls(t *testing.T) {
	_, k, alice, _, _, bobID, _, bev := pair(t)
	funcs := k.Live().Funcs
	for i := range 60 {
		c := ring(t, alice, bobID, bev, nil)
		switch i % 3 {
		case 0:
			await(t, c.remote.Call("accept"))
			c.lev.next(EvLocalAccepted)
			await(t, c.local.Call("hangup"))
			c.rev.next(EvRemoteAccepted)
			c.rev.next(EvCallEnded)
		case 1:
			await(t, c.remote.Call("refuse"))
			c.lev.next(EvLocalRefused)
		case 2:
			await(t, c.local.Call("cancel"))
			c.rev.next(EvRemoteCanceled)
		}
	}
	requireNoInvitations(t, k)
	assert.Equal(t, funcs, k.Live().Funcs)
}
