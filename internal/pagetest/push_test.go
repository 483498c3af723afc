//go:build !js

package pagetest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/serviceworker"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/push"
	"github.com/rtmcall/rtmcall/server/push/pushtest"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
	"github.com/rtmcall/rtmcall/server/store"
)

// The test's service worker: rtmcall-sw's installPush as an app would call it, and a message
// listener for the test. Browsers offer no way to click a notification, neither in the page nor over
// the DevTools protocol (web-platform-tests/wpt#51125), so the "click" message runs the helper's real
// click handler on the real notification, with an event object for the part the browser would make;
// the one thing a script cannot have outside a real click is the right to open or focus a window,
// so clients.openWindow and WindowClient.focus are replaced, while the click runs, by what records
// the URL for the test, which then opens it as the browser would (pushTab.click).
const testSWBody = `
const log = [];
// note logs what happened, and tells the pages: they wait on it rather than poll getNotifications,
// which in Chromium loses a notification being shown while it reads.
const note = (entry) => {
  log.push(entry);
  return self.clients.matchAll({ type: "window", includeUncontrolled: true })
    .then((cs) => cs.forEach((c) => c.postMessage({ type: "test-log", entry })));
};
const options = {
  url: %s,
  onError: (e, what) => note({ error: what, name: e.name, code: e.code, codeName: e.codeName, message: e.message }),
  onPushHandled: (p, result) => note({ handled: p.inv, kind: p.kind, result }),
};
installPush(options);
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (e) => e.waitUntil(self.clients.claim()));
self.addEventListener("message", (e) => {
  const port = e.ports[0];
  const answer = (p) => e.waitUntil(p.then((r) => port.postMessage(r), (err) => port.postMessage({ error: String(err) })));
  if (e.data.op === "log") answer(Promise.resolve(log));
  if (e.data.op === "click") answer(click(e.data));
});
async function click({ tag, action }) {
  const [n] = await self.registration.getNotifications({ tag });
  if (!n) return { error: "no notification tagged " + tag };
  const opened = [], focused = [], waits = [], from = log.length;
  const open = Clients.prototype.openWindow, focus = WindowClient.prototype.focus;
  Clients.prototype.openWindow = async (url) => { opened.push(url); return null; };
  WindowClient.prototype.focus = async function () { focused.push(this.url); return this; };
  try {
    const handled = handleNotificationClick({ action, notification: n, waitUntil: (p) => waits.push(p) }, options);
    await Promise.all(waits);
    return { handled, opened, focused, log: log.slice(from) };
  } finally {
    Clients.prototype.openWindow = open;
    WindowClient.prototype.focus = focus;
  }
}
`

// testSW returns the test's worker as an ES module (module true) or a classic script, opening the app
// at appURL.
func testSW(module bool, appURL string) string {
	url, _ := json.Marshal(appURL)
	body := fmt.Sprintf(testSWBody, url)
	if module {
		return `import { installPush, handleNotificationClick } from "/rtmcall-sw.js";` + body
	}
	return `importScripts("/rtmcall-sw.global.js");
const { installPush, handleNotificationClick } = RtmcallPush;` + body
}

// The page a click opens: it logs in as ?user=, and accepts the invitation the launch names when it
// rings and the action was Accept; window.app tells the test what it saw.
const testApp = `<!doctype html><title>app</title>
<script type="module">
import { load } from "/rtmcall.js";
import { readLaunch } from "/rtmcall-sw.js";
const app = window.app = { launch: readLaunch(location.href), rang: [], accepted: [], errors: [] };
const kit = await load();
const client = app.client = kit.createClient();
client.on("RemoteInvitationReceived", async (r) => {
  app.rang.push(r.id);
  if (app.launch?.action !== "accept" || r.id !== app.launch.invitation) return;
  try {
    await r.accept();
    app.accepted.push(r.id);
  } catch (e) {
    app.errors.push(e.codeName + ": " + e.message);
  }
});
await client.login(new URLSearchParams(location.search).get("user"));
app.loggedIn = true;
</script>
`

// pushSite is a site with the test's workers (/sw-module.js, /sw-classic.js), the app page
// (/app.html), an empty page (/page.html) and a refuse endpoint that records what it gets (/refuse).
type pushSite struct {
	*site
	emu     *pushtest.Service // the push service of a real push site
	mu      sync.Mutex
	refused []string // the requests to /refuse: method, content type, body
}

func newPushSite(t *testing.T, appURL string, opts ...func(*server.Config)) *pushSite {
	t.Helper()
	return newPushSiteWith(t, appURL, false, opts...)
}

// newRealPushSite is a pushSite whose node has the real Web Push (server/push on a file store, its
// endpoints at /push/), pushing to a push service emulator (ps.emu) instead of the test's Waker.
func newRealPushSite(t *testing.T, appURL string, opts ...func(*server.Config)) *pushSite {
	t.Helper()
	return newPushSiteWith(t, appURL, true, opts...)
}

