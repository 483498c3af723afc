// Package pushtest is a Web Push service on loopback for tests: the
// receive side of RFC 8030 that browsers' push services run. It checks
// each push as a push service would (TTL, Urgency, Topic,
// Content-Encoding aes128gcm, the VAPID JWT of RFC 8292) and decrypts its
// RFC 8291 payload with the private key of the subscription, which the
// test made, so that a test sees exactly what a browser's service worker
// would get. It answers 201, or what the test asks (404, 410, 429).
// NewPusher and Start set up the server side that pushes to it.
package pushtest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxBody is the largest push body push services take (RFC 8030 section
// 7.2 requires at least 4096 bytes; the big services take no more).
const MaxBody = 4096

// Service is a running push service emulator.
type Service struct {
	// URL is its base URL; endpoints are URL/push/<id>.
	URL string

	tb  testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	vapidKey string // the k the application server must send; "" before SetVAPIDKey
	subs     map[string]*Subscription
	pushes   chan *Push
	count    int
}

// Subscription is a browser's subscription at the Service, with the
// keys only the browser would have.
type Subscription struct {
	Endpoint string
	P256dh   string // base64url, as PushSubscription.toJSON() gives it
	Auth     string

	priv   *ecdh.PrivateKey
	secret []byte
	svc    *Service
	status int // the answer to its pushes
}

// Push is a push the Service received and checked.
type Push struct {
	Sub     *Subscription
	Status  int // what the Service answered
	TTL     int
	Urgency string
	Topic   string
	// Payload is the decrypted message.
	Payload []byte
	// Err is what was wrong with the push (then Status is 400 or 401).
	Err error
}

// New starts a Service on loopback and closes it when the test ends.
func New(tb testing.TB) *Service {
	tb.Helper()
	s := &Service{tb: tb, subs: make(map[string]*Subscription), pushes: make(chan *Push, 1024)}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	tb.Cleanup(s.srv.Close)
	return s
}

// SetVAPIDKey sets the application server's public key (base64url) that
// every push must carry in its VAPID "k" and be signed with.
func (s *Service) SetVAPIDKey(k string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vapidKey = k
}

// Subscribe makes a subscription, as PushManager.subscribe would.
func (s *Service) Subscribe() *Subscription {
	s.tb.Helper()
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		s.tb.Fatalf("pushtest: %v", err)
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	sub := &Subscription{
		Endpoint: s.URL + "/push/" + hex.EncodeToString(id),
		P256dh:   base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()),
		Auth:     base64.RawURLEncoding.EncodeToString(secret),
		priv:     priv, secret: secret, svc: s, status: http.StatusCreated,
	}
	s.mu.Lock()
	s.subs[hex.EncodeToString(id)] = sub
	s.mu.Unlock()
	return sub
}

// Respond makes the Service answer status to the pushes to sub from now
// on: 201 (taken), 404 or 410 (the subscription is gone), 429 (too many).
func (sub *Subscription) Respond(status int) {
	sub.svc.mu.Lock()
	defer sub.svc.mu.Unlock()
	sub.status = status
}

// Next returns the next push received, failing the test if none comes
// within timeout or the push was wrong.
func (s *Service) Next(timeout time.Duration) *Push {
	s.tb.Helper()
	p := s.NextAny(timeout)
	if p.Err != nil {
		s.tb.Fatalf("pushtest: a bad push: %v", p.Err)
	}
	return p
}

// NextAny is Next, bad pushes included.
func (s *Service) NextAny(timeout time.Duration) *Push {
	s.tb.Helper()
	select {
	case p := <-s.pushes:
		return p
	case <-time.After(timeout):
		s.tb.Fatalf("pushtest: no push within %v", timeout)
		return nil
	}
}

// Count is how many pushes the Service has received.
func (s *Service) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

func (s *Service) serve(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutPrefix(r.URL.Path, "/push/")
	s.mu.Lock()
	sub := s.subs[id]
	s.mu.Unlock()
	if !ok || sub == nil || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	p := &Push{Sub: sub}
	p.Status, p.Err = s.check(r, p)
	s.mu.Lock()
	s.count++
	if p.Err == nil {
		p.Status = sub.status
	}
	s.mu.Unlock()
	if p.Status == http.StatusCreated {
		w.Header().Set("Location", s.URL+"/message/"+id)
	}
	if p.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(p.Status)
	s.pushes <- p
}

