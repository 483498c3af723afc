//go:build !js

package server

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// fakeClaimer is a node whose session of bob claims the moved session
// moved of the fake peer scalePeer (incarnation inc), which the test plays:
// claim returns the claim the node sent it, once the node's sync of its
// peers is answered.
type fakeClaimer struct {
	t     *testing.T
	n     *Node
	b     *recordBroker
	s     *session
	moved string
	seq   uint64
}

const fakeInc = "0123456789abcdef"

func newFakeClaimer(t *testing.T) *fakeClaimer {
	n, b := recordNode(t, "0f0f0f0f")
	c := &fakeClaimer{t: t, n: n, b: b, moved: scalePeer + "0123456789abcdef01234567"}
	c.receive(message{K: kindWelcome, Page: 1, Pages: 1})
	require.Equal(t, []string{scalePeer}, n.Peers())
	n.mu.Lock()
	c.s = newSession(n, "bob")
	c.s.live = true
	node := n.claimNodeLocked(c.s, c.moved, "key", 1)
	n.hub.add(c.s)
	n.claimLocked(c.s, node, "key")
	n.mu.Unlock()
	c.receive(message{K: kindSynced, Corr: c.last(kindSync).Corr})
	return c
}

// receive hands the node m from the fake peer, numbered in turn.
func (c *fakeClaimer) receive(m message) {
	c.seq++
	c.n.receive(fakeWire(c.t, fakeInc)(m, c.seq))
}

// receiveRaw hands the node a message from the fake peer whose fields
// after k, corr and the number are JSON rest.
func (c *fakeClaimer) receiveRaw(k string, corr uint64, rest string) {
	c.seq++
	c.n.receive(fmt.Appendf(nil, `{"q":%d,"k":%q,"from":%q,"inc":%q,"corr":%d,%s}`, c.seq, k, scalePeer, fakeInc, corr, rest))
}

// last is the last message of kind k the node sent.
func (c *fakeClaimer) last(k string) message {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	for i := len(c.b.sent) - 1; i >= 0; i-- {
		if c.b.sent[i].K == k {
			return c.b.sent[i]
		}
	}
	require.FailNow(c.t, "nothing sent", "kind %s", k)
	return message{}
}

// sent counts the messages of kind k the node sent.
func (c *fakeClaimer) sent(k string) int {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	k2 := 0
	for _, m := range c.b.sent {
		if m.K == k {
			k2++
		}
	}
	return k2
}

// queued returns the texts of the peer messages queued to the claimer,
// and whether its claim is still under way.
func (c *fakeClaimer) queued() (texts []string, claiming bool) {
	c.s.qmu.Lock()
	defer c.s.qmu.Unlock()
	for _, e := range c.s.buf {
		if f := e.frame(); f.Type == protocol.TypePeerMessage {
			texts = append(texts, f.Text)
		}
	}
	return texts, c.s.claiming
}

// A peer's claim answer whose held frames include a null gets the others
// handed over, not a nil dereference that took the node down.
func TestClaimAnswerWithANullFrame(t *testing.T) {
	c := newFakeClaimer(t)
	corr := c.last(kindClaim).Corr
	require.NotPanics(t, func() {
		c.receiveRaw(kindClaimed, corr, `"live":true,"page":1,"pages":1,"held":[null,{"type":"peer.message","from":"alice","text":"m1"},null]`)
	})
	texts, claiming := c.queued()
	assert.Equal(t, []string{"m1"}, texts)
	assert.False(t, claiming, "handed over")
}

// A message from a peer without the frame it carries (deliver, request,
// reply) is dropped, not a nil dereference that took the node down; the
// peer stays a peer.
func TestPeerMessageWithoutItsFrame(t *testing.T) {
	for _, k := range []string{kindDeliver, kindRequest, kindReply} {
		t.Run(k, func(t *testing.T) {
			c := newFakeClaimer(t)
			corr := c.last(kindClaim).Corr
			if k == kindReply { // to a request of the claimer's forwarded to the peer
				c.n.mu.Lock()
				c.n.cl.next++
				corr = c.n.cl.next
				c.n.cl.calls[corr] = &call{node: scalePeer, sess: c.s, rid: 1, done: make(chan struct{})}
				c.n.mu.Unlock()
			}
			require.NotPanics(t, func() { c.receiveRaw(k, corr, `"sess":"`+c.s.id+`","f":null`) })
			assert.Equal(t, []string{scalePeer}, c.n.Peers())
			c.receive(message{K: kindClaimed, Corr: c.last(kindClaim).Corr}) // refused: nothing waits at shutdown
		})
	}
}

