//go:build !js

package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// A page reaches dirPageBytes exactly and goes alone; one entry more makes
// two pages, each within the bound, the entries in order.
func TestSnapshotPageAtBound(t *testing.T) {
	const inc = "0123456789abcdef"
	encoded := func(m *message) int { return len(fakeWire(t, inc)(*m, 0)) }
	// As many entries as fit (found by bisection), then the last one's
	// user padded to the bound.
	all := make([]dirEntry, dirPageBytes/40)
	for i := range all {
		all[i] = scaleEntry(i)
	}
	fits := sort.Search(len(all), func(k int) bool {
		return encoded(&message{K: kindWelcome, Dir: all[:k+1], Page: 1, Pages: 1}) > dirPageBytes
	})
	dir := slices.Clone(all[:fits])
	dir[len(dir)-1].User += strings.Repeat("x", dirPageBytes-encoded(&message{K: kindWelcome, Dir: dir, Page: 1, Pages: 1}))
	t.Logf("%d sessions in a page of %d bytes", len(dir), dirPageBytes)

	pages := pageSnapshot(kindWelcome, scalePeer, inc, nil, dir, dirPageBytes)
	require.Len(t, pages, 1)
	assert.Equal(t, dirPageBytes, encoded(pages[0]), "a page exactly at the bound")
	assert.Equal(t, dir, pages[0].Dir)

	more := append(dir, scaleEntry(len(dir)))
	pages = pageSnapshot(kindWelcome, scalePeer, inc, nil, more, dirPageBytes)
	require.Len(t, pages, 2)
	var got []dirEntry
	for i, m := range pages {
		assert.LessOrEqual(t, encoded(m), dirPageBytes)
		assert.Equal(t, i+1, m.Page)
		assert.Equal(t, 2, m.Pages)
		got = append(got, m.Dir...)
	}
	assert.Equal(t, kindWelcome, pages[0].K)
	assert.Equal(t, kindDir, pages[1].K)
	assert.Equal(t, more, got)
}

// Pending counts and sessions over more than 9 pages (the count takes two
// digits): every page within the bound, nearly full, and nothing lost.
func TestSnapshotPagesPendAndDigits(t *testing.T) {
	const limit, inc = 2048, "0123456789abcdef"
	pend := make(map[string]int)
	for i := range 200 {
		pend[fmt.Sprintf("caller-%03d", i)] = i%64 + 1
	}
	dir := make([]dirEntry, 400)
	for i := range dir {
		dir[i] = scaleEntry(i)
		if i%7 == 0 {
			dir[i].Calls, dir[i].Wait = []string{fmt.Sprintf("%s%024x", scalePeer, i)}, true
		}
	}
	pages := pageSnapshot(kindHello, scalePeer, inc, pend, dir, limit)
	require.Greater(t, len(pages), 9)
	gotPend, gotDir := make(map[string]int), []dirEntry(nil)
	for i, m := range pages {
		m.From, m.Inc = scalePeer, inc
		data, err := json.Marshal(m)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(data), limit, "page %d", i+1)
		if i < len(pages)-1 {
			assert.Greater(t, len(data), limit-200, "page %d is nearly full", i+1)
		}
		assert.Equal(t, len(pages), m.Pages)
		for u, c := range m.Pend {
			gotPend[u] = c
		}
		gotDir = append(gotDir, m.Dir...)
	}
	assert.Equal(t, pend, gotPend)
	assert.Equal(t, dir, gotDir)
}

// fakeWire encodes m as the fake peer scalePeer (incarnation inc) sends
// it, numbered seq.
func fakeWire(t *testing.T, inc string) func(m message, seq uint64) []byte {
	return func(m message, seq uint64) []byte {
		m.From, m.Inc, m.Seq = scalePeer, inc, seq
		data, err := json.Marshal(&m)
		require.NoError(t, err)
		return data
	}
}

// recordNode is a node named id that keeps what it sends.
func recordNode(t *testing.T, id string) (*Node, *recordBroker) {
	b := &recordBroker{}
	n, err := New(Config{Dev: true, NodeID: id, Broker: b, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, n.Shutdown(context.Background())) })
	return n, b
}

// recordBroker keeps what a node sends.
type recordBroker struct {
	mu     sync.Mutex
	sent   []message
	onSend chan message // when set, gets each message too
}

func (*recordBroker) Start(string, func([]byte)) error { return nil }
func (b *recordBroker) Send(_ string, data []byte) error {
	var m message
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sent = append(b.sent, m)
	if b.onSend != nil {
		select {
		case b.onSend <- m:
		default: // no one reads any more
		}
	}
	return nil
}
func (b *recordBroker) Broadcast(data []byte) error { return b.Send("", data) }
func (*recordBroker) Close(context.Context) error   { return nil }

