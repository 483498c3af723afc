//go:build !js

package core_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
)

// TestClientReadsFramesWithoutAllocating holds the client's read path to
// its reused buffer and Frame: a peer that is not the server under test (it
// only logs the client in, then streams frames) sends batches of 63 replies
// to no request and one peer message, and the client's reading of a batch
// allocates a handful of times (the message's strings and its callback),
// not once or more per frame as a new buffer and Frame per frame would.
func TestClientReadsFramesWithoutAllocating(t *testing.T) {
	batches := make(chan struct{})
	url := loginPeer(t, func(ws *websocket.Conn, _ <-chan struct{}) {
		ctx := context.Background() // no context.AfterFunc per read and write
		go func() {                 // the client's acknowledging pings, read and dropped
			for {
				if _, _, err := ws.Read(ctx); err != nil {
					return
				}
			}
		}()
		msg := &protocol.Frame{Type: protocol.TypePeerMessage, From: "bob", Text: "hi", TS: 1}
		var buf []byte
		seq := uint64(1)
		for range batches {
			for i := range 64 {
				seq++
				if i < 63 {
					buf = protocol.AppendOK(buf[:0], 1<<40, seq)
				} else {
					buf = protocol.AppendFrameSeq(buf[:0], msg, seq)
				}
				if ws.Write(ctx, websocket.MessageText, buf) != nil {
					return
				}
			}
		}
	})
	t.Cleanup(func() { close(batches) })

	c, err := core.NewClient(core.Options{URL: url, Logf: t.Logf})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.Login(ctxT(t), "alice", ""))
	got := make(chan struct{}, 1)
	c.OnMessageFromPeer(func(core.Message, string, core.MessageProps) { got <- struct{}{} })
	ctx := ctxT(t)
	batch := func() {
		batches <- struct{}{}
		select {
		case <-got:
		case <-ctx.Done():
			t.Fatal("no peer message")
		}
	}
	batch() // buffers grown
	allocs := testing.AllocsPerRun(50, batch)
	t.Logf("%.1f allocations per batch of 64 frames", allocs)
	assert.Less(t, allocs, 16.0, "allocations per batch of 64 frames")
}

// loginPeer starts a peer that is not the server under test: it logs each
// connection's client in (a session without heartbeats), then hands the
// connection to serve, with a channel closed as the test ends. It refuses a
// resume. It returns the peer's URL.
func loginPeer(t *testing.T, serve func(ws *websocket.Conn, done <-chan struct{})) string {
	ctx := context.Background()
	done := make(chan struct{})
	var handlers sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers.Add(1)
		defer handlers.Done()
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{protocol.Subprotocol}})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		_, data, err := ws.Read(ctx)
		if err != nil {
			return
		}
		login, err := protocol.Decode(data)
		if err != nil || login.Type != protocol.TypeLogin {
			return
		}
		reply, _ := protocol.Encode(&protocol.Frame{Type: protocol.TypeOK, RID: login.RID, Session: "s1", Key: "k1", Grace: 1000})
		if ws.Write(ctx, websocket.MessageText, reply) != nil {
			return
		}
		serve(ws, done)
	}))
	t.Cleanup(func() { close(done); handlers.Wait(); srv.Close() })
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}
