//go:build !js

package server_test

import (
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// resume dials again and resumes c's session, acknowledging frames up to ack.
func resume(t *testing.T, srv *rtmcalltest.Server, c *client, ack uint64) (*client, *protocol.Frame) {
	t.Helper()
	again := dial(t, srv, c.name+" again")
	again.session, again.key = c.session, c.key
	reply, before := again.do(&protocol.Frame{Type: protocol.TypeResume, Session: c.session, Key: c.key, Ack: ack})
	require.Empty(t, before)
	return again, reply
}

func TestResumeReplaysWhatWasMissed(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	alice := login(t, srv, "alice")
	bob := login(t, srv, "bob")
	inv1 := alice.send("bob")
	f1 := bob.expect(protocol.TypeInvite, inv1)
	assert.Equal(t, uint64(2), f1.Seq, "the login reply was 1")
	inv2 := alice.send("bob")
	assert.Equal(t, uint64(3), bob.expect(protocol.TypeInvite, inv2).Seq)

	bob.ws.CloseNow() // dropped, not closed: the session is kept
	alice.okAfter(frame(protocol.TypeCancel, inv1), "local.canceled")

	again, reply := resume(t, srv, bob, 2) // bob had handled the first invite only
	require.Equal(t, protocol.TypeOK, reply.Type, "%+v", reply)
	assert.Zero(t, reply.Seq, "the resume reply is outside the stream")
	assert.Equal(t, bob.session, reply.Session)
	assert.Equal(t, bob.rid, reply.LastRID, "bob's last request was carried out")
	f := again.expect(protocol.TypeInvite, inv2)
	assert.Equal(t, uint64(3), f.Seq, "replayed with its seq")
	f = again.expect(protocol.TypeRemoteCanceled, inv1)
	assert.Equal(t, uint64(4), f.Seq)
	again.answered(frame(protocol.TypeAccept, inv2), "remote.accepted")
	alice.expect(protocol.TypeLocalAccepted, inv2)
}

func TestResumeRefusals(t *testing.T) {
	srv := rtmcalltest.NewServer(t, func(c *server.Config) { c.ResumeGrace = 200 * time.Millisecond })
	bob := login(t, srv, "bob")
	bob.ok(&protocol.Frame{Type: protocol.TypePing, Ack: 1}) // acknowledges the login reply: it is forgotten
	bob.ws.CloseNow()

	for name, f := range map[string]*protocol.Frame{
		"wrong key":       {Type: protocol.TypeResume, Session: bob.session, Key: "not-the-key"},
		"unknown session": {Type: protocol.TypeResume, Session: "0123456789abcdef", Key: bob.key},
	} {
		reply, _ := dial(t, srv, name).do(f)
		requireError(t, reply, protocol.CodeResumeFailed)
	}
	_, reply := resume(t, srv, bob, 0) // asks for frame 1, already acknowledged and dropped
	requireError(t, reply, protocol.CodeResumeFailed)
	_, reply = resume(t, srv, bob, 1) // the failed attempt ended the session
	requireError(t, reply, protocol.CodeResumeFailed)
}

func TestGraceEndsTheSession(t *testing.T) {
	srv := rtmcalltest.NewServer(t, func(c *server.Config) { c.ResumeGrace = 100 * time.Millisecond })
	alice := login(t, srv, "alice")
	bob := login(t, srv, "bob")
	alice.ok(&protocol.Frame{Type: protocol.TypeSubscribe, IDs: []string{"bob"}})
	assert.Equal(t, map[string]string{"bob": "ONLINE"}, alice.presence())
	inv := alice.send("bob")
	bob.expect(protocol.TypeInvite, inv)
	bob.ws.CloseNow()
	assert.Equal(t, map[string]string{"bob": "UNREACHABLE"}, alice.presence())
	online := alice.ok(&protocol.Frame{Type: protocol.TypeQuery, IDs: []string{"bob"}}).Online
	assert.True(t, online["bob"], "a session within its grace period counts as online: invitations ring it")
	assert.Equal(t, "PEER_OFFLINE", alice.expect(protocol.TypeLocalFailure, inv).Reason)
	assert.Equal(t, map[string]string{"bob": "OFFLINE"}, alice.presence())
	_, reply := resume(t, srv, bob, 1)
	requireError(t, reply, protocol.CodeResumeFailed)
}

func TestResumeReplacesAHalfDeadConnection(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	alice := login(t, srv, "alice")
	bob := login(t, srv, "bob")
	// bob's old connection is still open as far as the server knows.
	again, reply := resume(t, srv, bob, 1)
	require.Equal(t, protocol.TypeOK, reply.Type, "%+v", reply)
	bob.dropped()
	inv := alice.send("bob")
	again.expect(protocol.TypeInvite, inv)
}

func TestWatchdogs(t *testing.T) {
	t.Run("a connection that never logs in is closed", func(t *testing.T) {
		srv := rtmcalltest.NewServer(t, func(c *server.Config) { c.LoginTimeout = 100 * time.Millisecond })
		c := dial(t, srv, "silent")
		start := time.Now()
		c.dropped()
		assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)
	})
	t.Run("a silent logged-in connection is dropped and its session kept", func(t *testing.T) {
		srv := rtmcalltest.NewServer(t, func(c *server.Config) { c.Heartbeat = 40 * time.Millisecond })
		bob := login(t, srv, "bob") // then says nothing for 2.5 heartbeats
		start := time.Now()
		bob.dropped()
		assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)
		again, reply := resume(t, srv, bob, 1)
		require.Equal(t, protocol.TypeOK, reply.Type, "%+v", reply)
		again.ok(&protocol.Frame{Type: protocol.TypePing, Ack: 1})
	})
	t.Run("a logged-in connection that keeps sending is kept past the idle timeout", func(t *testing.T) {
		// IdleTimeout is 500ms; a ping every 50ms for 1.2s (room for a loaded
		// machine's stalls): frames put the watchdog off each time (it waits
		// for the rest when it fires).
		srv := rtmcalltest.NewServer(t, func(c *server.Config) { c.Heartbeat = 200 * time.Millisecond })
		bob := login(t, srv, "bob")
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for start := time.Now(); time.Since(start) < 1200*time.Millisecond; {
			<-tick.C
			bob.ok(&protocol.Frame{Type: protocol.TypePing})
		}
		start := time.Now()
		bob.dropped() // silent now: dropped after the idle timeout
		assert.GreaterOrEqual(t, time.Since(start), 250*time.Millisecond)
	})
}