// check verifies r as a push service would, and decrypts its payload.
func (s *Service) check(r *http.Request, p *Push) (int, error) {
	ttl, err := strconv.Atoi(r.Header.Get("TTL"))
	if err != nil || ttl < 0 {
		return http.StatusBadRequest, fmt.Errorf("TTL header %q is not a non-negative integer", r.Header.Get("TTL"))
	}
	p.TTL = ttl
	p.Urgency = r.Header.Get("Urgency")
	switch p.Urgency {
	case "", "very-low", "low", "normal", "high":
	default:
		return http.StatusBadRequest, fmt.Errorf("Urgency %q", p.Urgency)
	}
	p.Topic = r.Header.Get("Topic")
	if len(p.Topic) > 32 || strings.Trim(p.Topic, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		return http.StatusBadRequest, fmt.Errorf("Topic %q is not at most 32 base64url characters", p.Topic)
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "aes128gcm" {
		return http.StatusBadRequest, fmt.Errorf("Content-Encoding %q, want aes128gcm", ce)
	}
	if err := s.checkVAPID(r.Header.Get("Authorization"), p.Sub.Endpoint); err != nil {
		return http.StatusUnauthorized, err
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return http.StatusBadRequest, err
	}
	if len(body) > MaxBody {
		return http.StatusRequestEntityTooLarge, fmt.Errorf("body over %d bytes", MaxBody)
	}
	p.Payload, err = p.Sub.decrypt(body)
	if err != nil {
		return http.StatusBadRequest, err
	}
	return http.StatusCreated, nil
}

// checkVAPID verifies "vapid t=<JWT>, k=<key>" (RFC 8292): k is the
// expected key, the JWT is ES256 signed with it, aud is the endpoint's
// origin, exp within 24 hours, and sub a contact.
func (s *Service) checkVAPID(h, endpoint string) error {
	rest, ok := strings.CutPrefix(h, "vapid ")
	if !ok {
		return fmt.Errorf("Authorization %q is not vapid", h)
	}
	var t, k string
	for part := range strings.SplitSeq(rest, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch name {
		case "t":
			t = value
		case "k":
			k = value
		}
	}
	s.mu.Lock()
	want := s.vapidKey
	s.mu.Unlock()
	if want == "" || k != want {
		return fmt.Errorf("VAPID k %q is not the server's key %q", k, want)
	}
	raw, err := base64.RawURLEncoding.DecodeString(k)
	if err != nil {
		return fmt.Errorf("VAPID k: %w", err)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil {
		return fmt.Errorf("VAPID k: %w", err)
	}
	origin := endpoint[:strings.Index(endpoint, "/push/")]
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(t, claims, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience(origin), jwt.WithExpirationRequired())
	if err != nil {
		return fmt.Errorf("VAPID JWT: %w", err)
	}
	exp, _ := claims.GetExpirationTime()
	if time.Until(exp.Time) > 24*time.Hour {
		return fmt.Errorf("VAPID JWT exp %v is more than 24 hours away", exp.Time)
	}
	if sub, _ := claims.GetSubject(); strings.HasPrefix(sub, "mailto:mailto:") ||
		(!strings.HasPrefix(sub, "mailto:") && !strings.HasPrefix(sub, "https:")) {
		return fmt.Errorf("VAPID JWT sub %q is not a mailto: or https: contact", sub)
	}
	return nil
}

// decrypt undoes RFC 8291 (with RFC 8188's aes128gcm framing), as the
// browser does with the subscription's private key and auth secret.
func (sub *Subscription) decrypt(body []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("aes128gcm header too short")
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if idlen != 65 || len(body) < 21+idlen {
		return nil, fmt.Errorf("keyid is %d bytes, want the sender's 65-byte public key", idlen)
	}
	asPub, err := ecdh.P256().NewPublicKey(body[21 : 21+idlen])
	if err != nil {
		return nil, fmt.Errorf("sender key: %w", err)
	}
	ct := body[21+idlen:]
	if rs < 18 || uint32(len(ct)) > rs {
		return nil, fmt.Errorf("record size %d for %d bytes: one record expected", rs, len(ct))
	}
	ecdhSecret, err := sub.priv.ECDH(asPub)
	if err != nil {
		return nil, err
	}
	keyInfo := "WebPush: info\x00" + string(sub.priv.PublicKey().Bytes()) + string(asPub.Bytes())
	ikm, err := hkdf.Key(sha256.New, ecdhSecret, sub.secret, keyInfo, 32)
	if err != nil {
		return nil, err
	}
	cek, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, err
	}
	nonce, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, nonce, ct, nil)
	if err != nil {
		return nil, fmt.Errorf("payload does not decrypt: %w", err)
	}
	plain = bytes.TrimRight(plain, "\x00")
	if len(plain) == 0 || plain[len(plain)-1] != 0x02 {
		return nil, errors.New("the last record has no 0x02 padding delimiter")
	}
	return plain[:len(plain)-1], nil
}
