//go:build !js

package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/gobwas/ws/wsutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// pipeListener hands the server one end of a net.Pipe per dial: every
// Write of the test is one Read of the server, so the test chooses how a
// request arrives.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

func (l *pipeListener) dial(t *testing.T) net.Conn {
	c, s := net.Pipe()
	select {
	case l.conns <- s:
	case <-time.After(waitTimeout):
		t.Fatal("the server did not accept")
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// splitServers serves one node twice: through net/http alone, as before
// the Listener, and through the node's Listener, as cmd/rtmcall-server does.
type splitServers struct {
	node           *server.Node
	plain, through *pipeListener
	// toHTTP counts the connections the Listener handed to net/http.
	toHTTP atomic.Int64
}

func newSplitServers(t *testing.T, cfg server.Config) *splitServers {
	cfg.Logger = slog.New(slog.DiscardHandler)
	n, err := server.New(cfg)
	require.NoError(t, err)
	s := &splitServers{node: n, plain: newPipeListener(), through: newPipeListener()}
	var served sync.WaitGroup
	var servers []*http.Server
	for i, ln := range []net.Listener{s.plain, n.Listener(s.through, 10*time.Second)} {
		hs := &http.Server{Handler: n, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 8 << 10}
		if i == 1 {
			hs.ConnState = func(_ net.Conn, st http.ConnState) {
				if st == http.StateNew {
					s.toHTTP.Add(1)
				}
			}
		}
		servers = append(servers, hs)
		served.Go(func() { hs.Serve(ln) })
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		assert.NoError(t, n.Shutdown(ctx))
		for _, hs := range servers {
			hs.Close()
		}
		served.Wait()
	})
	return s
}

// exchange writes req to c in pieces of at most chunk bytes (0: at once),
// and returns the response it reads: status line, headers but Date, and
// body, or the read error.
func exchange(t *testing.T, c net.Conn, req string, chunk int) string {
	t.Helper()
	go func() { // the server may answer before it has read everything
		for p := []byte(req); len(p) > 0; {
			m := len(p)
			if chunk > 0 {
				m = min(m, chunk)
			}
			if _, err := c.Write(p[:m]); err != nil {
				return
			}
			p = p[m:]
		}
	}()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(waitTimeout)))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "error: " + err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Header.Del("Date")
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", resp.Proto, resp.Status)
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range resp.Header {
			if !yield(k) {
				return
			}
		}
	}) {
		fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(resp.Header[k], ", "))
	}
	b.WriteString("\n" + string(body))
	return b.String()
}

// upgradeRequest is a WebSocket upgrade of /ws with the extra header lines
// (each ending in \r\n), from client rtmcall.v1.
func upgradeRequest(extra string) string {
	return "GET /ws HTTP/1.1\r\nHost: pipe\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Protocol: " + protocol.Subprotocol + "\r\n" + extra + "\r\n"
}

