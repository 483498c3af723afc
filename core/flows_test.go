//go:build !js

package core_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
)

func TestAccept(t *testing.T) {
	srv := startServer(t)
	alice, bob := login(t, srv, "alice"), login(t, srv, "bob")
	l := alice.newInvitation("bob", "join me?")
	require.NoError(t, l.SetChannelID("room-1"))
	require.NoError(t, l.Send(ctxT(t)))
	assert.Len(t, l.ID(), 32)
	assert.Equal(t, 60*time.Second, l.Timeout(), "the server's default")

	r := bob.received()
	assert.Equal(t, "alice", r.CallerID())
	assert.Equal(t, "join me?", r.Content())
	assert.Equal(t, "room-1", r.ChannelID())
	assert.Equal(t, l.ID(), r.ID())
	assert.Equal(t, core.RemoteInvitationReceived, r.State())
	alice.expect("local received")
	assert.Equal(t, core.LocalReceivedByRemote, l.State())

	require.NoError(t, r.SetResponse("on my way"))
	require.NoError(t, r.Accept(ctxT(t)))
	assert.Equal(t, core.RemoteAccepted, r.State(), "Accept returns once the server decided")
	bob.expect("remote accepted ACCEPTED")
	alice.expect(`local accepted "on my way" ACCEPTED_BY_REMOTE`)
	assert.Equal(t, "on my way", l.Response())
	alice.quiet()
	bob.quiet()
}

func TestRefuse(t *testing.T) {
	srv := startServer(t)
	alice, bob := login(t, srv, "alice"), login(t, srv, "bob")
	l := alice.invite("bob", "")
	r := bob.received()
	alice.expect("local received")
	require.NoError(t, r.SetResponse("busy"))
	require.NoError(t, r.Refuse(ctxT(t)))
	assert.Equal(t, core.RemoteRefused, r.State())
	bob.expect("remote refused REFUSED")
	alice.expect(`local refused "busy"`)
	assert.Equal(t, core.LocalRefusedByRemote, l.State())
	alice.quiet()
	bob.quiet()
}

func TestCancelAfterReceipt(t *testing.T) {
	srv := startServer(t)
	alice, bob := login(t, srv, "alice"), login(t, srv, "bob")
	l := alice.invite("bob", "call me")
	r := bob.received()
	alice.expect("local received")
	require.NoError(t, l.Cancel(ctxT(t)))
	assert.Equal(t, core.LocalCanceled, l.State(), "Cancel returns once the server decided")
	alice.expect("local canceled")
	bob.expect(`remote canceled "call me"`)
	assert.Equal(t, core.RemoteCanceled, r.State())
	assert.ErrorIs(t, l.Cancel(ctxT(t)), core.ErrAlreadyEnd)
	assert.ErrorIs(t, r.Accept(ctxT(t)), core.ErrAlreadyEnd)
	alice.quiet()
	bob.quiet()
}

// An invitation's callbacks set inside OnInvitationReceived see every later
// event, even one the client handled while that callback ran: an event whose
// callback is not set is dropped only while no callback is queued or running.
func TestCallbacksSetInOnInvitationReceivedSeeLaterEvents(t *testing.T) {
	srv := startServer(t)
	alice := login(t, srv, "alice")
	bob, err := core.NewClient(core.Options{URL: srv.URL, Logf: t.Logf})
	require.NoError(t, err)
	t.Cleanup(func() { bob.Close() })
	canceled := make(chan string, 1)
	bob.OnInvitationReceived(func(r *core.RemoteInvitation) {
		// The cancel comes while this callback runs, before the callback is set.
		assert.Eventually(t, func() bool { return r.State() == core.RemoteCanceled }, waitFor, time.Millisecond)
		r.OnCanceled(func(content string) { canceled <- content })
	})
	require.NoError(t, bob.Login(ctxT(t), "bob", ""))
	l := alice.invite("bob", "set late")
	alice.expect("local received")
	require.NoError(t, l.Cancel(ctxT(t)))
	select {
	case content := <-canceled:
		assert.Equal(t, "set late", content)
	case <-ctxT(t).Done():
		t.Fatal("no RemoteInvitationCanceled for a callback set in OnInvitationReceived")
	}
}