func (b *recordBroker) kinds() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var ks []string
	for _, m := range b.sent {
		ks = append(ks, m.K)
	}
	return ks
}

// The receiving end of a paged snapshot, fed a fake peer's messages: the
// peer is known only once the last page arrived, stale sessions leave only
// then, and a page lost or out of place resets the pair.
func TestSnapshotPagesReceived(t *testing.T) {
	const inc = "0123456789abcdef"
	dir := make([]dirEntry, 30)
	for i := range dir {
		dir[i] = scaleEntry(i)
	}
	pages := pageSnapshot(kindWelcome, scalePeer, inc, map[string]int{"caller": 2}, dir, 700)
	require.Len(t, pages, 3)
	wire := fakeWire(t, inc)
	setup := func(t *testing.T) (*Node, *recordBroker) {
		n, b := recordNode(t, "0f0f0f0f")
		old := dirEntry{Sess: scalePeer + "0ld0ld00", User: "old", Live: true}
		n.receive(wire(message{K: kindWelcome, Dir: []dirEntry{old}, Page: 1, Pages: 1}, 1))
		require.Equal(t, []string{scalePeer}, n.Peers())
		return n, b
	}
	sessions := func(n *Node) int { return RemoteSessions(n, scalePeer) }

	t.Run("in order", func(t *testing.T) {
		n, _ := setup(t)
		n.receive(wire(*pages[0], 2))
		assert.Empty(t, n.Peers(), "not known before the last page")
		assert.Equal(t, 1+len(pages[0].Dir), sessions(n), "page 1 applied; the old session stays until the last")
		n.receive(wire(*pages[1], 3))
		assert.Empty(t, n.Peers())
		n.receive(wire(*pages[2], 4))
		assert.Equal(t, []string{scalePeer}, n.Peers())
		assert.Equal(t, len(dir), sessions(n), "the old session left with the last page")
		n.mu.Lock()
		assert.Equal(t, 2, n.clusterPendingLocked("caller"))
		n.mu.Unlock()
	})
	t.Run("page lost", func(t *testing.T) {
		n, b := setup(t)
		n.receive(wire(*pages[0], 2))
		n.receive(wire(*pages[2], 4)) // 3 lost
		assert.Empty(t, n.Peers())
		assert.Zero(t, sessions(n), "the peer is forgotten")
		assert.Contains(t, b.kinds(), kindReset)
	})
	t.Run("page out of place", func(t *testing.T) {
		n, b := setup(t)
		n.receive(wire(*pages[0], 2))
		n.receive(wire(*pages[2], 3)) // numbered in turn, but page 3 after page 1
		assert.Empty(t, n.Peers())
		assert.Zero(t, sessions(n))
		assert.Contains(t, b.kinds(), kindReset)
	})
	t.Run("page without a first", func(t *testing.T) {
		n, b := setup(t)
		n.receive(wire(*pages[1], 2))
		assert.Empty(t, n.Peers())
		assert.Contains(t, b.kinds(), kindReset)
	})
	t.Run("broadcast hello of several pages", func(t *testing.T) {
		n, b := recordNode(t, "0f0f0f0f")
		hello := *pages[0]
		hello.K = kindHello
		n.receive(wire(hello, 0))
		assert.Empty(t, n.Peers(), "not a peer from a broadcast it cannot count the pages of")
		assert.Zero(t, sessions(n))
		assert.Equal(t, []string{kindHello, kindReset}, b.kinds(), "its own hello, then a reset drawing a unicast hello")
	})
}

// dirEntryLen counts what json.Marshal makes, escapes included.
func TestDirEntryLen(t *testing.T) {
	for _, e := range []dirEntry{
		{},
		scaleEntry(7),
		{Sess: "a1b2c3d400000001", User: "ünï\"<&>\\\x01\u2028", Live: true, Calls: []string{"x", "y\"z"}, Wait: true},
		{Sess: "s", User: "u", Calls: []string{"only"}},
		{Sess: "s", User: "bad\xffutf8"},
		{Sess: "s", User: "u", Claim: "a1b2c3d400000002"},
		{Sess: "s", User: "u", Claim: "a1b2c3d400000002", Attempt: 1},
		{Sess: "s", User: "u", Claim: "a1b2c3d400000002", Attempt: protocol.MaxLoginAttempt},
	} {
		data, err := json.Marshal(e)
		require.NoError(t, err)
		assert.Equal(t, len(data), dirEntryLen(e), "%s", data)
	}
}
