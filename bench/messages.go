//go:build !js

package bench

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
)

// MessageResult is the peer-message latency, send → MessageFromPeer, of
// rtmcall (core.Client to core.Client through the real server) and of the
// baseline relay (the same JSON frame relayed from A to B), one message at
// a time, in the same run.
type MessageResult struct {
	RTMCall, Baseline Dist
}

// messageText is a message of an SDP fragment's size, the same for both.
var messageText = strings.Repeat("a=candidate:1 1 udp ", 26)[:512]

// messageGap spaces the messages: a pacing interval, not a wait for an event.
// They rotate over messagePairs pairs, so that each connection stays far
// under the server's rate limit (60 frames per second).
const (
	messageGap   = 2 * time.Millisecond
	messagePairs = 25
)

// measureMessages sends n messages on each system, rtmcall first.
func measureMessages(ctx context.Context, cfg Config, n int, startRTM, startRelay func(context.Context) (*proc, error),
	logf func(string, ...any)) (*MessageResult, error) {
	waitQuiet(ctx, cfg.QuietWait, cfg.MaxOther, logf)
	rtm, err := messagesOn(ctx, startRTM, n, rtmcallMessages)
	if err != nil {
		return nil, fmt.Errorf("rtmcall: %w", err)
	}
	base, err := messagesOn(ctx, startRelay, n, relayMessages)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	return &MessageResult{RTMCall: NewDist(rtm), Baseline: NewDist(base)}, nil
}

func messagesOn(ctx context.Context, start func(context.Context) (*proc, error), n int,
	run func(ctx context.Context, url string, n int) ([]time.Duration, error)) ([]time.Duration, error) {
	p, err := start(ctx)
	if err != nil {
		return nil, err
	}
	defer p.stop()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return run(ctx, p.wsURL(), n)
}

func rtmcallMessages(ctx context.Context, url string, n int) ([]time.Duration, error) {
	login := func(user string) (*core.Client, error) {
		c, err := core.NewClient(core.Options{URL: url, Logf: func(string, ...any) {}})
		if err != nil {
			return nil, err
		}
		return c, c.Login(ctx, user, "")
	}
	got := make(chan time.Time, 1)
	var senders []*core.Client
	for i := range messagePairs {
		a, err := login(fmt.Sprintf("msg-a%d", i))
		if a != nil {
			defer a.Close()
		}
		if err != nil {
			return nil, err
		}
		b, err := login(fmt.Sprintf("msg-b%d", i))
		if b != nil {
			defer b.Close()
		}
		if err != nil {
			return nil, err
		}
		b.OnMessageFromPeer(func(core.Message, string, core.MessageProps) { got <- time.Now() })
		senders = append(senders, a)
	}
	out := make([]time.Duration, 0, n)
	for i := range n {
		sent := time.Now()
		peer := fmt.Sprintf("msg-b%d", i%messagePairs)
		if _, err := senders[i%messagePairs].SendMessageToPeer(ctx, peer, core.Message{Text: messageText}); err != nil {
			return nil, err
		}
		select {
		case at := <-got:
			out = append(out, at.Sub(sent))
		case <-ctx.Done():
			return nil, fmt.Errorf("no MessageFromPeer: %w", ctx.Err())
		}
		time.Sleep(messageGap)
	}
	return out, nil
}

func relayMessages(ctx context.Context, url string, n int) ([]time.Duration, error) {
	var as, bs []*wsClient
	for i := range messagePairs {
		a, err := dialWS(ctx, url, nil, 0, relayHello(fmt.Sprintf("msg-a%d", i)))
		if err != nil {
			return nil, err
		}
		defer a.Close()
		b, err := dialWS(ctx, url, nil, 0, relayHello(fmt.Sprintf("msg-b%d", i)), protocol.TypePeerMessage)
		if err != nil {
			return nil, err
		}
		defer b.Close()
		as, bs = append(as, a), append(bs, b)
	}
	out := make([]time.Duration, 0, n)
	for i := range n {
		a, b := as[i%messagePairs], bs[i%messagePairs]
		id := fmt.Sprintf("%032x", i)
		data := mustJSON(&relayed{Frame: protocol.Frame{Type: protocol.TypePeerMessage, Inv: id, From: fmt.Sprintf("msg-a%d", i%messagePairs),
			Text: messageText, TS: time.Now().UnixMilli()}, To: fmt.Sprintf("msg-b%d", i%messagePairs)})
		sent := time.Now()
		if err := a.write(data); err != nil {
			return nil, err
		}
		got, err := b.wait(ctx, protocol.TypePeerMessage, id)
		if err != nil {
			return nil, err
		}
		out = append(out, got.at.Sub(sent))
		time.Sleep(messageGap)
	}
	return out, nil
}

// writeMessages is the report's section on peer messages.
func (res *Results) writeMessages(w writer) {
	m := res.Messages
	if m == nil {
		return
	}
	w("## Peer messages\n\n")
	w("%d pairs in turn, %d messages of %d bytes one after the other, %v apart: `sendMessageToPeer` → the peer's\n",
		messagePairs, m.RTMCall.N(), len(messageText), messageGap)
	w("`MessageFromPeer` (core.Client to core.Client through `rtmcall-server`), against the same frame relayed by the\n")
	w("baseline.\n\n| | p50 | p90 | p99 | max |\n|---|---:|---:|---:|---:|\n")
	for _, r := range []struct {
		name string
		d    Dist
	}{{"rtmcall", m.RTMCall}, {"baseline relay", m.Baseline}} {
		w("| %s | %s | %s | %s | %s |\n", r.name, dur(r.d.P50()), dur(r.d.P90()), dur(r.d.P99()), dur(r.d.Max()))
	}
	w("\n")
}

// messageTarget is the p50 message latency against the relay's.
func (res *Results) messageTarget() (Target, bool) {
	m := res.Messages
	if m == nil {
		return Target{}, false
	}
	r := durRatio(m.RTMCall.P50(), m.Baseline.P50())
	return Target{What: "p50 sendMessageToPeer → MessageFromPeer, one message at a time", Measured: dur(m.RTMCall.P50()),
		Baseline: dur(m.Baseline.P50()), Ratio: times(r), PerRun: "—", Goal: "≤ 1.5×", Met: r > 0 && r <= 1.5,
		why: func() string {
			return "A message is one frame in and one out of the server, as the invite is; the harness takes no profile " +
				"of this path, and the invite's way through the same code, server and client, is in items 1 and 6."
		}}, true
}
