//go:build !js

package push

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every range that is not on the public Internet is refused, the cloud
// metadata address and v4 addresses in v6 forms included; public ones pass.
func TestPublicAddr(t *testing.T) {
	for _, a := range []string{
		"127.0.0.1", "127.255.255.254", "10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1",
		"169.254.169.254", "169.254.0.1", "0.0.0.0", "0.1.2.3", "100.64.0.1", "100.127.255.255", "192.0.0.1",
		"192.0.2.1", "198.18.0.1", "198.51.100.1", "203.0.113.1", "224.0.0.1", "240.0.0.1", "255.255.255.255",
		"::1", "::", "fd00::1", "fc00::1", "fe80::1", "fe80::1%eth0", "ff02::1", "::ffff:127.0.0.1",
		"::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1", "64:ff9b:1::1", "2001:db8::1", "100::1",
	} {
		assert.False(t, publicAddr(netip.MustParseAddr(a)), a)
	}
	for _, a := range []string{"8.8.8.8", "1.1.1.1", "142.250.74.10", "172.32.0.1", "100.128.0.1", "169.255.0.1",
		"2a00:1450:4001:80b::200a", "::ffff:8.8.8.8", "64:ff9b::808:808"} {
		assert.True(t, publicAddr(netip.MustParseAddr(a)), a)
	}
}

// The client pushes are sent with refuses, at dial, a server on loopback:
// the address checked is the one connected to, after resolution
// ("localhost" here); with AllowPrivate it connects.
func TestDialGuard(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusCreated) }))
	defer srv.Close()
	byName := "http://localhost:" + srv.URL[len("http://127.0.0.1:"):]
	for _, u := range []string{srv.URL, byName} {
		c := newHTTPClient(false)
		_, err := c.Post(u, "text/plain", nil)
		require.Error(t, err, u)
		assert.ErrorIs(t, err, errRefusedAddress, u)
		assert.True(t, refused(err), u)
		c.CloseIdleConnections()
	}
	c := newHTTPClient(true)
	defer c.CloseIdleConnections()
	resp, err := c.Post(srv.URL, "text/plain", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusCreated, resp.StatusCode)
}

// A redirect is not followed: a push service answers, it does not send
// the server elsewhere.
func TestNoRedirect(t *testing.T) {
	var hit bool
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit = true }))
	defer target.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	c := newHTTPClient(true)
	defer c.CloseIdleConnections()
	resp, err := c.Post(srv.URL, "text/plain", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusTemporaryRedirect, resp.StatusCode)
	assert.False(t, hit)
}

func TestHostAllowed(t *testing.T) {
	hosts := []string{"fcm.googleapis.com", "push.apple.com"}
	assert.True(t, hostAllowed(nil, "anything.example"))
	assert.True(t, hostAllowed(hosts, "fcm.googleapis.com"))
	assert.True(t, hostAllowed(hosts, "web.push.apple.com"))
	assert.True(t, hostAllowed(hosts, "WEB.push.apple.com."))
	assert.False(t, hostAllowed(hosts, "evilpush.apple.com"))
	assert.False(t, hostAllowed(hosts, "push.apple.com.evil.example"))
	assert.False(t, hostAllowed(hosts, ""))

	cfg := Config{Subscriber: "ops@example.com", PublicURL: "https://call.example.com", Hosts: []string{"*.Push.Apple.com."}}
	s, err := New(cfg)
	require.NoError(t, err)
	assert.Equal(t, []string{"push.apple.com"}, s.cfg.Hosts)
	for _, bad := range []string{"", "*", "https://fcm.googleapis.com", "fcm.googleapis.com:443", "a b"} {
		cfg.Hosts = []string{bad}
		_, err := New(cfg)
		assert.Error(t, err, "%q", bad)
	}
}
