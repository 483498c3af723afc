//go:build !js

package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
)

// A flow is one complete invitation: the caller sends, the callee's device
// gets the invitation and acknowledges it, the caller sees the receipt, the
// callee accepts, and the caller gets the acceptance. The baseline does the
// same with three relayed messages of the same sizes: invite (A to B),
// receipt (B to A) and answer (B to A).

// flowTimes are the instants of one flow, all from this process's monotonic
// clock.
type flowTimes struct {
	send     time.Time // the caller starts sending
	received time.Time // the callee's RemoteInvitationReceived (baseline: B reads the invite)
	accept   time.Time // the callee starts accepting
	accepted time.Time // the caller's LocalInvitationAccepted (baseline: A reads the answer)
}

func (t flowTimes) sendLatency() time.Duration   { return t.received.Sub(t.send) }
func (t flowTimes) acceptLatency() time.Duration { return t.accepted.Sub(t.accept) }

// pair is a logged-in caller and callee that do one flow at a time.
type pair interface {
	flow(ctx context.Context, seq int) (flowTimes, error)
	close()
}

// system is what the harness measures: rtmcall or the baseline relay.
type system interface {
	// login connects and logs in one client as user; it then stays idle.
	login(ctx context.Context, url, user string) (io.Closer, error)
	// pair logs in a caller and a callee named after id.
	pair(ctx context.Context, url, id string) (pair, error)
}

// The payloads of a flow, the same for rtmcall and the baseline.
const (
	flowResponse = "on my way"
)

func flowContent(id string) string { return "video call from " + id + "a: join?" }
func flowChannel(id string) string { return "room-" + id }

// rtmcallSystem drives the real server with core.Client, the native client.
type rtmcallSystem struct {
	logs *atomic.Int64 // lines the clients logged (frames they dropped)
}

func (s rtmcallSystem) newClient(url string) (*core.Client, error) {
	return core.NewClient(core.Options{URL: url, Logf: func(string, ...any) { s.logs.Add(1) }})
}

