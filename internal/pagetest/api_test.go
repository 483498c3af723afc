//go:build !js

package pagetest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/server"
)

// rtmErr is an RtmError as T.err reports it.
type rtmErr struct {
	IsError  bool   `json:"isError"`
	Name     string `json:"name"`
	Code     int    `json:"code"`
	CodeName string `json:"codeName"`
	Message  string `json:"message"`
}

func requireCode(t *testing.T, e rtmErr, code int, name string) {
	t.Helper()
	assert.True(t, e.IsError, "an Error instance")
	assert.Equal(t, "RtmError", e.Name)
	assert.Equal(t, code, e.Code, e.Message)
	assert.Equal(t, name, e.CodeName)
	assert.NotEmpty(t, e.Message)
}

// apiTab opens the demo page (the real page) and loads the kit in the test helpers.
func apiTab(t *testing.T, s *site) *tab {
	tb := newTab(t, s, "/")
	tb.waitReady()
	tb.eval(`await T.load();`, nil)
	return tb
}

func TestLoad(t *testing.T) {
	s := newSite(t)
	tb := newTab(t, s, "/blank.html")
	var res struct {
		Same, Frozen, HookGone bool
		NewGlobals             []string
		Version                string
		ReadyMs                float64
		Enums                  map[string]map[string]string
		Codes                  map[string]int
	}
	tb.eval(`
const before = new Set(Object.getOwnPropertyNames(globalThis));
const { load } = await import("/rtmcall.js");
const [a, b] = await Promise.all([load(), load()]);
const readyMs = performance.now();
const c = await load();
const again = await import("/rtmcall.js?again"); // a second copy of the module finds the same runtime
const enums = {};
for (const name of ["LocalInvitationState", "RemoteInvitationState", "LocalInvitationFailureReason",
    "RemoteInvitationFailureReason", "ConnectionState", "ConnectionChangeReason", "PeerOnlineState"]) {
  if (!Object.isFrozen(a[name])) throw new Error(name + " is not frozen");
  enums[name] = { ...a[name] };
}
return {
  same: a === b && b === c,
  frozen: Object.isFrozen(a) && Object.isFrozen(a.ErrorCode),
  hookGone: !("__rtmcall" in globalThis),
  newGlobals: Object.getOwnPropertyNames(globalThis).filter((n) => !before.has(n)).sort(),
  version: a.version,
  readyMs,
  enums,
  codes: { ...a.ErrorCode },
};`, &res)
	assert.True(t, res.Same, "loading twice returns the same kit")
	assert.True(t, res.Frozen)
	assert.True(t, res.HookGone, "the boot hook is removed")
	// wasm_exec.js runs in a view of globalThis (wasmbuild.WasmExecModule): its Go, fs, process and
	// path stay there, and rtmcall's start-up hook is gone.
	assert.Empty(t, res.NewGlobals, "load() leaves no new global")
	assert.Equal(t, version, res.Version)
	t.Logf("module load to ready in a fresh page: %.0f ms after navigation", res.ReadyMs)
	assert.Equal(t, map[string]string{"IDLE": "IDLE", "SENT_TO_REMOTE": "SENT_TO_REMOTE", "RECEIVED_BY_REMOTE": "RECEIVED_BY_REMOTE",
		"ACCEPTED_BY_REMOTE": "ACCEPTED_BY_REMOTE", "REFUSED_BY_REMOTE": "REFUSED_BY_REMOTE", "CANCELED": "CANCELED", "FAILURE": "FAILURE"},
		res.Enums["LocalInvitationState"])
	assert.Len(t, res.Enums["RemoteInvitationState"], 6)
	assert.Contains(t, res.Enums["RemoteInvitationFailureReason"], "ANSWERED_ELSEWHERE")
	assert.Len(t, res.Enums["ConnectionChangeReason"], 9)
	assert.Equal(t, 3, res.Codes["ALREADY_END"])
	assert.Equal(t, 204, res.Codes["NOT_LOGGED_IN"])

	// rtmcall.d.ts declares every code and every enum member the kit has.
	dts, err := os.ReadFile(filepath.Join(root, "web", "rtmcall.d.ts"))
	require.NoError(t, err)
	for name, code := range res.Codes {
		assert.Contains(t, string(dts), fmt.Sprintf("readonly %s: %d;", name, code), "rtmcall.d.ts ErrorCodes")
	}
	for enum, members := range res.Enums {
		assert.Contains(t, string(dts), "EnumObject<"+enum+">", "rtmcall.d.ts Kit")
		for m := range members {
			assert.Contains(t, string(dts), `"`+m+`"`, "rtmcall.d.ts %s", enum)
		}
	}
}