// A callback may make requests and wait for their replies: the reader that
// runs a frame's callbacks itself (queue.handOff) has handed the reading on.
// Bob accepts inside OnInvitationReceived, alice hangs up inside OnAccepted,
// each waiting for the server's answer there, flow after flow.
func TestRequestsInsideCallbacksAreAnswered(t *testing.T) {
	srv := startServer(t)
	newClient := func(id string) *core.Client {
		c, err := core.NewClient(core.Options{URL: srv.URL, Logf: t.Logf})
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		require.NoError(t, c.Login(ctxT(t), id, ""))
		return c
	}
	alice, bob := newClient("alice"), newClient("bob")
	accepted, hungUp := make(chan error, 1), make(chan error, 1)
	bob.OnInvitationReceived(func(r *core.RemoteInvitation) { accepted <- r.Accept(ctxT(t)) })
	for i := range 20 {
		l, err := alice.CreateLocalInvitation("bob")
		require.NoError(t, err)
		l.OnAccepted(func(string) { hungUp <- l.Hangup(ctxT(t)) })
		require.NoError(t, l.Send(ctxT(t)))
		for _, ch := range []chan error{accepted, hungUp} {
			select {
			case err := <-ch:
				require.NoError(t, err, "flow %d", i)
			case <-ctxT(t).Done():
				t.Fatalf("flow %d: a request made inside a callback got no answer", i)
			}
		}
	}
}

func TestCancelBeforeReceipt(t *testing.T) {
	srv := startServer(t)
	alice := login(t, srv, "alice")
	bob := dialRaw(t, srv.URL) // a callee device that never acknowledges
	bob.login("bob")
	l := alice.invite("bob", "quick")
	inv := bob.expect(protocol.TypeInvite)
	assert.Equal(t, l.ID(), inv.Inv)
	require.NoError(t, l.Cancel(ctxT(t)))
	alice.expect("local canceled") // and no "local received" before it
	f := bob.expect(protocol.TypeRemoteCanceled)
	assert.Equal(t, "quick", f.Content)
	alice.quiet()
}

func TestOfflineCalleeFailsAtOnce(t *testing.T) {
	srv := startServer(t)
	alice := login(t, srv, "alice")
	start := time.Now()
	l := alice.invite("nobody", "")
	alice.expect("local failure PEER_OFFLINE")
	assert.Less(t, time.Since(start), 2*time.Second, "no 30 s wait as in Agora")
	assert.Equal(t, core.LocalFailure, l.State())
	assert.Equal(t, core.LocalFailurePeerOffline, l.FailureReason())
	assert.ErrorIs(t, l.Send(ctxT(t)), core.ErrAlreadyEnd)
}

func TestNoReceiptGivesPeerNoResponse(t *testing.T) {
	srv := startServer(t, func(c *server.Config) { c.ReceiptTimeout = 100 * time.Millisecond })
	alice := login(t, srv, "alice")
	bob := dialRaw(t, srv.URL)
	bob.login("bob")
	alice.invite("bob", "")
	bob.expect(protocol.TypeInvite)
	alice.expect("local failure PEER_NO_RESPONSE")
	f := bob.expect(protocol.TypeRemoteFailure)
	assert.Equal(t, "INVITATION_EXPIRE", f.Reason)
}

