//go:build !js

package server

import (
	"strings"
	"testing"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A busy stream's frames are encoded into shared chunks and read back as
// newEntry's are, each its own bytes, a frame larger than a chunk too; an
// empty stream's frame takes no chunk, and a stream trimmed to nothing
// keeps no chunk.
func TestEntriesShareChunks(t *testing.T) {
	s := &session{nextSeq: 1}
	frames := []*protocol.Frame{{Type: protocol.TypeOK, RID: 1}}
	for i := range 12 {
		frames = append(frames, &protocol.Frame{Type: protocol.TypeInvite, Inv: "inv" + strings.Repeat("x", i*10), Caller: "alice"})
	}
	frames = append(frames, &protocol.Frame{Type: protocol.TypeMessage, Content: strings.Repeat("c", 3*chunkSize)},
		&protocol.Frame{Type: protocol.TypeError, RID: 7, Code: protocol.CodeRateLimited, Message: "slow down"})
	for i, f := range frames {
		e := s.entryLocked(f)
		if i == 0 {
			assert.Nil(t, s.chunk, "an empty stream's frame takes no chunk")
		}
		s.appendLocked(e)
	}
	require.Len(t, s.buf, len(frames))
	for i, e := range s.buf {
		want := newEntry(frames[i])
		want.seq = e.seq
		assert.Equal(t, string(want.appendTo(nil)), string(e.appendTo(nil)), "frame %d", i)
		if i > 0 {
			assert.Equal(t, len(e.data), cap(e.data), "frame %d: no room to write over the next", i)
		}
		assert.Equal(t, want.err, e.err)
		assert.Equal(t, want.rid, e.rid)
	}
	assert.NotNil(t, s.chunk)
	s.trimLocked(s.buf[len(s.buf)-1].seq)
	assert.Empty(t, s.buf)
	assert.Nil(t, s.chunk, "trimmed to nothing: no chunk kept")
}
