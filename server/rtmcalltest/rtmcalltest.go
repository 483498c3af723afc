// Package rtmcalltest starts a real rtmcall signaling server on a loopback
// listener for tests: of rtmcall itself, and of applications built on it.
package rtmcalltest

import (
	"context"
	"crypto/x509"
	"io"
	"log"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtmcall/rtmcall/server"
)

// secret is the HS256 secret every test server verifies tokens with.
const secret = "rtmcalltest secret: for tests only"

// Server is a running server.Node on a loopback listener.
type Server struct {
	// URL is the WebSocket endpoint, e.g. "ws://127.0.0.1:PORT/ws".
	URL string
	// HTTPURL is the server's base URL, e.g. "http://127.0.0.1:PORT".
	HTTPURL string
	// Node is the server itself.
	Node *server.Node
	// Secret signs the tokens Token issues.
	Secret []byte
	// Certificate is the server's certificate (httptest's, for 127.0.0.1,
	// ::1 and example.com) when it serves TLS (NewTLSServer), else nil.
	Certificate *x509.Certificate

	tb testing.TB
}

// NewServer starts a node in dev mode (logins without a token are accepted;
// given tokens are verified with the fixed test secret in Server.Secret) on 127.0.0.1 and shuts it down
// when the test ends. opts adjust the Config before the node is made. Logs
// go to tb.Log unless an option sets Config.Logger.
func NewServer(tb testing.TB, opts ...func(*server.Config)) *Server {
	tb.Helper()
	return newServer(tb, false, opts)
}

// NewTLSServer is NewServer serving TLS, as cmd/rtmcall-server does with a
// certificate: URL is "wss://127.0.0.1:PORT/ws", with Certificate, which no
// client trusts unless told to.
func NewTLSServer(tb testing.TB, opts ...func(*server.Config)) *Server {
	tb.Helper()
	return newServer(tb, true, opts)
}

func newServer(tb testing.TB, withTLS bool, opts []func(*server.Config)) *Server {
	tb.Helper()
	logs := &tbWriter{tb: tb}
	cfg := server.Config{
		Dev:    true,
		Secret: []byte(secret),
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	for _, o := range opts {
		o(&cfg)
	}
	node, err := server.New(cfg)
	if err != nil {
		tb.Fatalf("rtmcalltest: %v", err)
	}
	// As cmd/rtmcall-server serves: upgrades through the node's Listener.
	hs := httptest.NewUnstartedServer(node)
	hs.Listener = node.Listener(hs.Listener, 10*time.Second)
	if withTLS {
		// A client that aborts the handshake (untrusted certificate) is
		// logged by net/http; that is the test's expectation, not news.
		hs.Config.ErrorLog = log.New(io.Discard, "", 0)
		hs.StartTLS() // TLS above the Listener, as ServeTLS (Node.Listener)
	} else {
		hs.Start()
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := node.Shutdown(ctx); err != nil {
			tb.Errorf("rtmcalltest: shutdown: %v", err)
		}
		hs.Close()
		logs.stop()
	})
	srv := &Server{
		URL:     "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws",
		HTTPURL: hs.URL,
		Node:    node,
		Secret:  []byte(secret),
		tb:      tb,
	}
	if withTLS {
		srv.Certificate = hs.Certificate()
	}
	return srv
}

// Token returns a token for user valid for ttl (ttl of zero or less: an
// expired one). It fails the test if the token cannot be made.
func (s *Server) Token(user string, ttl time.Duration) string {
	s.tb.Helper()
	tok, err := server.IssueToken(s.Secret, user, ttl)
	if err != nil {
		s.tb.Fatalf("rtmcalltest: token for %q: %v", user, err)
	}
	return tok
}

// tbWriter sends log lines to tb.Log until the test's cleanup has run, and
// drops them afterwards (tb.Log panics once the test has completed).
type tbWriter struct {
	mu      sync.Mutex
	tb      testing.TB
	stopped bool
}

func (w *tbWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func (w *tbWriter) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
}
