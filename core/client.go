// Package core is rtmcall's invitation core: the caller's and callee's
// invitation state machines and the client that mirrors the server's
// decisions. It is pure Go, builds natively and for GOOS=js, and is the same
// code in Go programs and in the browser module.
//
// # Wasm
//
// Under GOOS=js the client dials through the browser's WebSocket (via
// github.com/coder/websocket). Callbacks run on a goroutine, so a callback
// that calls into JavaScript may do so, but must not block waiting for an
// operation whose result it is itself delaying.
package core

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log"
	"maps"
	"math/rand/v2"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// Options configure a Client.
type Options struct {
	// URL is the server's WebSocket endpoint, e.g. "ws://127.0.0.1:8080/ws".
	URL string
	// RequestTimeout bounds an operation whose context has no deadline; default 10 s.
	RequestTimeout time.Duration
	// Logf receives what the client drops (unexpected frames); default log.Printf.
	Logf func(format string, args ...any)
	// TLSConfig, natively a *tls.Config, is the TLS configuration of a
	// wss:// URL, e.g. RootCAs with a private CA; default the system roots.
	// The client uses a clone, with ServerName from the URL's host when
	// empty (as net/http) and NextProtos cleared (the upgrade is HTTP/1.1);
	// through a proxy from the environment it is an http.Transport's
	// TLSClientConfig, which applies to an https:// proxy as well. In the
	// browser, which does TLS itself, TLSConfig is a placeholder type and a
	// non-nil one fails NewClient with INVALID_ARGUMENT.
	TLSConfig *TLSConfig
}

// maxServerFrame is the client's read limit: the server's largest frames
// (presence replies for 512 ids) fit well within it.
const maxServerFrame = 1 << 20

// tokenWarning is how long before a token's exp TokenPrivilegeWillExpire fires.
const tokenWarning = 30 * time.Second

// ackEvery is how many frames the client takes before it acknowledges them
// without waiting for the next heartbeat, so the server's buffer stays small.
const ackEvery = 64

// Reconnection backoff: doubling from backoffMin to backoffMax, each wait
// drawn from half to one and a half of it so that clients dropped together
// do not come back together.
const (
	backoffMin = 100 * time.Millisecond
	backoffMax = 5 * time.Second
)

// Client is one user's session with the server and the invitations it
// carries. Its methods are safe for concurrent use. Callbacks run one at a
// time, in the order of the events, outside the client's lock.
//
// When the connection drops the client goes to RECONNECTING, reconnects
// with backoff and resumes its session: invitations stay alive, events
// missed meanwhile arrive in order exactly once, and operations called
// meanwhile are sent on resume. If the session cannot be resumed within
// the server's grace period, the client ends in ABORTED. When its node
// drains (bye MOVED, close 1012), the client logs in anew instead (move.go).
type Client struct {
	opts     Options
	dialOpts *websocket.DialOptions // dialOptions, or the client's own with a TLSConfig
	q        queue
	wg       sync.WaitGroup // every goroutine of the client but the callback queue

	mu        sync.Mutex
	conn      *link // the current connection; nil while down
	state     ConnectionState
	userID    string
	session   string        // the session id, for resume
	key       string        // the session's resume key
	grace     time.Duration // how long the server keeps a dropped session
	heartbeat time.Duration // how often to ping
	lastSeq   uint64        // the last frame of the session's stream handled
	unacked   int           // frames handled since the last acknowledgement
	ackQueued bool          // a ping carrying an acknowledgement is on its way
	bye       string        // the reason of the server's "bye", if it said goodbye
	token     string        // the token the session logged in or renewed with: a move logs in with it
	stopRetry chan struct{} // closes to stop the reconnection loop
	// What a move to another node sets again on the new session: the
	// presence subscriptions and call waiting.
	subs map[string]struct{}
	// (waitingOn next to the other bools: the struct stays in the 512-byte
	// size class.)
	waitingOn    bool
	loginAborted bool
	closed       bool
	nextRID      uint64
	pending      map[uint64]*call // requests without a reply yet
	outbox       []*call          // requests not yet written, in rid order
	// acks are the acks in pending, in rid order: carried out, an ack has no
	// reply; it is known done once a later request is answered (acksDoneLocked).
	acks       []*call
	locals     map[string]*LocalInvitation
	remotes    map[string]*RemoteInvitation
	calls      map[string]*callSide // calls in progress, by invitation id
	tokenTimer *time.Timer

	onInvitation func(*RemoteInvitation)
	onState      func(ConnectionState, ConnectionChangeReason)
	onPresence   func(map[string]PeerStatus)
	onTokenWill  func()
	onMessage    func(Message, string, MessageProps)
}

// link is one WebSocket connection: a reader and, once logged in, a
// heartbeat. There is no writer goroutine: whoever queues requests writes
// the outbox (drain) when no one else is writing it, so that a request or
// an ack costs no wake-up of another goroutine.
type link struct {
	ws *websocket.Conn
	// beat is the heartbeat's timer (startHeartbeatLocked), nil before the
	// login's reply; guarded by Client.mu. due is its next beat, the timer
	// function's.
	beat *time.Timer
	due  time.Time

	writing bool // guarded by Client.mu: a goroutine is writing the outbox (drain)
	// The writing goroutine's, reused from batch to batch: the batch's
	// frames encoded one after the other, and where each ends.
	buf  []byte
	ends []int
	// One watchdog per connection rather than a context and timer per
	// write: it closes the connection when a write has taken longer than
	// Options.RequestTimeout, as a write's context ending would. A write
	// arms it only if it is not armed: while writes follow each other it
	// fires once per timeout and re-arms itself for the write in progress,
	// rather than being reset and stopped around every write.
	watchdog *time.Timer
	armed    atomic.Bool // the watchdog will fire
	epoch    time.Time
	deadline atomic.Int64 // the write in progress's, in ns since epoch; 0 when none is

	// The reader's, reused from frame to frame: a frame's ids repeat
	// earlier frames', and are taken from strs rather than allocated.
	rbuf  []byte
	frame protocol.Frame
	strs  protocol.Strings
	// readOn goes on with the reading after a hand-off (readFrames), made
	// once; it first writes the outbox if drainFirst (the reader had
	// claimed the writing), and reports true when it hands off in turn
	// (read). Set before the hand-off, read after it.
	// lead is false with one P (GOMAXPROCS, always so in wasm): the
	// goroutine handed the reading could then write an invite's ack only
	// once the callback returned, where the reader wrote it first.
	readOn     func() bool
	drainFirst bool
	lead       bool
}

