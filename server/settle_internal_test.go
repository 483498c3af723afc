//go:build !js

package server

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// settleWord is an answered entry of a settle: a remote.canceled whose
// content is 8 KiB, the largest word there is.
func settleWord(i int) settleEntry {
	inv := fmt.Sprintf("%s%024x", scalePeer, i)
	return settleEntry{Sess: fmt.Sprintf("0f0f0f0f%08x", i), Inv: inv,
		F: &protocol.Frame{Type: protocol.TypeRemoteCanceled, Inv: inv, Content: strings.Repeat("c", protocol.MaxContentBytes)}}
}

// A settle page reaches settlePageBytes exactly and goes alone; one entry
// more makes two pages, each within the bound, the entries in order.
func TestSettlePageAtBound(t *testing.T) {
	const inc = "0123456789abcdef"
	encoded := func(m *message) int { return len(fakeWire(t, inc)(*m, 0)) }
	for _, tc := range []struct {
		kind  string
		entry func(int) settleEntry
	}{
		{kindSettle, func(i int) settleEntry { e := settleWord(i); e.F = nil; return e }},
		{kindSettled, settleWord},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			all := make([]settleEntry, settlePageBytes/40)
			for i := range all {
				all[i] = tc.entry(i)
			}
			fits := sort.Search(len(all), func(k int) bool {
				return encoded(&message{K: tc.kind, Ask: all[:k+1], Page: 1, Pages: 1}) > settlePageBytes
			})
			ask := append([]settleEntry(nil), all[:fits]...)
			ask[len(ask)-1].Sess += strings.Repeat("x", settlePageBytes-encoded(&message{K: tc.kind, Ask: ask, Page: 1, Pages: 1}))
			t.Logf("%d entries in a page of %d bytes", len(ask), settlePageBytes)

			pages := pageSettle(tc.kind, scalePeer, inc, ask, settlePageBytes)
			require.Len(t, pages, 1)
			assert.Equal(t, settlePageBytes, encoded(pages[0]), "a page exactly at the bound")
			assert.Equal(t, ask, pages[0].Ask)

			more := append(ask, tc.entry(len(ask)))
			pages = pageSettle(tc.kind, scalePeer, inc, more, settlePageBytes)
			require.Len(t, pages, 2)
			var got []settleEntry
			for i, m := range pages {
				assert.LessOrEqual(t, encoded(m), settlePageBytes)
				assert.Equal(t, tc.kind, m.K)
				assert.Equal(t, i+1, m.Page)
				assert.Equal(t, 2, m.Pages)
				got = append(got, m.Ask...)
			}
			assert.Equal(t, more, got)
		})
	}
}

// Many pages (the count takes two digits), each within the bound and
// nearly full; no entries make one empty page.
func TestSettlePagesDigits(t *testing.T) {
	const limit, inc = 2048, "0123456789abcdef"
	ask := make([]settleEntry, 300)
	for i := range ask {
		ask[i] = settleEntry{Sess: fmt.Sprintf("0f0f0f0f%08x", i), Inv: fmt.Sprintf("%s%024x", scalePeer, i)}
	}
	pages := pageSettle(kindSettle, scalePeer, inc, ask, limit)
	require.Greater(t, len(pages), 9)
	var got []settleEntry
	for i, m := range pages {
		m.From, m.Inc = scalePeer, inc
		data, err := json.Marshal(m)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(data), limit, "page %d", i+1)
		if i < len(pages)-1 {
			assert.Greater(t, len(data), limit-100, "page %d is nearly full", i+1)
		}
		got = append(got, m.Ask...)
	}
	assert.Equal(t, ask, got)

	pages = pageSettle(kindSettle, scalePeer, inc, nil, limit)
	require.Len(t, pages, 1)
	assert.Equal(t, &message{K: kindSettle, Page: 1, Pages: 1}, pages[0])
}

// The owner's end of a paged settle, fed a fake peer's pages: it answers
// only after the last page, every entry asked about, in pages within the
// bound; a page lost or out of place resets the pair and answers nothing.
func TestSettlePagesReceived(t *testing.T) {
	const inc = "0123456789abcdef"
	const node = "0f0f0f0f"
	ask := make([]settleEntry, 10_000) // about 700 KiB asked: 3 pages
	for i := range ask {
		ask[i] = settleEntry{Sess: fmt.Sprintf("%s%08x", scalePeer, i), Inv: fmt.Sprintf("%s%024x", node, i)}
	}
	pages := pageSettle(kindSettle, scalePeer, inc, ask, settlePageBytes)
	require.Len(t, pages, 3)
	wire := fakeWire(t, inc)
	setup := func(t *testing.T) (*Node, *recordBroker) {
		n, b := recordNode(t, node)
		n.receive(wire(message{K: kindWelcome, Page: 1, Pages: 1}, 1))
		require.Equal(t, []string{scalePeer}, n.Peers())
		return n, b
	}
	settled := func(b *recordBroker) []message {
		b.mu.Lock()
		defer b.mu.Unlock()
		var out []message
		for _, m := range b.sent {
			if m.K == kindSettled {
				out = append(out, m)
			}
		}
		return out
	}

	t.Run("in order", func(t *testing.T) {
		n, b := setup(t)
		n.receive(wire(*pages[0], 2))
		n.receive(wire(*pages[1], 3))
		assert.Empty(t, settled(b), "no answer before the last page")
		n.receive(wire(*pages[2], 4))
		words := settled(b)
		require.Greater(t, len(words), 3, "the answer is larger than the ask: more pages")
		t.Logf("%d invitations asked in %d pages, answered in %d", len(ask), len(pages), len(words))
		var got []settleEntry
		for i, m := range words {
			data, err := json.Marshal(&m)
			require.NoError(t, err)
			assert.LessOrEqual(t, len(data), settlePageBytes+25, "page %d, with its number", i+1)
			assert.Equal(t, i+1, m.Page)
			assert.Equal(t, len(words), m.Pages)
			got = append(got, m.Ask...)
		}
		require.Len(t, got, len(ask))
		for i, e := range got {
			assert.Equal(t, ask[i].Sess, e.Sess)
			require.NotNil(t, e.F)
			assert.Equal(t, protocol.TypeRemoteFailure, e.F.Type, "never told: it stopped ringing with the reset")
		}
		assert.Equal(t, []string{scalePeer}, n.Peers())
	})
	for _, tc := range []struct {
		name string
		feed [][2]int // page index, Seq
	}{
		{"page lost", [][2]int{{0, 2}, {2, 4}}},         // 3 lost
		{"page out of place", [][2]int{{0, 2}, {2, 3}}}, // numbered in turn, but page 3 after page 1
		{"page without a first", [][2]int{{1, 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, b := setup(t)
			for _, f := range tc.feed {
				n.receive(wire(*pages[f[0]], uint64(f[1])))
			}
			assert.Empty(t, n.Peers(), "reset")
			assert.Empty(t, settled(b), "nothing answered")
			assert.Contains(t, b.kinds(), kindReset)
		})
	}
}
