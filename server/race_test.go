//go:build !js

package server_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// raceIterations is how many times each race runs.
const raceIterations = 200

// outcome is what one side saw of a race: the events before its reply, and
// the reply.
type outcome struct {
	events []string
	reply  string
}

func (c *client) outcome(rid uint64) outcome {
	c.t.Helper()
	reply, before := c.reply(rid)
	o := outcome{events: types(before), reply: reply.Type}
	if reply.Type == protocol.TypeError {
		o.reply = reply.Code.String()
	}
	return o
}

func TestRaceCancelAccept(t *testing.T) {
	srv := rtmcalltest.NewServer(t, unlimited)
	alice := login(t, srv, "alice")
	bob := login(t, srv, "bob")
	wins := map[string]int{}
	for i := range raceIterations {
		inv := ringing(t, alice, bob)
		cancel, accept := frame(protocol.TypeCancel, inv), frame(protocol.TypeAccept, inv)
		if i%2 == 0 {
			alice.start(cancel)
			bob.start(accept)
		} else {
			bob.start(accept)
			alice.start(cancel)
		}
		a, b := alice.outcome(cancel.RID), bob.outcome(accept.RID)
		switch {
		case a.reply == "ok":
			wins["cancel"]++
			require.Equal(t, outcome{[]string{"local.canceled"}, "ok"}, a)
			require.Equal(t, outcome{[]string{"remote.canceled"}, "ALREADY_END"}, b)
		default:
			wins["accept"]++
			require.Equal(t, outcome{[]string{"local.accepted"}, "ALREADY_END"}, a)
			require.Equal(t, outcome{[]string{}, "remote.accepted"}, b)
			hangUp(t, alice, inv, bob)
		}
	}
	alice.sync()
	bob.sync()
	t.Logf("winners: %v", wins)
}

func TestRaceAcceptOnTwoDevices(t *testing.T) {
	srv := rtmcalltest.NewServer(t, unlimited)
	alice := login(t, srv, "alice")
	bobs := [2]*client{login(t, srv, "bob"), login(t, srv, "bob")}
	wins := map[int]int{}
	for i := range raceIterations {
		inv := ringing(t, alice, bobs[0], bobs[1])
		accepts := [2]*protocol.Frame{frame(protocol.TypeAccept, inv), frame(protocol.TypeAccept, inv)}
		first := i % 2
		bobs[first].start(accepts[first])
		bobs[1-first].start(accepts[1-first])
		o := [2]outcome{bobs[0].outcome(accepts[0].RID), bobs[1].outcome(accepts[1].RID)}
		winner := 0
		if o[1].reply == protocol.TypeRemoteAccepted {
			winner = 1
		}
		wins[winner]++
		require.Equal(t, outcome{[]string{}, "remote.accepted"}, o[winner])
		require.Equal(t, outcome{[]string{"remote.failure ANSWERED_ELSEWHERE"}, "ALREADY_END"}, o[1-winner])
		alice.expect(protocol.TypeLocalAccepted, inv)
		hangUp(t, alice, inv, bobs[winner])
	}
	alice.sync()
	t.Logf("winners (device): %v", wins)
}

func TestRaceRefuseExpiry(t *testing.T) {
	srv := rtmcalltest.NewServer(t, unlimited, func(c *server.Config) { c.InvitationTimeout = time.Millisecond })
	alice := login(t, srv, "alice")
	bob := login(t, srv, "bob")
	wins := map[string]int{}
	for i := range raceIterations {
		inv := alice.send("bob")
		bob.expect(protocol.TypeInvite, inv)
		// bob refuses after a few pings (0 to 7), around the 1 ms timeout.
		var early []string
		for range i % 8 {
			o := bob.outcome(bob.start(&protocol.Frame{Type: protocol.TypePing}))
			early = append(early, o.events...)
		}
		b := bob.outcome(bob.start(frame(protocol.TypeRefuse, inv)))
		b.events = append(early, b.events...)
		a := alice.next()
		require.NotNil(t, a)
		require.Equal(t, inv, a.Inv)
		switch b.reply {
		case "ok":
			wins["refuse"]++
			require.Equal(t, outcome{[]string{"remote.refused"}, "ok"}, b)
			require.Equal(t, protocol.TypeLocalRefused, a.Type)
		default:
			wins["expiry"]++
			require.Equal(t, outcome{[]string{"remote.failure INVITATION_EXPIRE"}, "ALREADY_END"}, b)
			require.Equal(t, protocol.TypeLocalFailure, a.Type)
			require.Equal(t, "INVITATION_EXPIRE", a.Reason)
		}
	}
	alice.sync()
	bob.sync()
	t.Logf("winners: %v", wins)
}