// A call is one request from its queuing to its reply. A request's call is
// pooled: once it has its reply, nothing else refers to it (its frame was
// encoded under the lock when it was sent).
type call struct {
	f      protocol.Frame
	done   chan result // capacity 1: the reply, to a request that waits
	waits  bool        // a request waits on done (not an ack, an acknowledging ping, or a request given up)
	hook   replyHook
	sent   bool
	expiry *time.Timer // a request's default timeout, reused with the call
}

// A replyHook takes a request's reply in the reader, with the lock held,
// before any later frame is handled; it must not keep the frame.
type replyHook interface{ onReply(reply *protocol.Frame) }

// hookFunc is a closure as a replyHook.
type hookFunc func(*protocol.Frame)

func (h hookFunc) onReply(reply *protocol.Frame) { h(reply) }

// ignoreReply is a hook that does nothing: its request's reply is still
// taken when it comes after the request stopped waiting.
var ignoreReply replyHook = hookFunc(func(*protocol.Frame) {})

// funcHook is hook as a replyHook, nil if hook is.
func funcHook(hook func(*protocol.Frame)) replyHook {
	if hook == nil {
		return nil
	}
	return hookFunc(hook)
}

// result is what a request gets back.
type result struct {
	reply answer
	err   error // the error reply's
	lost  bool  // the connection was lost before the reply
	// answered: the reply came to the request as sent, so the call may go
	// back to the pool.
	answered bool
}

// answer is what callers read of a reply once request returns: the frame
// itself is the reader's, which reuses it.
type answer struct {
	received bool            // message: hasPeerReceived
	online   map[string]bool // query
}

var calls = sync.Pool{New: func() any { return &call{done: make(chan result, 1)} }}

// newCall is a pooled call for a copy of f (so that f does not escape).
func newCall(f *protocol.Frame) *call {
	cl := pooledCall()
	cl.f = *f
	return cl
}

// pooledCall is a pooled call whose frame is zero (recycle), for a request
// written into it field by field: the frequent requests so cost neither a
// frame on the stack nor its copy.
func pooledCall() *call { return calls.Get().(*call) }

// recycle puts back a call that nothing refers to any more.
func recycle(cl *call) {
	cl.f, cl.waits, cl.hook, cl.sent = protocol.Frame{}, false, nil, false
	calls.Put(cl)
}

// lose tells the waiter, if any, that the connection was lost.
func (cl *call) lose() {
	if cl.waits {
		cl.done <- result{lost: true}
	}
}

// resumable reports whether the request may be sent again on a resumed
// connection if the server had not carried it out.
func (cl *call) resumable() bool {
	switch cl.f.Type {
	case protocol.TypePing, protocol.TypeLogin:
		return false
	}
	return true
}

// NewClient returns a client for the server at opts.URL. It does not
// connect: Login does.
func NewClient(opts Options) (*Client, error) {
	if !strings.HasPrefix(opts.URL, "ws://") && !strings.HasPrefix(opts.URL, "wss://") {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "url must start with ws:// or wss://, got %q", opts.URL)
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 10 * time.Second
	}
	if opts.Logf == nil {
		opts.Logf = log.Printf
	}
	dial, err := newDialOptions(opts)
	if err != nil {
		return nil, err
	}
	return &Client{
		opts:     opts,
		dialOpts: dial,
		pending:  make(map[uint64]*call),
	}, nil
}

// put sets (*m)[k] to v, making the map for its first entry: the maps of
// invitations, calls and subscriptions are made when used, as an idle
// client's empty maps are objects the collector marks in every cycle.
func put[K comparable, V any](m *map[K]V, k K, v V) {
	if *m == nil {
		*m = make(map[K]V)
	}
	(*m)[k] = v
}

// UserID is the logged-in user id, or the last one after a logout.
func (c *Client) UserID() string { return get(c, &c.userID) }

// ConnectionState is the current connection state.
func (c *Client) ConnectionState() ConnectionState { return get(c, &c.state) }

// OnInvitationReceived sets the callback for RemoteInvitationReceived. Set
// the invitation's own callbacks inside it to see every later event. The
// last callback set wins; nil clears.
func (c *Client) OnInvitationReceived(f func(*RemoteInvitation)) { set(c, &c.onInvitation, f) }

// OnConnectionStateChanged sets the callback for ConnectionStateChanged.
func (c *Client) OnConnectionStateChanged(f func(ConnectionState, ConnectionChangeReason)) {
	set(c, &c.onState, f)
}

// OnPeersOnlineStatusChanged sets the callback for PeersOnlineStatusChanged,
// fired with the current status right after a subscribe and on each change.
func (c *Client) OnPeersOnlineStatusChanged(f func(map[string]PeerStatus)) { set(c, &c.onPresence, f) }

// OnTokenPrivilegeWillExpire sets the callback fired 30 s before the login
// token's exp; RenewToken then gives the session a new token.
func (c *Client) OnTokenPrivilegeWillExpire(f func()) { set(c, &c.onTokenWill, f) }

// LoginOptions are what a session starts with (LoginWith).
type LoginOptions struct {
	// CallWaiting starts the session with call waiting on, as SetCallWaiting
	// would, but in the login itself: late ringing at the login (an
	// invitation pending while the user is in a call) rings this session,
	// and every node of a cluster learns of the session with it on.
	CallWaiting bool
}

// Login connects and logs in as userID. token is a JWT from the app's
// backend; it may be empty against a server in dev mode.
func (c *Client) Login(ctx context.Context, userID, token string) error {
	return c.LoginWith(ctx, userID, token, LoginOptions{})
}

