package protocol_test

import (
	"testing"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/stretchr/testify/require"
)

// BenchmarkEncode serializes the frames of one invitation flow, as the
// server writes them.
func BenchmarkEncode(b *testing.B) {
	frames := []struct {
		name string
		f    *protocol.Frame
	}{
		{"invite", &protocol.Frame{Type: protocol.TypeInvite, Seq: 12, Inv: "9b1d4c0e6f8a4b2c9d3e5f7a1b3c5d7e", Caller: "alice",
			Content: "video call from alice: join?", Channel: "room-000123", Timeout: 60000}},
		{"ok", &protocol.Frame{Type: protocol.TypeOK, Seq: 13, RID: 42, Inv: "9b1d4c0e6f8a4b2c9d3e5f7a1b3c5d7e", Timeout: 60000}},
		{"local.accepted", &protocol.Frame{Type: protocol.TypeLocalAccepted, Seq: 14, Inv: "9b1d4c0e6f8a4b2c9d3e5f7a1b3c5d7e",
			Response: "on my way"}},
		{"error", protocol.ErrorFrame(7, protocol.Errorf(protocol.CodeAlreadyEnd, "invitation has ended"))},
	}
	for _, fr := range frames {
		b.Run(fr.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := protocol.Encode(fr.f); err != nil {
					b.Fatal(err)
				}
			}
		})
		// AppendFrame into a reused buffer, as a writer batching frames does.
		b.Run(fr.name+"/append", func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 1024)
			for b.Loop() {
				buf = protocol.AppendFrame(buf[:0], fr.f)
			}
		})
	}
}

// BenchmarkDecode parses and checks the requests of one flow, as the
// server reads them, and the invite, as a client reads it.
func BenchmarkDecode(b *testing.B) {
	frames := []struct {
		name    string
		data    string
		request bool
	}{
		{"send", `{"type":"send","rid":2,"callee":"bob","content":"video call from alice: join?","channel":"room-000123"}`, true},
		{"ack", `{"type":"ack","rid":3,"inv":"9b1d4c0e6f8a4b2c9d3e5f7a1b3c5d7e"}`, true},
		{"accept", `{"type":"accept","rid":4,"inv":"9b1d4c0e6f8a4b2c9d3e5f7a1b3c5d7e","response":"on my way"}`, true},
		{"invite", `{"type":"invite","seq":12,"inv":"9b1d4c0e6f8a4b2c9d3e5f7a1b3c5d7e","caller":"alice","content":"video call from alice: join?","channel":"room-000123","timeout":60000}`, false},
	}
	for _, fr := range frames {
		data := []byte(fr.data)
		b.Run(fr.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				f, err := protocol.Decode(data)
				if err != nil {
					b.Fatal(err)
				}
				if fr.request {
					if err := f.CheckRequest(); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// flowFrames are the frames of one invitation flow as on the wire
// (docs/PROTOCOL.md, "A call"): the requests the server reads, then the
// frames the callers' clients read.
var flowFrames = [...]struct {
	data    string
	request bool
}{
	{`{"type":"send","rid":2,"callee":"bob","content":"video call from alice: join?","channel":"room-000123"}`, true},
	{`{"type":"ok","rid":2,"seq":2,"inv":"9b1d4c0e6f8a4b2c9d3e5f7a1b3c5d7e","timeout":60000}`, false},
	{`{"type":"invite","seq":2,"inv":"9b1d4c0e6f8a4b2c9d3e5f7a1b3c5d7e","caller":"alice","content":"video call from alice: join?","channel":"room-000123","timeout":60000}`, false},
	{`{"type":"ack","rid":2,"inv":"9b1d4c0e6f8a4b2c9d3e5f7a1b3c5d7e"}`, true},
	{`{"type":"local.received","seq":3,"inv":"9b1d4c0e6f8a4b2c9d3e5f7a1b3c5d7e"}`, false},
	{`{"type":"accept","rid":3,"inv":"9b1d4c0e6f8a4b2c9d3e5f7a1b3c5d7e","response":"on my way"}`, true},
	{`{"type":"remote.accepted","rid":3,"seq":3,"inv":"9b1d4c0e6f8a4b2c9d3e5f7a1b3c5d7e"}`, false},
	{`{"type":"local.accepted","seq":4,"inv":"9b1d4c0e6f8a4b2c9d3e5f7a1b3c5d7e","response":"on my way"}`, false},
	{`{"type":"hangup","rid":4,"inv":"9b1d4c0e6f8a4b2c9d3e5f7a1b3c5d7e"}`, true},
	{`{"type":"call.ended","rid":4,"seq":6,"inv":"9b1d4c0e6f8a4b2c9d3e5f7a1b3c5d7e","reason":"HANGUP","by":"alice"}`, false},
	{`{"type":"call.ended","seq":4,"inv":"9b1d4c0e6f8a4b2c9d3e5f7a1b3c5d7e","reason":"HANGUP","by":"alice"}`, false},
}

// BenchmarkFlow decodes, then encodes, the frames of one flow, as the
// server (requests, into a reused Frame) and core.Client (server frames,
// with its recent strings) read them: one op is one flow. Callgrind runs it
// for instructions per flow.
func BenchmarkFlow(b *testing.B) {
	var data [len(flowFrames)][]byte
	for i, fr := range flowFrames {
		data[i] = []byte(fr.data)
	}
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		var strs protocol.Strings
		var f protocol.Frame
		for b.Loop() {
			for i, fr := range flowFrames {
				f = protocol.Frame{}
				var err error
				if fr.request {
					err = protocol.DecodeInto(&f, data[i])
				} else {
					err = protocol.DecodeIntoWith(&f, data[i], &strs)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	frames := make([]protocol.Frame, len(flowFrames))
	for i := range frames {
		require.NoError(b, protocol.DecodeInto(&frames[i], data[i]))
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			for i := range frames {
				buf = protocol.AppendFrame(buf[:0], &frames[i])
			}
		}
	})
}
