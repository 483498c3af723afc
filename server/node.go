package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"path"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// Defaults for the zero fields of Config.
const (
	DefaultReceiptTimeout    = 10 * time.Second
	DefaultWakeWindow        = 15 * time.Second
	DefaultInvitationTimeout = 60 * time.Second
	DefaultTombstoneTTL      = 2 * time.Minute
	DefaultRateLimit         = 60  // frames per second
	DefaultRateBurst         = 180 // frames
	DefaultMaxPendingPerUser = 64
	DefaultResumeGrace       = 30 * time.Second
	DefaultHeartbeat         = 10 * time.Second
	DefaultLoginTimeout      = 10 * time.Second
	DefaultPeerHeartbeat     = time.Second
	DefaultPeerTimeout       = 3 * time.Second
)

// devOrigins are the browser origins dev mode allows besides Config.Origins
// (patterns for path.Match against the Origin's host; brackets escaped).
var devOrigins = []string{"localhost", "localhost:*", "127.0.0.1", "127.0.0.1:*", `\[::1\]`, `\[::1\]:*`}

// Config configures a Node. Zero fields take the defaults above.
type Config struct {
	// Dev accepts logins without a token (any valid user id) and allows
	// browser pages on localhost, 127.0.0.1 and [::1], any port.
	Dev bool
	// Secret is the HS256 key login tokens are verified with. Required
	// unless Dev; in dev mode a given token is still verified when Secret
	// is set.
	Secret []byte
	// Origins are the browser origins allowed to connect, as
	// host patterns such as "app.example.com" or "*.example.com"
	// (path.Match against the Origin's host, case-insensitively; a pattern
	// with "://" against its scheme://host). Clients that send no Origin
	// header, and pages of the server's own host, are always allowed.
	Origins []string
	// ReceiptTimeout is how long the callee's devices have to acknowledge
	// an invitation before it fails with PEER_NO_RESPONSE.
	ReceiptTimeout time.Duration
	// InvitationTimeout is the timeout of an invitation sent without one,
	// counted from the send (at least a millisecond).
	InvitationTimeout time.Duration
	// Waker, if set, wakes the devices of a callee who has no session
	// (Web Push); nil: an offline callee is PEER_OFFLINE at once.
	Waker Waker
	// WakeWindow is how long a send to an offline callee that Waker can
	// wake waits for a device to log in and ring (PROTOCOL.md "Waking").
	WakeWindow time.Duration
	// WakeRinging also wakes (pushes to) the devices of a callee whose
	// sessions ring; off by default: a user with a session that rings
	// gets no push.
	WakeRinging bool
	// Push, if set, keeps the users' Web Push subscriptions: the
	// push.subscribe and push.unsubscribe requests and logout's dropPush
	// (package server/push). Nil: those requests fail with PUSH_UNAVAILABLE.
	Push PushRegistry
	// TombstoneTTL is how long an ended invitation's id stays known, so that
	// late requests on it get ALREADY_END rather than NOT_YOURS.
	TombstoneTTL time.Duration
	// RateLimit (frames per second) and RateBurst size the token bucket of
	// each connection.
	RateLimit float64
	RateBurst int
	// MaxPendingPerUser bounds the pending outgoing invitations of a user,
	// over all of the user's sessions, on every node of a cluster (exact
	// for sends one message apart; docs/CLUSTER.md bounds the excess).
	MaxPendingPerUser int
	// MaxGroupCallees bounds the callees of one group invitation, from 2 to
	// protocol.MaxGroupCallees (16, the default).
	MaxGroupCallees int
	// ResumeGrace is how long a session whose connection dropped is kept:
	// its invitations stay alive, its presence is UNREACHABLE, and a new
	// connection may resume it.
	ResumeGrace time.Duration
	// Heartbeat is the interval at which clients are told to ping.
	Heartbeat time.Duration
	// IdleTimeout drops a logged-in connection that sent nothing for that
	// long (its session is kept for ResumeGrace); default 2.5 heartbeats.
	IdleTimeout time.Duration
	// LoginTimeout drops a connection that has not logged in (or resumed)
	// that long after connecting or logging out.
	LoginTimeout time.Duration
	// Logger receives the node's structured logs; nil means slog.Default().
	Logger *slog.Logger
	// LogLevel is the least level the node logs at, whatever Logger lets
	// through; the zero value is slog.LevelInfo. Every invitation, request
	// and connection is logged at slog.LevelDebug; sessions at info.
	LogLevel slog.Level

	// NodeID names the node in its cluster: 8 lowercase hex characters,
	// which start the ids of its sessions and invitations. Empty: random.
	NodeID string
	// NATS makes the node one of a cluster (docs/CLUSTER.md): nodes share
	// presence, invitations and sessions through NATS. Nil: a single node,
	// which needs nothing external.
	NATS *NATSConfig
	// Broker, when set, is the cluster's transport instead of NATS.
	Broker Broker
	// PeerHeartbeat is how often a node of a cluster tells the others it is
	// alive; PeerTimeout, how long a silent node has before the others
	// declare it dead and end what they shared with it.
	PeerHeartbeat time.Duration
	PeerTimeout   time.Duration

	// DrainTimeout bounds Drain; zero: the longest time left, when the
	// drain starts, to an invitation pending on the node or ringing one of
	// its sessions from another node, plus PeerHeartbeat, at least
	// ResumeGrace and at most MaxDefaultDrainTimeout (drain.go).
	DrainTimeout time.Duration

	// Observer, when set, is told every decision (events.go): webhooks.
	Observer Observer
}

