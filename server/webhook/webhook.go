// Package webhook delivers events to HTTP endpoints, signed by the Standard
// Webhooks spec (https://www.standardwebhooks.com): every POST carries the
// headers webhook-id, webhook-timestamp and webhook-signature
// ("v1,<base64 HMAC-SHA256 of id.timestamp.body>").
//
// Delivery is at least once. Each endpoint has its own bounded queue and
// workers: Send never blocks, an event that finds a queue full is dropped
// for that endpoint and counted, and a slow or dead endpoint delays nobody
// but itself. A failed attempt (no answer within Timeout, a network error,
// any status but 2xx) is retried with exponential backoff, with the same
// webhook-id, until MaxAttempts; then the event is given up and counted.
package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Defaults for the zero fields of Config. With them an event is given up
// after 6 attempts: at most 1+2+4+8+16 = 31 s of backoff plus 6 timeouts
// of 10 s, 91 s in all.
const (
	DefaultQueueSize      = 1024
	DefaultWorkers        = 4
	DefaultTimeout        = 10 * time.Second
	DefaultMaxAttempts    = 6
	DefaultInitialBackoff = time.Second
	DefaultMaxBackoff     = 30 * time.Second
)

// Limits on a Config.
const (
	// MaxEndpoints bounds the endpoints of one sender.
	MaxEndpoints = 16
	// MinSecretBytes and MaxSecretBytes bound the decoded secret, as the
	// Standard Webhooks spec recommends (24 to 64 bytes).
	MinSecretBytes = 24
	MaxSecretBytes = 64
	// SecretPrefix starts every secret.
	SecretPrefix = "whsec_"
)

// ErrInvalidConfig wraps every problem New finds in a Config.
var ErrInvalidConfig = errors.New("webhook: invalid config")

// Config configures a Sender. Zero fields take the defaults above.
type Config struct {
	// URLs are the endpoints (http or https); every event goes to each.
	URLs []string
	// Secret is "whsec_" followed by the base64 of 24 to 64 random bytes.
	Secret string
	// QueueSize bounds the events waiting for each endpoint.
	QueueSize int
	// Workers is how many deliveries to each endpoint run at once.
	Workers int
	// Timeout bounds one attempt: connecting, sending, and the response.
	Timeout time.Duration
	// MaxAttempts is how many attempts an event gets (the first included).
	MaxAttempts int
	// InitialBackoff is the wait after the first failed attempt; it
	// doubles after each further one, up to MaxBackoff.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// Registerer receives the sender's metrics; nil: not registered.
	Registerer prometheus.Registerer
	// Logger receives the sender's logs; nil means slog.Default(). It never
	// sees the secret or an endpoint's URL (which may carry credentials):
	// endpoints are named by their index in URLs.
	Logger *slog.Logger
	// counted, for tests, is signaled after every attempt is counted.
	counted chan<- struct{}

	// Client makes the requests; nil means a client of its own, which
	// follows no redirect (a 3xx is a failed attempt: a signed event is not
	// sent on to another address).
	Client *http.Client
}

// Sender delivers events to its endpoints. It is safe for concurrent use.
type Sender struct {
	cfg    Config
	wh     *standardwebhooks.Webhook
	log    *slog.Logger
	client *http.Client
	eps    []*endpoint
	m      metrics

	ctx    context.Context // canceled by Close when its ctx ends: attempts and backoffs stop
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.RWMutex // guards closed against Send's queueing
	closed bool
}

type endpoint struct {
	name string // its index in Config.URLs, for logs and metrics
	url  string
	q    chan *message

	dropped  prometheus.Counter
	lastWarn atomic.Int64 // when a drop was last logged (unix nanoseconds): at most once a second
}

// message is one event as sent: its id and body never change between attempts.
type message struct {
	id   string
	typ  string
	body []byte
}

