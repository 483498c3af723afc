//go:build !js

package server_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// Field names match exactly and a duplicate is refused, so that a gateway
// reading the JSON by key sees the request the server would carry out:
// neither of these rings eve (nor bob).
func TestFieldNamesAreExactAndUnique(t *testing.T) {
	srv := rtmcalltest.NewServer(t, unlimited)
	alice := login(t, srv, "alice")
	bob := login(t, srv, "bob")
	eve := login(t, srv, "eve")
	for rid, frame := range map[uint64]string{
		101: `{"type":"send","rid":101,"callee":"bob","Callee":"eve"}`,
		102: `{"type":"send","rid":102,"callee":"bob","callee":"eve"}`,
		103: `{"TYPE":"ping","rid":103}`,
		104: `{"type":"ping","rid":104,"type":"ping"}`,
		105: `{"type":"send","rid":105,"callee":"bob","channel":null}`,
		106: `{"type":"send","rid":106,"callee":"bob","timeout":1e4}`,
		107: `{"type":"send","rid":107,"callee":"bob","content":"\ud83d"}`,
	} {
		alice.writeRaw(websocket.MessageText, []byte(frame))
		f := alice.next()
		require.NotNil(t, f, "connection closed: %v", alice.err)
		requireError(t, f, protocol.CodeMalformedFrame)
		if rid != 107 { // a lone surrogate makes the frame unreadable
			assert.Equal(t, rid, f.RID, "%s: rid echoed", frame)
		}
		alice.sync()
	}
	bob.sync() // no invite before the pong
	eve.sync()
}

// Repeated ids count once toward the limits: at the bound and one past it.
func TestRepeatedIDsCountOnce(t *testing.T) {
	srv := rtmcalltest.NewServer(t, unlimited)
	c := login(t, srv, "alice")
	reply := c.ok(&protocol.Frame{Type: protocol.TypeQuery, IDs: append(ids(protocol.MaxQueryIDs, "u"), "u0")})
	assert.Len(t, reply.Online, protocol.MaxQueryIDs)
	c.fails(&protocol.Frame{Type: protocol.TypeQuery, IDs: append(ids(protocol.MaxQueryIDs+1, "u"), "u0")},
		protocol.CodeInvalidArgument)

	over := login(t, srv, "bob")
	over.fails(&protocol.Frame{Type: protocol.TypeSubscribe, IDs: append(ids(protocol.MaxSubscribedIDs+1, "u"), "u0")},
		protocol.CodeInvalidArgument)
	reply, before := c.do(&protocol.Frame{Type: protocol.TypeSubscribe, IDs: append(ids(protocol.MaxSubscribedIDs, "u"), "u0")})
	require.Equal(t, protocol.TypeOK, reply.Type, "%+v", reply)
	assert.Empty(t, before)
	presence := c.expect(protocol.TypePresence, "")
	assert.Len(t, presence.Status, protocol.MaxSubscribedIDs)
	c.fails(&protocol.Frame{Type: protocol.TypeSubscribe, IDs: []string{"v", "v"}}, protocol.CodeInvalidArgument)
	reply, _ = c.do(&protocol.Frame{Type: protocol.TypeSubscribe, IDs: []string{"u1", "u1"}}) // already subscribed
	assert.Equal(t, protocol.TypeOK, reply.Type, "%+v", reply)
}

// Every reply in the stream advances lastRid, whether the request was
// carried out or refused: a resumed client is never told to resend a
// request whose reply it will get replayed.
func TestLastRIDCountsEveryReply(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	c := dial(t, srv, "bob")
	login := c.ok(&protocol.Frame{Type: protocol.TypeLogin, User: "bob", Token: srv.Token("bob", time.Hour)})
	session, key := login.Session, login.Key
	steps := []struct {
		name  string
		frame func(rid uint64) string
		code  protocol.Code // 0: ok
	}{
		{"ping", func(rid uint64) string { return `{"type":"ping","rid":` + u(rid) + `}` }, 0},
		{"renew", func(rid uint64) string {
			return `{"type":"renew","rid":` + u(rid) + `,"token":"` + srv.Token("bob", 2*time.Hour) + `"}`
		}, 0},
		{"refused by validation", func(rid uint64) string { return `{"type":"send","rid":` + u(rid) + `,"callee":"null"}` }, protocol.CodeInvalidArgument},
		{"malformed", func(rid uint64) string { return `{"type":"send","rid":` + u(rid) + `,"callee":5}` }, protocol.CodeMalformedFrame},
		{"unknown type", func(rid uint64) string { return `{"type":"dance","rid":` + u(rid) + `}` }, protocol.CodeUnknownType},
		{"already logged in", func(rid uint64) string { return `{"type":"login","rid":` + u(rid) + `,"user":"bob"}` }, protocol.CodeAlreadyLogin},
	}
	for _, st := range steps { // one test, not subtests: each step's connection is the next one's
		c.rid++
		rid := c.rid
		c.writeRaw(websocket.MessageText, []byte(st.frame(rid)))
		reply, _ := c.reply(rid)
		if st.code == 0 {
			require.Equal(t, protocol.TypeOK, reply.Type, "%s: %+v", st.name, reply)
		} else {
			requireError(t, reply, st.code)
		}
		c.ws.CloseNow() // dropped: the session is kept
		again := dial(t, srv, "bob again")
		again.rid = rid
		resumed, _ := again.do(&protocol.Frame{Type: protocol.TypeResume, Session: session, Key: key})
		require.Equal(t, protocol.TypeOK, resumed.Type, "%+v", resumed)
		assert.Equal(t, rid, resumed.LastRID, "%s: the reply to rid %d is in the stream", st.name, rid)
		c = again
	}
}

// An ack carried out gets no reply, and counts for lastRid: a resumed
// client is not told to send it again.
func TestAckHasNoReplyAndCountsForLastRID(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	alice := login(t, srv, "alice")
	bob := login(t, srv, "bob")
	inv := ringing(t, alice, bob)
	bob.start(frame(protocol.TypeAck, inv))
	alice.expect(protocol.TypeLocalReceived, inv)
	bob.sync() // fails on any frame before the ping's reply: the ack had none

	inv = ringing(t, alice, bob)
	ack := bob.start(frame(protocol.TypeAck, inv))
	alice.expect(protocol.TypeLocalReceived, inv)
	bob.ws.CloseNow()                      // dropped: the session is kept
	again, reply := resume(t, srv, bob, 4) // bob handled both invites and the ping's reply
	require.Equal(t, protocol.TypeOK, reply.Type, "%+v", reply)
	assert.Equal(t, ack, reply.LastRID, "the ack was carried out")
	again.sync() // nothing replayed: no reply to the ack
	alice.sync()
}

func u(n uint64) string { return strconv.FormatUint(n, 10) }