// withDefaults checks c and fills its zero fields.
func (c Config) withDefaults() (Config, error) {
	if !c.Dev && len(c.Secret) == 0 {
		return c, ErrNoSecret
	}
	bad := func(format string, args ...any) (Config, error) {
		return c, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	switch {
	case c.ReceiptTimeout < 0:
		return bad("ReceiptTimeout %v is negative", c.ReceiptTimeout)
	case c.InvitationTimeout < 0 || c.InvitationTimeout > protocol.MaxTimeout:
		return bad("InvitationTimeout %v is not within 0 to %v", c.InvitationTimeout, protocol.MaxTimeout)
	case c.InvitationTimeout > 0 && c.InvitationTimeout < time.Millisecond:
		return bad("InvitationTimeout %v is under a millisecond (the wire unit)", c.InvitationTimeout)
	case c.WakeWindow < 0 || c.WakeWindow > protocol.MaxWake:
		return bad("WakeWindow %v is not within 0 to %v", c.WakeWindow, protocol.MaxWake)
	case c.TombstoneTTL < 0:
		return bad("TombstoneTTL %v is negative", c.TombstoneTTL)
	case c.RateLimit < 0 || math.IsNaN(c.RateLimit) || math.IsInf(c.RateLimit, 0):
		return bad("RateLimit %v is not a finite number of frames per second", c.RateLimit)
	case c.RateBurst < 0:
		return bad("RateBurst %d is negative", c.RateBurst)
	case c.MaxPendingPerUser < 0:
		return bad("MaxPendingPerUser %d is negative", c.MaxPendingPerUser)
	case c.MaxGroupCallees != 0 && (c.MaxGroupCallees < protocol.MinGroupCallees || c.MaxGroupCallees > protocol.MaxGroupCallees):
		return bad("MaxGroupCallees %d is not within %d to %d", c.MaxGroupCallees, protocol.MinGroupCallees, protocol.MaxGroupCallees)
	case c.ResumeGrace < 0 || c.Heartbeat < 0 || c.IdleTimeout < 0 || c.LoginTimeout < 0:
		return bad("ResumeGrace, Heartbeat, IdleTimeout and LoginTimeout must not be negative")
	case c.DrainTimeout < 0:
		return bad("DrainTimeout %v is negative", c.DrainTimeout)
	case c.PeerHeartbeat < 0 || c.PeerTimeout < 0:
		return bad("PeerHeartbeat and PeerTimeout must not be negative")
	case c.NodeID != "" && !isNodeID(c.NodeID):
		return bad("NodeID %q is not 8 lowercase hex characters", c.NodeID)
	}
	for _, p := range c.Origins {
		if _, err := path.Match(p, ""); err != nil {
			return bad("origin pattern %q: %v", p, err)
		}
	}
	if c.ReceiptTimeout == 0 {
		c.ReceiptTimeout = DefaultReceiptTimeout
	}
	if c.InvitationTimeout == 0 {
		c.InvitationTimeout = DefaultInvitationTimeout
	}
	if c.WakeWindow == 0 {
		c.WakeWindow = DefaultWakeWindow
	}
	if c.TombstoneTTL == 0 {
		c.TombstoneTTL = DefaultTombstoneTTL
	}
	if c.RateLimit == 0 {
		c.RateLimit = DefaultRateLimit
	}
	if c.RateBurst == 0 {
		c.RateBurst = DefaultRateBurst
	}
	if c.MaxPendingPerUser == 0 {
		c.MaxPendingPerUser = DefaultMaxPendingPerUser
	}
	if c.MaxGroupCallees == 0 {
		c.MaxGroupCallees = protocol.MaxGroupCallees
	}
	if c.ResumeGrace == 0 {
		c.ResumeGrace = DefaultResumeGrace
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = c.Heartbeat * 5 / 2
	}
	if c.LoginTimeout == 0 {
		c.LoginTimeout = DefaultLoginTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Logger = slog.New(levelHandler{min: c.LogLevel, Handler: c.Logger.Handler()})
	if c.NodeID == "" {
		c.NodeID = randomHex(nodeIDBytes)
	}
	if c.PeerHeartbeat == 0 {
		c.PeerHeartbeat = DefaultPeerHeartbeat
	}
	if c.PeerTimeout == 0 {
		c.PeerTimeout = max(DefaultPeerTimeout, 2*c.PeerHeartbeat)
	}
	if c.PeerTimeout <= c.PeerHeartbeat {
		return bad("PeerTimeout %v must be longer than PeerHeartbeat %v", c.PeerTimeout, c.PeerHeartbeat)
	}
	c.Secret = slices.Clone(c.Secret)
	c.Origins = slices.Clone(c.Origins)
	if c.Dev {
		c.Origins = append(c.Origins, devOrigins...)
	}
	return c, nil
}

// Node is one signaling server: it serves /ws and /healthz (it is an
// http.Handler) and owns every session and invitation.
type Node struct {
	cfg Config
	log *slog.Logger

	// ctx is canceled when Shutdown gives up waiting: every connection is
	// then closed at once.
	ctx    context.Context
	cancel context.CancelFunc
	// wg counts the node's goroutines: sessions (the handler running the
	// read loop, and the writer) and armed timers.
	wg sync.WaitGroup

	// mu guards everything below, the hub and the invitations, and every
	// session's logged-in state. Frames are queued to sessions while it is
	// held, so that every session sees outcomes in one order.
	m *metrics

	// id names the node in its cluster; inc tells this run of it from a
	// previous one with the same id. broker carries what crosses nodes.
	id     string
	inc    string
	broker Broker

	mu      nodeMutex
	closing bool
	// draining: Drain has begun; drainDeadline is when it gives up.
	draining      bool
	drainDeadline time.Time
	drainOnce     sync.Once
	// drainLooks, if set (tests), holds the drain's looks for sessions
	// that may move (at its start and at its ticks) until it is closed.
	drainLooks chan struct{}
	// drainLooked counts the drain's looks (tests wait for one).
	drainLooked int
	// claimHold, if set (tests), holds the claims of moved sessions until
	// it is closed (handover.go): a slow node, or, never closed, one of an
	// earlier version, which ignores them.
	claimHold chan struct{}
	// claimHoldFrom, if set, narrows claimHold to the claims this peer
	// sends: one login's claim held while another's goes on.
	claimHoldFrom string
	// replacedHold, if set (tests), holds the end of a moved session that
	// another session of its user replaced (replacedLocked) until it is
	// closed: a slower heartbeat, the moved session listed longer.
	replacedHold chan struct{}

	// drainCloses, if set (tests), holds the drain's closes of connections
	// without a session until it is closed.
	drainCloses chan struct{}
	done        chan struct{} // closed once Shutdown has finished
	doneOnce    sync.Once
	hub         hub
	invs        invitations
	cl          cluster // the other nodes
	nextSeq     uint64  // session and invitation sequence numbers, for stable ordering
	// holds are the moved sessions that ended before their device's new
	// session claimed what they hold for it (handover.go), by id.
	holds map[string]*session

	events eventQueue // to Config.Observer; its own lock
}

// New returns a Node for cfg. It fails with ErrNoSecret when there is no
// secret and Dev is off, and with ErrInvalidConfig for values out of range.
// With cfg.NATS or cfg.Broker, the node joins its cluster: it connects (or
// starts its embedded NATS server) and says hello; it fails if it cannot.
func New(cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With("node", cfg.NodeID), hub: newHub(), invs: newInvitations(), m: newMetrics(),
		id: cfg.NodeID, inc: randomHex(8), cl: newCluster(), holds: make(map[string]*session), done: make(chan struct{})}
	alone := false
	switch {
	case cfg.Broker != nil:
		n.broker = cfg.Broker
	case cfg.NATS != nil:
		nc := *cfg.NATS
		if nc.ServerName == "" {
			nc.ServerName = "rtmcall-" + cfg.NodeID
		}
		b, err := newNATSBroker(nc, n.log)
		if err != nil {
			return nil, err
		}
		n.broker = b
	default:
		n.broker, alone = &memoryBroker{}, true
	}
	n.m.reg.MustRegister(n.sessionGauges()...)
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if err := n.startCluster(alone); err != nil {
		n.cancel()
		return nil, errors.Join(fmt.Errorf("failed to join the cluster: %w", err), n.broker.Close(context.Background()))
	}
	if cfg.Dev {
		n.log.Warn("DEV MODE: logins without a token are accepted for any user id; never use this in production",
			"token_checked_when_given", len(cfg.Secret) > 0, "origins", cfg.Origins)
	}
	return n, nil
}

// ServeHTTP serves the WebSocket endpoint at /ws, a health check at
// /healthz ("ok", or 503 once a drain or shutdown has begun) and Prometheus metrics at
// /metrics. It returns once a WebSocket is upgraded: the node serves the
// connection on a goroutine of its own (Shutdown waits for it), so that
// net/http lets go of the request and its buffers.
func (n *Node) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case protocol.Path:
		n.serveWebSocket(w, r)
	case "/metrics":
		n.m.handler().ServeHTTP(w, r)
	case "/healthz":
		n.mu.Lock()
		closing, draining := n.closing, n.draining
		n.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if closing || draining {
			w.WriteHeader(http.StatusServiceUnavailable)
			if closing {
				fmt.Fprint(w, "shutting down")
			} else {
				fmt.Fprint(w, "draining")
			}
			return
		}
		fmt.Fprint(w, "ok")
	default:
		http.NotFound(w, r)
	}
}

