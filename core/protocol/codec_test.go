package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every field of Frame, found by its json tag, is encoded and decoded by
// the codec: a field added to the struct but not to fields fails here.
func TestCodecCoversEveryField(t *testing.T) {
	typ := reflect.TypeFor[Frame]()
	require.Equal(t, typ.NumField(), len(fields), "fields in codec.go lists every field of Frame")
	for i := range typ.NumField() {
		sf := typ.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		t.Run(name, func(t *testing.T) {
			listed := fieldIndex.index([]byte(name)) >= 0
			require.True(t, listed, "Frame.%s (json %q) is not in fields", sf.Name, name)
			f := &Frame{Type: TypePing}
			v := reflect.ValueOf(f).Elem().Field(i)
			switch v.Kind() {
			case reflect.String:
				v.SetString("v\"é")
			case reflect.Uint64:
				v.SetUint(MaxRequestID)
			case reflect.Int64, reflect.Int:
				v.SetInt(-42)
			case reflect.Bool:
				v.SetBool(true)
			case reflect.Slice:
				if v.Type().Elem().Kind() == reflect.Uint8 {
					v.SetBytes([]byte{0, 1, 0xfe, 0xff})
					break
				}
				v.Set(reflect.ValueOf([]string{"a", "b"}))
			case reflect.Map:
				m := reflect.MakeMap(v.Type())
				m.SetMapIndex(reflect.ValueOf("a"), reflect.New(v.Type().Elem()).Elem())
				v.Set(m)
			default:
				t.Fatalf("Frame.%s has a kind the test does not set: %v", sf.Name, v.Kind())
			}
			data := AppendFrame(nil, f)
			assert.Contains(t, string(data), `"`+name+`":`)
			want, err := json.Marshal(f)
			require.NoError(t, err)
			assert.JSONEq(t, string(want), string(data), "same meaning as encoding/json")
			got, err := Decode(data)
			require.NoError(t, err, "%s", data)
			assert.Equal(t, f, got)
		})
	}
}

// Each entry of fields names a field of Frame by its json tag, in Frame's
// order, with that field's offset and a kind of its Go type: the decoder
// writes each value at the offset, as the kind's type.
func TestFieldsMatchFrame(t *testing.T) {
	types := map[kind]reflect.Type{
		kindType: reflect.TypeFor[string](), kindString: reflect.TypeFor[string](),
		kindUint: reflect.TypeFor[uint64](), kindInt: reflect.TypeFor[int64](), kindCode: reflect.TypeFor[Code](),
		kindBool: reflect.TypeFor[bool](), kindBytes: reflect.TypeFor[[]byte](),
		kindStrings: reflect.TypeFor[[]string](), kindOnline: reflect.TypeFor[map[string]bool](),
		kindStatus: reflect.TypeFor[map[string]string](),
	}
	typ := reflect.TypeFor[Frame]()
	require.Equal(t, typ.NumField(), len(fields))
	for i, fd := range fields {
		sf := typ.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		assert.Equal(t, name, fd.name, "fields[%d]", i)
		assert.Equal(t, sf.Offset, fd.off, "fields[%d] (%s): offset", i, fd.name)
		assert.Equal(t, sf.Type, types[fd.kind], "fields[%d] (%s): kind", i, fd.name)
		assert.Equal(t, fd.name == "type", fd.kind == kindType, "fields[%d] (%s): kindType is the type's alone", i, fd.name)
	}
}

// The encoder writes every field, in Frame's order, as encoding/json
// writes them without HTML escaping, byte for byte: a frame with every
// field set, each to a value other than its zero.
func TestEncodeEveryFieldInOrder(t *testing.T) {
	f := &Frame{}
	v := reflect.ValueOf(f).Elem()
	for i := range v.NumField() {
		switch fv := v.Field(i); fv.Kind() {
		case reflect.String:
			fv.SetString(fmt.Sprintf("s%d\"é", i))
		case reflect.Uint64:
			fv.SetUint(uint64(i) + 1)
		case reflect.Int64, reflect.Int:
			fv.SetInt(-int64(i) - 1)
		case reflect.Bool:
			fv.SetBool(true)
		case reflect.Slice:
			if fv.Type().Elem().Kind() == reflect.Uint8 {
				fv.SetBytes([]byte{0, 1, 0xfe, byte(i)})
				break
			}
			fv.Set(reflect.ValueOf([]string{"b", fmt.Sprint(i)}))
		case reflect.Map:
			m := reflect.MakeMap(fv.Type())
			for _, k := range []string{"z", "a", "m"} {
				e := reflect.New(fv.Type().Elem()).Elem()
				if e.Kind() == reflect.String {
					e.SetString(k + "v")
				} else {
					e.SetBool(k != "a")
				}
				m.SetMapIndex(reflect.ValueOf(k), e)
			}
			fv.Set(m)
		default:
			t.Fatalf("Frame field %d has a kind the test does not set: %v", i, fv.Kind())
		}
	}
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(f))
	assert.Equal(t, strings.TrimSuffix(want.String(), "\n"), string(AppendFrame(nil, f)))
}

