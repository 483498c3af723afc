package server

import (
	"encoding/json"
	"strconv"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// decodeMessage decodes a message from another node, which encoding/json
// wrote (encode), as a node of another version may have. What the hot
// messages hold (a delivered frame, a request and its reply, a directory
// change, a heartbeat) takes a fast path, exactly as encoding/json writes
// it: fields without escapes or whitespace, ASCII strings, integers, the
// frame through the protocol's codec. Anything else, or anything odd, goes
// to json.Unmarshal, so that the result is always Unmarshal's. Unmarshal
// was a sixth of the CPU of a cross-node flow (issue 16).
func decodeMessage(data []byte, m *message) error {
	d := msgDecoder{data: data}
	if d.message(m) {
		return nil
	}
	*m = message{}
	return json.Unmarshal(data, m)
}

// msgDecoder reads a message on the fast path; pos is the next byte. Each
// method reports false for what the fast path does not take.
type msgDecoder struct {
	data []byte
	pos  int
}

// Bits of the fields the fast path reads, to send a duplicate to Unmarshal.
const (
	mSeq = 1 << iota
	mK
	mFrom
	mInc
	mCorr
	mSess
	mUser
	mLive
	mGone
	mCalls
	mWait
	mInv
	mF
	mCode
	mReason
	mPage
	mPages
	mBinary
	mSeqs
)

func (d *msgDecoder) message(m *message) bool {
	var seen uint32
	return d.list('{', '}', func() bool {
		key, ok := d.str()
		if !ok || !d.consume(':') {
			return false
		}
		var bit uint32
		switch string(key) {
		case "q":
			bit, ok = mSeq, d.unsigned(&m.Seq)
		case "k":
			var k []byte
			k, ok = d.str()
			m.K, bit = kindString(k), mK
		case "from":
			bit, ok = mFrom, d.text(&m.From)
		case "inc":
			bit, ok = mInc, d.text(&m.Inc)
		case "corr":
			bit, ok = mCorr, d.unsigned(&m.Corr)
		case "sess":
			bit, ok = mSess, d.text(&m.Sess)
		case "user":
			bit, ok = mUser, d.text(&m.User)
		case "live":
			bit, ok = mLive, d.boolean(&m.Live)
		case "gone":
			bit, ok = mGone, d.boolean(&m.Gone)
		case "calls":
			bit, ok = mCalls, d.texts(&m.Calls)
		case "wait":
			bit, ok = mWait, d.boolean(&m.Wait)
		case "inv":
			bit, ok = mInv, d.text(&m.Inv)
		case "f":
			bit, ok = mF, d.frame(&m.F)
		case "code":
			bit, ok = mCode, d.signed(&m.Code)
		case "reason":
			bit, ok = mReason, d.text(&m.Reason)
		case "page":
			bit, ok = mPage, d.signed(&m.Page)
		case "pages":
			bit, ok = mPages, d.signed(&m.Pages)
		case "binary":
			bit, ok = mBinary, d.boolean(&m.Binary)
		case "seqs":
			bit, ok = mSeqs, d.seqs(&m.Seqs)
		}
		if !ok || bit == 0 || seen&bit != 0 { // bit 0: a field the fast path does not read
			return false
		}
		seen |= bit
		return true
	}) && d.pos == len(d.data)
}

// list reads an array or object (open, close) of items separated by
// commas, each read by item.
func (d *msgDecoder) list(open, close byte, item func() bool) bool {
	if !d.consume(open) {
		return false
	}
	if d.consume(close) {
		return true
	}
	for {
		if !item() {
			return false
		}
		if d.consume(close) {
			return true
		}
		if !d.consume(',') {
			return false
		}
	}
}

func (d *msgDecoder) consume(c byte) bool {
	if d.pos < len(d.data) && d.data[d.pos] == c {
		d.pos++
		return true
	}
	return false
}

// str reads a string of printable ASCII without escapes, which it returns
// as a subslice of data.
func (d *msgDecoder) str() ([]byte, bool) {
	if !d.consume('"') {
		return nil, false
	}
	start := d.pos
	for d.pos < len(d.data) {
		switch c := d.data[d.pos]; {
		case c == '"':
			d.pos++
			return d.data[start : d.pos-1], true
		case c < 0x20 || c == '\\' || c >= 0x80:
			return nil, false
		}
		d.pos++
	}
	return nil, false
}

func (d *msgDecoder) text(p *string) bool {
	s, ok := d.str()
	*p = string(s)
	return ok
}

// kindString returns the constant for a known kind, without allocating.
func kindString(k []byte) string {
	switch string(k) {
	case kindHeartbeat:
		return kindHeartbeat
	case kindSession:
		return kindSession
	case kindDeliver:
		return kindDeliver
	case kindRequest:
		return kindRequest
	case kindReply:
		return kindReply
	case kindSync:
		return kindSync
	case kindSynced:
		return kindSynced
	case kindPending:
		return kindPending
	case kindLeft:
		return kindLeft
	case kindCallEnd:
		return kindCallEnd
	}
	return string(k)
}

// digits returns the integer at pos, which JSON writes without a leading
// zero, and whether it is negative; false for anything else (a fraction,
// an exponent), or for more digits than fit.
func (d *msgDecoder) digits() ([]byte, bool) {
	start := d.pos
	d.consume('-')
	first := d.pos
	for d.pos < len(d.data) && d.data[d.pos] >= '0' && d.data[d.pos] <= '9' {
		d.pos++
	}
	n := d.pos - first
	if n == 0 || n > 19 || n > 1 && d.data[first] == '0' {
		return nil, false
	}
	if d.pos < len(d.data) && (d.data[d.pos] == '.' || d.data[d.pos] == 'e' || d.data[d.pos] == 'E') {
		return nil, false
	}
	return d.data[start:d.pos], true
}

func (d *msgDecoder) unsigned(p *uint64) bool {
	b, ok := d.digits()
	if !ok || b[0] == '-' {
		return false
	}
	var err error
	*p, err = strconv.ParseUint(string(b), 10, 64)
	return err == nil
}

func (d *msgDecoder) signed(p *int) bool {
	b, ok := d.digits()
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(string(b), 10, strconv.IntSize)
	*p = int(n)
	return err == nil
}

func (d *msgDecoder) boolean(p *bool) bool {
	for _, lit := range [...]string{"true", "false"} {
		if len(d.data)-d.pos >= len(lit) && string(d.data[d.pos:d.pos+len(lit)]) == lit {
			d.pos += len(lit)
			*p = lit == "true"
			return true
		}
	}
	return false
}

// texts reads an array of strings; [] is an empty slice, as Unmarshal's.
func (d *msgDecoder) texts(p *[]string) bool {
	*p = []string{}
	return d.list('[', ']', func() bool {
		s, ok := d.str()
		*p = append(*p, string(s))
		return ok
	})
}

// seqs reads an object of numbers; {} is an empty map, as Unmarshal's.
func (d *msgDecoder) seqs(p *map[string]uint64) bool {
	*p = map[string]uint64{}
	return d.list('{', '}', func() bool {
		k, ok := d.str()
		var v uint64
		if !ok || !d.consume(':') || !d.unsigned(&v) {
			return false
		}
		(*p)[string(k)] = v // a key twice: the last, as Unmarshal
		return true
	})
}

// frame finds the end of the object at pos and decodes it with the
// protocol's codec, which decodes what it takes as encoding/json does
// (core/protocol's FuzzDecode); what it refuses goes to Unmarshal.
func (d *msgDecoder) frame(p **protocol.Frame) bool {
	start, depth := d.pos, 0
	if !d.consume('{') {
		return false
	}
	for depth++; depth > 0; d.pos++ {
		if d.pos >= len(d.data) {
			return false
		}
		switch d.data[d.pos] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case '"':
			for d.pos++; d.pos < len(d.data) && d.data[d.pos] != '"'; d.pos++ {
				if d.data[d.pos] == '\\' {
					d.pos++
				}
			}
		}
	}
	f := new(protocol.Frame)
	if protocol.DecodeInto(f, d.data[start:d.pos]) != nil {
		return false
	}
	*p = f
	return true
}
