//go:build !js

package push_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/push"
)

// BenchmarkPushWake times the push path, a send to an offline subscribed
// callee until the push service emulator has decrypted the invite push
// (ns/push), against a send to an online callee until its client has the
// invite (ns/ring), in the same run; ratio is push/ring. The arms take
// turns; each invitation is then canceled, its close push or cancel
// awaited, untimed.
func BenchmarkPushWake(b *testing.B) {
	e := newEnv(b, envOpts{
		cfg: []func(*server.Config){func(c *server.Config) {
			c.RateLimit, c.RateBurst = 1e9, 1<<30
			c.Logger = slog.New(slog.DiscardHandler)
		}},
		pushCfg: func(c *push.Config) { c.Logger = slog.New(slog.DiscardHandler) },
	})
	subscribe(b, e, "bob", e.emu.Subscribe())
	alice, carol := login(b, e, "alice"), login(b, e, "carol")
	var ring, pushed time.Duration
	for b.Loop() {
		start := time.Now()
		l, ev := alice.invite(b, "carol", "hi")
		r := next(b, carol.invites)
		ring += time.Since(start)
		expect(b, ev, "received")
		if r.ID() != l.ID() {
			b.Fatal("another invitation rang")
		}
		if err := l.Cancel(ctxT(b)); err != nil {
			b.Fatal(err)
		}
		expect(b, ev, "canceled")
		expect(b, carol.events, "remote canceled")

		start = time.Now()
		l, ev = alice.invite(b, "bob", "hi")
		p := e.emu.Next(waitFor)
		pushed += time.Since(start)
		if len(p.Payload) == 0 {
			b.Fatal("no payload")
		}
		expect(b, ev, "waking")
		if err := l.Cancel(ctxT(b)); err != nil {
			b.Fatal(err)
		}
		expect(b, ev, "canceled")
		e.emu.Next(waitFor) // the close
	}
	n := float64(b.N)
	b.ReportMetric(float64(ring.Nanoseconds())/n, "ns/ring")
	b.ReportMetric(float64(pushed.Nanoseconds())/n, "ns/push")
	b.ReportMetric(float64(pushed)/float64(ring), "ratio")
}
