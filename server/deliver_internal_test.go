//go:build !js

package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
)

// TestDeliverEndNotRung: an owner's end of an invitation that does not ring
// the session here (its invite never came: dropped as a non-peer's, issue
// 16's "client dropped a frame") does not reach the client, which knows
// nothing to end; an end that crosses the session's ignore does, ahead of
// the ignore's ALREADY_END. The peer is a fake one speaking the cluster's
// messages, so that the invite can be left out exactly.
func TestDeliverEndNotRung(t *testing.T) {
	const inc = "0123456789abcdef"
	b := &recordBroker{onSend: make(chan message, 1024)}
	n, err := New(Config{Dev: true, NodeID: "0e0e0e0e", Broker: b, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	srv := httptest.NewServer(n)
	t.Cleanup(func() {
		srv.Close()
		assert.NoError(t, n.Shutdown(context.Background()))
	})
	wire := fakeWire(t, inc)
	var seqMu sync.Mutex
	var seq uint64
	peerSend := func(m message) { // in order, numbered as a peer's
		seqMu.Lock()
		defer seqMu.Unlock()
		seq++
		n.receive(wire(m, seq))
	}
	peerSend(message{K: kindWelcome, Page: 1, Pages: 1})
	require.Equal(t, []string{scalePeer}, n.Peers())

	// The fake owner acks the receipts; the test answers the ignore.
	ignores := make(chan message, 1)
	stop, stopped := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(stop); <-stopped })
	go func() {
		defer close(stopped)
		for {
			var m message
			select {
			case m = <-b.onSend:
			case <-stop:
				return
			}
			if m.K != kindRequest {
				continue
			}
			if m.F.Type == protocol.TypeIgnore {
				ignores <- m
				continue
			}
			peerSend(message{K: kindReply, Corr: m.Corr, F: &protocol.Frame{Type: protocol.TypeOK, RID: m.F.RID}})
		}
	}()

	var logMu sync.Mutex
	var logs []string
	c, err := core.NewClient(core.Options{URL: "ws" + strings.TrimPrefix(srv.URL, "http") + protocol.Path,
		Logf: func(format string, args ...any) {
			logMu.Lock()
			defer logMu.Unlock()
			logs = append(logs, fmt.Sprintf(format, args...))
		}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	rung := make(chan *core.RemoteInvitation, 4)
	canceled := make(chan string, 4)
	c.OnInvitationReceived(func(r *core.RemoteInvitation) {
		r.OnCanceled(func(string) { canceled <- r.ID() })
		rung <- r
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.Login(ctx, "callee", ""))
	n.mu.Lock()
	var sid string
	for id := range n.hub.sessions {
		sid = id
	}
	n.mu.Unlock()
	require.NotEmpty(t, sid)

	inv := func(i int) string { return fmt.Sprintf("%s%024x", scalePeer, i) }
	invite := func(id string) {
		peerSend(message{K: kindDeliver, Sess: sid, F: &protocol.Frame{Type: protocol.TypeInvite, Inv: id, Caller: "caller", Timeout: 60_000}})
	}
	cancelOf := func(id string) {
		peerSend(message{K: kindDeliver, Sess: sid, F: &protocol.Frame{Type: protocol.TypeRemoteCanceled, Inv: id}})
	}
	wait := func(what string, ch <-chan string) string {
		select {
		case v := <-ch:
			return v
		case <-ctx.Done():
			require.FailNow(t, "timed out", "waiting for %s", what)
			return ""
		}
	}
	waitRung := func(id string) *core.RemoteInvitation {
		select {
		case r := <-rung:
			require.Equal(t, id, r.ID())
			return r
		case <-ctx.Done():
			require.FailNow(t, "timed out", "waiting for the invite of %s", id)
			return nil
		}
	}

	// Never rung here: its end is dropped. The invitation after it, rung
	// and canceled, comes after it on the same stream.
	cancelOf(inv(1))
	invite(inv(2))
	waitRung(inv(2))
	cancelOf(inv(2))
	assert.Equal(t, inv(2), wait("the cancel of "+inv(2), canceled))
	cancelOf(inv(2)) // told already: dropped too

	// An end crossing the ignore: the owner canceled before it took the
	// ignore, which gets ALREADY_END after the cancel.
	invite(inv(3))
	r := waitRung(inv(3))
	ignored := make(chan error, 1)
	go func() { ignored <- r.Ignore(ctx) }()
	var req message
	select {
	case req = <-ignores:
	case <-ctx.Done():
		require.FailNow(t, "timed out waiting for the forwarded ignore")
	}
	cancelOf(inv(3))
	peerSend(message{K: kindReply, Corr: req.Corr, F: protocol.ErrorFrame(req.F.RID, errAlreadyEnd)})
	assert.Equal(t, inv(3), wait("the cancel of "+inv(3), canceled))
	select {
	case err := <-ignored:
		assert.ErrorContains(t, err, "ALREADY_END")
	case <-ctx.Done():
		require.FailNow(t, "timed out waiting for the ignore's reply")
	}
	assert.Equal(t, core.RemoteCanceled, r.State())

	// A last invite and cancel: everything above reached the client first.
	invite(inv(4))
	waitRung(inv(4))
	cancelOf(inv(4))
	assert.Equal(t, inv(4), wait("the cancel of "+inv(4), canceled))
	logMu.Lock()
	defer logMu.Unlock()
	assert.Empty(t, logs, "the client dropped nothing")
}
