//go:build !js

package bench

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// The baseline is the least a signaling relay must do: take a JSON text
// message from client A, read its destination, and write it to client B
// over coder/websocket. It has no sessions, no state machines, no timers,
// no logs and no authentication, and one goroutine per connection (the
// handler's, which also writes what it relays, straight to the
// destination). rtmcall is measured against it on the same machine, with the
// same load generator and messages of the same sizes.

// relayFrame is the part of a message the relay reads. Clients send
// {"type":"hello","from":"alice"} first and get {"type":"ok"}; every later
// message names its destination in "to" and is relayed unchanged.
type relayFrame struct {
	Type string `json:"type"`
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// relayMaxFrame is the relay's read limit, the same as rtmcall's.
const relayMaxFrame = 64 << 10

// Relay is the baseline relay, an http.Handler serving WebSocket connections.
type Relay struct {
	mu    sync.RWMutex
	peers map[string]*websocket.Conn
}

// NewRelay returns an empty relay.
func NewRelay() *Relay {
	return &Relay{peers: make(map[string]*websocket.Conn)}
}

var (
	relayOK    = []byte(`{"type":"ok"}`)
	relayNoOne = []byte(`{"type":"error","message":"no such peer"}`)
)

// ServeHTTP upgrades the request and relays the connection's messages until
// it closes.
func (r *Relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	c, err := websocket.Accept(w, req, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(relayMaxFrame)
	ctx := req.Context()
	var name string
	defer func() {
		if name != "" {
			r.mu.Lock()
			if r.peers[name] == c {
				delete(r.peers, name)
			}
			r.mu.Unlock()
		}
	}()
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		var f relayFrame
		if json.Unmarshal(data, &f) != nil {
			continue
		}
		if f.Type == "hello" && name == "" && f.From != "" {
			name = f.From
			r.mu.Lock()
			r.peers[name] = c
			r.mu.Unlock()
			if relayWrite(ctx, c, relayOK) != nil {
				return
			}
			continue
		}
		r.mu.RLock()
		to := r.peers[f.To]
		r.mu.RUnlock()
		if to == nil {
			if relayWrite(ctx, c, relayNoOne) != nil {
				return
			}
			continue
		}
		// Not ctx: a write whose context ends closes the connection, and the
		// sender leaving must not close the destination.
		_ = relayWrite(context.Background(), to, data) // a failed destination is its own handler's problem
	}
}

func relayWrite(ctx context.Context, c *websocket.Conn, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.Write(ctx, websocket.MessageText, data)
}
