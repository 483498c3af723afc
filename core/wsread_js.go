package core

import (
	"context"

	"github.com/coder/websocket"
)

// readMessage reads one message. In the browser each message comes as a
// slice of its own, so buf is not used.
func readMessage(ws *websocket.Conn, _ []byte) (websocket.MessageType, []byte, error) {
	return ws.Read(context.Background())
}