// LoginWith is Login with options.
func (c *Client) LoginWith(ctx context.Context, userID, token string, opts LoginOptions) error {
	if err := protocol.ValidateUserID(userID); err != nil {
		return err
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return protocol.Errorf(protocol.CodeNotConnected, "client is closed")
	}
	if c.state != ConnectionDisconnected && c.state != ConnectionAborted {
		c.mu.Unlock()
		return protocol.Errorf(protocol.CodeAlreadyLogin, "client is %s", c.state)
	}
	c.loginAborted = false
	c.setState(ConnectionConnecting, ReasonLogin)
	c.mu.Unlock()

	ws, err := c.dialLogin(ctx)
	if err != nil {
		c.mu.Lock()
		aborted := c.loginAborted
		reason, code := ReasonLoginFailure, protocol.CodeNotConnected
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			reason, code = ReasonLoginTimeout, protocol.CodeTimeout
		}
		if c.state == ConnectionConnecting {
			c.setState(ConnectionDisconnected, reason)
		}
		c.mu.Unlock()
		if aborted {
			return protocol.Errorf(protocol.CodeAbortedByLogout, "logout during login")
		}
		return protocol.Errorf(code, "failed to connect to %s: %v", c.opts.URL, err)
	}

	c.mu.Lock()
	if c.loginAborted || c.closed {
		c.mu.Unlock()
		ws.CloseNow()
		return protocol.Errorf(protocol.CodeAbortedByLogout, "logout during login")
	}
	c.session, c.key, c.lastSeq, c.unacked, c.bye = "", "", 0, 0, ""
	l := c.startLinkLocked(ws)
	c.mu.Unlock()

	err = c.request(ctx, &protocol.Frame{Type: protocol.TypeLogin, User: userID, Token: token, Waiting: opts.CallWaiting},
		func(reply *protocol.Frame) {
			if reply.Type == protocol.TypeOK {
				// In the reader, before any frame that follows the login.
				c.userID, c.token = userID, token
				clear(c.subs)
				c.waitingOn = opts.CallWaiting
				c.session, c.key = reply.Session, reply.Key
				c.grace, c.heartbeat = protocol.Millis(reply.Grace), protocol.Millis(reply.Heartbeat)
				c.setState(ConnectionConnected, ReasonLoginSuccess)
				c.watchToken(token)
				c.startHeartbeatLocked(l)
			}
		})
	if err != nil {
		reason := ReasonLoginFailure
		if CodeOf(err) == protocol.CodeTimeout {
			reason = ReasonLoginTimeout
		}
		c.mu.Lock()
		aborted := c.loginAborted
		var ws *websocket.Conn
		if c.conn == l {
			ws = c.terminateLocked(ConnectionDisconnected, reason)
		}
		c.mu.Unlock()
		if ws != nil {
			ws.CloseNow()
		}
		if aborted {
			return protocol.Errorf(protocol.CodeAbortedByLogout, "logout during login")
		}
		return err
	}
	return nil
}

// RenewToken gives the session a new token before the current one expires
// (see OnTokenPrivilegeWillExpire). The token must be for the same user.
func (c *Client) RenewToken(ctx context.Context, token string) error {
	if token == "" {
		return protocol.Errorf(protocol.CodeInvalidArgument, "renew needs a token")
	}
	if !get(c, &c.state).loggedIn() {
		return protocol.Errorf(protocol.CodeNotLoggedIn, "renew needs a logged-in client")
	}
	err := c.request(ctx, &protocol.Frame{Type: protocol.TypeRenew, Token: token}, func(reply *protocol.Frame) {
		if reply.Type == protocol.TypeOK {
			c.token = token
			c.watchToken(token)
		}
	})
	return err
}

// Logout ends the session: the server first ends its pending invitations
// (the caller's with NOT_LOGGEDIN, this device's incoming ones with
// UNKNOWN), then the connection closes and the state is DISCONNECTED with
// reason LOGOUT. A login in progress fails with ABORTED_BY_LOGOUT; a
// reconnection in progress stops. Logging out when not logged in does nothing.
func (c *Client) Logout(ctx context.Context) error {
	return c.logout(ctx, false)
}

// LogoutDroppingPush is Logout that also removes the push subscriptions
// this session registered (EnablePush), so that a shared browser stops
// being woken for this user. If the request fails (the server could not
// remove them, or the connection is down), the client stays logged in and
// the error is returned: Logout then logs out regardless.
func (c *Client) LogoutDroppingPush(ctx context.Context) error {
	return c.logout(ctx, true)
}

func (c *Client) logout(ctx context.Context, dropPush bool) error {
	c.mu.Lock()
	state := c.state
	if state == ConnectionConnecting {
		c.loginAborted = true
	}
	c.mu.Unlock()
	if state == ConnectionConnected {
		// Best effort: whatever the server answers, this client is logged
		// out; but a dropPush the server could not carry out is an error.
		err := c.request(ctx, &protocol.Frame{Type: protocol.TypeLogout, DropPush: dropPush}, nil)
		if dropPush && err != nil {
			return err
		}
	}
	c.shutdown(ReasonLogout)
	return nil
}

// Close leaves without a logout round trip (the server ends the session
// when the connection closes) and waits for the client's goroutines to
// finish. The client cannot be used afterwards.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	c.loginAborted = true
	c.mu.Unlock()
	c.shutdown(ReasonLogout)
	c.wg.Wait()
	return nil
}

// shutdown ends whatever connection or reconnection there is, closing the
// connection with a close frame so that the server ends the session at once.
func (c *Client) shutdown(reason ConnectionChangeReason) {
	c.mu.Lock()
	var ws *websocket.Conn
	if c.conn != nil || c.state == ConnectionReconnecting {
		ws = c.terminateLocked(ConnectionDisconnected, reason)
	}
	c.mu.Unlock()
	if ws != nil {
		_ = ws.Close(websocket.StatusNormalClosure, "logout")
	}
}

// CreateLocalInvitation returns a new invitation to calleeID, in state IDLE.
func (c *Client) CreateLocalInvitation(calleeID string) (*LocalInvitation, error) {
	if err := protocol.ValidateUserID(calleeID); err != nil {
		return nil, err
	}
	return &LocalInvitation{callSide: callSide{c: c}, c: c, calleeID: calleeID}, nil
}

// QueryPeersOnlineStatus reports whether each of up to 256 users is online
// (logged in on at least one session).
func (c *Client) QueryPeersOnlineStatus(ctx context.Context, ids []string) (map[string]bool, error) {
	reply, err := c.presenceRequest(ctx, protocol.TypeQuery, ids, protocol.MaxQueryIDs, nil)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		out[id] = reply.online[id]
	}
	return out, nil
}

// SubscribePeersOnlineStatus subscribes to the online status of up to 512
// users; OnPeersOnlineStatusChanged first reports their current status.
func (c *Client) SubscribePeersOnlineStatus(ctx context.Context, ids []string) error {
	_, err := c.presenceRequest(ctx, protocol.TypeSubscribe, ids, protocol.MaxSubscribedIDs, func(reply *protocol.Frame) {
		if reply.Type == protocol.TypeOK {
			for _, id := range ids {
				put(&c.subs, id, struct{}{}) // subscribed again after a move (relogin)
			}
		}
	})
	return err
}

