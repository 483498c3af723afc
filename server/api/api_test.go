package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/api"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	key      = "test-api-key-0123456789"
	otherKey = "second-api-key-abcdefgh"
	wait     = 10 * time.Second
)

// coverage records which route patterns answered which statuses.
type coverage struct {
	mu   sync.Mutex
	seen map[string]map[int]bool
}

func (c *coverage) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if r.Pattern == "" || !strings.Contains(r.Pattern, " ") {
			return // refused before routing, or the catch-alls
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.seen[r.Pattern] == nil {
			c.seen[r.Pattern] = map[int]bool{}
		}
		c.seen[r.Pattern][rec.status] = true
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) {
	w.status = s
	w.ResponseWriter.WriteHeader(s)
}

// apiServer is a real node with the API in front of it, on loopback.
type apiServer struct {
	srv *rtmcalltest.Server
	url string
}

func newAPIServer(t *testing.T, cov *coverage, opts ...func(*server.Config)) *apiServer {
	t.Helper()
	srv := rtmcalltest.NewServer(t, opts...)
	var logs syncBuffer
	h, err := api.New(srv.Node, []string{key, otherKey}, slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.NotContains(t, logs.String(), key, "keys are never logged")
		assert.NotContains(t, logs.String(), "eyJ", "tokens are never logged")
	})
	mux := http.NewServeMux()
	mux.Handle(api.Prefix, cov.wrap(h))
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return &apiServer{srv: srv, url: hs.URL}
}

// call makes one API request with the key (when not "") and decodes the
// answer into out (when not nil); body is JSON-encoded unless it is a string.
func (a *apiServer) call(t *testing.T, method, path, bearer string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		require.NoError(t, err)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, a.url+path, rd)
	require.NoError(t, err)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"), "%s %s: %s", method, path, data)
	if out != nil {
		require.NoError(t, json.Unmarshal(data, out), "%s", data)
	}
	return resp.StatusCode
}

// fails makes a request that must fail with status and code.
func (a *apiServer) fails(t *testing.T, method, path string, body any, status int, code protocol.Code) api.Error {
	t.Helper()
	var e api.Error
	assert.Equal(t, status, a.call(t, method, path, key, body, &e), "%s %s", method, path)
	assert.Equal(t, code, e.Code, "%s %s: %+v", method, path, e)
	assert.Equal(t, code.String(), e.Name)
	assert.NotEmpty(t, e.Message)
	return e
}

// callee is a real native client that reports what rings it.
type callee struct {
	c      *core.Client
	invs   chan *core.RemoteInvitation
	states chan core.ConnectionChangeReason
}

