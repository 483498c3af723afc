//go:build !js

package pagetest

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLoginErrorsSayWhatFailed checks the message of a login whose
// WebSocket fails in the browser, which gives no reason: the module probes
// the server with fetch and says what it found.
func TestLoginErrorsSayWhatFailed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedPort := "ws://" + ln.Addr().String() + "/ws"
	require.NoError(t, ln.Close())
	mux := http.NewServeMux()
	mux.Handle("/refused/ws", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	mux.Handle("/", files)
	refusing := httptest.NewServer(mux) // the page's origin, with an endpoint that refuses upgrades
	t.Cleanup(refusing.Close)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	t.Cleanup(other.Close)

	tb := newTab(t, &site{URL: refusing.URL}, "/blank.html")
	tb.eval(`await T.load();`, nil)
	login := func(url string) rtmErr {
		var e rtmErr
		tb.eval(`return await T.rejection(T.kit.createClient({ url: `+jsString(url)+` }).login("alice"));`, &e)
		requireCode(t, e, 207, "NOT_CONNECTED")
		t.Log(e.Message)
		return e
	}
	e := login(closedPort)
	assert.Contains(t, e.Message, "failed to connect to "+closedPort)
	assert.Contains(t, e.Message, "the server cannot be reached: connection refused, DNS failure or TLS failure")
	assert.NotContains(t, e.Message, "use of closed network connection")

	sameOrigin := "ws" + strings.TrimPrefix(refusing.URL, "http") + "/refused/ws"
	e = login(sameOrigin)
	assert.Contains(t, e.Message, "failed to connect to "+sameOrigin+": the server refused the WebSocket upgrade (http"+strings.TrimPrefix(sameOrigin, "ws")+" answers HTTP 403)")

	otherOrigin := "ws" + strings.TrimPrefix(other.URL, "http") + "/ws"
	e = login(otherOrigin)
	assert.Contains(t, e.Message, "the server refused the WebSocket upgrade (http"+strings.TrimPrefix(otherOrigin, "ws")+" answers HTTP; its status is hidden from another origin)")
}
