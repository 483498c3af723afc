//go:build !js

package pagetest

import (
	"encoding/json"
	"net/http"
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
	s := newSiteWith(t, func(mux *http.ServeMux, srv *rtmcalltest.Server) {
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

// hasPeerMessages reports whether this build of the module has peer messages.
func hasPeerMessages(tb *tab) bool {
	var ok bool
	tb.eval(`const { load } = await import("/rtmcall.js"); const kit = await load();
return typeof kit.createClient({ url: T.url }).sendMessageToPeer === "function";`, &ok)
	return ok
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
	if hasPeerMessages(alice.tab) {
		alice.expect("message delivered: true")
		bob.expect("message from alice: hangup")
	} else {
		alice.expect("message failed: RtmNotSupportedError NOT_SUPPORTED")
	}

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
