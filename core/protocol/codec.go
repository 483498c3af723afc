package protocol

import (
	"encoding/base64"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// fields is every field of Frame: its JSON name, its Go type and where it
// lives. The decoder accepts exactly these names; the encoder (appendFrame)
// writes them in this order and omits zero values. A new Frame field needs
// one line here and one in appendFrame (TestFieldsMatchFrame,
// TestCodecCoversEveryField and TestEncodeEveryFieldInOrder fail otherwise).
// The decoder writes a value at its field's offset, by kind: no closure,
// interface or type switch per field.
var fields = [...]struct {
	name string
	kind kind
	off  uintptr
}{
	{"type", kindType, unsafe.Offsetof(Frame{}.Type)},
	{"rid", kindUint, unsafe.Offsetof(Frame{}.RID)},
	{"code", kindCode, unsafe.Offsetof(Frame{}.Code)},
	{"name", kindString, unsafe.Offsetof(Frame{}.Name)},
	{"message", kindString, unsafe.Offsetof(Frame{}.Message)},
	{"user", kindString, unsafe.Offsetof(Frame{}.User)},
	{"token", kindString, unsafe.Offsetof(Frame{}.Token)},
	{"session", kindString, unsafe.Offsetof(Frame{}.Session)},
	{"key", kindString, unsafe.Offsetof(Frame{}.Key)},
	{"attempt", kindUint, unsafe.Offsetof(Frame{}.Attempt)},
	{"grace", kindInt, unsafe.Offsetof(Frame{}.Grace)},
	{"heartbeat", kindInt, unsafe.Offsetof(Frame{}.Heartbeat)},
	{"lastRid", kindUint, unsafe.Offsetof(Frame{}.LastRID)},
	{"seq", kindUint, unsafe.Offsetof(Frame{}.Seq)},
	{"ack", kindUint, unsafe.Offsetof(Frame{}.Ack)},
	{"inv", kindString, unsafe.Offsetof(Frame{}.Inv)},
	{"callee", kindString, unsafe.Offsetof(Frame{}.Callee)},
	{"caller", kindString, unsafe.Offsetof(Frame{}.Caller)},
	{"content", kindString, unsafe.Offsetof(Frame{}.Content)},
	{"channel", kindString, unsafe.Offsetof(Frame{}.Channel)},
	{"response", kindString, unsafe.Offsetof(Frame{}.Response)},
	{"timeout", kindInt, unsafe.Offsetof(Frame{}.Timeout)},
	{"reason", kindString, unsafe.Offsetof(Frame{}.Reason)},
	{"busy", kindBool, unsafe.Offsetof(Frame{}.Busy)},
	{"wake", kindInt, unsafe.Offsetof(Frame{}.Wake)},
	{"by", kindString, unsafe.Offsetof(Frame{}.By)},
	{"callees", kindStrings, unsafe.Offsetof(Frame{}.Callees)},
	{"mode", kindString, unsafe.Offsetof(Frame{}.Mode)},
	{"state", kindString, unsafe.Offsetof(Frame{}.State)},
	{"peer", kindString, unsafe.Offsetof(Frame{}.Peer)},
	{"from", kindString, unsafe.Offsetof(Frame{}.From)},
	{"text", kindString, unsafe.Offsetof(Frame{}.Text)},
	{"raw", kindBytes, unsafe.Offsetof(Frame{}.Raw)},
	{"description", kindString, unsafe.Offsetof(Frame{}.Description)},
	{"ts", kindInt, unsafe.Offsetof(Frame{}.TS)},
	{"received", kindBool, unsafe.Offsetof(Frame{}.Received)},
	{"waiting", kindBool, unsafe.Offsetof(Frame{}.Waiting)},
	{"endpoint", kindString, unsafe.Offsetof(Frame{}.Endpoint)},
	{"p256dh", kindString, unsafe.Offsetof(Frame{}.P256dh)},
	{"auth", kindString, unsafe.Offsetof(Frame{}.Auth)},
	{"dropPush", kindBool, unsafe.Offsetof(Frame{}.DropPush)},
	{"ids", kindStrings, unsafe.Offsetof(Frame{}.IDs)},
	{"online", kindOnline, unsafe.Offsetof(Frame{}.Online)},
	{"status", kindStatus, unsafe.Offsetof(Frame{}.Status)},
}

// kind is the Go type of a field of Frame, which says how its value is read.
type kind uint8

const (
	kindType    kind = iota // string, one of the frame types
	kindString              // string
	kindUint                // uint64, from 0 to MaxRequestID
	kindInt                 // int64
	kindCode                // Code
	kindBool                // bool
	kindBytes               // []byte, standard base64
	kindStrings             // []string
	kindOnline              // map[string]bool
	kindStatus              // map[string]string
)

// maxDepth bounds the nesting of arrays and objects in the values of
// unknown fields, so that skipping them cannot exhaust the stack.
const maxDepth = 64

var (
	fieldIndex  wordTable             // exact name -> index in fields
	foldedIndex = map[string]string{} // case-folded name -> exact name
	frameTypes  wordTable             // known type values, kept without allocating
)

// wordTable finds a name of a small fixed set, of 1 to 16 bytes, by a
// perfect hash of its bytes read as two words and one comparison of the
// two: every field name and type of every frame is looked up, and a map's
// hash or a loop of string comparisons costs several times that.
type wordTable struct {
	mul   uint64 // makes slot a perfect hash of names (found by build)
	slots [256]struct {
		w0, w1 uint64
		n, i   uint8 // the name's length and 1 + its index in names; 0: empty
	}
	names []string
}

// words reads b, of up to 16 bytes, as two little-endian words, zero past
// its end.
func words(b []byte) (w0, w1 uint64) {
	var buf [16]byte
	copy(buf[:], b)
	return load8(buf[:]), load8(buf[8:])
}

func (t *wordTable) slot(w0, w1 uint64, n int) uint8 {
	return uint8(((w0 ^ w1 ^ uint64(n)) * t.mul) >> 56)
}

// build sets the table to names, searching for a multiplier under which
// no two names share a slot.
func (t *wordTable) build(names []string) {
	if len(names) > 255 {
		panic("protocol: a wordTable holds at most 255 names")
	}
	t.names = names
	for _, name := range names {
		if len(name) == 0 || len(name) > 16 {
			panic("protocol: a wordTable holds names of 1 to 16 bytes: " + strconv.Quote(name))
		}
	}
search:
	for k := uint64(1); k < 1<<16; k++ {
		t.mul = k*0x9e3779b97f4a7c15 | 1
		clear(t.slots[:])
		for i, name := range names {
			w0, w1 := words([]byte(name))
			e := &t.slots[t.slot(w0, w1, len(name))]
			if e.i != 0 {
				continue search
			}
			e.w0, e.w1, e.n, e.i = w0, w1, uint8(len(name)), uint8(i+1)
		}
		return
	}
	panic("protocol: no perfect hash for the names of a wordTable")
}

// find is the index of the name whose words (zero past its n bytes) are
// w0 and w1, or -1.
func (t *wordTable) find(w0, w1 uint64, n int) int {
	e := &t.slots[t.slot(w0, w1, n)]
	if e.w0 != w0 || e.w1 != w1 || int(e.n) != n {
		return -1
	}
	return int(e.i) - 1
}

// index is name's index in the table, or -1.
func (t *wordTable) index(name []byte) int {
	if len(name) > 16 {
		return -1
	}
	w0, w1 := words(name)
	return t.find(w0, w1, len(name))
}

func init() {
	if len(fields) > 64 {
		panic("protocol: Decode tracks duplicate fields in a uint64")
	}
	var names []string
	for _, fd := range fields {
		names = append(names, fd.name)
		foldedIndex[string(foldKey(nil, []byte(fd.name)))] = fd.name
	}
	fieldIndex.build(names)
	frameTypes.build([]string{TypeLogin, TypeLogout, TypeSend, TypeCancel, TypeAck, TypeAccept, TypeRefuse,
		TypeQuery, TypeSubscribe, TypeUnsubscribe, TypePing, TypeResume, TypeRenew, TypeOK, TypeError,
		TypeInvite, TypeLocalReceived, TypeLocalAccepted, TypeLocalRefused, TypeLocalCanceled, TypeLocalFailure,
		TypeLocalCallee, TypeRemoteAccepted, TypeRemoteRefused, TypeRemoteCanceled, TypeRemoteFailure,
		TypePresence, TypeBye, TypeMessage, TypeHangup, TypeIgnore, TypeWaiting, TypePeerMessage, TypeCallEnded,
		TypeLocalWaking, TypePushSubscribe, TypePushUnsubscribe})
}

// foldKey appends key folded as encoding/json matches names (each rune to
// upper(lower(r))), so that any key encoding/json would take for a field
// is recognised as a case variant of it.
func foldKey(dst, key []byte) []byte {
	for _, r := range string(key) {
		dst = utf8.AppendRune(dst, unicode.ToUpper(unicode.ToLower(r)))
	}
	return dst
}

// rule says which rule a frame broke; the fuzz test tells the strict rules
// from plain invalid JSON with it.
type rule uint8

const (
	ruleSyntax    rule = iota + 1 // not one valid JSON object
	ruleUTF8                      // invalid UTF-8
	ruleDuplicate                 // a name twice in one object
	ruleCase                      // a case variant of a field name
	ruleNull                      // null for a field
	ruleType                      // a value of the wrong JSON type
	ruleRange                     // a number out of range or not an integer
	ruleSurrogate                 // a \u escape of a lone surrogate
	ruleDepth                     // unknown field nested over maxDepth
)

type decodeError struct {
	rule rule
	msg  string
}

// decoder reads one frame; pos is the next byte of data to read.
type decoder struct {
	data []byte
	pos  int
	err  *decodeError
	strs *Strings // nil: each string value allocated
	// checkUTF8 refuses invalid UTF-8 in strings, where alone a frame may
	// hold bytes over 0x7f: checked as the strings are read, not in a pass
	// of its own. RawField reads without it.
	checkUTF8 bool
}

func (d *decoder) fail(r rule, msg string) bool {
	if d.err == nil {
		d.err = &decodeError{rule: r, msg: msg}
	}
	return false
}

func (d *decoder) syntax(what string) bool {
	if d.pos >= len(d.data) {
		return d.fail(ruleSyntax, "unexpected end of JSON, want "+what)
	}
	return d.fail(ruleSyntax, "invalid JSON at byte "+strconv.Itoa(d.pos)+", want "+what)
}

func (d *decoder) ws() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// peek skips whitespace and returns the next byte, 0 at the end.
func (d *decoder) peek() byte {
	if d.pos < len(d.data) && d.data[d.pos] > ' ' { // no whitespace: the frames a server or client writes
		return d.data[d.pos]
	}
	d.ws()
	if d.pos >= len(d.data) {
		return 0
	}
	return d.data[d.pos]
}

func (d *decoder) consume(c byte) bool {
	if d.peek() != c {
		return false
	}
	d.pos++
	return true
}

// decodeFrame fills f from data, one JSON object of Frame's fields.
func decodeFrame(data []byte, f *Frame, strs *Strings) *decodeError {
	d := &decoder{data: data, strs: strs, checkUTF8: true}
	ok := d.frame(f)
	if d.ws(); ok && d.pos < len(d.data) { // not peek: a NUL byte after the object is data too
		ok = d.fail(ruleSyntax, "data after the frame's object at byte "+strconv.Itoa(d.pos))
	}
	if !ok {
		return d.err
	}
	return nil
}

// frame reads the frame's object into f. It is object with the common case
// first: a name of plain ASCII under 16 bytes, looked up from the two words
// that hold it, and no whitespace around ':' and ','.
func (d *decoder) frame(f *Frame) bool {
	if !d.consume('{') {
		return d.syntax("an object")
	}
	if d.consume('}') {
		return true
	}
	var seen uint64
	var unknown [][2]int // spans of unknown names, to find their duplicates
	for {
		if (d.pos >= len(d.data) || d.data[d.pos] != '"') && d.peek() != '"' {
			return d.syntax("a field name")
		}
		start := d.pos + 1
		i, name := -1, []byte(nil)
		if start+16 <= len(d.data) {
			b := d.data[start:]
			w0 := load8(b)
			if m := plainMask(w0); m != 0 && b[bits.TrailingZeros64(m)>>3&7] == '"' { // most names: one word
				n := bits.TrailingZeros64(m) >> 3 & 7
				i, name = fieldIndex.find(w0&lowBytes[n], 0, n), b[:n]
				d.pos = start + n + 1
			} else if w0, w1, n := plain16(b); n >= 0 {
				i, name = fieldIndex.find(w0, w1, n), b[:n]
				d.pos = start + n + 1
			}
		}
		if name == nil {
			var ok bool
			if name, ok = d.str(nil); !ok {
				return false
			}
			i = fieldIndex.index(name)
		}
		end := d.pos - 1
		if d.pos < len(d.data) && d.data[d.pos] == ':' {
			d.pos++
		} else if !d.consume(':') {
			return d.syntax(`":"`)
		}
		switch {
		case i < 0:
			if !d.unknownField(name, [2]int{start, end}, &unknown) {
				return false
			}
		case seen&(1<<(uint(i)&63)) != 0:
			return d.fail(ruleDuplicate, "field "+strconv.Quote(fields[i].name)+" appears twice")
		default:
			seen |= 1 << (uint(i) & 63)
			if !d.field(f, i) {
				return false
			}
		}
		if d.pos < len(d.data) {
			switch d.data[d.pos] {
			case ',':
				d.pos++
				continue
			case '}':
				d.pos++
				return true
			}
		}
		if d.consume('}') {
			return true
		}
		if !d.consume(',') {
			return d.syntax(`"," or "}"`)
		}
	}
}

// unknownField skips the value of a field not in fields, refusing a case
// variant of one and a name seen before; span is the name's raw bytes.
func (d *decoder) unknownField(key []byte, span [2]int, unknown *[][2]int) bool {
	var keyBuf [64]byte
	if exact, variant := foldedIndex[string(foldKey(keyBuf[:0], key))]; variant {
		return d.fail(ruleCase, "unknown field "+strconv.Quote(string(key))+
			" (field names are case-sensitive: "+strconv.Quote(exact)+")")
	}
	for _, u := range *unknown {
		if string(d.data[u[0]:u[1]]) == string(d.data[span[0]:span[1]]) {
			return d.fail(ruleDuplicate, "field "+strconv.Quote(string(key))+" appears twice")
		}
	}
	*unknown = append(*unknown, span)
	return d.skip(0)
}

// plain16 reads the string that starts at b[0] (after its opening quote)
// when it is under 16 bytes of printable ASCII without escapes: its bytes
// as two little-endian words, zero past its end, and its length n; n is
// -1 when it is not such a string. b holds 16 bytes at least.
func plain16(b []byte) (w0, w1 uint64, n int) {
	_ = b[15]
	w0 = load8(b)
	if m := plainMask(w0); m != 0 {
		k := bits.TrailingZeros64(m) >> 3 & 7
		if b[k] != '"' {
			return 0, 0, -1
		}
		return w0 & lowBytes[k], 0, k
	}
	w1 = load8(b[8:])
	if m := plainMask(w1); m != 0 {
		k := bits.TrailingZeros64(m) >> 3 & 7
		if b[8+k] != '"' {
			return 0, 0, -1
		}
		return w0, w1 & lowBytes[k], 8 + k
	}
	return 0, 0, -1
}

// lowBytes[k] keeps the k low bytes of a word.
var lowBytes = [8]uint64{0, 0xff, 0xffff, 0xffffff, 0xffffffff, 0xffffffffff, 0xffffffffffff, 0xffffffffffffff}

// field reads the value of fields[i] into f.
func (d *decoder) field(f *Frame, i int) bool {
	fd := &fields[i]
	p := unsafe.Add(unsafe.Pointer(f), fd.off)
	var ok bool
	switch fd.kind {
	case kindType:
		*(*string)(p), ok = d.typeValue()
	case kindString:
		*(*string)(p), ok = d.stringValue(fd.name, "a string")
	case kindUint:
		*(*uint64)(p), _, ok = d.integer(fd.name, MaxRequestID, false)
	case kindInt:
		*(*int64)(p), ok = d.int64Value(fd.name)
	case kindCode:
		var n int64
		n, ok = d.int64Value(fd.name)
		*(*Code)(p) = Code(n)
	case kindBool:
		*(*bool)(p), ok = d.boolean(fd.name, "a boolean")
	case kindBytes:
		*(*[]byte)(p), ok = d.bytesValue(fd.name)
	case kindStrings:
		*(*[]string)(p), ok = d.stringsValue(fd.name)
	case kindOnline:
		*(*map[string]bool)(p), ok = decodeMap(d, fd.name, func() (bool, bool) { return d.boolean(fd.name, "an object of booleans") })
	case kindStatus:
		*(*map[string]string)(p), ok = decodeMap(d, fd.name, func() (string, bool) { return d.stringValue(fd.name, "an object of strings") })
	default:
		panic("protocol: no codec for the kind of field " + fd.name)
	}
	return ok
}

// object reads an object, calling field for each name with the value next
// to read; span is the name's raw bytes in data, without quotes. A name
// without escapes is a subslice of data: field must not keep it.
func (d *decoder) object(field func(name []byte, span [2]int) bool) bool {
	if !d.consume('{') {
		return d.syntax("an object")
	}
	if d.consume('}') {
		return true
	}
	for {
		if d.peek() != '"' {
			return d.syntax("a field name")
		}
		start := d.pos + 1
		name, ok := d.str(nil)
		if !ok {
			return false
		}
		span := [2]int{start, d.pos - 1}
		if !d.consume(':') {
			return d.syntax(`":"`)
		}
		if !field(name, span) {
			return false
		}
		if d.consume('}') {
			return true
		}
		if !d.consume(',') {
			return d.syntax(`"," or "}"`)
		}
	}
}

// str reads a string at d.pos (which is '"'). Without escapes it returns a
// subslice of data; otherwise the unescaped text appended to buf.
func (d *decoder) str(buf []byte) ([]byte, bool) {
	data := d.data
	start := d.pos + 1 // after the opening quote
	i := start         // a local, not d.pos: the loop is most of a frame's decoding
	for {
		for i+8 <= len(data) { // to the first byte that is not plain ASCII (exact: plainMask)
			w := load8(data[i:])
			if m := plainMask(w); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		for ; i < len(data); i++ { // the last bytes, or the one the words stopped at
			c := data[i]
			if c == '"' {
				d.pos = i + 1
				return data[start:i], true
			}
			if c < 0x20 || c == '\\' || c >= utf8.RuneSelf {
				break
			}
		}
		if i >= len(data) {
			d.pos = i
			return nil, d.syntax(`the end of a string`)
		}
		switch c := data[i]; {
		case c == '\\':
			d.pos = i
			return d.escaped(append(buf, data[start:i]...))
		case c < 0x20:
			d.pos = i
			return nil, d.syntax("no control character in a string")
		}
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 && d.checkUTF8 {
			d.pos = i
			return nil, d.fail(ruleUTF8, "frame is not valid UTF-8")
		}
		i += size
	}
}

// escaped goes on reading a string from an escape at d.pos, appending to buf.
func (d *decoder) escaped(buf []byte) ([]byte, bool) {
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		switch {
		case c == '"':
			d.pos++
			return buf, true
		case c < 0x20:
			return nil, d.syntax("no control character in a string")
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(d.data[d.pos:])
			if r == utf8.RuneError && size == 1 && d.checkUTF8 {
				return nil, d.fail(ruleUTF8, "frame is not valid UTF-8")
			}
			buf = append(buf, d.data[d.pos:d.pos+size]...)
			d.pos += size
			continue
		case c != '\\':
			buf = append(buf, c)
			d.pos++
			continue
		}
		if d.pos+1 >= len(d.data) {
			d.pos = len(d.data)
			return nil, d.syntax("an escape")
		}
		d.pos += 2
		switch e := d.data[d.pos-1]; e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := d.hex4()
			if !ok {
				return nil, false
			}
			if r >= 0xDC00 && r <= 0xDFFF {
				return nil, d.fail(ruleSurrogate, `a \u escape of a lone surrogate`)
			}
			if r >= 0xD800 && r <= 0xDBFF {
				if d.pos+1 >= len(d.data) || d.data[d.pos] != '\\' || d.data[d.pos+1] != 'u' {
					return nil, d.fail(ruleSurrogate, `a \u escape of a lone surrogate`)
				}
				d.pos += 2
				lo, ok := d.hex4()
				if !ok {
					return nil, false
				}
				if lo < 0xDC00 || lo > 0xDFFF {
					return nil, d.fail(ruleSurrogate, `a \u escape of a lone surrogate`)
				}
				r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
			}
			buf = utf8.AppendRune(buf, r)
		default:
			d.pos--
			return nil, d.syntax("a valid escape")
		}
	}
	return nil, d.syntax("the end of a string")
}

