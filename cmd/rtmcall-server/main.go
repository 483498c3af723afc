//go:build !js

// Command rtmcall-server runs the rtmcall signaling server.
//
//	rtmcall-server [-addr 127.0.0.1:8080] [-dev] [-secret S] [-origins a.com,b.com]
//	               [-receipt-timeout 10s] [-invitation-timeout 60s] [-web dir] [-log-level info]
//	               [-node-id ID] [-nats URLs | -nats-listen ADDR [-nats-cluster ADDR] [-nats-routes URLs]]
//	               [-webhook URL ... -webhook-secret whsec_...] [-api-keys K1,K2]
//	               [-data dir] [-wake-window 15s] [-push=false] [-push-public-url URL] [-push-contact C]
//	               [-push-allow-http] [-push-allow-private] [-push-hosts H,...] [-push-ringing] [-push-replicas N]
//	rtmcall-server token -user alice [-ttl 1h] [-secret S]
//
// The secret may also come from the environment variable RTMCALL_SECRET.
// The server refuses to start without one unless -dev is given. Without
// -nats or -nats-listen it is a node alone; with them, one node of a
// cluster (docs/CLUSTER.md). -webhook sends signed events to a backend and
// -api-keys serves the server API at /api/v1/ (docs/BACKEND.md); their
// secrets may come from RTMCALL_WEBHOOK_SECRET and RTMCALL_API_KEYS. Web
// Push is on by default, with its subscriptions and keys under -data
// (docs/PUSH.md); RTMCALL_VAPID_PUBLIC_KEY and RTMCALL_VAPID_PRIVATE_KEY
// may supply the keys.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	opts, err := parseArgs(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		os.Exit(2) // the problem and the usage are printed
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // the node drains: a second signal kills the process
	}()
	if err := run(ctx, opts, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "rtmcall-server:", err)
		os.Exit(1)
	}
}
