//go:build !js

package rtmcalltest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// recorder is the broker a LossyBroker wraps here: it records what gets
// through, per path ("" for broadcasts).
type recorder struct {
	mu   sync.Mutex
	got  map[string][]string
	more chan struct{}
}

var _ server.Broker = (*recorder)(nil)

func newRecorder() *recorder {
	return &recorder{got: make(map[string][]string), more: make(chan struct{}, 1)}
}

func (r *recorder) Start(string, func([]byte)) error  { return nil }
func (r *recorder) Send(id string, data []byte) error { r.add(id, data); return nil }
func (r *recorder) Broadcast(data []byte) error       { r.add("", data); return nil }
func (r *recorder) Close(context.Context) error       { return nil }

func (r *recorder) add(path string, data []byte) {
	r.mu.Lock()
	r.got[path] = append(r.got[path], string(data))
	r.mu.Unlock()
	select {
	case r.more <- struct{}{}:
	default:
	}
}

// await waits until path has n messages and returns them.
func (r *recorder) await(t *testing.T, path string, n int) []string {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		got := append([]string(nil), r.got[path]...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-r.more:
		case <-deadline:
			require.FailNow(t, "timed out", "%d of %d messages on %q", len(got), n, path)
		}
	}
}

func msg(kind string, i int) []byte { return fmt.Appendf(nil, `{"k":%q,"i":%d}`, kind, i) }

func TestLossyBroker(t *testing.T) {
	t.Run("passes everything through without a fault", func(t *testing.T) {
		rec := newRecorder()
		b := rtmcalltest.NewLossyBroker(rec)
		for i := range 3 {
			require.NoError(t, b.Send("n1", msg("deliver", i)))
		}
		require.NoError(t, b.Broadcast(msg("heartbeat", 0)))
		assert.Equal(t, []string{`{"k":"deliver","i":0}`, `{"k":"deliver","i":1}`, `{"k":"deliver","i":2}`}, rec.await(t, "n1", 3))
		assert.Len(t, rec.await(t, "", 1), 1)
		assert.Equal(t, rtmcalltest.LossStats{Sent: 4}, b.Stats())
	})
	t.Run("drops only the kinds and nodes named, the same way for the same seed", func(t *testing.T) {
		run := func() []string {
			rec := newRecorder()
			b := rtmcalltest.NewLossyBroker(rec)
			b.SetFault(rtmcalltest.Fault{Seed: 7, Drop: 0.5, Kinds: []string{"deliver"}, To: []string{"n1"}})
			for i := range 100 {
				require.NoError(t, b.Send("n1", msg("deliver", i)))
				require.NoError(t, b.Send("n1", msg("session", i)))
				require.NoError(t, b.Send("n2", msg("deliver", i)))
			}
			require.NoError(t, b.Broadcast(msg("deliver", 0)))
			st := b.Stats()
			assert.Equal(t, 301, st.Sent+st.Dropped)
			assert.Greater(t, st.Dropped, 20)
			assert.Less(t, st.Dropped, 80)
			assert.Len(t, rec.await(t, "n2", 100), 100, "other nodes untouched")
			assert.Len(t, rec.await(t, "", 1), 1, "broadcasts untouched when To names nodes")
			got := rec.await(t, "n1", 200-st.Dropped)
			sessions := 0
			for _, m := range got {
				if m[6] == 's' {
					sessions++
				}
			}
			assert.Equal(t, 100, sessions, "other kinds untouched")
			return got
		}
		assert.Equal(t, run(), run(), "seeded")
	})
	t.Run("a reordered message comes right after the next one", func(t *testing.T) {
		rec := newRecorder()
		b := rtmcalltest.NewLossyBroker(rec)
		b.SetFault(rtmcalltest.Fault{Reorder: 1})
		require.NoError(t, b.Send("n1", msg("deliver", 0))) // held
		require.NoError(t, b.Send("n1", msg("deliver", 1))) // held already: goes, then 0
		require.NoError(t, b.Send("n1", msg("deliver", 2))) // held
		assert.Equal(t, []string{`{"k":"deliver","i":1}`, `{"k":"deliver","i":0}`}, rec.await(t, "n1", 2))
		b.SetFault(rtmcalltest.Fault{}) // sends what was held
		assert.Equal(t, `{"k":"deliver","i":2}`, rec.await(t, "n1", 3)[2])
		assert.Equal(t, 2, b.Stats().Reordered)
	})
	t.Run("a delay keeps the order of its path", func(t *testing.T) {
		rec := newRecorder()
		b := rtmcalltest.NewLossyBroker(rec)
		b.SetFault(rtmcalltest.Fault{Seed: 3, Delay: 20 * time.Millisecond, Kinds: []string{"deliver"}})
		var want []string
		for i := range 50 {
			kind := []string{"deliver", "session"}[i%2] // sessions are not delayed, but wait their turn
			require.NoError(t, b.Send("n1", msg(kind, i)))
			want = append(want, string(msg(kind, i)))
		}
		assert.Equal(t, want, rec.await(t, "n1", 50))
		assert.Equal(t, 25, b.Stats().Delayed)
		require.NoError(t, b.Close(context.Background()))
	})
	t.Run("a hold keeps its path until the next fault, in order", func(t *testing.T) {
		rec := newRecorder()
		b := rtmcalltest.NewLossyBroker(rec)
		b.SetFault(rtmcalltest.Fault{Hold: true, Kinds: []string{"pending"}, To: []string{"n1"}})
		require.NoError(t, b.Send("n2", msg("pending", 0)))  // another path: goes
		require.NoError(t, b.Send("n1", msg("session", 1)))  // not held: goes
		require.NoError(t, b.Send("n1", msg("pending", 2)))  // held
		require.NoError(t, b.Send("n1", msg("session", 3)))  // behind it
		require.NoError(t, b.Broadcast(msg("heartbeat", 4))) // another path: goes
		assert.Len(t, rec.await(t, "n2", 1), 1)
		assert.Len(t, rec.await(t, "", 1), 1)
		assert.Equal(t, []string{`{"k":"session","i":1}`}, rec.await(t, "n1", 1))
		rec.mu.Lock()
		assert.Len(t, rec.got["n1"], 1, "2 and 3 held")
		rec.mu.Unlock()
		assert.Equal(t, 1, b.Stats().Held)
		b.SetFault(rtmcalltest.Fault{}) // sends what was held, in order
		require.NoError(t, b.Send("n1", msg("session", 5)))
		assert.Equal(t, []string{`{"k":"session","i":1}`, `{"k":"pending","i":2}`, `{"k":"session","i":3}`, `{"k":"session","i":5}`},
			rec.await(t, "n1", 4))
	})
	t.Run("Close drops what a hold held", func(t *testing.T) {
		rec := newRecorder()
		b := rtmcalltest.NewLossyBroker(rec)
		b.SetFault(rtmcalltest.Fault{Hold: true})
		require.NoError(t, b.Send("n1", msg("deliver", 0)))
		require.NoError(t, b.Close(context.Background()))
		b.SetFault(rtmcalltest.Fault{})
		rec.mu.Lock()
		assert.Empty(t, rec.got["n1"])
		rec.mu.Unlock()
	})
}
