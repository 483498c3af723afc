package core

import (
	"context"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// PushSubscription is a browser's Web Push subscription as
// PushSubscription.toJSON() gives it: the endpoint and the keys in
// base64url.
type PushSubscription struct {
	Endpoint string
	P256dh   string
	Auth     string
}

// EnablePush registers sub for the logged-in user, so that the server can
// wake the user's device with a push while no session is logged in
// (docs/PUSH.md). Registering the same endpoint again replaces it. It
// fails with INVALID_ARGUMENT for a malformed subscription (checked here
// first), TOO_MANY_SUBSCRIPTIONS past the server's cap, PUSH_UNAVAILABLE
// when the server has no Web Push.
func (c *Client) EnablePush(ctx context.Context, sub PushSubscription) error {
	if err := protocol.ValidatePushSubscription(sub.Endpoint, sub.P256dh, sub.Auth); err != nil {
		return err
	}
	err := c.request(ctx, &protocol.Frame{Type: protocol.TypePushSubscribe, Endpoint: sub.Endpoint,
		P256dh: sub.P256dh, Auth: sub.Auth}, nil)
	return err
}

// DisablePush removes the user's subscription with endpoint; an endpoint
// the server does not know is no error.
func (c *Client) DisablePush(ctx context.Context, endpoint string) error {
	if err := protocol.ValidatePushEndpoint(endpoint); err != nil {
		return err
	}
	err := c.request(ctx, &protocol.Frame{Type: protocol.TypePushUnsubscribe, Endpoint: endpoint}, nil)
	return err
}