// Envelope is the JSON body of every POST, as the Standard Webhooks spec
// suggests: the event's type, when it happened, and its data.
type Envelope struct {
	ID        string          `json:"id"` // also the webhook-id header
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// New returns a Sender for cfg and starts its workers; Close stops them.
func New(cfg Config) (*Sender, error) {
	bad := func(format string, args ...any) (*Sender, error) {
		return nil, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	switch {
	case len(cfg.URLs) == 0:
		return bad("no endpoint URL")
	case len(cfg.URLs) > MaxEndpoints:
		return bad("%d endpoints, at most %d", len(cfg.URLs), MaxEndpoints)
	case cfg.QueueSize < 0 || cfg.Workers < 0 || cfg.MaxAttempts < 0:
		return bad("QueueSize, Workers and MaxAttempts must not be negative")
	case cfg.Timeout < 0 || cfg.InitialBackoff < 0 || cfg.MaxBackoff < 0:
		return bad("Timeout, InitialBackoff and MaxBackoff must not be negative")
	}
	for i, u := range cfg.URLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return bad("endpoint %d is not an http or https URL", i) // the URL itself may hold credentials
		}
	}
	key, err := ParseSecret(cfg.Secret)
	if err != nil {
		return nil, err
	}
	wh, err := standardwebhooks.NewWebhookRaw(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	cfg.URLs = append([]string(nil), cfg.URLs...)
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.QueueSize, DefaultQueueSize)
	def(&cfg.Workers, DefaultWorkers)
	def(&cfg.MaxAttempts, DefaultMaxAttempts)
	defd(&cfg.Timeout, DefaultTimeout)
	defd(&cfg.InitialBackoff, DefaultInitialBackoff)
	defd(&cfg.MaxBackoff, DefaultMaxBackoff)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Sender{cfg: cfg, wh: wh, log: cfg.Logger, client: cfg.Client, m: newMetrics()}
	if s.client == nil {
		s.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for i, u := range cfg.URLs {
		ep := &endpoint{name: strconv.Itoa(i), url: u, q: make(chan *message, cfg.QueueSize)}
		ep.dropped = s.m.events.WithLabelValues(ep.name, "dropped")
		s.eps = append(s.eps, ep)
		for range cfg.Workers {
			s.wg.Go(func() { s.work(ep) })
		}
	}
	if cfg.Registerer != nil {
		if err := s.m.register(cfg.Registerer, s); err != nil {
			s.cancel()
			for _, ep := range s.eps {
				close(ep.q)
			}
			s.wg.Wait()
			return nil, err
		}
	}
	return s, nil
}

// ParseSecret decodes a "whsec_..." secret into its key, checking its
// length (MinSecretBytes to MaxSecretBytes).
func ParseSecret(secret string) ([]byte, error) {
	b64, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: the secret must start with %q", ErrInvalidConfig, SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: the secret after %q is not standard base64", ErrInvalidConfig, SecretPrefix)
	}
	if len(key) < MinSecretBytes || len(key) > MaxSecretBytes {
		return nil, fmt.Errorf("%w: the secret decodes to %d bytes, not %d to %d", ErrInvalidConfig, len(key), MinSecretBytes, MaxSecretBytes)
	}
	return key, nil
}

// NewSecret returns a fresh secret of 32 random bytes.
func NewSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// Send queues an event of type typ (printable ASCII) with data (marshaled to JSON) for every
// endpoint and returns its id. It never blocks: an endpoint whose queue is
// full, or a closed sender, drops the event, counted in
// rtmcall_webhook_events_total{result="dropped"}.
func (s *Sender) Send(typ string, data any) (string, error) {
	for _, c := range []byte(typ) {
		if c < ' ' || c > '~' || c == '"' || c == '\\' {
			return "", fmt.Errorf("webhook: event type %q is not printable ASCII without quotes", typ)
		}
	}
	id := "msg_" + randomID()
	if s.allFull() { // every endpoint would drop it: spare the encoding
		s.drop(id, typ)
		return id, nil
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return "", fmt.Errorf("webhook: event %s: %w", typ, err)
	}
	m := &message{id: id, typ: typ, body: envelope(id, typ, time.Now(), raw)}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, ep := range s.eps {
		if s.closed {
			ep.dropped.Inc() // shutting down: not worth a warning
			continue
		}
		select {
		case ep.q <- m:
		default:
			s.dropAt(ep, id, typ)
		}
	}
	return id, nil
}

// allFull reports whether every endpoint's queue is full (or the sender
// closed): a dead endpoint then costs an event no encoding.
func (s *Sender) allFull() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, ep := range s.eps {
		if !s.closed && len(ep.q) < cap(ep.q) {
			return false
		}
	}
	return true
}

// drop drops event id at every endpoint.
func (s *Sender) drop(id, typ string) {
	for _, ep := range s.eps {
		s.dropAt(ep, id, typ)
	}
}

// dropAt counts a dropped event, and logs it at most once a second.
func (s *Sender) dropAt(ep *endpoint, id, typ string) {
	ep.dropped.Inc()
	if now, last := time.Now().UnixNano(), ep.lastWarn.Load(); now-last >= int64(time.Second) && ep.lastWarn.CompareAndSwap(last, now) {
		s.log.Warn("webhook queue full: events dropped (logged at most once a second; counted in rtmcall_webhook_events_total)",
			"endpoint", ep.name, "id", id, "type", typ, "queue", s.cfg.QueueSize)
	}
}

