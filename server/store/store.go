// Package store keeps what Web Push needs across restarts: the users'
// subscriptions and the server's push secrets (the VAPID key pair and the
// refuse capability key). File keeps them under a directory for one node;
// KV in a NATS JetStream key-value bucket that every node of a cluster
// shares. docs/PUSH.md says why.
package store

import (
	"context"
	"encoding/hex"
	"errors"
	"time"
)

// Subscription is one Web Push subscription of a user.
type Subscription struct {
	Endpoint string    `json:"endpoint"`
	P256dh   string    `json:"p256dh"`
	Auth     string    `json:"auth"`
	Session  string    `json:"session,omitempty"` // the session that registered it (logout dropPush)
	Created  time.Time `json:"created"`
}

// Store keeps subscriptions by user, and named secrets.
type Store interface {
	// Update replaces user's subscriptions by what f returns from the
	// current ones, atomically against other updates of the user (in a
	// cluster, on every node). f may run more than once; its error is
	// returned as it is, and nothing is stored.
	Update(ctx context.Context, user string, f func([]Subscription) ([]Subscription, error)) error
	// Subscriptions returns user's subscriptions from memory, without
	// waiting on I/O; in a cluster it may lag a change made on another
	// node by the time the change takes to arrive.
	Subscriptions(user string) []Subscription
	// Secret returns the secret called name, made by gen and kept on its
	// first use (by the first node, in a cluster).
	Secret(ctx context.Context, name string, gen func() ([]byte, error)) ([]byte, error)
	Close() error
}

// ErrClosed is returned by a closed store.
var ErrClosed = errors.New("store: closed")

// userKey names a user's record: hex, since user ids may hold characters
// that neither file names nor KV keys allow.
func userKey(user string) string { return hex.EncodeToString([]byte(user)) }

func userOf(key string) (string, bool) {
	b, err := hex.DecodeString(key)
	return string(b), err == nil && len(b) > 0
}

// validName reports whether a secret name is safe as a file name and a key.
func validName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}
