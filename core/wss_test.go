//go:build !js

package core_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
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
// error its login must fail with ("": it must succeed, and call).
const (
	wssChildURL  = "RTMCALL_TEST_WSS_URL"
	wssChildWant = "RTMCALL_TEST_WSS_WANT"
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
	v6 := forward(t, "[::1]:0", "127.0.0.1:"+port) // httptest listens on 127.0.0.1 only

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
		c, err := core.NewClient(core.Options{URL: url, Logf: t.Logf})
		require.NoError(t, err)
		defer c.Close()
		err = c.Login(ctxT(t), "alice", "")
		require.Error(t, err)
		assert.Equal(t, protocol.CodeNotConnected, core.CodeOf(err))
		assert.Contains(t, err.Error(), "TLS handshake failed")
		assert.Contains(t, err.Error(), want)
		t.Log(err)
		return
	}
	alice, bob := loginAt(t, url, "alice"), loginAt(t, url, "bob")
	l, _ := call(t, alice, bob)
	hangUp(t, alice, l, bob)
	alice.quiet()
	bob.quiet()
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
// test ends; it returns the address it listens on.
func forward(t *testing.T, addr, target string) string {
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
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, s)
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
