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
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log"
	"strings"
	"sync"
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
}

// maxServerFrame is the client's read limit: the server's largest frames
// (presence replies for 512 ids) fit well within it.
const maxServerFrame = 1 << 20

// tokenWarning is how long before a token's exp TokenPrivilegeWillExpire fires.
const tokenWarning = 30 * time.Second

// Client is one connection to the server and the invitations it carries.
// Its methods are safe for concurrent use. Callbacks run one at a time, in
// the order of the events, outside the client's lock.
type Client struct {
	opts Options
	q    queue
	wg   sync.WaitGroup // the reader and fire-and-forget requests

	mu           sync.Mutex
	conn         *websocket.Conn
	cancelRead   context.CancelFunc
	state        ConnectionState
	userID       string
	loginAborted bool
	closed       bool
	nextRID      uint64
	pending      map[uint64]*call
	locals       map[string]*LocalInvitation
	remotes      map[string]*RemoteInvitation
	tokenTimer   *time.Timer

	onInvitation func(*RemoteInvitation)
	onState      func(ConnectionState, ConnectionChangeReason)
	onPresence   func(map[string]PeerStatus)
	onTokenWill  func()
}

type call struct {
	ch   chan *protocol.Frame // the reply; nil when the connection is lost
	hook func(*protocol.Frame)
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
	return &Client{
		opts:    opts,
		pending: make(map[uint64]*call),
		locals:  make(map[string]*LocalInvitation),
		remotes: make(map[string]*RemoteInvitation),
	}, nil
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
// token's exp.
func (c *Client) OnTokenPrivilegeWillExpire(f func()) { set(c, &c.onTokenWill, f) }

// Login connects and logs in as userID. token is a JWT from the app's
// backend; it may be empty against a server in dev mode.
func (c *Client) Login(ctx context.Context, userID, token string) error {
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

	conn, _, err := websocket.Dial(ctx, c.opts.URL, &websocket.DialOptions{Subprotocols: []string{protocol.Subprotocol}})
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
	conn.SetReadLimit(maxServerFrame)

	c.mu.Lock()
	if c.loginAborted || c.closed {
		c.mu.Unlock()
		conn.CloseNow()
		return protocol.Errorf(protocol.CodeAbortedByLogout, "logout during login")
	}
	c.conn = conn
	readCtx, cancelRead := context.WithCancel(context.Background())
	c.cancelRead = cancelRead
	c.wg.Add(1)
	go c.readLoop(readCtx, conn)
	c.mu.Unlock()

	_, err = c.request(ctx, &protocol.Frame{Type: protocol.TypeLogin, User: userID, Token: token},
		func(reply *protocol.Frame) {
			if reply.Type == protocol.TypeOK {
				// In the reader, before any frame that follows the login.
				c.userID = userID
				c.setState(ConnectionConnected, ReasonLoginSuccess)
				c.watchToken(token)
			}
		})
	if err != nil {
		reason := ReasonLoginFailure
		if CodeOf(err) == protocol.CodeTimeout {
			reason = ReasonLoginTimeout
		}
		c.end(conn, reason, false)
		if get(c, &c.loginAborted) {
			return protocol.Errorf(protocol.CodeAbortedByLogout, "logout during login")
		}
		return err
	}
	return nil
}

// Logout ends the session: the server first ends its pending invitations
// (the caller's with NOT_LOGGEDIN, this device's incoming ones with
// UNKNOWN), then the connection closes and the state is DISCONNECTED with
// reason LOGOUT. A login in progress fails with ABORTED_BY_LOGOUT. Logging
// out when not logged in does nothing.
func (c *Client) Logout(ctx context.Context) error {
	c.mu.Lock()
	conn, state := c.conn, c.state
	if state == ConnectionConnecting {
		c.loginAborted = true
	}
	c.mu.Unlock()
	if conn == nil {
		return nil
	}
	if state == ConnectionConnected {
		// Best effort: whatever the server answers, this client is logged out.
		_, _ = c.request(ctx, &protocol.Frame{Type: protocol.TypeLogout}, nil)
	}
	c.end(conn, ReasonLogout, true)
	return nil
}

// Close logs out without waiting for the server and waits for the client's
// goroutines to finish. The client cannot be used afterwards.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	c.loginAborted = true
	conn := c.conn
	c.mu.Unlock()
	if conn != nil {
		c.end(conn, ReasonLogout, false)
	}
	c.wg.Wait()
	return nil
}

// CreateLocalInvitation returns a new invitation to calleeID, in state IDLE.
func (c *Client) CreateLocalInvitation(calleeID string) (*LocalInvitation, error) {
	if err := protocol.ValidateUserID(calleeID); err != nil {
		return nil, err
	}
	return &LocalInvitation{c: c, calleeID: calleeID}, nil
}

