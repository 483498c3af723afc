//go:build !js

package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestConnectForProfile, with RTMCALL_BENCH_CONNECT set to "SYSTEM URL N",
// logs in N idle clients, ConnectWorkers at a time as the connect-rate
// measurement does, against a server in another process, then exits without
// closing them: a profiler run on this process (callgrind, the difference
// of two N) counts the load generator's cost per login alone. SYSTEM is
// rtmcall (core.Client), raw (bare clients of the rtmcall server), relay or
// centrifugo.
func TestConnectForProfile(t *testing.T) {
	spec := strings.Fields(os.Getenv("RTMCALL_BENCH_CONNECT"))
	if len(spec) == 0 {
		t.Skip("RTMCALL_BENCH_CONNECT is not set")
	}
	if len(spec) != 3 {
		t.Fatalf("RTMCALL_BENCH_CONNECT: want SYSTEM URL N, got %q", spec)
	}
	n, err := strconv.Atoi(spec[2])
	if err != nil {
		t.Fatal(err)
	}
	var sys system
	switch spec[0] {
	case "rtmcall":
		sys = rtmcallSystem{logs: new(atomic.Int64)}
	case "raw":
		sys = rawSystem{}
	case "relay":
		sys = relaySystem{}
	case "centrifugo":
		sys = centrifugoSystem{}
	default:
		t.Fatalf("unknown system %q", spec[0])
	}
	prof := os.Getenv("RTMCALL_BENCH_CONNECT_MEMPROFILE")
	if prof != "" {
		runtime.MemProfileRate = 1
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	g0 := runtime.NumGoroutine()
	created := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(created)
	c0 := created[0].Value.Uint64()
	var u0, u1 syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u0); err != nil {
		t.Fatal(err)
	}
	cr := connectMany(context.Background(), sys, spec[1], fmt.Sprintf("p%d-", os.Getpid()), n, DefaultConfig().ConnectWorkers)
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u1); err != nil {
		t.Fatal(err)
	}
	metrics.Read(created)
	runtime.ReadMemStats(&m1)
	g1 := runtime.NumGoroutine()
	runtime.GC()
	var m2 runtime.MemStats
	runtime.ReadMemStats(&m2)
	per := func(d uint64) float64 { return float64(d) / float64(n) }
	fmt.Printf("%s: %d logins, %d failed, %v, %.0f logins/s\n", spec[0], len(cr.clients), cr.errs.count(), cr.elapsed, cr.rate())
	fmt.Printf("per login: %.1f goroutines left, %.0f B and %.1f objects allocated, %.0f B of heap live after a GC, %.0f B of stack, %d GCs\n",
		float64(g1-g0)/float64(n), per(m1.TotalAlloc-m0.TotalAlloc), per(m1.Mallocs-m0.Mallocs),
		per(m2.HeapAlloc-m0.HeapAlloc), per(m1.StackInuse-m0.StackInuse), m1.NumGC-m0.NumGC)
	if prof != "" {
		f, err := os.Create(prof)
		if err != nil {
			t.Fatal(err)
		}
		if err := errors.Join(pprof.Lookup("allocs").WriteTo(f, 0), f.Close()); err != nil {
			t.Fatal(err)
		}
	}
	cpu := time.Duration(u1.Utime.Nano()+u1.Stime.Nano()-u0.Utime.Nano()-u0.Stime.Nano()) / time.Duration(n)
	fmt.Printf("per login: %.1f goroutines started, CPU %v, %.2f voluntary and %.2f involuntary context switches\n",
		float64(created[0].Value.Uint64()-c0)/float64(n), cpu,
		float64(u1.Nvcsw-u0.Nvcsw)/float64(n), float64(u1.Nivcsw-u0.Nivcsw)/float64(n))
	os.Exit(0) // the clients stay open: closing them is not a login's cost
}
