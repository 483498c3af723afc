// Package push wakes a callee's closed tabs through Web Push (RFC 8030),
// with payloads encrypted to each subscription (RFC 8291) and the server
// identified by VAPID (RFC 8292), both done by
// github.com/SherClockHolmes/webpush-go. A Service is the node's
// server.Waker and server.PushRegistry: the node decides when to wake and
// how invitations end; the Service only delivers, and keeps the
// subscriptions in a store.Store. docs/PUSH.md describes it.
package push

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/store"
)

// Defaults and bounds.
const (
	// MaxPayloadBytes bounds a push's JSON before encryption: Web Push
	// allows 4096 bytes of ciphertext in one record, 3993 of them payload
	// after the header, tag and padding delimiter; the rest is margin.
	// An invite over it has its content cut and "truncated": true.
	MaxPayloadBytes = 3072
	// CloseTTL is how long a push service keeps a close push for a device
	// that is off: as long as the longest invitation.
	CloseTTL = protocol.MaxTimeout
	// SendTimeout bounds one request to a push service.
	SendTimeout = 10 * time.Second
)

// Names of the secrets in the store.
const (
	secretVAPID  = "vapid"
	secretRefuse = "refuse-key"
)

// Config configures a Service.
type Config struct {
	// Subscriber is the VAPID contact the push services see (RFC 8292
	// "sub"): an e-mail address or an https URL. Required.
	Subscriber string
	// VAPIDPublicKey and VAPIDPrivateKey, in base64url (an uncompressed
	// P-256 point and its 32-byte scalar), supply the server's keys; both
	// empty: a pair is generated on first start and kept in the store.
	VAPIDPublicKey, VAPIDPrivateKey string
	// PublicURL is the server's absolute base URL as browsers reach it,
	// e.g. "https://call.example.com": pushes carry PublicURL/push/refuse.
	PublicURL string
	// AllowHTTP accepts http endpoints, for a push service on loopback in
	// tests and dev mode; otherwise only https endpoints are accepted.
	AllowHTTP bool
	// AllowPrivate lets pushes go to loopback, private, link-local and
	// other non-public addresses (guard.go), for a push service emulator
	// in tests; otherwise they are refused at subscribe and at dial.
	AllowPrivate bool
	// Hosts, when not empty, are the push services' host names allowed in
	// endpoints: a host matches a name equal to it or under it
	// ("push.apple.com" allows "web.push.apple.com").
	Hosts []string
	// MaxPerUser bounds the subscriptions of a user (default
	// protocol.MaxPushSubscriptions).
	MaxPerUser int
	// Logger receives the Service's logs; nil: slog.Default(). Keys,
	// capabilities and endpoint paths are never logged.
	Logger *slog.Logger
}

// Service sends Web Push for a node. Make it with New, give it to the
// node's Config as Waker and Push, then Start it with the node and store.
type Service struct {
	cfg  Config
	log  *slog.Logger
	http *http.Client
	// refuseTimeout bounds a refuse's wait for the invitation's owner
	// (SendTimeout; tests shorten it).
	refuseTimeout time.Duration

	mu        sync.Mutex
	node      *server.Node
	st        store.Store
	vapidPub  string // base64url
	vapidPriv string
	capKey    []byte
	jobs      map[string]*job // by invitation id: woken, not yet ended
	stopped   bool

	closing  chan struct{}   // closed by Close: no close push will come for the jobs left
	abortCtx context.Context // ended when Close's context ends: sends are cut short
	abort    context.CancelFunc
	wg       sync.WaitGroup
}

var (
	_ server.Waker        = (*Service)(nil)
	_ server.PushRegistry = (*Service)(nil)
)

// New checks cfg and returns a Service that is not started.
func New(cfg Config) (*Service, error) {
	// webpush-go prefixes "mailto:" to any contact that is not an https URL.
	cfg.Subscriber = strings.TrimPrefix(cfg.Subscriber, "mailto:")
	if cfg.Subscriber == "" {
		return nil, errors.New("push: a Subscriber (contact e-mail or https URL) is required")
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("push: PublicURL must be the server's absolute http(s) URL")
	}
	if (cfg.VAPIDPublicKey == "") != (cfg.VAPIDPrivateKey == "") {
		return nil, errors.New("push: give both VAPID keys or neither")
	}
	if cfg.VAPIDPrivateKey != "" {
		if err := checkVAPID(cfg.VAPIDPublicKey, cfg.VAPIDPrivateKey); err != nil {
			return nil, err
		}
	}
	if cfg.MaxPerUser <= 0 {
		cfg.MaxPerUser = protocol.MaxPushSubscriptions
	}
	hosts := make([]string, 0, len(cfg.Hosts))
	for _, raw := range cfg.Hosts {
		h := strings.ToLower(strings.Trim(strings.TrimPrefix(strings.TrimSpace(raw), "*"), "."))
		if h == "" || strings.ContainsAny(h, "/:@ ") {
			return nil, fmt.Errorf("push: Hosts: %q is not a host name", raw)
		}
		hosts = append(hosts, h)
	}
	cfg.Hosts = hosts
	s := &Service{cfg: cfg, log: cfg.Logger, http: newHTTPClient(cfg.AllowPrivate), refuseTimeout: SendTimeout,
		jobs: make(map[string]*job), closing: make(chan struct{})}
	s.abortCtx, s.abort = context.WithCancel(context.Background())
	if s.log == nil {
		s.log = slog.Default()
	}
	return s, nil
}