// WebSocketHandler returns the WebSocket endpoint alone, for embedders that
// mount it on their own mux (it does not check the path).
func (n *Node) WebSocketHandler() http.Handler {
	return http.HandlerFunc(n.serveWebSocket)
}

func (n *Node) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	reserveUpgradeStack()
	n.mu.Lock()
	if n.closing || n.draining {
		n.mu.Unlock()
		n.log.Debug("upgrade refused: shutting down", "remote", r.RemoteAddr) // a client sent here late (debug: where moves went)
		// The connection closes with the answer: kept alive, an HTTP
		// client's pool hands it to its next upgrade, which a TCP load
		// balancer, picking a node per connection, cannot send elsewhere
		// (TestDrainRefusalClosesTheConnection).
		w.Header().Set("Connection", "close")
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	n.wg.Add(1) // not zero while Shutdown may wait: closing is false under mu
	n.mu.Unlock()
	c, sub, err := accept(w, r, n.cfg.Origins)
	if err != nil {
		n.log.Info("websocket upgrade refused", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), "err", err)
		n.wg.Done()
		return
	}
	// The handler returns, so that net/http lets go of the request and the
	// connection runs on a goroutine with a stack of its own size.
	go n.serveSocket(c, sub, r.RemoteAddr)
}

// serveSocket serves c, upgraded with subprotocol sub, until it closes: a
// connection without subprotocol rtmcall.v1 is closed at once. The caller
// has counted it in n.wg.
func (n *Node) serveSocket(c *socket, sub, remote string) {
	defer n.wg.Done()
	if sub != protocol.Subprotocol {
		n.log.Info("connection without subprotocol "+protocol.Subprotocol+" closed", "remote", remote)
		c.Close(ws.StatusProtocolError, "subprotocol "+protocol.Subprotocol+" required")
		return
	}
	newConn(n, c, remote).run()
}

