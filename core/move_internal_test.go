package core

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// A move's login names the moved session with its key and the attempt's
// number, up to protocol.MaxLoginAttempt; past it, no session at all (the
// login takes nothing rather than repeat a number), and its frame passes
// the server's checks either way.
func TestMoveLoginNumbersAttempts(t *testing.T) {
	c := &Client{userID: "bob", token: "tok", waitingOn: true}
	for _, tc := range []struct {
		attempt uint64
		want    protocol.Frame
	}{
		{1, protocol.Frame{Session: "moved", Key: "key", Attempt: 1}},
		{2, protocol.Frame{Session: "moved", Key: "key", Attempt: 2}},
		{protocol.MaxLoginAttempt, protocol.Frame{Session: "moved", Key: "key", Attempt: protocol.MaxLoginAttempt}},
		{protocol.MaxLoginAttempt + 1, protocol.Frame{}},
	} {
		f := c.moveLogin(7, "moved", "key", tc.attempt)
		want := tc.want
		want.Type, want.RID, want.User, want.Token, want.Waiting = protocol.TypeLogin, 7, "bob", "tok", true
		assert.Equal(t, &want, f, "attempt %d", tc.attempt)
		assert.NoError(t, f.CheckRequest(), "attempt %d", tc.attempt)
	}
}