// checkVAPID checks that pub is the public key of priv (not the keys' values).
func checkVAPID(pub, priv string) error {
	d, err1 := protocol.DecodeBase64URL(priv)
	p, err2 := protocol.DecodeBase64URL(pub)
	if err1 != nil || err2 != nil {
		return errors.New("push: the VAPID keys are not base64url")
	}
	k, err := ecdh.P256().NewPrivateKey(d)
	if err != nil || !slices.Equal(k.PublicKey().Bytes(), p) {
		return errors.New("push: the VAPID keys are not a P-256 key pair")
	}
	return nil
}

// vapidKeys is the store's record of the generated pair.
type vapidKeys struct {
	Public  string `json:"public"`
	Private string `json:"private"`
}

// Start loads or makes the keys in st and starts serving node: from now
// on it wakes, registers and refuses. The Service does not close st.
func (s *Service) Start(ctx context.Context, node *server.Node, st store.Store) error {
	pub, priv := s.cfg.VAPIDPublicKey, s.cfg.VAPIDPrivateKey
	if priv == "" {
		b, err := st.Secret(ctx, secretVAPID, func() ([]byte, error) {
			priv, pub, err := webpush.GenerateVAPIDKeys()
			if err != nil {
				return nil, err
			}
			return json.Marshal(vapidKeys{Public: pub, Private: priv})
		})
		if err != nil {
			return fmt.Errorf("failed to load the VAPID keys: %w", err)
		}
		var k vapidKeys
		if err := json.Unmarshal(b, &k); err != nil {
			return fmt.Errorf("failed to load the VAPID keys: %w", err)
		}
		if err := checkVAPID(k.Public, k.Private); err != nil {
			return fmt.Errorf("the stored VAPID keys: %w", err)
		}
		pub, priv = k.Public, k.Private
	}
	capKey, err := st.Secret(ctx, secretRefuse, func() ([]byte, error) { return randomBytes(32) })
	if err != nil {
		return fmt.Errorf("failed to load the refuse key: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.node, s.st, s.vapidPub, s.vapidPriv, s.capKey = node, st, pub, priv, capKey
	s.log.Info("web push ready", "vapid_public_key", pub, "supplied", s.cfg.VAPIDPrivateKey != "")
	return nil
}

// PublicKey returns the VAPID public key in base64url (empty before Start).
func (s *Service) PublicKey() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.vapidPub
}

// Close takes no new wake and waits, until ctx ends, for the pushes under
// way, the close pushes queued already included: call it after the node's
// Shutdown, so that the invitations Shutdown ends close their
// notifications. When ctx ends first, the sends are cut short, Close waits
// for them to return, and it returns ctx's error.
func (s *Service) Close(ctx context.Context) error {
	s.mu.Lock()
	if !s.stopped {
		s.stopped = true
		close(s.closing)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		s.abort()
		<-done // every send returns at once once aborted
		err = ctx.Err()
	}
	s.abort()
	s.http.CloseIdleConnections()
	return err
}

func (s *Service) started() (store.Store, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st, s.st != nil && !s.stopped
}

// Subscribe implements server.PushRegistry: the same endpoint again
// replaces its subscription; a new one past MaxPerUser is refused.
func (s *Service) Subscribe(ctx context.Context, user, session string, sub server.PushSubscription) error {
	st, ok := s.started()
	if !ok {
		return protocol.Errorf(protocol.CodePushUnavailable, "web push is not started")
	}
	if err := protocol.ValidatePushSubscription(sub.Endpoint, sub.P256dh, sub.Auth); err != nil {
		return err // the node checked already; other callers may not have
	}
	if key, _ := protocol.DecodeBase64URL(sub.P256dh); !onP256(key) {
		return protocol.Errorf(protocol.CodeInvalidArgument, "p256dh is not a point of P-256")
	}
	if err := s.checkEndpoint(sub.Endpoint); err != nil {
		return err
	}
	return st.Update(ctx, user, func(subs []store.Subscription) ([]store.Subscription, error) {
		subs = slices.DeleteFunc(subs, func(x store.Subscription) bool { return x.Endpoint == sub.Endpoint })
		if len(subs) >= s.cfg.MaxPerUser {
			return nil, protocol.Errorf(protocol.CodeTooManySubscriptions,
				"%s already has %d push subscriptions, the limit", user, s.cfg.MaxPerUser)
		}
		return append(subs, store.Subscription{Endpoint: sub.Endpoint, P256dh: sub.P256dh, Auth: sub.Auth,
			Session: session, Created: time.Now().UTC()}), nil
	})
}

// Unsubscribe implements server.PushRegistry; an unknown endpoint is no error.
func (s *Service) Unsubscribe(ctx context.Context, user, endpoint string) error {
	return s.remove(ctx, user, func(x store.Subscription) bool { return x.Endpoint == endpoint })
}

// UnsubscribeSession implements server.PushRegistry.
func (s *Service) UnsubscribeSession(ctx context.Context, user, session string) error {
	return s.remove(ctx, user, func(x store.Subscription) bool { return x.Session == session })
}

func (s *Service) remove(ctx context.Context, user string, drop func(store.Subscription) bool) error {
	st, ok := s.started()
	if !ok {
		return protocol.Errorf(protocol.CodePushUnavailable, "web push is not started")
	}
	return st.Update(ctx, user, func(subs []store.Subscription) ([]store.Subscription, error) {
		return slices.DeleteFunc(subs, drop), nil
	})
}

// CanWake implements server.Waker: user has a subscription. It reads the
// store's memory only.
func (s *Service) CanWake(user string) bool {
	st, ok := s.started()
	return ok && len(st.Subscriptions(user)) > 0
}

func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return b, nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// onP256 reports whether key is a point of P-256, as the push service and
// RFC 8291 need; protocol.ValidatePushSubscription checks only its form.
func onP256(key []byte) bool {
	_, err := ecdh.P256().NewPublicKey(key)
	return err == nil
}