func (d *decoder) hex4() (rune, bool) {
	if d.pos+4 > len(d.data) {
		d.pos = len(d.data)
		return 0, d.syntax("4 hex digits")
	}
	var r rune
	for _, c := range d.data[d.pos : d.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, d.syntax("4 hex digits")
		}
		r = r<<4 | rune(c)
	}
	d.pos += 4
	return r, true
}

// stringValue reads a string, the value of field name or part of it.
func (d *decoder) stringValue(name, what string) (string, bool) {
	if (d.pos >= len(d.data) || d.data[d.pos] != '"') && !d.want(name, '"', what) {
		return "", false
	}
	b, ok := d.str(nil)
	if !ok {
		return "", false
	}
	if d.strs != nil {
		return d.strs.get(b), true
	}
	return string(b), true
}

// typeValue reads the value of "type": one of the frame types, found
// without allocating (the common case from the words that hold it), or
// another string.
func (d *decoder) typeValue() (string, bool) {
	if start := d.pos + 1; start+16 <= len(d.data) && d.data[d.pos] == '"' {
		if w0, w1, n := plain16(d.data[start:]); n >= 0 {
			if i := frameTypes.find(w0, w1, n); i >= 0 {
				d.pos = start + n + 1
				return frameTypes.names[i], true
			}
		}
	}
	if (d.pos >= len(d.data) || d.data[d.pos] != '"') && !d.want("type", '"', "a string") {
		return "", false
	}
	b, ok := d.str(nil)
	if !ok {
		return "", false
	}
	if i := frameTypes.index(b); i >= 0 {
		return frameTypes.names[i], true
	}
	return string(b), true
}

