//go:build !js

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// Centrifugo (github.com/centrifugal/centrifugo/v6, the version the
// Makefile pins) is the peer users might pick instead: a real-time
// messaging server. It is driven by minimal clients like the baseline's,
// doing the same flow over client publish to personal channels: each client
// subscribes to "user.<its id>", and the caller publishes the invite to the
// callee's channel, the callee the receipt and the answer to the caller's.
// It keeps no invitation state, so it has nothing to time out, authorize or
// resume; what it carries are the same JSON frames the relay carries.

// centrifugoModule is the module the Makefile builds Centrifugo from, at
// the version it pins (CENTRIFUGO_VERSION): keep the two in step.
const centrifugoModule = "github.com/centrifugal/centrifugo/v6@v6.9.1"

// centrifugoConfig is the server's configuration: anonymous clients (as
// rtmcall-server -dev takes logins without a token) that may subscribe and
// publish to any channel without a namespace, logging at info (which says
// where it listens, and nothing per flow).
const centrifugoConfig = `{
  "http_server": {"address": "127.0.0.1", "port": %d},
  "client": {"insecure": true, "allowed_origins": ["*"]},
  "channel": {"without_namespace": {"allow_subscribe_for_client": true, "allow_publish_for_client": true}},
  "log": {"level": "info"}
}`

// startCentrifugo starts the Centrifugo binary bin with its configuration
// written into dir, on a free loopback port.
func startCentrifugo(ctx context.Context, bin, dir string) (*proc, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg := filepath.Join(dir, "centrifugo.json")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(cfg, fmt.Appendf(nil, centrifugoConfig, port), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--config", cfg)
	p, err := startProc(ctx, "centrifugo", cmd, func(line string) (string, bool) {
		_, addr, ok := strings.Cut(line, "serving websocket, api endpoints on ")
		addr, _, _ = strings.Cut(addr, `"`)
		return addr, ok
	}, true)
	if err != nil {
		return nil, err
	}
	p.path = "/connection/websocket"
	// It says where it serves just before it listens: connect until it
	// accepts (it says nothing once it does).
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", p.addr)
		if err == nil {
			c.Close()
			return p, nil
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			p.stop()
			return nil, fmt.Errorf("centrifugo does not listen on %s: %w", p.addr, ctx.Err())
		case <-p.done:
			return nil, fmt.Errorf("centrifugo exited: %v\n%s", p.waitErr, p.tail.String())
		}
	}
}

// centrifugoSystem drives Centrifugo with bare clients.
type centrifugoSystem struct{}

func cfChannel(user string) string { return "user." + user }

// cfHello connects and subscribes to the user's channel, in one message.
func cfHello(user string) []byte {
	return fmt.Appendf(nil, `{"id":1,"connect":{}}`+"\n"+`{"id":2,"subscribe":{"channel":%q}}`, cfChannel(user))
}

// cfReply is what a minimal client reads of a Centrifugo reply or push.
type cfReply struct {
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
	Subscribe json.RawMessage `json:"subscribe"`
	Push      *struct {
		Pub *struct {
			Data wsMsg `json:"data"`
		} `json:"pub"`
	} `json:"push"`
}

// cfDecode reads the newline-separated replies and pushes of one message:
// the subscribe reply is the hello's "ok"; a publication is the rtmcall
// frame it carries; a ping ({}) is answered at once.
func cfDecode(wc *wsClient, data []byte) []wsMsg {
	var out []wsMsg
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if string(line) == "{}" {
			_ = wc.write([]byte("{}"))
			continue
		}
		var r cfReply
		if len(line) == 0 || json.Unmarshal(line, &r) != nil {
			continue
		}
		switch {
		case r.Error != nil:
			out = append(out, wsMsg{Type: "error", Message: r.Error.Message})
		case r.Subscribe != nil:
			out = append(out, wsMsg{Type: "ok"})
		case r.Push != nil && r.Push.Pub != nil:
			out = append(out, r.Push.Pub.Data)
		}
	}
	return out
}

func dialCentrifugo(ctx context.Context, url, user string, types ...string) (*wsClient, error) {
	wc, err := dialWSWith(ctx, url, nil, 0, cfDecode, cfHello(user), types...)
	if err != nil {
		return nil, err
	}
	wc.rid.Store(2)
	return wc, nil
}

// publish publishes the rtmcall frame f to user's channel (relayPair.post);
// the reply is not waited for.
func (wc *wsClient) publish(user string, f *protocol.Frame) error {
	data := mustJSON(f)
	return wc.write(fmt.Appendf(nil, `{"id":%d,"publish":{"channel":%q,"data":%s}}`, wc.rid.Add(1), cfChannel(user), data))
}

func (centrifugoSystem) login(ctx context.Context, url, user string) (io.Closer, error) {
	return dialCentrifugo(ctx, url, user)
}

func (centrifugoSystem) pair(ctx context.Context, url, id string) (pair, error) {
	a, err := dialCentrifugo(ctx, url, id+"a", protocol.TypeLocalReceived, protocol.TypeLocalAccepted)
	if err != nil {
		return nil, err
	}
	b, err := dialCentrifugo(ctx, url, id+"b", protocol.TypeInvite)
	if err != nil {
		a.Close()
		return nil, err
	}
	return &relayPair{id: id, a: a, b: b, post: (*wsClient).publish}, nil
}

// centrifugoNote is what the report says Centrifugo does not do here.
var centrifugoNote = strings.TrimSpace(`
Centrifugo carries the same three JSON frames, but it is a message bus: it keeps no invitation, so it
has no state machine (a second accept, an accept after a cancel, or an answer from another user's device
all go through), no receipt or invitation timeout, no busy or call state, no authorization of who may
answer what (any client here may publish to any personal channel), and no resume of a session with its missed frames in order exactly once (its history and
recovery are off in this setup, and are per channel, not per session). rtmcall does all of these on
every flow measured.`)