// Shutdown stops the node: new connections are refused with 503, every
// pending invitation ends with local.failure UNKNOWN and remote.failure
// UNKNOWN, then every connection is closed with 1001 after the frames
// queued to it. It waits until every goroutine of the node has finished,
// or until ctx ends: then it closes the remaining connections at once and
// returns ctx's error. Calling it again waits again.
func (n *Node) Shutdown(ctx context.Context) error {
	n.mu.Lock()
	if !n.closing {
		n.closing = true
		n.logLocked(n.log, slog.LevelInfo, "shutting down", "sessions", len(n.hub.sessions), "connections", len(n.hub.conns))
		n.endAllLocked()
		n.stopTimer(&n.invs.sweeper)
		// After a drain the clients left log in anew elsewhere (drain.go).
		bye := &protocol.Frame{Type: protocol.TypeBye, Reason: "INTERRUPTED"}
		code := ws.StatusGoingAway
		if n.draining {
			bye.Reason, code = protocol.ByeMoved, statusServiceRestart
		}
		for _, s := range n.hub.sessionsInOrder() {
			s.enqueue(bye)
			n.endSessionLocked(s, code, "server shutting down", "shutdown")
		}
		n.dropHoldsLocked()
		n.forgetClaimsLocked()
		for c := range n.hub.conns {
			switch {
			case c.relay != nil:
				c.ws.CloseNow() // the session is on another node: the client resumes elsewhere
			case c.sess == nil:
				go func(loggedOut <-chan struct{}) {
					if loggedOut != nil {
						<-loggedOut // after the logout's replies, as at a drain
					}
					c.ws.Close(ws.StatusGoingAway, "server shutting down")
				}(c.loggedOut)
			}
		}
	}
	n.mu.Unlock()

	done := make(chan struct{})
	go func() {
		n.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
		n.log.Info("shut down")
	case <-ctx.Done():
		n.cancel() // unblocks every write
		n.mu.Lock()
		conns := slices.Collect(maps.Keys(n.hub.conns))
		n.mu.Unlock()
		for _, c := range conns {
			c.ws.CloseNow() // and every read: connections close at once
		}
		n.log.Warn("shutdown deadline passed; connections closed without handshake", "err", ctx.Err())
		err = ctx.Err()
	}
	n.cancel()
	if cerr := n.stopCluster(ctx); cerr != nil {
		err = errors.Join(err, fmt.Errorf("failed to leave the cluster: %w", cerr))
	}
	n.doneOnce.Do(func() { close(n.done) })
	return err
}

