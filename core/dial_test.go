//go:build !js

package core_test

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
)

// TestLoginDialErrors checks that a failed login says what failed, for
// each failure that can be made on loopback.
func TestLoginDialErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refused := "ws://" + ln.Addr().String() + "/ws"
	require.NoError(t, ln.Close()) // nothing listens there now

	forbidden := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	t.Cleanup(forbidden.Close)
	tlsSrv := httptest.NewUnstartedServer(http.NotFoundHandler())
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // it logs the handshake the client aborts
	tlsSrv.StartTLS()                                   // with a certificate the client does not trust
	t.Cleanup(tlsSrv.Close)
	// A name Go's resolver refuses without asking a DNS server (a label over 63 bytes): a DNS
	// failure without leaving the machine.
	badName := strings.Repeat("a", 64) + ".invalid"

	for _, tc := range []struct {
		name, url, want string
	}{
		{"connection refused", refused, "connection refused"},
		{"DNS failure", "ws://" + badName + "/ws", "DNS lookup of " + badName + " failed"},
		{"TLS failure", "wss://" + strings.TrimPrefix(tlsSrv.URL, "https://") + "/ws", "TLS handshake failed"},
		{"refused upgrade", "ws://" + strings.TrimPrefix(forbidden.URL, "http://") + "/ws", "refused the WebSocket upgrade with HTTP status 403"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := core.NewClient(core.Options{URL: tc.url})
			require.NoError(t, err)
			defer c.Close()
			err = c.Login(ctxT(t), "alice", "")
			require.Error(t, err)
			assert.Equal(t, protocol.CodeNotConnected, core.CodeOf(err))
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), "failed to connect to "+tc.url)
			t.Log(err)
		})
	}
}
