package core

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"time"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// A move (PROTOCOL.md "Drain"): a draining node sends bye MOVED and closes
// with 1012. Its session cannot be resumed elsewhere (resume keys are per
// node), so the client logs in anew through the same URL, with the user and
// the token it holds, while the app sees RECONNECTING, then CONNECTED. The
// node moves a session only once it is party to no pending invitation and no
// call, so nothing the app holds refers to the old session; what the old
// session had that outlives a login is set again on the new one: call
// waiting in the login itself (so that late ringing at the login, which
// applies busy, sees it), then the presence subscriptions. Requests made meanwhile wait, as
// during a resume, and are sent on the new session; so are those the old
// one left unanswered (a moving node carries out nothing after its bye),
// except those on an invitation or call, all the old session's and ended:
// they get ALREADY_END.

// moveLocked starts the move off link l. The lock is held.
func (c *Client) moveLocked(l *link) {
	c.conn = nil
	l.endLocked()
	for _, cl := range c.pending {
		if !cl.resumable() {
			delete(c.pending, cl.f.RID)
			cl.lose()
		}
	}
	// Acks were for the old session's invites, all ended: no one waits.
	for _, cl := range c.acks {
		delete(c.pending, cl.f.RID)
	}
	c.acks, c.outbox = nil, nil
	c.bye = ""
	// The new login names the old session, whose key proves it is this
	// device's: its node hands on the peer messages the old session got
	// after the move.
	from, key := c.session, c.key
	c.session, c.key = "", ""
	c.setState(ConnectionReconnecting, ReasonInterrupted)
	c.stopRetry = make(chan struct{})
	c.wg.Add(1)
	go c.relogin(time.Now().Add(max(c.grace, c.opts.RequestTimeout)), c.stopRetry, from, key)
}

// relogin dials again with backoff until it logs in, the deadline passes,
// or the server refuses the user or token for good. from and key are the
// session moved from.
func (c *Client) relogin(deadline time.Time, stop chan struct{}, from, key string) {
	var attempts uint64
	c.retry(deadline, stop, func(ctx context.Context, stop chan struct{}) (bool, error) {
		return c.tryRelogin(ctx, stop, from, key, &attempts)
	}, "could not log in on another node in time")
}

// tryRelogin makes one attempt. final is set when the server refused the
// login for a reason trying again does not change. attempts counts the
// login frames of this move.
func (c *Client) tryRelogin(ctx context.Context, stop chan struct{}, from, key string, attempts *uint64) (done bool, final error) {
	ws, reply, stopped, err := c.open(ctx, stop, func(rid uint64) *protocol.Frame {
		*attempts++
		return c.moveLogin(rid, from, key, *attempts)
	})
	if stopped || ws == nil {
		return stopped, nil
	}
	if err != nil || reply.Type == protocol.TypeError {
		ws.CloseNow()
		if err == nil {
			switch reply.Code {
			case protocol.CodeShuttingDown, protocol.CodeRateLimited, protocol.CodeTimeout:
			default:
				return false, reply.Err()
			}
		}
		return false, nil
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-stop:
		ws.CloseNow()
		return true, nil
	default:
	}
	c.session, c.key = reply.Session, reply.Key
	c.grace, c.heartbeat = protocol.Millis(reply.Grace), protocol.Millis(reply.Heartbeat)
	c.lastSeq, c.unacked, c.ackQueued = reply.Seq, 1, false
	// First what the old session had (call waiting came with the login),
	// then every request without a reply, in order.
	c.outbox = c.outbox[:0]
	var restore []*call
	if len(c.subs) > 0 {
		restore = append(restore, &call{f: protocol.Frame{Type: protocol.TypeSubscribe, IDs: slices.Sorted(maps.Keys(c.subs))}})
	}
	for _, cl := range restore {
		c.queueLocked(cl) // no one waits
	}
	var again, ended []*call
	for _, cl := range c.pending {
		switch {
		case slices.Contains(restore, cl):
		case cl.f.Inv != "":
			ended = append(ended, cl)
		default:
			cl.sent = false
			again = append(again, cl)
		}
	}
	// A request on an invitation or call names one of the old session's,
	// which the node ended for it before moving it: the new session was
	// never party to it (the owner would say NOT_YOURS), so it gets the
	// answer the old one would have had.
	slices.SortFunc(ended, func(a, b *call) int { return cmp.Compare(a.f.RID, b.f.RID) })
	for _, cl := range ended {
		c.handle(protocol.ErrorFrame(cl.f.RID, protocol.Errorf(protocol.CodeAlreadyEnd, "the invitation ended before this device moved")))
	}
	slices.SortFunc(again, func(a, b *call) int { return cmp.Compare(a.f.RID, b.f.RID) })
	c.outbox = append(c.outbox, again...)
	c.stopRetry = nil
	l := c.startLinkLocked(ws)
	c.setState(ConnectionConnected, ReasonLoginSuccess)
	c.watchToken(c.token)
	c.startHeartbeatLocked(l)
	return true, nil
}

// moveLogin is the login frame of a move's attempt'th attempt to log in.
// It names the moved session with its key and the attempt, so that a
// login that reaches its node only after a later one succeeded (the client
// gave up on it) takes nothing from that one (PROTOCOL.md "Drain"). Past
// protocol.MaxLoginAttempt it names no session: the login takes nothing,
// rather than repeat a number. Call waiting is in the login itself, so
// that late ringing at the login rings this device while its user is in a
// call. The lock is held.
func (c *Client) moveLogin(rid uint64, from, key string, attempt uint64) *protocol.Frame {
	f := &protocol.Frame{Type: protocol.TypeLogin, RID: rid, User: c.userID, Token: c.token, Waiting: c.waitingOn}
	if attempt <= protocol.MaxLoginAttempt {
		f.Session, f.Key, f.Attempt = from, key, attempt
	}
	return f
}