func (s rtmcallSystem) login(ctx context.Context, url, user string) (io.Closer, error) {
	c, err := s.newClient(url)
	if err != nil {
		return nil, err
	}
	if err := c.Login(ctx, user, ""); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

type received struct {
	inv *core.RemoteInvitation
	at  time.Time
}

type rtmcallPair struct {
	id      string
	a, b    *core.Client
	invites chan received
}

func (s rtmcallSystem) pair(ctx context.Context, url, id string) (pair, error) {
	p := &rtmcallPair{id: id, invites: make(chan received, 8)}
	var err error
	if p.a, err = s.newClient(url); err != nil {
		return nil, err
	}
	if p.b, err = s.newClient(url); err != nil {
		return nil, err
	}
	p.b.OnInvitationReceived(func(inv *core.RemoteInvitation) {
		p.invites <- received{inv: inv, at: time.Now()}
	})
	if err := p.a.Login(ctx, id+"a", ""); err != nil {
		p.close()
		return nil, err
	}
	if err := p.b.Login(ctx, id+"b", ""); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

func (p *rtmcallPair) close() {
	p.a.Close()
	p.b.Close()
}

func (p *rtmcallPair) flow(ctx context.Context, seq int) (flowTimes, error) {
	var t flowTimes
	inv, err := p.a.CreateLocalInvitation(p.id + "b")
	if err != nil {
		return t, err
	}
	if err := errors.Join(inv.SetContent(flowContent(p.id)), inv.SetChannelID(flowChannel(p.id))); err != nil {
		return t, err
	}
	receipt := make(chan struct{}, 1)
	accepted := make(chan time.Time, 1)
	failed := make(chan core.LocalFailureReason, 1)
	inv.OnReceivedByPeer(func() { receipt <- struct{}{} })
	inv.OnAccepted(func(string) { accepted <- time.Now() })
	inv.OnFailure(func(r core.LocalFailureReason) { failed <- r })

	t.send = time.Now()
	if err := inv.Send(ctx); err != nil {
		return t, fmt.Errorf("send: %w", err)
	}
	var r received
	select {
	case r = <-p.invites:
	case why := <-failed:
		return t, fmt.Errorf("invitation failed before it rang: %s", why)
	case <-ctx.Done():
		return t, fmt.Errorf("no invitation at the callee: %w", ctx.Err())
	}
	if r.inv.ID() != inv.ID() {
		return t, fmt.Errorf("callee got invitation %s, caller sent %s", r.inv.ID(), inv.ID())
	}
	t.received = r.at
	select {
	case <-receipt:
	case why := <-failed:
		return t, fmt.Errorf("invitation failed before its receipt: %s", why)
	case <-ctx.Done():
		return t, fmt.Errorf("no receipt at the caller: %w", ctx.Err())
	}
	if err := r.inv.SetResponse(flowResponse); err != nil {
		return t, err
	}
	t.accept = time.Now()
	if err := r.inv.Accept(ctx); err != nil {
		return t, fmt.Errorf("accept: %w", err)
	}
	select {
	case t.accepted = <-accepted:
	case why := <-failed:
		return t, fmt.Errorf("invitation failed before its acceptance: %s", why)
	case <-ctx.Done():
		return t, fmt.Errorf("no acceptance at the caller: %w", ctx.Err())
	}
	// Outside the times measured: the call goes on until hang-up, and the
	// pair's next flow would find the callee busy.
	if err := inv.Hangup(ctx); err != nil {
		return t, fmt.Errorf("hangup: %w", err)
	}
	return t, nil
}

// wsClient is a bare coder/websocket connection, as a minimal client
// would use: a reader goroutine decodes each message's type and invitation
// id and hands them, with the time it was read, to the channel of its type.
// Types without a channel are dropped; so are "ok" replies nobody waits for.
type wsClient struct {
	c       *websocket.Conn
	byType  map[string]chan arrival
	readers sync.WaitGroup
	rid     atomic.Uint64
	// reads and writes count the WebSocket messages read and written.
	reads, writes atomic.Int64
	// ackEvery > 0: acknowledge the server's stream (frame "seq") with a
	// ping after that many frames, as the protocol requires of a client
	// (the server keeps unacknowledged frames).
	ackEvery uint64
	// decode reads the messages of one WebSocket message; nil: one JSON
	// wsMsg. It may answer the server itself (Centrifugo's pings).
	decode func(wc *wsClient, data []byte) []wsMsg
}

type arrival struct {
	inv string
	msg string // error frames: the text
	at  time.Time
}

// wsMsg is what a minimal client reads of a message.
type wsMsg struct {
	Type    string `json:"type"`
	Inv     string `json:"inv"`
	Message string `json:"message"`
	Seq     uint64 `json:"seq"`
}

// dialWS connects, sends hello and waits for its "ok".
func dialWS(ctx context.Context, url string, subprotocols []string, ackEvery uint64, hello []byte, types ...string) (*wsClient, error) {
	return dialWSWith(ctx, url, subprotocols, ackEvery, nil, hello, types...)
}

func dialWSWith(ctx context.Context, url string, subprotocols []string, ackEvery uint64,
	decode func(*wsClient, []byte) []wsMsg, hello []byte, types ...string) (*wsClient, error) {
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: subprotocols})
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(relayMaxFrame)
	wc := &wsClient{c: c, ackEvery: ackEvery, decode: decode,
		byType: map[string]chan arrival{"ok": make(chan arrival, 1), "error": make(chan arrival, 1)}}
	for _, t := range types {
		wc.byType[t] = make(chan arrival, 8)
	}
	wc.readers.Add(1)
	go wc.read()
	if err := wc.write(hello); err != nil {
		wc.Close()
		return nil, err
	}
	select {
	case <-wc.byType["ok"]:
	case a := <-wc.byType["error"]:
		wc.Close()
		return nil, fmt.Errorf("hello refused: %s", a.msg)
	case <-ctx.Done():
		wc.Close()
		return nil, fmt.Errorf("no reply to hello: %w", ctx.Err())
	}
	return wc, nil
}

