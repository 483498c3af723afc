//go:build !js

package pagetest

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestGroupInvitations: createGroupInvitation in the browser. A hunt
// group: every device rings, the first accept wins, the others learn who
// took it, the caller sees each callee; a group call: each callee answers
// for itself, legs end one by one; misuse throws INVALID_ARGUMENT.
func TestGroupInvitations(t *testing.T) {
	tb := apiTab(t, newSite(t))
	var res struct {
		Group                     map[string]any
		First, Ann, Ben2          [][]any
		AcceptedBy                string
		AnsweredBy                string
		Callees, AllCallees       map[string]string
		Before                    map[string]any
		All                       [][]any
		InCall, AfterLeg          []string
		CallState                 []string
		Self                      rtmErr
		One, Dup, Many, Mode, Bad rtmErr
	}
	tb.eval(`
const alice = await T.client("alice"), ann = await T.client("ann");
const ben = await T.client("ben"), ben2 = await T.client("ben");
const rings = [T.next(ann, "RemoteInvitationReceived"), T.next(ben, "RemoteInvitationReceived"),
  T.next(ben2, "RemoteInvitationReceived")];
const hunt = alice.createGroupInvitation(["ann", "ben", "cat"], { mode: "first" });
const before = { mode: hunt.mode, calleeIds: hunt.calleeIds, callees: hunt.callees, calleeId: hunt.calleeId };
const first = T.record(hunt, ["LocalInvitationCallee", "LocalInvitationAccepted", "CallEnded"]);
await hunt.send();
const [[ra], [rb], [rb2]] = await Promise.all(rings);
const group = ra.group;
const annLog = T.record(ra, ["RemoteInvitationFailure"]), ben2Log = T.record(rb2, ["RemoteInvitationFailure"]);
await rb.accept();
await T.until(() => first.some((e) => e[0] === "LocalInvitationAccepted") && annLog.length === 1 && ben2Log.length === 1);
const acceptedBy = hunt.acceptedBy, answeredBy = ra.answeredBy, callees = hunt.callees;
await hunt.hangup();
await T.until(() => first.some((e) => e[0] === "CallEnded"));

const all = alice.createGroupInvitation(["ann", "ben"], { mode: "all" });
const allLog = T.record(all, ["LocalInvitationCallee", "LocalInvitationAccepted", "CalleeCallEnded", "CallEnded"]);
const rings2 = [T.next(ann, "RemoteInvitationReceived"), T.next(ben, "RemoteInvitationReceived")];
await all.send();
const [[a2], [b2]] = await Promise.all(rings2);
await a2.accept();
await T.until(() => all.callState === "IN_CALL");
await b2.accept();
await T.until(() => allLog.some((e) => e[0] === "LocalInvitationAccepted"));
const inCall = all.inCallWith, allCallees = all.callees;
await a2.hangup();
await T.until(() => allLog.some((e) => e[0] === "CalleeCallEnded"));
const afterLeg = all.inCallWith, mid = all.callState;
await all.hangup();
await T.until(() => allLog.some((e) => e[0] === "CallEnded"));

return { group, first, ann: annLog, ben2: ben2Log, acceptedBy, answeredBy, callees, before, all: allLog,
  inCall, afterLeg, allCallees, callState: [mid, all.callState, b2.callState],
  self: await T.rejection(alice.createGroupInvitation(["ann", "alice"]).send()),
  one: T.thrown(() => alice.createGroupInvitation(["ann"])),
  dup: T.thrown(() => alice.createGroupInvitation(["ann", "ann"])),
  many: T.thrown(() => alice.createGroupInvitation(Array.from({ length: 17 }, (_, i) => "u" + i))),
  mode: T.thrown(() => alice.createGroupInvitation(["ann", "ben"], { mode: "any" })),
  bad: T.thrown(() => alice.createGroupInvitation("ann,ben")) };`, &res)

	assert.Equal(t, map[string]any{"mode": "first", "callees": []any{"ann", "ben", "cat"}}, res.Group, "the remote side sees the group")
	assert.Equal(t, map[string]any{"mode": "first", "calleeIds": []any{"ann", "ben", "cat"}, "calleeId": "",
		"callees": map[string]any{"ann": "IDLE", "ben": "IDLE", "cat": "IDLE"}}, res.Before)
	// Receipts may come in any order; the rest in the server's order.
	var moves [][]any
	for _, e := range res.First {
		if e[0] == "LocalInvitationCallee" && e[1].(map[string]any)["state"] == "RECEIVED" {
			continue
		}
		moves = append(moves, e)
	}
	assert.Equal(t, [][]any{
		{"LocalInvitationCallee", map[string]any{"calleeId": "cat", "state": "FAILURE", "reason": "PEER_OFFLINE"}, "SENT_TO_REMOTE"},
		{"LocalInvitationCallee", map[string]any{"calleeId": "ben", "state": "ACCEPTED"}, "RECEIVED_BY_REMOTE"},
		{"LocalInvitationCallee", map[string]any{"calleeId": "ann", "state": "CANCELED"}, "RECEIVED_BY_REMOTE"},
		{"LocalInvitationAccepted", "", "ACCEPTED_BY_REMOTE"},
		{"CallEnded", "HANGUP", "alice", "ACCEPTED_BY_REMOTE"},
	}, moves)
	assert.Equal(t, [][]any{{"RemoteInvitationFailure", "ANSWERED_BY_OTHER", "FAILURE"}}, res.Ann)
	assert.Equal(t, [][]any{{"RemoteInvitationFailure", "ANSWERED_ELSEWHERE", "FAILURE"}}, res.Ben2)
	assert.Equal(t, "ben", res.AcceptedBy)
	assert.Equal(t, "ben", res.AnsweredBy)
	assert.Equal(t, map[string]string{"ann": "CANCELED", "ben": "ACCEPTED", "cat": "FAILURE"}, res.Callees)

	var all [][]any
	for _, e := range res.All {
		if e[0] == "LocalInvitationCallee" && e[1].(map[string]any)["state"] == "RECEIVED" {
			continue
		}
		all = append(all, e)
	}
	assert.Equal(t, [][]any{
		{"LocalInvitationCallee", map[string]any{"calleeId": "ann", "state": "ACCEPTED"}, "RECEIVED_BY_REMOTE"},
		{"LocalInvitationCallee", map[string]any{"calleeId": "ben", "state": "ACCEPTED"}, "RECEIVED_BY_REMOTE"},
		{"LocalInvitationAccepted", "", "ACCEPTED_BY_REMOTE"},
		{"CalleeCallEnded", "ann", "HANGUP", "ann", "ACCEPTED_BY_REMOTE"},
		{"CalleeCallEnded", "ben", "HANGUP", "alice", "ACCEPTED_BY_REMOTE"},
		{"CallEnded", "HANGUP", "alice", "ACCEPTED_BY_REMOTE"},
	}, all)
	assert.Equal(t, []string{"ann", "ben"}, res.InCall)
	assert.Equal(t, []string{"ben"}, res.AfterLeg)
	assert.Equal(t, map[string]string{"ann": "ACCEPTED", "ben": "ACCEPTED"}, res.AllCallees)
	assert.Equal(t, []string{"IN_CALL", "ENDED", "ENDED"}, res.CallState)
	for _, e := range []rtmErr{res.Self, res.One, res.Dup, res.Many, res.Mode, res.Bad} {
		requireCode(t, e, 1, "INVALID_ARGUMENT")
	}
}
