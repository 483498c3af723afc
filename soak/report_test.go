//go:build !js

package soak

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// A call counts as set up once accepted, and as dropped when a side saw it
// end other than by a hang-up: with a node death or pair reset first, else
// with a drain, else neither; the report says so on its calls line.
func TestCountCall(t *testing.T) {
	h := &harness{rep: newReport(Config{Cluster: 3})}
	hangup := []CallEnd{{Caller, "HANGUP", "alice"}, {"bob.d0#1", "HANGUP", "alice"}}
	offline := []CallEnd{{Caller, "PEER_OFFLINE", ""}, {"bob.d0#1", "UNKNOWN", ""}}
	h.countCallLocked(false, nil, false, true) // never accepted: no call
	h.countCallLocked(true, hangup, false, true)
	h.countCallLocked(true, offline, false, true)
	h.countCallLocked(true, offline, true, true)
	h.countCallLocked(true, offline, false, false)
	assert.Equal(t, 4, h.rep.Calls)
	assert.Equal(t, map[string]int{DropDrain: 1, DropDeath: 1, DropOther: 1}, h.rep.DroppedCalls)
	assert.Contains(t, h.rep.String(), "calls: 4 set up, 3 dropped (a side's call ended other than by a hang-up): "+
		"1 with a party's node draining, 1 with a party's node dying or its pair reset, 1 with neither")
}
