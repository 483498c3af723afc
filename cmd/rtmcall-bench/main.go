//go:build !js

// Command rtmcall-bench runs rtmcall's benchmark suite and writes
// docs/BENCHMARKS.md: see bench.Config for what the flags size.
//
//	rtmcall-bench [-server bin/rtmcall-server] [-out docs/BENCHMARKS.md] [-conns 10000] [-pairs 1000] ...
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/rtmcall/rtmcall/bench"
)

func main() {
	if ran, code := bench.RunRoleFromEnv(); ran {
		os.Exit(code)
	}
	cfg := bench.DefaultConfig()
	fs := flag.NewFlagSet("rtmcall-bench", flag.ExitOnError)
	fs.StringVar(&cfg.ServerBin, "server", cfg.ServerBin, "rtmcall-server binary to measure")
	fs.StringVar(&cfg.Centrifugo, "centrifugo", "", `Centrifugo binary to measure side by side ("": skip it; make bench builds the pinned one)`)
	fs.StringVar(&cfg.Root, "root", cfg.Root, "repository root (micro-benchmarks, browser module)")
	fs.StringVar(&cfg.Out, "out", cfg.Out, "report to write; the chart goes next to it")
	fs.StringVar(&cfg.WorkDir, "workdir", "", "keep profiles in this directory (default: a temporary one, removed)")
	fs.IntVar(&cfg.Conns, "conns", cfg.Conns, "idle logged-in connections for memory and connect rate")
	fs.IntVar(&cfg.ConnectWorkers, "connect-workers", cfg.ConnectWorkers, "logins at a time")
	fs.IntVar(&cfg.IdleFlows, "idle-flows", cfg.IdleFlows, "sequential flows on an idle server")
	fs.IntVar(&cfg.IdlePairs, "idle-pairs", cfg.IdlePairs, "pairs the idle flows rotate over")
	fs.IntVar(&cfg.Pairs, "pairs", cfg.Pairs, "concurrent pairs for latency under load and throughput")
	fs.Float64Var(&cfg.LoadRate, "load-rate", cfg.LoadRate, "flows per second offered by the pairs in the latency-under-load run")
	fs.DurationVar(&cfg.LoadDuration, "load-duration", cfg.LoadDuration, "length of the latency-under-load run")
	fs.DurationVar(&cfg.ThroughputDuration, "throughput-duration", cfg.ThroughputDuration, "length of the throughput run")
	fs.DurationVar(&cfg.ProfileDuration, "profile-duration", cfg.ProfileDuration, "CPU profile of the instrumented server (0: skip it)")
	fs.StringVar(&cfg.MicroBenchtime, "micro-benchtime", cfg.MicroBenchtime, `-benchtime of the Go micro-benchmarks ("": skip them)`)
	fs.BoolVar(&cfg.Browser, "browser", cfg.Browser, "measure the browser module in headless Chromium")
	fs.IntVar(&cfg.BrowserLoads, "browser-loads", cfg.BrowserLoads, "page loads measured, cold and warm")
	fs.IntVar(&cfg.BrowserFlows, "browser-flows", cfg.BrowserFlows, "flows between two pages")
	fs.DurationVar(&cfg.Settle, "settle", cfg.Settle, "time memory is left to settle before RSS is read")
	fs.DurationVar(&cfg.Steady, "steady", cfg.Steady, "time rtmcall-server's idle clients heartbeat before its memory is read again (0: skip)")
	fs.DurationVar(&cfg.QuietWait, "quiet-wait", cfg.QuietWait, "how long each phase waits for other programs to calm down")
	fs.Float64Var(&cfg.MaxOther, "max-other", cfg.MaxOther, "cores other programs may use during a phase before it is run again")
	fs.IntVar(&cfg.Attempts, "attempts", cfg.Attempts, "runs of a disturbed phase, at most")
	fs.IntVar(&cfg.Repeats, "repeats", cfg.Repeats, "runs of the flow phases of each system, pooled")
	_ = fs.Parse(os.Args[1:])
	cfg.Logf = func(format string, args ...any) { fmt.Fprintf(os.Stderr, "rtmcall-bench: "+format+"\n", args...) }

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := bench.Main(ctx, cfg, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "rtmcall-bench:", err)
		os.Exit(1)
	}
}