// want checks that the value next is of the JSON type that starts with c
// (a digit or '-' for numbers).
func (d *decoder) want(name string, c byte, what string) bool {
	got := d.peek()
	if got == c || (c == '0' && (got == '-' || got >= '0' && got <= '9')) {
		return true
	}
	switch got {
	case 'n':
		if !d.literal("null") {
			return d.syntax("null")
		}
		return d.fail(ruleNull, "field "+strconv.Quote(name)+" is null, want "+what)
	case '"', '{', '[', 't', 'f', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		if d.skip(0) {
			return d.fail(ruleType, "field "+strconv.Quote(name)+" must be "+what)
		}
		return false
	}
	return d.syntax("a value")
}

// integer reads an integer from -max to max, or from 0 to max unless
// signed; it returns the magnitude and whether it was negative.
func (d *decoder) integer(name string, max uint64, signed bool) (uint64, bool, bool) {
	// The common case first: up to 18 digits, no leading zero, no fraction
	// or exponent, within max. Anything else is read again below.
	if data, p := d.data, d.pos; p < len(data) && data[p]-'1' < 9 {
		n := uint64(data[p] - '0')
		for p++; p < len(data) && data[p]-'0' < 10 && p-d.pos < 18; p++ {
			n = n*10 + uint64(data[p]-'0')
		}
		if (p == len(data) || data[p]-'0' >= 10 && data[p] != '.' && data[p]|0x20 != 'e') && n <= max {
			d.pos = p
			return n, false, true
		}
	}
	if !d.want(name, '0', "an integer") {
		return 0, false, false
	}
	start := d.pos
	if !d.number() {
		return 0, false, false
	}
	num := d.data[start:d.pos]
	neg := num[0] == '-'
	if neg {
		num = num[1:]
	}
	var n uint64
	for i, c := range num {
		if c < '0' || c > '9' {
			return 0, false, d.fail(ruleRange, "field "+strconv.Quote(name)+" must be an integer, without fraction or exponent")
		}
		if i >= 19 || n*10+uint64(c-'0') > max {
			return 0, false, d.fail(ruleRange, "field "+strconv.Quote(name)+" is out of range")
		}
		n = n*10 + uint64(c-'0')
	}
	if neg && !signed {
		return 0, false, d.fail(ruleRange, "field "+strconv.Quote(name)+" must not be negative")
	}
	return n, neg, true
}