func TestExpiry(t *testing.T) {
	t.Run("server default", func(t *testing.T) {
		srv := startServer(t, func(c *server.Config) { c.InvitationTimeout = 200 * time.Millisecond })
		alice, bob := login(t, srv, "alice"), login(t, srv, "bob")
		l := alice.invite("bob", "")
		assert.Equal(t, 200*time.Millisecond, l.Timeout())
		r := bob.received()
		alice.expect("local received", "local failure INVITATION_EXPIRE")
		bob.expect("remote failure INVITATION_EXPIRE")
		assert.Equal(t, core.RemoteFailureInvitationExpire, r.FailureReason())
		assert.ErrorIs(t, r.Accept(ctxT(t)), core.ErrAlreadyEnd)
	})
	t.Run("per invitation", func(t *testing.T) {
		srv := startServer(t)
		alice, bob := login(t, srv, "alice"), login(t, srv, "bob")
		l := alice.newInvitation("bob", "")
		require.NoError(t, l.SetTimeout(time.Second))
		start := time.Now()
		require.NoError(t, l.Send(ctxT(t)))
		r := bob.received()
		assert.Equal(t, time.Second, r.Timeout())
		alice.expect("local received", "local failure INVITATION_EXPIRE")
		bob.expect("remote failure INVITATION_EXPIRE")
		assert.GreaterOrEqual(t, time.Since(start), time.Second)
	})
}

func TestSendWhileNotLoggedIn(t *testing.T) {
	srv := startServer(t)
	alice := newClient(t, srv, "alice")
	l := alice.newInvitation("bob", "")
	err := l.Send(ctxT(t))
	assert.ErrorIs(t, err, core.ErrNotLoggedIn)
	alice.expect("local failure NOT_LOGGEDIN")
	assert.Equal(t, core.LocalFailure, l.State())
	assert.Equal(t, core.LocalFailureNotLoggedIn, l.FailureReason())
	_, err = alice.c.QueryPeersOnlineStatus(ctxT(t), []string{"bob"})
	assert.ErrorIs(t, err, core.ErrNotLoggedIn)
}

func TestMisuseCodes(t *testing.T) {
	srv := startServer(t)
	alice, bob := login(t, srv, "alice"), login(t, srv, "bob")

	code := func(err error) protocol.Code { return core.CodeOf(err) }
	_, err := alice.c.CreateLocalInvitation("null")
	assert.Equal(t, protocol.CodeInvalidArgument, code(err), "bad callee id")
	l := alice.newInvitation("bob", "")
	assert.Equal(t, protocol.CodeInvalidArgument, code(l.SetContent(strings.Repeat("x", 8193))))
	assert.Equal(t, protocol.CodeInvalidArgument, code(l.SetChannelID(strings.Repeat("c", 65))))
	assert.Equal(t, protocol.CodeInvalidArgument, code(l.SetTimeout(500*time.Millisecond)))
	assert.Equal(t, protocol.CodeInvalidArgument, code(l.SetTimeout(601*time.Second)))
	assert.Equal(t, protocol.CodeNotStarted, code(l.Cancel(ctxT(t))), "cancel before send")

	self := alice.newInvitation("alice", "")
	assert.Equal(t, protocol.CodeInvalidArgument, code(self.Send(ctxT(t))), "self invitation")
	assert.Equal(t, core.LocalIdle, self.State())

	require.NoError(t, l.Send(ctxT(t)))
	assert.Equal(t, protocol.CodeAlreadySent, code(l.Send(ctxT(t))), "send twice")
	assert.Equal(t, protocol.CodeAlreadySent, code(l.SetContent("late")), "content after send")
	r := bob.received()
	alice.expect("local received")
	assert.Equal(t, protocol.CodeInvalidArgument, code(r.SetResponse(strings.Repeat("x", 8193))))
	require.NoError(t, r.Refuse(ctxT(t)))
	bob.expect("remote refused REFUSED")
	alice.expect(`local refused ""`)
	assert.Equal(t, protocol.CodeAlreadyEnd, code(r.Accept(ctxT(t))), "accept after the end")
	assert.Equal(t, protocol.CodeAlreadyEnd, code(r.Refuse(ctxT(t))), "refuse after the end")
	assert.Equal(t, protocol.CodeAlreadyEnd, code(r.SetResponse("x")), "response after the end")
	assert.Equal(t, protocol.CodeAlreadyEnd, code(l.Cancel(ctxT(t))), "cancel after the end")
	assert.Equal(t, protocol.CodeAlreadyEnd, code(l.Send(ctxT(t))), "send after the end")
	alice.quiet()
	bob.quiet()
}