// The encoder writes what encoding/json writes without HTML escaping, for
// valid UTF-8, byte for byte; for invalid UTF-8, still valid JSON.
func TestEncodeMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "<&>", "\"\\/", "\x00\x01\x1f\x7f", "\n\r\t\b\f", "\u2028\u2029", "é☎😀",
		"bad \xff utf-8 \xc3", "\xed\xa0\x80"} {
		f := &Frame{Type: TypeSend, RID: 1, Content: s, IDs: []string{s, "x"}, Status: map[string]string{"b": s, s: "a"}}
		got, err := Encode(f)
		require.NoError(t, err)
		require.True(t, json.Valid(got), "%q", got)
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		require.NoError(t, enc.Encode(f))
		assert.Equal(t, strings.TrimSuffix(want.String(), "\n"), string(got), "%q", s)
	}
}

func TestAppendFrameAppends(t *testing.T) {
	b := AppendFrame([]byte("x"), &Frame{Type: TypeOK, RID: 1})
	b = AppendFrame(b, &Frame{Type: TypeOK, RID: 2})
	assert.Equal(t, `x{"type":"ok","rid":1}{"type":"ok","rid":2}`, string(b))
}

// AppendFrameSeq encodes a frame with another seq exactly as AppendFrame
// encodes a copy carrying it, so does AppendSequenced of its
// AppendFrameUnsequenced encoding, and AppendOK as AppendFrame encodes the ok
// reply, with and without rid and seq.
func TestAppendFrameSeqAndOK(t *testing.T) {
	for _, f := range []*Frame{
		{Type: TypeInvite, Seq: 3, Inv: "i", Caller: "alice", Timeout: 60000},
		{Type: TypeOK, RID: 7},
		{Seq: 9},                   // no type: seq comes first
		{Seq: 9, Ack: 2, Inv: "i"}, // and fields follow it
		{},
	} {
		for _, seq := range []uint64{0, 1, MaxRequestID} {
			g := *f
			g.Seq = seq
			want := string(AppendFrame([]byte("x"), &g))
			assert.Equal(t, want, string(AppendFrameSeq([]byte("x"), f, seq)))
			data, at := AppendFrameUnsequenced([]byte("yy"), f)
			assert.Equal(t, want, string(AppendSequenced([]byte("x"), data[2:], at, seq)))
		}
	}
	for _, rid := range []uint64{0, 5, MaxRequestID} {
		for _, seq := range []uint64{0, 1, 1 << 40} {
			want := AppendFrame([]byte("x"), &Frame{Type: TypeOK, RID: rid, Seq: seq})
			assert.Equal(t, string(want), string(AppendOK([]byte("x"), rid, seq)))
		}
	}
}

func TestRawField(t *testing.T) {
	raw, ok := RawField([]byte(` {"a":1,"type" : "ack" ,"x":{"type":"no"}} `), "type")
	require.True(t, ok)
	assert.Equal(t, `"ack"`, string(raw))
	for _, in := range []string{`{"type":"ack","type":"ack"}`, `{"TYPE":"ack"}`, `{"type":"ack"`, `{"type":"ack"}x`, `[]`} {
		_, ok := RawField([]byte(in), "type")
		assert.False(t, ok, in)
	}
}

// oldDecode is the encoding/json decoder the codec replaced, the reference
// of the differential fuzz test.
func oldDecode(data []byte) (*Frame, bool) {
	if !utf8.Valid(data) {
		return nil, false
	}
	f := new(Frame)
	if json.Unmarshal(data, f) != nil || f.Type == "" || f.RID > MaxRequestID {
		return nil, false
	}
	return f, true
}

