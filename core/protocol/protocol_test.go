package protocol

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	frames := []*Frame{
		{Type: TypeLogin, RID: 1, User: "alice", Token: "a.b.c"},
		{Type: TypeLogin, RID: 1, User: "alice", Session: "c0de0001a1b2c3d4", Key: "0123456789abcdef0123456789abcdef"},
		{Type: TypeOK, RID: 1, User: "alice", Session: "s1"},
		{Type: TypeSend, RID: 2, Callee: "bob", Content: "hi <b>&</b> \u2028 ☎", Channel: "room-1", Timeout: 30000},
		{Type: TypeInvite, Inv: "0123456789abcdef0123456789abcdef", Caller: "alice", Content: "hi", Timeout: 60000},
		{Type: TypeLocalFailure, Inv: "x", Reason: "PEER_OFFLINE"},
		{Type: TypeQuery, RID: MaxRequestID, IDs: []string{"a", "b"}},
		{Type: TypeOK, RID: 3, Online: map[string]bool{"a": true, "b": false}},
		{Type: TypePresence, Status: map[string]string{"a": "ONLINE"}},
		ErrorFrame(4, Errorf(CodeAlreadyEnd, "ended")),
	}
	for _, f := range frames {
		t.Run(f.Type, func(t *testing.T) {
			data, err := Encode(f)
			require.NoError(t, err)
			assert.NotContains(t, string(data), "\n")
			got, err := Decode(data)
			require.NoError(t, err)
			assert.Equal(t, f, got)
		})
	}
}

func TestEncodeDoesNotEscapeHTML(t *testing.T) {
	data, err := Encode(&Frame{Type: TypeSend, Content: "<&>"})
	require.NoError(t, err)
	assert.Contains(t, string(data), `"content":"<&>"`)
}

func TestErrorFrameCarriesCodeAndName(t *testing.T) {
	f := ErrorFrame(9, Errorf(CodeNotYours, "not yours"))
	assert.Equal(t, TypeError, f.Type)
	assert.Equal(t, uint64(9), f.RID)
	assert.Equal(t, CodeNotYours, f.Code)
	assert.Equal(t, "NOT_YOURS", f.Name)
	assert.ErrorIs(t, f.Err(), ErrNotYours)
	assert.Equal(t, "rtmcall: NOT_YOURS: not yours", f.Err().Error())
}