// UnsubscribePeersOnlineStatus ends subscriptions to those users.
func (c *Client) UnsubscribePeersOnlineStatus(ctx context.Context, ids []string) error {
	_, err := c.presenceRequest(ctx, protocol.TypeUnsubscribe, ids, protocol.MaxSubscribedIDs, func(reply *protocol.Frame) {
		if reply.Type == protocol.TypeOK {
			for _, id := range ids {
				delete(c.subs, id)
			}
		}
	})
	return err
}

func (c *Client) presenceRequest(ctx context.Context, typ string, ids []string, max int, hook func(*protocol.Frame)) (answer, error) {
	if len(ids) == 0 || len(ids) > max {
		return answer{}, protocol.Errorf(protocol.CodeInvalidArgument, "%s takes 1 to %d ids, got %d", typ, max, len(ids))
	}
	for _, id := range ids {
		if err := protocol.ValidateUserID(id); err != nil {
			return answer{}, err
		}
	}
	if !get(c, &c.state).loggedIn() {
		return answer{}, protocol.Errorf(protocol.CodeNotLoggedIn, "%s needs a logged-in client", typ)
	}
	return c.exchange(ctx, &protocol.Frame{Type: typ, IDs: ids}, funcHook(hook))
}

// loggedIn reports whether operations that need a session may be called:
// while reconnecting they are held until the session is resumed.
func (s ConnectionState) loggedIn() bool {
	return s == ConnectionConnected || s == ConnectionReconnecting
}

// loggedIn reports whether the client is logged in. The lock is held.
func (c *Client) loggedIn() bool { return c.state.loggedIn() }

func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.opts.RequestTimeout)
}

func (c *Client) dial(ctx context.Context) (*websocket.Conn, error) {
	ws, _, err := c.dialStatus(ctx)
	return ws, err
}

// dialStatus is dial that also returns the HTTP status of a refused
// upgrade (0 if there was none, or the browser does not say).
func (c *Client) dialStatus(ctx context.Context) (*websocket.Conn, int, error) {
	ws, resp, err := websocket.Dial(ctx, c.opts.URL, c.dialOpts)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		return nil, status, dialError(err, status)
	}
	ws.SetReadLimit(maxServerFrame)
	return ws, 0, nil
}

// dialLogin dials for Login. An upgrade refused with 503 (a node that
// drains or shuts down, which a load balancer sent the connection to just
// before its health check saw it) is tried again with backoff until ctx
// ends or a logout aborts the login.
func (c *Client) dialLogin(ctx context.Context) (*websocket.Conn, error) {
	wait := backoffMin
	for {
		ws, status, err := c.dialStatus(ctx)
		if err == nil || status != 503 { // Service Unavailable (net/http is not linked into the browser module)
			return ws, err
		}
		t := time.NewTimer(time.Duration(float64(wait) * (0.5 + rand.Float64())))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		c.mu.Lock()
		aborted := c.loginAborted
		c.mu.Unlock()
		if aborted {
			return nil, err
		}
		wait = min(2*wait, time.Second)
	}
}

// dialError says in words what failed when dialing: the error chain of a
// failed dial names the cause only deep inside, after the library's
// wrapping ("failed to WebSocket dial: failed to send handshake request:
// Get ...: dial tcp ...: connect: connection refused").
func dialError(err error, status int) error {
	var dnsErr *net.DNSError
	switch {
	case status != 0 && status != 101:
		return fmt.Errorf("the server refused the WebSocket upgrade with HTTP status %d: %w", status, err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("connection refused (is the server running, on this address and port?): %w", err)
	case errors.As(err, &dnsErr):
		return fmt.Errorf("DNS lookup of %s failed: %w", dnsErr.Name, err)
	case isTLSError(err):
		return fmt.Errorf("TLS handshake failed (certificate or TLS configuration): %w", err)
	case errors.Is(err, net.ErrClosed):
		// The browser's WebSocket closed before it opened, and browsers do not
		// say why (a refused connection, DNS, TLS, or a refused upgrade).
		return fmt.Errorf("the browser's WebSocket failed before it opened (the server is unreachable or refused the upgrade; the browser does not say which): %w", err)
	}
	return err
}

// isTLSError reports whether a link of err's chain comes from crypto/tls
// or crypto/x509, by their message prefix: importing them to match types
// would link TLS into the browser module, where the browser does TLS.
func isTLSError(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		msg := e.Error()
		if strings.HasPrefix(msg, "tls: ") || strings.HasPrefix(msg, "x509: ") {
			return true
		}
	}
	return false
}

// request queues f with a fresh request id and waits for its reply. The
// connection's writer sends queued requests in id order; while the client
// reconnects they wait, and are sent on resume. hook, if not nil, runs in
// the reader with the lock held when the reply arrives, before any later
// frame is handled, even if request has stopped waiting; it must not keep
// the frame, which the reader reuses. f is copied: it does not escape.
func (c *Client) request(ctx context.Context, f *protocol.Frame, hook func(*protocol.Frame)) error {
	_, err := c.exchange(ctx, f, funcHook(hook))
	return err
}

// exchange is request that also returns what callers read of the reply.
func (c *Client) exchange(ctx context.Context, f *protocol.Frame, hook replyHook) (answer, error) {
	return c.exchangeCall(ctx, newCall(f), hook)
}

// exchangeCall is exchange of the request in cl, a call of pooledCall's
// that nothing else refers to.
func (c *Client) exchangeCall(ctx context.Context, cl *call, hook replyHook) (answer, error) {
	typ := cl.f.Type
	c.mu.Lock()
	if c.conn == nil && c.state != ConnectionReconnecting {
		c.mu.Unlock()
		recycle(cl)
		return answer{}, protocol.Errorf(protocol.CodeNotConnected, "%s: not connected", typ)
	}
	cl.waits, cl.hook = true, hook
	c.queueLocked(cl)
	if l := c.conn; l != nil && !l.writing {
		// Write it from here rather than wake the writer: the caller
		// waits for the reply anyway.
		l.writing = true
		c.mu.Unlock()
		c.drain(l)
	} else {
		c.mu.Unlock()
	}

	// Without a deadline, the call's own timer, reused with it, rather than
	// a context and a timer per request.
	var expired <-chan time.Time
	if _, ok := ctx.Deadline(); !ok {
		if cl.expiry == nil {
			cl.expiry = time.NewTimer(c.opts.RequestTimeout)
		} else {
			cl.expiry.Reset(c.opts.RequestTimeout)
		}
		expired = cl.expiry.C
	}
	var cause error
	select {
	case res := <-cl.done:
		if expired != nil {
			cl.expiry.Stop()
		}
		if res.lost {
			return answer{}, protocol.Errorf(protocol.CodeNotConnected, "%s: connection lost", typ)
		}
		if res.answered {
			recycle(cl)
		}
		return res.reply, res.err
	case <-ctx.Done():
		cause = ctx.Err()
	case <-expired:
		cause = context.DeadlineExceeded
	}
	if expired != nil {
		cl.expiry.Stop()
	}
	c.mu.Lock()
	if !cl.sent {
		// Never sent: withdraw it, so it is not carried out behind the caller's back.
		c.outbox = slices.DeleteFunc(c.outbox, func(o *call) bool { return o == cl })
		delete(c.pending, cl.f.RID)
	} else if hook == nil {
		delete(c.pending, cl.f.RID)
	}
	cl.waits = false // a reply that comes yet finds no one (and a lost connection tells no one)
	c.mu.Unlock()
	return answer{}, protocol.Errorf(protocol.CodeTimeout, "no reply to %s: %v", typ, cause)
}