func newPushSiteWith(t *testing.T, appURL string, real bool, opts ...func(*server.Config)) *pushSite {
	t.Helper()
	ps := &pushSite{}
	// The listener first: the push service needs the site's URL (its refuse URL) before the node starts.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	base := "http://" + ln.Addr().String()
	var svc *push.Service
	if real {
		ps.emu = pushtest.New(t)
		svc = ps.emu.NewPusher(t, base, func(c *push.Config) { c.Logger = slog.New(slog.NewTextHandler(tbLog{t}, nil)) })
	}
	srv := rtmcalltest.NewServer(t, append([]func(*server.Config){func(c *server.Config) {
		if real {
			c.Waker, c.Push = svc, svc
			c.WakeWindow = 20 * time.Second
		}
	}}, opts...)...)
	js := func(src string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
			_, _ = w.Write([]byte(src))
		}
	}
	html := func(src string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(src))
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", srv.Node)
	mux.Handle("/", files)
	mux.Handle("/sw-module.js", js(testSW(true, appURL)))
	mux.Handle("/sw-classic.js", js(testSW(false, appURL)))
	mux.Handle("/app.html", html(testApp))
	mux.Handle("/page.html", html("<!doctype html><title>page</title>\n"))
	mux.HandleFunc("/refuse", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1024))
		ps.mu.Lock()
		ps.refused = append(ps.refused, r.Method+" "+r.Header.Get("Content-Type")+" "+string(b))
		ps.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	if real {
		mux.Handle("/push/", svc.Handler())
	}
	hs := httptest.NewUnstartedServer(mux)
	_ = hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	t.Cleanup(hs.Close)
	ps.site = &site{URL: base, WSURL: "ws://" + ln.Addr().String() + "/ws", srv: srv}
	if real {
		st, err := store.OpenFile(t.TempDir())
		require.NoError(t, err)
		ps.emu.Start(t, svc, srv.Node, st) // stops the node, then svc, then st, before the node's own cleanup
	}
	return ps
}

// tbLog writes the push service's log to the test.
type tbLog struct{ t *testing.T }

