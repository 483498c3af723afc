//go:build !js

package core_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// The environment of TestLoginOverWSS's child: the URL it dials, and the
// error its login must fail with ("": it must succeed, and call); for
// TestLoginWithTLSConfigThroughProxy's, also the PEM file of the roots of
// its Options.TLSConfig.
const (
	wssChildURL   = "RTMCALL_TEST_WSS_URL"
	wssChildWant  = "RTMCALL_TEST_WSS_WANT"
	wssChildRoots = "RTMCALL_TEST_WSS_ROOTS"
)

// TestLoginOverWSS: native clients log in over wss:// to the real server
// and make a call, with its certificate trusted as a deployment's is, by
// the system roots. Go reads those once per process, from SSL_CERT_FILE
// and SSL_CERT_DIR on Linux, so each case runs in a child process (this
// test, in its own binary) with them set. The failing cases show that the
// trust is the certificate's, and that its name is checked against the
// URL's host: an IPv6 literal verifies as itself, without its brackets.
func TestLoginOverWSS(t *testing.T) {
	if url := os.Getenv(wssChildURL); url != "" {
		wssChild(t, url, os.Getenv(wssChildWant))
		return
	}
	srv := rtmcalltest.NewTLSServer(t)
	dir := t.TempDir() // SSL_CERT_DIR, empty: no root but SSL_CERT_FILE's
	trusted := writePEM(t, filepath.Join(t.TempDir(), "server.pem"), srv.Certificate.Raw)
	other := writePEM(t, filepath.Join(t.TempDir(), "other.pem"), selfSigned(t))
	_, port, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimSuffix(srv.URL, protocol.Path), "wss://"))
	require.NoError(t, err)
	v6 := forward(t, "[::1]:0", "127.0.0.1:"+port, nil) // httptest listens on 127.0.0.1 only

	for _, tc := range []struct {
		name, roots, url, want string
	}{
		{"trusted", trusted, srv.URL, ""},
		{"IPv6 literal", trusted, "wss://" + v6 + protocol.Path, ""},
		{"untrusted", other, srv.URL, "certificate signed by unknown authority"},
		// The certificate is for 127.0.0.1, ::1 and example.com.
		{"wrong name", trusted, "wss://localhost:" + port + protocol.Path, "not localhost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.CommandContext(ctxT(t), os.Args[0], "-test.run=^TestLoginOverWSS$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+tc.roots, "SSL_CERT_DIR="+dir,
				wssChildURL+"="+tc.url, wssChildWant+"="+tc.want)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "child:\n%s", out)
			require.Contains(t, string(out), "--- PASS: TestLoginOverWSS", "child:\n%s", out)
			t.Logf("child:\n%s", out)
		})
	}
}

// wssChild is TestLoginOverWSS in its child: alice logs in at url, and,
// when no error is wanted, calls bob, who accepts; both hang up.
func wssChild(t *testing.T, url, want string) {
	if want != "" {
		loginFailsTLS(t, core.Options{URL: url}, want)
		return
	}
	callOverWSS(t, core.Options{URL: url})
}

// callOverWSS logs alice and bob in with opts; alice calls bob, who
// accepts; both hang up.
func callOverWSS(t *testing.T, opts core.Options) {
	alice, bob := loginOpts(t, opts, "alice"), loginOpts(t, opts, "bob")
	l, _ := call(t, alice, bob)
	hangUp(t, alice, l, bob)
	alice.quiet()
	bob.quiet()
}

// loginFailsTLS: a login with opts fails, not connected, in the TLS
// handshake with an error that contains want.
func loginFailsTLS(t *testing.T, opts core.Options, want string) {
	opts.Logf = t.Logf
	c, err := core.NewClient(opts)
	require.NoError(t, err)
	defer c.Close()
	err = c.Login(ctxT(t), "alice", "")
	require.Error(t, err)
	assert.Equal(t, protocol.CodeNotConnected, core.CodeOf(err))
	assert.Contains(t, err.Error(), "TLS handshake failed")
	assert.Contains(t, err.Error(), want)
	t.Log(err)
}

// TestLoginWithTLSConfig: Options.TLSConfig trusts a CA the system roots
// do not, in this process (no SSL_CERT_FILE): with the test server's
// certificate in RootCAs clients log in over wss:// and call, and its
// ServerName, if set, is the name verified; without it the login fails
// on the certificate. The caller's config is not mutated, and its
// NextProtos (h2 only, which the server does not speak) are not offered.
func TestLoginWithTLSConfig(t *testing.T) {
	srv := rtmcalltest.NewTLSServer(t)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate)
	cfg := &tls.Config{RootCAs: roots, NextProtos: []string{"h2"}}
	before := cfg.Clone()
	named := cfg.Clone()
	named.ServerName = "example.com"
	others := x509.NewCertPool()
	other, err := x509.ParseCertificate(selfSigned(t))
	require.NoError(t, err)
	others.AddCert(other)
	_, port, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimSuffix(srv.URL, protocol.Path), "wss://"))
	require.NoError(t, err)
	localhost := "wss://localhost:" + port + protocol.Path // the certificate is for 127.0.0.1, ::1 and example.com

	t.Run("trusted", func(t *testing.T) { callOverWSS(t, core.Options{URL: srv.URL, TLSConfig: cfg}) })
	t.Run("ServerName", func(t *testing.T) { callOverWSS(t, core.Options{URL: localhost, TLSConfig: named}) })
	for _, tc := range []struct {
		name string
		opts core.Options
		want string
	}{
		{"no TLSConfig", core.Options{URL: srv.URL}, "certificate signed by unknown authority"},
		{"other roots", core.Options{URL: srv.URL, TLSConfig: &tls.Config{RootCAs: others}},
			"certificate signed by unknown authority"},
		{"wrong name", core.Options{URL: localhost, TLSConfig: cfg}, "not localhost"},
	} {
		t.Run(tc.name, func(t *testing.T) { loginFailsTLS(t, tc.opts, tc.want) })
	}
	assert.Equal(t, before, cfg.Clone(), "the caller's config")
	assert.Empty(t, cfg.ServerName)
	assert.Equal(t, []string{"h2"}, cfg.NextProtos)
}