func TestMultiDeviceFirstAnswerWins(t *testing.T) {
	srv := startServer(t)
	alice := login(t, srv, "alice")
	phone, laptop := login(t, srv, "bob"), login(t, srv, "bob")
	firstAnswerWins(t, alice, phone, laptop)
}

// firstAnswerWins calls two devices of one callee: both ring, the laptop
// accepts, the phone is answered elsewhere and its late accept ALREADY_END.
func firstAnswerWins(t *testing.T, alice, phone, laptop *user) {
	t.Helper()
	l := alice.invite(phone.id, "ring all")
	rp, rl := phone.received(), laptop.received()
	assert.Equal(t, l.ID(), rp.ID())
	assert.Equal(t, l.ID(), rl.ID())
	alice.expect("local received") // once, whichever device acknowledged first
	require.NoError(t, rl.Accept(ctxT(t)))
	laptop.expect("remote accepted ACCEPTED")
	phone.expect("remote failure ANSWERED_ELSEWHERE")
	alice.expect(`local accepted "" ACCEPTED_BY_REMOTE`)
	assert.ErrorIs(t, rp.Accept(ctxT(t)), core.ErrAlreadyEnd)
	hangUp(t, alice, l, laptop)
	alice.quiet()
	phone.quiet()
	laptop.quiet()
}

func TestRefuseOnOneDeviceStopsTheOthers(t *testing.T) {
	srv := startServer(t)
	alice := login(t, srv, "alice")
	phone, laptop := login(t, srv, "bob"), login(t, srv, "bob")
	alice.invite("bob", "")
	rp, _ := phone.received(), laptop.received()
	alice.expect("local received")
	require.NoError(t, rp.Refuse(ctxT(t)))
	phone.expect("remote refused REFUSED")
	laptop.expect("remote failure ANSWERED_ELSEWHERE")
	alice.expect(`local refused ""`)
}

func TestCallerDisconnect(t *testing.T) {
	srv := startServer(t)
	alice, bob := login(t, srv, "alice"), login(t, srv, "bob")
	alice.invite("bob", "")
	r := bob.received()
	alice.expect("local received")
	require.NoError(t, alice.c.Close())
	bob.expect("remote failure PEER_OFFLINE")
	assert.Equal(t, core.RemoteFailurePeerOffline, r.FailureReason())
}

func TestCalleeDisconnect(t *testing.T) {
	srv := startServer(t)
	alice := login(t, srv, "alice")
	phone, laptop := login(t, srv, "bob"), login(t, srv, "bob")
	l := alice.invite("bob", "")
	phone.received()
	laptop.received()
	alice.expect("local received")
	require.NoError(t, phone.c.Close())
	alice.quiet() // one device left: still ringing
	assert.Equal(t, core.LocalReceivedByRemote, l.State())
	require.NoError(t, laptop.c.Close())
	alice.expect("local failure PEER_OFFLINE")
}

