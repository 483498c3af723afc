package core

import (
	"github.com/coder/websocket"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// dialOptions are the client's WebSocket dial options: in the browser, its
// subprotocol only (the browser's WebSocket does the upgrade).
var dialOptions = &websocket.DialOptions{Subprotocols: []string{protocol.Subprotocol}}