// TestLoginWithTLSConfigThroughProxy: with HTTPS_PROXY set, Options.TLSConfig
// verifies the server through the proxy's tunnel too: clients log in and
// call with it, and fail on the certificate with roots that do not have it.
// Go reads the proxy environment once per process, so each case runs in a
// child, as TestLoginOverWSS's; the URL's host is example.com (which the
// certificate names, and the proxy connects to the server), as Go never
// proxies a loopback address.
func TestLoginWithTLSConfigThroughProxy(t *testing.T) {
	if roots := os.Getenv(wssChildRoots); roots != "" {
		pem, err := os.ReadFile(roots)
		require.NoError(t, err)
		pool := x509.NewCertPool()
		require.True(t, pool.AppendCertsFromPEM(pem))
		opts := core.Options{URL: os.Getenv(wssChildURL), TLSConfig: &tls.Config{RootCAs: pool}}
		if want := os.Getenv(wssChildWant); want != "" {
			loginFailsTLS(t, opts, want)
			return
		}
		callOverWSS(t, opts)
		return
	}
	srv := rtmcalltest.NewTLSServer(t)
	trusted := writePEM(t, filepath.Join(t.TempDir(), "server.pem"), srv.Certificate.Raw)
	other := writePEM(t, filepath.Join(t.TempDir(), "other.pem"), selfSigned(t))
	_, port, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimSuffix(srv.URL, protocol.Path), "wss://"))
	require.NoError(t, err)
	tunnels := make(chan string, 8)
	proxy := forward(t, "127.0.0.1:0", "127.0.0.1:"+port, func(c net.Conn) error {
		req, err := http.ReadRequest(bufio.NewReader(c)) // the client says no more until answered
		if err != nil {
			return err
		}
		tunnels <- req.Method + " " + req.Host
		_, err = io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
		return err
	})
	env := []string{"HTTPS_PROXY=http://" + proxy, wssChildURL + "=wss://example.com:" + port + protocol.Path}
	for _, e := range os.Environ() {
		switch name, _, _ := strings.Cut(e, "="); strings.ToUpper(name) {
		case "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY":
		default:
			env = append(env, e)
		}
	}
	for _, tc := range []struct {
		name, roots, want string
		tunnels           int // alice's and bob's, or alice's
	}{
		{"trusted", trusted, "", 2},
		{"untrusted", other, "certificate signed by unknown authority", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.CommandContext(ctxT(t), os.Args[0], "-test.run=^TestLoginWithTLSConfigThroughProxy$",
				"-test.count=1", "-test.v")
			cmd.Env = append(env, wssChildRoots+"="+tc.roots, wssChildWant+"="+tc.want)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "child:\n%s", out)
			require.Contains(t, string(out), "--- PASS: TestLoginWithTLSConfigThroughProxy", "child:\n%s", out)
			t.Logf("child:\n%s", out)
			for range tc.tunnels {
				select {
				case got := <-tunnels:
					assert.Equal(t, fmt.Sprintf("CONNECT example.com:%s", port), got)
				default:
					require.Fail(t, "the login did not go through the proxy")
				}
			}
			assert.Empty(t, tunnels)
		})
	}
}

func writePEM(t *testing.T, path string, der []byte) string {
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return path
}

// selfSigned is a certificate for the same names as httptest's, by another key.
func selfSigned(t *testing.T) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, DNSNames: []string{"example.com"},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return der
}

// forward listens on addr and pipes each connection to target until the
// test ends, after hello, if not nil, has run on it without error; it
// returns the address it listens on.
func forward(t *testing.T, addr, target string, hello func(net.Conn) error) string {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("no listener on %s: %v", addr, err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // closed at the end, if hello still reads it
			mu.Unlock()
			if hello != nil && hello(c) != nil {
				c.Close()
				continue
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, s)
			mu.Unlock()
			wg.Add(2)
			pipe := func(dst, src net.Conn) {
				defer wg.Done()
				_, _ = io.Copy(dst, src)
				dst.Close()
				src.Close()
			}
			go pipe(c, s)
			go pipe(s, c)
		}
	}()
	return ln.Addr().String()
}