// Every request gets the answer it got from net/http alone: upgrades the
// Listener takes, upgrades it leaves to net/http because they would fail,
// and every other request, however its bytes arrive.
func TestListenerAnswersAsNetHTTP(t *testing.T) {
	s := newSplitServers(t, server.Config{Secret: []byte("listener test secret"), Origins: []string{"app.example.com"}})
	valid := upgradeRequest("")
	tests := []struct {
		name, req, status string
		fast              bool // the Listener upgrades it, not net/http
	}{
		{"upgrade", valid, "101 Switching Protocols", true},
		{"upgrade with a query", strings.Replace(valid, "/ws", "/ws?v=1", 1), "101 Switching Protocols", true},
		{"upgrade from an allowed origin", upgradeRequest("Origin: https://app.example.com\r\n"), "101 Switching Protocols", true},
		{"upgrade from a browser", upgradeRequest("Pragma: no-cache\r\nCache-Control: no-cache\r\n" +
			"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n" +
			"Origin: https://app.example.com\r\nAccept-Encoding: gzip, deflate, br, zstd\r\nAccept-Language: en-US,en;q=0.9\r\n" +
			"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"), "101 Switching Protocols", true},
		{"upgrade from another origin", upgradeRequest("Origin: https://evil.example.com\r\n"), "403 Forbidden", false},
		{"upgrade without subprotocol", strings.Replace(valid, "Sec-WebSocket-Protocol: rtmcall.v1\r\n", "", 1), "101 Switching Protocols", true},
		{"upgrade without Upgrade", strings.Replace(valid, "Upgrade: websocket\r\n", "", 1), "400 Bad Request", false},
		{"upgrade of version 12", strings.Replace(valid, "Version: 13", "Version: 12", 1), "426 Upgrade Required", false},
		{"upgrade with a short key", strings.Replace(valid, "dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ=", 1), "400 Bad Request", false},
		{"upgrade by POST", strings.Replace(valid, "GET", "POST", 1), "405 Method Not Allowed", false},
		{"upgrade over HTTP/1.0", strings.Replace(valid, "HTTP/1.1", "HTTP/1.0", 1), "505 HTTP Version Not Supported", false},
		{"upgrade without Host", strings.Replace(valid, "Host: pipe\r\n", "", 1), "400 Bad Request", false},
		{"upgrade with two Hosts", upgradeRequest("Host: other\r\n"), "400 Bad Request", false},
		{"upgrade with an empty Host", strings.Replace(valid, "Host: pipe", "Host: ", 1), "400 Bad Request", false},
		{"upgrade with two keys", upgradeRequest("Sec-WebSocket-Key: b3RoZXIgc2FtcGxlIG5vbmNlIQ==\r\n"), "101 Switching Protocols", false},
		{"upgrade with a bad Host", strings.Replace(valid, "Host: pipe", "Host: pi/pe", 1), "400 Bad Request", false},
		{"upgrade with a body", upgradeRequest("Content-Length: 0\r\n"), "101 Switching Protocols", false},
		{"upgrade with a bad header name", upgradeRequest("Bad Name: x\r\n"), "400 Bad Request", false},
		{"upgrade with a control character", upgradeRequest("X-A: \x01\r\n"), "400 Bad Request", false},
		{"upgrade with LF line ends", strings.ReplaceAll(valid, "\r\n", "\n"), "101 Switching Protocols", false},
		{"upgrade of 4 KiB and more (cookies)", upgradeRequest("Cookie: " + strings.Repeat("c", 4<<10) + "\r\n"), "101 Switching Protocols", false},
		{"upgrade over net/http's limit", upgradeRequest("Cookie: " + strings.Repeat("c", 16<<10) + "\r\n"), "431 Request Header Fields Too Large", false},
		{"upgrade at another path", strings.Replace(valid, "/ws", "/wss", 1), "404 Not Found", false},
		{"upgrade below the path", strings.Replace(valid, "/ws", "/ws/x", 1), "404 Not Found", false},
		{"GET /ws, no upgrade", "GET /ws HTTP/1.1\r\nHost: pipe\r\n\r\n", "400 Bad Request", false},
		{"health check", "GET /healthz HTTP/1.1\r\nHost: pipe\r\n\r\n", "200 OK", false},
		{"metrics", "GET /metrics HTTP/1.1\r\nHost: pipe\r\n\r\n", "200 OK", false},
		{"not HTTP", "HELLO\r\n\r\n", "400 Bad Request", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The metrics' counts move between two answers: their first line.
			first := func(s string) string {
				if tt.name == "metrics" {
					s, _, _ = strings.Cut(s, "\n")
				}
				return s
			}
			want := exchange(t, s.plain.dial(t), tt.req, 0)
			require.Contains(t, want, " "+tt.status, "net/http's answer")
			chunks := []int{0, 1, 7}
			if len(tt.req) > 1<<10 {
				chunks = []int{0, 7, 1000} // across maxFastHead
			}
			for _, chunk := range chunks {
				before := s.toHTTP.Load()
				got := exchange(t, s.through.dial(t), tt.req, chunk)
				assert.Equal(t, first(want), first(got), "written %d bytes at a time", chunk)
				assert.Equal(t, !tt.fast, s.toHTTP.Load() > before, "handed to net/http")
			}
		})
	}

	// Once the node shuts down, upgrades get its 503 from net/http.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	require.NoError(t, s.node.Shutdown(ctx))
	want := exchange(t, s.plain.dial(t), valid, 0)
	require.Contains(t, want, "503 Service Unavailable\n")
	assert.Contains(t, want, "server shutting down")
	assert.Equal(t, want, exchange(t, s.through.dial(t), valid, 0))
}

// A WebSocket the Listener upgraded, with the login sent before the 101
// came back, and one net/http upgraded (its head over 4 KiB), log in; a
// connection with two requests in one write gets both answers.
func TestListenerServes(t *testing.T) {
	s := newSplitServers(t, server.Config{Dev: true})
	login := func(user string) []byte {
		var b strings.Builder
		require.NoError(t, wsutil.WriteClientText(&b, protocol.AppendFrame(nil,
			&protocol.Frame{Type: protocol.TypeLogin, RID: 1, User: user})))
		return []byte(b.String())
	}
	for _, tt := range []struct {
		name, req string
		fast      bool
	}{
		{"upgraded by the Listener", upgradeRequest(""), true},
		{"upgraded by net/http", upgradeRequest("Cookie: " + strings.Repeat("c", 4<<10) + "\r\n"), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := s.toHTTP.Load()
			c := s.through.dial(t)
			go c.Write(append([]byte(tt.req), login("alice")...))
			require.NoError(t, c.SetReadDeadline(time.Now().Add(waitTimeout)))
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			require.NoError(t, err)
			require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
			data, err := wsutil.ReadServerText(struct {
				io.Reader
				io.Writer
			}{br, c})
			require.NoError(t, err)
			var f protocol.Frame
			require.NoError(t, protocol.DecodeInto(&f, data))
			assert.Equal(t, protocol.TypeOK, f.Type, "%s", data)
			assert.Equal(t, !tt.fast, s.toHTTP.Load() > before, "handed to net/http")
		})
	}

	c := s.through.dial(t)
	health := "GET /healthz HTTP/1.1\r\nHost: pipe\r\n\r\n"
	go c.Write([]byte(health + health))
	require.NoError(t, c.SetReadDeadline(time.Now().Add(waitTimeout)))
	br := bufio.NewReader(c)
	for range 2 {
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		assert.Equal(t, "200 ok", fmt.Sprint(resp.StatusCode, " ", string(body)))
	}
}

