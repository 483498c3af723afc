//go:build !js

package pagetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// tokenServer is the sample apps' token backend at /token?uid=: it issues
// each user the tokens planned for it, in order, then hour-long tokens.
type tokenServer struct {
	secret []byte
	mu     sync.Mutex
	plan   map[string][]plannedToken
}

// plannedToken is a token's lifetime (zero: an hour), and a channel that
// holds the answer until it is closed (nil: answer at once).
type plannedToken struct {
	ttl  time.Duration
	hold chan struct{}
}

func (ts *tokenServer) planFor(uid string, tokens ...plannedToken) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.plan[uid] = tokens
}

func (ts *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	uid := r.URL.Query().Get("uid")
	ts.mu.Lock()
	next := plannedToken{}
	if p := ts.plan[uid]; len(p) > 0 {
		next, ts.plan[uid] = p[0], p[1:]
	}
	ts.mu.Unlock()
	if next.ttl == 0 {
		next.ttl = time.Hour
	}
	tok, err := server.IssueToken(ts.secret, uid, next.ttl)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if next.hold != nil {
		// The headers go at once: Chromium holds a second request for the
		// same URL until the first one's headers arrive (its cache lock).
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		select {
		case <-next.hold:
		case <-r.Context().Done():
			return
		}
	}
	_ = json.NewEncoder(w).Encode(map[string]string{"token": tok})
}

// appSite serves the sample apps of testdata/ at /apps/, with their token
// backend at /token.
func appSite(t *testing.T) (*site, *tokenServer) {
	ts := &tokenServer{plan: map[string][]plannedToken{}}
	s := newSiteWith(t, files, func(mux *http.ServeMux, srv *rtmcalltest.Server) {
		ts.secret = srv.Secret
		mux.Handle("/token", ts)
		mux.Handle("/apps/", http.StripPrefix("/apps/", http.FileServer(http.Dir("testdata"))))
	})
	return s, ts
}

// appTab is a tab of a sample app; pos is how far expect has read its log.
type appTab struct {
	*tab
	pos int
}

func openApp(t *testing.T, s *site, path string) *appTab {
	a := &appTab{tab: newTab(t, s, path)}
	a.eval(`window.addEventListener("unhandledrejection", (e) => (globalThis.unhandled ??= []).push(String(e.reason)));`, nil)
	return a
}

// expect waits until the app's log (its <li> lines) shows lines, in order,
// after what expect already read.
func (a *appTab) expect(lines ...string) {
	a.t.Helper()
	want, err := json.Marshal(lines)
	require.NoError(a.t, err)
	var pos int
	err = a.evalErr(`
const want = `+string(want)+`;
const log = () => [...document.querySelectorAll("#log li")].map((li) => li.textContent);
try {
  return await T.until(() => {
    let i = `+jsInt(a.pos)+`;
    for (const w of want) {
      i = log().indexOf(w, i);
      if (i < 0) return false;
      i++;
    }
    return i;
  }, 20000);
} catch (e) {
  throw new Error("no " + JSON.stringify(want) + " in the log: " + JSON.stringify(log().slice(`+jsInt(a.pos)+`)));
}`, &pos)
	require.NoError(a.t, err)
	a.pos = pos
}