func newCallee(t *testing.T, url, user string) *callee {
	t.Helper()
	c, err := core.NewClient(core.Options{URL: url, Logf: t.Logf})
	require.NoError(t, err)
	cl := &callee{c: c, invs: make(chan *core.RemoteInvitation, 16), states: make(chan core.ConnectionChangeReason, 16)}
	c.OnInvitationReceived(func(r *core.RemoteInvitation) { cl.invs <- r })
	c.OnConnectionStateChanged(func(s core.ConnectionState, r core.ConnectionChangeReason) {
		if s == core.ConnectionAborted {
			cl.states <- r
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(t, c.Login(ctx, user, ""))
	t.Cleanup(func() { c.Close() })
	return cl
}

func (cl *callee) next(t *testing.T) *core.RemoteInvitation {
	t.Helper()
	select {
	case r := <-cl.invs:
		return r
	case <-time.After(wait):
		t.Fatal("no invitation")
		return nil
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return c
}

// moreRoutes are subtests of TestRoutes from other files (init), so that
// their routes count in its check of docs/openapi.yaml.
var moreRoutes []struct {
	name string
	run  func(t *testing.T, a *apiServer, bob *callee)
}

// TestRoutes drives every route through its success and error paths
// against a real node and real clients, then checks docs/openapi.yaml
// against what was served (openapi_test.go).
func TestRoutes(t *testing.T) {
	cov := &coverage{seen: map[string]map[int]bool{}}
	t.Cleanup(func() { checkOpenAPI(t, cov) })
	a := newAPIServer(t, cov, func(c *server.Config) { c.MaxPendingPerUser = 2; c.TombstoneTTL = time.Hour })
	bob := newCallee(t, a.srv.URL, "bob")

	t.Run("drain", func(t *testing.T) {
		d := newAPIServer(t, cov) // a node of its own: it shuts down
		var e api.Error
		assert.Equal(t, http.StatusUnauthorized, d.call(t, "POST", "/api/v1/drain", "wrong-api-key-0123456789", nil, &e))
		assert.Equal(t, protocol.CodeNotAuthorized, e.Code)
		assert.Equal(t, http.StatusUnauthorized, d.call(t, "POST", "/api/v1/drain", "", nil, &e))
		assert.False(t, d.srv.Node.Draining(), "refused requests drain nothing")
		d.fails(t, "GET", "/api/v1/drain", nil, http.StatusMethodNotAllowed, protocol.CodeUnknownType)
		d.fails(t, "POST", "/api/v1/drain", `{"node":"x"}`, http.StatusBadRequest, protocol.CodeInvalidArgument)
		assert.False(t, d.srv.Node.Draining(), "a refused request drains nothing")
		var got struct {
			Node     string `json:"node"`
			Draining bool   `json:"draining"`
		}
		require.Equal(t, http.StatusAccepted, d.call(t, "POST", "/api/v1/drain", key, nil, &got))
		assert.Equal(t, d.srv.Node.ID(), got.Node)
		assert.True(t, got.Draining)
		d.fails(t, "POST", "/api/v1/drain", nil, http.StatusServiceUnavailable, protocol.CodeShuttingDown)
		select {
		case <-d.srv.Node.Done(): // nothing to wait for: it shut down
		case <-time.After(wait):
			t.Fatal("the drained node did not shut down")
		}
		resp, err := http.Get(d.srv.HTTPURL + "/healthz")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	})

	t.Run("place as a service, accepted", func(t *testing.T) {
		var info server.InvitationInfo
		require.Equal(t, http.StatusCreated, a.call(t, "POST", "/api/v1/invitations", key,
			map[string]any{"caller": "support desk", "service": true, "callee": "bob", "content": "ticket 42", "channel": "room-1", "timeout_ms": 30000}, &info))
		assert.Len(t, info.ID, 32)
		assert.Equal(t, "support desk", info.Caller)
		assert.True(t, info.Service)
		assert.True(t, info.API)
		assert.Equal(t, int64(30000), info.TimeoutMS)
		assert.Equal(t, "SENT_TO_REMOTE", info.State)
		assert.Equal(t, 1, info.Rung)
		r := bob.next(t)
		assert.Equal(t, info.ID, r.ID())
		assert.Equal(t, "support desk", r.CallerID())
		assert.Equal(t, "ticket 42", r.Content())
		assert.Equal(t, "room-1", r.ChannelID())

		var pending server.InvitationInfo
		require.Equal(t, http.StatusOK, a.call(t, "GET", "/api/v1/invitations/"+info.ID, key, nil, &pending))
		assert.Empty(t, pending.Outcome)
		assert.Contains(t, []string{"SENT_TO_REMOTE", "RECEIVED_BY_REMOTE"}, pending.State)
		assert.Equal(t, "ticket 42", pending.Content)

		require.NoError(t, r.Accept(ctx(t)))
		var ended server.InvitationInfo
		require.Equal(t, http.StatusOK, a.call(t, "GET", "/api/v1/invitations/"+info.ID, key, nil, &ended))
		assert.Equal(t, "ACCEPTED_BY_REMOTE", ended.State)
		assert.Equal(t, server.OutcomeAccepted, ended.Outcome)
		assert.Len(t, ended.AnsweredBy, 16, "the session that answered")
		require.NotNil(t, ended.AnsweredMS)
		require.NotNil(t, ended.ReceivedMS, "the client acknowledged before it accepted")
		require.NotNil(t, ended.RangMS)
		assert.LessOrEqual(t, *ended.ReceivedMS, *ended.AnsweredMS)
		assert.NotNil(t, ended.EndedAt)
		assert.Empty(t, ended.Content, "content is not kept once it ended")

		hungUp := make(chan core.CallEndReason, 1)
		r.OnCallEnded(func(reason core.CallEndReason, by string) { hungUp <- reason })
		require.Equal(t, http.StatusOK, a.call(t, "DELETE", "/api/v1/invitations/"+info.ID, key, nil, &ended), "the call goes on: DELETE hangs up")
		select {
		case reason := <-hungUp:
			assert.Equal(t, core.CallEndHangup, reason)
		case <-time.After(wait):
			t.Fatal("the callee was not told")
		}
		assert.Equal(t, server.OutcomeAccepted, ended.Outcome, "the invitation's outcome stays readable after its call")
		a.fails(t, "DELETE", "/api/v1/invitations/"+info.ID, nil, http.StatusConflict, protocol.CodeAlreadyEnd)
	})

	t.Run("place as a user, canceled", func(t *testing.T) {
		var info server.InvitationInfo
		require.Equal(t, http.StatusCreated, a.call(t, "POST", "/api/v1/invitations", key,
			map[string]any{"caller": "alice", "callee": "bob"}, &info))
		assert.False(t, info.Service)
		assert.Equal(t, int64(server.DefaultInvitationTimeout/time.Millisecond), info.TimeoutMS)
		r := bob.next(t)
		canceled := make(chan struct{})
		r.OnCanceled(func(string) { close(canceled) })
		var ended server.InvitationInfo
		require.Equal(t, http.StatusOK, a.call(t, "DELETE", "/api/v1/invitations/"+info.ID, key, nil, &ended))
		assert.Equal(t, "CANCELED", ended.State)
		assert.Equal(t, server.OutcomeCanceled, ended.Outcome)
		select {
		case <-canceled:
		case <-time.After(wait):
			t.Fatal("the callee was not told")
		}
		a.fails(t, "DELETE", "/api/v1/invitations/"+info.ID, nil, http.StatusConflict, protocol.CodeAlreadyEnd)
	})

	t.Run("offline callee", func(t *testing.T) {
		var info server.InvitationInfo
		require.Equal(t, http.StatusCreated, a.call(t, "POST", "/api/v1/invitations", key,
			map[string]any{"caller": "alice", "callee": "nobody"}, &info))
		assert.Equal(t, "FAILURE", info.State)
		assert.Equal(t, server.OutcomeOffline, info.Outcome)
		assert.Equal(t, "PEER_OFFLINE", info.Reason)
		assert.Nil(t, info.RangMS, "it rang nothing")
	})

	t.Run("a client's invitation is read but not canceled", func(t *testing.T) {
		carol, err := core.NewClient(core.Options{URL: a.srv.URL, Logf: t.Logf})
		require.NoError(t, err)
		defer carol.Close()
		require.NoError(t, carol.Login(ctx(t), "carol", ""))
		inv, err := carol.CreateLocalInvitation("bob")
		require.NoError(t, err)
		require.NoError(t, inv.Send(ctx(t)))
		bob.next(t)
		var info server.InvitationInfo
		require.Equal(t, http.StatusOK, a.call(t, "GET", "/api/v1/invitations/"+inv.ID(), key, nil, &info))
		assert.Equal(t, "carol", info.Caller)
		assert.False(t, info.API)
		a.fails(t, "DELETE", "/api/v1/invitations/"+inv.ID(), nil, http.StatusNotFound, protocol.CodeNotYours)
		require.NoError(t, inv.Cancel(ctx(t)))
	})

	t.Run("invitation errors", func(t *testing.T) {
		post := func(body any, status int, code protocol.Code) {
			t.Helper()
			a.fails(t, "POST", "/api/v1/invitations", body, status, code)
		}
		post(map[string]any{"caller": "alice", "callee": "null"}, 400, protocol.CodeInvalidArgument)
		post(map[string]any{"caller": strings.Repeat("a", 65), "callee": "bob"}, 400, protocol.CodeInvalidArgument)
		post(map[string]any{"caller": "bob", "callee": "bob"}, 400, protocol.CodeInvalidArgument)
		post(map[string]any{"callee": "bob"}, 400, protocol.CodeMalformedFrame)
		post(map[string]any{"caller": "alice", "callee": "bob", "content": strings.Repeat("x", protocol.MaxContentBytes+1)}, 400, protocol.CodeInvalidArgument)
		post(map[string]any{"caller": "alice", "callee": "bob", "channel": strings.Repeat("c", protocol.MaxChannelIDBytes+1)}, 400, protocol.CodeInvalidArgument)
		post(map[string]any{"caller": "alice", "callee": "bob", "timeout_ms": 999}, 400, protocol.CodeInvalidArgument)
		post(map[string]any{"caller": "alice", "callee": "bob", "timeout_ms": 600001}, 400, protocol.CodeInvalidArgument)
		post(map[string]any{"caller": "alice", "callee": "bob", "timeout_ms": -1}, 400, protocol.CodeInvalidArgument)
		post(map[string]any{"caller": "alice", "callee": "bob", "colour": "red"}, 400, protocol.CodeMalformedFrame)
		post(`{"caller": "alice",`, 400, protocol.CodeMalformedFrame)
		post(`{"caller":"alice","callee":"bob"} {}`, 400, protocol.CodeMalformedFrame)
		padded := func(n int) string { // a valid body of exactly n bytes, for a callee who is offline
			const head, tail = `{"caller":"bound",`, `"callee":"nobody"}`
			return head + strings.Repeat(" ", n-len(head)-len(tail)) + tail
		}
		var info server.InvitationInfo
		assert.Equal(t, http.StatusCreated, a.call(t, "POST", "/api/v1/invitations", key, padded(api.MaxBodyBytes), &info), "a body at the bound")
		post(padded(api.MaxBodyBytes+1), 413, protocol.CodeTooLarge)
		post(`{"caller":"bound","callee":"nobody"}`+strings.Repeat(" ", api.MaxBodyBytes), 413, protocol.CodeTooLarge)

		// At the bounds: content of 8192 bytes, timeouts of 1 s and 600 s; then the pending limit (2 here).
		for _, body := range []map[string]any{
			{"caller": "limits", "callee": "bob", "content": strings.Repeat("x", protocol.MaxContentBytes), "timeout_ms": 1000},
			{"caller": "limits", "callee": "bob", "channel": strings.Repeat("c", protocol.MaxChannelIDBytes), "timeout_ms": 600000},
		} {
			var info server.InvitationInfo
			require.Equal(t, http.StatusCreated, a.call(t, "POST", "/api/v1/invitations", key, body, &info))
			bob.next(t)
		}
		post(map[string]any{"caller": "limits", "callee": "bob"}, 429, protocol.CodeTooManyPending)

		a.fails(t, "GET", "/api/v1/invitations/0123456789abcdef0123456789abcdef", nil, 404, protocol.CodeNotYours)
		a.fails(t, "GET", "/api/v1/invitations/nonsense", nil, 404, protocol.CodeNotYours)
		a.fails(t, "DELETE", "/api/v1/invitations/0123456789abcdef0123456789abcdef", nil, 404, protocol.CodeNotYours)
	})

	t.Run("presence", func(t *testing.T) {
		newCallee(t, a.srv.URL, "bob") // a second device
		var p server.Presence
		require.Equal(t, http.StatusOK, a.call(t, "GET", "/api/v1/users/bob/presence", key, nil, &p))
		assert.Equal(t, server.Presence{User: "bob", Status: "ONLINE", Sessions: 2}, p)
		require.Equal(t, http.StatusOK, a.call(t, "GET", "/api/v1/users/"+url.PathEscape("no one #1")+"/presence", key, nil, &p))
		assert.Equal(t, server.Presence{User: "no one #1", Status: "OFFLINE", Sessions: 0}, p)
		a.fails(t, "GET", "/api/v1/users/null/presence", nil, 400, protocol.CodeInvalidArgument)
		a.fails(t, "GET", "/api/v1/users/"+strings.Repeat("u", 65)+"/presence", nil, 400, protocol.CodeInvalidArgument)
	})

	t.Run("kick", func(t *testing.T) {
		dave := newCallee(t, a.srv.URL, "dave")
		newCallee(t, a.srv.URL, "dave")
		var k struct {
			User          string `json:"user"`
			SessionsEnded int    `json:"sessions_ended"`
		}
		require.Equal(t, http.StatusOK, a.call(t, "POST", "/api/v1/users/dave/kick", key, nil, &k))
		assert.Equal(t, "dave", k.User)
		assert.Equal(t, 2, k.SessionsEnded)
		select {
		case r := <-dave.states:
			assert.Equal(t, core.ReasonBannedByServer, r)
		case <-time.After(wait):
			t.Fatal("the client was not told")
		}
		var p server.Presence
		require.Equal(t, http.StatusOK, a.call(t, "GET", "/api/v1/users/dave/presence", key, nil, &p))
		assert.Equal(t, 0, p.Sessions)
		require.Equal(t, http.StatusOK, a.call(t, "POST", "/api/v1/users/dave/kick", key, nil, &k))
		assert.Equal(t, 0, k.SessionsEnded)
		a.fails(t, "POST", "/api/v1/users/null/kick", nil, 400, protocol.CodeInvalidArgument)
	})

	t.Run("tokens", func(t *testing.T) {
		var tok struct {
			User      string    `json:"user"`
			Token     string    `json:"token"`
			ExpiresAt time.Time `json:"expires_at"`
		}
		require.Equal(t, http.StatusCreated, a.call(t, "POST", "/api/v1/tokens", key, map[string]any{"user": "erin", "ttl_seconds": 86400}, &tok))
		assert.WithinDuration(t, time.Now().Add(24*time.Hour), tok.ExpiresAt, 5*time.Second)
		c, err := core.NewClient(core.Options{URL: a.srv.URL, Logf: t.Logf})
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.Login(ctx(t), "erin", tok.Token), "the node takes the token it minted")
		require.Equal(t, http.StatusCreated, a.call(t, "POST", "/api/v1/tokens", key, map[string]any{"user": "erin", "ttl_seconds": 1}, &tok))
		require.Equal(t, http.StatusCreated, a.call(t, "POST", "/api/v1/tokens", key, map[string]any{"user": "erin"}, &tok))
		assert.WithinDuration(t, time.Now().Add(time.Hour), tok.ExpiresAt, 5*time.Second)

		a.fails(t, "POST", "/api/v1/tokens", map[string]any{"user": "erin", "ttl_seconds": 86401}, 400, protocol.CodeInvalidArgument)
		a.fails(t, "POST", "/api/v1/tokens", map[string]any{"user": "erin", "ttl_seconds": -1}, 400, protocol.CodeInvalidArgument)
		a.fails(t, "POST", "/api/v1/tokens", map[string]any{"user": "null"}, 400, protocol.CodeInvalidArgument)
		a.fails(t, "POST", "/api/v1/tokens", map[string]any{}, 400, protocol.CodeMalformedFrame)

		noSecret := newAPIServer(t, cov, func(c *server.Config) { c.Secret = nil })
		noSecret.fails(t, "POST", "/api/v1/tokens", map[string]any{"user": "erin"}, 403, protocol.CodeRejected)
	})

	t.Run("authentication", func(t *testing.T) {
		for _, path := range []string{"/api/v1/invitations/x", "/api/v1/users/bob/presence"} {
			var e api.Error
			assert.Equal(t, 401, a.call(t, "GET", path, "", nil, &e), "no key")
			assert.Equal(t, protocol.CodeNotAuthorized, e.Code)
			assert.Equal(t, 401, a.call(t, "GET", path, "wrong-key-0123456789", nil, &e), "a wrong key")
			assert.Equal(t, 401, a.call(t, "GET", path, key[:len(key)-1], nil, &e), "a prefix of a key")
			assert.Equal(t, 401, a.call(t, "GET", path, key+"x", nil, &e), "a key with more")
			assert.Equal(t, 400, a.call(t, "GET", path+"?api_key="+key, key, nil, &e), "a key in the query string, even with a good header")
			assert.Equal(t, protocol.CodeInvalidArgument, e.Code)
			assert.Equal(t, 400, a.call(t, "GET", path+"?key="+key, "", nil, &e), "a key in the query string alone")
		}
		var p server.Presence
		assert.Equal(t, http.StatusOK, a.call(t, "GET", "/api/v1/users/bob/presence", otherKey, nil, &p), "the second key")
		req, err := http.NewRequest("GET", a.url+"/api/v1/users/bob/presence", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Basic "+key)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 401, resp.StatusCode, "not a bearer key")
	})

	for _, r := range moreRoutes {
		t.Run(r.name, func(t *testing.T) { r.run(t, a, bob) })
	}

	t.Run("shutting down", func(t *testing.T) {
		down := newAPIServer(t, cov)
		c, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		require.NoError(t, down.srv.Node.Shutdown(c))
		down.fails(t, "POST", "/api/v1/invitations", map[string]any{"caller": "alice", "callee": "bob"}, 503, protocol.CodeShuttingDown)
	})

	t.Run("unknown routes and methods", func(t *testing.T) {
		a.fails(t, "GET", "/api/v1/nothing", nil, 404, protocol.CodeUnknownType)
		a.fails(t, "PUT", "/api/v1/invitations", nil, 405, protocol.CodeUnknownType)
		a.fails(t, "POST", "/api/v1/users/bob/presence", nil, 405, protocol.CodeUnknownType)
	})
}

func TestNewRefusesBadKeys(t *testing.T) {
	for _, tc := range []struct {
		keys []string
		ok   bool
	}{
		{nil, false},
		{[]string{strings.Repeat("k", api.MinKeyLen)}, true},
		{[]string{strings.Repeat("k", api.MinKeyLen-1)}, false},
		{[]string{strings.Repeat("k", api.MinKeyLen) + " x"}, false},
		{[]string{strings.Repeat("k", api.MinKeyLen) + ",x"}, false},
	} {
		_, err := api.New(nil, tc.keys, nil)
		if tc.ok {
			assert.NoError(t, err, "%q", tc.keys)
		} else {
			assert.ErrorIs(t, err, api.ErrInvalidKey, "%q", tc.keys)
		}
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// clusterAPIs serves the API of each node of cl.
func clusterAPIs(t *testing.T, cl *rtmcalltest.Cluster) []*apiServer {
	apis := make([]*apiServer, len(cl.Nodes))
	for i, n := range cl.Nodes {
		h, err := api.New(n.Node, []string{key}, nil)
		require.NoError(t, err)
		hs := httptest.NewServer(h)
		t.Cleanup(hs.Close)
		apis[i] = &apiServer{srv: n, url: hs.URL}
	}
	return apis
}

// The API from any node of a cluster: a call placed through one node is
// read, canceled, and its callee's presence read and kicked, through the other.
func TestRoutesFromAnyNodeOfACluster(t *testing.T) {
	cl := rtmcalltest.NewCluster(t, 2)
	apis := clusterAPIs(t, cl)
	bob := newCallee(t, cl.Nodes[1].URL, "bob")
	cl.Sync()

	var p server.Presence
	require.Equal(t, http.StatusOK, apis[0].call(t, "GET", "/api/v1/users/bob/presence", key, nil, &p))
	assert.Equal(t, server.Presence{User: "bob", Status: "ONLINE", Sessions: 1}, p, "a session on the other node")

	var placed server.InvitationInfo
	require.Equal(t, http.StatusCreated, apis[0].call(t, "POST", "/api/v1/invitations", key,
		map[string]any{"caller": "desk", "service": true, "callee": "bob"}, &placed))
	assert.Equal(t, cl.Nodes[0].Node.ID(), placed.ID[:8], "owned by the node that placed it")
	r := bob.next(t)
	assert.Equal(t, placed.ID, r.ID())

	var got server.InvitationInfo
	require.Equal(t, http.StatusOK, apis[1].call(t, "GET", "/api/v1/invitations/"+placed.ID, key, nil, &got))
	assert.Equal(t, placed.ID, got.ID)
	assert.Empty(t, got.Outcome)
	require.Equal(t, http.StatusOK, apis[1].call(t, "DELETE", "/api/v1/invitations/"+placed.ID, key, nil, &got))
	assert.Equal(t, server.OutcomeCanceled, got.Outcome)
	apis[1].fails(t, "DELETE", "/api/v1/invitations/"+placed.ID, nil, http.StatusConflict, protocol.CodeAlreadyEnd)
	apis[1].fails(t, "GET", "/api/v1/invitations/"+cl.Nodes[0].Node.ID()+"000000000000000000000000", nil, http.StatusNotFound, protocol.CodeNotYours)

	var k struct {
		SessionsEnded int `json:"sessions_ended"`
	}
	require.Equal(t, http.StatusOK, apis[0].call(t, "POST", "/api/v1/users/bob/kick", key, nil, &k))
	assert.Equal(t, 1, k.SessionsEnded)
	select {
	case reason := <-bob.states:
		assert.Equal(t, core.ReasonBannedByServer, reason)
	case <-time.After(wait):
		t.Fatal("the client on the other node was not told")
	}
}

// A read of an invitation asked of its owner, which lives but does not
// answer (a node behind in handling what it receives), gets TIMEOUT, 503
// with Retry-After, after 2 × PeerTimeout: not before, and not much later.
func TestRoutesOwnerDoesNotAnswer(t *testing.T) {
	cl := rtmcalltest.NewCluster(t, 2)
	apis := clusterAPIs(t, cl)
	newCallee(t, cl.Nodes[1].URL, "bob")
	cl.Sync()
	var placed server.InvitationInfo
	require.Equal(t, http.StatusCreated, apis[0].call(t, "POST", "/api/v1/invitations", key,
		map[string]any{"caller": "desk", "service": true, "callee": "bob"}, &placed))

	bound := 2 * rtmcalltest.PeerTimeout
	cl.Loss(0).SetHandlingDelay(bound + 300*time.Millisecond) // the owner handles the request too late
	req, err := http.NewRequest("GET", apis[1].url+"/api/v1/invitations/"+placed.ID, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	took := time.Since(start)
	require.NoError(t, err)
	defer resp.Body.Close()
	var e api.Error
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, protocol.CodeTimeout, e.Code, "%+v", e)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	assert.GreaterOrEqual(t, took, bound, "not before 2 × PeerTimeout")
	assert.Less(t, took, bound+time.Second, "2 × PeerTimeout and some slack")
	cl.Loss(0).SetHandlingDelay(0)
	assert.Len(t, cl.Nodes[1].Node.Peers(), 1, "the owner lives: no death")
	for i, n := range cl.Nodes {
		m, err := http.Get(n.HTTPURL + "/metrics")
		require.NoError(t, err)
		body, err := io.ReadAll(m.Body)
		m.Body.Close()
		require.NoError(t, err)
		assert.Contains(t, string(body), "\nrtmcall_cluster_gaps_total 0\n", "node %d reset its peer", i)
	}

	var got server.InvitationInfo
	require.Equal(t, http.StatusOK, apis[1].call(t, "GET", "/api/v1/invitations/"+placed.ID, key, nil, &got),
		"answered once the owner keeps up")
	assert.Empty(t, got.Outcome, "still pending")
}