func (d *decoder) int64Value(name string) (int64, bool) {
	n, neg, ok := d.integer(name, 1<<63-1, true)
	if neg {
		return -int64(n), ok
	}
	return int64(n), ok
}

// bytesValue reads standard base64 with padding, as encoding/json writes []byte.
func (d *decoder) bytesValue(name string) ([]byte, bool) {
	s, ok := d.stringValue(name, "a base64 string")
	if !ok {
		return nil, false
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, d.fail(ruleType, "field "+strconv.Quote(name)+" is not base64: "+err.Error())
	}
	return b, true
}

func (d *decoder) stringsValue(name string) ([]string, bool) {
	if !d.want(name, '[', "an array of strings") {
		return nil, false
	}
	d.pos++
	if d.consume(']') {
		return []string{}, true
	}
	var v []string
	for {
		s, ok := d.stringValue(name, "an array of strings")
		if !ok {
			return v, false
		}
		v = append(v, s)
		if d.consume(']') {
			return v, true
		}
		if !d.consume(',') {
			return v, d.syntax(`"," or "]"`)
		}
	}
}

// decodeMap reads the object of ids that field name holds, each value read
// by value; an id twice is refused.
func decodeMap[V any](d *decoder, name string, value func() (V, bool)) (map[string]V, bool) {
	if !d.want(name, '{', "an object") {
		return nil, false
	}
	m := map[string]V{}
	ok := d.object(func(key []byte, _ [2]int) bool {
		if _, dup := m[string(key)]; dup {
			return d.fail(ruleDuplicate, "id "+strconv.Quote(string(key))+" appears twice in "+strconv.Quote(name))
		}
		k := string(key)
		v, ok := value()
		m[k] = v
		return ok
	})
	return m, ok
}