// envelope writes the body of an Envelope by hand: data is already JSON,
// and the event's path stays cheap (encoding/json would check data again).
func envelope(id, typ string, t time.Time, data []byte) []byte {
	b := make([]byte, 0, len(data)+128)
	b = append(b, `{"id":`...)
	b = strconv.AppendQuote(b, id)
	b = append(b, `,"type":`...)
	b = strconv.AppendQuote(b, typ)
	b = append(b, `,"timestamp":"`...)
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","data":`...)
	b = append(b, data...)
	return append(b, '}')
}

// Close stops taking events and delivers what is queued, retries
// included, until ctx ends: then it abandons the rest (counted as failed)
// and returns ctx's error once every worker has returned.
func (s *Sender) Close(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		for _, ep := range s.eps {
			close(ep.q)
		}
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		s.cancel()
		<-done
		err = ctx.Err()
	}
	s.cancel()
	s.client.CloseIdleConnections()
	return err
}

// work delivers ep's events until its queue is closed and drained.
func (s *Sender) work(ep *endpoint) {
	for m := range ep.q {
		s.deliver(ep, m)
	}
}

// deliver makes up to MaxAttempts attempts at m, backing off between them.
func (s *Sender) deliver(ep *endpoint, m *message) {
	wait := s.cfg.InitialBackoff
	for attempt := 1; ; attempt++ {
		result := s.attempt(ep, m)
		s.m.attempts.WithLabelValues(ep.name, result).Inc()
		if result == "ok" {
			s.m.events.WithLabelValues(ep.name, "delivered").Inc()
			s.signal()
			return
		}
		if attempt >= s.cfg.MaxAttempts || s.ctx.Err() != nil {
			s.m.events.WithLabelValues(ep.name, "failed").Inc()
			s.signal()
			s.log.Warn("webhook event given up", "endpoint", ep.name, "id", m.id, "type", m.typ, "attempts", attempt, "last", result)
			return
		}
		s.signal()
		s.log.Info("webhook attempt failed; retrying", "endpoint", ep.name, "id", m.id, "attempt", attempt, "result", result, "after", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			s.m.events.WithLabelValues(ep.name, "failed").Inc()
			s.signal()
			return
		}
		wait = min(2*wait, s.cfg.MaxBackoff)
	}
}

// signal tells a test that counters changed.
func (s *Sender) signal() {
	if s.cfg.counted != nil {
		select {
		case s.cfg.counted <- struct{}{}:
		default: // the test is not waiting: it checks the counters first
		}
	}
}

// attempt POSTs m once and names the result: ok, timeout, error, or
// status_NNN for a status other than 2xx.
func (s *Sender) attempt(ep *endpoint, m *message) string {
	now := time.Now()
	sig, err := s.wh.Sign(m.id, now, m.body)
	if err != nil {
		return "error"
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.url, bytes.NewReader(m.body))
	if err != nil {
		return "error"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "rtmcall-webhook")
	req.Header.Set(standardwebhooks.HeaderWebhookID, m.id)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	resp, err := s.client.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return "timeout"
		}
		return "error"
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return "status_" + strconv.Itoa(resp.StatusCode)
	}
	return "ok"
}

func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return strings.TrimRight(base64.RawURLEncoding.EncodeToString(b), "=")
}

type metrics struct {
	events   *prometheus.CounterVec
	attempts *prometheus.CounterVec
}

func newMetrics() metrics {
	return metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rtmcall_webhook_events_total",
			Help: "Webhook events by endpoint (its index in -webhook) and result: delivered, failed (every attempt failed, or abandoned at shutdown), dropped (queue full)."},
			[]string{"endpoint", "result"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rtmcall_webhook_attempts_total",
			Help: "Webhook delivery attempts by endpoint and result: ok, timeout, error, status_NNN."},
			[]string{"endpoint", "result"}),
	}
}

// Collectors are the sender's metrics, for a registry made after the
// sender (the node's: server.Node.Registerer).
func (s *Sender) Collectors() []prometheus.Collector {
	queued := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rtmcall_webhook_queued",
		Help: "Webhook events waiting in the queues of every endpoint."}, func() float64 {
		k := 0
		for _, ep := range s.eps {
			k += len(ep.q)
		}
		return float64(k)
	})
	return []prometheus.Collector{s.m.events, s.m.attempts, queued}
}

func (m metrics) register(r prometheus.Registerer, s *Sender) error {
	for _, c := range s.Collectors() {
		if err := r.Register(c); err != nil {
			return fmt.Errorf("webhook: metrics: %w", err)
		}
	}
	return nil
}
