package jsbridge

import (
	"errors"
	"fmt"
	"strings"
	"syscall/js"
	"time"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// probeTimeout bounds the probe of a server the WebSocket could not reach.
const probeTimeout = 5 * time.Second

// explainDialFailure replaces a login's NOT_CONNECTED error with what a plain
// fetch of the server's URL finds: a browser's WebSocket fails without
// saying why, but fetch tells an unreachable server (connection refused,
// DNS or TLS failure) from one that answers HTTP, and, on the page's own
// origin, with which status. It blocks (up to probeTimeout): call it off
// the JavaScript thread.
func (k *Kit) explainDialFailure(wsURL string, err error) error {
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != protocol.CodeNotConnected {
		return err
	}
	httpURL := "http" + strings.TrimPrefix(wsURL, "ws") // ws:// -> http://, wss:// -> https://
	finding := k.probe(httpURL)
	if finding == "" {
		return err
	}
	return protocol.Errorf(pe.Code, "failed to connect to %s: %s", wsURL, finding)
}

// probe fetches url without credentials and describes the outcome. The
// fetch gives up after probeTimeout by itself, so it always settles and its
// callbacks are released.
func (k *Kit) probe(url string) string {
	fetch := js.Global().Get("fetch")
	abort := js.Global().Get("AbortSignal")
	if fetch.Type() != js.TypeFunction || abort.Type() != js.TypeFunction {
		return ""
	}
	type result struct {
		v  js.Value
		ok bool
	}
	done := make(chan result, 1)
	onOK := k.funcOf(func(_ js.Value, args []js.Value) any {
		done <- result{v: args[0], ok: true}
		return nil
	})
	onErr := k.funcOf(func(_ js.Value, args []js.Value) any {
		done <- result{v: args[0]}
		return nil
	})
	defer k.release(onOK)
	defer k.release(onErr)
	opts := js.Global().Get("Object").New()
	opts.Set("mode", "no-cors")
	opts.Set("cache", "no-store")
	opts.Set("credentials", "omit")
	opts.Set("signal", abort.Call("timeout", probeTimeout.Milliseconds()))
	fetch.Invoke(url, opts).Call("then", onOK, onErr)
	r := <-done
	switch {
	case !r.ok && r.v.Type() == js.TypeObject && r.v.Get("name").String() == "TimeoutError":
		return fmt.Sprintf("the server does not answer (no HTTP answer from %s within %v)", url, probeTimeout)
	case !r.ok:
		return fmt.Sprintf("the server cannot be reached: connection refused, DNS failure or TLS failure (a fetch of %s failed too; the browser's console says which)", url)
	case r.v.Get("type").String() == "opaque":
		return fmt.Sprintf("the server refused the WebSocket upgrade (%s answers HTTP; its status is hidden from another origin)", url)
	default:
		return fmt.Sprintf("the server refused the WebSocket upgrade (%s answers HTTP %d)", url, r.v.Get("status").Int())
	}
}