// TestLoadErrors: a wasm URL that fails is reported, and a later load may succeed.
func TestLoadErrors(t *testing.T) {
	s := newSite(t)
	tb := newTab(t, s, "/blank.html")
	var res struct{ First, Version string }
	tb.eval(`
const { load } = await import("/rtmcall.js");
let first = "";
try { await load({ wasmUrl: "/missing.wasm" }); } catch (e) { first = e.message; }
const kit = await load();
return { first, version: kit.version };`, &res)
	assert.Contains(t, res.First, "HTTP 404")
	assert.Equal(t, version, res.Version)
}

func TestAcceptFlow(t *testing.T) {
	s := newSite(t)
	tb := apiTab(t, s)
	var res struct {
		SendState, AcceptState, RemoteState string
		LocalLog, RemoteLog, AliceLog       [][]any
		Local, Remote                       map[string]any
		SameID                              bool
	}
	tb.eval(`
const alice = await T.client("alice"), bob = await T.client("bob");
const aliceLog = T.record(alice, ["ConnectionStateChanged", "RemoteInvitationReceived"]);
const ring = T.next(bob, "RemoteInvitationReceived");
const local = alice.createLocalInvitation("bob");
local.content = "Lunch?";
local.channelId = "room-1";
local.timeoutMs = 20000;
const localLog = T.record(local, ["LocalInvitationReceivedByPeer", "LocalInvitationAccepted", "LocalInvitationRefused",
  "LocalInvitationCanceled", "LocalInvitationFailure"]);
const received = T.next(local, "LocalInvitationReceivedByPeer");
const sending = local.send();
const sendState = local.state;
await sending;
const [remote] = await ring;
const remoteLog = T.record(remote, ["RemoteInvitationAccepted", "RemoteInvitationRefused", "RemoteInvitationCanceled",
  "RemoteInvitationFailure"]);
const remoteState = remote.state;
await received;
remote.response = "On my way";
const accepted = T.next(local, "LocalInvitationAccepted");
const accepting = remote.accept();
const acceptState = remote.state;
await accepting;
await accepted;
return { sendState, acceptState, remoteState, localLog, remoteLog, aliceLog,
  local: local.toJSON(), remote: remote.toJSON(), sameId: local.id === remote.id && local.id.length === 32 };`, &res)
	assert.Equal(t, "SENT_TO_REMOTE", res.SendState)
	assert.Equal(t, "INVITATION_RECEIVED", res.RemoteState)
	assert.Equal(t, "ACCEPT_SENT_TO_LOCAL", res.AcceptState)
	assert.True(t, res.SameID)
	assert.Equal(t, [][]any{
		{"LocalInvitationReceivedByPeer", "RECEIVED_BY_REMOTE"},
		{"LocalInvitationAccepted", "On my way", "ACCEPTED_BY_REMOTE"},
	}, res.LocalLog, "events in order, with the new state inside the handler")
	assert.Equal(t, [][]any{{"RemoteInvitationAccepted", "ACCEPTED"}}, res.RemoteLog)
	assert.Empty(t, res.AliceLog)
	assert.Equal(t, map[string]any{"calleeId": "bob", "content": "Lunch?", "channelId": "room-1", "timeoutMs": 20000.0,
		"id": res.Local["id"], "response": "On my way", "state": "ACCEPTED_BY_REMOTE", "callState": "IN_CALL",
		// A one-callee invitation has the group fields too (rtmcall.d.ts), empty.
		"mode": nil, "calleeIds": nil, "callees": nil, "acceptedBy": "", "inCallWith": []any{}}, res.Local)
	assert.Equal(t, map[string]any{"callerId": "alice", "content": "Lunch?", "channelId": "room-1",
		"id": res.Local["id"], "response": "On my way", "state": "ACCEPTED", "callState": "IN_CALL", "calleeBusy": false,
		"group": nil, "answeredBy": ""}, res.Remote)
}