func TestLogoutEndsPendingInvitations(t *testing.T) {
	srv := startServer(t)
	alice, bob, carol := login(t, srv, "alice"), login(t, srv, "bob"), login(t, srv, "carol")
	out := alice.invite("bob", "")
	bob.received()
	alice.expect("local received")
	carol.invite("alice", "")
	in := alice.received()
	carol.expect("local received")

	require.NoError(t, alice.c.Logout(ctxT(t)))
	got := []string{alice.next(), alice.next(), alice.next()}
	assert.ElementsMatch(t, []string{"local failure NOT_LOGGEDIN", "remote failure UNKNOWN", "state DISCONNECTED LOGOUT"}, got)
	assert.Equal(t, "state DISCONNECTED LOGOUT", got[2], "the state changes last")
	assert.Equal(t, core.LocalFailureNotLoggedIn, out.FailureReason())
	assert.Equal(t, core.RemoteFailure, in.State())
	bob.expect("remote failure PEER_OFFLINE")
	carol.expect("local failure PEER_OFFLINE")
	assert.Equal(t, core.ConnectionDisconnected, alice.c.ConnectionState())
	require.NoError(t, alice.c.Logout(ctxT(t)), "logging out twice does nothing")

	// The same client logs in again and works.
	require.NoError(t, alice.c.Login(ctxT(t), "alice", ""))
	alice.expect("state CONNECTING LOGIN", "state CONNECTED LOGIN_SUCCESS")
	alice.invite("bob", "again")
	bob.received()
}

func TestPresence(t *testing.T) {
	srv := startServer(t)
	alice := login(t, srv, "alice")
	online, err := alice.c.QueryPeersOnlineStatus(ctxT(t), []string{"bob", "alice"})
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"bob": false, "alice": true}, online)

	require.NoError(t, alice.c.SubscribePeersOnlineStatus(ctxT(t), []string{"bob"}))
	alice.expect("presence bob=OFFLINE")
	phone := login(t, srv, "bob")
	alice.expect("presence bob=ONLINE")
	laptop := login(t, srv, "bob")
	online, err = alice.c.QueryPeersOnlineStatus(ctxT(t), []string{"bob"})
	require.NoError(t, err)
	assert.True(t, online["bob"])
	require.NoError(t, phone.c.Close())
	alice.quiet() // still online on the laptop: no event
	require.NoError(t, laptop.c.Logout(ctxT(t)))
	alice.expect("presence bob=OFFLINE")

	require.NoError(t, alice.c.UnsubscribePeersOnlineStatus(ctxT(t), []string{"bob"}))
	login(t, srv, "bob")
	alice.quiet()

	_, err = alice.c.QueryPeersOnlineStatus(ctxT(t), make([]string, 257))
	assert.ErrorIs(t, err, core.ErrInvalidArgument)
	assert.ErrorIs(t, alice.c.SubscribePeersOnlineStatus(ctxT(t), []string{"bad\"id"}), core.ErrInvalidArgument)
}

func TestLoginWithTokens(t *testing.T) {
	srv := startServer(t, func(c *server.Config) { c.Dev = false })
	cases := []struct {
		name  string
		user  string
		token string
		code  protocol.Code
	}{
		{"no token", "alice", "", protocol.CodeInvalidToken},
		{"garbage token", "alice", "not.a.jwt", protocol.CodeInvalidToken},
		{"token of another user", "alice", srv.Token("bob", time.Hour), protocol.CodeNotAuthorized},
		{"expired token", "alice", srv.Token("alice", -time.Minute), protocol.CodeTokenExpired},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := newClient(t, srv, tc.user)
			err := u.c.Login(ctxT(t), tc.user, tc.token)
			assert.Equal(t, tc.code, core.CodeOf(err), "%v", err)
			u.expect("state CONNECTING LOGIN", "state DISCONNECTED LOGIN_FAILURE")
		})
	}
	t.Run("valid token", func(t *testing.T) {
		u := newClient(t, srv, "alice")
		require.NoError(t, u.c.Login(ctxT(t), "alice", srv.Token("alice", time.Hour)))
		u.expect("state CONNECTING LOGIN", "state CONNECTED LOGIN_SUCCESS")
		assert.Equal(t, "alice", u.c.UserID())
		assert.ErrorIs(t, u.c.Login(ctxT(t), "alice", ""), &protocol.Error{Code: protocol.CodeAlreadyLogin})
	})
	t.Run("bad user id", func(t *testing.T) {
		u := newClient(t, srv, "x")
		assert.ErrorIs(t, u.c.Login(ctxT(t), "", ""), core.ErrInvalidArgument)
	})
	t.Run("token will expire", func(t *testing.T) {
		u := newClient(t, srv, "alice")
		fired := make(chan struct{})
		u.c.OnTokenPrivilegeWillExpire(func() { close(fired) })
		require.NoError(t, u.c.Login(ctxT(t), "alice", srv.Token("alice", 31*time.Second)))
		select {
		case <-fired:
		case <-time.After(waitFor):
			t.Fatal("TokenPrivilegeWillExpire did not fire 30 s before exp")
		}
	})
}

