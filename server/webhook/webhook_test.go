package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// delivery is one POST the receiver got, with its verdicts.
type delivery struct {
	header  http.Header
	body    []byte
	env     Envelope
	stdErr  error // the Standard Webhooks library's verification
	ownErr  error // the independent verification below
	attempt int   // how many times this id was seen, this one included
}

// receiver is a real HTTP endpoint on loopback that verifies every POST.
// answer decides each response (nil: 204); it may block on the request.
type receiver struct {
	t      *testing.T
	secret string
	srv    *httptest.Server
	answer func(w http.ResponseWriter, r *http.Request, d delivery)

	mu   sync.Mutex
	got  []delivery
	seen map[string]int
	ch   chan delivery
}

func newReceiver(t *testing.T, secret string, answer func(http.ResponseWriter, *http.Request, delivery)) *receiver {
	rc := &receiver{t: t, secret: secret, answer: answer, seen: make(map[string]int), ch: make(chan delivery, 256)}
	std, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		d := delivery{header: r.Header.Clone(), body: body}
		d.stdErr = std.Verify(body, r.Header)
		d.ownErr = verifyOwn(secret, body, r.Header)
		_ = json.Unmarshal(body, &d.env)
		rc.mu.Lock()
		rc.seen[r.Header.Get("webhook-id")]++
		d.attempt = rc.seen[r.Header.Get("webhook-id")]
		rc.got = append(rc.got, d)
		rc.mu.Unlock()
		rc.ch <- d
		if rc.answer != nil {
			rc.answer(w, r, d)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// next waits for the next delivery.
func (rc *receiver) next() delivery {
	rc.t.Helper()
	select {
	case d := <-rc.ch:
		return d
	case <-time.After(10 * time.Second):
		rc.t.Fatal("no delivery within 10 s")
		return delivery{}
	}
}

// verifyOwn checks a signature the way the spec describes it, without the
// library: HMAC-SHA256 over "id.timestamp.body" with the decoded secret.
func verifyOwn(secret string, body []byte, h http.Header) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	ts, err := strconv.ParseInt(h.Get("webhook-timestamp"), 10, 64)
	if err != nil {
		return err
	}
	if d := time.Since(time.Unix(ts, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("timestamp %d is not within 5 minutes", ts)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.%s", h.Get("webhook-id"), ts, body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return fmt.Errorf("no matching signature in %q", h.Get("webhook-signature"))
}

func newSender(t *testing.T, cfg Config) *Sender {
	t.Helper()
	if cfg.Secret == "" {
		cfg.Secret = NewSecret()
	}
	cfg.counted = counted
	s, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, s.Close(ctx))
	})
	return s
}

func count(s *Sender, ep, result string) float64 {
	return testutil.ToFloat64(s.m.events.WithLabelValues(ep, result))
}

func attempts(s *Sender, ep, result string) float64 {
	return testutil.ToFloat64(s.m.attempts.WithLabelValues(ep, result))
}

// counted is signaled by every sender the tests make after each attempt
// and each event's result are counted.
var counted = make(chan struct{}, 1)

// waitFor waits until cond holds, looking again each time a sender counts.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-counted:
		case <-deadline:
			t.Fatalf("%s: not within 10 s", what)
		}
	}
}

func TestEventsAreSignedAndDeliveredToEveryEndpoint(t *testing.T) {
	secret := NewSecret()
	a := newReceiver(t, secret, nil)
	b := newReceiver(t, secret, nil)
	s := newSender(t, Config{URLs: []string{a.srv.URL, b.srv.URL}, Secret: secret})

	ids := map[string]bool{}
	for i := range 3 {
		id, err := s.Send("invitation.sent", map[string]any{"n": i})
		require.NoError(t, err)
		assert.False(t, ids[id], "ids are unique")
		ids[id] = true
	}
	for _, rc := range []*receiver{a, b} {
		got := map[string]bool{}
		for range 3 {
			d := rc.next()
			assert.NoError(t, d.stdErr, "the Standard Webhooks library verifies the signature")
			assert.NoError(t, d.ownErr, "an independent HMAC verifies the signature")
			assert.Equal(t, d.header.Get("webhook-id"), d.env.ID)
			assert.Equal(t, "invitation.sent", d.env.Type)
			assert.Equal(t, "application/json", d.header.Get("Content-Type"))
			assert.WithinDuration(t, time.Now(), d.env.Timestamp, time.Minute)
			got[d.env.ID] = true
		}
		assert.Equal(t, ids, got, "every event reaches every endpoint once")
	}
	waitFor(t, "delivered counted", func() bool { return count(s, "0", "delivered") == 3 && count(s, "1", "delivered") == 3 })

	// A tampered body or another secret fails verification.
	d := a.got[0]
	other, err := standardwebhooks.NewWebhook(NewSecret())
	require.NoError(t, err)
	assert.Error(t, other.Verify(d.body, d.header))
	std, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	assert.Error(t, std.Verify(append([]byte(" "), d.body...), d.header))
}

