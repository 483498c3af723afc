//go:build !js

package pagetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// TestResume drops the browser client's connection for real (a proxy cuts
// the TCP connection, then refuses new ones): the module goes to
// RECONNECTING, the session stays ringable, and once the network is back
// the module resumes and gets what it missed, once.
func TestResume(t *testing.T) {
	s := newSite(t)
	net := rtmcalltest.NewProxy(t, s.srv)
	tb := apiTab(t, s)
	tb.eval(`
globalThis.alice = await T.client("alice");
globalThis.bob = T.kit.createClient({ url: `+jsString(net.URL)+` });
globalThis.bobLog = T.record(bob, ["ConnectionStateChanged", "RemoteInvitationReceived"]);
bob.on("RemoteInvitationReceived", (r) => { globalThis.remote = r; });
await bob.login("bob");`, nil)

	net.Block(true)
	net.Drop()
	var during struct{ State, Sent string }
	tb.eval(`
await T.until(() => bob.connectionState === "RECONNECTING");
globalThis.call = alice.createLocalInvitation("bob");
call.content = "while you were away";
await call.send(); // rings bob's session though its connection is down
return { state: bob.connectionState, sent: call.state };`, &during)
	assert.Equal(t, "RECONNECTING", during.State)
	assert.Equal(t, "SENT_TO_REMOTE", during.Sent)

	net.Block(false)
	var res struct {
		Log      [][]any
		Caller   string
		Response []string
		Local    string
	}
	tb.eval(`
await T.until(() => globalThis.remote !== undefined);
const accepted = T.next(call, "LocalInvitationAccepted");
remote.response = "back online";
await remote.accept();
const response = await accepted;
return { log: bobLog, caller: remote.callerId, response, local: call.state };`, &res)
	var names [][]any
	for _, e := range res.Log {
		names = append(names, e[:len(e)-1])
	}
	assert.Equal(t, []any{"ConnectionStateChanged", "RECONNECTING", "INTERRUPTED"}, names[2])
	assert.Equal(t, []any{"ConnectionStateChanged", "CONNECTED", "LOGIN_SUCCESS"}, names[3])
	assert.Equal(t, "RemoteInvitationReceived", names[4][0])
	assert.Len(t, names, 5, "the invitation arrives once: %v", names)
	assert.Equal(t, "alice", res.Caller)
	assert.Equal(t, []string{"back online"}, res.Response, "the resumed session carries requests too")
	assert.Equal(t, "ACCEPTED_BY_REMOTE", res.Local)
}

// TestGraceOverInTheBrowser: past the grace period the module ends ABORTED
// and the caller's invitation fails PEER_OFFLINE.
func TestGraceOverInTheBrowser(t *testing.T) {
	s := newSite(t, func(c *server.Config) { c.ResumeGrace = 300 * time.Millisecond })
	net := rtmcalltest.NewProxy(t, s.srv)
	tb := apiTab(t, s)
	tb.eval(`
globalThis.alice = await T.client("alice");
globalThis.bob = T.kit.createClient({ url: `+jsString(net.URL)+` });
globalThis.bobLog = T.record(bob, ["ConnectionStateChanged"]);
await bob.login("bob");
globalThis.call = alice.createLocalInvitation("bob");
globalThis.failed = T.next(call, "LocalInvitationFailure");
await call.send();`, nil)
	net.Block(true)
	net.Drop()
	var res struct {
		Reason []string
		Log    [][]any
	}
	tb.eval(`
const reason = await failed;
await T.until(() => bob.connectionState === "ABORTED");
return { reason, log: bobLog };`, &res)
	assert.Equal(t, []string{"PEER_OFFLINE"}, res.Reason)
	last := res.Log[len(res.Log)-1]
	assert.Equal(t, []any{"ConnectionStateChanged", "ABORTED", "INTERRUPTED"}, last[:3])
}
