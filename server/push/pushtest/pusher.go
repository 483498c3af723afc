package pushtest

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/push"
	"github.com/rtmcall/rtmcall/server/store"
)

// The server side of a test: a push.Service whose pushes go to the
// emulator, set up once for every test package that uses it.

// stopWithin bounds each step of a Pusher's stop.
const stopWithin = 10 * time.Second

// NewPusher makes a push.Service whose pushes may reach s: it opts in to
// http endpoints and non-public addresses (AllowHTTP, AllowPrivate), since
// s is on loopback, and logs to tb. set adjusts the Config.
func (s *Service) NewPusher(tb testing.TB, publicURL string, set ...func(*push.Config)) *push.Service {
	tb.Helper()
	cfg := push.Config{Subscriber: "mailto:ops@example.com", PublicURL: publicURL, AllowHTTP: true, AllowPrivate: true,
		Logger: slog.New(slog.NewTextHandler(TBWriter{tb}, nil))}
	for _, f := range set {
		f(&cfg)
	}
	svc, err := push.New(cfg)
	if err != nil {
		tb.Fatalf("pushtest: %v", err)
	}
	return svc
}

// Start starts svc for node with st and makes s expect svc's VAPID key. It
// returns stop, which also runs when the test ends: it shuts node down,
// then closes svc, then st, in that order, so that the close pushes of the
// invitations the shutdown ends are sent. Calling stop again is harmless.
func (s *Service) Start(tb testing.TB, svc *push.Service, node *server.Node, st store.Store) (stop func()) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stopWithin)
	defer cancel()
	if err := svc.Start(ctx, node, st); err != nil {
		tb.Fatalf("pushtest: %v", err)
	}
	s.SetVAPIDKey(svc.PublicKey())
	stop = func() {
		tb.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), stopWithin)
		defer cancel()
		if err := node.Shutdown(ctx); err != nil {
			tb.Errorf("pushtest: node shutdown: %v", err)
		}
		if err := svc.Close(ctx); err != nil {
			tb.Errorf("pushtest: push service close: %v", err)
		}
		if err := st.Close(); err != nil {
			tb.Errorf("pushtest: store close: %v", err)
		}
	}
	tb.Cleanup(stop)
	return stop
}

// TBWriter writes log lines to a test's log; what logs to it must stop
// before the test ends (Start's stop sees to it for the Service).
type TBWriter struct{ TB testing.TB }

func (w TBWriter) Write(p []byte) (int, error) {
	w.TB.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// Log is a log a test reads while a Service writes it.
type Log struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns what was written so far.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