// QueryPeersOnlineStatus reports whether each of up to 256 users is online
// (logged in on at least one session).
func (c *Client) QueryPeersOnlineStatus(ctx context.Context, ids []string) (map[string]bool, error) {
	reply, err := c.presenceRequest(ctx, protocol.TypeQuery, ids, protocol.MaxQueryIDs)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		out[id] = reply.Online[id]
	}
	return out, nil
}

// SubscribePeersOnlineStatus subscribes to the online status of up to 512
// users; OnPeersOnlineStatusChanged first reports their current status.
func (c *Client) SubscribePeersOnlineStatus(ctx context.Context, ids []string) error {
	_, err := c.presenceRequest(ctx, protocol.TypeSubscribe, ids, protocol.MaxSubscribedIDs)
	return err
}

// UnsubscribePeersOnlineStatus ends subscriptions to those users.
func (c *Client) UnsubscribePeersOnlineStatus(ctx context.Context, ids []string) error {
	_, err := c.presenceRequest(ctx, protocol.TypeUnsubscribe, ids, protocol.MaxSubscribedIDs)
	return err
}

func (c *Client) presenceRequest(ctx context.Context, typ string, ids []string, max int) (*protocol.Frame, error) {
	if len(ids) == 0 || len(ids) > max {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "%s takes 1 to %d ids, got %d", typ, max, len(ids))
	}
	for _, id := range ids {
		if err := protocol.ValidateUserID(id); err != nil {
			return nil, err
		}
	}
	if !get(c, &c.state).loggedIn() {
		return nil, protocol.Errorf(protocol.CodeNotLoggedIn, "%s needs a logged-in client", typ)
	}
	return c.request(ctx, &protocol.Frame{Type: typ, IDs: ids}, nil)
}

func (s ConnectionState) loggedIn() bool { return s == ConnectionConnected }

// loggedIn reports whether the client is logged in. The lock is held.
func (c *Client) loggedIn() bool { return c.state.loggedIn() }

func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.opts.RequestTimeout)
}

// request sends f with a fresh request id and waits for its reply. hook, if
// not nil, runs in the reader with the lock held when the reply arrives,
// before any later frame is handled, even if request has stopped waiting.
func (c *Client) request(ctx context.Context, f *protocol.Frame, hook func(*protocol.Frame)) (*protocol.Frame, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	c.mu.Lock()
	conn := c.conn
	if conn == nil {
		c.mu.Unlock()
		return nil, protocol.Errorf(protocol.CodeNotConnected, "%s: not connected", f.Type)
	}
	c.nextRID++
	f.RID = c.nextRID
	cl := &call{ch: make(chan *protocol.Frame, 1), hook: hook}
	c.pending[f.RID] = cl
	c.mu.Unlock()

	data, err := protocol.Encode(f)
	if err == nil {
		// Not ctx: coder/websocket closes the connection when a write's
		// context ends, and one impatient caller must not cost everyone it.
		wctx, wcancel := context.WithTimeout(context.Background(), c.opts.RequestTimeout)
		err = conn.Write(wctx, websocket.MessageText, data)
		wcancel()
	}
	if err != nil {
		c.mu.Lock()
		delete(c.pending, f.RID)
		c.mu.Unlock()
		return nil, protocol.Errorf(protocol.CodeNotConnected, "failed to send %s: %v", f.Type, err)
	}
	select {
	case reply := <-cl.ch:
		if reply == nil {
			return nil, protocol.Errorf(protocol.CodeNotConnected, "%s: connection lost", f.Type)
		}
		if reply.Type == protocol.TypeError {
			return reply, reply.Err()
		}
		return reply, nil
	case <-ctx.Done():
		if hook == nil {
			c.mu.Lock()
			delete(c.pending, f.RID)
			c.mu.Unlock()
		}
		return nil, protocol.Errorf(protocol.CodeTimeout, "no reply to %s: %v", f.Type, ctx.Err())
	}
}

// goRequest sends f without waiting for the caller; its reply is only logged
// if it is an error.
func (c *Client) goRequest(f *protocol.Frame) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if _, err := c.request(context.Background(), f, nil); err != nil && !errors.Is(err, ErrAlreadyEnd) {
			c.logf("rtmcall: %s %s: %v", f.Type, f.Inv, err)
		}
	}()
}

func (c *Client) readLoop(ctx context.Context, conn *websocket.Conn) {
	defer c.wg.Done()
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			reason := ReasonInterrupted
			if websocket.CloseStatus(err) == websocket.StatusPolicyViolation {
				reason = ReasonBannedByServer
			}
			c.end(conn, reason, false)
			return
		}
		if typ != websocket.MessageText {
			c.logf("rtmcall: dropped a binary frame from the server")
			continue
		}
		f, err := protocol.Decode(data)
		if err != nil {
			c.logf("rtmcall: dropped a frame from the server: %v", err)
			continue
		}
		c.mu.Lock()
		if c.conn == conn {
			c.handle(f)
		}
		c.mu.Unlock()
	}
}