// isNodeID reports whether id is 8 lowercase hex characters.
func isNodeID(id string) bool {
	if len(id) != 2*nodeIDBytes {
		return false
	}
	for _, r := range id {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

// nextSeqLocked numbers sessions and invitations in creation order.
func (n *Node) nextSeqLocked() uint64 {
	n.nextSeq++
	return n.nextSeq
}

// afterFunc arms a timer whose callback the node waits for in Shutdown.
// Disarm it with stopTimer. Callers hold mu and run in a counted goroutine.
func (n *Node) afterFunc(d time.Duration, f func()) *time.Timer {
	n.wg.Add(1)
	return time.AfterFunc(d, func() {
		defer n.wg.Done()
		f()
	})
}

// stopTimer disarms *t. When Stop reports that the callback will not run,
// the callback's count is released here; otherwise the callback releases it.
func (n *Node) stopTimer(t **time.Timer) {
	if *t != nil && (*t).Stop() {
		n.wg.Done()
	}
	*t = nil
}

// nodeMutex is Node.mu. Logs recorded while it is held (logLocked) are
// handed to their handler by Unlock, after the lock is released, so that no
// handler's formatting and I/O holds up the other connections.
//
// Frames queued while it is held to a session whose writer is idle are
// written by Unlock too, from the goroutine that queued them, with no
// hand-off to a writer goroutine (deferWrite).
type nodeMutex struct {
	sync.Mutex
	logs []heldLog

	locked atomic.Bool // the Mutex is held; set by its holder
	wmu    sync.Mutex  // guards writes, and orders them with locked
	writes []heldWrite

	// at is the time of this holding, read once by its first now.
	at    time.Time
	hasAt bool
}

// now is the time of the current holding of m, read on its first call: the
// handlers one request runs under the lock (a hangup's, the call's end,
// the tombstone's sweep) share one clock read. Callers hold m.
func (m *nodeMutex) now() time.Time {
	if !m.hasAt {
		m.at, m.hasAt = time.Now(), true
	}
	return m.at
}

// heldLogs holds the arrays of nodeMutex.logs that Unlock wrote, for the
// next holders that log: otherwise each lock section that logs, a login's
// among them, allocates an array for its records (320 bytes for one).
var heldLogs = sync.Pool{New: func() any { return new([4]heldLog) }}

type heldLog struct {
	h slog.Handler
	r slog.Record
}

// heldWrite is an attachment whose writer Unlock runs, inline.
type heldWrite struct {
	s *session
	a *attachment
}

func (m *nodeMutex) Lock() {
	m.Mutex.Lock()
	m.locked.Store(true)
}

func (m *nodeMutex) Unlock() {
	logs := m.logs
	m.logs = nil
	m.hasAt = false
	m.locked.Store(false)
	m.wmu.Lock()
	writes := m.writes
	if len(writes) > 0 {
		m.writes = nil
	} else {
		writes = nil
	}
	m.wmu.Unlock()
	m.Mutex.Unlock()
	if writes != nil {
		for _, w := range writes {
			w.s.writeLoop(w.a, true)
		}
		clear(writes)
		m.wmu.Lock()
		if m.writes == nil {
			m.writes = writes[:0] // reused by the next holder
		}
		m.wmu.Unlock()
	}
	if logs != nil {
		for _, l := range logs {
			_ = l.h.Handle(context.Background(), l.r)
		}
		if cap(logs) == 4 {
			clear(logs)
			heldLogs.Put((*[4]heldLog)(logs[:4]))
		}
	}
}

// deferWrite hands a's writer to the holder of the lock, which runs it
// once it unlocks, and reports whether there was a holder to hand it to.
// Whoever queues a frame may call it (with qmu held), holding the lock or
// not: a holder always unlocks after the hand-off, since the check and
// the hand-off are one step under wmu and Unlock clears locked before it
// takes the writes.
func (m *nodeMutex) deferWrite(s *session, a *attachment) bool {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	if !m.locked.Load() {
		return false
	}
	m.writes = append(m.writes, heldWrite{s, a})
	return true
}

// logLocked logs through l once mu is released. Callers hold mu. Hot paths
// check l.Enabled first: the arguments are boxed before the call.
func (n *Node) logLocked(l *slog.Logger, level slog.Level, msg string, args ...any) {
	n.holdLogLocked(l, nil, level, msg, args)
}

// logSessionLocked logs about s as logLocked(s.log(), ...) would, with the
// same attributes, without making s's logger: With formats its attributes
// into a handler of its own, which for one line costs more than the line.
func (n *Node) logSessionLocked(s *session, level slog.Level, msg string, args ...any) {
	n.holdLogLocked(n.log, s, level, msg, args)
}

// holdLogLocked records a log line of logLocked's or logSessionLocked's
// caller (s nil: not about a session) for Unlock.
func (n *Node) holdLogLocked(l *slog.Logger, s *session, level slog.Level, msg string, args []any) {
	if !l.Enabled(context.Background(), level) {
		return
	}
	var pc [1]uintptr
	runtime.Callers(3, pc[:])
	r := slog.NewRecord(time.Now(), level, msg, pc[0])
	if s != nil {
		r.AddAttrs(slog.String("session", s.id), slog.String("user", s.user))
	}
	r.Add(args...)
	if n.mu.logs == nil {
		n.mu.logs = heldLogs.Get().(*[4]heldLog)[:0]
	}
	n.mu.logs = append(n.mu.logs, heldLog{l.Handler(), r})
}

// debug reports whether the node logs at slog.LevelDebug.
func (n *Node) debug() bool { return n.log.Enabled(context.Background(), slog.LevelDebug) }

// levelHandler drops the records under min (Config.LogLevel).
type levelHandler struct {
	min slog.Level
	slog.Handler
}

func (h levelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return levelHandler{h.min, h.Handler.WithAttrs(as)}
}

func (h levelHandler) WithGroup(name string) slog.Handler {
	return levelHandler{h.min, h.Handler.WithGroup(name)}
}
