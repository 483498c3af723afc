package server

import (
	"log/slog"
	"slices"
	"time"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
)

// Settling after a reset (docs/CLUSTER.md, "Lost messages"). A pair of
// nodes that reset each other for a lost message is alive, and meets again
// within a round trip. The invitations that rang sessions here and were
// owned there are then settled rather than failed blind, so that caller
// and callee agree: this node keeps them ringing and holds the answers
// waiting for the owner; once the owner is a peer again it asks it
// (settle), the owner answers with its last word to each session on each
// invitation (what it sent, or meant to: accepted, refused, canceled,
// failure) and whether it took the session's answer (settled), and this
// node delivers the words and replies to the held answers. The owner ended the calls across the
// pair with the reset; an accepted invitation's call ends with it
// (PEER_OFFLINE). What is not settled within PeerTimeout of the reset (the
// owner died, or restarted) fails as after a death.

// settleEntry is a session and an invitation ringing it; in a settled
// answer, the owner's last word to the session on it (F), and whether the
// session's answer was taken (OK).
type settleEntry struct {
	Sess string          `json:"s"`
	Inv  string          `json:"i"`
	F    *protocol.Frame `json:"f,omitempty"`
	OK   bool            `json:"ok,omitempty"`
}

// settling is what this node waits to hear from an owner that reset.
type settling struct {
	inc     string        // the owner's incarnation: a restarted owner settles nothing
	entries []settleEntry // in the order they rang
	held    []uint64      // forwarded answers (cluster.calls) waiting for their reply
	timer   *time.Timer
}

// toldLocked records f, a frame for remote session sid, as the last word
// of its invitation to that session, if it is one.
func (n *Node) toldLocked(sid string, f *protocol.Frame) {
	switch f.Type {
	case protocol.TypeRemoteAccepted, protocol.TypeRemoteRefused, protocol.TypeRemoteCanceled, protocol.TypeRemoteFailure:
	default:
		return
	}
	inv := n.invs.byID[f.Inv]
	if inv == nil {
		return
	}
	if inv.told == nil {
		inv.told = make(map[string]*protocol.Frame)
	}
	inv.told[sid] = f
}

// unsettledLocked keeps invitation inv, owned by p, ringing s until p
// settles it.
func (n *Node) unsettledLocked(p *peer, s *session, inv string) {
	st := n.cl.unsettled[p.id]
	if st == nil {
		st = &settling{inc: p.inc}
		id := p.id
		st.timer = time.AfterFunc(n.cfg.PeerTimeout, func() {
			n.mu.Lock()
			defer n.mu.Unlock()
			if n.cl.unsettled[id] == st {
				n.logLocked(n.log, slog.LevelWarn, "invitations not settled by their node in time", "peer", id, "invitations", len(st.entries))
				n.unsettleLocked(id, nil, "late")
			}
		})
		n.cl.unsettled[p.id] = st
	}
	if e := (settleEntry{Sess: s.id, Inv: inv}); !slices.Contains(st.entries, e) { // reset again before the settle
		st.entries = append(st.entries, e)
	}
}

// holdLocked keeps forwarded request c (corr) to p waiting for the settle
// when it answers an invitation being settled.
func (n *Node) holdLocked(p *peer, corr uint64, c *call) bool {
	st := n.cl.unsettled[p.id]
	if st == nil || c.req == nil || (c.req.Type != protocol.TypeAccept && c.req.Type != protocol.TypeRefuse) {
		return false
	}
	if !slices.Contains(st.entries, settleEntry{Sess: c.sess.id, Inv: c.req.Inv}) {
		return false
	}
	if !slices.Contains(st.held, corr) {
		st.held = append(st.held, corr)
	}
	return true
}

// settleAskLocked asks p, a peer again, what became of what it owes here.
func (n *Node) settleAskLocked(p *peer) {
	st := n.cl.unsettled[p.id]
	if st == nil {
		return
	}
	if st.inc != p.inc {
		n.unsettleLocked(p.id, nil, "restarted") // what it owned is gone
		return
	}
	// Only what still rings: a settle cut short by another reset told
	// some sessions already.
	var ask []settleEntry
	for _, e := range st.entries {
		if s := n.hub.sessions[e.Sess]; s != nil {
			if _, ringing := s.remoteRinging[e.Inv]; ringing {
				ask = append(ask, e)
			}
		}
	}
	n.tell(p.id, &message{K: kindSettle, Ask: ask})
}

