package core

import (
	"github.com/coder/websocket"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// dialOptions are the client's WebSocket dial options: in the browser, its
// subprotocol only (the browser's WebSocket does the upgrade).
var dialOptions = &websocket.DialOptions{Subprotocols: []string{protocol.Subprotocol}}

// TLSConfig is a placeholder for Options.TLSConfig: the browser does TLS,
// with its own roots, and crypto/tls would add 0.5 MB gzipped to the
// module. A non-nil one fails NewClient.
type TLSConfig struct{}

// newDialOptions returns dialOptions, or, with a TLSConfig, an error: the
// browser does not let a page choose the roots a WebSocket trusts.
func newDialOptions(opts Options) (*websocket.DialOptions, error) {
	if opts.TLSConfig != nil {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument,
			"Options.TLSConfig does not apply in the browser, which does TLS with the roots it trusts")
	}
	return dialOptions, nil
}