func (wc *wsClient) read() {
	defer wc.readers.Done()
	var acked uint64
	for {
		_, data, err := wc.c.Read(context.Background())
		if err != nil {
			return
		}
		at := time.Now()
		wc.reads.Add(1)
		if wc.decode != nil {
			for _, m := range wc.decode(wc, data) {
				wc.deliver(m, at)
			}
			continue
		}
		var m wsMsg
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		if wc.ackEvery > 0 && m.Seq >= acked+wc.ackEvery {
			acked = m.Seq
			if wc.request(&protocol.Frame{Type: protocol.TypePing, Ack: acked}) != nil {
				return
			}
		}
		wc.deliver(m, at)
	}
}

// deliver hands m to the channel of its type, if any.
func (wc *wsClient) deliver(m wsMsg, at time.Time) {
	ch := wc.byType[m.Type]
	if ch == nil {
		return
	}
	a := arrival{inv: m.Inv, msg: m.Message, at: at}
	if m.Type == "ok" || m.Type == "error" {
		select { // only the first is waited for
		case ch <- a:
		default:
		}
		return
	}
	ch <- a
}

func (wc *wsClient) write(data []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wc.writes.Add(1)
	return wc.c.Write(ctx, websocket.MessageText, data)
}

// wait returns the next message of type typ, which must be about inv
// unless inv is empty.
func (wc *wsClient) wait(ctx context.Context, typ, inv string) (arrival, error) {
	select {
	case a := <-wc.byType[typ]:
		if inv != "" && a.inv != inv {
			return a, fmt.Errorf("%s for %s, expected %s", typ, a.inv, inv)
		}
		return a, nil
	case a := <-wc.byType["error"]:
		return a, fmt.Errorf("error while waiting for %s: %s", typ, a.msg)
	case <-ctx.Done():
		return arrival{}, fmt.Errorf("no %s: %w", typ, ctx.Err())
	}
}

// Close drops the connection and waits for the reader.
func (wc *wsClient) Close() error {
	err := wc.c.CloseNow()
	wc.readers.Wait()
	return err
}

// relaySystem drives the baseline relay with bare clients.
type relaySystem struct{}

func relayHello(name string) []byte {
	return mustJSON(map[string]string{"type": "hello", "from": name})
}

func (relaySystem) login(ctx context.Context, url, user string) (io.Closer, error) {
	return dialWS(ctx, url, nil, 0, relayHello(user))
}

// relayPair is a caller (a) and a callee (b) whose frames go through a
// server that only carries them: the baseline relay, or Centrifugo.
type relayPair struct {
	id   string
	a, b *wsClient
	invN atomic.Uint64
	post func(from *wsClient, to string, f *protocol.Frame) error // send f to user to
}

func (relaySystem) pair(ctx context.Context, url, id string) (pair, error) {
	a, err := dialWS(ctx, url, nil, 0, relayHello(id+"a"), protocol.TypeLocalReceived, protocol.TypeLocalAccepted)
	if err != nil {
		return nil, err
	}
	b, err := dialWS(ctx, url, nil, 0, relayHello(id+"b"), protocol.TypeInvite)
	if err != nil {
		a.Close()
		return nil, err
	}
	return &relayPair{id: id, a: a, b: b, post: relayPost}, nil
}

func (p *relayPair) close() {
	p.a.Close()
	p.b.Close()
}

// relayed is an rtmcall frame plus the "to" the relay routes on.
type relayed struct {
	protocol.Frame
	To string `json:"to"`
}

// The messages of a flow: the rtmcall frames the callee or caller reads,
// which the baseline relays and Centrifugo publishes.
func flowInvite(id, inv string) *protocol.Frame {
	return &protocol.Frame{Type: protocol.TypeInvite, Inv: inv, Caller: id + "a", Content: flowContent(id),
		Channel: flowChannel(id), Timeout: 60000}
}

func flowReceipt(inv string) *protocol.Frame {
	return &protocol.Frame{Type: protocol.TypeLocalReceived, Inv: inv}
}

func flowAnswer(inv string) *protocol.Frame {
	return &protocol.Frame{Type: protocol.TypeLocalAccepted, Inv: inv, Response: flowResponse}
}

// relayPost sends f to user through the relay: the frame plus "to".
func relayPost(c *wsClient, user string, f *protocol.Frame) error {
	return c.write(mustJSON(&relayed{Frame: *f, To: user}))
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only fixed struct and map types are marshaled
	}
	return b
}

