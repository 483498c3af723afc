//go:build !js

package pagetest

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// artifacts is where screenshots go: $RTMCALL_ARTIFACTS or .artifacts/.
func artifacts(t *testing.T) string {
	dir := os.Getenv("RTMCALL_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(root, ".artifacts")
	}
	dir = filepath.Join(dir, "pagetest")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

func (tb *tab) screenshot(name string) {
	tb.t.Helper()
	var png []byte
	// A tab in the background renders no frames to capture.
	require.NoError(tb.t, tb.run(page.BringToFront(), chromedp.FullScreenshot(&png, 100)))
	p := filepath.Join(artifacts(tb.t), name+".png")
	require.NoError(tb.t, os.WriteFile(p, png, 0o644))
	tb.t.Logf("screenshot: %s", p)
}

// waitJS waits until the JavaScript expression is truthy.
func (tb *tab) waitJS(expr string) {
	tb.t.Helper()
	tb.waitJSFor(expr, 15*time.Second)
}

// waitReady waits for the demo page's ready signal. The first load may
// wait for the server to compress the module (slow under -race).
func (tb *tab) waitReady() {
	tb.t.Helper()
	tb.waitJSFor(`document.documentElement.dataset.ready === "true"`, 50*time.Second)
}

func (tb *tab) waitJSFor(expr string, d time.Duration) {
	tb.t.Helper()
	err := tb.run(chromedp.Poll(expr, nil, chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(20*time.Millisecond)))
	require.NoError(tb.t, err, "waiting for %s", expr)
}

// The helpers below find elements with JavaScript and then act with real
// input events (mouse clicks at the element's center, key strokes into the
// focused element): chromedp's node queries do not always see elements the
// page cloned from a <template>.

func (tb *tab) text(sel string) string {
	tb.t.Helper()
	var s string
	tb.eval(`return document.querySelector(`+jsString(sel)+`)?.textContent.trim() ?? null;`, &s)
	return s
}

func (tb *tab) click(sel string) {
	tb.t.Helper()
	var at struct{ X, Y float64 }
	tb.eval(`
const el = document.querySelector(`+jsString(sel)+`);
if (!el) throw new Error("no element " + `+jsString(sel)+`);
if (el.disabled) throw new Error(`+jsString(sel)+` + " is disabled");
el.scrollIntoView({ block: "center" });
const r = el.getBoundingClientRect();
return { x: r.left + r.width / 2, y: r.top + r.height / 2 };`, &at)
	require.NoError(tb.t, tb.run(page.BringToFront(), chromedp.MouseClickXY(at.X, at.Y)))
}

func (tb *tab) typeInto(sel, text string) {
	tb.t.Helper()
	tb.eval(`
const el = document.querySelector(`+jsString(sel)+`);
el.focus();
el.select();`, nil)
	require.NoError(tb.t, tb.run(chromedp.KeyEvent(text)))
	tb.waitJS(`document.querySelector(` + jsString(sel) + `).value === ` + jsString(text))
}

func (tb *tab) textIs(sel, want string) {
	tb.t.Helper()
	tb.waitJS(`document.querySelector(` + jsString(sel) + `)?.textContent.trim() === ` + jsString(want))
}

func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

// TestDemoPage places calls between two tabs of the demo page by clicking
// its buttons, and saves screenshots of both sides.
func TestDemoPage(t *testing.T) {
	s := newSite(t)
	alice := newTab(t, s, "/?user=alice&peer=bob")
	bob := newTab(t, s, "/?user=bob")
	for _, tb := range []*tab{alice, bob} {
		tb.waitReady()
	}
	var readyMs string
	require.NoError(t, alice.run(chromedp.Evaluate(`document.documentElement.dataset.readyMs`, &readyMs)))
	t.Logf("demo page: navigation to ready took %s ms", readyMs)
	assert.Equal(t, "DISCONNECTED", alice.text("#conn-state"))
	assert.Contains(t, alice.text("#version"), version)

	alice.click("#login")
	alice.textIs("#conn-state", "CONNECTED")
	alice.waitJS(`document.querySelector("#peer-status").dataset.status === "OFFLINE"`)
	bob.click("#login")
	bob.textIs("#conn-state", "CONNECTED")
	alice.waitJS(`document.querySelector("#peer-status").dataset.status === "ONLINE"`)

	// A call, accepted, with a ring time: both sides show their ring timer and the ringtone plays.
	alice.typeInto("#message", "Lunch at noon?")
	alice.typeInto("#channel", "room-7")
	alice.typeInto("#ring-time", "30")
	alice.click("#call")
	alice.textIs("#out-state", "RECEIVED_BY_REMOTE")
	bob.waitJS(`document.querySelector(".incoming-call .in-state")?.textContent === "INVITATION_RECEIVED"`)
	assert.Equal(t, "alice", bob.text(".incoming-call .in-caller"))
	assert.Equal(t, "Lunch at noon?", bob.text(".incoming-call .in-message"))
	assert.Equal(t, "channel room-7", bob.text(".incoming-call .in-channel"))
	alice.waitJS(`/^ringing 0:0\d of 0:30$/.test(document.querySelector("#out-timer").textContent)`)
	bob.waitJS(`/^ringing 0:0\d$/.test(document.querySelector(".incoming-call .in-timer").textContent)`)
	alice.waitJS(`document.documentElement.dataset.ringtone === "ringback"`)
	bob.waitJS(`document.documentElement.dataset.ringtone === "incoming"`)
	bob.waitJS(`document.title.includes("alice is calling")`) // flashing when the tab is in the background
	// The call id is the invitation's whole id, the same on both sides, not the node prefix.
	var ids struct{ Out, In, Real string }
	alice.eval(`return { out: document.querySelector("#out-id").textContent };`, &ids)
	bob.eval(`const c = document.querySelector(".incoming-call"); return { in: c.querySelector(".in-id").textContent, real: c.dataset.id };`, &ids)
	assert.Regexp(t, `^call [0-9a-f]{32}$`, ids.Out)
	assert.Equal(t, "call "+ids.Real, ids.In)
	assert.Equal(t, ids.In, ids.Out)
	alice.screenshot("1-alice-ringing")
	bob.screenshot("1-bob-incoming")

	bob.typeInto(".incoming-call .in-response", "On my way!")
	bob.click(".incoming-call .accept")
	bob.textIs(".incoming-call .in-state", "ACCEPTED")
	bob.textIs(".incoming-call .in-outcome", "You accepted")
	alice.textIs("#out-state", "ACCEPTED_BY_REMOTE")
	alice.textIs("#out-outcome", "Accepted: “On my way!”")
	alice.waitJS(`document.documentElement.dataset.ringtone === "off"`)
	bob.waitJS(`document.documentElement.dataset.ringtone === "off"`)
	bob.waitJS(`document.title === "rtmcall demo"`)
	alice.screenshot("2-alice-accepted")
	bob.screenshot("2-bob-accepted")
	alice.click("#hangup") // the call goes on until hang-up: bob is busy till then
	alice.textIs("#out-outcome", "Call ended (HANGUP)")

	// A call, canceled while it rings: a new id.
	alice.typeInto("#message", "Never mind")
	alice.click("#call")
	alice.textIs("#out-state", "RECEIVED_BY_REMOTE")
	bob.waitJS(`document.querySelectorAll(".incoming-call").length === 2`)
	var second string
	alice.eval(`return document.querySelector("#out-id").textContent;`, &second)
	assert.NotEqual(t, ids.Out, second, "each call shows its own id")
	alice.click("#cancel")
	alice.textIs("#out-state", "CANCELED")
	alice.textIs("#out-outcome", "You canceled")
	bob.textIs(".incoming-call .in-outcome", "alice hung up before you answered")

	// A call, refused.
	alice.typeInto("#message", "Coffee?")
	alice.click("#call")
	bob.waitJS(`document.querySelectorAll(".incoming-call").length === 3`)
	bob.typeInto(".incoming-call .in-response", "Busy, sorry")
	bob.click(".incoming-call .refuse")
	bob.textIs(".incoming-call .in-state", "REFUSED")
	alice.textIs("#out-outcome", "Declined: “Busy, sorry”")

	// Both sides keep a call history, newest first, in words.
	history := func(tb *tab) []string {
		var h []string
		tb.eval(`return [...document.querySelectorAll("#history li")].map((li) =>
  li.dataset.direction + " " + li.querySelector("strong").textContent + ": " + li.querySelector(".what").textContent);`, &h)
		return h
	}
	alice.waitJS(`document.querySelectorAll("#history li").length === 3`)
	bob.waitJS(`document.querySelectorAll("#history li").length === 3`)
	assert.Equal(t, []string{"out bob: Declined: “Busy, sorry”", "out bob: You canceled", "out bob: Accepted: “On my way!”"}, history(alice))
	assert.Equal(t, []string{"in alice: You declined", "in alice: alice hung up before you answered", "in alice: You accepted"}, history(bob))
	alice.screenshot("3-alice-history")

	// Bob leaves: alice sees him go offline, and the log tells the story.
	bob.click("#logout")
	bob.textIs("#conn-state", "DISCONNECTED")
	alice.waitJS(`document.querySelector("#peer-status").dataset.status === "OFFLINE"`)
	log := alice.text("#log")
	for _, want := range []string{"bob's phone is ringing", "bob accepted: “On my way!”", "call to bob canceled", "bob refused: “Busy, sorry”", "bob is OFFLINE"} {
		assert.Contains(t, log, want)
	}
	// A call to someone offline says so in words.
	alice.click("#call")
	alice.textIs("#out-outcome", "bob is not online")
	alice.screenshot("4-alice-offline")
	bob.screenshot("4-bob-logged-out")
}

// TestDemoRejectedSend: a send the server refuses (a call to yourself) is
// shown where the user looks, and Call works again at once.
func TestDemoRejectedSend(t *testing.T) {
	s := newSite(t)
	alice := newTab(t, s, "/?user=alice&peer=alice")
	alice.waitReady()
	alice.click("#login")
	alice.textIs("#conn-state", "CONNECTED")
	alice.click("#call")
	alice.waitJS(`!document.querySelector("#notice").hidden`)
	notice := alice.text("#notice")
	assert.Contains(t, notice, "Could not call alice: ")
	assert.NotRegexp(t, `[A-Z]+_[A-Z]+`, notice, "no protocol names in what the user reads")
	alice.waitJS(`document.querySelector("#out-outcome").textContent.startsWith("Not sent: ")`)
	alice.waitJS(`!document.querySelector("#call").disabled`)
	alice.screenshot("5-alice-rejected-send")

	alice.typeInto("#peer", "bob") // and the next call goes out
	alice.click("#call")
	alice.textIs("#out-outcome", "bob is not online")
	alice.waitJS(`!document.querySelector("#call").disabled`)
}

// TestDemoAnsweredElsewhere: bob on two devices; the one that did not
// answer says so as news, not as a failure.
func TestDemoAnsweredElsewhere(t *testing.T) {
	s := newSite(t)
	alice := newTab(t, s, "/?user=alice&peer=bob&ring=1")
	phone := newTab(t, s, "/?user=bob")
	laptop := newTab(t, s, "/?user=bob")
	for _, tb := range []*tab{alice, phone, laptop} {
		tb.waitReady()
		tb.click("#login")
		tb.textIs("#conn-state", "CONNECTED")
	}
	alice.typeInto("#ring-time", "20")
	alice.click("#call")
	phone.waitJS(`document.querySelector(".incoming-call .in-state")?.textContent === "INVITATION_RECEIVED"`)
	laptop.waitJS(`document.querySelector(".incoming-call .in-state")?.textContent === "INVITATION_RECEIVED"`)
	phone.click(".incoming-call .accept")
	phone.textIs(".incoming-call .in-outcome", "You accepted")
	laptop.textIs(".incoming-call .in-outcome", "Answered on another device")
	var class string
	laptop.eval(`return document.querySelector(".incoming-call .in-outcome").className;`, &class)
	assert.Contains(t, class, "outcome-info")
	assert.NotContains(t, class, "outcome-bad")
	laptop.eval(`return document.querySelector(".incoming-call .in-state").className;`, &class)
	assert.Contains(t, class, "pill-grey", "no red FAILURE pill either")
	assert.Equal(t, "ANSWERED_ELSEWHERE", laptop.text(".incoming-call .in-state"))
	laptop.screenshot("6-bob-answered-elsewhere")

	// bob is in a call on his phone: busy on every device until the hang-up.
	alice.typeInto("#ring-time", "1")
	alice.click("#call")
	alice.textIs("#out-outcome", "bob is in another call")
	alice.click("#hangup")
	alice.textIs("#out-outcome", "Call ended (HANGUP)")

	// A call nobody answers: the ring time is the caller's, and both sides say it in words.
	alice.typeInto("#ring-time", "1")
	alice.click("#call")
	alice.textIs("#out-outcome", "No answer from bob")
	laptop.textIs(".incoming-call .in-outcome", "Missed call from alice")
}

// TestDemoHiddenTab: an incoming call in a hidden tab flashes the title and
// shows a notification, both gone once the call ends.
func TestDemoHiddenTab(t *testing.T) {
	s := newSite(t)
	alice := newTab(t, s, "/?user=alice&peer=bob")
	bob := newTab(t, s, "/?user=bob")
	for _, tb := range []*tab{alice, bob} {
		tb.waitReady()
		tb.click("#login")
		tb.textIs("#conn-state", "CONNECTED")
	}
	// Headless tabs are never hidden: make bob's tab say it is, and count its notifications.
	bob.eval(`
Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
window.shown = [];
window.Notification = class { static permission = "granted";
  constructor(title, opts) { this.title = title; window.shown.push(this); this.closed = false; }
  close() { this.closed = true; } };`, nil)
	alice.typeInto("#message", "Are you there?")
	alice.click("#call")
	bob.waitJS(`window.shown.length === 1 && window.shown[0].title === "alice is calling"`)
	bob.waitJS(`document.title === "📞 alice is calling…"`)
	bob.waitJS(`document.title === "rtmcall demo"`) // it flashes
	bob.waitJS(`document.title === "📞 alice is calling…"`)
	alice.click("#cancel")
	bob.waitJS(`window.shown[0].closed`)
	bob.waitJS(`document.title === "rtmcall demo"`)
}

// TestDemoPhone: on a 390 px wide screen the incoming call is on screen
// without scrolling.
func TestDemoPhone(t *testing.T) {
	s := newSite(t)
	alice := newTab(t, s, "/?user=alice&peer=bob")
	bob := newTab(t, s, "/?user=bob")
	require.NoError(t, bob.run(emulation.SetDeviceMetricsOverride(390, 844, 3, true)))
	for _, tb := range []*tab{alice, bob} {
		tb.waitReady()
		tb.click("#login")
		tb.textIs("#conn-state", "CONNECTED")
	}
	alice.typeInto("#message", "Lunch at noon?")
	alice.click("#call")
	bob.waitJS(`document.querySelector(".incoming-call .in-state")?.textContent === "INVITATION_RECEIVED"`)
	var box struct{ Top, Bottom, Height, Width float64 }
	bob.eval(`window.scrollTo(0, 0); const r = document.querySelector(".incoming-call .accept").getBoundingClientRect();
return { top: r.top, bottom: r.bottom, height: innerHeight, width: document.documentElement.scrollWidth };`, &box)
	assert.Less(t, box.Bottom, box.Height, "Accept is above the fold")
	assert.LessOrEqual(t, box.Width, 390.0, "no sideways scrolling")
	var png []byte
	require.NoError(t, bob.run(page.BringToFront(), chromedp.CaptureScreenshot(&png)))
	require.NoError(t, os.WriteFile(filepath.Join(artifacts(t), "7-bob-phone.png"), png, 0o644))
}

// TestFavicon: the page names an icon the server has.
func TestFavicon(t *testing.T) {
	s := newSite(t)
	resp, err := http.Get(s.URL + "/favicon.svg")
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "image/svg+xml", resp.Header.Get("Content-Type"))
	index, err := os.ReadFile(filepath.Join(root, "web", "index.html"))
	require.NoError(t, err)
	assert.Contains(t, string(index), `<link rel="icon" href="favicon.svg" type="image/svg+xml">`)
}

// TestReadyTime measures the time from navigation to the demo page's ready
// signal (the kit loaded), for the report in the README; it asserts only a
// generous bound. The server's compressed variants are made first, as a
// running server has them after its first visitor.
func TestReadyTime(t *testing.T) {
	s := newSite(t)
	for _, enc := range []string{"br", "gzip"} {
		req, err := http.NewRequest(http.MethodGet, s.URL+"/rtmcall.wasm", nil)
		require.NoError(t, err)
		req.Header.Set("Accept-Encoding", enc)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		t.Logf("rtmcall.wasm over HTTP with %s: %d bytes", resp.Header.Get("Content-Encoding"), n)
	}
	tb := newTab(t, s, "/")
	for i, what := range []string{"first visit", "reload (304s)"} {
		if i > 0 {
			require.NoError(t, tb.run(chromedp.Reload()))
		}
		tb.waitReady()
		var ms string
		require.NoError(t, tb.run(chromedp.Evaluate(`document.documentElement.dataset.readyMs`, &ms)))
		t.Logf("demo page, %s: navigation to ready in %s ms", what, ms)
		v, err := strconv.Atoi(ms)
		require.NoError(t, err)
		assert.Less(t, v, 20000)
	}
}