// outcome runs one call from alice to bob in the page: setup (JS, with
// local) before send, then act (JS, with local and remote) once it rings;
// it returns both sides' events once both ended.
func outcome(t *testing.T, tb *tab, setup, act string) (local, remote [][]any) {
	t.Helper()
	var res struct{ Local, Remote [][]any }
	tb.eval(`
const alice = globalThis.alice ??= await T.client("alice");
const bob = globalThis.bob ??= await T.client("bob");
const ring = T.next(bob, "RemoteInvitationReceived");
const local = alice.createLocalInvitation("bob");
const localLog = T.record(local, ["LocalInvitationReceivedByPeer", "LocalInvitationAccepted", "LocalInvitationRefused",
  "LocalInvitationCanceled", "LocalInvitationFailure"]);
`+setup+`
const received = T.next(local, "LocalInvitationReceivedByPeer");
await local.send();
const [remote] = await ring;
const remoteLog = T.record(remote, ["RemoteInvitationAccepted", "RemoteInvitationRefused", "RemoteInvitationCanceled",
  "RemoteInvitationFailure"]);
await received;
`+act+`
await T.until(() => localLog.length === 2 && remoteLog.length === 1, 10000, "both sides ended");
return { local: localLog, remote: remoteLog };`, &res)
	return res.Local, res.Remote
}

func TestRefuseFlow(t *testing.T) {
	tb := apiTab(t, newSite(t))
	local, remote := outcome(t, tb, ``, `remote.response = "Busy"; await remote.refuse();`)
	assert.Equal(t, []any{"LocalInvitationRefused", "Busy", "REFUSED_BY_REMOTE"}, local[1])
	assert.Equal(t, [][]any{{"RemoteInvitationRefused", "REFUSED"}}, remote)
}

func TestCancelFlow(t *testing.T) {
	tb := apiTab(t, newSite(t))
	local, remote := outcome(t, tb, `local.content = "Still there?";`, `await local.cancel(); if (local.state !== "CANCELED") throw new Error(local.state);`)
	assert.Equal(t, []any{"LocalInvitationCanceled", "CANCELED"}, local[1])
	assert.Equal(t, [][]any{{"RemoteInvitationCanceled", "Still there?", "CANCELED"}}, remote)
}

func TestExpiryFlow(t *testing.T) {
	tb := apiTab(t, newSite(t))
	start := time.Now()
	local, remote := outcome(t, tb, `local.timeoutMs = 1000;`, ``)
	assert.Equal(t, []any{"LocalInvitationFailure", "INVITATION_EXPIRE", "FAILURE"}, local[1])
	assert.Equal(t, [][]any{{"RemoteInvitationFailure", "INVITATION_EXPIRE", "FAILURE"}}, remote)
	assert.GreaterOrEqual(t, time.Since(start), time.Second)
}

// TestServerTimeout: the server's default invitation timeout applies when
// the invitation sets none, and send reports it.
func TestServerTimeout(t *testing.T) {
	tb := apiTab(t, newSite(t, func(c *server.Config) { c.InvitationTimeout = 1200 * time.Millisecond }))
	var timeout float64
	local, remote := outcome(t, tb, ``, `globalThis.timeout = local.timeoutMs;`)
	tb.eval(`return globalThis.timeout;`, &timeout)
	assert.Equal(t, 1200.0, timeout)
	assert.Equal(t, []any{"LocalInvitationFailure", "INVITATION_EXPIRE", "FAILURE"}, local[1])
	assert.Equal(t, "INVITATION_EXPIRE", remote[0][1])
}

func TestOfflineFlow(t *testing.T) {
	tb := apiTab(t, newSite(t))
	var log [][]any
	tb.eval(`
const alice = await T.client("alice");
const local = alice.createLocalInvitation("nobody");
const log = T.record(local, ["LocalInvitationReceivedByPeer", "LocalInvitationFailure"]);
const failed = T.next(local, "LocalInvitationFailure");
await local.send();
await failed;
return log;`, &log)
	assert.Equal(t, [][]any{{"LocalInvitationFailure", "PEER_OFFLINE", "FAILURE"}}, log)
}