func TestTokenExpiryAndRenewal(t *testing.T) {
	srv := rtmcalltest.NewServer(t, func(c *server.Config) { c.Dev = false })
	alice := dial(t, srv, "alice")
	reply := alice.ok(&protocol.Frame{Type: protocol.TypeLogin, User: "alice", Token: srv.Token("alice", time.Hour)})
	alice.session = reply.Session
	alice.fails(&protocol.Frame{Type: protocol.TypeRenew, Token: srv.Token("bob", time.Hour)}, protocol.CodeNotAuthorized)
	alice.fails(&protocol.Frame{Type: protocol.TypeRenew, Token: "x.y.z"}, protocol.CodeInvalidToken)
	alice.fails(&protocol.Frame{Type: protocol.TypeRenew}, protocol.CodeMalformedFrame)
	alice.ok(&protocol.Frame{Type: protocol.TypeRenew, Token: srv.Token("alice", time.Second)})
	before, status, _ := alice.closed()
	assert.Equal(t, []string{"bye TOKEN_EXPIRED"}, types(before))
	assert.Equal(t, websocket.StatusNormalClosure, status)
}

// Acknowledging frames not yet written (a broken client) neither panics nor
// stalls the stream: later frames still arrive. An ack over 2^53-1 is out
// of the documented range.
func TestAckBeyondTheStream(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	c := login(t, srv, "alice")
	c.fails(&protocol.Frame{Type: protocol.TypePing, Ack: ^uint64(0)}, protocol.CodeMalformedFrame)
	c.ok(&protocol.Frame{Type: protocol.TypePing, Ack: protocol.MaxRequestID})
	c.ok(&protocol.Frame{Type: protocol.TypePing, Ack: 1 << 40})
	c.ok(&protocol.Frame{Type: protocol.TypeQuery, IDs: []string{"bob"}})
}

// The ok replies to pings are kept in the stream without a Frame (a plain
// ok entry) and replayed after a resume as they were written: same bytes,
// same seq, and lastRid counts them.
func TestResumeReplaysPlainOKReplies(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	bob := login(t, srv, "bob")
	var written [][]byte
	for range 2 {
		rid := bob.start(&protocol.Frame{Type: protocol.TypePing}) // no ack: the replies stay in the stream
		f, raw := bob.nextRaw()
		require.NotNil(t, f)
		require.Equal(t, protocol.TypeOK, f.Type)
		require.Equal(t, rid, f.RID)
		written = append(written, raw)
	}
	assert.Equal(t, `{"type":"ok","rid":2,"seq":2}`, string(written[0]))
	bob.ws.CloseNow()

	again, reply := resume(t, srv, bob, 1) // bob acknowledges the login reply only
	require.Equal(t, protocol.TypeOK, reply.Type, "%+v", reply)
	assert.Equal(t, uint64(3), reply.LastRID, "the last ping was answered")
	for i, want := range written {
		f, raw := again.nextRaw()
		require.NotNil(t, f, "replayed reply %d", i)
		assert.Equal(t, string(want), string(raw), "replayed byte for byte")
	}
	again.sync()
}