// Each malformed input is rejected with its code; none panics.
func TestDecodeAndCheckRejectMalformedInput(t *testing.T) {
	long := strings.Repeat("a", 65)
	big := strings.Repeat("x", MaxContentBytes+1)
	cases := []struct {
		name    string
		in      string
		code    Code
		wantRID uint64
	}{
		{"not JSON", `hello`, CodeMalformedFrame, 0},
		{"JSON array", `[1,2]`, CodeMalformedFrame, 0},
		{"JSON string", `"login"`, CodeMalformedFrame, 0},
		{"truncated", `{"type":"login"`, CodeMalformedFrame, 0},
		{"invalid UTF-8", "{\"type\":\"login\",\"user\":\"\xff\"}", CodeMalformedFrame, 0},
		{"invalid UTF-8 after an escape", "{\"type\":\"login\",\"rid\":8,\"user\":\"\\n\xed\xa0\x80\"}", CodeMalformedFrame, 8},
		{"invalid UTF-8 in a name", "{\"type\":\"login\",\"rid\":8,\"us\xc3er\":\"a\"}", CodeMalformedFrame, 8},
		{"invalid UTF-8 at a word's end", "{\"type\":\"login\",\"rid\":8,\"user\":\"abcdefg\xe2\x82\"}", CodeMalformedFrame, 8},
		{"UTF-8 outside strings", "{\"type\":\"login\",\"rid\":8\xc3\xa9}", CodeMalformedFrame, 0},
		{"no type", `{"rid":1}`, CodeMalformedFrame, 1},
		{"type not a string", `{"type":1,"rid":1}`, CodeMalformedFrame, 1},
		{"negative rid", `{"type":"ping","rid":-1}`, CodeMalformedFrame, 0},
		{"fractional rid", `{"type":"ping","rid":1.5}`, CodeMalformedFrame, 0},
		{"rid over 2^53-1", `{"type":"ping","rid":9007199254740992}`, CodeMalformedFrame, 0},
		{"unknown type", `{"type":"dance","rid":5}`, CodeUnknownType, 5},
		{"server-only type", `{"type":"invite","rid":5}`, CodeUnknownType, 5},
		{"no rid", `{"type":"ping"}`, CodeMalformedFrame, 0},
		{"login without user", `{"type":"login","rid":2}`, CodeMalformedFrame, 2},
		{"login with a bad user", `{"type":"login","rid":2,"user":"null"}`, CodeInvalidArgument, 2},
		{"login naming a moved session without its key", `{"type":"login","rid":2,"user":"a","session":"s"}`, CodeMalformedFrame, 2},
		{"login with a key but no session", `{"type":"login","rid":2,"user":"a","key":"k"}`, CodeMalformedFrame, 2},
		{"login with an attempt past the bound", `{"type":"login","rid":2,"user":"a","session":"s","key":"k","attempt":65536}`, CodeInvalidArgument, 2},
		{"login with an attempt but no moved session", `{"type":"login","rid":2,"user":"a","attempt":1}`, CodeMalformedFrame, 2},
		{"login with a negative attempt", `{"type":"login","rid":2,"user":"a","session":"s","key":"k","attempt":-1}`, CodeMalformedFrame, 2},
		{"login with a fractional attempt", `{"type":"login","rid":2,"user":"a","session":"s","key":"k","attempt":1.5}`, CodeMalformedFrame, 2},
		{"login with a long user", `{"type":"login","rid":2,"user":"` + long + `"}`, CodeInvalidArgument, 2},
		{"send without callee", `{"type":"send","rid":3}`, CodeMalformedFrame, 3},
		{"send with a bad callee", `{"type":"send","rid":3,"callee":"a\"b"}`, CodeInvalidArgument, 3},
		{"send with big content", `{"type":"send","rid":3,"callee":"b","content":"` + big + `"}`, CodeInvalidArgument, 3},
		{"send with a long channel", `{"type":"send","rid":3,"callee":"b","channel":"` + long + `"}`, CodeInvalidArgument, 3},
		{"send with a short timeout", `{"type":"send","rid":3,"callee":"b","timeout":999}`, CodeInvalidArgument, 3},
		{"send with a long timeout", `{"type":"send","rid":3,"callee":"b","timeout":600001}`, CodeInvalidArgument, 3},
		{"send with a huge timeout", `{"type":"send","rid":3,"callee":"b","timeout":9223372036854775807}`, CodeInvalidArgument, 3},
		{"send with a negative timeout", `{"type":"send","rid":3,"callee":"b","timeout":-5}`, CodeInvalidArgument, 3},
		{"cancel without inv", `{"type":"cancel","rid":4}`, CodeMalformedFrame, 4},
		{"ack without inv", `{"type":"ack","rid":4}`, CodeMalformedFrame, 4},
		{"accept without inv", `{"type":"accept","rid":4}`, CodeMalformedFrame, 4},
		{"refuse with big response", `{"type":"refuse","rid":4,"inv":"x","response":"` + big + `"}`, CodeInvalidArgument, 4},
		{"query without ids", `{"type":"query","rid":6}`, CodeMalformedFrame, 6},
		{"query with a bad id", `{"type":"query","rid":6,"ids":["ok",""]}`, CodeInvalidArgument, 6},
		{"query with 257 ids", `{"type":"query","rid":6,"ids":[` + ids(257) + `]}`, CodeInvalidArgument, 6},
		{"subscribe with 513 ids", `{"type":"subscribe","rid":6,"ids":[` + ids(513) + `]}`, CodeInvalidArgument, 6},
		{"ids not strings", `{"type":"query","rid":6,"ids":[1]}`, CodeMalformedFrame, 6},
		{"257 distinct of 258 ids", `{"type":"query","rid":6,"ids":["u0",` + ids(257) + `]}`, CodeInvalidArgument, 6},
		// The strict decoder (docs/PROTOCOL.md "Decoding").
		{"case variant of type", `{"TYPE":"ping","rid":1}`, CodeMalformedFrame, 1},
		{"case variant of a field", `{"type":"send","rid":7,"callee":"bob","Callee":"eve"}`, CodeMalformedFrame, 7},
		{"case variant by Unicode folding", `{"type":"login","rid":7,"user":"a","\u212aey":"k"}`, CodeMalformedFrame, 7},
		{"duplicate field", `{"type":"send","rid":7,"callee":"bob","callee":"eve"}`, CodeMalformedFrame, 7},
		{"duplicate type", `{"type":"ping","type":"ping","rid":7}`, CodeMalformedFrame, 7},
		{"duplicate rid", `{"type":"ping","rid":7,"rid":7}`, CodeMalformedFrame, 0},
		{"duplicate unknown field", `{"type":"ping","rid":7,"x":1,"x":1}`, CodeMalformedFrame, 7},
		{"string field given a number", `{"type":"send","rid":7,"callee":5}`, CodeMalformedFrame, 7},
		{"number field given a string", `{"type":"send","rid":7,"callee":"b","timeout":"5"}`, CodeMalformedFrame, 7},
		{"null field", `{"type":"send","rid":7,"callee":"b","channel":null}`, CodeMalformedFrame, 7},
		{"null ids", `{"type":"query","rid":7,"ids":null}`, CodeMalformedFrame, 7},
		{"exponent", `{"type":"send","rid":7,"callee":"b","timeout":1e4}`, CodeMalformedFrame, 7},
		{"rid with exponent", `{"type":"ping","rid":1e1}`, CodeMalformedFrame, 0},
		{"negative ack", `{"type":"ping","rid":7,"ack":-1}`, CodeMalformedFrame, 7},
		{"negative zero ack", `{"type":"ping","rid":7,"ack":-0}`, CodeMalformedFrame, 7},
		{"ack over 2^53-1", `{"type":"ping","rid":7,"ack":9007199254740992}`, CodeMalformedFrame, 7},
		{"timeout over int64", `{"type":"send","rid":7,"callee":"b","timeout":9223372036854775808}`, CodeMalformedFrame, 7},
		{"lone high surrogate", `{"type":"send","rid":7,"callee":"b","content":"\ud83d"}`, CodeMalformedFrame, 0},
		{"lone low surrogate", `{"type":"send","rid":7,"callee":"b","content":"\ude00x"}`, CodeMalformedFrame, 0},
		{"bad unknown value", `{"type":"ping","rid":7,"x":[1,}`, CodeMalformedFrame, 0},
		{"deep unknown value", `{"type":"ping","rid":7,"x":` + strings.Repeat("[", 65) + strings.Repeat("]", 65) + `}`, CodeMalformedFrame, 0},
		{"trailing garbage", `{"type":"ping","rid":7} x`, CodeMalformedFrame, 0},
		{"two objects", `{"type":"ping","rid":7}{}`, CodeMalformedFrame, 0},
		{"control character in a string", "{\"type\":\"send\",\"rid\":7,\"callee\":\"b\",\"content\":\"a\nb\"}", CodeMalformedFrame, 0},
		{"bad escape", `{"type":"send","rid":7,"callee":"b","content":"\x"}`, CodeMalformedFrame, 0},
		{"duplicate online id", `{"type":"ok","rid":7,"online":{"a":true,"a":false}}`, CodeMalformedFrame, 7},
		{"online not boolean", `{"type":"ok","rid":7,"online":{"a":1}}`, CodeMalformedFrame, 7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Decode([]byte(tc.in))
			if err == nil {
				err = f.CheckRequest()
			}
			var e *Error
			require.True(t, errors.As(err, &e), "want an *Error, got %v", err)
			assert.Equal(t, tc.code, e.Code, e.Message)
			assert.NotEmpty(t, e.Message)
			if f != nil {
				assert.Equal(t, tc.wantRID, f.RID, "the rid to echo")
			}
		})
	}
}

