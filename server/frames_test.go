//go:build !js

package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

func ids(n int, prefix string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// TestMalformedFrames sends every kind of bad frame to a logged-in session:
// each gets an error frame with its code, echoing the rid when readable,
// and the connection goes on working.
func TestMalformedFrames(t *testing.T) {
	srv := rtmcalltest.NewServer(t, unlimited)
	c := login(t, srv, "alice")
	big := strings.Repeat("x", protocol.MaxContentBytes+1)
	tests := []struct {
		name   string
		binary bool
		frame  string
		code   protocol.Code
		rid    uint64
	}{
		{"not JSON", false, `{`, protocol.CodeMalformedFrame, 0},
		{"empty", false, ``, protocol.CodeMalformedFrame, 0},
		{"JSON array", false, `[]`, protocol.CodeMalformedFrame, 0},
		{"JSON string", false, `"ping"`, protocol.CodeMalformedFrame, 0},
		{"JSON null", false, `null`, protocol.CodeMalformedFrame, 0},
		{"no type", false, `{"rid":5}`, protocol.CodeMalformedFrame, 5},
		{"type not a string", false, `{"type":1,"rid":5}`, protocol.CodeMalformedFrame, 5},
		{"unknown type", false, `{"type":"bogus","rid":6}`, protocol.CodeUnknownType, 6},
		{"server frame type", false, `{"type":"invite","rid":6}`, protocol.CodeUnknownType, 6},
		{"no rid", false, `{"type":"ping"}`, protocol.CodeMalformedFrame, 0},
		{"rid zero", false, `{"type":"ping","rid":0}`, protocol.CodeMalformedFrame, 0},
		{"rid over 2^53-1", false, `{"type":"ping","rid":9007199254740992}`, protocol.CodeMalformedFrame, 0},
		{"rid negative", false, `{"type":"ping","rid":-1}`, protocol.CodeMalformedFrame, 0},
		{"rid fractional", false, `{"type":"ping","rid":1.5}`, protocol.CodeMalformedFrame, 0},
		{"rid a string", false, `{"type":"ping","rid":"7"}`, protocol.CodeMalformedFrame, 0},
		{"field of the wrong type", false, `{"type":"send","rid":8,"callee":"bob","timeout":"soon"}`, protocol.CodeMalformedFrame, 8},
		{"binary frame", true, `{"type":"ping","rid":9}`, protocol.CodeMalformedFrame, 0},
		{"invalid UTF-8", false, "{\"type\":\"ping\",\"rid\":10,\"x\":\"\xff\"}", protocol.CodeMalformedFrame, 10},
		{"send without callee", false, `{"type":"send","rid":11}`, protocol.CodeMalformedFrame, 11},
		{"send with empty callee", false, `{"type":"send","rid":11,"callee":""}`, protocol.CodeMalformedFrame, 11},
		{"cancel without inv", false, `{"type":"cancel","rid":12}`, protocol.CodeMalformedFrame, 12},
		{"ack without inv", false, `{"type":"ack","rid":13}`, protocol.CodeMalformedFrame, 13},
		{"accept without inv", false, `{"type":"accept","rid":14}`, protocol.CodeMalformedFrame, 14},
		{"refuse without inv", false, `{"type":"refuse","rid":15}`, protocol.CodeMalformedFrame, 15},
		{"login without user", false, `{"type":"login","rid":16}`, protocol.CodeMalformedFrame, 16},
		{"query without ids", false, `{"type":"query","rid":17}`, protocol.CodeMalformedFrame, 17},
		{"query with empty ids", false, `{"type":"query","rid":17,"ids":[]}`, protocol.CodeMalformedFrame, 17},
		{"subscribe without ids", false, `{"type":"subscribe","rid":18}`, protocol.CodeMalformedFrame, 18},
		{"unsubscribe without ids", false, `{"type":"unsubscribe","rid":19}`, protocol.CodeMalformedFrame, 19},
		{"callee null", false, `{"type":"send","rid":20,"callee":"null"}`, protocol.CodeInvalidArgument, 20},
		{"callee too long", false, `{"type":"send","rid":20,"callee":"` + strings.Repeat("b", 65) + `"}`, protocol.CodeInvalidArgument, 20},
		{"content over 8192 bytes", false, `{"type":"send","rid":21,"callee":"bob","content":"` + big + `"}`, protocol.CodeInvalidArgument, 21},
		{"channel over 64 bytes", false, `{"type":"send","rid":22,"callee":"bob","channel":"` + strings.Repeat("c", 65) + `"}`, protocol.CodeInvalidArgument, 22},
		{"timeout under 1000 ms", false, `{"type":"send","rid":23,"callee":"bob","timeout":999}`, protocol.CodeInvalidArgument, 23},
		{"timeout over 600000 ms", false, `{"type":"send","rid":23,"callee":"bob","timeout":600001}`, protocol.CodeInvalidArgument, 23},
		{"timeout negative", false, `{"type":"send","rid":23,"callee":"bob","timeout":-5}`, protocol.CodeInvalidArgument, 23},
		{"timeout huge", false, `{"type":"send","rid":23,"callee":"bob","timeout":9007199254740991}`, protocol.CodeInvalidArgument, 23},
		{"response over 8192 bytes", false, `{"type":"accept","rid":24,"inv":"x","response":"` + big + `"}`, protocol.CodeInvalidArgument, 24},
		{"query over 256 ids", false, mustJSON(t, protocol.Frame{Type: "query", RID: 25, IDs: ids(257, "u")}), protocol.CodeInvalidArgument, 25},
		{"subscribe over 512 ids", false, mustJSON(t, protocol.Frame{Type: "subscribe", RID: 26, IDs: ids(513, "u")}), protocol.CodeInvalidArgument, 26},
		{"bad id in ids", false, `{"type":"query","rid":27,"ids":["bob","null"]}`, protocol.CodeInvalidArgument, 27},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ := websocket.MessageText
			if tt.binary {
				typ = websocket.MessageBinary
			}
			c.writeRaw(typ, []byte(tt.frame))
			f := c.next()
			require.NotNil(t, f, "connection closed: %v", c.err)
			requireError(t, f, tt.code)
			assert.Equal(t, tt.rid, f.RID, "rid echoed")
			c.sync()
		})
	}
	t.Run("largest rid and unknown fields", func(t *testing.T) {
		c.writeRaw(websocket.MessageText, []byte(`{"type":"ping","rid":9007199254740991,"extra":{"a":[1,2]}}`))
		f := c.next()
		assert.Equal(t, protocol.TypeOK, f.Type)
		assert.Equal(t, uint64(protocol.MaxRequestID), f.RID)
	})
}

