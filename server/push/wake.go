package push

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	webpush "github.com/SherClockHolmes/webpush-go"

	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/store"
)

// job is one invitation that woke its callee: its goroutine sends the
// invite pushes, then the close pushes once the invitation ended, so that
// a close never overtakes its invite.
type job struct {
	w     server.Wake
	ended chan server.Wake // one value
}

// Invite is the payload of an invite push (docs/PUSH.md).
type Invite struct {
	V         int    `json:"v"`
	Kind      string `json:"kind"` // "invite"
	Inv       string `json:"inv"`
	Caller    string `json:"caller"`
	Content   string `json:"content,omitempty"`
	Truncated bool   `json:"truncated,omitempty"` // content was cut to fit MaxPayloadBytes
	Channel   string `json:"channel,omitempty"`
	ExpiresAt int64  `json:"expiresAt"` // ms since the epoch
	Refuse    string `json:"refuse"`    // the refuse capability
	RefuseURL string `json:"refuseUrl"` // where to POST it
}

// Close is the payload of a close push.
type Close struct {
	V      int    `json:"v"`
	Kind   string `json:"kind"` // "close"
	Inv    string `json:"inv"`
	Reason string `json:"reason"` // a server.Wake* reason
}

// Wake implements server.Waker: it queues the pushes and returns.
func (s *Service) Wake(w server.Wake) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st == nil || s.stopped || s.jobs[w.Inv] != nil {
		return
	}
	j := &job{w: w, ended: make(chan server.Wake, 1)}
	s.jobs[w.Inv] = j
	s.wg.Add(1)
	go s.run(j)
}

// Ended implements server.Waker.
func (s *Service) Ended(w server.Wake) {
	s.mu.Lock()
	j := s.jobs[w.Inv]
	delete(s.jobs, w.Inv)
	s.mu.Unlock()
	if j != nil {
		j.ended <- w // buffered: never blocks
	}
}

func (s *Service) run(j *job) {
	defer s.wg.Done()
	s.mu.Lock()
	st, capKey := s.st, s.capKey
	s.mu.Unlock()
	subs := st.Subscriptions(j.w.Callee)
	inv, err := s.invitePayload(j.w, capKey)
	if err != nil {
		s.log.Error("push payload not made", "inv", j.w.Inv, "err", err)
		return
	}
	ttl := max(time.Until(j.w.Expires), time.Second)
	sent := s.sendAll(st, j.w.Callee, j.w.Inv, subs, inv, ttl)
	var e server.Wake
	select {
	case e = <-j.ended:
	case <-s.closing:
		// Close came: an end the node reported before it (its Shutdown's)
		// is in the buffer already; a later one will not come.
		select {
		case e = <-j.ended:
		default:
			return
		}
	}
	if len(sent) == 0 {
		return
	}
	b, _ := json.Marshal(Close{V: 1, Kind: "close", Inv: e.Inv, Reason: e.Reason}) // every field marshals
	s.sendAll(st, j.w.Callee, j.w.Inv, sent, b, CloseTTL)
}

// invitePayload is w's invite push, its content cut to MaxPayloadBytes.
func (s *Service) invitePayload(w server.Wake, capKey []byte) ([]byte, error) {
	p := Invite{V: 1, Kind: "invite", Inv: w.Inv, Caller: w.Caller, Content: w.Content, Channel: w.Channel,
		ExpiresAt: w.Expires.UnixMilli(), Refuse: signCapability(capKey, w.Inv, w.Callee, w.Expires),
		RefuseURL: s.cfg.PublicURL + RefusePath}
	for {
		b, err := json.Marshal(p)
		if err != nil || len(b) <= MaxPayloadBytes {
			return b, err
		}
		// Cut by the excess (escapes make the JSON longer than the text),
		// then back to a rune boundary.
		cut := max(len(p.Content)-(len(b)-MaxPayloadBytes), 0)
		for cut > 0 && !utf8.RuneStart(p.Content[cut]) {
			cut--
		}
		if cut == len(p.Content) { // nothing left to cut: unreachable within the limits
			return b, nil
		}
		p.Content, p.Truncated = p.Content[:cut], true
	}
}

// sendAll pushes payload to subs in parallel and returns those the push
// service took; it drops the ones it answered 404 or 410 (expired), and
// those the guard refuses (a non-public address, a host not in Hosts),
// which could never be delivered to.
//
// The Topic is the invitation's id (32 hex characters, a valid Topic), so
// that a push service holding the invite for an offline device replaces
// it by the close.
func (s *Service) sendAll(st store.Store, user, topic string, subs []store.Subscription, payload []byte, ttl time.Duration) []store.Subscription {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		took []store.Subscription
		gone []string
	)
	for _, sub := range subs {
		wg.Go(func() {
			status, err := s.send(sub, payload, topic, ttl)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case refused(err):
				s.log.Warn("push endpoint refused; subscription dropped", "user", user, "push_service", host(sub.Endpoint), "err", err)
				gone = append(gone, sub.Endpoint)
			case err != nil:
				s.log.Warn("push not delivered", "user", user, "push_service", host(sub.Endpoint), "err", err)
			case status == http.StatusNotFound || status == http.StatusGone:
				gone = append(gone, sub.Endpoint)
			case status >= 200 && status < 300:
				took = append(took, sub)
			default:
				s.log.Warn("push refused by the push service", "user", user, "push_service", host(sub.Endpoint), "status", status)
			}
		})
	}
	wg.Wait()
	if len(gone) > 0 {
		ctx, cancel := s.sendContext()
		defer cancel()
		err := st.Update(ctx, user, func(cur []store.Subscription) ([]store.Subscription, error) {
			return slices.DeleteFunc(cur, func(x store.Subscription) bool { return slices.Contains(gone, x.Endpoint) }), nil
		})
		s.log.Info("expired push subscriptions dropped", "user", user, "count", len(gone), "err", err)
	}
	return took
}

// send makes one push; webpush-go encrypts and signs it.
func (s *Service) send(sub store.Subscription, payload []byte, topic string, ttl time.Duration) (int, error) {
	s.mu.Lock()
	pub, priv := s.vapidPub, s.vapidPriv
	s.mu.Unlock()
	if !hostAllowed(s.cfg.Hosts, hostname(sub.Endpoint)) { // Hosts may have changed since it was stored
		return 0, errRefusedHost
	}
	ctx, cancel := s.sendContext()
	defer cancel()
	// Clipped: webpush-go appends its padding to the message it is given,
	// which would write into the spare capacity that the sends to the
	// other subscriptions share.
	resp, err := webpush.SendNotificationWithContext(ctx, slices.Clip(payload),
		&webpush.Subscription{Endpoint: sub.Endpoint, Keys: webpush.Keys{P256dh: sub.P256dh, Auth: sub.Auth}},
		&webpush.Options{HTTPClient: s.http, Subscriber: s.cfg.Subscriber, Topic: topic, TTL: int((ttl + time.Second - 1) / time.Second),
			Urgency: webpush.UrgencyHigh, VAPIDPublicKey: pub, VAPIDPrivateKey: priv})
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		err = ue.Err // its text carries the endpoint, whose path is a secret
	}
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}

// host is what logs show of an endpoint: its path is a secret of the
// subscription.
func host(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "?"
	}
	return u.Host
}

func hostname(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return ""
	}
	return u.Hostname()
}