// TestMultiDevice rings bob on two clients (devices): the one that accepts
// wins, the other stops ringing with ANSWERED_ELSEWHERE.
func TestMultiDevice(t *testing.T) {
	s := newSite(t)
	tb := apiTab(t, s)
	other := apiTab(t, s) // bob's second device is another tab
	other.eval(`
globalThis.bob2 = await T.client("bob");
globalThis.ringing = T.next(bob2, "RemoteInvitationReceived");`, nil)
	var res struct {
		Phone, Laptop, Alice [][]any
		Late                 rtmErr
	}
	tb.eval(`
const alice = await T.client("alice"), bob = await T.client("bob");
const ring = T.next(bob, "RemoteInvitationReceived");
const local = alice.createLocalInvitation("bob");
const aliceLog = T.record(local, ["LocalInvitationReceivedByPeer", "LocalInvitationAccepted", "LocalInvitationFailure"]);
await local.send();
const [remote] = await ring;
globalThis.phone = T.record(remote, ["RemoteInvitationAccepted", "RemoteInvitationFailure"]);
globalThis.remote = remote;
globalThis.aliceLog = aliceLog;`, nil)
	other.eval(`
const [remote] = await ringing;
globalThis.laptop = T.record(remote, ["RemoteInvitationAccepted", "RemoteInvitationFailure"]);
await remote.accept();
await T.until(() => laptop.length === 1);`, nil)
	tb.eval(`
await T.until(() => phone.length === 1 && aliceLog.length === 2);
return { phone, alice: aliceLog, late: await T.rejection(remote.accept()) };`, &res)
	var laptop [][]any
	other.eval(`return laptop;`, &laptop)
	assert.Equal(t, [][]any{{"RemoteInvitationAccepted", "ACCEPTED"}}, laptop)
	assert.Equal(t, [][]any{{"RemoteInvitationFailure", "ANSWERED_ELSEWHERE", "FAILURE"}}, res.Phone)
	assert.Equal(t, []any{"LocalInvitationAccepted", "", "ACCEPTED_BY_REMOTE"}, res.Alice[1])
	requireCode(t, res.Late, 3, "ALREADY_END")
}

func TestPresence(t *testing.T) {
	tb := apiTab(t, newSite(t))
	var res struct {
		Query  map[string]bool
		Events []map[string]string
		After  int
	}
	tb.eval(`
const alice = await T.client("alice");
const events = [];
alice.on("PeersOnlineStatusChanged", (s) => events.push(s));
const query0 = await alice.queryPeersOnlineStatus(["bob", "alice"]);
await alice.subscribePeersOnlineStatus(["bob"]);
await T.until(() => events.length === 1);
const bob = await T.client("bob");
await T.until(() => events.length === 2);
const query = await alice.queryPeersOnlineStatus(["bob", "carol"]);
await bob.logout();
await T.until(() => events.length === 3);
await alice.unsubscribePeersOnlineStatus(["bob"]);
await bob.login("bob");
const after = events.length;
if (query0.bob !== false || query0.alice !== true) throw new Error(JSON.stringify(query0));
return { query, events, after };`, &res)
	assert.Equal(t, map[string]bool{"bob": true, "carol": false}, res.Query)
	assert.Equal(t, []map[string]string{{"bob": "OFFLINE"}, {"bob": "ONLINE"}, {"bob": "OFFLINE"}}, res.Events)
	assert.Equal(t, 3, res.After, "no event after unsubscribing")
}

func TestConnectionEvents(t *testing.T) {
	s := newSite(t)
	tb := apiTab(t, s)
	var res struct {
		Log                   [][]any
		UserID, After, Second string
		Renew, Bad            rtmErr
		Live                  map[string]int
	}
	token := s.srv.Token("carol", time.Hour)
	other := s.srv.Token("dave", time.Hour)
	tb.eval(`
const c = T.kit.createClient({ url: T.url });
const log = T.record(c, ["ConnectionStateChanged"]);
const p = c.login("carol", `+jsString(token)+`);
const second = (await T.rejection(c.login("carol"))).codeName;
await p;
await c.renewToken(`+jsString(token)+`);
const renew = await T.rejection(c.renewToken(`+jsString(other)+`));
const live = T.kit._debug.liveObjects();
await c.logout();
const bad = await T.rejection(c.login("carol", "not-a-jwt"));
return { log, userId: c.userId, after: c.connectionState, second, renew, bad, live };`, &res)
	assert.Equal(t, [][]any{
		{"ConnectionStateChanged", "CONNECTING", "LOGIN", "CONNECTING"},
		{"ConnectionStateChanged", "CONNECTED", "LOGIN_SUCCESS", "CONNECTED"},
		{"ConnectionStateChanged", "DISCONNECTED", "LOGOUT", "DISCONNECTED"},
		{"ConnectionStateChanged", "CONNECTING", "LOGIN", "CONNECTING"},
		{"ConnectionStateChanged", "DISCONNECTED", "LOGIN_FAILURE", "DISCONNECTED"},
	}, res.Log)
	assert.Equal(t, "ALREADY_LOGIN", res.Second)
	assert.Equal(t, "carol", res.UserID)
	assert.Equal(t, "DISCONNECTED", res.After)
	requireCode(t, res.Renew, 105, "NOT_AUTHORIZED")
	requireCode(t, res.Bad, 103, "INVALID_TOKEN")
	assert.Equal(t, 1, res.Live["clients"])
}