// handle applies one server frame. The lock is held.
func (c *Client) handle(f *protocol.Frame) {
	switch f.Type {
	case protocol.TypeOK, protocol.TypeError:
		cl := c.pending[f.RID]
		if cl == nil {
			if f.Type == protocol.TypeError {
				c.logf("rtmcall: server error for request %d: %v", f.RID, f.Err())
			}
			return
		}
		delete(c.pending, f.RID)
		if cl.hook != nil {
			cl.hook(f)
		}
		cl.ch <- f
	case protocol.TypeInvite:
		if f.Inv == "" || protocol.ValidateUserID(f.Caller) != nil || c.remotes[f.Inv] != nil {
			c.logf("rtmcall: dropped a bad invite frame for %q", f.Inv)
			return
		}
		r := &RemoteInvitation{c: c, id: f.Inv, callerID: f.Caller, content: f.Content, channel: f.Channel,
			timeout: protocol.Millis(f.Timeout)}
		c.remotes[r.id] = r
		c.emit(func() { call1(c, &c.onInvitation, r) })
		c.goRequest(&protocol.Frame{Type: protocol.TypeAck, Inv: r.id})
	case protocol.TypeLocalReceived, protocol.TypeLocalAccepted, protocol.TypeLocalRefused,
		protocol.TypeLocalCanceled, protocol.TypeLocalFailure:
		l := c.locals[f.Inv]
		if l == nil {
			c.logf("rtmcall: dropped %s for unknown invitation %q", f.Type, f.Inv)
			return
		}
		l.apply(localEvents[f.Type], ParseLocalFailureReason(f.Reason), f.Response)
	case protocol.TypeRemoteAccepted, protocol.TypeRemoteRefused, protocol.TypeRemoteCanceled,
		protocol.TypeRemoteFailure:
		r := c.remotes[f.Inv]
		if r == nil {
			c.logf("rtmcall: dropped %s for unknown invitation %q", f.Type, f.Inv)
			return
		}
		r.apply(remoteEvents[f.Type], ParseRemoteFailureReason(f.Reason), f.Content)
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

var localEvents = map[string]LocalEvent{
	protocol.TypeLocalReceived: LocalEvReceived,
	protocol.TypeLocalAccepted: LocalEvAccepted,
	protocol.TypeLocalRefused:  LocalEvRefused,
	protocol.TypeLocalCanceled: LocalEvCanceled,
	protocol.TypeLocalFailure:  LocalEvFailure,
}

var remoteEvents = map[string]RemoteEvent{
	protocol.TypeRemoteAccepted: RemoteEvAccepted,
	protocol.TypeRemoteRefused:  RemoteEvRefused,
	protocol.TypeRemoteCanceled: RemoteEvCanceled,
	protocol.TypeRemoteFailure:  RemoteEvFailure,
}

// end tears conn down once: pending requests fail with NOT_CONNECTED,
// every invitation still open ends (the server has ended them too), and the
// state becomes DISCONNECTED with reason. polite closes with a close
// handshake; otherwise the connection is dropped at once.
func (c *Client) end(conn *websocket.Conn, reason ConnectionChangeReason, polite bool) {
	c.mu.Lock()
	if c.conn != conn {
		c.mu.Unlock()
		return
	}
	c.conn = nil
	cancelRead := c.cancelRead
	c.cancelRead = nil
	if c.tokenTimer != nil {
		c.tokenTimer.Stop()
		c.tokenTimer = nil
	}
	for rid, cl := range c.pending {
		delete(c.pending, rid)
		cl.ch <- nil
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
	c.setState(ConnectionDisconnected, reason)
	c.mu.Unlock()
	if cancelRead != nil {
		defer cancelRead()
	}
	if polite {
		_ = conn.Close(websocket.StatusNormalClosure, "logout")
	} else {
		_ = conn.CloseNow()
	}
}

// setState records a connection state change and queues its callback. The
// lock is held.
func (c *Client) setState(s ConnectionState, reason ConnectionChangeReason) {
	c.state = s
	c.emit(func() {
		if f := get(c, &c.onState); f != nil {
			f(s, reason)
		}
	})
}

// watchToken arms TokenPrivilegeWillExpire from the token's exp claim. The
// token is not verified here (the server does); it is only read.
func (c *Client) watchToken(token string) {
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
	var claims struct {
		Exp float64 `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp <= 0 {
		return time.Time{}, false
	}
	return time.Unix(int64(claims.Exp), 0), true
}

func (c *Client) emit(f func()) { c.q.push(f) }

func (c *Client) logf(format string, args ...any) { c.opts.Logf(format, args...) }