// queueLocked gives cl the next request id and queues it. The lock is held.
func (c *Client) queueLocked(cl *call) {
	c.nextRID++
	cl.f.RID = c.nextRID
	c.pending[cl.f.RID] = cl
	c.outbox = append(c.outbox, cl)
}

// goRequest sends f without waiting for the caller; its reply is only logged
// if it is an error.
func (c *Client) goRequest(f *protocol.Frame) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := c.request(context.Background(), f, nil); err != nil && !errors.Is(err, ErrAlreadyEnd) &&
			!errors.Is(err, ErrNotConnected) {
			c.logf("rtmcall: %s %s: %v", f.Type, f.Inv, err)
		}
	}()
}

// ackLocked acknowledges invite inv. The ack waits in pending, with no
// one waiting for a reply, until it is known done (acksDoneLocked), so
// that a resume sends it again if the server had not carried it out. The
// lock is held; the reader writes it once the frame is handled.
func (c *Client) ackLocked(inv string) {
	cl := pooledCall()
	cl.f.Type, cl.f.Inv = protocol.TypeAck, inv
	c.queueLocked(cl)
	c.acks = append(c.acks, cl)
}

// acksDoneLocked forgets the acks up to rid: the server answered rid, or a
// request after them, and so carried them out (an error to an ack is its
// own answer). The lock is held.
func (c *Client) acksDoneLocked(rid uint64) {
	k := 0
	for k < len(c.acks) && c.acks[k].f.RID <= rid {
		cl := c.acks[k]
		delete(c.pending, cl.f.RID)
		if cl.sent { // not in the outbox
			recycle(cl)
		}
		k++
	}
	if k > 0 {
		c.acks = slices.Delete(c.acks, 0, k)
	}
}

// startLinkLocked makes ws the client's connection and starts its reader,
// and a writer for the requests already queued (on resume and move). The
// lock is held.
func (c *Client) startLinkLocked(ws *websocket.Conn) *link {
	l := &link{ws: ws, epoch: time.Now()}
	l.watchdog = time.AfterFunc(time.Hour, l.watch)
	l.watchdog.Stop()
	l.lead = runtime.GOMAXPROCS(0) > 1
	l.readOn = func() bool {
		if l.drainFirst {
			c.drain(l) // on failure the next read fails too
		}
		return c.read(l)
	}
	c.conn = l
	c.q.setKeep(true)
	c.wg.Add(1)
	go c.readLoop(l)
	c.drainLaterLocked(l)
	return l
}

// drainLaterLocked writes the outbox from a goroutine of its own, when no
// one is writing it. The lock is held.
func (c *Client) drainLaterLocked(l *link) {
	if l.writing || len(c.outbox) == 0 {
		return
	}
	l.writing = true
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.drain(l)
	}()
}

// drain writes the outbox in order until it is empty. A ping carries the
// acknowledgement of every frame handled so far. The frames are encoded
// under the lock, so that once a request has its reply nothing reads its
// call. The caller set l.writing, which drain clears; it reports false when
// the connection failed.
func (c *Client) drain(l *link) bool {
	for {
		c.mu.Lock()
		if current := c.conn == l; !current || len(c.outbox) == 0 {
			l.writing = false
			c.mu.Unlock()
			return current
		}
		buf, ends := l.buf[:0], l.ends[:0]
		for _, cl := range c.outbox {
			cl.sent = true
			if cl.f.Type == protocol.TypePing {
				cl.f.Ack = c.lastSeq
				c.unacked, c.ackQueued = 0, false
			}
			buf = protocol.AppendFrame(buf, &cl.f)
			ends = append(ends, len(buf))
		}
		clear(c.outbox)
		c.outbox = c.outbox[:0]
		c.mu.Unlock()
		start := 0
		for _, end := range ends {
			if err := c.write(l, buf[start:end]); err != nil {
				l.ws.CloseNow() // the reader sees it and handles the loss
				c.mu.Lock()
				l.writing = false
				c.mu.Unlock()
				return false
			}
			start = end
		}
		l.buf, l.ends = buf, ends
		if cap(l.buf) > 16<<10 {
			l.buf = nil // a large message's: an idle client keeps a small buffer
		}
	}
}

// write writes one message, closing the connection if it takes longer than
// Options.RequestTimeout. Not a context's deadline: coder/websocket closes
// the connection when a write's context ends (as the watchdog does), and
// a context and a timer per write would cost more than the write.
func (c *Client) write(l *link, msg []byte) error {
	timeout := c.opts.RequestTimeout
	l.deadline.Store(int64(time.Since(l.epoch) + timeout))
	if l.armed.CompareAndSwap(false, true) {
		l.watchdog.Reset(timeout)
	}
	err := l.ws.Write(context.Background(), websocket.MessageText, msg)
	l.deadline.Store(0)
	return err
}

// watch is the watchdog's: it closes the connection if the write in
// progress is past its deadline, re-arms itself for one not yet due, and
// otherwise stays unarmed until the next write. armed is cleared before
// the deadline is read, so that a write that found it armed is seen here.
func (l *link) watch() {
	l.armed.Store(false)
	d := l.deadline.Load()
	if d == 0 {
		return
	}
	if left := time.Duration(d) - time.Since(l.epoch); left > 0 {
		if l.armed.CompareAndSwap(false, true) {
			l.watchdog.Reset(left)
		}
		return
	}
	l.ws.CloseNow()
}