// TestDelegate sets every hook of the call delegate on both sides and runs
// each outcome.
func TestDelegate(t *testing.T) {
	tb := apiTab(t, newSite(t))
	tb.eval(`
globalThis.alice = await T.client("alice");
globalThis.bob = await T.client("bob");
globalThis.hooks = [];
const delegate = {};
for (const hook of ["remoteInvitationReceived", "localInvitationReceivedByPeer", "localInvitationAccepted",
    "localInvitationRefused", "localInvitationCanceled", "localInvitationFailure", "remoteInvitationAccepted",
    "remoteInvitationRefused", "remoteInvitationCanceled", "remoteInvitationFailure"]) {
  delegate[hook] = function (inv, ...args) {
    if (this !== delegate) throw new Error("this is not the delegate");
    hooks.push([hook, inv.state, ...args]);
  };
}
alice.setCallDelegate(delegate);
bob.setCallDelegate(delegate);`, nil)
	run := func(setup, act string) [][]any {
		outcome(t, tb, setup, act)
		var hooks [][]any
		tb.eval(`await T.until(() => hooks.length === 4); const h = hooks; globalThis.hooks = []; return h;`, &hooks)
		return hooks
	}
	assert.ElementsMatch(t, [][]any{
		{"remoteInvitationReceived", "INVITATION_RECEIVED"}, {"localInvitationReceivedByPeer", "RECEIVED_BY_REMOTE"},
		{"remoteInvitationAccepted", "ACCEPTED"}, {"localInvitationAccepted", "ACCEPTED_BY_REMOTE", "yes"},
	}, run(``, `remote.response = "yes"; await remote.accept(); await T.until(() => localLog.length === 2); await local.hangup();`))
	assert.ElementsMatch(t, [][]any{
		{"remoteInvitationReceived", "INVITATION_RECEIVED"}, {"localInvitationReceivedByPeer", "RECEIVED_BY_REMOTE"},
		{"remoteInvitationRefused", "REFUSED"}, {"localInvitationRefused", "REFUSED_BY_REMOTE", "no"},
	}, run(``, `remote.response = "no"; await remote.refuse();`))
	assert.ElementsMatch(t, [][]any{
		{"remoteInvitationReceived", "INVITATION_RECEIVED"}, {"localInvitationReceivedByPeer", "RECEIVED_BY_REMOTE"},
		{"localInvitationCanceled", "CANCELED"}, {"remoteInvitationCanceled", "CANCELED"},
	}, run(``, `await local.cancel();`))
	assert.ElementsMatch(t, [][]any{
		{"remoteInvitationReceived", "INVITATION_RECEIVED"}, {"localInvitationReceivedByPeer", "RECEIVED_BY_REMOTE"},
		{"localInvitationFailure", "FAILURE", "INVITATION_EXPIRE"}, {"remoteInvitationFailure", "FAILURE", "INVITATION_EXPIRE"},
	}, run(`local.timeoutMs = 1000;`, ``))

	// Handlers of an event run before its hook; null clears the delegate.
	var order []string
	tb.eval(`
const order = [];
alice.setCallDelegate({ localInvitationFailure: () => order.push("hook") });
const local = alice.createLocalInvitation("nobody");
local.on("LocalInvitationFailure", () => order.push("handler"));
await local.send();
await T.until(() => order.length === 2);
alice.setCallDelegate(null);
const again = alice.createLocalInvitation("nobody");
const failed = T.next(again, "LocalInvitationFailure");
await again.send();
await failed;
return order;`, &order)
	assert.Equal(t, []string{"handler", "hook"}, order)
}

