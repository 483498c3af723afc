//go:build !js

// Command rtmcall-soak runs rtmcall's load-and-chaos soak (package soak)
// against in-process server nodes on loopback and prints its report. It
// exits 1 if any invariant was violated or a bound was missed.
//
//	rtmcall-soak [-clients 1000] [-flows 100000] [-seed 1] [-workers N] [-time-limit 15m]
//	             [-cluster 3 -chaos kill-restart,rolling-restart [-chaos-every 5s]]
//	             [-server-log file [-server-log-debug]] [-heap-profile file]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/rtmcall/rtmcall/soak"
)

func main() {
	var cfg soak.Config
	flag.IntVar(&cfg.Clients, "clients", 1000, "devices logged in at the start (users have 1 to 3)")
	flag.IntVar(&cfg.Flows, "flows", 100000, "invitation flows to run")
	flag.Uint64Var(&cfg.Seed, "seed", 1, "seed of every random choice")
	flag.IntVar(&cfg.Workers, "workers", 0, "flows in flight at once (default clients/8)")
	flag.DurationVar(&cfg.TimeLimit, "time-limit", 0, "fail if the flows take longer (default 15m)")
	flag.DurationVar(&cfg.FlowDeadline, "flow-deadline", 0, "how long a flow may wait for an event (default 10s)")
	flag.DurationVar(&cfg.TombstoneTTL, "tombstone-ttl", 0, "how long the nodes remember ended invitations (default 3s)")
	flag.DurationVar(&cfg.ResumeGrace, "resume-grace", 0, "the nodes' resume grace period (default 3s)")
	flag.IntVar(&cfg.Cluster, "cluster", 0, "run on this many clustered nodes (embedded NATS) behind a load balancer; 0: two independent nodes")
	chaos := flag.String("chaos", "", "comma-separated chaos kinds for a cluster run: "+strings.Join(soak.ChaosKinds(), ", "))
	flag.DurationVar(&cfg.ChaosEvery, "chaos-every", 0, "how often the chaos strikes (default 5s)")
	var files soak.Files
	flag.StringVar(&files.ServerLog, "server-log", "", "write the nodes' info logs to this file")
	flag.BoolVar(&cfg.ServerLogDebug, "server-log-debug", false, "write the nodes' debug logs to -server-log instead")
	flag.StringVar(&files.HeapProfile, "heap-profile", "", "write a heap profile of what is left after the run to this file")
	flag.Parse()
	if files.HeapProfile != "" {
		// The default rate (one sample per 512 KiB) leaves a few-MiB residue
		// to a handful of samples: sample every 4 KiB to tell its parts apart.
		runtime.MemProfileRate = 4 << 10
	}
	if *chaos != "" {
		cfg.Chaos = strings.Split(*chaos, ",")
	}
	cfg.Progress = os.Stderr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := soak.Main(ctx, cfg, files, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "rtmcall-soak:", err)
		os.Exit(1)
	}
}