// startHeartbeatLocked pings every heartbeat; a ping without a reply within
// a heartbeat means the connection is dead. A timer whose function pings,
// not a goroutine waiting on a ticker: an idle client's parked goroutines
// are stacks the collector scans in every cycle. The lock is held.
func (c *Client) startHeartbeatLocked(l *link) {
	every := c.heartbeat
	if every <= 0 {
		return
	}
	l.due = time.Now().Add(every)
	l.beat = time.AfterFunc(every, func() {
		c.mu.Lock()
		if c.conn != l { // the link was given up
			c.mu.Unlock()
			return
		}
		c.wg.Add(1) // under the lock, before a Close's Wait (it gives up the link first)
		c.mu.Unlock()
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), every)
		err := c.request(ctx, &protocol.Frame{Type: protocol.TypePing}, nil)
		cancel()
		if CodeOf(err) == protocol.CodeTimeout {
			c.logf("rtmcall: no heartbeat reply within %v; reconnecting", every)
			l.ws.CloseNow()
			return
		}
		// The next beat on the schedule, as a ticker's: a beat missed
		// while the ping waited is dropped.
		now := time.Now()
		for l.due = l.due.Add(every); !l.due.After(now); l.due = l.due.Add(every) {
		}
		c.mu.Lock()
		if c.conn == l {
			l.beat.Reset(l.due.Sub(now))
		}
		c.mu.Unlock()
	})
}

// endLocked stops l's heartbeat, once l is no longer the client's
// connection. The lock is held.
func (l *link) endLocked() {
	if l.beat != nil {
		l.beat.Stop()
	}
}

// readLoop reads l until it ends, or until it hands the reading to the
// callback goroutine so as to run the callbacks a frame queued itself
// (queue.handOff); the reading is then counted in c.wg for the goroutine
// that goes on with it, not for this one, which may run a callback that
// waits for c.wg (Close).
func (c *Client) readLoop(l *link) {
	if c.read(l) {
		c.q.led()
	}
}

// read is readFrames with the reading's count in c.wg done; it reports
// true when it handed off, the goroutine then to run the callbacks.
func (c *Client) read(l *link) bool {
	handed := c.readFrames(l)
	c.wg.Done()
	return handed
}

// readFrames is readLoop's loop; it reports true when it handed off.
func (c *Client) readFrames(l *link) bool {
	for {
		typ, data, err := readMessage(l.ws, l.rbuf)
		if err != nil {
			l.watchdog.Stop() // a write still in progress fails as the connection closes
			c.lost(l, err)
			return false
		}
		if l.rbuf = data[:0]; cap(l.rbuf) > 16<<10 {
			l.rbuf = nil // a large frame's: an idle client keeps a small buffer
		}
		if typ != websocket.MessageText {
			c.logf("rtmcall: dropped a binary frame from the server")
			continue
		}
		f := &l.frame
		if err := protocol.DecodeIntoWith(f, data, &l.strs); err != nil {
			*f = protocol.Frame{}
			c.logf("rtmcall: dropped a frame from the server: %v", err)
			continue
		}
		if l.lead {
			c.q.holdWakes()
		}
		c.mu.Lock()
		if c.conn == l && c.inSequence(f) {
			c.handle(f)
		}
		// What the frame queued (an ack, a ping that acknowledges) is
		// written by the reader, with no hand-off, unless someone is
		// writing: from here, or by the goroutine the reading is handed to.
		write := c.conn == l && !l.writing && len(c.outbox) > 0
		if write {
			l.writing = true
		}
		c.mu.Unlock()
		*f = protocol.Frame{}
		if l.lead {
			c.wg.Add(1) // the reading's, if handed off
			l.drainFirst = write
			if c.q.handOff(l.readOn) {
				return true
			}
			c.wg.Done()
		}
		if write {
			c.drain(l) // on failure the next read fails too
		}
	}
}

// inSequence drops a frame the client has already handled (one replayed on
// resume) and counts the others for acknowledgement. The lock is held.
func (c *Client) inSequence(f *protocol.Frame) bool {
	if f.Seq == 0 {
		return true
	}
	if f.Seq <= c.lastSeq {
		return false
	}
	c.lastSeq = f.Seq
	if c.unacked++; c.unacked >= ackEvery && !c.ackQueued && c.state == ConnectionConnected {
		c.ackQueued = true
		c.queueLocked(newCall(&protocol.Frame{Type: protocol.TypePing})) // no one waits: the reader writes it
	}
	return true
}

// lost handles the end of link l: a connection that dropped while logged in
// is resumed; one the server closed on purpose, or said "bye" on, ends the
// session.
func (c *Client) lost(l *link, err error) {
	c.mu.Lock()
	if c.conn != l {
		c.mu.Unlock()
		return
	}
	status := websocket.CloseStatus(err)
	var ws *websocket.Conn
	switch {
	case c.state == ConnectionConnected && c.session != "" && (c.bye == protocol.ByeMoved ||
		c.bye == "" && status == websocket.StatusServiceRestart):
		c.moveLocked(l)
		ws = l.ws
	case c.state == ConnectionConnected && c.session != "" && c.bye == "" && status == -1:
		c.conn = nil
		l.endLocked()
		for _, cl := range c.pending {
			if !cl.resumable() {
				delete(c.pending, cl.f.RID)
				c.outbox = slices.DeleteFunc(c.outbox, func(o *call) bool { return o == cl })
				cl.lose()
			}
		}
		c.setState(ConnectionReconnecting, ReasonInterrupted)
		c.stopRetry = make(chan struct{})
		c.wg.Add(1)
		go c.reconnect(time.Now().Add(c.grace), c.stopRetry)
		ws = l.ws
	case c.state == ConnectionConnecting:
		ws = c.terminateLocked(ConnectionDisconnected, ReasonLoginFailure)
	default:
		state, reason := ConnectionDisconnected, ReasonInterrupted
		switch {
		case c.bye == ReasonTokenExpired.String():
			state, reason = ConnectionAborted, ReasonTokenExpired
		case c.bye == ReasonBannedByServer.String() || status == websocket.StatusPolicyViolation:
			state, reason = ConnectionAborted, ReasonBannedByServer
		}
		ws = c.terminateLocked(state, reason)
	}
	c.mu.Unlock()
	ws.CloseNow()
}

// reconnect dials again with backoff until it resumes the session or the
// server's grace period is over.
func (c *Client) reconnect(deadline time.Time, stop chan struct{}) {
	c.retry(deadline, stop, c.tryResume, "the server's grace period is over")
}