// A claim answer from a peer the claim did not go to is not taken for the
// answer: only the asked peer's is handed over.
func TestClaimAnswerFromAnotherPeer(t *testing.T) {
	c := newFakeClaimer(t)
	const other = "b1b2c3d4"
	c.n.receive(fmt.Appendf(nil, `{"q":1,"k":"welcome","from":%q,"inc":%q,"page":1,"pages":1}`, other, fakeInc))
	require.Len(t, c.n.Peers(), 2)
	corr := c.last(kindClaim).Corr
	c.n.receive(fmt.Appendf(nil, `{"q":2,"k":"claimed","from":%q,"inc":%q,"corr":%d,"live":true,"page":1,"pages":1,"held":[{"type":"peer.message","from":"mallory","text":"not yours"}]}`,
		other, fakeInc, corr))
	c.receive(message{K: kindClaimed, Corr: corr, Live: true, Page: 1, Pages: 1,
		Held: []*protocol.Frame{{Type: protocol.TypePeerMessage, From: "alice", Text: "m1"}}})
	texts, claiming := c.queued()
	assert.Equal(t, []string{"m1"}, texts)
	assert.False(t, claiming, "handed over")
}

// A claim answered with the name of the session the moved one was handed
// to is asked again there, once: a second such answer (a peer that sends
// the claim on and on) is taken as a refusal, not followed round and round
// between the two nodes.
func TestClaimSentOnOnce(t *testing.T) {
	c := newFakeClaimer(t)
	first := c.last(kindClaim)
	c.receive(message{K: kindClaimed, Corr: first.Corr, By: scalePeer + "00000001"})
	require.Equal(t, 2, c.sent(kindClaim), "asked again where the answer sent it")
	again := c.last(kindClaim)
	assert.Equal(t, first.Sess, again.Sess)
	assert.Equal(t, first.Attempt, again.Attempt)
	c.receive(message{K: kindClaimed, Corr: again.Corr, By: scalePeer + "00000002"})
	assert.Equal(t, 2, c.sent(kindClaim), "not sent on a second time")
	_, claiming := c.queued()
	assert.False(t, claiming, "handed over")
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	assert.Empty(t, c.s.claim, "taken as refused")
	assert.NotContains(t, c.n.cl.calls, again.Corr)
}

// The peer messages that wait for a claim's answer (diverted) are bounded
// as a moved session's hold is: MaxMovedMessages wait, to follow what the
// moved session held; one more ends the wait, as its running out would:
// all go on, in order, and what the moved session held comes with the
// answer, after them. Nothing is lost either way. Before, they had no
// bound but time.
func TestClaimDivertedBound(t *testing.T) {
	for _, n := range []int{MaxMovedMessages, MaxMovedMessages + 1} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			c := newFakeClaimer(t)
			var sent []string
			for i := range n {
				sent = append(sent, fmt.Sprint(i))
				c.s.enqueue(&protocol.Frame{Type: protocol.TypePeerMessage, From: "alice", Text: sent[i]})
			}
			texts, claiming := c.queued()
			if n == MaxMovedMessages {
				assert.Empty(t, texts, "waiting for the answer")
				assert.True(t, claiming)
			} else {
				assert.Equal(t, sent, texts, "the wait ended")
				assert.False(t, claiming)
			}
			c.receive(message{K: kindClaimed, Corr: c.last(kindClaim).Corr, Live: true, Page: 1, Pages: 1,
				Held: []*protocol.Frame{{Type: protocol.TypePeerMessage, From: "carol", Text: "held"}}})
			want := append([]string{"held"}, sent...)
			if n > MaxMovedMessages {
				want = append(sent, "held")
			}
			texts, claiming = c.queued()
			assert.Equal(t, want, texts)
			assert.False(t, claiming)
			c.s.qmu.Lock()
			defer c.s.qmu.Unlock()
			assert.Len(t, c.s.owed, min(len(want), MaxMovedMessages), "owed, should the login's reply be lost")
			assert.Equal(t, len(want)-min(len(want), MaxMovedMessages), c.s.owedDropped)
		})
	}
}
