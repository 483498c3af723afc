//go:build !js

package pagetest

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestPeerMessages: sendMessageToPeer and MessageFromPeer in the browser,
// text and raw, every session of the peer, the limits at the bound and one past.
func TestPeerMessages(t *testing.T) {
	tb := apiTab(t, newSite(t))
	var res struct {
		Sent, Offline                             map[string]bool
		Text, Raw, Other                          []any
		OverText, OverRaw, BadShape, BadRaw, Self rtmErr
		AtBound                                   bool
	}
	tb.eval(`
const alice = await T.client("alice"), bob = await T.client("bob"), bob2 = await T.client("bob");
const plain = (m, from, props) => [m.messageType, m.text ?? Array.from(m.rawMessage), m.description ?? null, from,
  typeof props.serverReceivedTs === "number" && props.serverReceivedTs > 0];
let got = T.next(bob, "MessageFromPeer"), other = T.next(bob2, "MessageFromPeer");
const sent = await alice.sendMessageToPeer({ text: "offer <&> \u0001 é 😀" }, "bob");
const text = plain(...await got), otherText = plain(...await other);
got = T.next(bob, "MessageFromPeer");
await alice.sendMessageToPeer({ rawMessage: new Uint8Array([0, 1, 255]), description: "ice" }, "bob");
const raw = plain(...await got);
got = T.next(bob, "MessageFromPeer");
const atBound = (await alice.sendMessageToPeer({ text: "é".repeat(16384) }, "bob")).hasPeerReceived &&
  (await got)[0].text.length === 16384;
return {
  sent, text, raw, other: otherText, atBound,
  offline: await alice.sendMessageToPeer({ text: "hi" }, "nobody"),
  overText: await T.rejection(alice.sendMessageToPeer({ text: "é".repeat(16384) + "x" }, "bob")),
  overRaw: await T.rejection(alice.sendMessageToPeer({ rawMessage: new Uint8Array(32769) }, "bob")),
  badShape: await T.rejection(alice.sendMessageToPeer("hi", "bob")),
  badRaw: await T.rejection(alice.sendMessageToPeer({ rawMessage: [1, 2] }, "bob")),
  self: await T.rejection(alice.sendMessageToPeer({ text: "x" }, "null")),
};`, &res)
	assert.Equal(t, map[string]bool{"hasPeerReceived": true}, res.Sent)
	assert.Equal(t, map[string]bool{"hasPeerReceived": false}, res.Offline, "an offline peer is not an error")
	assert.Equal(t, []any{"TEXT", "offer <&> \u0001 é 😀", nil, "alice", true}, res.Text)
	assert.Equal(t, res.Text, res.Other, "every session of the peer")
	assert.Equal(t, []any{"RAW", []any{0.0, 1.0, 255.0}, "ice", "alice", true}, res.Raw)
	assert.True(t, res.AtBound, "32768 bytes of text get through")
	for _, e := range []rtmErr{res.OverText, res.OverRaw, res.BadShape, res.BadRaw, res.Self} {
		requireCode(t, e, 1, "INVALID_ARGUMENT")
	}
}

// TestCallHangupAndBusy: the call after accept, its hang-up on either side
// with CallEnded and the callEnded hook, PEER_BUSY on every device, call
// waiting with calleeBusy, and ignore.
func TestCallHangupAndBusy(t *testing.T) {
	tb := apiTab(t, newSite(t))
	var res struct {
		States                         []string
		Local, Remote, Hooks           [][]any
		Twice, BeforeSend, BeforeReply rtmErr
		Busy                           [][]any
		Waiting                        []any
		AfterIgnore                    rtmErr
		Free                           []any
	}
	tb.eval(`
const alice = await T.client("alice"), bob = await T.client("bob"), bob2 = await T.client("bob");
const carol = await T.client("carol");
const hooks = [];
bob.setCallDelegate({ callEnded(inv, ...args) { hooks.push([inv.callState, ...args]); } });
const beforeSend = await T.rejection(alice.createLocalInvitation("bob").hangup());
const ring = T.next(bob, "RemoteInvitationReceived"), ring2 = T.next(bob2, "RemoteInvitationReceived");
const local = alice.createLocalInvitation("bob");
const accepted = T.next(local, "LocalInvitationAccepted");
await local.send();
const [remote] = await ring;
await ring2;
const beforeReply = await T.rejection(remote.hangup());
const localLog = T.record(local, ["CallEnded"]), remoteLog = T.record(remote, ["CallEnded"]);
await remote.accept();
await accepted;
const states = [local.callState, remote.callState];

// bob is in a call: carol's invitation fails at once, no device rings.
const busy = carol.createLocalInvitation("bob");
const busyLog = T.record(busy, ["LocalInvitationFailure", "LocalInvitationReceivedByPeer"]);
await busy.send();
await T.until(() => busyLog.length === 1);

// Call waiting on bob2: it rings there, marked busy; ignore stops it there, quietly.
await bob2.setCallWaiting(true);
const ringing = T.next(bob2, "RemoteInvitationReceived");
const second = carol.createLocalInvitation("bob");
const secondLog = T.record(second, ["LocalInvitationReceivedByPeer", "LocalInvitationFailure", "LocalInvitationCanceled"]);
second.timeoutMs = 1000;
await second.send();
const [waiting] = await ringing;
const waitingSeen = [waiting.calleeBusy, waiting.state];
await waiting.ignore();
const afterIgnore = await T.rejection(waiting.accept());
await T.until(() => secondLog.length === 2, 10000, "expiry");

await remote.hangup();
await T.until(() => localLog.length === 1 && remoteLog.length === 1 && hooks.length === 1);
const twice = await T.rejection(local.hangup());

await bob2.setCallWaiting(false);
const freeRing = T.next(bob, "RemoteInvitationReceived");
await carol.createLocalInvitation("bob").send();
const [free] = await freeRing;
return { states, local: localLog, remote: remoteLog, hooks, twice, beforeSend, beforeReply, busy: busyLog,
  waiting: [...waitingSeen, secondLog.map((e) => e[0])], afterIgnore, free: [free.calleeBusy, free.callState] };`, &res)
	assert.Equal(t, []string{"IN_CALL", "IN_CALL"}, res.States)
	assert.Equal(t, [][]any{{"CallEnded", "HANGUP", "bob", "ACCEPTED_BY_REMOTE"}}, res.Local, "the invitation state stays")
	assert.Equal(t, [][]any{{"CallEnded", "HANGUP", "bob", "ACCEPTED"}}, res.Remote)
	assert.Equal(t, [][]any{{"ENDED", "HANGUP", "bob"}}, res.Hooks)
	requireCode(t, res.Twice, 3, "ALREADY_END")
	requireCode(t, res.BeforeSend, 2, "NOT_STARTED")
	requireCode(t, res.BeforeReply, 2, "NOT_STARTED")
	assert.Equal(t, [][]any{{"LocalInvitationFailure", "PEER_BUSY", "FAILURE"}}, res.Busy)
	assert.Equal(t, []any{true, "INVITATION_RECEIVED", []any{"LocalInvitationReceivedByPeer", "LocalInvitationFailure"}}, res.Waiting,
		"ignored on the last ringing device: the invitation went on until it expired")
	requireCode(t, res.AfterIgnore, 3, "ALREADY_END")
	assert.Equal(t, []any{false, "IDLE"}, res.Free)
}
