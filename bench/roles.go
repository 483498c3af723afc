//go:build !js

package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"runtime/metrics"
	"slices"
	"syscall"
	"time"

	"github.com/rtmcall/rtmcall/server"
)

// The harness runs its servers as separate processes so that their CPU time
// and memory are measured alone, not mixed with the load generator's. The
// rtmcall server is the real cmd/rtmcall-server binary; the baseline relay
// and the instrumented rtmcall server (the same server.New and Config, plus
// /debug/pprof and /debug/stats, for profiles, heap and goroutine counts)
// are this program again, started with RoleEnv set.

// RoleEnv names the role a re-executed harness binary plays: RoleRelay or
// RoleServer. The main of any program that runs the harness (and TestMain
// of its tests) calls RunRoleFromEnv first.
const RoleEnv = "RTMCALL_BENCH_ROLE"

// The roles.
const (
	RoleRelay  = "relay"
	RoleServer = "server"
)

// RunRoleFromEnv plays the role named by RoleEnv, if any, until SIGTERM or
// SIGINT, and reports whether it did and the exit code. The listening
// address is printed on stdout as "listening ADDR".
func RunRoleFromEnv() (ran bool, code int) {
	role := os.Getenv(RoleEnv)
	if role == "" {
		return false, 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := runRole(ctx, role); err != nil {
		fmt.Fprintf(os.Stderr, "rtmcall-bench %s: %v\n", role, err)
		return true, 1
	}
	return true, 0
}

func runRole(ctx context.Context, role string) error {
	var (
		handler  http.Handler
		shutdown func(context.Context) error
	)
	switch role {
	case RoleRelay:
		mux := http.NewServeMux()
		mux.Handle("/ws", NewRelay())
		mux.HandleFunc("/debug/stats", serveStats)
		mux.HandleFunc("/debug/sched", serveSched)
		handler = mux
	case RoleServer:
		// As cmd/rtmcall-server -dev builds it: text logs at level Info on stderr.
		node, err := server.New(server.Config{Dev: true, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.Handle("/ws", node)
		mux.Handle("/healthz", node)
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.HandleFunc("/debug/stats", serveStats)
		mux.HandleFunc("/debug/sched", serveSched)
		handler, shutdown = mux, node.Shutdown
	default:
		return fmt.Errorf("unknown role %q", role)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	fmt.Printf("listening %s\n", ln.Addr())

	var serveErr error
	select {
	case serveErr = <-served:
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var nodeErr error
	if shutdown != nil {
		nodeErr = shutdown(sctx)
	}
	// Close, not Shutdown: the relay's hijacked connections are not tracked.
	closeErr := hs.Close()
	if serveErr == nil {
		serveErr = <-served
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return errors.Join(serveErr, nodeErr, closeErr)
}

// procStats is what the instrumented server reports at /debug/stats.
type procStats struct {
	Goroutines  int    `json:"goroutines"`
	HeapAlloc   uint64 `json:"heap_alloc"`   // bytes of live and not yet swept heap objects
	HeapInuse   uint64 `json:"heap_inuse"`   // bytes in in-use heap spans
	StackInuse  uint64 `json:"stack_inuse"`  // bytes of goroutine stacks
	Sys         uint64 `json:"sys"`          // bytes obtained from the OS
	HeapObjects uint64 `json:"heap_objects"` // live heap objects
	TotalAlloc  uint64 `json:"total_alloc"`  // bytes allocated since the start
	Mallocs     uint64 `json:"mallocs"`      // objects allocated since the start
}

// serveStats reports the process's goroutines and memory after a GC, so
// that the heap figures are live memory; with ?gc=0 without one (for the
// allocation counters, which need none).
func serveStats(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("gc") != "0" {
		runtime.GC()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(procStats{
		Goroutines:  runtime.NumGoroutine(),
		HeapAlloc:   m.HeapAlloc,
		HeapInuse:   m.HeapInuse,
		StackInuse:  m.StackInuse,
		Sys:         m.Sys,
		HeapObjects: m.HeapObjects,
		TotalAlloc:  m.TotalAlloc,
		Mallocs:     m.Mallocs,
	})
}

// schedHist is what the runtime says of its scheduler, collector and
// locks (runtime/metrics, cumulative since the process started).
type schedHist struct {
	// Buckets and Counts: the histogram of scheduling latencies, how long
	// goroutines waited, runnable, before they ran (/sched/latencies:seconds).
	// Its count is the number of times a goroutine was scheduled after
	// becoming runnable (sampled: see schedSampling).
	Buckets []float64 `json:"buckets"` // boundaries in seconds; len(Counts)+1
	Counts  []uint64  `json:"counts"`
	// PauseBuckets and PauseCounts: the stop-the-world pauses (/sched/pauses/total/gc:seconds).
	PauseBuckets []float64 `json:"pause_buckets"`
	PauseCounts  []uint64  `json:"pause_counts"`
	GCCycles     uint64    `json:"gc_cycles"`  // /gc/cycles/total:gc-cycles
	GCCPU        float64   `json:"gc_cpu"`     // /cpu/classes/gc/total:cpu-seconds
	TotalCPU     float64   `json:"total_cpu"`  // /cpu/classes/total:cpu-seconds
	MutexWait    float64   `json:"mutex_wait"` // /sync/mutex/wait/total:seconds
}

func serveSched(w http.ResponseWriter, _ *http.Request) {
	samples := []metrics.Sample{
		{Name: "/sched/latencies:seconds"},
		{Name: "/sched/pauses/total/gc:seconds"},
		{Name: "/gc/cycles/total:gc-cycles"},
		{Name: "/cpu/classes/gc/total:cpu-seconds"},
		{Name: "/cpu/classes/total:cpu-seconds"},
		{Name: "/sync/mutex/wait/total:seconds"},
	}
	metrics.Read(samples)
	// JSON has no infinities: the outer boundaries are clamped.
	hist := func(v metrics.Value) ([]float64, []uint64) {
		if v.Kind() != metrics.KindFloat64Histogram {
			return nil, nil
		}
		h := v.Float64Histogram()
		b := slices.Clone(h.Buckets)
		for i, x := range b {
			b[i] = max(min(x, 1e9), -1e9)
		}
		return b, h.Counts
	}
	f64 := func(v metrics.Value) float64 {
		if v.Kind() == metrics.KindFloat64 {
			return v.Float64()
		}
		return 0
	}
	var h schedHist
	h.Buckets, h.Counts = hist(samples[0].Value)
	h.PauseBuckets, h.PauseCounts = hist(samples[1].Value)
	if samples[2].Value.Kind() == metrics.KindUint64 {
		h.GCCycles = samples[2].Value.Uint64()
	}
	h.GCCPU, h.TotalCPU, h.MutexWait = f64(samples[3].Value), f64(samples[4].Value), f64(samples[5].Value)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(h)
}