func ids(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = `"u` + strconv.Itoa(i) + `"`
	}
	return strings.Join(s, ",")
}

func TestValidRequestsPass(t *testing.T) {
	for _, in := range []string{
		`{"type":"login","rid":1,"user":"alice"}`,
		`{"type":"login","rid":1,"user":"a b!#$%&()+-:;<=.>?@[]^_{}|~,"}`,
		`{"type":"login","rid":1,"user":"a","session":"s","key":"k"}`,
		`{"type":"login","rid":1,"user":"a","session":"s","key":"k","attempt":1}`,
		`{"type":"login","rid":1,"user":"a","session":"s","key":"k","attempt":65535}`,
		`{"type":"login","rid":1,"user":"a","session":"s","key":"k","attempt":0}`,
		`{"type":"send","rid":1,"callee":"bob","timeout":1000}`,
		`{"type":"send","rid":1,"callee":"bob","timeout":600000,"content":"` + strings.Repeat("é", MaxContentBytes/2) + `"}`,
		`{"type":"cancel","rid":1,"inv":"x"}`,
		`{"type":"query","rid":1,"ids":[` + ids(256) + `]}`,
		`{"type":"query","rid":1,"ids":["u0",` + ids(256) + `]}`, // 257 ids, 256 distinct
		`{"type":"subscribe","rid":1,"ids":[` + ids(512) + `,"u1"]}`,
		` {"type" : "ping" , "rid":1, "x":{"y":[1.5e3,true,false,null,"\u00e9",{}]},"z":[]} `,
		`{"\u0074ype":"send","rid":1,"callee":"bob","content":"\ud83d\ude00 \" \\ \/ \b\f\n\r\t"}`,
		`{"type":"ping","rid":9007199254740991,"extra":"ignored"}`,
	} {
		f, err := Decode([]byte(in))
		require.NoError(t, err, in)
		assert.NoError(t, f.CheckRequest(), in)
	}
}

