//go:build !js

package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The cost of the cluster directory on a node that receives it: every node
// holds every session of every other node (docs/SCALE.md). No connection is
// made: a fake peer's messages are handed to Node.receive, as the broker
// would. `go test -run '^$' -bench Directory -benchtime=1x` runs each once;
// docs/SCALE.md gives the command behind its figures.

// discardBroker sends nowhere and counts what it was given.
type discardBroker struct{ bytes, msgs int }

func (*discardBroker) Start(string, func([]byte)) error { return nil }
func (b *discardBroker) Send(_ string, data []byte) error {
	b.bytes += len(data)
	b.msgs++
	return nil
}
func (b *discardBroker) Broadcast(data []byte) error { return b.Send("", data) }
func (*discardBroker) Close(context.Context) error   { return nil }

const scalePeer = "a1b2c3d4" // the fake peer's node id

func scaleNode(b *testing.B) *Node {
	b.Helper()
	n, err := New(Config{Dev: true, NodeID: "0f0f0f0f", Broker: &discardBroker{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := n.Shutdown(context.Background()); err != nil {
			b.Error(err)
		}
	})
	return n
}

// scaleEntry is the i-th simulated remote session: one session per user,
// ids as long as real ones.
func scaleEntry(i int) dirEntry {
	return dirEntry{Sess: fmt.Sprintf("%s%08x", scalePeer, i), User: fmt.Sprintf("user-%07d", i), Live: true}
}

func scaleEncode(b *testing.B, m *message) []byte {
	b.Helper()
	m.From, m.Inc = scalePeer, "0123456789abcdef"
	data, err := json.Marshal(m)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// scaleSizes is the directory sizes measured: 100k, and 10k for the rejoin.
func scaleSizes() []int {
	if testing.Short() {
		return []int{10_000}
	}
	return []int{10_000, 100_000}
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkDirectoryMemory: heap per remote session held by a node, after
// n login messages from a peer.
func BenchmarkDirectoryMemory(b *testing.B) {
	for _, size := range scaleSizes() {
		b.Run(fmt.Sprintf("sessions=%d", size), func(b *testing.B) {
			msgs := make([][]byte, size)
			for i := range msgs {
				e := scaleEntry(i)
				msgs[i] = scaleEncode(b, &message{K: kindSession, Sess: e.Sess, User: e.User, Live: true})
			}
			hello := scaleEncode(b, &message{K: kindHello})
			var perEntry float64
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				n := scaleNode(b)
				n.receive(hello)
				before := heapAlloc()
				b.StartTimer()
				for _, m := range msgs {
					n.receive(m)
				}
				b.StopTimer()
				after := heapAlloc()
				if got := len(n.cl.peers[scalePeer].sessions); got != size {
					b.Fatalf("directory holds %d sessions, want %d", got, size)
				}
				perEntry = float64(int64(after)-int64(before)) / float64(size)
				runtime.KeepAlive(n)
				b.StartTimer()
			}
			b.ReportMetric(perEntry, "heapB/session")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/login")
		})
	}
}

// BenchmarkDirectoryChurn: the CPU of one login or logout message handled
// by a node whose directory already holds 100k sessions, and the bytes
// each one costs the cluster: its encoded size, sent once per other node.
func BenchmarkDirectoryChurn(b *testing.B) {
	size := scaleSizes()[len(scaleSizes())-1]
	n := scaleNode(b)
	n.receive(scaleEncode(b, &message{K: kindHello}))
	for i := range size {
		e := scaleEntry(i)
		n.receive(scaleEncode(b, &message{K: kindSession, Sess: e.Sess, User: e.User, Live: true}))
	}
	// One session logs in and out again: a fresh user each time would grow
	// the directory, so 1024 users above the directory take turns.
	const turns = 1024
	var login, logout [turns][]byte
	for i := range turns {
		e := scaleEntry(size + i)
		login[i] = scaleEncode(b, &message{K: kindSession, Sess: e.Sess, User: e.User, Live: true})
		logout[i] = scaleEncode(b, &message{K: kindSession, Sess: e.Sess, User: e.User, Gone: true})
	}
	b.ResetTimer()
	for i := range b.N {
		j := (i / 2) % turns
		if i%2 == 0 {
			n.receive(login[j])
		} else {
			n.receive(logout[j])
		}
	}
	b.StopTimer()
	bytes := float64(len(login[0])+len(logout[0])) / 2
	b.ReportMetric(float64(len(login[0])), "B/login")
	b.ReportMetric(float64(len(logout[0])), "B/logout")
	for _, nodes := range []int{3, 10, 30} {
		b.ReportMetric(bytes*float64(nodes-1), fmt.Sprintf("fanoutB/msg@%dnodes", nodes))
	}
}

// BenchmarkDirectoryRejoin: a node (re)joining a cluster whose other node
// holds n sessions gets them all in the pages of one hello or welcome
// (snapshot.go): their count and size, the time to make them (the
// sender's snapshotLocked) and encode them, and the time to decode and
// apply them on the joining node.
func BenchmarkDirectoryRejoin(b *testing.B) {
	for _, size := range scaleSizes() {
		b.Run(fmt.Sprintf("sessions=%d", size), func(b *testing.B) {
			dir := make([]dirEntry, size)
			for i := range dir {
				dir[i] = scaleEntry(i)
			}
			var encode, apply time.Duration
			var bytes, pages, largest int
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				n := scaleNode(b)
				b.StartTimer()
				t := time.Now()
				ms := pageSnapshot(kindWelcome, scalePeer, "0123456789abcdef", nil, dir, dirPageBytes)
				data := make([][]byte, len(ms))
				for i, m := range ms {
					m.Seq = uint64(i + 1)
					data[i] = scaleEncode(b, m)
				}
				encode += time.Since(t)
				t = time.Now()
				for _, d := range data {
					n.receive(d)
				}
				apply += time.Since(t)
				bytes, pages, largest = 0, len(data), 0
				for _, d := range data {
					bytes += len(d)
					largest = max(largest, len(d))
				}
				b.StopTimer()
				if got := len(n.cl.peers[scalePeer].sessions); got != size {
					b.Fatalf("directory holds %d sessions, want %d", got, size)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(bytes), "B/snapshot")
			b.ReportMetric(float64(bytes)/float64(size), "B/session")
			b.ReportMetric(float64(pages), "pages")
			b.ReportMetric(float64(largest), "B/largest-page")
			b.ReportMetric(float64(encode.Milliseconds())/float64(b.N), "encode-ms")
			b.ReportMetric(float64(apply.Milliseconds())/float64(b.N), "apply-ms")
		})
	}
}

// TestDirectorySnapshotOverNATS: a snapshot of 100,000 sessions (5.3 MB)
// in one message is more than the embedded NATS server's default
// max_payload (1 MiB) takes; its pages (snapshot.go) all go.
func TestDirectorySnapshotOverNATS(t *testing.T) {
	b, err := newNATSBroker(NATSConfig{Listen: "127.0.0.1:0"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	defer b.Close(context.Background())
	require.NoError(t, b.Start(scalePeer, func([]byte) {}))
	dir := make([]dirEntry, 100_000)
	for i := range dir {
		dir[i] = scaleEntry(i)
	}
	whole, err := json.Marshal(&message{K: kindWelcome, From: scalePeer, Dir: dir})
	require.NoError(t, err)
	err = b.Send(scalePeer, whole)
	assert.ErrorIs(t, err, nats.ErrMaxPayload, "a %d-byte snapshot in one message", len(whole))
	pages := pageSnapshot(kindWelcome, scalePeer, "0123456789abcdef", nil, dir, dirPageBytes)
	t.Logf("one message: %d bytes; %d pages", len(whole), len(pages))
	for _, m := range pages {
		data, err := json.Marshal(m)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(data), dirPageBytes)
		assert.NoError(t, b.Send(scalePeer, data), "page %d", m.Page)
	}
	assert.NoError(t, b.nc.Load().Flush())
}