// settleAnswerLocked answers p's settle: for each session and invitation
// it asks about, the last word this node had for it, in one message, so
// that a settle is all or nothing.
func (n *Node) settleAnswerLocked(p *peer, ask []settleEntry) {
	var words []settleEntry
	for _, e := range ask {
		if ownerOf(e.Inv) != n.id {
			continue
		}
		var word *protocol.Frame
		answerer := ""
		if t := n.invs.ended[e.Inv]; t != nil {
			word, answerer = t.told[e.Sess], t.answerer
		} else if inv := n.invs.byID[e.Inv]; inv != nil {
			word = inv.told[e.Sess]
		}
		switch {
		case answerer == e.Sess:
			e.F, e.OK = &protocol.Frame{Type: protocol.TypeRemoteAccepted, Inv: e.Inv}, true
		case word == nil: // never told: it stopped ringing with the reset
			e.F = &protocol.Frame{Type: protocol.TypeRemoteFailure, Inv: e.Inv, Reason: core.RemoteFailurePeerOffline.String()}
		default:
			e.F, e.OK = word, word.Type == protocol.TypeRemoteRefused
		}
		words = append(words, e)
	}
	n.tell(p.id, &message{K: kindSettled, Ask: words})
}

// settledLocked applies the owner's words: each still ringing session
// gets its word, as if the owner had just sent it, the held answers their
// reply, and an accepted invitation's call, which ended with the reset,
// its end.
func (n *Node) settledLocked(p *peer, words []settleEntry) {
	if n.cl.unsettled[p.id] == nil {
		return
	}
	var answered []settleEntry
	for _, e := range words {
		if e.F == nil || e.F.Inv != e.Inv {
			continue
		}
		if s := n.hub.sessions[e.Sess]; s != nil {
			if _, ringing := s.remoteRinging[e.Inv]; ringing {
				n.deliverWordLocked(p, e)
			}
		}
		if e.OK {
			answered = append(answered, settleEntry{Sess: e.Sess, Inv: e.Inv})
		}
	}
	n.unsettleLocked(p.id, answered, "settled")
	for _, e := range words {
		if e.F != nil && e.F.Type == protocol.TypeRemoteAccepted {
			if s := n.hub.sessions[e.Sess]; s != nil {
				if _, in := s.inCall[e.Inv]; in {
					n.deliverLocked(p, e.Sess, callEnded(e.Inv, core.CallEndPeerOffline))
				}
			}
		}
	}
}

// deliverWordLocked delivers the owner's word e to its session. The
// remote.accepted of an accept the settle held is that accept's reply: it
// carries its rid, and the held request is answered with it.
func (n *Node) deliverWordLocked(p *peer, e settleEntry) {
	if e.F.Type == protocol.TypeRemoteAccepted && e.OK {
		for _, corr := range n.cl.unsettled[p.id].held {
			if c := n.cl.calls[corr]; c != nil && c.sess.id == e.Sess && c.req.Inv == e.Inv && c.req.Type == protocol.TypeAccept {
				f := *e.F
				f.RID = c.rid
				n.deliverLocked(p, e.Sess, &f)
				delete(n.cl.calls, corr)
				n.replyLocked(c, &protocol.Frame{Type: protocol.TypeOK, RID: c.rid}) // queues nothing: f was it
				return
			}
		}
	}
	n.deliverLocked(p, e.Sess, e.F)
}

// unsettleLocked ends what node id owes here: what is still ringing fails
// PEER_OFFLINE, and the held answers get their reply (ok for the sessions
// in answered, ALREADY_END for the others). result counts the invitations
// in the metric.
func (n *Node) unsettleLocked(id string, answered []settleEntry, result string) {
	st := n.cl.unsettled[id]
	delete(n.cl.unsettled, id)
	st.timer.Stop()
	n.m.settles.WithLabelValues(result).Add(float64(len(st.entries)))
	for _, e := range st.entries {
		s := n.hub.sessions[e.Sess]
		if s == nil {
			continue
		}
		if _, ringing := s.remoteRinging[e.Inv]; ringing {
			delete(s.remoteRinging, e.Inv)
			s.enqueue(&protocol.Frame{Type: protocol.TypeRemoteFailure, Inv: e.Inv, Reason: core.RemoteFailurePeerOffline.String()})
			n.remoteEndedLocked(e.Inv, s.id)
		}
	}
	for _, corr := range st.held {
		c := n.cl.calls[corr]
		if c == nil {
			continue // answered meanwhile (forward's own timeout)
		}
		delete(n.cl.calls, corr)
		if slices.Contains(answered, settleEntry{Sess: c.sess.id, Inv: c.req.Inv}) {
			n.replyLocked(c, &protocol.Frame{Type: protocol.TypeOK, RID: c.rid})
		} else {
			n.replyLocked(c, protocol.ErrorFrame(c.rid, errAlreadyEnd))
		}
	}
}
