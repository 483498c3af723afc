//go:build !js

package server

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// jsonStringLen counts as json.Marshal encodes: every byte alone, and
// random strings of escapes, multibyte runes and bytes that are not UTF-8.
func TestJSONStringLen(t *testing.T) {
	cases := []string{"", "plain", "ünï\"<&>\\\x01\u2028\u2029\b\f\n\r\t\x7f", "bad\xffutf8", "\xe2\x80", "😀"}
	for b := range 256 {
		cases = append(cases, string([]byte{byte(b)}))
	}
	pieces := []string{"a", "\"", "\\", "<", "&", "\x00", "\x1f", "\n", "\x7f", "é", "€", "😀", "\u2028", "\xff", "\xc3", "\xed\xa0\x80"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		var sb strings.Builder
		for range rng.IntN(20) {
			sb.WriteString(pieces[rng.IntN(len(pieces))])
		}
		cases = append(cases, sb.String())
	}
	for _, s := range cases {
		data, err := json.Marshal(s)
		require.NoError(t, err)
		require.Equal(t, len(data), jsonStringLen(s), "%q", s)
	}
}

// peerMessageLen is the length json.Marshal gives a peer message, counted
// for the fields messageLocked sets, marshaled for a frame with others.
func TestPeerMessageLen(t *testing.T) {
	for _, f := range []*protocol.Frame{
		{Type: protocol.TypePeerMessage},
		{Type: protocol.TypePeerMessage, From: "alice", Text: "hi <you> & \"me\" ünï\n", TS: 1733356800123},
		{Type: protocol.TypePeerMessage, From: "alice", Raw: []byte{1}, Description: "png"},
		{Type: protocol.TypePeerMessage, From: "alice", Raw: []byte{1, 2}, TS: -5},
		{Type: protocol.TypePeerMessage, From: "alice", Raw: []byte{1, 2, 3}, Text: "both"},
		{Type: protocol.TypePeerMessage, From: "alice", Raw: []byte{}},
		{Type: protocol.TypePeerMessage, From: "alice", Text: "a later field", Channel: "c", Seq: 9},
		{Type: protocol.TypePeerMessage, From: "alice", Callees: []string{"x"}},
	} {
		data, err := json.Marshal(f)
		require.NoError(t, err)
		assert.Equal(t, len(data), peerMessageLen(f), "%s", data)
	}
}

// A page of held messages reaches dirPageBytes exactly and goes alone;
// one message more makes two pages, each within the bound, in order. What
// was dropped is told in the last page only, each page within the bound.
// Tagged (some held messages went to other claimers too), each page has
// its frames' tags, in turn, counted as exactly.
func TestHeldPageAtBound(t *testing.T) {
	for _, tagged := range []bool{false, true} {
		t.Run(map[bool]string{false: "untagged", true: "tagged"}[tagged], func(t *testing.T) { heldPageAtBound(t, tagged) })
	}
}

func heldPageAtBound(t *testing.T, tagged bool) {
	const inc = "0123456789abcdef"
	encoded := func(m *message) int { return len(fakeWire(t, inc)(*m, 0)) }
	msg := func(i int) *protocol.Frame {
		text := fmt.Sprint(i) + "<&\n\u2028" + strings.Repeat("é", 1000)
		return &protocol.Frame{Type: protocol.TypePeerMessage, From: "alice", TS: 1733356800123,
			Text: text + strings.Repeat(".", protocol.MaxMessageBytes-len(text))}
	}
	all := make([]*protocol.Frame, 2*dirPageBytes/protocol.MaxMessageBytes)
	var allTags [][]string
	for i := range all {
		all[i] = msg(i)
		if tagged {
			allTags = append(allTags, map[bool][]string{false: nil, true: {scalePeer + "0123456789abcdef"}}[i%2 == 1])
		}
	}
	tagsOf := func(k int) [][]string {
		if !tagged {
			return nil
		}
		return allTags[:k:k]
	}
	page := func(held []*protocol.Frame) *message {
		return &message{K: kindClaimed, Corr: 7, Held: held, Tags: tagsOf(len(held)), Page: 1, Pages: 1, Live: true} // granted
	}
	fits := sort.Search(len(all), func(k int) bool { return encoded(page(all[:k+1])) > dirPageBytes })
	require.Greater(t, fits, 1)
	held := slices.Clone(all[:fits])
	last := *held[fits-1]
	last.From += strings.Repeat("x", dirPageBytes-encoded(page(held)))
	held[fits-1] = &last
	t.Logf("%d messages in a page of %d bytes", len(held), dirPageBytes)

	pages := heldPages(scalePeer, inc, 7, held, tagsOf(fits), 0, dirPageBytes)
	require.Len(t, pages, 1)
	assert.Equal(t, dirPageBytes, encoded(pages[0]), "a page exactly at the bound")
	assert.Equal(t, held, pages[0].Held)
	assert.Equal(t, tagsOf(fits), pages[0].Tags)

	more := append(held, msg(fits))
	for _, dropped := range []int{0, 300} {
		pages = heldPages(scalePeer, inc, 7, more, tagsOf(fits+1), dropped, dirPageBytes)
		require.Len(t, pages, 2)
		var got []*protocol.Frame
		var gotTags [][]string
		for i, m := range pages {
			assert.LessOrEqual(t, encoded(m), dirPageBytes)
			assert.Equal(t, kindClaimed, m.K)
			assert.Equal(t, uint64(7), m.Corr)
			assert.Equal(t, i+1, m.Page)
			assert.Equal(t, 2, m.Pages)
			assert.True(t, m.Live, "granted")
			got, gotTags = append(got, m.Held...), append(gotTags, m.Tags...)
		}
		assert.Equal(t, more, got)
		assert.Equal(t, tagsOf(fits+1), gotTags)
		assert.Equal(t, 0, pages[0].Code)
		assert.Equal(t, dropped, pages[1].Code)
	}

	pages = heldPages(scalePeer, inc, 7, nil, nil, 3, dirPageBytes)
	require.Len(t, pages, 1, "nothing held: one page, with what was dropped")
	assert.Empty(t, pages[0].Held)
	assert.Equal(t, 3, pages[0].Code)
}

// The cost of a peer message to a user with many devices on one node, none
// claiming a moved session (the common case): their queues closed, so that
// what is measured is the delivery, not the queueing.
// `go test ./server -run '^$' -bench PeerMessageDevices -count 10`.
func BenchmarkPeerMessageDevices(b *testing.B) {
	for _, devices := range []int{4, 64} {
		b.Run(fmt.Sprintf("devices=%d", devices), func(b *testing.B) {
			n := scaleNode(b)
			SimulateSessions(b, n, slices.Repeat([]string{"bob"}, devices))
			n.mu.Lock()
			for s := range n.hub.users["bob"] {
				s.closed = true
			}
			sender := newSession(n, "carol")
			sender.closed = true
			n.mu.Unlock()
			f := &protocol.Frame{Type: protocol.TypeMessage, RID: 1, Peer: "bob", Text: "hi"}
			b.ReportAllocs()
			for b.Loop() {
				n.mu.Lock()
				n.messageLocked(sender, f)
				n.mu.Unlock()
			}
		})
	}
}