func (p *relayPair) flow(ctx context.Context, seq int) (flowTimes, error) {
	var t flowTimes
	inv := fmt.Sprintf("%032x", p.invN.Add(1)) // 32 hex characters, as rtmcall's ids
	t.send = time.Now()
	if err := p.post(p.a, p.id+"b", flowInvite(p.id, inv)); err != nil {
		return t, err
	}
	a, err := p.b.wait(ctx, protocol.TypeInvite, inv)
	if err != nil {
		return t, err
	}
	t.received = a.at
	if err := p.post(p.b, p.id+"a", flowReceipt(inv)); err != nil {
		return t, err
	}
	if _, err := p.a.wait(ctx, protocol.TypeLocalReceived, inv); err != nil {
		return t, err
	}
	t.accept = time.Now()
	if err := p.post(p.b, p.id+"a", flowAnswer(inv)); err != nil {
		return t, err
	}
	if a, err = p.a.wait(ctx, protocol.TypeLocalAccepted, inv); err != nil {
		return t, err
	}
	t.accepted = a.at
	return t, nil
}

// rawSystem drives the real server with bare clients that speak the wire
// protocol directly (docs/PROTOCOL.md), as the baseline's clients do: it
// isolates the server's share of rtmcall's latency from core.Client's.
type rawSystem struct{}

func (c *wsClient) request(f *protocol.Frame) error {
	f.RID = c.rid.Add(1)
	data, err := protocol.Encode(f)
	if err != nil {
		return err
	}
	return c.write(data)
}

// rawAckEvery is how often a bare client acknowledges the stream: as
// core.Client does, after 64 frames.
const rawAckEvery = 64

func dialRaw(ctx context.Context, url, user string, types ...string) (*wsClient, error) {
	login, err := protocol.Encode(&protocol.Frame{Type: protocol.TypeLogin, RID: 1, User: user})
	if err != nil {
		return nil, err
	}
	wc, err := dialWS(ctx, url, []string{protocol.Subprotocol}, rawAckEvery, login, types...)
	if err != nil {
		return nil, err
	}
	wc.rid.Store(1)
	return wc, nil
}

func (rawSystem) login(ctx context.Context, url, user string) (io.Closer, error) {
	return dialRaw(ctx, url, user)
}

type rawPair struct {
	id   string
	a, b *wsClient
}

func (rawSystem) pair(ctx context.Context, url, id string) (pair, error) {
	a, err := dialRaw(ctx, url, id+"a", protocol.TypeLocalReceived, protocol.TypeLocalAccepted)
	if err != nil {
		return nil, err
	}
	b, err := dialRaw(ctx, url, id+"b", protocol.TypeInvite)
	if err != nil {
		a.Close()
		return nil, err
	}
	return &rawPair{id: id, a: a, b: b}, nil
}

func (p *rawPair) close() {
	p.a.Close()
	p.b.Close()
}

func (p *rawPair) flow(ctx context.Context, seq int) (flowTimes, error) {
	var t flowTimes
	t.send = time.Now()
	err := p.a.request(&protocol.Frame{Type: protocol.TypeSend, Callee: p.id + "b", Content: flowContent(p.id),
		Channel: flowChannel(p.id)})
	if err != nil {
		return t, err
	}
	a, err := p.b.wait(ctx, protocol.TypeInvite, "")
	if err != nil {
		return t, err
	}
	t.received = a.at
	inv := a.inv
	if err := p.b.request(&protocol.Frame{Type: protocol.TypeAck, Inv: inv}); err != nil {
		return t, err
	}
	if _, err := p.a.wait(ctx, protocol.TypeLocalReceived, inv); err != nil {
		return t, err
	}
	t.accept = time.Now()
	if err := p.b.request(&protocol.Frame{Type: protocol.TypeAccept, Inv: inv, Response: flowResponse}); err != nil {
		return t, err
	}
	if a, err = p.a.wait(ctx, protocol.TypeLocalAccepted, inv); err != nil {
		return t, err
	}
	t.accepted = a.at
	// Outside the times measured; the server carries it out before the
	// pair's next send on the same connection, which then does not find
	// the callee busy.
	return t, p.a.request(&protocol.Frame{Type: protocol.TypeHangup, Inv: inv})
}