// A head not whole within the header timeout is closed without an answer,
// as net/http closes it; so is a connection that sends nothing. A head
// handed to net/http before it is whole (a line the Listener leaves to it)
// keeps that timeout, from the accept: net/http's own, an hour here, would
// start it again.
func TestListenerHeaderTimeout(t *testing.T) {
	n, err := server.New(server.Config{Dev: true, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	pl := newPipeListener()
	hs := &http.Server{Handler: n, ReadHeaderTimeout: time.Hour}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(n.Listener(pl, 50*time.Millisecond)) }()
	t.Cleanup(func() {
		require.NoError(t, n.Shutdown(context.Background()))
		require.NoError(t, hs.Close())
		assert.ErrorIs(t, <-served, http.ErrServerClosed)
	})
	for _, sent := range []string{"", "GET /ws HTTP/1.1\r\nHost: pi", "GET /ws HTTP/1.1\r\nX Y: for net/http\r\n"} {
		c := pl.dial(t)
		if sent != "" {
			_, err := c.Write([]byte(sent))
			require.NoError(t, err)
		}
		require.NoError(t, c.SetReadDeadline(time.Now().Add(waitTimeout)))
		b, err := io.ReadAll(c)
		assert.NoError(t, err, "%q: closed by the server, not timed out here", sent)
		assert.Empty(t, b)
	}
}

// Closing the listener closes the connections whose heads it is reading.
func TestListenerClose(t *testing.T) {
	n, err := server.New(server.Config{Dev: true, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, n.Shutdown(context.Background())) })
	pl := newPipeListener()
	ln := n.Listener(pl, time.Hour)
	c := pl.dial(t)
	_, err = c.Write([]byte("GET /ws HTTP/1.1\r\n"))
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(waitTimeout)))
	require.NoError(t, ln.Close())
	b, err := io.ReadAll(c)
	assert.NoError(t, err, "closed by the listener, not timed out here")
	assert.Empty(t, b)
	_, err = ln.Accept()
	assert.ErrorIs(t, err, net.ErrClosed)
}

// On one port, real TCP: a WebSocket logs in, then the health check and
// the metrics answer while it is open.
func TestListenerSamePort(t *testing.T) {
	srv := rtmcalltest.NewServer(t) // through the node's Listener
	alice := login(t, srv, "alice")
	code, body := httpGet(t, srv.HTTPURL+"/healthz")
	assert.Equal(t, "200 ok", fmt.Sprint(code, " ", body))
	code, body = httpGet(t, srv.HTTPURL+"/metrics")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "rtmcall_")
	alice.sync()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, srv.URL, &websocket.DialOptions{Subprotocols: []string{protocol.Subprotocol}})
	require.NoError(t, err)
	newClient(t, ws, "bob").login("bob")
}

// Under net/http's TLS (ServeTLS, or httptest's StartTLS, over the node's
// Listener) the Listener reads encrypted bytes, never a head it upgrades:
// every request goes to net/http, which upgrades /ws as before, with r.TLS
// set. (A tls.Listener under the node's Listener would hand net/http a
// connection that is no *tls.Conn: r.TLS nil.)
func TestListenerUnderTLS(t *testing.T) {
	n, err := server.New(server.Config{Dev: true, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	var upgrades, withTLS atomic.Int32
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upgrades.Add(1)
		if r.TLS != nil {
			withTLS.Add(1)
		}
		n.ServeHTTP(w, r)
	}))
	ts.Listener = n.Listener(ts.Listener, waitTimeout)
	ts.StartTLS()
	t.Cleanup(func() {
		require.NoError(t, n.Shutdown(context.Background()))
		ts.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "wss"+strings.TrimPrefix(ts.URL, "https")+protocol.Path,
		&websocket.DialOptions{HTTPClient: ts.Client(), Subprotocols: []string{protocol.Subprotocol}})
	require.NoError(t, err)
	newClient(t, ws, "alice").login("alice")
	assert.Equal(t, int32(1), upgrades.Load(), "upgraded by net/http")
	assert.Equal(t, int32(1), withTLS.Load(), "with r.TLS")
}
