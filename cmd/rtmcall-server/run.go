//go:build !js

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/api"
	"github.com/rtmcall/rtmcall/server/push"
	"github.com/rtmcall/rtmcall/server/static"
	"github.com/rtmcall/rtmcall/server/store"
	"github.com/rtmcall/rtmcall/server/webhook"
)

// options is a parsed command line: the server, or the token subcommand.
type options struct {
	token bool // the token subcommand

	// server
	addr              string
	dev               bool
	origins           []string
	receiptTimeout    time.Duration
	invitationTimeout time.Duration
	web               string
	logLevel          slog.Level

	// cluster: empty for a single node
	nodeID      string
	natsURL     string
	natsListen  string
	natsCluster string
	natsRoutes  []string

	// Web Push (docs/PUSH.md)
	wakeWindow    time.Duration
	drainTimeout  time.Duration
	data          string
	push          bool
	pushPublicURL string
	pushContact   string
	pushAllowHTTP bool
	pushPrivate   bool
	pushHosts     []string
	pushRinging   bool
	pushReplicas  int
	vapidPublic   string
	vapidPrivate  string

	// backends (docs/BACKEND.md)
	webhooks      []string
	webhookSecret string
	apiKeys       []string

	// both
	secret string

	// token
	user string
	ttl  time.Duration
}