func TestLimits(t *testing.T) {
	assert.NoError(t, ValidateUserID(strings.Repeat("a", 64)))
	assert.ErrorIs(t, ValidateUserID(strings.Repeat("a", 65)), ErrInvalidArgument)
	assert.ErrorIs(t, ValidateUserID(""), ErrInvalidArgument)
	assert.ErrorIs(t, ValidateUserID("null"), ErrInvalidArgument)
	assert.NoError(t, ValidateUserID("Null"))
	for _, bad := range []string{"a\"b", "a\\b", "a/b", "a*b", "a'b", "a`b", "a\tb", "é"} {
		assert.ErrorIs(t, ValidateUserID(bad), ErrInvalidArgument, bad)
	}
	assert.NoError(t, ValidateChannelID(strings.Repeat("c", 64)))
	assert.ErrorIs(t, ValidateChannelID(strings.Repeat("c", 65)), ErrInvalidArgument)
	assert.ErrorIs(t, ValidateChannelID("\xff"), ErrInvalidArgument)
	assert.NoError(t, ValidateContent("content", strings.Repeat("x", 8192)))
	assert.ErrorIs(t, ValidateContent("content", strings.Repeat("x", 8193)), ErrInvalidArgument)
	assert.NoError(t, ValidateTimeout(0))
	assert.NoError(t, ValidateTimeout(time.Second))
	assert.NoError(t, ValidateTimeout(600*time.Second))
	assert.ErrorIs(t, ValidateTimeout(999*time.Millisecond), ErrInvalidArgument)
	assert.ErrorIs(t, ValidateTimeout(601*time.Second), ErrInvalidArgument)
}

// The worst case a well-behaved client can produce, content of 8192 control
// bytes escaped as \u00XX, still fits in one frame.
func TestMaxFrameFitsWorstCaseContent(t *testing.T) {
	data, err := Encode(&Frame{Type: TypeSend, RID: MaxRequestID, Callee: strings.Repeat("a", 64),
		Content: strings.Repeat("\x01", MaxContentBytes), Channel: strings.Repeat("\x01", MaxChannelIDBytes), Timeout: 600000})
	require.NoError(t, err)
	assert.Less(t, len(data), MaxFrameBytes)
}

func TestCodesHaveUniqueNames(t *testing.T) {
	seen := map[string]Code{}
	for _, c := range Codes() {
		name := c.String()
		assert.NotContains(t, name, "CODE_", "code %d has no name", c)
		_, dup := seen[name]
		assert.False(t, dup, "duplicate name %s", name)
		seen[name] = c
	}
	assert.Len(t, seen, len(codeNames), "Codes lists every named code")
	assert.Equal(t, "CODE_999", Code(999).String())
}

// A 32 KiB peer message of control characters, every byte escaped as
// \u00XX, still fits in one frame, as text and as raw bytes with the
// largest description so escaped.
func TestMaxFrameFitsWorstCaseMessage(t *testing.T) {
	text := &Frame{Type: TypeMessage, RID: MaxRequestID, Peer: strings.Repeat("a", 64),
		Text: strings.Repeat("\x01", MaxMessageBytes)}
	raw := &Frame{Type: TypeMessage, RID: MaxRequestID, Peer: strings.Repeat("a", 64),
		Raw: make([]byte, MaxMessageBytes), Description: strings.Repeat("\x01", MaxDescriptionBytes)}
	for _, f := range []*Frame{text, raw} {
		require.NoError(t, f.CheckRequest())
		data, err := Encode(f)
		require.NoError(t, err)
		assert.Less(t, len(data), MaxFrameBytes)
		back, err := Decode(data)
		require.NoError(t, err)
		assert.Equal(t, f, back)
	}
}

func TestValidateMessageBounds(t *testing.T) {
	at, over := strings.Repeat("é", MaxMessageBytes/2), strings.Repeat("x", MaxMessageBytes+1)
	assert.NoError(t, ValidateMessage(at, nil, ""))
	assert.NoError(t, ValidateMessage("x", nil, ""))
	assert.ErrorIs(t, ValidateMessage(over, nil, ""), ErrInvalidArgument)
	assert.NoError(t, ValidateMessage("", make([]byte, MaxMessageBytes), strings.Repeat("d", MaxDescriptionBytes)))
	assert.ErrorIs(t, ValidateMessage("", make([]byte, MaxMessageBytes+1), ""), ErrInvalidArgument)
	assert.ErrorIs(t, ValidateMessage("", []byte{1}, strings.Repeat("d", MaxDescriptionBytes+1)), ErrInvalidArgument)
	assert.ErrorIs(t, ValidateMessage("", nil, ""), ErrInvalidArgument, "empty")
	assert.ErrorIs(t, ValidateMessage("x", []byte{1}, ""), ErrInvalidArgument, "both")
	assert.ErrorIs(t, ValidateMessage("x", nil, "d"), ErrInvalidArgument, "description on text")
	assert.ErrorIs(t, ValidateMessage("\xff", nil, ""), ErrInvalidArgument, "invalid UTF-8")
}
