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

	// A call, accepted.
	alice.typeInto("#message", "Lunch at noon?")
	alice.typeInto("#channel", "room-7")
	alice.click("#call")
	alice.textIs("#out-state", "RECEIVED_BY_REMOTE")
	bob.waitJS(`document.querySelector(".incoming-call .in-state")?.textContent === "INVITATION_RECEIVED"`)
	assert.Equal(t, "alice", bob.text(".incoming-call .in-caller"))
	assert.Equal(t, "Lunch at noon?", bob.text(".incoming-call .in-message"))
	assert.Equal(t, "channel room-7", bob.text(".incoming-call .in-channel"))
	alice.screenshot("1-alice-ringing")
	bob.screenshot("1-bob-incoming")

	bob.typeInto(".incoming-call .in-response", "On my way!")
	bob.click(".incoming-call .accept")
	bob.textIs(".incoming-call .in-state", "ACCEPTED")
	bob.textIs(".incoming-call .in-outcome", "You accepted")
	alice.textIs("#out-state", "ACCEPTED_BY_REMOTE")
	alice.textIs("#out-outcome", "Accepted: “On my way!”")
	alice.screenshot("2-alice-accepted")
	bob.screenshot("2-bob-accepted")
	alice.click("#hangup") // the call goes on until hang-up: bob is busy till then
	alice.textIs("#out-outcome", "Call ended (HANGUP)")

	// A call, canceled while it rings.
	alice.typeInto("#message", "Never mind")
	alice.click("#call")
	alice.textIs("#out-state", "RECEIVED_BY_REMOTE")
	bob.waitJS(`document.querySelectorAll(".incoming-call").length === 2`)
	alice.click("#cancel")
	alice.textIs("#out-state", "CANCELED")
	bob.textIs(".incoming-call .in-outcome", "The caller canceled")

	// A call, refused.
	alice.typeInto("#message", "Coffee?")
	alice.click("#call")
	bob.waitJS(`document.querySelectorAll(".incoming-call").length === 3`)
	bob.typeInto(".incoming-call .in-response", "Busy, sorry")
	bob.click(".incoming-call .refuse")
	bob.textIs(".incoming-call .in-state", "REFUSED")
	alice.textIs("#out-outcome", "Refused: “Busy, sorry”")

	// Bob leaves: alice sees him go offline, and the log tells the story.
	bob.click("#logout")
	bob.textIs("#conn-state", "DISCONNECTED")
	alice.waitJS(`document.querySelector("#peer-status").dataset.status === "OFFLINE"`)
	log := alice.text("#log")
	for _, want := range []string{"bob's phone is ringing", "bob accepted: “On my way!”", "call to bob canceled", "bob refused: “Busy, sorry”", "bob is OFFLINE"} {
		assert.Contains(t, log, want)
	}
	alice.screenshot("3-alice-log")
	bob.screenshot("3-bob-logged-out")
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