func (w tbLog) Write(p []byte) (int, error) {
	logf(w.t, "%s", strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// pushTab is a tab of a pushSite with the test's worker registered and notifications granted.
type pushTab struct {
	*tab
	ps    *pushSite
	regID serviceworker.RegistrationID
	seen  int // entries of the worker's log that logged returned
}

func newPushTab(t *testing.T, ps *pushSite, worker string) *pushTab {
	t.Helper()
	tb := newTab(t, ps.site, "/blank.html")
	require.NoError(t, tb.run(chromedp.ActionFunc(func(ctx context.Context) error {
		// Browser.setPermission: this protocol's successor of Browser.grantPermissions.
		return browser.SetPermission(&browser.PermissionDescriptor{Name: "notifications"}, browser.PermissionSettingGranted).
			WithOrigin(ps.URL).Do(ctx)
	})))
	regs := make(chan *serviceworker.Registration, 16)
	chromedp.ListenTarget(tb.ctx, func(ev any) {
		if ev, ok := ev.(*serviceworker.EventWorkerRegistrationUpdated); ok {
			for _, r := range ev.Registrations {
				if !r.IsDeleted && r.ScopeURL == ps.URL+"/" { // the profile's other origins are reported too
					select {
					case regs <- r:
					default: // a listener must not block; the first one is enough
					}
				}
			}
		}
	})
	require.NoError(t, tb.run(serviceworker.Enable()))
	tb.eval(fmt.Sprintf(`
await navigator.serviceWorker.register(%q, { type: %q, scope: "/" });
await navigator.serviceWorker.ready;
T.sw = (msg, ms = 10000) => new Promise((resolve, reject) => {
  const ch = new MessageChannel();
  const timer = setTimeout(() => reject(new Error("the worker did not answer " + JSON.stringify(msg))), ms);
  ch.port1.onmessage = (e) => { clearTimeout(timer); resolve(e.data); };
  navigator.serviceWorker.ready.then((reg) => reg.active.postMessage(msg, [ch.port2]));
});
T.notes = async (tag) => (await (await navigator.serviceWorker.ready).getNotifications(tag ? { tag } : {}))
  .map((n) => ({ title: n.title, body: n.body, tag: n.tag, actions: n.actions.map((a) => [a.action, a.title]),
    requireInteraction: n.requireInteraction, data: n.data }));
T.swLog = [];
navigator.serviceWorker.addEventListener("message", (e) => {
  if (e.data?.type === "test-log") T.swLog.push(e.data.entry);
});
navigator.serviceWorker.startMessages();`, worker, map[bool]string{true: "module", false: "classic"}[strings.Contains(worker, "module")]), nil)
	pt := &pushTab{tab: tb, ps: ps}
	deadline := time.After(10 * time.Second)
	for pt.regID == "" {
		select {
		case r := <-regs:
			pt.regID = r.RegistrationID
		case <-deadline:
			t.Fatal("no ServiceWorker.workerRegistrationUpdated for scope " + ps.URL + "/")
		}
	}
	return pt
}

// push delivers payload (JSON-encoded unless a string) to the worker as a push message.
func (pt *pushTab) push(payload any) {
	pt.t.Helper()
	data, ok := payload.(string)
	if !ok {
		b, err := json.Marshal(payload)
		require.NoError(pt.t, err)
		data = string(b)
	}
	require.NoError(pt.t, pt.run(serviceworker.DeliverPushMessage(pt.ps.URL, pt.regID, data)))
}

// note is a notification as T.notes gives it.
type note struct {
	Title, Body, Tag   string
	Actions            [][]string
	RequireInteraction bool
	Data               struct{ Rtmcall map[string]any }
}

// logged waits until the worker has logged n more entries (pushes handled, errors) and returns them.
func (pt *pushTab) logged(n int) []map[string]any {
	pt.t.Helper()
	var entries []map[string]any
	pt.eval(fmt.Sprintf(`await T.until(() => T.swLog.length >= %d, 10000, "%d entries in " + JSON.stringify(T.swLog));
return T.swLog.slice(%d);`, pt.seen+n, pt.seen+n, pt.seen), &entries)
	pt.seen += len(entries)
	require.Len(pt.t, entries, n, "%v", entries)
	return entries
}

// notes returns the worker's notifications. Call it only when no push is being handled (see logged).
func (pt *pushTab) notes() []note {
	pt.t.Helper()
	var notes []note
	pt.eval(`return await T.notes();`, &notes)
	return notes
}

// notesAfterClose returns the worker's notifications once none is left, or after 10 s: a close takes
// effect a moment after the call. Only while no push is being shown (see logged).
func (pt *pushTab) notesAfterClose() []note {
	pt.t.Helper()
	var left []note
	pt.eval(`const deadline = performance.now() + 10000;
for (;;) {
  const notes = await T.notes();
  if (notes.length === 0 || performance.now() > deadline) return notes;
  await new Promise((r) => setTimeout(r, 20));
}`, &left)
	return left
}

// clickResult is what the test worker's click reports.
type clickResult struct {
	Handled         bool
	Opened, Focused []string
	Log             []map[string]any
	Error           string
}

// click clicks action ("" for the body) on the notification tagged tag, and opens the window the
// helper asked for, if any.
func (pt *pushTab) click(tag, action string) clickResult {
	pt.t.Helper()
	var res clickResult
	pt.eval(fmt.Sprintf(`return await T.sw({ op: "click", tag: %q, action: %q });`, tag, action), &res)
	require.Empty(pt.t, res.Error)
	return res
}

// handledEntry is the log entry of a push the helper handled.
func handledEntry(inv, kind, result string) map[string]any {
	return map[string]any{"handled": inv, "kind": kind, "result": result}
}

// TestPushNotification: an invite push shows "alice is calling: <content>" with Accept and Refuse,
// tagged with the invitation id, in a module worker and in a classic one (rtmcall-sw.global.js);
// its close push closes it; a close with nothing shown, an expired invite and an invite whose close
// came first show nothing; another app's push is left alone; a malformed rtmcall payload is reported
// with a code.
func TestPushNotification(t *testing.T) {
	for _, worker := range []string{"/sw-module.js", "/sw-classic.js"} {
		t.Run(strings.TrimSuffix(strings.TrimPrefix(worker, "/"), ".js"), func(t *testing.T) {
			ps := newPushSite(t, "/app.html?user=bob")
			pt := newPushTab(t, ps, worker)
			future := time.Now().Add(time.Minute).UnixMilli()
			invite := func(id, content string) map[string]any {
				return map[string]any{"v": 1, "kind": "invite", "inv": id, "caller": "alice", "content": content,
					"channel": "room", "expiresAt": future, "refuse": "cap", "refuseUrl": ps.URL + "/refuse"}
			}
			closePush := func(id string) map[string]any {
				return map[string]any{"v": 1, "kind": "close", "inv": id, "reason": "canceled"}
			}
			pt.push(invite("inv1", "Lunch?"))
			assert.Equal(t, []map[string]any{handledEntry("inv1", "invite", "shown")}, pt.logged(1))
			notes := pt.notes()
			require.Len(t, notes, 1)
			n := notes[0]
			assert.Equal(t, "alice is calling: Lunch?", n.Title)
			assert.Equal(t, "inv1", n.Tag)
			assert.Equal(t, [][]string{{"accept", "Accept"}, {"refuse", "Refuse"}}, n.Actions)
			assert.True(t, n.RequireInteraction)
			assert.Equal(t, "inv1", n.Data.Rtmcall["inv"])
			assert.Equal(t, "cap", n.Data.Rtmcall["refuse"])

			pt.push(invite("inv2", ""))
			pt.logged(1)
			notes = pt.notes()
			require.Len(t, notes, 2)
			assert.ElementsMatch(t, []string{"alice is calling: Lunch?", "alice is calling"},
				[]string{notes[0].Title, notes[1].Title})

			pt.push(closePush("inv1"))
			assert.Equal(t, []map[string]any{handledEntry("inv1", "close", "closed")}, pt.logged(1))
			var tags []string
			pt.eval(`const deadline = performance.now() + 10000;
for (;;) {
  const tags = (await T.notes()).map((n) => n.tag);
  if (tags.length === 1 || performance.now() > deadline) return tags;
  await new Promise((r) => setTimeout(r, 20));
}`, &tags)
			assert.Equal(t, []string{"inv2"}, tags, "only the closed invitation's notification went")

			expired := invite("inv-expired", "")
			expired["expiresAt"] = time.Now().Add(-time.Second).UnixMilli()
			pt.push(closePush("nothing-shown"))
			pt.push(expired)
			pt.push(closePush("inv-overtaken"))
			pt.push(invite("inv-overtaken", ""))
			pt.push(`{"title":"another app's push"}`)
			pt.push(`not json at all`)
			pt.push(map[string]any{"v": 2, "kind": "invite", "inv": "future-version"})
			pt.push(map[string]any{"v": 1, "kind": "invite", "inv": "no-url", "caller": "alice", "expiresAt": future, "refuse": "c"})
			pt.push(map[string]any{"v": 1, "kind": "ring", "inv": "x"})
			// Malformed payloads are reported as they arrive, the others once handled: two lists.
			var log, errs []map[string]any
			for _, e := range pt.logged(7) {
				if e["error"] != nil {
					errs = append(errs, e)
				} else {
					log = append(log, e)
				}
			}
			assert.Equal(t, []map[string]any{
				handledEntry("nothing-shown", "close", "nothing-to-close"),
				handledEntry("inv-expired", "invite", "expired"),
				handledEntry("inv-overtaken", "close", "nothing-to-close"),
				handledEntry("inv-overtaken", "invite", "closed-before"),
			}, log, "the pushes that show nothing")
			require.Len(t, errs, 3)
			for i, want := range []string{"unsupported payload version 2", `"refuseUrl" must be a string`, `unknown kind "ring"`} {
				e := errs[i]
				assert.Equal(t, "push", e["error"])
				assert.Equal(t, "RtmError", e["name"])
				assert.Equal(t, 1.0, e["code"])
				assert.Equal(t, "INVALID_ARGUMENT", e["codeName"])
				assert.Contains(t, e["message"], want)
			}
			tags = nil
			for _, n := range pt.notes() {
				tags = append(tags, n.Tag)
			}
			assert.Equal(t, []string{"inv2"}, tags, "nothing else shown, the app's own pushes included")
		})
	}
}

// TestPushClick: Accept on the notification opens the app at the URL the worker was given, with the
// invitation and the action in it; a click on the body opens it with "open"; an open app window is
// focused and sent a message instead; Refuse posts the capability to refuseUrl and opens nothing.
// Each click closes the notification.
func TestPushClick(t *testing.T) {
	ps := newPushSite(t, "/page.html?app=1")
	pt := newPushTab(t, ps, "/sw-module.js")
	future := time.Now().Add(time.Minute).UnixMilli()
	for _, id := range []string{"a1", "a2", "a3"} {
		pt.push(map[string]any{"v": 1, "kind": "invite", "inv": id, "caller": "alice", "content": "",
			"channel": "", "expiresAt": future, "refuse": "cap-" + id, "refuseUrl": ps.URL + "/refuse"})
	}
	pt.logged(3)
	require.Len(t, pt.notes(), 3)

	// No window of the app's path is open (the tab is at /blank.html): it opens one.
	res := pt.click("a1", "accept")
	assert.True(t, res.Handled)
	assert.Equal(t, []string{ps.URL + "/page.html?app=1&rtmcallInvitation=a1&rtmcallAction=accept"}, res.Opened)
	assert.Empty(t, res.Focused)
	assert.Empty(t, res.Log)

	// The app's window is open (its path, any query): it is focused and told, not opened again.
	app := newTab(t, ps.site, "/page.html")
	app.eval(`
T.launches = [];
const { readLaunch } = await import("/rtmcall-sw.js");
navigator.serviceWorker.addEventListener("message", (e) => T.launches.push(readLaunch(e.data)));
navigator.serviceWorker.startMessages();`, nil)
	res = pt.click("a2", "")
	assert.True(t, res.Handled)
	assert.Empty(t, res.Opened)
	assert.Equal(t, []string{ps.URL + "/page.html"}, res.Focused)
	var launches []map[string]string
	app.eval(`await T.until(() => T.launches.length === 1); return T.launches;`, &launches)
	assert.Equal(t, []map[string]string{{"invitation": "a2", "action": "open"}}, launches)

	res = pt.click("a3", "refuse")
	assert.True(t, res.Handled)
	assert.Empty(t, res.Opened)
	assert.Empty(t, res.Focused)
	assert.Empty(t, res.Log)
	ps.mu.Lock()
	assert.Equal(t, []string{`POST application/json {"cap":"cap-a3"}`}, ps.refused)
	ps.mu.Unlock()

	left := pt.notesAfterClose()
	assert.Empty(t, left, "each click closed its notification")

	var launch []any
	pt.eval(`const { readLaunch } = await import("/rtmcall-sw.js");
return [readLaunch("https://x/app?rtmcallInvitation=i9&rtmcallAction=accept"), readLaunch("https://x/app?q=1"),
  readLaunch("not a url"), readLaunch({ type: "other", invitation: "x" })];`, &launch)
	assert.Equal(t, []any{map[string]any{"invitation": "i9", "action": "accept"}, nil, nil, nil}, launch)
}

// subJSON is sub as PushSubscription.toJSON() gives it, in JavaScript.
func subJSON(sub *pushtest.Subscription) string {
	b, _ := json.Marshal(map[string]any{"endpoint": sub.Endpoint, "keys": map[string]string{"p256dh": sub.P256dh, "auth": sub.Auth}})
	return string(b)
}

// TestPushEnable: enablePush with the browser's registration asks the browser's push service, which
// headless Chromium cannot reach: a PUSH_UNAVAILABLE RtmError that says so; with notifications
// denied, PUSH_DENIED; not logged in, NOT_LOGGED_IN before anything else. The direct form registers
// a subscription (here the emulator's): the server then pushes to it when bob is offline, until
// disablePush or logout({disablePush: true}) removes it. Bad subscriptions and options are
// INVALID_ARGUMENT; a server without Web Push answers PUSH_UNAVAILABLE.
func TestPushEnable(t *testing.T) {
	ps := newRealPushSite(t, "/app.html?user=bob")
	pt := newPushTab(t, ps, "/sw-module.js")
	sub := ps.emu.Subscribe()
	var res struct {
		NotLoggedIn, Browser rtmErr
		Bad                  []rtmErr
		Registered, Again    map[string]any
		BadLogout            rtmErr
		VapidKey             string
	}
	pt.eval(`
const SUB = `+subJSON(sub)+`;
await T.load();
const reg = await navigator.serviceWorker.ready;
// bounded: a push service that never answers must fail the test, not hang it
const within = (p, what) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(what + " did not settle in 30 s")), 30000))]);
const bob = T.kit.createClient({ url: T.url });
const notLoggedIn = await T.rejection(bob.enablePush(reg));
await bob.login("bob");
const browser = await T.rejection(within(bob.enablePush(reg, { subscribeTimeoutMs: 3000 }), "enablePush(registration)"));
const bad = [
  await T.rejection(bob.enablePush(42)),
  await T.rejection(bob.enablePush({ endpoint: "ftp://push.example/x", keys: SUB.keys })),
  await T.rejection(bob.enablePush({ endpoint: SUB.endpoint })),
  await T.rejection(bob.enablePush({ endpoint: SUB.endpoint, keys: { p256dh: "not base64url!", auth: SUB.keys.auth } })),
  await T.rejection(bob.enablePush(SUB, 5)),
  await T.rejection(bob.disablePush("x")),
  await T.rejection(bob.enablePush(reg, { subscribeTimeoutMs: -1 })),
];
const registered = await bob.enablePush(SUB);
const again = await bob.enablePush(SUB); // the same endpoint again replaces it
const badLogout = await T.rejection(bob.logout({ disablePush: "yes" }));
const vapidKey = (await (await fetch("/push/vapid")).json()).publicKey;
await bob.logout();
T.alice = await T.client("alice");
T.send = async (callee) => {
  const local = T.alice.createLocalInvitation(callee);
  const log = T.record(local, ["LocalInvitationWaking", "LocalInvitationFailure", "LocalInvitationCanceled"]);
  await local.send();
  await T.until(() => log.length > 0, 10000, "waking or failure");
  return { local, first: log[0][0] };
};
const sent = await T.send("bob");
T.first = sent.first;
await sent.local.cancel();
T.bob = bob;
return { notLoggedIn, browser, bad, registered, again, badLogout, vapidKey };`, &res)
	requireCode(t, res.NotLoggedIn, 204, "NOT_LOGGED_IN")
	requireCode(t, res.Browser, 211, "PUSH_UNAVAILABLE")
	assert.Contains(t, res.Browser.Message, "pushManager.subscribe within 3s", "it says which step failed")
	require.Len(t, res.Bad, 7)
	for _, e := range res.Bad {
		requireCode(t, e, 1, "INVALID_ARGUMENT")
	}
	want := map[string]any{"endpoint": sub.Endpoint, "keys": map[string]any{"p256dh": sub.P256dh, "auth": sub.Auth}}
	assert.Equal(t, want, res.Registered, "resolves with the subscription")
	assert.Equal(t, want, res.Again)
	requireCode(t, res.BadLogout, 1, "INVALID_ARGUMENT")
	assert.NotEmpty(t, res.VapidKey)

	var first string
	pt.eval(`return T.first;`, &first)
	assert.Equal(t, "LocalInvitationWaking", first, "bob is offline with a subscription: his device is woken")
	p := ps.emu.Next(10 * time.Second)
	assert.Contains(t, string(p.Payload), `"kind":"invite"`)
	assert.Contains(t, string(ps.emu.Next(10*time.Second).Payload), `"kind":"close"`, "the cancel closes it")

	// disablePush removes it; so does logout({disablePush: true}) for what the session registered.
	var after []string
	pt.eval(`
const SUB = `+subJSON(sub)+`;
const bob = T.bob;
await bob.login("bob");
await bob.enablePush(SUB);
await bob.disablePush();
await bob.disablePush(); // nothing left: no error
await bob.logout();
const a = (await T.send("bob")).first;
await bob.login("bob");
await bob.enablePush(SUB);
await bob.logout({ disablePush: true });
const b = (await T.send("bob")).first;
return [a, b];`, &after)
	assert.Equal(t, []string{"LocalInvitationFailure", "LocalInvitationFailure"}, after, "PEER_OFFLINE at once: no subscription")
	assert.Equal(t, 2, ps.emu.Count(), "no push after the removals")

	denied := rtmErr{}
	require.NoError(t, pt.run(chromedp.ActionFunc(func(ctx context.Context) error {
		return browser.SetPermission(&browser.PermissionDescriptor{Name: "notifications"}, browser.PermissionSettingDenied).
			WithOrigin(ps.URL).Do(ctx)
	})))
	pt.eval(`await T.bob.login("bob");
return await T.rejection(T.bob.enablePush(await navigator.serviceWorker.ready));`, &denied)
	requireCode(t, denied, 212, "PUSH_DENIED")

	// A server without Web Push.
	plain := newPushTab(t, newPushSite(t, "/app.html"), "/sw-module.js")
	var none []rtmErr
	plain.eval(`
await T.load();
const bob = await T.client("bob");
return [await T.rejection(bob.enablePush(`+subJSON(sub)+`)),
  await T.rejection(bob.enablePush(await navigator.serviceWorker.ready))];`, &none)
	require.Len(t, none, 2)
	requireCode(t, none[0], 211, "PUSH_UNAVAILABLE")
	requireCode(t, none[1], 211, "PUSH_UNAVAILABLE")
	assert.Contains(t, none[1].Message, "/push/vapid")
}

// nextPush returns the next push the emulator decrypted, checked, as the worker will get it.
func (ps *pushSite) nextPush(t *testing.T, kind string) (string, map[string]any) {
	t.Helper()
	p := ps.emu.Next(15 * time.Second)
	require.NoError(t, p.Err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(p.Payload, &m), "%s", p.Payload)
	require.Equal(t, kind, m["kind"], "%s", p.Payload)
	return string(p.Payload), m
}

// TestPushEndToEnd: bob registers a subscription (the direct form, pointing at the push service
// emulator) and closes his tab. alice calls: her invitation is waking, the server's real Web Push
// library encrypts the invite, the emulator decrypts it, and the test delivers that plaintext to
// bob's service worker over the DevTools protocol, as bob's browser would. The notification shows;
// Accept opens the app, which logs in, rings through late ringing and accepts: alice sees accepted.
// Refuse on the next call refuses it through the push's capability: alice sees refused. A cancel
// closes the notification through the close push.
func TestPushEndToEnd(t *testing.T) {
	ps := newRealPushSite(t, "/app.html?user=bob")
	pt := newPushTab(t, ps, "/sw-module.js")
	sub := ps.emu.Subscribe()
	pt.eval(`
await T.load();
const bob = await T.client("bob");
await bob.enablePush(`+subJSON(sub)+`);
await bob.logout(); // the tab closed: bob has no session, only his subscription
T.alice = await T.client("alice");
T.call = async (content) => {
  const local = T.alice.createLocalInvitation("bob");
  local.content = content;
  const log = T.record(local, ["LocalInvitationWaking", "LocalInvitationReceivedByPeer", "LocalInvitationAccepted",
    "LocalInvitationRefused", "LocalInvitationCanceled", "LocalInvitationFailure"]);
  T.calls.push({ local, log, sent: performance.now() });
  await local.send();
  await T.until(() => log.length > 0, 10000, "waking");
  return { id: local.id, first: log[0][0] };
};
T.calls = [];`, nil)
	call := func(content string) string {
		var r struct{ ID, First string }
		pt.eval(fmt.Sprintf(`return await T.call(%q);`, content), &r)
		require.Equal(t, "LocalInvitationWaking", r.First, "bob is offline: the caller sees waking first")
		return r.ID
	}
	outcome := func(i int) []string {
		var events []string
		pt.eval(fmt.Sprintf(`const { log } = T.calls[%d];
await T.until(() => log.some((e) => ["LocalInvitationAccepted", "LocalInvitationRefused", "LocalInvitationCanceled",
  "LocalInvitationFailure"].includes(e[0])), 20000, "the call's outcome");
return log.map((e) => e[0]);`, i), &events)
		return events
	}

	// Accept.
	id := call("Lunch?")
	payload, inv := ps.nextPush(t, "invite")
	assert.Equal(t, id, inv["inv"])
	assert.Equal(t, ps.URL+"/push/refuse", inv["refuseUrl"])
	delivered := time.Now()
	pt.push(payload)
	assert.Equal(t, []map[string]any{handledEntry(id, "invite", "shown")}, pt.logged(1))
	shown := time.Since(delivered)
	notes := pt.notes()
	require.Len(t, notes, 1)
	assert.Equal(t, "alice is calling: Lunch?", notes[0].Title)
	assert.Equal(t, id, notes[0].Tag)
	res := pt.click(id, "accept")
	require.Equal(t, []string{ps.URL + "/app.html?user=bob&rtmcallInvitation=" + id + "&rtmcallAction=accept"}, res.Opened)
	clicked := time.Now()
	app := newTab(t, ps.site, strings.TrimPrefix(res.Opened[0], ps.URL)) // what the browser's openWindow does
	var seen struct {
		Rang, Accepted, Errors []string
		Launch                 map[string]string
	}
	app.eval(`await T.until(() => window.app && (app.accepted.length > 0 || app.errors.length > 0), 20000, "the app's accept");
return app;`, &seen)
	accepted := time.Since(clicked)
	assert.Equal(t, map[string]string{"invitation": id, "action": "accept"}, seen.Launch)
	assert.Equal(t, []string{id}, seen.Rang, "the app rang through late ringing")
	assert.Equal(t, []string{id}, seen.Accepted)
	assert.Empty(t, seen.Errors)
	assert.Equal(t, []string{"LocalInvitationWaking", "LocalInvitationReceivedByPeer", "LocalInvitationAccepted"}, outcome(0))
	payload, cl := ps.nextPush(t, "close")
	assert.Equal(t, map[string]any{"v": 1.0, "kind": "close", "inv": id, "reason": "ANSWERED_ELSEWHERE"}, cl)
	pt.push(payload)
	assert.Equal(t, []map[string]any{handledEntry(id, "close", "nothing-to-close")}, pt.logged(1),
		"the click closed it already")
	app.eval(`await app.client.logout();`, nil) // bob's app tab closes too
	t.Logf("push delivered to notification shown: %v; click to the app's accept (a new tab: load, login, late ring, accept): %v",
		shown.Round(time.Millisecond), accepted.Round(time.Millisecond))

	// Refuse.
	id = call("Again?")
	payload, _ = ps.nextPush(t, "invite")
	refused := payload
	pt.push(payload)
	assert.Equal(t, []map[string]any{handledEntry(id, "invite", "shown")}, pt.logged(1))
	res = pt.click(id, "refuse")
	assert.Empty(t, res.Opened, "Refuse opens nothing")
	assert.Empty(t, res.Log, "the server took the refuse")
	assert.Equal(t, []string{"LocalInvitationWaking", "LocalInvitationRefused"}, outcome(1))
	payload, cl = ps.nextPush(t, "close")
	assert.Equal(t, "REFUSED", cl["reason"])
	pt.push(payload)
	pt.logged(1)

	// A second refuse with the same capability: the invitation has ended, and the helper says so.
	pt.eval(fmt.Sprintf(`const reg = await navigator.serviceWorker.ready;
await reg.showNotification("again", { tag: "again", data: { rtmcall: %s } });`, refused), nil)
	res = pt.click("again", "refuse")
	again := pt.logged(1)
	assert.Equal(t, again, res.Log)
	assert.Equal(t, "refuse", again[0]["error"])
	assert.Equal(t, "ALREADY_END", again[0]["codeName"])

	// Cancel: the close push closes the notification.
	id = call("")
	payload, _ = ps.nextPush(t, "invite")
	pt.push(payload)
	pt.logged(1)
	require.Len(t, pt.notes(), 1)
	pt.eval(`await T.calls[2].local.cancel();`, nil)
	payload, cl = ps.nextPush(t, "close")
	assert.Equal(t, "CANCELED", cl["reason"])
	pt.push(payload)
	assert.Equal(t, []map[string]any{handledEntry(id, "close", "closed")}, pt.logged(1))
	left := pt.notesAfterClose()
	assert.Empty(t, left)
}

// TestPushDemo: the demo's "Notify me when the tab is closed" registers the demo's classic worker
// (demo-sw.js, which imports rtmcall-sw.global.js) and says plainly why push is not enabled when
// notifications are blocked; a page opened from a notification's Accept logs in again as the user
// who enabled push and accepts the invitation when it rings late.
func TestPushDemo(t *testing.T) {
	ps := newRealPushSite(t, "/")
	tb := clickDemoPush(t, ps, "/", browser.PermissionSettingDenied)
	tb.waitJS(`document.querySelector("#push-status").textContent.startsWith("Not enabled")`)
	assert.Equal(t, "Not enabled: notifications are blocked for this site; allow them in the browser's site settings.",
		tb.text("#push-status"))
	assertDemoWorker(t, tb, ps)

	// Opened from Accept (bob enabled push in this browser before: the demo remembers who). bob's
	// session in this tab keeps the invitation pending, for the new page's late ring.
	var id string
	tb.eval(`localStorage.setItem("rtmcall-demo-push-user", "bob");
await T.load();
T.alice = await T.client("alice");
const local = T.alice.createLocalInvitation("bob");
T.log = T.record(local, ["LocalInvitationAccepted", "LocalInvitationFailure"]);
await local.send();
return local.id;`, &id)
	app := newTab(t, ps.site, "/?rtmcallInvitation="+id+"&rtmcallAction=accept")
	app.waitReady()
	var log [][]any
	tb.eval(`await T.until(() => T.log.length > 0, 20000, "alice's outcome"); return T.log;`, &log)
	require.Len(t, log, 1)
	assert.Equal(t, "LocalInvitationAccepted", log[0][0], "the page the notification opened accepted")
	app.textIs("#me", "signed in as bob")
	tb.screenshot("push-demo")
}

// TestPushDemoUnavailable: with notifications allowed, the demo's "Notify me when the tab is closed"
// reaches pushManager.subscribe, which headless Chromium's push service never answers. The demo
// bounds it (?pushTimeout, enablePush's subscribeTimeoutMs) and says push is unavailable, instead of
// staying on "Asking…".
func TestPushDemoUnavailable(t *testing.T) {
	ps := newRealPushSite(t, "/")
	tb := clickDemoPush(t, ps, "/?pushTimeout=1500", browser.PermissionSettingGranted)
	tb.waitJS(`document.querySelector("#push-status").textContent.startsWith("Asking the browser's push service (up to 2 s)")`)
	// 1.5 s of subscribeTimeoutMs, and a deadline well past it: a hang fails here.
	tb.waitJSFor(`document.querySelector("#push-status").textContent.startsWith("Not enabled")`, 15*time.Second)
	assert.Equal(t, "Not enabled: push is unavailable here (the browser's push service did not answer "+
		"pushManager.subscribe within 1.5s (is it reachable from this device?)).", tb.text("#push-status"))
	assertDemoWorker(t, tb, ps)
	tb.screenshot("push-demo-unavailable")
}

// clickDemoPush opens the demo at path with the notification permission set, logs in as bob and
// clicks "Notify me when the tab is closed".
func clickDemoPush(t *testing.T, ps *pushSite, path string, permission browser.PermissionSetting) *tab {
	t.Helper()
	tb := newTab(t, ps.site, path)
	tb.waitReady()
	require.NoError(t, tb.run(chromedp.ActionFunc(func(ctx context.Context) error {
		return browser.SetPermission(&browser.PermissionDescriptor{Name: "notifications"}, permission).
			WithOrigin(ps.URL).Do(ctx)
	})))
	tb.typeInto("#user", "bob")
	tb.click("#login")
	tb.waitJS(`!document.querySelector("#push-enable").disabled`)
	tb.click("#push-enable")
	return tb
}

// assertDemoWorker checks that the demo registered its classic worker.
func assertDemoWorker(t *testing.T, tb *tab, ps *pushSite) {
	t.Helper()
	var script string
	tb.eval(`const reg = await navigator.serviceWorker.ready; return reg.active.scriptURL;`, &script)
	assert.Equal(t, ps.URL+"/demo-sw.js", script)
}