// parseArgs parses the arguments after the program name. getenv supplies
// RTMCALL_SECRET. Errors and usage are printed to stderr.
func parseArgs(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	if len(args) > 0 && args[0] == "token" {
		o.token = true
		fs := flag.NewFlagSet("rtmcall-server token", flag.ContinueOnError)
		fs.SetOutput(stderr)
		fs.StringVar(&o.user, "user", "", "user id the token logs in as (required)")
		fs.DurationVar(&o.ttl, "ttl", time.Hour, "how long the token is valid")
		fs.StringVar(&o.secret, "secret", "", "HS256 secret (default $RTMCALL_SECRET)")
		if err := fs.Parse(args[1:]); err != nil {
			return o, err
		}
		if o.secret == "" {
			o.secret = getenv("RTMCALL_SECRET") // not a flag default: -h would print it
		}
		switch {
		case fs.NArg() > 0:
			return o, usageError(fs, "unexpected arguments: %q", fs.Args())
		case o.user == "":
			return o, usageError(fs, "-user is required")
		case o.ttl <= 0:
			return o, usageError(fs, "-ttl must be positive")
		case o.secret == "":
			return o, usageError(fs, "a secret is required: -secret or RTMCALL_SECRET")
		}
		return o, nil
	}

	fs := flag.NewFlagSet("rtmcall-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: rtmcall-server [flags]\n       rtmcall-server token -user ID [-ttl 1h] [-secret S]\n\nFlags:\n")
		fs.PrintDefaults()
	}
	var origins, routes string
	logLevel := "info"
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "address to listen on")
	fs.BoolVar(&o.dev, "dev", false, "dev mode: accept logins without a token and pages on localhost")
	fs.StringVar(&o.secret, "secret", "", "HS256 secret login tokens are verified with (default $RTMCALL_SECRET)")
	fs.StringVar(&origins, "origins", "", "comma-separated browser origin host patterns allowed to connect, e.g. app.example.com,*.example.org")
	fs.DurationVar(&o.receiptTimeout, "receipt-timeout", server.DefaultReceiptTimeout, "how long callee devices have to acknowledge an invitation")
	fs.DurationVar(&o.invitationTimeout, "invitation-timeout", server.DefaultInvitationTimeout, "timeout of invitations sent without one")
	fs.StringVar(&o.web, "web", "", `serve the demo and the browser module from this directory (for development) instead of the copy built into the binary`)
	fs.StringVar(&logLevel, "log-level", logLevel, "the least level logged: debug (every invitation, request and connection), info (sessions), warn or error")
	fs.StringVar(&o.nodeID, "node-id", "", "this node's id in its cluster: 8 lowercase hex characters (default random)")
	fs.StringVar(&o.natsURL, "nats", "", "join a cluster through these NATS servers, e.g. nats://10.0.0.1:4222,nats://10.0.0.2:4222")
	fs.StringVar(&o.natsListen, "nats-listen", "", "join a cluster through a NATS server embedded in this node, listening for clients here, e.g. 127.0.0.1:4222")
	fs.StringVar(&o.natsCluster, "nats-cluster", "", "the embedded NATS server's route address, e.g. 0.0.0.0:6222")
	fs.StringVar(&routes, "nats-routes", "", "comma-separated route URLs of other nodes' embedded NATS servers, e.g. nats://10.0.0.2:6222")
	fs.Func("webhook", "POST signed events to this URL (repeatable, or comma-separated)", func(v string) error {
		o.webhooks = append(o.webhooks, splitList(v)...)
		return nil
	})
	fs.StringVar(&o.webhookSecret, "webhook-secret", "", "whsec_... secret webhooks are signed with (default $RTMCALL_WEBHOOK_SECRET)")
	var apiKeys string
	fs.StringVar(&apiKeys, "api-keys", "", "comma-separated keys of the server API at /api/v1/ (default $RTMCALL_API_KEYS); none: no API")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", 0, "on SIGTERM or POST /api/v1/drain, how long the node waits for its invitations and calls to end and its clients to move (default: the longest invitation in flight on the node or ringing its sessions, at least the resume grace, at most 10m)")
	fs.DurationVar(&o.wakeWindow, "wake-window", server.DefaultWakeWindow, "how long a send to an offline callee with push subscriptions waits for a device to log in")
	fs.StringVar(&o.data, "data", DefaultData, "directory of what the server keeps: Web Push subscriptions and keys (one node), the embedded NATS server's JetStream (clustered)")
	fs.BoolVar(&o.push, "push", true, "Web Push: wake the closed tabs of offline callees (needs -data, or a cluster's JetStream)")
	fs.StringVar(&o.pushPublicURL, "push-public-url", "", "the server's URL as browsers reach it, e.g. https://call.example.com (default http://<-addr>)")
	fs.StringVar(&o.pushContact, "push-contact", "", "the VAPID contact push services see: mailto:you@example.com or an https URL (default the public URL)")
	fs.BoolVar(&o.pushAllowHTTP, "push-allow-http", false, "accept http push endpoints (dev and tests only: browsers' push services are https)")
	fs.BoolVar(&o.pushPrivate, "push-allow-private", false, "let pushes go to loopback, private and link-local addresses (tests with a local push service only)")
	fs.Func("push-hosts", "comma-separated push service host names endpoints must be at or under, e.g. fcm.googleapis.com,push.services.mozilla.com (default any public host)", func(v string) error {
		o.pushHosts = append(o.pushHosts, splitList(v)...)
		return nil
	})
	fs.BoolVar(&o.pushRinging, "push-ringing", false, "push to a callee's devices even when a session of the callee rings")
	fs.IntVar(&o.pushReplicas, "push-replicas", 0, "copies of the cluster's JetStream push store (default: 1 + the -nats-routes, at most 3)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, usageError(fs, "unexpected arguments: %q", fs.Args())
	}
	o.vapidPublic, o.vapidPrivate = getenv("RTMCALL_VAPID_PUBLIC_KEY"), getenv("RTMCALL_VAPID_PRIVATE_KEY")
	if (o.vapidPublic == "") != (o.vapidPrivate == "") {
		return o, usageError(fs, "RTMCALL_VAPID_PUBLIC_KEY and RTMCALL_VAPID_PRIVATE_KEY go together")
	}
	if o.push && o.data == "" && o.natsURL == "" {
		return o, usageError(fs, "-push needs -data (or -nats with JetStream); -push=false turns Web Push off")
	}
	switch logLevel {
	case "debug", "info", "warn", "error":
		_ = o.logLevel.UnmarshalText([]byte(logLevel)) // cannot fail on these
	default:
		return o, usageError(fs, "-log-level %q is not one of debug, info, warn and error", logLevel)
	}
	// Secrets from the environment are read here, not as flag defaults, so that -h never prints them.
	if o.secret == "" {
		o.secret = getenv("RTMCALL_SECRET")
	}
	if o.webhookSecret == "" {
		o.webhookSecret = getenv("RTMCALL_WEBHOOK_SECRET")
	}
	if apiKeys == "" {
		apiKeys = getenv("RTMCALL_API_KEYS")
	}
	o.apiKeys = splitList(apiKeys)
	switch {
	case len(o.webhooks) > 0 && o.webhookSecret == "":
		return o, usageError(fs, "-webhook needs -webhook-secret (or RTMCALL_WEBHOOK_SECRET)")
	case len(o.webhooks) == 0 && o.webhookSecret != "":
		return o, usageError(fs, "-webhook-secret without -webhook")
	}
	for _, p := range strings.Split(origins, ",") {
		if p = strings.TrimSpace(p); p != "" {
			o.origins = append(o.origins, p)
		}
	}
	for _, r := range strings.Split(routes, ",") {
		if r = strings.TrimSpace(r); r != "" {
			o.natsRoutes = append(o.natsRoutes, r)
		}
	}
	switch {
	case o.natsURL != "" && o.natsListen != "":
		return o, usageError(fs, "-nats and -nats-listen exclude each other: connect to NATS, or embed it")
	case o.natsListen == "" && (o.natsCluster != "" || len(o.natsRoutes) > 0):
		return o, usageError(fs, "-nats-cluster and -nats-routes need -nats-listen")
	case len(o.natsRoutes) > 0 && o.natsCluster == "":
		return o, usageError(fs, "-nats-routes needs -nats-cluster")
	case o.push && o.natsCluster != "" && len(o.natsRoutes) == 0:
		// The embedded server's JetStream (the push store) refuses a cluster without routes.
		return o, usageError(fs, "Web Push in a cluster of embedded NATS servers needs -nats-routes on every node, the seed too (or -push=false)")
	}
	if o.secret == "" && !o.dev {
		return o, usageError(fs, "a secret is required (-secret or RTMCALL_SECRET) unless -dev is given")
	}
	return o, nil
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func usageError(fs *flag.FlagSet, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	fmt.Fprintln(fs.Output(), err)
	fs.Usage()
	return err
}