// retry runs try with backoff until it is done, it fails for good, or
// deadline passes (then the session gives up with late as the reason).
func (c *Client) retry(deadline time.Time, stop chan struct{}, try func(context.Context, chan struct{}) (bool, error), late string) {
	defer c.wg.Done()
	wait := backoffMin
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
		case <-stop:
			return
		}
		left := time.Until(deadline)
		if left <= 0 {
			c.giveUp(stop, late)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), min(left, c.opts.RequestTimeout))
		done, final := try(ctx, stop)
		cancel()
		if done {
			return
		}
		if final != nil {
			c.giveUp(stop, final.Error())
			return
		}
		timer.Reset(time.Duration(float64(wait) * (0.5 + rand.Float64())))
		wait = min(2*wait, backoffMax)
	}
}

// tryResume makes one attempt. final is set when the server refused the
// session: trying again is pointless.
func (c *Client) tryResume(ctx context.Context, stop chan struct{}) (resumed bool, final error) {
	ws, reply, stopped, err := c.open(ctx, stop, func(rid uint64) *protocol.Frame {
		return &protocol.Frame{Type: protocol.TypeResume, RID: rid, Session: c.session, Key: c.key, Ack: c.lastSeq}
	})
	if stopped || ws == nil {
		return stopped, nil
	}
	if err != nil || reply.Type == protocol.TypeError {
		ws.CloseNow()
		if err == nil && reply.Code == protocol.CodeResumeFailed {
			return false, reply.Err()
		}
		return false, nil
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-stop: // logged out or closed meanwhile
		ws.CloseNow()
		return true, nil
	default:
	}
	// Requests the server has not carried out go again, in order; the
	// replies to the others come with the replayed frames.
	c.outbox = c.outbox[:0]
	c.acksDoneLocked(reply.LastRID)
	for _, cl := range c.pending {
		if cl.f.RID > reply.LastRID {
			cl.sent = false
			c.outbox = append(c.outbox, cl)
		}
	}
	slices.SortFunc(c.outbox, func(a, b *call) int { return cmp.Compare(a.f.RID, b.f.RID) })
	c.stopRetry = nil
	l := c.startLinkLocked(ws)
	c.setState(ConnectionConnected, ReasonLoginSuccess)
	c.startHeartbeatLocked(l)
	return true, nil
}

// open dials and makes the first request of a new connection, f(rid)
// (made under the lock), and returns its reply. stopped: the client logged
// out or closed while dialing (c.session may already be a new login's,
// which this stale attempt must not take over). ws is nil if the dial
// failed; otherwise the caller closes it on an error.
func (c *Client) open(ctx context.Context, stop chan struct{}, f func(rid uint64) *protocol.Frame) (ws *websocket.Conn, reply *protocol.Frame, stopped bool, err error) {
	ws, err = c.dial(ctx)
	if err != nil {
		return nil, nil, false, err
	}
	c.mu.Lock()
	select {
	case <-stop:
		c.mu.Unlock()
		ws.CloseNow()
		return nil, nil, true, nil
	default:
	}
	c.nextRID++
	req := f(c.nextRID)
	c.mu.Unlock()
	reply, err = c.resumeExchange(ctx, ws, req)
	return ws, reply, false, err
}

// resumeExchange writes the resume request and reads its reply, the first
// frame on the new connection.
func (c *Client) resumeExchange(ctx context.Context, ws *websocket.Conn, f *protocol.Frame) (*protocol.Frame, error) {
	data, err := protocol.Encode(f)
	if err != nil {
		return nil, err
	}
	if err := ws.Write(ctx, websocket.MessageText, data); err != nil {
		return nil, err
	}
	_, data, err = ws.Read(ctx)
	if err != nil {
		return nil, err
	}
	reply, err := protocol.Decode(data)
	if err != nil {
		return nil, err
	}
	if reply.RID != f.RID {
		return nil, fmt.Errorf("resume: reply to request %d, want %d", reply.RID, f.RID)
	}
	return reply, nil
}

// giveUp ends a reconnection that cannot succeed: the session is gone.
func (c *Client) giveUp(stop chan struct{}, why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-stop:
		return
	default:
	}
	c.logf("rtmcall: could not resume the session: %s", why)
	c.stopRetry = nil // this goroutine is the one stopping
	c.terminateLocked(ConnectionAborted, ReasonInterrupted)
}

// handle applies one server frame; nothing refers to f once it returns
// (the reader reuses it). The lock is held.
func (c *Client) handle(f *protocol.Frame) {
	if f.RID != 0 && f.Type != protocol.TypeOK && f.Type != protocol.TypeError {
		// An event that is its request's reply (remote.accepted to an
		// accept, call.ended to a hangup): the event, then the reply, as
		// an ok would follow it.
		rid := f.RID
		f.RID = 0
		c.handle(f)
		*f = protocol.Frame{Type: protocol.TypeOK, RID: rid}
	}
	switch f.Type {
	case protocol.TypeOK, protocol.TypeError:
		c.acksDoneLocked(f.RID) // the server carries out requests in order: the acks before this one are done
		cl := c.pending[f.RID]
		if cl == nil || !cl.waits && cl.hook == nil && cl.f.Type == protocol.TypePing {
			if f.Type == protocol.TypeError && f.Code != protocol.CodeAlreadyEnd { // an ack that came too late is no news
				c.logf("rtmcall: server error for request %d: %v", f.RID, f.Err())
			}
			if cl == nil {
				return
			}
		}
		delete(c.pending, f.RID)
		if cl.hook != nil {
			cl.hook.onReply(f)
		}
		if !cl.waits {
			if cl.sent && cl.done != nil { // a pooled call that no one refers to any more
				recycle(cl)
			}
			return
		}
		res := result{reply: answer{received: f.Received, online: f.Online}, answered: cl.sent}
		if f.Type == protocol.TypeError {
			res.err = f.Err()
		}
		cl.done <- res
	case protocol.TypeInvite:
		if f.Inv == "" || protocol.ValidateUserID(f.Caller) != nil || c.remotes[f.Inv] != nil {
			c.logf("rtmcall: dropped a bad invite frame for %q", f.Inv)
			return
		}
		r := &RemoteInvitation{c: c, id: f.Inv, callerID: f.Caller, content: f.Content, channel: f.Channel,
			timeout: protocol.Millis(f.Timeout), calleeBusy: f.Busy}
		if len(f.Callees) > 0 {
			r.group = &Group{Mode: GroupMode(f.Mode), Callees: f.Callees}
		}
		r.callSide.c = c
		put(&c.remotes, r.id, r)
		c.emitInvitation(r)
		c.ackLocked(r.id)
	case protocol.TypeLocalReceived, protocol.TypeLocalAccepted, protocol.TypeLocalRefused,
		protocol.TypeLocalCanceled, protocol.TypeLocalFailure, protocol.TypeLocalWaking:
		l := c.locals[f.Inv]
		if l == nil {
			c.logf("rtmcall: dropped %s for unknown invitation %q", f.Type, f.Inv)
			return
		}
		if l.group != nil && f.Type == protocol.TypeLocalAccepted && f.Callee != "" {
			l.group.acceptedBy = f.Callee
		}
		l.apply(parseEnum[LocalEvent](f.Type, localFrameTypes[:]), ParseLocalFailureReason(f.Reason), f.Response, protocol.Millis(f.Wake))
	case protocol.TypeLocalCallee:
		l := c.locals[f.Inv]
		if l == nil || l.group == nil {
			c.logf("rtmcall: dropped %s for unknown group invitation %q", f.Type, f.Inv)
			return
		}
		l.applyCallee(f)
	case protocol.TypeRemoteAccepted, protocol.TypeRemoteRefused, protocol.TypeRemoteCanceled,
		protocol.TypeRemoteFailure:
		r := c.remotes[f.Inv]
		if r == nil {
			c.logf("rtmcall: dropped %s for unknown invitation %q", f.Type, f.Inv)
			return
		}
		if f.Type == protocol.TypeRemoteFailure {
			r.answeredBy = f.By
		}
		r.apply(parseEnum[RemoteEvent](f.Type, remoteFrameTypes[:]), ParseRemoteFailureReason(f.Reason), f.Content)
	case protocol.TypePeerMessage:
		c.handlePeerMessage(f)
	case protocol.TypeCallEnded:
		cs := c.calls[f.Inv]
		if cs == nil {
			c.logf("rtmcall: dropped %s for unknown call %q", f.Type, f.Inv)
			return
		}
		if f.Callee != "" { // one leg of a group call
			if cs.leg == nil {
				c.logf("rtmcall: dropped %s with callee %q for call %q", f.Type, f.Callee, f.Inv)
				return
			}
			cs.leg(f.Callee, ParseCallEndReason(f.Reason), f.By)
			return
		}
		cs.end(ParseCallEndReason(f.Reason), f.By)
	case protocol.TypeBye:
		c.bye = f.Reason // the connection closes next; lost reads the reason
	case protocol.TypePresence:
		status := make(map[string]PeerStatus, len(f.Status))
		for id, s := range f.Status {
			status[id] = ParsePeerStatus(s)
		}
		c.emit(func() { call1(c, &c.onPresence, status) })
	default:
		c.logf("rtmcall: dropped a frame of unknown type %q", f.Type)
	}
}

