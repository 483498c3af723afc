package server

import (
	"context"
	"net/url"
	"path"
	"strings"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// PushRegistry keeps the Web Push subscriptions of users (package
// server/push). The node checks a request's fields (protocol limits), then
// hands it over with the user and session the server authenticated; errors
// go back to the client as they are when they are *protocol.Error. Calls
// are made from the session's read loop, without the node's lock: they may
// block on the store.
type PushRegistry interface {
	Subscribe(ctx context.Context, user, session string, sub PushSubscription) error
	Unsubscribe(ctx context.Context, user, endpoint string) error
	// UnsubscribeSession removes what session registered (logout dropPush).
	UnsubscribeSession(ctx context.Context, user, session string) error
}

// PushSubscription is a browser's PushSubscription: its endpoint and its
// keys in base64url.
type PushSubscription struct {
	Endpoint string `json:"endpoint"`
	P256dh   string `json:"p256dh"`
	Auth     string `json:"auth"`
}

var errPushUnavailable = protocol.Errorf(protocol.CodePushUnavailable, "this server has no Web Push")

// pushRequest carries out push.subscribe, push.unsubscribe, and the
// dropPush of a logout, for s.
func (n *Node) pushRequest(s *session, f *protocol.Frame) *protocol.Error {
	reg := n.cfg.Push
	if reg == nil {
		if f.Type == protocol.TypeLogout {
			return nil // nothing was registered
		}
		return errPushUnavailable
	}
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.LoginTimeout)
	defer cancel()
	var err error
	switch f.Type {
	case protocol.TypePushSubscribe:
		err = reg.Subscribe(ctx, s.user, s.id, PushSubscription{Endpoint: f.Endpoint, P256dh: f.P256dh, Auth: f.Auth})
	case protocol.TypePushUnsubscribe:
		err = reg.Unsubscribe(ctx, s.user, f.Endpoint)
	case protocol.TypeLogout:
		err = reg.UnsubscribeSession(ctx, s.user, s.id)
	}
	if err != nil {
		n.log.Warn("push request failed", "type", f.Type, "user", s.user, "err", err)
		return asProtocolError(err)
	}
	return nil
}

// AllowsOrigin reports whether a browser page of origin may use the node's
// HTTP endpoints (the push service worker's refuse): the origins of
// Config.Origins, and in dev mode localhost's, as for the WebSocket.
func (n *Node) AllowsOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	host := strings.ToLower(u.Host)
	for _, p := range n.cfg.Origins {
		if ok, _ := path.Match(strings.ToLower(p), host); ok {
			return true
		}
	}
	return false
}