func TestUnreachableServer(t *testing.T) {
	c, err := core.NewClient(core.Options{URL: "ws://127.0.0.1:1/ws", Logf: t.Logf})
	require.NoError(t, err)
	defer c.Close()
	err = c.Login(ctxT(t), "alice", "")
	assert.ErrorIs(t, err, core.ErrNotConnected)
	assert.Equal(t, core.ConnectionDisconnected, c.ConnectionState())
	_, err = core.NewClient(core.Options{URL: "http://x"})
	assert.ErrorIs(t, err, core.ErrInvalidArgument)
}

func TestServerShutdownEndsInvitations(t *testing.T) {
	srv := startServer(t)
	alice, bob := login(t, srv, "alice"), login(t, srv, "bob")
	alice.invite("bob", "")
	bob.received()
	alice.expect("local received")
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	require.NoError(t, srv.Node.Shutdown(ctx))
	alice.expect("local failure UNKNOWN", "state DISCONNECTED INTERRUPTED")
	bob.expect("remote failure UNKNOWN", "state DISCONNECTED INTERRUPTED")
}

// Each race has one winner; the loser's call returns ALREADY_END and its
// side sees the winner's event; both ends agree.
func TestRaces(t *testing.T) {
	const rounds = 30
	t.Run("cancel vs accept", func(t *testing.T) {
		srv := startServer(t)
		raceCancelAccept(t, login(t, srv, "alice"), login(t, srv, "bob"), rounds)
	})
	t.Run("accept on two devices", func(t *testing.T) {
		srv := startServer(t)
		raceTwoDevices(t, login(t, srv, "alice"), [2]*user{login(t, srv, "bob"), login(t, srv, "bob")}, rounds)
	})
	t.Run("refuse vs expiry", func(t *testing.T) {
		srv := startServer(t, func(c *server.Config) { c.InvitationTimeout = 20 * time.Millisecond })
		alice, bob := login(t, srv, "alice"), login(t, srv, "bob")
		wins := map[string]int{}
		for i := 0; i < rounds; i++ {
			l := alice.invite("bob", "")
			r := bob.received()
			// Jitter, not a wait for an event: it spreads the refusal over the
			// 20 ms expiry so that both orders happen.
			time.Sleep(time.Duration(i%8) * 5 * time.Millisecond)
			err := r.Refuse(ctxT(t))
			outcome := alice.next()
			if outcome == "local received" { // expiry may come before the receipt
				outcome = alice.next()
			}
			if err == nil {
				assert.Equal(t, `local refused ""`, outcome)
				bob.expect("remote refused REFUSED")
				wins["refuse"]++
			} else {
				require.ErrorIs(t, err, core.ErrAlreadyEnd)
				assert.Equal(t, "local failure INVITATION_EXPIRE", outcome)
				bob.expect("remote failure INVITATION_EXPIRE")
				wins["expiry"]++
			}
			assert.True(t, l.State().Ended())
		}
		t.Logf("winners over %d rounds: %v", rounds, wins)
	})
}

