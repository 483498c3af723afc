//go:build !js

package server

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// codecNode encodes as a node does (encode, numbered).
var codecNode = &Node{id: "c0de0001", inc: "0123456789abcdef"}

// hotMessages are the messages of a flow across nodes, and the heartbeat,
// as nodes send them.
func hotMessages() []*message {
	invite := &protocol.Frame{Type: protocol.TypeInvite, Inv: "c0de0001" + "00112233445566778899aabb", Caller: "alice",
		Content: "hi <&> \"there\" é", Channel: "c", Timeout: 60000, Busy: true, Callees: []string{"bob", "carol"}, Mode: "all"}
	return []*message{
		{K: kindDeliver, Sess: "c0de0002aabbccdd", F: invite},
		{K: kindDeliver, Sess: "c0de0002aabbccdd", F: &protocol.Frame{Type: protocol.TypeCallEnded, Inv: invite.Inv, Reason: "HANGUP", By: "alice"}},
		{K: kindRequest, Corr: 7, Sess: "c0de0002aabbccdd", F: &protocol.Frame{Type: protocol.TypeAck, RID: 3, Inv: invite.Inv}},
		{K: kindRequest, Corr: 8, Sess: "c0de0002aabbccdd", F: &protocol.Frame{Type: protocol.TypeAccept, RID: 4, Inv: invite.Inv, Response: "ok"}},
		{K: kindReply, Corr: 8, F: &protocol.Frame{Type: protocol.TypeOK, RID: 4}},
		{K: kindReply, Corr: 9, F: protocol.ErrorFrame(5, errAlreadyEnd)},
		{K: kindSession, Sess: "c0de0001aabbccdd", User: "alice", Live: true, Calls: []string{invite.Inv}, Wait: true},
		{K: kindSession, Sess: "c0de0001aabbccdd", User: "alice", Gone: true},
		{K: kindLeft, Sess: "c0de0002aabbccdd", Inv: invite.Inv},
		{K: kindPending, User: "alice", Code: 2},
		{K: kindSync, Corr: 1}, {K: kindSynced, Corr: 1},
		{K: kindHeartbeat, Seqs: map[string]uint64{"c0de0002": 41, "c0de0003": 0}},
		{K: kindHeartbeat, Seqs: map[string]uint64{}},
		{K: kindRelayClose, Corr: 3, Code: -1, Reason: "gone"},
	}
}

// unmarshal is the reference: what decodeMessage must give.
func unmarshal(data []byte) (*message, error) {
	m := new(message)
	return m, json.Unmarshal(data, m)
}

// The messages of a flow take the fast path, numbered and not, and decode
// to what json.Unmarshal gives; so does each with a field Unmarshal takes
// that the fast path does not (escapes, a frame the codec refuses).
func TestDecodeMessageHot(t *testing.T) {
	for _, m := range hotMessages() {
		data := codecNode.encode(m)
		for _, data := range [][]byte{data, numbered(12345, data)} {
			var d msgDecoder
			d.data = data
			got := new(message)
			assert.True(t, d.message(got), "fast path: %s", data)
			want, err := unmarshal(data)
			require.NoError(t, err)
			assert.Equal(t, want, got, "%s", data)
		}
	}
}

// Whatever the fast path does not take goes to json.Unmarshal, with its
// result and its error.
func TestDecodeMessageAsUnmarshal(t *testing.T) {
	for _, in := range []string{
		`{}`, `{"k":"deliver","from":"a","f":{"type":"ok","rid":1}}`,
		`{"k":"de\u006civer","from":"a"}`,      // an escape
		`{"k":"deliver","user":"é"}`,           // not ASCII
		`{"k":"deliver","user":"\xff"}`,        // invalid UTF-8, replaced
		`{ "k":"deliver"}`, `{"k":"deliver"} `, // whitespace
		`{"k":"a","k":"b"}`, `{"q":1,"q":2}`, // duplicates: the last
		`{"K":"deliver","FROM":"a"}`,                               // case variants
		`{"k":"session","dir":[{"s":"x","u":"y"}],"pend":{"a":1}}`, // fields of the slow path
		`{"k":"relay.in","corr":1,"data":"aGk=","binary":true}`,
		`{"q":18446744073709551615}`, `{"q":18446744073709551616}`, `{"q":-1}`, `{"q":1.0}`, `{"q":1e3}`, `{"q":01}`,
		`{"code":-0}`, `{"code":9223372036854775807}`, `{"code":-9223372036854775809}`,
		`{"live":null}`, `{"live":1}`, `{"calls":null}`, `{"calls":[]}`, `{"calls":["a",1]}`, `{"seqs":{"a":1,"a":2}}`,
		`{"f":null}`, `{"f":{"type":"ok","rid":9007199254740992}}`, `{"f":{"rid":1}}`, `{"f":{"type":"ok","type":"ok"}}`,
		`{"f":{"type":"ok","Type":"x"}}`, `{"f":{"type":"ok","x":{"y":["}",{"z":"\"]"}]}}}`, `{"f":{"type":"ok"`,
		`{"f":{"type":"ok","content":"\""}`, `{"k":"deliver"`, `{"k":"deliver",}`, `[]`, ``, `nul`, `{"k":"x"}{}`,
	} {
		got := new(message)
		err := decodeMessage([]byte(in), got)
		want, wantErr := unmarshal([]byte(in))
		if wantErr != nil {
			assert.Error(t, err, "%s", in)
			continue
		}
		require.NoError(t, err, "%s", in)
		assert.Equal(t, want, got, "%s", in)
	}
}

// FuzzDecodeMessage checks decodeMessage against json.Unmarshal: the same
// error or none, and the same message, but that an empty list in a frame
// may be none (the protocol's codec and encoding/json may tell them apart,
// core/protocol's FuzzDecode; the frames encode the same).
func FuzzDecodeMessage(f *testing.F) {
	for _, m := range hotMessages() {
		f.Add(numbered(1, codecNode.encode(m)))
	}
	f.Add([]byte(`{"k":"deliver","f":{"type":"ok","ids":[]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got := new(message)
		err := decodeMessage(data, got)
		want, wantErr := unmarshal(data)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("decodeMessage error %v, json.Unmarshal error %v: %q", err, wantErr, data)
		}
		if err != nil {
			return
		}
		if got.F != nil && want.F != nil {
			assert.Equal(t, string(protocol.AppendFrame(nil, want.F)), string(protocol.AppendFrame(nil, got.F)), "%q", data)
			got.F, want.F = nil, nil
		}
		assert.Equal(t, want, got, "%q", data)
	})
}

// BenchmarkDecodeMessage is decodeMessage against json.Unmarshal on the
// invite a cross-node flow delivers (core's BenchmarkClusterInvite).
func BenchmarkDecodeMessage(b *testing.B) {
	data := numbered(12345, codecNode.encode(&message{K: kindDeliver, Sess: "c0de0002aabbccdd",
		F: &protocol.Frame{Type: protocol.TypeInvite, Inv: "c0de000100112233445566778899aabb", Caller: "caller-cross-node", Timeout: 60000}}))
	for _, tc := range []struct {
		name   string
		decode func([]byte, *message) error
	}{{"fast", decodeMessage}, {"encoding-json", func(data []byte, m *message) error { return json.Unmarshal(data, m) }}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var m message
				if err := tc.decode(data, &m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
