//go:build !js

package server_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

func TestQuery(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	alice := login(t, srv, "alice")
	query := func() map[string]bool {
		return alice.ok(&protocol.Frame{Type: protocol.TypeQuery, IDs: []string{"alice", "bob", "carol"}}).Online
	}
	assert.Equal(t, map[string]bool{"alice": true, "bob": false, "carol": false}, query())
	bob1 := login(t, srv, "bob")
	bob2 := login(t, srv, "bob")
	assert.Equal(t, map[string]bool{"alice": true, "bob": true, "carol": false}, query())
	bob1.ok(&protocol.Frame{Type: protocol.TypeLogout})
	assert.True(t, query()["bob"], "online while any session is")
	bob2.ok(&protocol.Frame{Type: protocol.TypeLogout})
	assert.False(t, query()["bob"])
}

// presence reads the next frame, a presence event, and returns its status.
func (c *client) presence() map[string]string {
	c.t.Helper()
	return c.expect(protocol.TypePresence, "").Status
}

func TestSubscribe(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	alice := login(t, srv, "alice")
	login(t, srv, "carol")

	// The reply, then the current status of the ids.
	alice.ok(&protocol.Frame{Type: protocol.TypeSubscribe, IDs: []string{"bob", "carol", "bob"}})
	assert.Equal(t, map[string]string{"bob": "OFFLINE", "carol": "ONLINE"}, alice.presence())

	bob1 := login(t, srv, "bob")
	assert.Equal(t, map[string]string{"bob": "ONLINE"}, alice.presence())
	bob2 := login(t, srv, "bob")
	alice.sync() // no event: bob was online already

	bob1.leave()
	bob2.ok(&protocol.Frame{Type: protocol.TypeLogout})
	assert.Equal(t, map[string]string{"bob": "OFFLINE"}, alice.presence())
	alice.sync() // exactly one OFFLINE

	bob2.login("bob")
	assert.Equal(t, map[string]string{"bob": "ONLINE"}, alice.presence())
	bob2.leave()
	assert.Equal(t, map[string]string{"bob": "OFFLINE"}, alice.presence())

	// Unsubscribed ids send nothing; unknown ones are ignored.
	alice.ok(&protocol.Frame{Type: protocol.TypeUnsubscribe, IDs: []string{"bob", "dave"}})
	login(t, srv, "bob")
	alice.sync()
}

func TestSubscriptionsEndWithTheLogin(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	alice := login(t, srv, "alice")
	alice.ok(&protocol.Frame{Type: protocol.TypeSubscribe, IDs: []string{"bob"}})
	alice.presence()
	alice.ok(&protocol.Frame{Type: protocol.TypeLogout})
	alice.login("alice")
	login(t, srv, "bob")
	alice.sync()
}

func TestSubscriptionCap(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	alice := login(t, srv, "alice")
	first := ids(300, "a")
	alice.ok(&protocol.Frame{Type: protocol.TypeSubscribe, IDs: first})
	require.Len(t, alice.presence(), 300)
	alice.ok(&protocol.Frame{Type: protocol.TypeSubscribe, IDs: ids(212, "b")})
	require.Len(t, alice.presence(), 212)
	// 512 now: one more is refused, and nothing of that request is subscribed.
	alice.fails(&protocol.Frame{Type: protocol.TypeSubscribe, IDs: []string{"a0", "bob"}}, protocol.CodeInvalidArgument)
	login(t, srv, "bob")
	alice.sync()
	// Ids already subscribed do not count twice.
	alice.ok(&protocol.Frame{Type: protocol.TypeSubscribe, IDs: first[:10]})
	assert.Len(t, alice.presence(), 10)
	// Unsubscribing makes room.
	alice.ok(&protocol.Frame{Type: protocol.TypeUnsubscribe, IDs: []string{"a0"}})
	alice.ok(&protocol.Frame{Type: protocol.TypeSubscribe, IDs: []string{"bob"}})
	assert.Equal(t, map[string]string{"bob": "ONLINE"}, alice.presence())
}