// TestMisuse checks every misuse error code through the JavaScript API.
func TestMisuse(t *testing.T) {
	tb := apiTab(t, newSite(t))
	var res map[string]rtmErr
	tb.eval(`
const alice = await T.client("alice"), bob = await T.client("bob");
const r = {};
// INVALID_ARGUMENT (1)
r.badCallee = T.thrown(() => alice.createLocalInvitation("no/slash"));
r.nullCallee = T.thrown(() => alice.createLocalInvitation("null"));
r.noCallee = T.thrown(() => alice.createLocalInvitation());
const local = alice.createLocalInvitation("bob");
r.bigContent = T.thrown(() => { local.content = "é".repeat(4097); });
r.contentType = T.thrown(() => { local.content = 42; });
r.bigChannel = T.thrown(() => { local.channelId = "c".repeat(65); });
r.shortTimeout = T.thrown(() => { local.timeoutMs = 999; });
r.fracTimeout = T.thrown(() => { local.timeoutMs = 1000.5; });
if (local.content !== "" || local.channelId !== "" || local.timeoutMs !== 0) {
  throw new Error("a refused value was kept: " + JSON.stringify(local));
}
r.selfCall = await T.rejection(alice.createLocalInvitation("alice").send());
r.badIds = await T.rejection(alice.queryPeersOnlineStatus(["ok", 7]));
r.badEvent = T.thrown(() => alice.on("RemoteInvitationRecieved", () => {}));
r.badHandler = T.thrown(() => local.on("LocalInvitationAccepted", "not a function"));
r.badUrl = T.thrown(() => T.kit.createClient({ url: "http://127.0.0.1/ws" }));
r.badDelegate = T.thrown(() => alice.setCallDelegate(7));
r.badLogin = await T.rejection(T.kit.createClient({ url: T.url }).login(""));
// NOT_STARTED (2)
r.cancelBeforeSend = await T.rejection(local.cancel());
// ALREADY_SENT (5)
const ring = T.next(bob, "RemoteInvitationReceived");
const received = T.next(local, "LocalInvitationReceivedByPeer");
await local.send();
r.sendTwice = await T.rejection(local.send());
r.contentAfterSend = T.thrown(() => { local.content = "late"; });
r.channelAfterSend = T.thrown(() => { local.channelId = "late"; });
const [remote] = await ring;
await received;
// ALREADY_ACCEPT (4)
const accepting = remote.accept();
r.refuseWhileAccepting = await T.rejection(remote.refuse());
r.acceptTwice = await T.rejection(remote.accept());
r.responseWhileAccepting = T.thrown(() => { remote.response = "late"; });
await accepting;
// ALREADY_END (3)
await T.until(() => local.state === "ACCEPTED_BY_REMOTE");
r.cancelAfterEnd = await T.rejection(local.cancel());
r.sendAfterEnd = await T.rejection(local.send());
r.refuseAfterEnd = await T.rejection(remote.refuse());
r.contentAfterEnd = T.thrown(() => { local.content = "late"; });
r.responseAfterEnd = T.thrown(() => { remote.response = "late"; });
// NOT_LOGGED_IN (204)
const out = T.kit.createClient({ url: T.url });
const lonely = out.createLocalInvitation("bob");
const failed = T.next(lonely, "LocalInvitationFailure");
r.sendLoggedOut = await T.rejection(lonely.send());
r.failureReason = { codeName: (await failed)[0], state: lonely.state };
r.queryLoggedOut = await T.rejection(out.queryPeersOnlineStatus(["bob"]));
r.renewLoggedOut = await T.rejection(out.renewToken("x.y.z"));
return r;`, &res)
	for name, code := range map[string]int{
		"badCallee": 1, "nullCallee": 1, "noCallee": 1, "bigContent": 1, "contentType": 1, "bigChannel": 1,
		"shortTimeout": 1, "fracTimeout": 1, "selfCall": 1, "badIds": 1, "badEvent": 1, "badHandler": 1,
		"badUrl": 1, "badDelegate": 1, "badLogin": 1,
		"cancelBeforeSend": 2,
		"cancelAfterEnd":   3, "sendAfterEnd": 3, "refuseAfterEnd": 3, "contentAfterEnd": 3, "responseAfterEnd": 3,
		"refuseWhileAccepting": 4, "acceptTwice": 4, "responseWhileAccepting": 4,
		"sendTwice": 5, "contentAfterSend": 5, "channelAfterSend": 5,
		"sendLoggedOut": 204, "queryLoggedOut": 204, "renewLoggedOut": 204,
	} {
		e, ok := res[name]
		if assert.True(t, ok, name) {
			names := map[int]string{1: "INVALID_ARGUMENT", 2: "NOT_STARTED", 3: "ALREADY_END", 4: "ALREADY_ACCEPT", 5: "ALREADY_SENT", 204: "NOT_LOGGED_IN"}
			t.Run(name, func(t *testing.T) { requireCode(t, e, code, names[code]) })
		}
	}
	assert.Equal(t, "NOT_LOGGEDIN", res["failureReason"].CodeName, "the invitation's failure reason")
}

