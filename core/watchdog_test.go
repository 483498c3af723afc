//go:build !js

package core_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
)

// A write that takes longer than RequestTimeout (a server that stopped
// reading, with the socket's buffers full) closes the connection, and the
// client reconnects. The watchdog was armed by the first of many writes
// and fires before the blocked one is due: it re-arms for it.
func TestWriteTimeoutClosesTheConnection(t *testing.T) {
	stop := make(chan struct{})
	var handlers sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers.Add(1)
		defer handlers.Done()
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{protocol.Subprotocol}})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		_, data, err := ws.Read(r.Context())
		if err != nil {
			return
		}
		f, err := protocol.Decode(data)
		if err != nil || f.Type != protocol.TypeLogin {
			return // a resume: this server knows no session
		}
		ok, err := protocol.Encode(&protocol.Frame{Type: protocol.TypeOK, RID: f.RID, Session: "s", Key: "k", Grace: 60000})
		if err != nil || ws.Write(r.Context(), websocket.MessageText, ok) != nil {
			return
		}
		<-stop // and read nothing more
	}))
	t.Cleanup(func() { close(stop); handlers.Wait(); srv.Close() })

	c, err := core.NewClient(core.Options{URL: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws",
		RequestTimeout: 300 * time.Millisecond, Logf: t.Logf})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	interrupted := make(chan struct{})
	var once sync.Once
	c.OnConnectionStateChanged(func(s core.ConnectionState, _ core.ConnectionChangeReason) {
		if s == core.ConnectionReconnecting {
			once.Do(func() { close(interrupted) })
		}
	})
	require.NoError(t, c.Login(ctxT(t), "alice", ""))

	// Requests whose caller does not wait: each is written, until a write
	// blocks on the full socket.
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	text := strings.Repeat("x", protocol.MaxMessageBytes)
	writer := make(chan struct{})
	go func() {
		defer close(writer)
		for {
			select {
			case <-interrupted:
				return
			default:
			}
			_, _ = c.SendMessageToPeer(gone, "bob", core.Message{Text: text})
		}
	}()
	select {
	case <-interrupted:
	case <-time.After(30 * time.Second):
		t.Fatal("a blocked write did not close the connection")
	}
	<-writer
}