// The error frame of PROTOCOL.md, byte for byte in its fields.
func TestErrorFrameShape(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	c := login(t, srv, "alice")
	c.writeRaw(websocket.MessageText, []byte(`{"type":"cancel","rid":7,"inv":"0123456789abcdef0123456789abcdef"}`))
	_, raw := c.nextRaw()
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	assert.Equal(t, "error", m["type"])
	assert.EqualValues(t, 7, m["rid"])
	assert.EqualValues(t, protocol.CodeNotYours, m["code"])
	assert.Equal(t, "NOT_YOURS", m["name"])
	assert.NotEmpty(t, m["message"])
	assert.EqualValues(t, 2, m["seq"], "the second frame of the session's stream, after the login reply")
	assert.Len(t, m, 6, "no other fields: %s", raw)
}

func TestNotLoggedIn(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	c := dial(t, srv, "anonymous")
	c.sync() // ping needs no login
	inv := "0123456789abcdef0123456789abcdef"
	for _, f := range []*protocol.Frame{
		{Type: protocol.TypeLogout},
		{Type: protocol.TypeSend, Callee: "bob"},
		{Type: protocol.TypeCancel, Inv: inv},
		{Type: protocol.TypeAck, Inv: inv},
		{Type: protocol.TypeAccept, Inv: inv},
		{Type: protocol.TypeRefuse, Inv: inv},
		{Type: protocol.TypeQuery, IDs: []string{"bob"}},
		{Type: protocol.TypeSubscribe, IDs: []string{"bob"}},
		{Type: protocol.TypeUnsubscribe, IDs: []string{"bob"}},
	} {
		t.Run(f.Type, func(t *testing.T) {
			c.fails(f, protocol.CodeNotLoggedIn)
		})
	}
}

// TestRateLimit floods one connection: it gets the burst served, then
// RATE_LIMITED errors echoing their rids, then a close with 1008, while
// another user's connection is served throughout.
func TestRateLimit(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	bob := login(t, srv, "bob")
	c := dial(t, srv, "flooder")

	const frames = 2000
	written := make(chan struct{})
	go func() {
		defer close(written)
		for i := 1; i <= frames; i++ {
			data := fmt.Appendf(nil, `{"type":"ping","rid":%d}`, i)
			if c.ws.Write(t.Context(), websocket.MessageText, data) != nil {
				return // closed by the server
			}
		}
	}()
	bob.sync()

	before, status, reason := c.closed()
	<-written
	var ok, limited int
	lastRID := uint64(0)
	for _, f := range before {
		assert.Greater(t, f.RID, lastRID, "replies in request order")
		lastRID = f.RID
		switch f.Type {
		case protocol.TypeOK:
			ok++
		case protocol.TypeError:
			requireError(t, f, protocol.CodeRateLimited)
			limited++
		default:
			t.Fatalf("unexpected frame %+v", f)
		}
	}
	assert.GreaterOrEqual(t, ok, server.DefaultRateBurst, "the burst is served")
	assert.Less(t, ok, frames/2, "the rest is not")
	assert.Equal(t, server.DefaultRateBurst, limited, "RATE_LIMITED until the connection is closed")
	assert.Equal(t, websocket.StatusPolicyViolation, status)
	assert.Equal(t, "rate limit exceeded", reason)
	bob.sync()
}