// strictRules are the rules by which the codec refuses what encoding/json
// accepts: the ambiguous (duplicates, case variants, lone surrogates,
// which encoding/json replaces) and the out of range.
var strictRules = map[rule]bool{ruleDuplicate: true, ruleCase: true, ruleNull: true, ruleRange: true,
	ruleSurrogate: true, ruleDepth: true}

// normalize makes empty slices and maps nil, which encoding/json and the
// codec may tell apart and the protocol does not.
func normalize(f *Frame) *Frame {
	g := *f
	if len(g.IDs) == 0 {
		g.IDs = nil
	}
	if len(g.Online) == 0 {
		g.Online = nil
	}
	if len(g.Status) == 0 {
		g.Status = nil
	}
	if len(g.Raw) == 0 {
		g.Raw = nil
	}
	return &g
}

// FuzzDecode checks the codec against encoding/json: what the codec
// accepts, encoding/json decodes to the same frame; what encoding/json
// accepts and the codec refuses breaks a strict rule; nothing panics; an
// accepted frame re-encodes to the same frame; errors are MALFORMED_FRAME.
// Its corpus (testdata/fuzz/FuzzDecode) runs with go test.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"type":"login","rid":1,"user":"alice","token":"x"}`,
		`{"type":"send","rid":2,"callee":"bob","content":"hi","channel":"c","timeout":1000}`,
		`{"type":"accept","rid":3,"inv":"0123456789abcdef0123456789abcdef","response":"ok"}`,
		`{"type":"query","rid":4,"ids":["a","b"]}`,
		`{"type":"ok","rid":4,"online":{"a":true,"b":false},"status":{"a":"ONLINE"}}`,
		`{"type":"ping","rid":9007199254740992}`,
		`{"type":"send","rid":1,"callee":"b","timeout":9223372036854775807}`,
		`{"TYPE":"login","RID":1,"user":"a","user":"b"}`,
		`{"type":"send","callee":"bob","Callee":"eve","rid":1}`,
		`{"type":"ping","rid":1,"x":{"y":[1,2.5e-3,"\ud83d\ude00",null]}}`,
		`{"type":"ping","rid":1,"ack":-0}`, `{"type":"ping","rid":1,"ids":null}`,
		`{"type":"send","rid":1,"content":"\ud800"}`,
		"{\"type\":\"login\",\"user\":\"\xff\"}",
		`{"type":"message","rid":5,"peer":"bob","raw":"AAH+/w==","description":"ice"}`,
		`{"type":"message","rid":5,"peer":"bob","raw":"AAH"}`, `{"type":"waiting","rid":6,"waiting":true}`,
		`{"type":"peer.message","from":"a","text":"\u0001","ts":1,"received":false,"busy":1}`,
		`[]`, `null`, `{}`, ``, `{"type":"ping"} {}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ref, refOK := oldDecode(data)
		got := new(Frame)
		derr := decodeFrame(data, got, nil)
		// With strings kept from a decoding of the same frame, every short
		// string value comes from them: the frame is the same.
		var strs Strings
		for range 2 {
			interned := new(Frame)
			ierr := decodeFrame(data, interned, &strs)
			require.Equal(t, derr, ierr)
			require.Equal(t, got, interned)
		}
		if derr == nil && got.Type == "" {
			derr = &decodeError{}
		}
		fr, err := Decode(data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeMalformedFrame {
				t.Fatalf("Decode error is not MALFORMED_FRAME: %v", err)
			}
			if derr == nil {
				t.Fatalf("Decode refused what decodeFrame took: %v", err)
			}
			if refOK && !strictRules[derr.rule] {
				t.Fatalf("refused %q (%s), which encoding/json takes, by no strict rule", data, derr.msg)
			}
			return
		}
		if !refOK {
			t.Fatalf("accepted %q, which encoding/json refuses", data)
		}
		if !reflect.DeepEqual(normalize(ref), normalize(fr)) {
			t.Fatalf("%q: codec %+v, encoding/json %+v", data, fr, ref)
		}
		again, err := Encode(fr)
		if err != nil {
			t.Fatal(err)
		}
		fr2, err := Decode(again)
		if err != nil || !reflect.DeepEqual(normalize(fr), normalize(fr2)) {
			t.Fatalf("re-encoded frame %s decodes differently: %v", again, err)
		}
		_ = fr.CheckRequest() // must not panic
	})
}

// FuzzEncode: any strings encode to valid JSON that decodes back to them
// (invalid UTF-8 as U+FFFD, as encoding/json does).
func FuzzEncode(f *testing.F) {
	f.Add("hi", "\u2028<&>\x00", "\xff")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		fr := &Frame{Type: TypeSend, RID: 1, Content: a, Channel: b, IDs: []string{c}, Status: map[string]string{a: c}}
		data, err := Encode(fr)
		if err != nil || !json.Valid(data) {
			t.Fatalf("invalid JSON %q: %v", data, err)
		}
		got, err := Decode(data)
		if err != nil {
			t.Fatalf("Decode(%q): %v", data, err)
		}
		want := &Frame{Type: TypeSend, RID: 1, Content: fixUTF8(a),
			Channel: fixUTF8(b), IDs: []string{fixUTF8(c)},
			Status: map[string]string{fixUTF8(a): fixUTF8(c)}}
		if !reflect.DeepEqual(normalize(want), normalize(got)) {
			t.Fatalf("%q decodes to %+v, want %+v", data, got, want)
		}
	})
}

// fixUTF8 replaces each byte of invalid UTF-8 with U+FFFD, as the encoder does.
func fixUTF8(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r)
	}
	return b.String()
}

// plainMask marks exactly the bytes the byte-by-byte test marks, for every
// byte value at every position of a word, alone and next to every other
// (where a carry could cross from one byte into the next).
func TestPlainMaskWord(t *testing.T) {
	isSpecial := func(c byte) bool { return c < 0x20 || c == '"' || c == '\\' || c >= 0x80 }
	for pos := 0; pos < 7; pos++ {
		for a := 0; a < 256; a++ {
			for b := 0; b < 256; b++ {
				w := []byte("abcdefgh")
				w[pos], w[pos+1] = byte(a), byte(b)
				var want uint64
				for i, c := range w {
					if isSpecial(c) {
						want |= 0x80 << (8 * i)
					}
				}
				if got := plainMask(load8(w)); got != want {
					t.Fatalf("plainMask(%q) = %#x, want %#x", w, got, want)
				}
			}
		}
	}
	assert.Equal(t, load8([]byte("abcdefgh")), load8s("abcdefgh"))
}

func TestNameTable(t *testing.T) {
	for i, fd := range fields {
		assert.Equal(t, i, fieldIndex.index([]byte(fd.name)), fd.name)
	}
	for i, typ := range frameTypes.names {
		assert.Equal(t, i, frameTypes.index([]byte(typ)), typ)
	}
	for _, name := range []string{"", "t", "typ", "types", "Type", "tyqe", "callees2", "local.receivec"} {
		assert.Equal(t, -1, fieldIndex.index([]byte(name)), name)
		assert.Equal(t, -1, frameTypes.index([]byte(name)), name)
	}
}

func TestStringsReuse(t *testing.T) {
	var strs Strings
	data := []byte(`{"type":"local.accepted","seq":9,"inv":"07d8647f9fca7feb0fc2c1bcb948bd61"}`)
	var first Frame
	require.NoError(t, DecodeIntoWith(&first, data, &strs))
	var again Frame
	require.NoError(t, DecodeIntoWith(&again, data, &strs))
	assert.Equal(t, first, again)
	var f Frame
	plain := testing.AllocsPerRun(100, func() { f = Frame{}; _ = DecodeInto(&f, data) })
	kept := testing.AllocsPerRun(100, func() { f = Frame{}; _ = DecodeIntoWith(&f, data, &strs) })
	assert.Equal(t, plain-1, kept, "the repeated id is not allocated again")
	long := strings.Repeat("x", maxInterned+1)
	assert.Equal(t, long, strs.get([]byte(long)))
	assert.NotContains(t, strs.recent, long, "a long string is not kept")
}

// Strings finds each of the strings it keeps, however their tags collide
// (one length and one last byte: one tag), and takes no other for them.
func TestStringsFindsRecent(t *testing.T) {
	var strs Strings
	for i := range 40 {
		b := []byte(fmt.Sprintf("id-%02d-%d", i%20, i/20)) // one length, two last bytes
		if i%7 == 0 {
			b = nil // the empty string among them
		}
		require.Equal(t, string(b), strs.get(b))
		for _, r := range strs.recent {
			again := strs.get([]byte(r))
			require.Equal(t, r, again)
			if r != "" {
				require.True(t, unsafe.StringData(r) == unsafe.StringData(again), "%q is found, not kept again", r)
			}
		}
	}
	assert.NotContains(t, strs.recent, "id-00-0", "the oldest are let go")
	assert.Equal(t, "never-seen", strs.get([]byte("never-seen")))
}