// The invitation frames' types by the event each is, for handle: looked up
// by comparing strings (by length first), not by a map's hash.
var (
	localFrameTypes = [...]string{LocalEvReceived: protocol.TypeLocalReceived,
		LocalEvAccepted: protocol.TypeLocalAccepted, LocalEvRefused: protocol.TypeLocalRefused,
		LocalEvCanceled: protocol.TypeLocalCanceled, LocalEvFailure: protocol.TypeLocalFailure,
		LocalEvWaking: protocol.TypeLocalWaking}
	remoteFrameTypes = [...]string{RemoteEvAccepted: protocol.TypeRemoteAccepted,
		RemoteEvRefused: protocol.TypeRemoteRefused, RemoteEvCanceled: protocol.TypeRemoteCanceled,
		RemoteEvFailure: protocol.TypeRemoteFailure}
)

// terminateLocked ends the session on this side: the reconnection, if any,
// stops; requests fail with NOT_CONNECTED; every invitation still open ends
// (the server has ended them, or will when it notices); the state becomes
// state with reason. It returns the connection for the caller to close
// outside the lock, or nil. The lock is held.
func (c *Client) terminateLocked(state ConnectionState, reason ConnectionChangeReason) *websocket.Conn {
	var ws *websocket.Conn
	if l := c.conn; l != nil {
		c.conn = nil
		l.endLocked()
		ws = l.ws
	}
	if c.stopRetry != nil {
		close(c.stopRetry)
		c.stopRetry = nil
	}
	for rid, cl := range c.pending {
		delete(c.pending, rid)
		cl.lose()
	}
	c.outbox, c.acks = nil, nil
	if c.tokenTimer != nil {
		c.tokenTimer.Stop()
		c.tokenTimer = nil
	}
	for _, l := range c.locals {
		l.fail(LocalFailureUnknown)
	}
	for _, r := range c.remotes {
		why := RemoteFailureUnknown
		if r.state == RemoteAcceptSentToLocal {
			why = RemoteFailureAcceptFailure
		}
		r.apply(RemoteEvFailure, why, "")
	}
	for _, id := range slices.Sorted(maps.Keys(c.calls)) {
		c.calls[id].end(CallEndUnknown, "")
	}
	c.session, c.key = "", ""
	c.setState(state, reason)
	c.q.setKeep(false) // its goroutine exits once the callbacks queued have run
	return ws
}

// setState records a connection state change and queues its callback,
// unless it may be skipped (skip): a login without the callback set would
// otherwise start the callback goroutine twice to call nothing, and keep the
// second one, parked, for as long as it is connected. The lock is held.
func (c *Client) setState(s ConnectionState, reason ConnectionChangeReason) {
	c.state = s
	if c.skip(c.onState != nil) {
		return
	}
	c.q.push(event{run: runState, c: c, n: int64(s)<<8 | int64(reason)}) // both are bytes
}

func runState(e *event) {
	if f := get(e.c, &e.c.onState); f != nil {
		f(ConnectionState(e.n>>8), ConnectionChangeReason(e.n&0xff))
	}
}

// watchToken arms TokenPrivilegeWillExpire from the token's exp claim. The
// token is not verified here (the server does); it is only read.
func (c *Client) watchToken(token string) {
	if c.tokenTimer != nil {
		c.tokenTimer.Stop()
		c.tokenTimer = nil
	}
	exp, ok := tokenExpiry(token)
	if !ok {
		return
	}
	c.tokenTimer = time.AfterFunc(time.Until(exp.Add(-tokenWarning)), func() {
		c.emit(func() { call0(c, &c.onTokenWill) })
	})
}

func tokenExpiry(token string) (time.Time, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	// The claims are read with the protocol's parser: the module links no
	// encoding/json.
	raw, ok := protocol.RawField(payload, "exp")
	if !ok || raw[0] < '0' || raw[0] > '9' {
		return time.Time{}, false
	}
	exp, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || exp <= 0 {
		return time.Time{}, false
	}
	return time.Unix(int64(exp), 0), true
}

func (c *Client) logf(format string, args ...any) { c.opts.Logf(format, args...) }