// boolean reads true or false, the value of field name or part of it.
func (d *decoder) boolean(name, what string) (bool, bool) {
	switch d.peek() {
	case 't':
		return true, d.literal("true") || d.syntax("true")
	case 'f':
		return false, d.literal("false") || d.syntax("false")
	}
	return false, d.want(name, 't', what)
}

func (d *decoder) literal(lit string) bool {
	if !strings.HasPrefix(string(d.data[d.pos:]), lit) {
		return false
	}
	d.pos += len(lit)
	return true
}

// number reads a JSON number, of any form.
func (d *decoder) number() bool {
	p := d.pos
	digits := func() bool {
		s := p
		for p < len(d.data) && d.data[p] >= '0' && d.data[p] <= '9' {
			p++
		}
		return p > s
	}
	if p < len(d.data) && d.data[p] == '-' {
		p++
	}
	if p < len(d.data) && d.data[p] == '0' {
		p++
	} else if !digits() {
		d.pos = p
		return d.syntax("a digit")
	}
	if p < len(d.data) && d.data[p] == '.' {
		p++
		if !digits() {
			d.pos = p
			return d.syntax("a digit")
		}
	}
	if p < len(d.data) && (d.data[p] == 'e' || d.data[p] == 'E') {
		p++
		if p < len(d.data) && (d.data[p] == '+' || d.data[p] == '-') {
			p++
		}
		if !digits() {
			d.pos = p
			return d.syntax("a digit")
		}
	}
	d.pos = p
	return true
}