// A rate-limited request is not carried out.
func TestRateLimitedNotCarriedOut(t *testing.T) {
	srv := rtmcalltest.NewServer(t, func(c *server.Config) {
		c.RateLimit = 1e-6 // no refill during the test
		c.RateBurst = 3
	})
	bob := login(t, srv, "bob") // bob's frame 1
	alice := login(t, srv, "alice")
	inv := alice.send("bob")
	bob.expect(protocol.TypeInvite, inv)
	alice.sync() // alice's frame 3: the bucket is empty now
	alice.fails(&protocol.Frame{Type: protocol.TypeSend, Callee: "bob"}, protocol.CodeRateLimited)
	alice.fails(&protocol.Frame{Type: protocol.TypeCancel, Inv: inv}, protocol.CodeRateLimited)
	bob.sync()                                                                            // 2: no second invite, no cancel
	bob.answered(&protocol.Frame{Type: protocol.TypeAccept, Inv: inv}, "remote.accepted") // 3: still pending
}

// The ack of each invite a session was sent is not counted by its rate
// limit (PROTOCOL.md "Limits"); another ack is.
func TestAcksOfInvitesNotRateLimited(t *testing.T) {
	srv := rtmcalltest.NewServer(t, func(c *server.Config) {
		c.RateLimit = 1e-6 // no refill during the test
		c.RateBurst = 4
	})
	bob := login(t, srv, "bob") // bob's frame 1
	var callers []*client
	var invs []string
	for i := range 6 {
		c := login(t, srv, fmt.Sprintf("caller%d", i))
		invs = append(invs, c.send("bob"))
		bob.expect(protocol.TypeInvite, invs[i])
		callers = append(callers, c)
	}
	for i, inv := range invs {
		bob.start(&protocol.Frame{Type: protocol.TypeAck, Inv: inv}) // not counted
		callers[i].expect(protocol.TypeLocalReceived, inv)
	}
	bob.sync()                                                       // 2
	bob.start(&protocol.Frame{Type: protocol.TypeAck, Inv: invs[0]}) // 3: no invite left to acknowledge
	bob.sync()                                                       // 4: the bucket is empty now
	bob.fails(&protocol.Frame{Type: protocol.TypePing}, protocol.CodeRateLimited)
}

// A client that lets its outbound queue overflow is closed with 1008.
func TestClientTooSlow(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	bob := login(t, srv, "bob")
	c := login(t, srv, "alice")
	require.True(t, server.OverflowQueue(srv.Node, c.session))
	before, status, reason := c.closed()
	assert.Empty(t, before, "the queue is dropped")
	assert.Equal(t, websocket.StatusPolicyViolation, status)
	assert.Equal(t, "client too slow", reason)
	bob.sync()
}

// A session whose client stops reading does not hold up the others: the
// frames its socket cannot take wait for it on a goroutine of their own,
// while the sender's requests go on being answered; once it reads again,
// it gets every frame, in order.
func TestStalledReaderDoesNotHoldUpSender(t *testing.T) {
	srv := rtmcalltest.NewServer(t, unlimited)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, srv.URL, &websocket.DialOptions{Subprotocols: []string{protocol.Subprotocol}})
	require.NoError(t, err)
	ws.SetReadLimit(protocol.MaxFrameBytes)
	defer ws.CloseNow()
	data, err := protocol.Encode(&protocol.Frame{Type: protocol.TypeLogin, RID: 1, User: "bob"})
	require.NoError(t, err)
	require.NoError(t, ws.Write(ctx, websocket.MessageText, data))
	_, data, err = ws.Read(ctx) // the login reply; then bob reads nothing
	require.NoError(t, err)
	reply, err := protocol.Decode(data)
	require.NoError(t, err)
	require.Equal(t, protocol.TypeOK, reply.Type)

	alice := login(t, srv, "alice")
	const messages = 600 // 19 MiB: more than loopback's socket buffers hold
	text := strings.Repeat("x", protocol.MaxMessageBytes-8)
	for i := range messages {
		require.True(t, alice.message("bob", fmt.Sprintf("%07d ", i)+text), "message %d", i)
	}
	_, metrics := httpGet(t, srv.HTTPURL+"/metrics")
	assert.NotContains(t, metrics, "rtmcall_write_waits_total 0\n", "bob's socket filled up")

	for i := 0; i < messages; {
		_, data, err := ws.Read(ctx)
		require.NoError(t, err)
		f, err := protocol.Decode(data)
		require.NoError(t, err)
		if f.Type != protocol.TypePeerMessage {
			continue
		}
		require.Equal(t, fmt.Sprintf("%07d ", i), f.Text[:8], "in order")
		i++
	}
}
