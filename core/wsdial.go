//go:build !js

package core

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"

	"github.com/coder/websocket"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// TLSConfig is crypto/tls's Config, for Options.TLSConfig. Natively the
// field takes a *tls.Config; the browser build declares a placeholder, as
// crypto/tls would add 0.5 MB gzipped to the browser module.
type TLSConfig = tls.Config

// dialOptions are the client's WebSocket dial options: its subprotocol, and
// an HTTP client whose transport is upgradeTransport.
var dialOptions = &websocket.DialOptions{Subprotocols: []string{protocol.Subprotocol},
	HTTPClient: &http.Client{Transport: &upgradeTransport{}}}

// newDialOptions returns the dial options of a client with opts:
// dialOptions, or, with a TLSConfig, its own, made once rather than per
// connect.
func newDialOptions(opts Options) (*websocket.DialOptions, error) {
	if opts.TLSConfig == nil {
		return dialOptions, nil
	}
	cfg := opts.TLSConfig.Clone() // the caller's is never mutated
	cfg.NextProtos = nil          // an upgrade is HTTP/1.1, offered without ALPN as without a TLSConfig
	// Through a proxy the environment names, an http.Transport of the same
	// config: it sets ServerName as dialUpgrade does, and uses the config
	// for an https:// proxy too. It keeps no connection: a refused
	// upgrade's would stay idle with its two goroutines (a Transport
	// without IdleConnTimeout keeps idle connections for good).
	proxied := &http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: cfg, DisableKeepAlives: true}
	return &websocket.DialOptions{Subprotocols: dialOptions.Subprotocols,
		HTTPClient: &http.Client{Transport: &upgradeTransport{tls: cfg, proxied: proxied}}}, nil
}

// upgradeTransport is the transport of the client's upgrade requests: it
// dials a connection for each, writes the request and reads the response on
// it, without http.Transport. An upgraded connection is never reused, so
// the Transport's pool, its three goroutines per connection and its 8 KB of
// buffers were a login's cost for nothing; here the buffers are pooled.
// A request the environment sends through a proxy (HTTP_PROXY, HTTPS_PROXY,
// as http.DefaultTransport reads them) goes through proxied, or
// http.DefaultTransport without one.
type upgradeTransport struct {
	tls     *tls.Config     // Options.TLSConfig's clone; nil: the system roots
	proxied *http.Transport // nil without tls
}

// Pooled buffers of the upgrade's request and response: the head of each is
// a few hundred bytes (bufio reads a longer line in several pieces).
var (
	upgradeReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 1024) }}
	upgradeWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 1024) }}
)

func (t *upgradeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if proxy, err := http.ProxyFromEnvironment(req); proxy != nil || err != nil {
		if t.proxied != nil {
			return t.proxied.RoundTrip(req)
		}
		return http.DefaultTransport.RoundTrip(req)
	}
	ctx := req.Context()
	conn, err := dialUpgrade(ctx, req, t.tls)
	if err != nil {
		return nil, err
	}
	// As with net/http, the context ending ends the exchange: the
	// connection closes, and the error is the context's.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	resp, err := exchangeUpgrade(conn, req)
	if !stop() || err != nil {
		conn.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, err
	}
	return resp, nil
}

// dialUpgrade dials req's host, with TLS for https: with cfg, or the
// system roots if nil. As with http.Transport, the server name is the
// URL's host, without port or brackets, unless cfg has one (verified over
// wss:// by TestLoginOverWSS and TestLoginWithTLSConfig).
func dialUpgrade(ctx context.Context, req *http.Request, cfg *tls.Config) (net.Conn, error) {
	host, port := req.URL.Hostname(), req.URL.Port()
	if port == "" {
		port = "80"
		if req.URL.Scheme == "https" {
			port = "443"
		}
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil || req.URL.Scheme != "https" {
		return conn, err
	}
	switch {
	case cfg == nil:
		cfg = &tls.Config{ServerName: host}
	case cfg.ServerName == "":
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}

// exchangeUpgrade writes req on conn and reads the response. The body of a
// 101 is the connection, with what the reader holds of it first; any other
// response's body closes the connection when closed.
func exchangeUpgrade(conn net.Conn, req *http.Request) (*http.Response, error) {
	bw := upgradeWriters.Get().(*bufio.Writer)
	bw.Reset(conn)
	err := req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	bw.Reset(nil)
	upgradeWriters.Put(bw)
	if err != nil {
		return nil, err
	}
	br := upgradeReaders.Get().(*bufio.Reader)
	br.Reset(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		resp.Body = &closingBody{ReadCloser: resp.Body, conn: conn} // br goes with the body
		return resp, nil
	}
	up := &upgradedConn{Conn: conn}
	if br.Buffered() > 0 {
		up.br = br // frames the server sent right after its 101
	} else {
		br.Reset(nil)
		upgradeReaders.Put(br)
	}
	resp.Body = up
	return resp, nil
}

// upgradedConn is an upgraded connection as a response body, which
// coder/websocket reads and writes. Its Read reports the stream's end as
// io.ErrUnexpectedEOF: a WebSocket ends with a close frame, and
// coder/websocket (v1.8.15) takes a bare io.EOF met where a payload read
// begins (right after a frame's header, or where the reader's buffer
// filled) for the end of the message, and hands the truncated message on
// as whole: a connection cut there was a frame "not a valid JSON object"
// instead of a lost connection (TestUpgradedConnCutMidFrame).
type upgradedConn struct {
	net.Conn
	br *bufio.Reader // bytes read past the response head; nil once read
}

func (c *upgradedConn) Read(p []byte) (int, error) {
	if c.br != nil {
		if c.br.Buffered() > 0 {
			return c.br.Read(p)
		}
		c.br = nil
	}
	n, err := c.Conn.Read(p)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// closingBody is a refused upgrade's body: closing it closes the connection.
type closingBody struct {
	io.ReadCloser
	conn net.Conn
}

func (b *closingBody) Close() error {
	return errors.Join(b.ReadCloser.Close(), b.conn.Close())
}
