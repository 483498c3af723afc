//go:build !js

package core_test

import (
	"context"
	"log/slog"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// BenchmarkClientFlow is one complete invitation per iteration between two
// core.Clients through a real server over loopback: Send, the callee's
// RemoteInvitationReceived, the caller's receipt, Accept and the caller's
// LocalInvitationAccepted. It measures the client library and the server
// together, in one process.
func BenchmarkClientFlow(b *testing.B) {
	ctx, alice, bob := benchClients(b)
	invites := make(chan *core.RemoteInvitation, 1)
	bob.OnInvitationReceived(func(r *core.RemoteInvitation) { invites <- r })

	b.ReportAllocs()
	sched := startSched()
	for b.Loop() {
		inv, err := alice.CreateLocalInvitation(bob.UserID())
		if err != nil {
			b.Fatal(err)
		}
		received := make(chan struct{})
		accepted := make(chan struct{})
		inv.OnReceivedByPeer(func() { close(received) })
		inv.OnAccepted(func(string) { close(accepted) })
		if err := inv.Send(ctx); err != nil {
			b.Fatal(err)
		}
		r := <-invites
		<-received
		if err := r.Accept(ctx); err != nil {
			b.Fatal(err)
		}
		<-accepted
		if err := inv.Hangup(ctx); err != nil { // the call goes on until hang-up; bob would be busy
			b.Fatal(err)
		}
	}
	sched.report(b)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "flows/s")
}

// sched counts, over a benchmark, the goroutines started and the times a
// goroutine was scheduled to run (each a wake-up, or a start), per op:
// counts that do not depend on the machine's load as times do. The runtime
// records one scheduling in 8 (its latency histogram's samples): the
// wake-ups are that count times 8, an estimate.
type sched struct{ created, scheduled float64 }

func startSched() sched { return readSched() }

func readSched() sched {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}, {Name: "/sched/latencies:seconds"}}
	metrics.Read(s)
	var n uint64
	for _, c := range s[1].Value.Float64Histogram().Counts {
		n += c
	}
	return sched{created: float64(s[0].Value.Uint64()), scheduled: float64(n)}
}

func (start sched) report(b *testing.B) {
	end := readSched()
	b.ReportMetric((end.created-start.created)/float64(b.N), "goroutines/op")
	b.ReportMetric(8*(end.scheduled-start.scheduled)/float64(b.N), "wakeups/op")
}

// benchClients starts a server without a rate limit and logs in alice and
// bob; the context bounds the benchmark. With RTMCALL_BENCH_URL naming a
// file that holds a server's URL (TestServeForBench writes one), they log
// in there instead, as alice-PID and bob-PID, so that a profile of this
// process counts the clients alone.
func benchClients(b *testing.B) (ctx context.Context, alice, bob *core.Client) {
	url, suffix := "", ""
	if path := os.Getenv("RTMCALL_BENCH_URL"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		url, suffix = strings.TrimSpace(string(data)), "-"+strconv.Itoa(os.Getpid())
	} else {
		url = benchServer(b).URL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	b.Cleanup(cancel)
	login := func(user string) *core.Client {
		c, err := core.NewClient(core.Options{URL: url, Logf: b.Logf})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		if err := c.Login(ctx, user+suffix, ""); err != nil {
			b.Fatal(err)
		}
		return c
	}
	return ctx, login("alice"), login("bob")
}

func benchServer(tb testing.TB) *rtmcalltest.Server {
	return rtmcalltest.NewServer(tb, func(c *server.Config) {
		c.RateLimit, c.RateBurst = 1e9, 1<<30
		c.Logger = slog.New(slog.DiscardHandler)
	})
}

// TestServeForBench, with RTMCALL_BENCH_SERVE naming a file, serves the
// benchmarks' server in this process: it writes the server's URL to the
// file and serves until the file is removed. Run a benchmark with
// RTMCALL_BENCH_URL naming the same file from another process.
func TestServeForBench(t *testing.T) {
	path := os.Getenv("RTMCALL_BENCH_SERVE")
	if path == "" {
		t.Skip("RTMCALL_BENCH_SERVE is not set")
	}
	srv := benchServer(t)
	require.NoError(t, os.WriteFile(path, []byte(srv.URL), 0o644))
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for range tick.C {
		if _, err := os.Stat(path); err != nil {
			return
		}
	}
}

// BenchmarkLateLogin is the time from a late device's Login to its
// RemoteInvitationReceived: per iteration a new client of bob logs in
// while alice's invitation to bob is pending (another device of bob rings
// it from the send); the caller then cancels. It reports the mean
// login-to-invite time as ms/late-ring.
func BenchmarkLateLogin(b *testing.B) {
	srv := benchServer(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	client := func() *core.Client {
		c, err := core.NewClient(core.Options{URL: srv.URL, Logf: b.Logf})
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	alice, phone := client(), client()
	b.Cleanup(func() { alice.Close(); phone.Close() })
	if err := alice.Login(ctx, "alice", ""); err != nil {
		b.Fatal(err)
	}
	if err := phone.Login(ctx, "bob", ""); err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for b.Loop() {
		inv, err := alice.CreateLocalInvitation("bob")
		if err != nil {
			b.Fatal(err)
		}
		if err := inv.Send(ctx); err != nil {
			b.Fatal(err)
		}
		laptop := client()
		got := make(chan time.Time, 1)
		laptop.OnInvitationReceived(func(*core.RemoteInvitation) { got <- time.Now() })
		start := time.Now()
		if err := laptop.Login(ctx, "bob", ""); err != nil {
			b.Fatal(err)
		}
		select {
		case at := <-got:
			total += at.Sub(start)
		case <-ctx.Done():
			b.Fatal("no late invite")
		}
		if err := inv.Cancel(ctx); err != nil {
			b.Fatal(err)
		}
		laptop.Close()
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/late-ring")
}