// TestThrowingHandlers: a handler or hook that throws is reported with
// console.error; the other handlers run and the module goes on working.
func TestThrowingHandlers(t *testing.T) {
	tb := apiTab(t, newSite(t))
	var res struct {
		Ran      []string
		Reported []string
		State    string
	}
	tb.eval(`
const reported = [];
const consoleError = console.error;
console.error = (...args) => reported.push(args.map(String).join(" "));
try {
  const alice = await T.client("alice"), bob = await T.client("bob");
  const ran = [];
  bob.on("RemoteInvitationReceived", () => { throw new Error("first handler broke"); });
  bob.on("RemoteInvitationReceived", (remote) => { ran.push("second"); remote.accept(); });
  bob.setCallDelegate({ remoteInvitationReceived() { throw new TypeError("the hook broke"); } });
  const local = alice.createLocalInvitation("bob");
  local.on("LocalInvitationAccepted", () => { throw "not even an Error"; });
  local.on("LocalInvitationAccepted", () => ran.push("accepted"));
  await local.send();
  await T.until(() => ran.length === 2 && reported.length === 3);
  return { ran, reported, state: local.state };
} finally {
  console.error = consoleError;
}`, &res)
	assert.Equal(t, []string{"second", "accepted"}, res.Ran)
	assert.Equal(t, "ACCEPTED_BY_REMOTE", res.State)
	require.Len(t, res.Reported, 3)
	assert.Contains(t, res.Reported[0], "a handler of RemoteInvitationReceived threw")
	assert.Contains(t, res.Reported[0], "first handler broke")
	assert.Contains(t, res.Reported[1], "the call delegate's remoteInvitationReceived threw")
	assert.Contains(t, res.Reported[2], "not even an Error")
}

// TestOnOff: several handlers in order, off removes one registration,
// handlers see this, and a handler may remove itself while it runs.
func TestOnOff(t *testing.T) {
	tb := apiTab(t, newSite(t))
	var calls []string
	tb.eval(`
const alice = await T.client("alice");
const calls = [];
const a = function () { calls.push("a:" + (this === local)); };
const b = () => calls.push("b");
const once = () => { calls.push("once"); local.off("LocalInvitationFailure", once); };
const local = alice.createLocalInvitation("nobody");
local.on("LocalInvitationFailure", a);
local.on("LocalInvitationFailure", once);
local.on("LocalInvitationFailure", b);
local.on("LocalInvitationFailure", a);
local.off("LocalInvitationFailure", a);
local.on("LocalInvitationAccepted", b);
local.off("LocalInvitationAccepted");
await local.send();
await T.until(() => calls.length === 3);
return calls;`, &calls)
	assert.Equal(t, []string{"a:true", "once", "b"}, calls)
}