func TestRetriesAfter500WithTheSameID(t *testing.T) {
	secret := NewSecret()
	rc := newReceiver(t, secret, func(w http.ResponseWriter, r *http.Request, d delivery) {
		if d.attempt == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	s := newSender(t, Config{URLs: []string{rc.srv.URL}, Secret: secret, InitialBackoff: 10 * time.Millisecond})
	id, err := s.Send("session.started", map[string]string{"user": "alice"})
	require.NoError(t, err)
	first, second := rc.next(), rc.next()
	assert.Equal(t, id, first.header.Get("webhook-id"))
	assert.Equal(t, id, second.header.Get("webhook-id"), "a retry keeps the id, so receivers deduplicate")
	assert.Equal(t, first.body, second.body)
	assert.NoError(t, second.stdErr, "a retry is signed again")
	waitFor(t, "delivered", func() bool { return count(s, "0", "delivered") == 1 })
	assert.Equal(t, 1.0, attempts(s, "0", "status_500"))
	assert.Equal(t, 1.0, attempts(s, "0", "ok"))
}

func TestRetriesAfterATimeout(t *testing.T) {
	secret := NewSecret()
	rc := newReceiver(t, secret, func(w http.ResponseWriter, r *http.Request, d delivery) {
		if d.attempt == 1 {
			<-r.Context().Done() // never answers: the sender gives up on this attempt
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	s := newSender(t, Config{URLs: []string{rc.srv.URL}, Secret: secret, Timeout: 200 * time.Millisecond, InitialBackoff: 10 * time.Millisecond})
	id, err := s.Send("session.ended", map[string]string{"user": "alice"})
	require.NoError(t, err)
	assert.Equal(t, id, rc.next().header.Get("webhook-id"))
	assert.Equal(t, id, rc.next().header.Get("webhook-id"))
	waitFor(t, "delivered", func() bool { return count(s, "0", "delivered") == 1 })
	assert.Equal(t, 1.0, attempts(s, "0", "timeout"))
}

func TestRedirectIsAFailure(t *testing.T) {
	secret := NewSecret()
	elsewhere := newReceiver(t, secret, nil)
	rc := newReceiver(t, secret, func(w http.ResponseWriter, r *http.Request, d delivery) {
		http.Redirect(w, r, elsewhere.srv.URL, http.StatusTemporaryRedirect)
	})
	s := newSender(t, Config{URLs: []string{rc.srv.URL}, Secret: secret, MaxAttempts: 1})
	_, err := s.Send("a", 0)
	require.NoError(t, err)
	rc.next()
	waitFor(t, "failed", func() bool { return count(s, "0", "failed") == 1 })
	assert.Equal(t, 1.0, attempts(s, "0", "status_307"))
	assert.Empty(t, elsewhere.got, "the event is not sent on")
}

func TestGivesUpAfterMaxAttemptsWithBackoff(t *testing.T) {
	secret := NewSecret()
	rc := newReceiver(t, secret, func(w http.ResponseWriter, r *http.Request, d delivery) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	s := newSender(t, Config{URLs: []string{rc.srv.URL}, Secret: secret, MaxAttempts: 3,
		InitialBackoff: 40 * time.Millisecond, MaxBackoff: 60 * time.Millisecond})
	_, err := s.Send("invitation.ended", map[string]string{})
	require.NoError(t, err)
	var at []time.Time
	for range 3 {
		rc.next()
		at = append(at, time.Now())
	}
	waitFor(t, "failed", func() bool { return count(s, "0", "failed") == 1 })
	assert.Equal(t, 3.0, attempts(s, "0", "status_503"))
	assert.GreaterOrEqual(t, at[1].Sub(at[0]), 40*time.Millisecond, "first backoff")
	assert.GreaterOrEqual(t, at[2].Sub(at[1]), 60*time.Millisecond, "doubled, capped at MaxBackoff")
	select {
	case d := <-rc.ch:
		t.Fatalf("a 4th attempt: %s", d.header.Get("webhook-id"))
	default:
	}
}

func TestFullQueueDropsWithoutBlocking(t *testing.T) {
	secret := NewSecret()
	release := make(chan struct{})
	rc := newReceiver(t, secret, func(w http.ResponseWriter, r *http.Request, d delivery) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	s := newSender(t, Config{URLs: []string{rc.srv.URL}, Secret: secret, Workers: 1, QueueSize: 2})
	defer close(release)
	_, err := s.Send("a", 0) // in flight, holding the only worker
	require.NoError(t, err)
	rc.next()
	for range 2 { // fill the queue: the bound
		_, err := s.Send("b", 0)
		require.NoError(t, err)
	}
	assert.Equal(t, 0.0, count(s, "0", "dropped"))
	start := time.Now()
	_, err = s.Send("c", 0) // one past it
	require.NoError(t, err)
	assert.Less(t, time.Since(start), time.Second, "Send does not wait for a full queue")
	assert.Equal(t, 1.0, count(s, "0", "dropped"))
}

func TestCloseAbandonsRetriesAtItsDeadline(t *testing.T) {
	secret := NewSecret()
	rc := newReceiver(t, secret, func(w http.ResponseWriter, r *http.Request, d delivery) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	s, err := New(Config{URLs: []string{rc.srv.URL}, Secret: secret, InitialBackoff: time.Hour, counted: counted})
	require.NoError(t, err)
	_, err = s.Send("a", 0)
	require.NoError(t, err)
	rc.next()
	waitFor(t, "first attempt counted", func() bool { return attempts(s, "0", "status_500") == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, s.Close(ctx), context.DeadlineExceeded)
	assert.Equal(t, 1.0, count(s, "0", "failed"), "the event waiting for its retry is abandoned")
	_, err = s.Send("after close", 0)
	require.NoError(t, err)
	assert.Equal(t, 1.0, count(s, "0", "dropped"), "a closed sender drops")
}

func TestConfigLimits(t *testing.T) {
	secretOf := func(n int) string { return SecretPrefix + base64.StdEncoding.EncodeToString(make([]byte, n)) }
	urls := func(n int) []string {
		var u []string
		for i := range n {
			u = append(u, fmt.Sprintf("http://127.0.0.1:1/%d", i))
		}
		return u
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"24-byte secret", Config{URLs: urls(1), Secret: secretOf(MinSecretBytes)}, true},
		{"23-byte secret", Config{URLs: urls(1), Secret: secretOf(MinSecretBytes - 1)}, false},
		{"64-byte secret", Config{URLs: urls(1), Secret: secretOf(MaxSecretBytes)}, true},
		{"65-byte secret", Config{URLs: urls(1), Secret: secretOf(MaxSecretBytes + 1)}, false},
		{"no prefix", Config{URLs: urls(1), Secret: strings.TrimPrefix(secretOf(32), SecretPrefix)}, false},
		{"not base64", Config{URLs: urls(1), Secret: SecretPrefix + "!!!"}, false},
		{"16 endpoints", Config{URLs: urls(MaxEndpoints), Secret: secretOf(32)}, true},
		{"17 endpoints", Config{URLs: urls(MaxEndpoints + 1), Secret: secretOf(32)}, false},
		{"no endpoint", Config{Secret: secretOf(32)}, false},
		{"ftp URL", Config{URLs: []string{"ftp://127.0.0.1/x"}, Secret: secretOf(32)}, false},
		{"negative timeout", Config{URLs: urls(1), Secret: secretOf(32), Timeout: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Registerer = prometheus.NewRegistry()
			s, err := New(tc.cfg)
			if !tc.ok {
				assert.ErrorIs(t, err, ErrInvalidConfig)
				assert.NotContains(t, fmt.Sprint(err), "127.0.0.1", "errors never show an endpoint URL")
				return
			}
			require.NoError(t, err)
			require.NoError(t, s.Close(context.Background()))
		})
	}
}
