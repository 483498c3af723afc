package server

import (
	"errors"
	"sync"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// A session never leaves its node: a client that resumes it through
// another node (the load balancer sent it elsewhere) is relayed there. The
// node the client reached forwards its frames, as they are, to the
// session's node (relay); that node runs an ordinary connection on a
// virtual WebSocket (vconn) whose writes come back to be written to the
// client. Everything else (the resume, the stream, the watchdogs, the rate
// limit) is the session's node's, unchanged. docs/CLUSTER.md says why this
// rather than moving the session.

// relayQueue bounds the frames waiting to be written to a relayed client
// (a session holds at most maxQueuedFrames unacknowledged ones) and the
// frames from the client waiting to be carried out.
const relayQueue = maxQueuedFrames + 64

var errRelayDropped = errors.New("server: relayed connection dropped")

// relay is a client connected here whose session is on another node.
type relay struct {
	n    *Node
	c    *conn
	node string
	corr uint64
	out  chan relayItem
	stop chan struct{} // closed when the client's connection has ended
}

// relayItem is a frame to write to the client, or the close that ends it.
type relayItem struct {
	data   []byte
	close  bool
	code   ws.StatusCode
	reason string
}

// startRelay hands the connection to the node of the session it resumes,
// with the resume frame as its first frame. When that node is not a live
// peer the session is gone with it: RESUME_FAILED, and the connection stays
// anonymous here.
func (c *conn) startRelay(node string, f *protocol.Frame, data []byte) {
	n := c.n
	n.mu.Lock()
	if c.drained {
		n.mu.Unlock()
		n.m.resumes.WithLabelValues(errShuttingDown.Code.String()).Inc()
		c.directError(f.RID, errShuttingDown) // closing with 1012 (Drain): as resumeLocked
		return
	}
	if n.closing || n.cl.peers[node] == nil {
		n.mu.Unlock()
		c.log().Info("resume refused: the session's node is not a live peer", "session", f.Session, "node", node)
		n.m.resumes.WithLabelValues(errResumeFailed.Code.String()).Inc()
		c.directError(f.RID, errResumeFailed)
		return
	}
	n.cl.next++
	r := &relay{n: n, c: c, node: node, corr: n.cl.next, out: make(chan relayItem, relayQueue), stop: make(chan struct{})}
	n.cl.relays[r.corr] = r
	c.relay = r
	n.tell(node, &message{K: kindRelayOpen, Corr: r.corr, Data: data})
	n.mu.Unlock()
	c.stopWatch() // the session's node watches the connection
	c.log().Info("relaying to the session's node", "session", f.Session, "node", node)
	n.wg.Go(r.writeLoop)
}

// in forwards a frame from the client. Read loop only.
func (r *relay) in(typ ws.OpCode, data []byte) {
	r.n.tell(r.node, &message{K: kindRelayIn, Corr: r.corr, Data: data, Binary: typ == ws.OpBinary})
}

// end tells the session's node how the client's connection ended and stops
// the writer. Read loop only, once.
func (r *relay) end(err error) {
	n := r.n
	n.mu.Lock()
	if n.cl.relays[r.corr] == r {
		delete(n.cl.relays, r.corr)
		var ce wsutil.ClosedError
		m := &message{K: kindRelayEnd, Corr: r.corr, Code: -1}
		if errors.As(err, &ce) {
			m.Code, m.Reason = int(ce.Code), ce.Reason
		}
		n.tell(r.node, m)
	}
	n.mu.Unlock()
	close(r.stop)
}

// push queues an item for the writer; a client too slow to take them is
// dropped (it may resume).
func (r *relay) push(it relayItem) {
	select {
	case r.out <- it:
	default:
		r.c.log().Warn("relayed client too slow: dropping its connection")
		r.c.ws.CloseNow()
	}
}

// relayBatch bounds the frames the relay's writer writes with one system call.
const relayBatch = 64

// writeLoop writes what the session's node sends, in order: what is queued
// at once, up to relayBatch frames, with one system call when the
// connection collects writes (batcher).
func (r *relay) writeLoop() {
	for {
		select {
		case it := <-r.out:
			if !r.write(it) {
				return
			}
		case <-r.stop:
			return
		case <-r.n.ctx.Done():
			r.c.ws.CloseNow()
			return
		}
	}
}

// write writes it and what else is queued, up to relayBatch frames, and
// reports whether the connection is still open.
func (r *relay) write(it relayItem) bool {
	b, batched := r.c.ws.(batcher)
	if batched {
		b.cork()
	}
	var err error
	for k := 0; ; k++ {
		if it.close {
			if batched {
				err = b.uncork(r.n.ctx)
			}
			if err == nil {
				r.c.ws.Close(it.code, it.reason)
				return false
			}
			break
		}
		err = r.c.ws.Write(it.data)
		if err != nil || k+1 == relayBatch {
			break
		}
		select {
		case it = <-r.out:
			continue
		default:
		}
		break
	}
	if batched {
		if uerr := b.uncork(r.n.ctx); err == nil {
			err = uerr
		}
	}
	if err != nil {
		r.c.log().Info("relayed write failed; dropping connection", "err", err)
		r.c.ws.CloseNow()
		return false
	}
	return true
}

// relayOutLocked handles what the session's node sends for a relay here.
func (n *Node) relayOutLocked(m *message) {
	r := n.cl.relays[m.Corr]
	if r == nil {
		return
	}
	switch m.K {
	case kindRelayOut:
		r.push(relayItem{data: m.Data})
	case kindRelayClose:
		r.push(relayItem{close: true, code: ws.StatusCode(m.Code), reason: m.Reason})
	case kindRelayDrop:
		r.c.ws.CloseNow()
	}
}

// relayKey names a vconn: the client's node and its relay's corr.
type relayKey struct {
	node string
	corr uint64
}

// vconn is a client connected to another node, as a WebSocket here.
type vconn struct {
	n   *Node
	key relayKey
	in  chan relayFrame

	mu   sync.Mutex
	err  error         // why reading ended
	gone chan struct{} // closed when reading ends
}

type relayFrame struct {
	typ  ws.OpCode
	data []byte
}

var _ wsConn = (*vconn)(nil)

// relayInLocked handles what a relaying node sends for a session here.
func (n *Node) relayInLocked(p *peer, m *message) {
	key := relayKey{node: p.id, corr: m.Corr}
	if m.K == kindRelayOpen {
		if n.closing {
			n.tell(p.id, &message{K: kindRelayDrop, Corr: m.Corr})
			return
		}
		v := &vconn{n: n, key: key, in: make(chan relayFrame, relayQueue), gone: make(chan struct{})}
		n.cl.vconns[key] = v
		v.push(ws.OpText, m.Data)
		n.wg.Go(func() { newConn(n, v, "relay:"+p.id).run() })
		return
	}
	v := n.cl.vconns[key]
	if v == nil {
		return
	}
	switch m.K {
	case kindRelayIn:
		typ := ws.OpText
		if m.Binary {
			typ = ws.OpBinary
		}
		v.push(typ, m.Data)
	case kindRelayEnd:
		var err error = errRelayDropped
		if m.Code != -1 {
			err = wsutil.ClosedError{Code: ws.StatusCode(m.Code), Reason: m.Reason}
		}
		v.end(err)
	}
}

// relaysGoneLocked drops the connections relayed through, or to, node.
func (n *Node) relaysGoneLocked(node string) {
	for corr, r := range n.cl.relays {
		if r.node == node {
			delete(n.cl.relays, corr)
			r.c.ws.CloseNow() // the client resumes elsewhere: RESUME_FAILED
		}
	}
	for key, v := range n.cl.vconns {
		if key.node == node {
			delete(n.cl.vconns, key)
			v.end(errRelayDropped) // the session is kept for resume
		}
	}
}

func (v *vconn) push(typ ws.OpCode, data []byte) {
	select {
	case v.in <- relayFrame{typ: typ, data: data}:
	default:
		v.n.log.Warn("relayed client sends faster than it is served: dropping its connection", "peer", v.key.node)
		v.CloseNow()
	}
}

// end makes Read return err once the frames before it are read.
func (v *vconn) end(err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.err == nil {
		v.err = err
		close(v.gone)
	}
}

func (v *vconn) Read() (ws.OpCode, []byte, error) {
	select {
	case f := <-v.in:
		return f.typ, f.data, nil
	default:
	}
	select {
	case f := <-v.in:
		return f.typ, f.data, nil
	case <-v.gone:
		select {
		case f := <-v.in:
			return f.typ, f.data, nil
		default:
		}
		return 0, nil, v.err
	}
}

func (v *vconn) Write(data []byte) error {
	select {
	case <-v.gone:
		return v.err
	default:
	}
	v.n.tell(v.key.node, &message{K: kindRelayOut, Corr: v.key.corr, Data: data})
	return nil
}

// Close has the client's node close the client's connection after what it
// was sent; reading goes on until that node reports the close.
func (v *vconn) Close(code ws.StatusCode, reason string) error {
	v.n.tell(v.key.node, &message{K: kindRelayClose, Corr: v.key.corr, Code: int(code), Reason: reason})
	return nil
}

// CloseNow drops the client's connection.
func (v *vconn) CloseNow() error {
	v.mu.Lock()
	first := v.err == nil
	v.mu.Unlock()
	if first {
		v.end(errRelayDropped)
		v.n.tell(v.key.node, &message{K: kindRelayDrop, Corr: v.key.corr})
	}
	return nil
}