// skip reads any JSON value, the value of a field the decoder does not know.
func (d *decoder) skip(depth int) bool {
	switch c := d.peek(); {
	case c == '"':
		_, ok := d.str(nil)
		return ok
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	case c == 't':
		return d.literal("true") || d.syntax("true")
	case c == 'f':
		return d.literal("false") || d.syntax("false")
	case c == 'n':
		return d.literal("null") || d.syntax("null")
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return d.fail(ruleDepth, "an unknown field is nested over "+strconv.Itoa(maxDepth)+" levels")
		}
		if c == '{' {
			return d.object(func([]byte, [2]int) bool { return d.skip(depth + 1) })
		}
		d.pos++
		if d.consume(']') {
			return true
		}
		for {
			if !d.skip(depth + 1) {
				return false
			}
			if d.consume(']') {
				return true
			}
			if !d.consume(',') {
				return d.syntax(`"," or "]"`)
			}
		}
	}
	return d.syntax("a value")
}

// RawField returns the raw JSON value of the top-level field name of the
// object in data, when data is one valid JSON object in which name occurs
// once (exact case). It lets a frame be peeked at, or a field be read from
// a frame that did not decode, without a second parser.
func RawField(data []byte, name string) ([]byte, bool) {
	d := &decoder{data: data}
	var raw []byte
	found := false
	ok := d.object(func(key []byte, _ [2]int) bool {
		d.ws()
		start := d.pos
		if !d.skip(0) {
			return false
		}
		if string(key) == name {
			if found {
				return d.fail(ruleDuplicate, "")
			}
			raw, found = d.data[start:d.pos], true
		}
		return true
	})
	if !ok || d.peek() != 0 || !found {
		return nil, false
	}
	return raw, true
}

// RequestID reads the request id of a frame that did not decode, so that the
// error can echo it: 0 when there is no valid one to read.
func RequestID(data []byte) uint64 {
	raw, ok := RawField(data, "rid")
	if !ok {
		return 0
	}
	d := &decoder{data: raw}
	rid, _, ok := d.integer("rid", MaxRequestID, false)
	if !ok || d.pos != len(raw) {
		return 0
	}
	return rid
}

// Decode parses one text frame. On failure it returns an *Error with code
// MALFORMED_FRAME and, when the JSON was readable, a frame carrying the
// request id to echo in the error (0 when the rid itself was not valid).
func Decode(data []byte) (*Frame, error) {
	f := new(Frame)
	if syntax, err := decodeInto(f, data, nil); err != nil {
		if syntax {
			return nil, err
		}
		return f, err
	}
	return f, nil
}

// DecodeInto is Decode into f, which must be zero, so that a caller may
// reuse a Frame. On failure f holds the request id to echo (0 when it was
// not readable), or, for a frame without a type, what was decoded.
func DecodeInto(f *Frame, data []byte) error {
	_, err := decodeInto(f, data, nil)
	return err
}

// DecodeIntoWith is DecodeInto that takes a string value equal to one of
// strs' recent ones (an invitation's id, a user id, a reason) from strs
// rather than allocating it: a reader's frames repeat them.
func DecodeIntoWith(f *Frame, data []byte, strs *Strings) error {
	_, err := decodeInto(f, data, strs)
	return err
}

// Strings keeps the last few short strings a reader decoded, for
// DecodeIntoWith. The zero value is ready; it is not safe for concurrent use.
type Strings struct {
	recent [8]string
	// tags holds a byte of each of recent (stringTag), so that one test
	// of a word finds the few that may equal a string, not eight of them.
	tags uint64
	next int
}

// maxInterned bounds the strings Strings keeps: ids and reasons, not a
// message's text.
const maxInterned = 64

// stringTag is a byte of b's length and last byte: ids of one length
// mostly differ at their end.
func stringTag(b []byte) uint64 {
	if len(b) == 0 {
		return 0
	}
	return uint64(byte(len(b)*37) ^ b[len(b)-1])
}

func (s *Strings) get(b []byte) string {
	if len(b) > maxInterned {
		return string(b)
	}
	tag := stringTag(b)
	// The high bit of each byte of tags that equals tag (zero in x), and
	// perhaps of some above one that does: each is compared in full.
	x := s.tags ^ tag*ones
	for m := (x - ones) &^ x & highs; m != 0; m &= m - 1 {
		if r := s.recent[bits.TrailingZeros64(m)>>3]; r == string(b) {
			return r
		}
	}
	r := string(b)
	s.recent[s.next] = r
	shift := 8 * uint(s.next)
	s.tags = s.tags&^(0xff<<shift) | tag<<shift
	s.next = (s.next + 1) % len(s.recent)
	return r
}

