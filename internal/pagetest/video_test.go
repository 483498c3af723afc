//go:build !js

package pagetest

import (
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordPeerConnections runs before the demo's own script: it keeps every
// RTCPeerConnection the page makes in a test-only list, for getStats.
const recordPeerConnections = `
const NativePC = RTCPeerConnection;
const pcs = [];
Object.defineProperty(window, "__pcs", { value: pcs });
window.RTCPeerConnection = class extends NativePC { constructor(...a) { super(...a); pcs.push(this); } };
window.__inbound = async (pc) => {
  const out = { audio: 0, video: 0 };
  (await pc.getStats()).forEach((r) => { if (r.type === "inbound-rtp") out[r.kind] += r.bytesReceived ?? 0; });
  return out;
};
`

// flow is what one side received while the test waited for bytes to grow.
type flow struct {
	Audio, Video    float64 // bytes received in the window
	Ms              float64 // the window
	Width, Height   float64 // of the remote video
	PCs             int
	Connection, Ice string
}

// waitFlowing waits until the page's peer connection has received at least
// minVideo bytes of video and minAudio of audio more than when it started.
func (tb *tab) waitFlowing(minAudio, minVideo int) flow {
	tb.t.Helper()
	var f flow
	tb.eval(`
const pc = __pcs.at(-1);
const start = await __inbound(pc), t0 = performance.now();
let now = start;
const deadline = t0 + 30000;
for (;;) {
  now = await __inbound(pc);
  if (now.audio - start.audio >= `+strconv.Itoa(minAudio)+` && now.video - start.video >= `+strconv.Itoa(minVideo)+`) break;
  if (performance.now() > deadline) throw new Error("bytes did not grow: " + JSON.stringify({ start, now }));
  await new Promise((r) => setTimeout(r, 50));
}
const v = document.querySelector("#remote-video");
return { audio: now.audio - start.audio, video: now.video - start.video, ms: performance.now() - t0,
  width: v.videoWidth, height: v.videoHeight, pcs: __pcs.length, connection: pc.connectionState, ice: pc.iceConnectionState };`, &f)
	return f
}

// videoCall opens alice's tab at alicePath and bob's, each with its init
// script, logs both in, and has bob accept alice's call. bobSetup runs on
// bob's tab before it loads, aliceSetup on alice's before she calls.
func videoCall(t *testing.T, alicePath, aliceInit, bobInit string, bobSetup, aliceSetup func(*tab)) (alice, bob *tab) {
	t.Helper()
	s := newSite(t)
	alice = newTabInit(t, s, alicePath, aliceInit)
	bob = newTabInit(t, s, "/?user=bob", bobInit)
	if bobSetup != nil {
		bobSetup(bob)
	}
	for _, tb := range []*tab{alice, bob} {
		tb.waitReady()
		tb.click("#login")
		tb.textIs("#conn-state", "CONNECTED")
	}
	if aliceSetup != nil {
		aliceSetup(alice)
	}
	alice.click("#call")
	bob.waitJS(`document.querySelector(".incoming-call .in-state")?.textContent === "INVITATION_RECEIVED"`)
	bob.click(".incoming-call .accept")
	return alice, bob
}

// TestDemoVideo: after the accept, the two demo pages have an audio and
// video call (fake camera and microphone), with bytes flowing both ways;
// Hang up on one side closes both peer connections and the bytes stop.
func TestDemoVideo(t *testing.T) {
	alice, bob := videoCall(t, "/?user=alice&peer=bob", recordPeerConnections, recordPeerConnections, nil, func(alice *tab) {
		alice.typeInto("#channel", "room-7")
	})
	for _, tb := range []*tab{alice, bob} {
		tb.waitJSFor(`document.querySelector("#media").dataset.state === "connected"`, 30*time.Second)
	}
	for name, tb := range map[string]*tab{"alice": alice, "bob": bob} {
		f := tb.waitFlowing(2000, 50000)
		t.Logf("%s received %.0f B/s of video and %.0f B/s of audio (%.0f ms), remote video %.0fx%.0f",
			name, f.Video*1000/f.Ms, f.Audio*1000/f.Ms, f.Ms, f.Width, f.Height)
		assert.Equal(t, 1, f.PCs, "%s: one peer connection", name)
		assert.Equal(t, "connected", f.Connection, name)
		tb.waitJS(`document.querySelector("#remote-video").videoWidth > 0 && document.querySelector("#local-video").videoWidth > 0`)
		assert.Equal(t, "", tb.text("#media-status"), "%s: no media problem to report", name)
		assert.Equal(t, "bob", alice.text("#media-peer"))
	}
	assert.Equal(t, "alice", bob.text("#media-peer"))
	alice.screenshot("8-alice-video")
	bob.screenshot("8-bob-video")

	// Messages that are not this call's signals are ignored: plain text, another call's id, another
	// channel, another user. Each would fail the call if taken for its answer.
	var callID string
	alice.eval(`return document.querySelector("#out-id").textContent.replace("call ", "");`, &callID)
	bob.eval(`
const bad = (call, channel) => ({ text: JSON.stringify({ t: "rtmcall-demo-webrtc", call, channel, kind: "answer", sdp: "v=0 bad" }) });
await T.load();
const bob2 = await T.client("bob"), mallory = await T.client("mallory");
for (const [from, m] of [[bob2, { text: "hello" }], [bob2, bad("other", "room-7")], [bob2, bad(`+jsString(callID)+`, "room-1")],
  [mallory, bad(`+jsString(callID)+`, "room-7")]]) {
  if (!(await from.sendMessageToPeer(m, "alice")).hasPeerReceived) throw new Error("not received");
}
await bob2.logout();
await mallory.logout();`, nil)
	alice.waitJS(`[...document.querySelectorAll("#log li")].filter((li) => li.textContent.includes("ignored a message")).length === 4`)
	assert.Equal(t, "", alice.text("#media-status"))
	alice.waitFlowing(500, 5000)

	// Mute and camera off act on the local tracks.
	bob.click("#toggle-mic")
	bob.click("#toggle-camera")
	var enabled []bool
	bob.eval(`return document.querySelector("#local-video").srcObject.getTracks().map((t) => t.enabled);`, &enabled)
	assert.Equal(t, []bool{false, false}, enabled)
	assert.Equal(t, "Unmute mic", bob.text("#toggle-mic"))
	assert.Equal(t, "Camera on", bob.text("#toggle-camera"))
	bob.click("#toggle-camera")
	bob.textIs("#toggle-camera", "Camera off")

	// Bob hangs up: both peer connections close, every track stops, and no more bytes arrive.
	require.NoError(t, bob.evalErr(`window.__local = document.querySelector("#local-video").srcObject;`, nil))
	require.NoError(t, alice.evalErr(`window.__local = document.querySelector("#local-video").srcObject;`, nil))
	bob.click("#media-hangup")
	for name, tb := range map[string]*tab{"alice": alice, "bob": bob} {
		tb.waitJS(`__pcs.at(-1).connectionState === "closed" && document.querySelector("#media").hidden`)
		var res struct {
			Signaling string
			Local     []string
			Receivers []string
			Stats     string
			Grew      bool
		}
		tb.eval(`
const pc = __pcs.at(-1);
let stats = "", grew = false;
try {
  // Closed: the counters stay where they are for a second.
  const before = await __inbound(pc), t0 = performance.now();
  while (performance.now() - t0 < 1000 && !grew) {
    await new Promise((r) => setTimeout(r, 100));
    const now = await __inbound(pc);
    grew = now.audio !== before.audio || now.video !== before.video;
  }
  stats = "frozen";
} catch (e) {
  stats = e.name;
}
return { signaling: pc.signalingState, local: __local.getTracks().map((t) => t.readyState),
  receivers: pc.getReceivers().map((r) => r.track.readyState), stats, grew };`, &res)
		assert.Equal(t, "closed", res.Signaling, name)
		assert.Equal(t, []string{"ended", "ended"}, res.Local, "%s: camera and microphone stopped", name)
		assert.Equal(t, []string{"ended", "ended"}, res.Receivers, name)
		assert.False(t, res.Grew, "%s: bytes stopped", name)
		t.Logf("%s: getStats after close: %s", name, res.Stats)
	}
	alice.textIs("#out-outcome", "Call ended (HANGUP)")
	bob.textIs(".incoming-call .in-outcome", "Call ended (HANGUP)")
	alice.screenshot("9-alice-hung-up")
}

// TestDemoVideoReceiveOnly: the caller has no camera or microphone; the
// page says so in words, and the call still carries the callee's audio and
// video to it. The caller's page also names a STUN server (?ice=), which
// its peer connection uses; nothing answers there, and host candidates do.
func TestDemoVideoReceiveOnly(t *testing.T) {
	noMedia := recordPeerConnections + `
navigator.mediaDevices.getUserMedia = async () => { throw new DOMException("Requested device not found", "NotFoundError"); };`
	phone := func(bob *tab) { require.NoError(t, bob.run(emulation.SetDeviceMetricsOverride(390, 844, 3, true))) }
	alice, bob := videoCall(t, "/?user=alice&peer=bob&ice=stun:127.0.0.1:9", noMedia, recordPeerConnections, phone, nil)
	alice.textIs("#media-status", "No camera or microphone was found: you can only see and hear the other side.")
	alice.waitJSFor(`document.querySelector("#media").dataset.state === "connected"`, 30*time.Second)
	f := alice.waitFlowing(2000, 50000)
	t.Logf("receive-only alice received %.0f B/s of video and %.0f B/s of audio", f.Video*1000/f.Ms, f.Audio*1000/f.Ms)
	alice.waitJS(`document.querySelector("#remote-video").videoWidth > 0`)
	assert.True(t, alice.text("#toggle-mic") == "Mute mic")
	var disabled []bool
	alice.eval(`return [document.querySelector("#toggle-mic").disabled, document.querySelector("#toggle-camera").disabled];`, &disabled)
	assert.Equal(t, []bool{true, true}, disabled, "nothing to mute")
	var ice []map[string]any
	alice.eval(`return __pcs.at(-1).getConfiguration().iceServers;`, &ice)
	require.Len(t, ice, 1)
	assert.Equal(t, []any{"stun:127.0.0.1:9"}, ice[0]["urls"])
	alice.screenshot("10-alice-receive-only")
	bob.waitJS(`document.querySelector("#media").dataset.state === "connected"`)
	var width float64
	bob.eval(`return document.documentElement.scrollWidth;`, &width)
	assert.LessOrEqual(t, width, 390.0, "the call fits a phone's width")
	bob.screenshot("10-bob-phone-call")
	alice.click("#media-hangup")
	bob.waitJS(`__pcs.at(-1).connectionState === "closed" && document.querySelector("#media").hidden`)
}
