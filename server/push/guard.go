package push

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// A client chooses its subscription's endpoint, so without a guard the
// server could be made to POST to its own network (SSRF). The guard works
// at two points: at subscribe, an endpoint whose host is a literal
// non-public address, "localhost", or not under Config.Hosts is refused;
// at send, the dialer refuses every non-public address it is about to
// connect to, so a name that resolves (or rebinds) to one is refused too.

// errRefusedAddress is what the dialer returns for a non-public address.
var errRefusedAddress = errors.New("push: the endpoint's address is not public")

// errRefusedHost is what send returns for an endpoint outside Config.Hosts.
var errRefusedHost = errors.New("push: the endpoint's host is not an allowed push service")

// nonPublic are the IANA special-purpose ranges that are not globally
// reachable, beyond what netip.Addr's predicates cover (loopback, RFC 1918,
// fc00::/7, link-local incl. 169.254.169.254, multicast, unspecified).
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // shared address space (CGNAT), RFC 6598
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and 255.255.255.255
	netip.MustParsePrefix("100::/64"),        // discard
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use IPv4/IPv6 translation
}

// nat64 is the well-known NAT64 prefix: its addresses reach the IPv4
// address in their last 32 bits, which is checked in their place.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// publicAddr reports whether a push may connect to ip.
func publicAddr(ip netip.Addr) bool {
	ip = ip.Unmap() // ::ffff:127.0.0.1 is 127.0.0.1
	if nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte(b[12:]))
	}
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// dialControl refuses connections to non-public addresses; it runs on the
// resolved address of every dial, redirects and rebinding included.
func dialControl(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q", errRefusedAddress, address)
	}
	if !publicAddr(ap.Addr()) {
		return fmt.Errorf("%w: %s", errRefusedAddress, ap.Addr())
	}
	return nil
}

// newHTTPClient is the client pushes are sent with: its own connections,
// no proxy from the environment (the guard checks the address dialed, which
// would be the proxy's), no redirects (push services answer, they do not
// redirect), and, unless allowPrivate, the dial guard.
func newHTTPClient(allowPrivate bool) *http.Client {
	d := &net.Dialer{Timeout: SendTimeout, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = dialControl
	}
	return &http.Client{
		Timeout: SendTimeout,
		Transport: &http.Transport{
			DialContext:         d.DialContext,
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: SendTimeout,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// hostAllowed reports whether host (no port) is one of hosts or under one
// of them; an empty list allows every host.
func hostAllowed(hosts []string, host string) bool {
	if len(hosts) == 0 {
		return true
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, h := range hosts {
		if host == h || strings.HasSuffix(host, "."+h) {
			return true
		}
	}
	return false
}

// checkEndpoint is the subscribe-time policy on an endpoint that
// protocol.ValidatePushEndpoint accepted: https (http with AllowHTTP), a
// host under Hosts, and, unless AllowPrivate, no literal non-public
// address or localhost name. Names are resolved only when a push is sent.
func (s *Service) checkEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return protocol.Errorf(protocol.CodeInvalidArgument, "endpoint is not a URL")
	}
	if u.Scheme != "https" && !s.cfg.AllowHTTP {
		return protocol.Errorf(protocol.CodeInvalidArgument, "endpoint must be an https URL (http only in dev mode)")
	}
	host := u.Hostname()
	if !hostAllowed(s.cfg.Hosts, host) {
		return protocol.Errorf(protocol.CodeInvalidArgument, "endpoint's host %q is not an allowed push service", host)
	}
	if s.cfg.AllowPrivate {
		return nil
	}
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return protocol.Errorf(protocol.CodeInvalidArgument, "endpoint's host is not public")
	}
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil && !publicAddr(ip) {
		return protocol.Errorf(protocol.CodeInvalidArgument, "endpoint's host is not a public address")
	}
	return nil
}

// refused reports whether err is the guard's: the endpoint will never be
// delivered to under this configuration.
func refused(err error) bool {
	return errors.Is(err, errRefusedAddress) || errors.Is(err, errRefusedHost)
}

// sendContext bounds one request to a push service by SendTimeout and by
// the Service's abort (a Close whose context ended).
func (s *Service) sendContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), SendTimeout)
	stop := context.AfterFunc(s.abortCtx, cancel)
	return ctx, func() { stop(); cancel() }
}