func decodeInto(f *Frame, data []byte, strs *Strings) (syntax bool, err error) {
	if e := decodeFrame(data, f, strs); e != nil {
		*f = Frame{}
		if e.rule == ruleSyntax {
			return true, Errorf(CodeMalformedFrame, "frame is not a valid JSON object: %s", e.msg)
		}
		f.RID = RequestID(data)
		return false, Errorf(CodeMalformedFrame, "%s", e.msg)
	}
	if f.Type == "" {
		return false, Errorf(CodeMalformedFrame, `frame has no "type"`)
	}
	return false, nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Encode serializes f without HTML escaping (so "<" stays one byte and
// sizes stay predictable) and without a trailing newline. The error is
// always nil; it is kept for callers written against encoding/json.
func Encode(f *Frame) ([]byte, error) {
	bp := bufPool.Get().(*[]byte)
	b := AppendFrame((*bp)[:0], f)
	out := slices.Clone(b)
	if cap(b) <= 64<<10 {
		*bp = b
		bufPool.Put(bp)
	}
	return out, nil
}

// AppendFrame appends f's JSON to dst and returns the extended slice: the
// fields in Frame's order, zero values omitted, map keys sorted. Strings
// are escaped as encoding/json does without HTML escaping: quotes,
// backslashes, control characters, U+2028 and U+2029; invalid UTF-8
// becomes U+FFFD, so the output is always valid JSON.
func AppendFrame(dst []byte, f *Frame) []byte {
	return AppendFrameSeq(dst, f, f.Seq)
}

// AppendFrameSeq is AppendFrame with seq in place of f.Seq: a frame
// shared between streams is encoded with each stream's seq, without a copy.
func AppendFrameSeq(dst []byte, f *Frame, seq uint64) []byte {
	dst, _ = appendFrame(dst, f, seq)
	return dst
}

// AppendFrameUnsequenced appends f's JSON without its seq, as AppendFrameSeq
// with seq 0 would, and returns where AppendSequenced puts a seq (an offset
// from the start of what it appended): a frame kept encoded, as a server's
// stream keeps it, is numbered when it is written.
func AppendFrameUnsequenced(dst []byte, f *Frame) (_ []byte, at int) {
	start := len(dst)
	dst, at = appendFrame(dst, f, 0)
	return dst, at - start
}

// AppendSequenced appends data, a frame encoded by AppendFrameUnsequenced
// with a seq's place at, carrying seq (0: none): the bytes AppendFrameSeq
// would give for that frame and seq.
func AppendSequenced(dst, data []byte, at int, seq uint64) []byte {
	if seq == 0 {
		return append(dst, data...)
	}
	dst = append(dst, data[:at]...)
	alone := data[at-1] == '{' // no field before seq
	if !alone {
		dst = append(dst, ',')
	}
	dst = append(dst, `"seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	if alone && data[at] != '}' {
		dst = append(dst, ',')
	}
	return append(dst, data[at:]...)
}

// appendFrame is AppendFrameSeq, also returning the length dst had where
// seq is written, or would be when seq is 0. It is written out field by
// field, in fields' order (TestEncodeEveryFieldInOrder), rather than
// walking fields: a frame of a few fields costs a test per field, and f
// does not escape, so that a caller's Frame may stay on its stack.
func appendFrame(dst []byte, f *Frame, seq uint64) (_ []byte, at int) {
	start := len(dst)
	w := frameWriter{b: dst}
	w.str(`,"type":`, f.Type)
	w.uint(`,"rid":`, f.RID)
	w.int(`,"code":`, int64(f.Code))
	w.str(`,"name":`, f.Name)
	w.str(`,"message":`, f.Message)
	w.str(`,"user":`, f.User)
	w.str(`,"token":`, f.Token)
	w.str(`,"session":`, f.Session)
	w.str(`,"key":`, f.Key)
	w.uint(`,"attempt":`, f.Attempt)
	w.int(`,"grace":`, f.Grace)
	w.int(`,"heartbeat":`, f.Heartbeat)
	w.uint(`,"lastRid":`, f.LastRID)
	at = max(len(w.b), start+1) // after the '{' when no field is before seq
	w.uint(`,"seq":`, seq)
	w.uint(`,"ack":`, f.Ack)
	w.str(`,"inv":`, f.Inv)
	w.str(`,"callee":`, f.Callee)
	w.str(`,"caller":`, f.Caller)
	w.str(`,"content":`, f.Content)
	w.str(`,"channel":`, f.Channel)
	w.str(`,"response":`, f.Response)
	w.int(`,"timeout":`, f.Timeout)
	w.str(`,"reason":`, f.Reason)
	w.bool(`,"busy":`, f.Busy)
	w.int(`,"wake":`, f.Wake)
	w.str(`,"by":`, f.By)
	w.strs(`,"callees":`, f.Callees)
	w.str(`,"mode":`, f.Mode)
	w.str(`,"state":`, f.State)
	w.str(`,"peer":`, f.Peer)
	w.str(`,"from":`, f.From)
	w.str(`,"text":`, f.Text)
	if len(f.Raw) > 0 {
		w.key(`,"raw":`)
		w.b = append(w.b, '"')
		w.b = append(base64.StdEncoding.AppendEncode(w.b, f.Raw), '"')
	}
	w.str(`,"description":`, f.Description)
	w.int(`,"ts":`, f.TS)
	w.bool(`,"received":`, f.Received)
	w.bool(`,"waiting":`, f.Waiting)
	w.str(`,"endpoint":`, f.Endpoint)
	w.str(`,"p256dh":`, f.P256dh)
	w.str(`,"auth":`, f.Auth)
	w.bool(`,"dropPush":`, f.DropPush)
	w.strs(`,"ids":`, f.IDs)
	if len(f.Online) > 0 {
		appendObject(&w, `,"online":`, f.Online, strconv.AppendBool)
	}
	if len(f.Status) > 0 {
		appendObject(&w, `,"status":`, f.Status, appendString)
	}
	if len(w.b) == start {
		return append(w.b, "{}"...), at
	}
	w.b[start] = '{' // the first field's comma
	return append(w.b, '}'), at
}

// appendObject appends m, unless empty, as an object with sorted keys.
func appendObject[V any](w *frameWriter, k string, m map[string]V, value func([]byte, V) []byte) {
	if len(m) == 0 {
		return
	}
	w.key(k)
	for i, k := range sortedKeys(m) {
		w.b = value(append(appendString(appendSep(w.b, i, '{'), k), ':'), m[k])
	}
	w.b = append(w.b, '}')
}

// frameWriter appends a frame's fields, zero values omitted, each after a
// comma (its key begins with it), the first one's overwritten by '{'.
type frameWriter struct {
	b []byte
}

func (w *frameWriter) key(k string) {
	w.b = append(w.b, k...)
}

// str, uint and int test for zero inline, so that an absent field costs
// no call.
func (w *frameWriter) str(k, v string) {
	if v != "" {
		w.strField(k, v)
	}
}

// strField writes the key and a string without escapes in one step.
func (w *frameWriter) strField(k, v string) {
	if i := plainPrefix(v); i < len(v) {
		w.b = appendEscaped(append(w.b, k...), v, i)
		return
	}
	n := len(w.b)
	b := slices.Grow(w.b, len(k)+len(v)+2)[:n+len(k)+len(v)+2]
	copy(b[n:], k)
	b[n+len(k)] = '"'
	copy(b[n+len(k)+1:], v)
	b[len(b)-1] = '"'
	w.b = b
}

func (w *frameWriter) uint(k string, v uint64) {
	if v != 0 {
		w.uintField(k, v)
	}
}

func (w *frameWriter) uintField(k string, v uint64) {
	w.key(k)
	w.b = strconv.AppendUint(w.b, v, 10)
}

func (w *frameWriter) int(k string, v int64) {
	if v != 0 {
		w.intField(k, v)
	}
}

func (w *frameWriter) intField(k string, v int64) {
	if v > 0 {
		w.uintField(k, uint64(v))
		return
	}
	w.key(k)
	w.b = strconv.AppendInt(w.b, v, 10)
}

func (w *frameWriter) bool(k string, v bool) {
	if v {
		w.key(k)
		w.b = append(w.b, "true"...)
	}
}

func (w *frameWriter) strs(k string, v []string) {
	if len(v) > 0 {
		w.key(k)
		for i, s := range v {
			w.b = appendString(appendSep(w.b, i, '['), s)
		}
		w.b = append(w.b, ']')
	}
}

// AppendOK appends the reply {"type":"ok","rid":rid,"seq":seq} (seq 0:
// none), as AppendFrame would encode it, with no Frame to hold.
func AppendOK(dst []byte, rid, seq uint64) []byte {
	dst = append(dst, `{"type":"ok"`...)
	if rid != 0 {
		dst = append(dst, `,"rid":`...)
		dst = strconv.AppendUint(dst, rid, 10)
	}
	if seq != 0 {
		dst = append(dst, `,"seq":`...)
		dst = strconv.AppendUint(dst, seq, 10)
	}
	return append(dst, '}')
}

func appendSep(dst []byte, i int, open byte) []byte {
	if i == 0 {
		return append(dst, open)
	}
	return append(dst, ',')
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

const hexDigits = "0123456789abcdef"

const ones, highs = 0x0101010101010101, 0x8080808080808080

// plainMask reads eight bytes at a time: it has the high bit set of each
// byte of the little-endian word x that a JSON string cannot copy as it is
// or that is part of a character over U+007F (a control character, '"',
// '\\', a byte of 0x80 or more), and no other bit. Each byte is tested in
// its low 7 bits, so that no carry crosses into the next byte (the "Bit
// Twiddling Hacks" tests made exact): t+0x60 reaches 0x80 when t is 0x20
// or more, t^c+0x7f when t is not c.
func plainMask(x uint64) uint64 {
	t := x &^ highs
	plain := (t + 0x60*ones) & (t ^ '"'*ones + 0x7f*ones) & (t ^ '\\'*ones + 0x7f*ones)
	return (x | ^plain) & highs
}

func load8(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

func load8s(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// appendString appends s as a JSON string.
func appendString(dst []byte, s string) []byte {
	i := plainPrefix(s)
	if i < len(s) {
		return appendEscaped(dst, s, i)
	}
	n := len(dst)
	dst = slices.Grow(dst, len(s)+2)[:n+len(s)+2]
	dst[n] = '"'
	copy(dst[n+1:], s)
	dst[len(dst)-1] = '"'
	return dst
}

// plainPrefix is the length of s's first bytes that a JSON string holds as
// they are (printable ASCII but '"' and '\\'): len(s) in the common case,
// found eight bytes at a time.
func plainPrefix(s string) int {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if plainMask(load8s(s[i:])) != 0 {
			return i
		}
	}
	if len(s) >= 8 {
		if plainMask(load8s(s[len(s)-8:])) != 0 { // the last bytes, read again with those before them
			return i
		}
		return len(s)
	}
	for ; i < len(s); i++ {
		if c := s[i]; c-0x20 >= 0x60 || c == '"' || c == '\\' {
			return i
		}
	}
	return i
}

// appendEscaped appends s as a JSON string whose first i bytes need no escape.
func appendEscaped(dst []byte, s string, i int) []byte {
	dst = append(dst, '"')
	start := 0
	for i < len(s) {
		if i+8 <= len(s) && plainMask(load8s(s[i:])) == 0 {
			i += 8
			continue
		}
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