// run carries out the parsed command until ctx ends (the server) or the
// token is printed.
func run(ctx context.Context, o options, stdout, stderr io.Writer) error {
	if o.token {
		tok, err := server.IssueToken([]byte(o.secret), o.user, o.ttl)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, tok)
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: o.logLevel}))
	// No TCP keep-alive: the server's heartbeats and idle timeout find dead
	// peers, and keep-alive costs 4 setsockopt calls per accepted connection.
	ln, err := (&net.ListenConfig{KeepAlive: -1}).Listen(ctx, "tcp", o.addr)
	if err != nil {
		return err
	}
	return serve(ctx, o, ln, logger)
}

// serve runs the server on ln until ctx ends, then shuts down gracefully:
// the node first (invitations end, connections close with 1001), then the
// HTTP server.
func serve(ctx context.Context, o options, ln net.Listener, logger *slog.Logger) error {
	cfg := server.Config{
		Dev:               o.dev,
		Secret:            []byte(o.secret),
		Origins:           o.origins,
		ReceiptTimeout:    o.receiptTimeout,
		InvitationTimeout: o.invitationTimeout,
		Logger:            logger,
		LogLevel:          o.logLevel,
		NodeID:            o.nodeID,
	}
	cfg.WakeWindow, cfg.WakeRinging = o.wakeWindow, o.pushRinging
	cfg.DrainTimeout = o.drainTimeout
	if o.natsURL != "" || o.natsListen != "" {
		cfg.NATS = &server.NATSConfig{URL: o.natsURL, Listen: o.natsListen, ClusterListen: o.natsCluster, Routes: o.natsRoutes}
		if o.push && o.natsListen != "" {
			cfg.NATS.JetStreamDir = filepath.Join(o.data, "nats")
		}
	}
	var pusher *push.Service
	if o.push {
		var err error
		if pusher, err = newPusher(o, ln, logger); err != nil {
			ln.Close()
			return err
		}
		cfg.Waker, cfg.Push = pusher, pusher
	}
	var hooks *webhook.Sender
	if len(o.webhooks) > 0 {
		var err error
		if hooks, err = webhook.New(webhook.Config{URLs: o.webhooks, Secret: o.webhookSecret, Logger: logger}); err != nil {
			ln.Close()
			return err
		}
		cfg.Observer = server.ObserverFunc(func(e server.Event) {
			if _, err := hooks.Send(e.Type, e.Data()); err != nil {
				logger.Error("webhook event not sent", "type", e.Type, "err", err)
			}
		})
	}
	closeHooks := func(ctx context.Context) error {
		if hooks == nil {
			return nil
		}
		return hooks.Close(ctx)
	}
	node, err := server.New(cfg)
	if err != nil {
		ln.Close()
		return errors.Join(err, closeHooks(context.Background()))
	}
	var st store.Store
	closePush := func(ctx context.Context) error {
		if pusher == nil {
			return nil
		}
		err := pusher.Close(ctx)
		if st != nil {
			err = errors.Join(err, st.Close())
		}
		return err
	}
	if pusher != nil {
		if st, err = openStore(o, node); err == nil {
			err = pusher.Start(context.Background(), node, st)
		}
		if err != nil {
			ln.Close()
			return errors.Join(err, node.Shutdown(context.Background()), closePush(context.Background()), closeHooks(context.Background()))
		}
	}
	if hooks != nil {
		node.Registerer().MustRegister(hooks.Collectors()...)
		logger.Info("webhooks on", "endpoints", len(o.webhooks)) // never the URLs: they may hold credentials
	}
	mux := http.NewServeMux()
	if len(o.apiKeys) > 0 {
		h, err := api.New(node, o.apiKeys, logger)
		if err != nil {
			ln.Close()
			return errors.Join(err, node.Shutdown(context.Background()), closePush(context.Background()), closeHooks(context.Background()))
		}
		mux.Handle(api.Prefix, h)
		logger.Info("server API on", "path", api.Prefix, "keys", len(o.apiKeys))
	}
	if pusher != nil {
		mux.Handle("/push/", pusher.Handler())
	}
	mux.Handle("/ws", node)
	mux.Handle("/healthz", node)
	mux.Handle("/metrics", node)
	web, err := staticHandler(o.web, logger)
	if err != nil {
		ln.Close()
		return errors.Join(err, node.Shutdown(context.Background()), closePush(context.Background()), closeHooks(context.Background()))
	}
	mux.Handle("/", web)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	// WebSocket upgrades skip net/http's per-connection buffers (server.Node.Listener).
	go func() { served <- hs.Serve(node.Listener(ln, hs.ReadHeaderTimeout)) }()
	logger.Info("listening", "addr", ln.Addr().String(), "dev", o.dev, "node", node.ID(), "cluster", cfg.NATS != nil)
	logger.Info("demo page: open " + pageURL(ln.Addr()))

	var serveErr error
	var nodeErr error
	select {
	case serveErr = <-served:
	case <-node.Done(): // drained through the API
		logger.Info("drained, stopping")
	case <-ctx.Done():
		// The node drains (docs/CLUSTER.md "Drain and rolling restart"):
		// its clients move to the other nodes, its invitations end.
		// A second signal ends the process at once (main stops catching).
		logger.Info("signal received, draining")
		nodeErr = node.Drain(context.Background())
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	nodeErr = errors.Join(nodeErr, node.Shutdown(sctx))
	httpErr := hs.Shutdown(sctx)
	hooksErr := closeHooks(sctx) // after the node: its last events are queued
	hooksErr = errors.Join(hooksErr, closePush(sctx))
	if serveErr == nil {
		serveErr = <-served
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return errors.Join(serveErr, nodeErr, httpErr, hooksErr)
}

// DefaultData is -data's default, relative to the working directory.
const DefaultData = "rtmcall-data"

// newPusher makes the Web Push service of o; the server listens on ln.
func newPusher(o options, ln net.Listener, logger *slog.Logger) (*push.Service, error) {
	public := o.pushPublicURL
	if public == "" {
		public = "http://" + ln.Addr().String()
		if !o.dev {
			logger.Warn("Web Push: no -push-public-url; refuse links in pushes use " + public)
		}
	}
	contact := o.pushContact
	if contact == "" {
		contact = strings.TrimSuffix(public, "/")
		if !strings.HasPrefix(contact, "https:") {
			contact = "mailto:rtmcall@localhost" // dev: push services want a real contact in production
		}
	}
	return push.New(push.Config{Subscriber: contact, PublicURL: strings.TrimSuffix(public, "/"), AllowHTTP: o.pushAllowHTTP,
		AllowPrivate: o.pushPrivate, Hosts: o.pushHosts, VAPIDPublicKey: o.vapidPublic, VAPIDPrivateKey: o.vapidPrivate, Logger: logger})
}

// openStore opens the push store: files under -data for a node alone,
// the cluster's JetStream otherwise.
func openStore(o options, node *server.Node) (store.Store, error) {
	if node.NATSURL() == "" {
		return store.OpenFile(filepath.Join(o.data, "push"))
	}
	replicas := o.pushReplicas
	if replicas == 0 {
		replicas = 1
		if o.natsListen != "" {
			replicas = min(3, 1+len(o.natsRoutes))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return store.DialKV(ctx, node.NATSURL(), "rtmcall_push", replicas)
}

// staticHandler serves the demo page and the browser module at "/" (only
// static.Files, with precompressed variants and ETags: see server/static):
// from dir when given, else the copy built into the binary, else a page
// saying that they were not built.
func staticHandler(dir string, logger *slog.Logger) (http.Handler, error) {
	if dir != "" {
		st, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("-web: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("-web: %s is not a directory", dir)
		}
		if _, err := os.Stat(filepath.Join(dir, "rtmcall.wasm")); err != nil {
			logger.Warn("-web: the directory has no rtmcall.wasm (run make build)", "dir", dir)
		}
		logger.Info("serving the web assets from a directory", "dir", dir)
		return static.New(os.DirFS(dir), static.Options{Only: static.Files}), nil
	}
	fsys, built := static.Embedded()
	if !built {
		logger.Warn(static.NotBuiltMessage)
		return static.NotBuilt(), nil
	}
	return static.New(fsys, static.Options{Only: static.Files}), nil
}

// pageURL is the demo page's address for a listener: a wildcard address
// becomes 127.0.0.1, which a browser can open.
func pageURL(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String() + "/"
	}
	host := tcp.IP
	if host.IsUnspecified() {
		host = net.IPv4(127, 0, 0, 1)
	}
	return "http://" + net.JoinHostPort(host.String(), strconv.Itoa(tcp.Port)) + "/"
}