// TestManyCalls places 200 calls and checks that the bridge holds no Go
// state for any of them afterwards, nor for logged-out clients.
func TestManyCalls(t *testing.T) {
	// Over the default rate limit (60 frames a second per connection).
	tb := apiTab(t, newSite(t, func(c *server.Config) { c.RateLimit, c.RateBurst = 10000, 10000 }))
	var res struct {
		Before, During, After, LoggedOut map[string]int
		Outcomes                         map[string]int
		Ms                               float64
	}
	tb.eval(`
const before = T.kit._debug.liveObjects();
const alice = await T.client("alice"), bob = await T.client("bob");
const outcomes = {};
const errors = [];
let during;
bob.on("RemoteInvitationReceived", (remote) => {
  const n = Number(remote.content);
  remote.on("RemoteInvitationCanceled", () => {});
  if (n % 4 === 0) remote.accept().catch(errors.push.bind(errors)); // the caller hangs up
  else if (n % 4 === 1) remote.refuse().catch(errors.push.bind(errors));
  // 2: the caller cancels; 3: the caller cancels after it rang
});
const start = performance.now();
for (let i = 0; i < 200; i++) {
  const local = alice.createLocalInvitation("bob");
  local.content = String(i);
  const ended = new Promise((resolve) => {
    for (const e of ["LocalInvitationAccepted", "LocalInvitationRefused", "LocalInvitationCanceled", "LocalInvitationFailure"]) {
      local.on(e, () => resolve(e));
    }
  });
  const rang = T.next(local, "LocalInvitationReceivedByPeer");
  await local.send();
  if (i % 4 >= 2) {
    if (i % 4 === 3) await rang;
    await local.cancel();
  }
  const e = await ended;
  if (e === "LocalInvitationAccepted") await local.hangup();
  outcomes[e] = (outcomes[e] ?? 0) + 1;
  if (i === 100) during = T.kit._debug.liveObjects();
}
const ms = performance.now() - start;
await T.until(() => T.kit._debug.liveObjects().remoteInvitations === 0);
const after = T.kit._debug.liveObjects();
await alice.logout();
await bob.logout();
if (errors.length) throw errors[0];
return { before, during, after, loggedOut: T.kit._debug.liveObjects(), outcomes, ms };`, &res)
	t.Logf("200 calls in %.0f ms", res.Ms)
	assert.Equal(t, map[string]int{"LocalInvitationAccepted": 50, "LocalInvitationRefused": 50, "LocalInvitationCanceled": 100}, res.Outcomes)
	assert.Zero(t, res.After["localInvitations"])
	assert.Zero(t, res.After["remoteInvitations"])
	assert.Equal(t, 2, res.After["clients"])
	assert.Equal(t, res.Before["funcs"], res.After["funcs"], "no js.Func left behind")
	assert.Equal(t, res.Before["clients"], res.LoggedOut["clients"], "logged-out clients hold nothing")
	assert.Equal(t, res.Before["funcs"], res.LoggedOut["funcs"])
	assert.LessOrEqual(t, res.During["localInvitations"], 1)
}

// TestLateDevice: a tab of bob that logs in after alice's send (a page
// opened by a notification, say) rings with the time left, and its accept
// reaches alice; bob's first device gets ANSWERED_ELSEWHERE.
func TestLateDevice(t *testing.T) {
	s := newSite(t)
	tb := apiTab(t, s)
	late := apiTab(t, s)
	tb.eval(`
const alice = await T.client("alice"), bob = await T.client("bob");
const ring = T.next(bob, "RemoteInvitationReceived");
const local = alice.createLocalInvitation("bob");
local.content = "late";
globalThis.aliceLog = T.record(local, ["LocalInvitationAccepted", "LocalInvitationFailure"]);
await local.send();
const [remote] = await ring;
globalThis.phone = T.record(remote, ["RemoteInvitationAccepted", "RemoteInvitationFailure"]);`, nil)
	var got struct {
		Caller, Content string
		Laptop          [][]any
	}
	late.eval(`
const bob2 = await T.client("bob"); // logs in after the send
const [remote] = await T.next(bob2, "RemoteInvitationReceived");
const laptop = T.record(remote, ["RemoteInvitationAccepted", "RemoteInvitationFailure"]);
await remote.accept();
await T.until(() => laptop.length === 1);
return { caller: remote.callerId, content: remote.content, laptop };`, &got)
	assert.Equal(t, "alice", got.Caller)
	assert.Equal(t, "late", got.Content)
	assert.Equal(t, [][]any{{"RemoteInvitationAccepted", "ACCEPTED"}}, got.Laptop)
	var res struct{ Phone, Alice [][]any }
	tb.eval(`
await T.until(() => phone.length === 1 && aliceLog.length === 1);
return { phone, alice: aliceLog };`, &res)
	assert.Equal(t, [][]any{{"RemoteInvitationFailure", "ANSWERED_ELSEWHERE", "FAILURE"}}, res.Phone)
	assert.Equal(t, []any{"LocalInvitationAccepted", "", "ACCEPTED_BY_REMOTE"}, res.Alice[0])
}