func jsInt(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func (a *appTab) fill(sel, value string) {
	a.t.Helper()
	a.eval(`document.querySelector(`+jsString(sel)+`).value = `+jsString(value)+`;`, nil)
}

// noUnhandled asserts that the page saw no unhandled rejection.
func (a *appTab) noUnhandled() {
	a.t.Helper()
	var unhandled []string
	a.eval(`return globalThis.unhandled ?? [];`, &unhandled)
	assert.Empty(a.t, unhandled, "unhandled rejections")
}

// sampleApp runs one sample app (dir) through one page (classic.html or
// module.html): login, a call accepted, a peer message, a call refused, a
// call canceled, a cancel too many, then a token that expires.
func sampleApp(t *testing.T, dir, page string, names appNames) {
	s, tokens := appSite(t)
	alice := openApp(t, s, "/apps/"+dir+"/"+page)
	bob := openApp(t, s, "/apps/"+dir+"/"+page)
	alice.expect(names.version)
	bob.expect(names.version)
	for _, p := range []struct {
		tab *appTab
		uid string
	}{{alice, "alice"}, {bob, "bob"}} {
		p.tab.fill("#uid", p.uid)
		p.tab.fill("#peer", map[string]string{"alice": "bob", "bob": "alice"}[p.uid])
		p.tab.click("#login")
		p.tab.expect("connection CONNECTING (LOGIN)", "connection CONNECTED (LOGIN_SUCCESS)", "logged in as "+p.uid)
	}

	// Accepted.
	alice.click("#call")
	alice.expect("calling bob (SENT_TO_REMOTE)", "ringing bob")
	bob.expect("incoming call from alice: " + names.content)
	bob.click("#accept")
	alice.expect("call accepted: " + names.accepted)
	bob.expect(names.joined)

	// A peer message (the app's hang-up).
	alice.fill("#message", "hangup")
	alice.click("#send")
	alice.expect("message delivered: true")
	bob.expect("message from alice: hangup")

	// Refused.
	alice.click("#call")
	alice.expect("ringing bob")
	bob.expect("incoming call from alice: " + names.content)
	bob.click("#refuse")
	alice.expect("call refused: " + names.refused)
	bob.expect("incoming call refused")

	// Canceled, then canceled again: the app catches Agora's error.
	alice.click("#call")
	alice.expect("ringing bob")
	bob.expect("incoming call from alice: " + names.content)
	alice.click("#cancel")
	alice.expect("call canceled")
	bob.expect("incoming call canceled by alice")
	alice.click("#cancel")
	alice.expect("cancel failed: " + names.statusError + " 3")

	// A token that expires because the backend is slow to give the new one:
	// the app logs in again, then renews with the late token.
	alice.click("#logout")
	alice.expect("connection DISCONNECTED (LOGOUT)", "logged out")
	slow := make(chan struct{})
	defer close(slow)
	tokens.planFor("alice", plannedToken{ttl: 3 * time.Second}, plannedToken{hold: slow})
	alice.click("#login")
	alice.expect("token will expire", "logged in as alice") // the event comes before login resolves
	alice.expect("connection ABORTED (TOKEN_EXPIRED)", "token expired", "connection CONNECTED (LOGIN_SUCCESS)",
		"logged in again as alice")
	slow <- struct{}{}
	alice.expect("token renewed")

	alice.noUnhandled()
	bob.noUnhandled()
}

type appNames struct {
	version, content, accepted, joined, refused, statusError string
}

func TestAgoraApp(t *testing.T) {
	names := appNames{
		version:     "AgoraRTM 1.5.1",
		content:     "video call in room-alice",
		accepted:    "on my way",
		joined:      "joining channel room-alice",
		refused:     "busy",
		statusError: "RtmInvalidStatusError",
	}
	t.Run("classic script", func(t *testing.T) { sampleApp(t, "agora", "classic.html", names) })
	t.Run("import map", func(t *testing.T) { sampleApp(t, "agora", "module.html", names) })
}

func TestAnyRTMApp(t *testing.T) {
	names := appNames{
		version:     "ArRTM 1.0.15",
		content:     `{"mode":"audio"}`,
		accepted:    `{"accept":true}`,
		joined:      "call connected",
		refused:     `{"busy":true}`,
		statusError: "RTMException",
	}
	t.Run("classic script", func(t *testing.T) { sampleApp(t, "anyrtm", "classic.html", names) })
	t.Run("import map", func(t *testing.T) { sampleApp(t, "anyrtm", "module.html", names) })
}

// sdkErr is an error of rtmcall/agora or rtmcall/anyrtm as the page reports it.
type sdkErr struct {
	Name    string `json:"name"`
	Code    any    `json:"code"`
	IsError bool   `json:"isError"`
	Message string `json:"message"`
}

// errorsJS collects, in the page, the errors of every check of Agora's SDK
// that an app can run into, as res[label] = {name, code}: thrown at once by
// the synchronous calls, rejected by the others. SDK is the namespace.
const errorsJS = `
const res = {};
const err = (e) => ({ name: e.name, code: e.code, isError: e instanceof Error, message: e.message });
const thrown = (label, f) => {
  try { f(); res[label] = { name: "none" }; } catch (e) { res[label] = err(e); }
};
const rejected = async (label, p) => {
  try { await p; res[label] = { name: "none" }; } catch (e) { res[label] = err(e); }
};
globalThis.unhandled = [];
window.addEventListener("unhandledrejection", (e) => unhandled.push(String(e.reason)));
const next = (target, event) => new Promise((resolve) => target.once(event, (...args) => resolve(args)));
const url = T.url;
const alice = SDK.createInstance("app", { url }), bob = SDK.createInstance("app", { url });
const ghost = SDK.createInstance("app", { url });

// Before the module has loaded (the page has just imported it): calls wait for it.
const early = SDK.createInstance("app", { url });
const earlyLogin = early.login({ uid: "carol" });
const earlyInvitation = ghost.createLocalInvitation("bob");
const earlyFailure = next(earlyInvitation, "LocalInvitationFailure");
earlyInvitation.send();
res["early: state after send"] = earlyInvitation.state;
await earlyLogin;
res["early: login"] = early.connectionState;
res["early: failure"] = (await earlyFailure)[0];
await early.logout();

// Before login.
thrown("createLocalInvitation bad id", () => alice.createLocalInvitation("a/b"));
thrown("createLocalInvitation null", () => alice.createLocalInvitation("null"));
await rejected("login bad uid", alice.login({ uid: "" }));
await rejected("login bad token type", alice.login({ uid: "alice", token: 42 }));
await rejected("login invalid token", alice.login({ uid: "alice", token: "not-a-jwt" }));
await rejected("login expired token", alice.login({ uid: "alice", token: EXPIRED }));
await rejected("login token of another user", alice.login({ uid: "alice", token: OTHER }));
await rejected("login unreachable", SDK.createInstance("app", { url: DEAD }).login({ uid: "alice" }));
await rejected("logout not logged in", ghost.logout());
await rejected("renewToken empty", ghost.renewToken(""));
await rejected("renewToken not logged in", ghost.renewToken(TOKEN));
await rejected("query not logged in", ghost.queryPeersOnlineStatus(["bob"]));
await rejected("subscribe not logged in", ghost.subscribePeersOnlineStatus(["bob"]));
await rejected("message not logged in", ghost.sendMessageToPeer({ text: "hi" }, "bob"));

await Promise.all([alice.login({ uid: "alice", token: TOKEN }), bob.login({ uid: "bob" })]);
await rejected("login again", alice.login({ uid: "alice" }));
await rejected("renewToken invalid", alice.renewToken("not-a-jwt"));
await rejected("renewToken expired", alice.renewToken(EXPIRED));
await rejected("query empty", alice.queryPeersOnlineStatus([]));
await rejected("query 257 ids", alice.queryPeersOnlineStatus(Array.from({ length: 257 }, (_, i) => "u" + i)));
await rejected("subscribe bad id", alice.subscribePeersOnlineStatus(["a/b"]));
await rejected("subscribe 513 ids", alice.subscribePeersOnlineStatus(Array.from({ length: 513 }, (_, i) => "u" + i)));
await rejected("message bad peer", alice.sendMessageToPeer({ text: "hi" }, "a/b"));
await rejected("message not text", alice.sendMessageToPeer({ text: 42 }, "bob"));
await rejected("message too large", alice.sendMessageToPeer({ text: "x".repeat(32 * 1024 + 1) }, "bob"));
const got = next(bob, "MessageFromPeer");
res.raw = await alice.sendMessageToPeer(alice.createMessage({ rawMessage: new Uint8Array([1, 2, 3]), description: "d" }), "bob");
const [m, from, props] = await got;
res.rawReceived = [m.messageType, Array.from(m.rawMessage), m.description, from, props.isOfflineMessage,
  typeof props.serverReceivedTs];
thrown("createChannel", () => alice.createChannel("room"));
thrown("getUserAttributes", () => alice.getUserAttributes("bob"));

// The caller's invitation.
const unsent = alice.createLocalInvitation("bob");
thrown("cancel before send", () => unsent.cancel());
thrown("set response", () => { unsent.response = "x"; });
unsent.content = "x".repeat(8193);
thrown("send content too large", () => unsent.send());
unsent.content = "ok";
unsent.channelId = "c".repeat(65);
thrown("send channelId too long", () => unsent.send());
unsent.channelId = "room";
const ring = next(bob, "RemoteInvitationReceived");
unsent.send();
res["state after send"] = unsent.state;
thrown("send twice", () => unsent.send());
const [remote] = await ring;
thrown("remote set content", () => { remote.content = "x"; });
thrown("remote set channelId", () => { remote.channelId = "x"; });
remote.response = "x".repeat(8193);
thrown("accept response too large", () => remote.accept());
remote.response = "sure";
const accepted = next(unsent, "LocalInvitationAccepted");
remote.accept();
res["state after accept"] = remote.state;
thrown("accept twice", () => remote.accept());
thrown("refuse while accepting", () => remote.refuse());
res.response = (await accepted)[0];
thrown("send after the end", () => unsent.send());
thrown("cancel after the end", () => unsent.cancel());
await new Promise((resolve) => (remote.state === "ACCEPTED" ? resolve() : remote.once("RemoteInvitationAccepted", resolve)));
thrown("accept after the end", () => remote.accept());
thrown("refuse after the end", () => remote.refuse());

// A cancel and an accept at once: the server picks one, each side sees it as an event.
const ring2 = next(bob, "RemoteInvitationReceived");
const race = alice.createLocalInvitation("bob");
const raceOutcome = Promise.race(["LocalInvitationAccepted", "LocalInvitationCanceled"].map((e) => next(race, e).then(() => e)));
race.send();
const [remote2] = await ring2;
const remoteOutcome = Promise.race(["RemoteInvitationAccepted", "RemoteInvitationCanceled", "RemoteInvitationFailure"]
  .map((e) => next(remote2, e).then(() => e)));
await next(race, "LocalInvitationReceivedByPeer");
race.cancel();
remote2.accept();
res.race = [await raceOutcome, await remoteOutcome, race.state, remote2.state];

// Not logged in: the invitation fails with NOT_LOGGEDIN, as in Agora's SDK (here within send).
const orphan = ghost.createLocalInvitation("bob");
const failed = next(orphan, "LocalInvitationFailure");
orphan.send();
res["not logged in: state after send"] = orphan.state;
res["not logged in: failure"] = (await failed)[0];
res["not logged in: state"] = orphan.state;

// Any event name; the emitter returns this.
const fn = () => {};
res.emitter = [alice.on("FallbackProxyConnected", fn) === alice, alice.listenerCount("FallbackProxyConnected"),
  alice.off("FallbackProxyConnected", fn) === alice, alice.listenerCount("FallbackProxyConnected")];
SDK.setArea({ areaCodes: ["GLOBAL"] });
alice.updateConfig({});
alice.setParameters({});
await Promise.all([alice.logout(), bob.logout()]);
await new Promise((r) => setTimeout(r, 0));
res.unhandled = unhandled;
return res;`

// runErrors loads module (its default export as SDK) in a fresh page and runs errorsJS.
func runErrors(t *testing.T, module string) map[string]json.RawMessage {
	s := newSite(t)
	tb := newTab(t, s, "/blank.html")
	consts := `const SDK = (await import(` + jsString(module) + `)).default;
const TOKEN = ` + jsString(s.srv.Token("alice", time.Hour)) + `;
const EXPIRED = ` + jsString(s.srv.Token("alice", -time.Minute)) + `;
const OTHER = ` + jsString(s.srv.Token("mallory", time.Hour)) + `;
const DEAD = "ws://127.0.0.1:1/ws";
`
	var res map[string]json.RawMessage
	tb.eval(consts+errorsJS, &res)
	return res
}

func checkErrors(t *testing.T, res map[string]json.RawMessage, want map[string]sdkErr) {
	t.Helper()
	for label, w := range want {
		var got sdkErr
		require.Contains(t, res, label)
		require.NoError(t, json.Unmarshal(res[label], &got), label)
		assert.Equal(t, w.Name, got.Name, "%s: %s", label, got.Message)
		assert.EqualValues(t, w.Code, got.Code, "%s: %s", label, got.Message)
		assert.True(t, got.IsError, label)
		assert.NotEmpty(t, got.Message, label)
	}
	var outcomes []string
	require.NoError(t, json.Unmarshal(res["race"], &outcomes))
	if outcomes[0] == "LocalInvitationAccepted" {
		assert.Equal(t, []string{"LocalInvitationAccepted", "RemoteInvitationAccepted", "ACCEPTED_BY_REMOTE", "ACCEPTED"}, outcomes)
	} else {
		assert.Equal(t, []string{"LocalInvitationCanceled", "RemoteInvitationCanceled", "CANCELED", "CANCELED"}, outcomes)
	}
	t.Logf("the race of a cancel and an accept: %v", outcomes)
	for label, v := range map[string]string{
		"state after send": `"SENT_TO_REMOTE"`, "state after accept": `"ACCEPT_SENT_TO_LOCAL"`, "response": `"sure"`,
		"not logged in: state after send": `"FAILURE"`, "early: state after send": `"SENT_TO_REMOTE"`,
		"early: login": `"CONNECTED"`, "early: failure": `"NOT_LOGGEDIN"`, "not logged in: failure": `"NOT_LOGGEDIN"`,
		"not logged in: state": `"FAILURE"`, "raw": `{"hasPeerReceived":true}`,
		"rawReceived": `["RAW",[1,2,3],"d","alice",false,"number"]`, "emitter": `[true,1,true,0]`, "unhandled": `[]`,
	} {
		assert.JSONEq(t, v, string(res[label]), label)
	}
}

// TestAgoraErrors checks each error class and code against Agora's SDK
// (agora-rtm-sdk 1.5.1: its InvitationApiCallError, LoginError,
// RenewTokenError, QueryPeersOnlineStatusError, PeerSubscriptionStatusError,
// PeerMessageError and LogoutError numbers, and the classes it throws them with).
func TestAgoraErrors(t *testing.T) {
	const (
		arg     = "RtmInvalidArgumentError"
		status  = "RtmInvalidStatusError"
		auth    = "RtmUnauthenticatedError"
		unavail = "RtmUnavailableError"
		limit   = "RtmLimitExceededError"
		unsupp  = "RtmNotSupportedError"
	)
	checkErrors(t, runErrors(t, "/agora.js"), map[string]sdkErr{
		"createLocalInvitation bad id": {Name: arg, Code: 1},
		"createLocalInvitation null":   {Name: arg, Code: 1},
		"login bad uid":                {Name: arg, Code: 3},
		"login bad token type":         {Name: arg, Code: 3},
		"login invalid token":          {Name: auth, Code: 5},
		"login expired token":          {Name: auth, Code: 6},
		"login token of another user":  {Name: auth, Code: 7},
		"login unreachable":            {Name: unavail, Code: 1},
		"login again":                  {Name: status, Code: 8},
		"logout not logged in":         {Name: status, Code: 102},
		"renewToken empty":             {Name: arg, Code: 2},
		"renewToken not logged in":     {Name: status, Code: 102},
		"renewToken invalid":           {Name: auth, Code: 6},
		"renewToken expired":           {Name: auth, Code: 5},
		"query not logged in":          {Name: status, Code: 102},
		"query empty":                  {Name: arg, Code: 2},
		"query 257 ids":                {Name: arg, Code: 2},
		"subscribe not logged in":      {Name: status, Code: 102},
		"subscribe bad id":             {Name: arg, Code: 2},
		"subscribe 513 ids":            {Name: limit, Code: 6},
		"message bad peer":             {Name: arg, Code: 6},
		"message not text":             {Name: arg, Code: 7},
		"message too large":            {Name: arg, Code: 7},
		"createChannel":                {Name: unsupp, Code: "NOT_SUPPORTED"},
		"getUserAttributes":            {Name: unsupp, Code: "NOT_SUPPORTED"},
		"cancel before send":           {Name: status, Code: 2},
		"set response":                 {Name: arg, Code: 1},
		"send content too large":       {Name: arg, Code: 1},
		"send channelId too long":      {Name: arg, Code: 1},
		"send twice":                   {Name: status, Code: 5},
		"remote set content":           {Name: arg, Code: 1},
		"remote set channelId":         {Name: arg, Code: 1},
		"accept response too large":    {Name: arg, Code: 1},
		"accept twice":                 {Name: status, Code: 4},
		"refuse while accepting":       {Name: status, Code: 4},
		"send after the end":           {Name: status, Code: 3},
		"cancel after the end":         {Name: status, Code: 3},
		"accept after the end":         {Name: status, Code: 3},
		"refuse after the end":         {Name: status, Code: 3},
	})
}

// TestAnyRTMErrors: the same checks with ar-rtm-sdk 1.0.15's numbers
// (RtmErrorCode) and classes (RTMException, RtmInvalidArgumentError).
func TestAnyRTMErrors(t *testing.T) {
	const (
		arg    = "RtmInvalidArgumentError"
		exc    = "RTMException"
		unsupp = "RtmNotSupportedError"
	)
	checkErrors(t, runErrors(t, "/anyrtm.js"), map[string]sdkErr{
		"createLocalInvitation bad id": {Name: arg, Code: 1},
		"login bad uid":                {Name: arg, Code: 2},
		"login invalid token":          {Name: exc, Code: 4},
		"login expired token":          {Name: exc, Code: 5},
		"login token of another user":  {Name: exc, Code: 6},
		"login unreachable":            {Name: exc, Code: 11},
		"login again":                  {Name: exc, Code: 7},
		"logout not logged in":         {Name: exc, Code: 102},
		"renewToken empty":             {Name: arg, Code: 2},
		"renewToken not logged in":     {Name: exc, Code: 102},
		"renewToken invalid":           {Name: exc, Code: 6},
		"query empty":                  {Name: arg, Code: 0},
		"query not logged in":          {Name: exc, Code: 102},
		"subscribe 513 ids":            {Name: exc, Code: 6},
		"message bad peer":             {Name: arg, Code: 6},
		"message not text":             {Name: arg, Code: 7},
		"createChannel":                {Name: unsupp, Code: "NOT_SUPPORTED"},
		"cancel before send":           {Name: exc, Code: 2},
		"send twice":                   {Name: exc, Code: 5},
		"accept twice":                 {Name: exc, Code: 4},
		"send after the end":           {Name: exc, Code: 3},
		"accept after the end":         {Name: exc, Code: 3},
	})
}

// TestAgoraTypes: agora.d.ts declares every error number that agora.js
// has, and it or the types it imports every enum member.
func TestAgoraTypes(t *testing.T) {
	tb := newTab(t, newSite(t), "/blank.html")
	var res struct {
		Codes map[string]map[string]int
		Enums map[string]map[string]string
	}
	tb.eval(`
const m = await import("/agora.js");
const enums = {};
for (const [k, v] of Object.entries(m.default)) if (v && typeof v === "object" && !k.startsWith("LOG_")) enums[k] = v;
return { codes: m.ErrorCode, enums };`, &res)
	dts, err := os.ReadFile(filepath.Join(root, "web", "agora.d.ts"))
	require.NoError(t, err)
	var shared []byte
	for _, f := range []string{"compat-types.d.ts", "rtmcall.d.ts"} {
		b, err := os.ReadFile(filepath.Join(root, "web", f))
		require.NoError(t, err)
		shared = append(shared, b...)
	}
	require.NotEmpty(t, res.Codes)
	for op, codes := range res.Codes {
		for name, n := range codes {
			assert.Contains(t, string(dts), fmt.Sprintf("readonly %s: %d;", name, n), "ErrorCode.%s", op)
		}
	}
	require.Len(t, res.Enums, 10)
	for enum, members := range res.Enums {
		for m := range members {
			assert.True(t, strings.Contains(string(dts), `"`+m+`"`) || strings.Contains(string(shared), `"`+m+`"`),
				"%s.%s is declared", enum, m)
		}
	}
}

// TestClassicGlobals: each classic script defines its SDK's globals and
// nothing else.
func TestClassicGlobals(t *testing.T) {
	s := newSite(t)
	for script, want := range map[string][]string{
		"/agora.global.js":  {"AgoraRTM"},
		"/anyrtm.global.js": {"ArRTM", "RtmErrorCode", "RtmStatusCode"},
	} {
		tb := newTab(t, s, "/blank.html")
		var added []string
		tb.eval(`
const before = new Set(Object.getOwnPropertyNames(globalThis));
await new Promise((resolve, reject) => {
  const el = document.createElement("script");
  el.src = `+jsString(script)+`;
  el.onload = resolve;
  el.onerror = () => reject(new Error("failed to load the script"));
  document.head.append(el);
});
return Object.getOwnPropertyNames(globalThis).filter((n) => !before.has(n)).sort();`, &added)
		assert.Equal(t, want, added, script)
	}
}
