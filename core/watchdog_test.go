//go:build !js

package core_test

import (
	"context"
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
	url := loginPeer(t, func(_ *websocket.Conn, done <-chan struct{}) { <-done }) // reads nothing more
	c, err := core.NewClient(core.Options{URL: url, RequestTimeout: 300 * time.Millisecond, Logf: t.Logf})
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
