//go:build !js

package server_test

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// FuzzSessionFrames writes arbitrary sequences of frames (one per line of
// the input, up to 8) to a logged-in session over a real connection: the
// server must answer with well-formed frames and keep the connection, which
// still answers a ping. The session lives across inputs, so later inputs
// meet the state earlier ones left.
func FuzzSessionFrames(f *testing.F) {
	for _, seed := range []string{
		`{"type":"ping","rid":1}`,
		`{`,
		``,
		`null`,
		`{"type":"send","rid":2,"callee":"bob","content":"hi","channel":"c","timeout":1000}`,
		`{"type":"send","rid":2,"callee":"alice"}`,
		`{"type":"send","rid":2,"callee":"bob","timeout":1e400}`,
		`{"type":"cancel","rid":3,"inv":"0123456789abcdef0123456789abcdef"}`,
		`{"type":"accept","rid":4,"inv":"x","response":"ok"}`,
		`{"type":"ack","rid":5,"inv":"\u0000"}`,
		`{"type":"subscribe","rid":6,"ids":["bob","bob",""]}`,
		`{"type":"query","rid":7,"ids":["null"]}`,
		`{"type":"unsubscribe","rid":8,"ids":["bob"]}`,
		`{"type":"login","rid":9,"user":"alice","token":"a.b.c"}`,
		`{"type":"logout","rid":10}`,
		`{"type":"login","rid":11,"user":"alice"}`,
		`{"type":"ping","rid":9007199254740992}`,
		`{"type":"ping","rid":-1,"rid":2}`,
		"{\"type\":\"ping\",\"rid\":12,\"x\":\"\xff\"}",
		`[{"type":"ping","rid":13}]`,
		"{\"type\":\"send\",\"rid\":20,\"callee\":\"bob\"}\n{\"type\":\"cancel\",\"rid\":21,\"inv\":\"x\"}",
		"{\"type\":\"logout\",\"rid\":22}\n{\"type\":\"resume\",\"rid\":23,\"session\":\"s\",\"key\":\"k\",\"ack\":1}\n{\"type\":\"login\",\"rid\":24,\"user\":\"alice\"}",
		"{\"type\":\"ping\",\"rid\":25,\"ack\":18446744073709551615}\n{\"type\":\"renew\",\"rid\":26,\"token\":\"x\"}",
		"{\"type\":\"subscribe\",\"rid\":27,\"ids\":[\"bob\"]}\n{\"type\":\"logout\",\"rid\":28}\n{\"type\":\"send\",\"rid\":29,\"callee\":\"bob\"}",
	} {
		f.Add([]byte(seed), false)
	}
	f.Add([]byte(`{"type":"ping","rid":14}`), true)

	srv := rtmcalltest.NewServer(f, unlimited, func(c *server.Config) {
		c.Logger = slog.New(slog.DiscardHandler)
		c.LoginTimeout, c.Heartbeat = time.Hour, time.Hour // an input may log out; nobody pings on time
	})
	login(f, srv, "bob") // a callee, so that sends ring
	c := login(f, srv, "alice")
	pingRID := uint64(protocol.MaxRequestID)
	var lastSeq uint64

	f.Fuzz(func(t *testing.T, data []byte, binary bool) {
		if len(data) > protocol.MaxFrameBytes {
			t.Skip("over the frame limit: the connection would close with 1009")
		}
		c.t = t
		typ := websocket.MessageText
		if binary {
			typ = websocket.MessageBinary
		}
		for i, frame := range bytes.SplitN(data, []byte("\n"), 8) {
			if i > 0 && bytes.Contains(frame, []byte(`"resume"`)) {
				continue // a resume that succeeded would hand this connection another session
			}
			c.writeRaw(typ, frame)
		}
		pingRID--
		// The ack keeps the session's buffer of unacknowledged frames small.
		c.write(&protocol.Frame{Type: protocol.TypePing, RID: pingRID, Ack: lastSeq})
		for {
			f := c.next()
			if f == nil {
				t.Fatalf("connection closed after %q: %v", data, c.err)
			}
			if f.Seq > lastSeq {
				lastSeq = f.Seq
			}
			if f.Type == protocol.TypeError && f.Name != f.Code.String() {
				t.Fatalf("error frame with name %q for code %d", f.Name, f.Code)
			}
			if f.Type == "" {
				t.Fatalf("frame without type: %+v", f)
			}
			if f.Type == protocol.TypeOK && f.RID == pingRID {
				return
			}
		}
	})
}