// raceCancelAccept races alice's cancel against bob's accept, rounds times:
// one wins, the other gets ALREADY_END, both ends see the winner's events.
func raceCancelAccept(t *testing.T, alice, bob *user, rounds int) {
	t.Helper()
	wins := map[string]int{}
	for range rounds {
		l := alice.invite(bob.id, "")
		r := bob.received()
		alice.expect("local received")
		errs := race(func() error { return l.Cancel(ctxT(t)) }, func() error { return r.Accept(ctxT(t)) })
		switch {
		case errs[0] == nil:
			require.ErrorIs(t, errs[1], core.ErrAlreadyEnd)
			alice.expect("local canceled")
			bob.expect(`remote canceled ""`)
			wins["cancel"]++
		case errs[1] == nil:
			require.ErrorIs(t, errs[0], core.ErrAlreadyEnd)
			alice.expect(`local accepted "" ACCEPTED_BY_REMOTE`)
			bob.expect("remote accepted ACCEPTED")
			hangUp(t, alice, l, bob)
			wins["accept"]++
		default:
			t.Fatalf("no winner: %v", errs)
		}
	}
	t.Logf("winners over %d rounds: %v", rounds, wins)
	alice.quiet()
	bob.quiet()
}

// raceTwoDevices races the accepts of two devices of one callee, rounds
// times: one wins, the other gets ALREADY_END and ANSWERED_ELSEWHERE.
func raceTwoDevices(t *testing.T, caller *user, devs [2]*user, rounds int) {
	t.Helper()
	wins := [2]int{}
	for range rounds {
		l := caller.invite(devs[0].id, "")
		rs := []*core.RemoteInvitation{devs[0].received(), devs[1].received()}
		caller.expect("local received")
		errs := race(func() error { return rs[0].Accept(ctxT(t)) }, func() error { return rs[1].Accept(ctxT(t)) })
		w := 0
		if errs[0] != nil {
			w = 1
		}
		require.NoError(t, errs[w])
		require.ErrorIs(t, errs[1-w], core.ErrAlreadyEnd)
		devs[w].expect("remote accepted ACCEPTED")
		devs[1-w].expect("remote failure ANSWERED_ELSEWHERE")
		caller.expect(`local accepted "" ACCEPTED_BY_REMOTE`)
		hangUp(t, caller, l, devs[w])
		wins[w]++
	}
	t.Logf("winners over %d rounds: first device %d, second %d", rounds, wins[0], wins[1])
	caller.quiet()
}

// race runs fs at once and returns their errors.
func race(fs ...func() error) []error {
	errs := make([]error, len(fs))
	start := make(chan struct{})
	done := make(chan int, len(fs))
	for i, f := range fs {
		go func() {
			<-start
			errs[i] = f()
			done <- i
		}()
	}
	close(start)
	for range fs {
		<-done
	}
	return errs
}

// A device of the callee that logs in while the invitation is pending
// gets RemoteInvitationReceived with the time left, and its Accept wins.
func TestLateDeviceRings(t *testing.T) {
	srv := startServer(t)
	alice, phone := login(t, srv, "alice"), login(t, srv, "bob")
	lateAccept(t, alice, phone, func() *user { return login(t, srv, "bob") })
	phone.quiet()
}

// lateAccept: alice invites bob, whose phone rings; then late logs in a
// laptop of bob, which rings with the invitation and accepts it first.
func lateAccept(t *testing.T, alice, phone *user, late func() *user) {
	t.Helper()
	l := alice.invite("bob", "late")
	rp := phone.received()
	alice.expect("local received")
	laptop := late()
	rl := laptop.received()
	assert.Equal(t, l.ID(), rl.ID())
	assert.Equal(t, "alice", rl.CallerID())
	assert.Equal(t, "late", rl.Content())
	require.NoError(t, rl.Accept(ctxT(t)))
	laptop.expect("remote accepted ACCEPTED")
	alice.expect(`local accepted "" ACCEPTED_BY_REMOTE`)
	phone.expect("remote failure ANSWERED_ELSEWHERE")
	assert.ErrorIs(t, rp.Accept(ctxT(t)), core.ErrAlreadyEnd)
}
