//go:build !js

package soak

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
)

// DecisionKind is how the server ended an invitation (docs/PROTOCOL.md,
// "Invitation lifecycle"). The server decides exactly once; every party's
// terminal event must be explained by that one decision.
type DecisionKind uint8

const (
	DecAccepted   DecisionKind = iota + 1 // a device accepted
	DecRefused                            // a device refused
	DecCanceled                           // the caller canceled
	DecExpired                            // nobody answered in time: INVITATION_EXPIRE on both ends
	DecNoResponse                         // no device acknowledged: PEER_NO_RESPONSE / INVITATION_EXPIRE
	DecCalleeGone                         // no callee session rang, or all left: PEER_OFFLINE to the caller
	DecCallerLeft                         // the caller's session left: PEER_OFFLINE to the devices
	DecShutdown                           // the server shut down: UNKNOWN on both ends
)

var decisionNames = []string{"?", "accepted", "refused", "canceled", "expired", "no-response", "callee-gone",
	"caller-left", "shutdown"}

func (k DecisionKind) String() string {
	if int(k) < len(decisionNames) {
		return decisionNames[k]
	}
	return "?"
}

// Decision is one possible server decision; By names the answering device
// for DecAccepted and DecRefused.
type Decision struct {
	Kind DecisionKind
	By   string
}

func (d Decision) String() string {
	if d.By != "" {
		return d.Kind.String() + " by " + d.By
	}
	return d.Kind.String()
}

// Violation is one broken invariant.
type Violation struct {
	Flow   int    // -1 when not about one flow
	Action string // the flow's action
	Inv    string
	What   string // the invariant, e.g. "lost", "disagree"
	Detail string
}

func (v Violation) String() string {
	if v.Flow < 0 {
		return v.What + ": " + v.Detail
	}
	return fmt.Sprintf("flow %d (%s, inv %s): %s: %s", v.Flow, v.Action, v.Inv, v.What, v.Detail)
}

// Check returns every invariant r breaks, and the decisions consistent
// with what its parties saw (more than one only when a party that left
// could not learn the outcome).
func Check(r *Record) ([]Violation, []Decision) {
	r = nodeDeaths(r)
	var out []Violation
	bad := func(what, format string, args ...any) {
		out = append(out, Violation{Flow: r.Flow, Action: r.Action, Inv: r.Inv, What: what, Detail: fmt.Sprintf(format, args...)})
	}
	for _, p := range r.Problems {
		bad("driver", "%s", p)
	}
	if r.CallEnded {
		checkCall(r, bad)
	}
	if len(r.Died) == 0 && len(r.Reset) == 0 {
		// docs/CLUSTER.md "When a node dies": a message in flight to or
		// from a node that dies is lost with it; "Lost messages": so is one
		// a reset skipped.
		checkMessages(r, bad)
	}

	// Per party: legal order, nothing twice, exactly one terminal event.
	byParty := map[string][]Event{}
	var parties []string
	for _, e := range sortedEvents(r.Events) {
		if _, ok := byParty[e.Party]; !ok {
			parties = append(parties, e.Party)
		}
		byParty[e.Party] = append(byParty[e.Party], e)
	}
	terminal := map[string]Event{}
	for _, p := range parties {
		if t, ok := checkOrder(p, byParty[p], bad); ok {
			terminal[p] = t
		}
	}
	callerEnd, callerDone := terminal[Caller]
	if !callerDone {
		bad("lost", "the caller has no terminal event (saw %s)", eventList(byParty[Caller]))
	}

	// Who rang: every session logged in at send, except that a session
	// that left may have closed before reading its invite; and the sessions
	// of the callee that logged in while it was pending (late ringing,
	// PROTOCOL.md lifecycle 1), which ring and end like the others. A
	// session that logged in after the caller's end (the server had
	// decided) must not ring; one that logged in before a winning
	// operation began must (checked below, with the decision).
	var rang []string
	for _, p := range parties {
		if p != Caller {
			rang = append(rang, p)
		}
	}
	for _, d := range rang {
		l, late := r.late(d)
		switch {
		case !late && !slices.Contains(r.Expected, d) && !(slices.Contains(r.Died, d) && strings.HasPrefix(d, r.Callee+".d")):
			// (A session of the callee lost with its node before the send
			// may still ring until its death is known: docs/CLUSTER.md.)
			bad("unexpected invite", "%s rang but is neither a session of the callee %s at send (%v) nor one that logged in later (%v)",
				d, r.Callee, r.Expected, r.Late)
		case late && callerDone && !r.left(Caller).gone() && l.Began > callerEnd.Seq:
			bad("unexpected invite", "%s rang but logged in after the caller's %s", d, callerEnd)
		}
		if _, ok := terminal[d]; !ok && !slices.Contains(r.Drained, d) {
			// (A drained device rung late on its new node as the flow was
			// checked gets its end after: book.close excuses it.)
			bad("lost", "%s has no terminal event (saw %s)", d, eventList(byParty[d]))
		}
	}
	for _, d := range r.Expected {
		// docs/CLUSTER.md "When a node dies": an invite in flight when its node died
		// may be lost.
		// "Lost messages": a lost invite resets the pair, which stops
		// ringing the device.
		if !slices.Contains(rang, d) && !r.left(d).gone() && !slices.Contains(r.Died, Caller) && !slices.Contains(r.Reset, d) && !slices.Contains(r.Drained, d) {
			bad("lost", "%s was logged in at send and its session went on, but it never got the invite", d)
		}
	}
	if callerDone && len(byParty[Caller]) > 1 && len(rang) == 0 {
		bad("disagree", "the caller saw received-by-peer but no device got the invite")
	}
	if !callerDone {
		return out, nil
	}

	// Both ends agree: some decision of the server explains every party's
	// terminal event and every operation's result.
	candidates := []Decision{{Kind: DecCanceled}, {Kind: DecExpired}, {Kind: DecNoResponse}, {Kind: DecCalleeGone},
		{Kind: DecCallerLeft}, {Kind: DecShutdown}}
	for _, d := range rang {
		candidates = append(candidates, Decision{DecAccepted, d}, Decision{DecRefused, d})
	}
	var consistent []Decision
	for _, c := range candidates {
		if explains(r, c, callerEnd, terminal, rang, byParty) {
			consistent = append(consistent, c)
		}
	}
	if len(consistent) == 0 {
		var ends []string
		ends = append(ends, callerEnd.String()+leftNote(r, Caller))
		for _, d := range rang {
			if t, ok := terminal[d]; ok {
				ends = append(ends, t.String()+leftNote(r, d))
			}
		}
		for _, op := range r.Ops {
			ends = append(ends, fmt.Sprintf("op %s %s -> %s (%s)", op.Party, op.Name, codeName(op.Code), op.State))
		}
		bad("disagree", "no single server decision explains: %s", strings.Join(ends, "; "))
		return out, nil
	}
	for _, l := range r.Late {
		// (Nor when the invitation's node died: its invite may never reach a device.)
		// (Nor when its node drained: it may have moved as its invite came, Drained.)
		if !slices.Contains(rang, l.Key) && !r.left(l.Key).gone() && !slices.Contains(r.Reset, l.Key) && !slices.Contains(r.Died, Caller) &&
			!slices.Contains(r.Drained, l.Key) && decidedAfter(r, consistent, l.Done) {
			bad("lost", "%s logged in while the invitation was pending (before the operation that decided it) but never got the invite", l.Key)
		}
	}
	if len(r.Allowed) > 0 && !slices.ContainsFunc(consistent, func(d Decision) bool { return slices.Contains(r.Allowed, d.Kind) }) {
		bad("unexpected outcome", "ended %v; the action allows %v", consistent, r.Allowed)
	}
	checkPayloads(r, bad)
	for _, op := range r.Ops {
		if !opCodeAllowed(r, op) {
			bad("op error", "%s %s returned %s", op.Party, op.Name, codeName(op.Code))
		}
		if op.Code == protocol.CodeAlreadyEnd && !op.Ended {
			// PROTOCOL.md: the winner's events are sent before the loser's error.
			bad("order", "%s %s returned ALREADY_END while its invitation was still %s", op.Party, op.Name, op.State)
		}
	}
	return out, consistent
}

// nodeDeaths returns r as the checker holds it when parties' nodes died
// (docs/CLUSTER.md "When a node dies"): such a party, unless it had left
// already, lost its session without a word (LeftNodeDied, abrupt: its
// client ends its invitations itself); the others may see the decisions
// that a death makes (PEER_OFFLINE: the callee gone when its ringing
// sessions were there, the caller gone when the owner died) or the cancel
// the driver then issues so that live devices stop ringing.
func nodeDeaths(r *Record) *Record {
	if len(r.Died) == 0 && len(r.Reset) == 0 {
		return r
	}
	c := *r
	if len(c.Allowed) > 0 {
		// The driver's cancel; PEER_OFFLINE when every device rung was
		// across the reset or on the dead node.
		c.Allowed = append(slices.Clone(c.Allowed), DecCanceled, DecCalleeGone, DecCallerLeft)
	}
	if len(r.Died) == 0 {
		return &c
	}
	c.Left = maps.Clone(r.Left)
	if c.Left == nil {
		c.Left = map[string]Leave{}
	}
	for _, p := range r.Died {
		if l := c.Left[p]; !l.gone() || l == LeftLogout {
			c.Left[p] = LeftNodeDied // a logout the dying node may never have read
		}
	}
	return &c
}

// checkPayloads checks that what the caller sent reached every device
// intact, and the winner's response reached the caller.
func checkPayloads(r *Record, bad func(what, format string, args ...any)) {
	for _, e := range r.Events {
		switch {
		case e.Kind == KindInvite && e.Text != r.Content+"|"+r.Channel:
			bad("payload", "%s got content|channel %q, the caller sent %q", e.Party, e.Text, r.Content+"|"+r.Channel)
		case e.Kind == KindCanceled && e.Party != Caller && e.Text != r.Content:
			bad("payload", "%s got cancel content %q, the caller sent %q", e.Party, e.Text, r.Content)
		case (e.Kind == KindAccepted || e.Kind == KindRefused) && e.Party == Caller:
			for _, op := range r.Ops {
				if op.Code == 0 && (op.Name == "accept") == (e.Kind == KindAccepted) && op.Name != "cancel" && e.Text != op.Response {
					bad("payload", "the caller got response %q, %s answered %q", e.Text, op.Party, op.Response)
				}
			}
		}
	}
}

// checkOrder checks one party's events: a device's invite comes first and
// once; the caller's received-by-peer at most once; one terminal event,
// last. It returns the terminal event.
func checkOrder(party string, evs []Event, bad func(what, format string, args ...any)) (Event, bool) {
	var end Event
	ended := false
	for i, e := range evs {
		switch {
		case ended:
			bad("after end", "%s got %s after its terminal %s (events: %s)", party, e.Kind, end.Kind, eventList(evs))
			return end, true
		case party == Caller && e.Kind == KindInvite, party != Caller && e.Kind == KindReceived:
			bad("order", "%s got %s, an event of the other side", party, e.Kind)
		case party != Caller && i == 0 && e.Kind != KindInvite:
			bad("order", "%s got %s before the invite", party, e.Kind)
		case e.Kind == KindInvite && i > 0, e.Kind == KindReceived && i > 0:
			bad("twice", "%s got %s again (events: %s)", party, e.Kind, eventList(evs))
		case e.Kind.terminal():
			end, ended = e, true
		}
	}
	return end, ended
}

// explains reports whether decision c explains every party's terminal
// event and every operation's result in r.
func explains(r *Record, c Decision, callerEnd Event, terminal map[string]Event, rang []string,
	byParty map[string][]Event) bool {
	// Preconditions of the decision itself.
	switch c.Kind {
	case DecCalleeGone:
		for _, d := range slices.Concat(r.Expected, rang) {
			if !r.left(d).gone() && !slices.Contains(r.Reset, d) { // a reset stops ringing those across
				return false
			}
		}
	case DecCallerLeft:
		if !r.left(Caller).gone() {
			return false
		}
	case DecNoResponse:
		if len(byParty[Caller]) > 1 { // received-by-peer: a device acknowledged in time
			return false
		}
	}
	if !callerExplained(c, callerEnd, r.left(Caller)) {
		return false
	}
	ownerDied := slices.Contains(r.Died, Caller)
	for _, d := range rang {
		if t, ok := terminal[d]; ok && !deviceExplained(c, d, t, r.left(d), ownerDied || slices.Contains(r.Reset, d)) {
			return false
		}
	}
	for _, op := range r.Ops {
		if (ownerDied || slices.Contains(r.Reset, op.Party)) && op.Party != Caller && op.Code == protocol.CodeAlreadyEnd {
			continue // its win may have died with the node, or a settle given up, before the reply
		}
		won := (op.Name == "accept" && c == Decision{DecAccepted, op.Party}) ||
			(op.Name == "refuse" && c == Decision{DecRefused, op.Party}) ||
			(op.Name == "cancel" && c.Kind == DecCanceled)
		if (op.Code == 0) != won && (op.Code == 0 || op.Code == protocol.CodeAlreadyEnd) {
			return false
		}
	}
	return true
}

// decidedAfter reports whether every decision in cs was made by an
// operation that succeeded and began after seq: the invitation was then
// still pending at seq.
func decidedAfter(r *Record, cs []Decision, seq uint64) bool {
	for _, c := range cs {
		won := slices.ContainsFunc(r.Ops, func(op Op) bool {
			return op.Code == 0 && op.Began > seq && (op.Name == "cancel" && c.Kind == DecCanceled ||
				op.Name == "accept" && c == Decision{DecAccepted, op.Party} || op.Name == "refuse" && c == Decision{DecRefused, op.Party})
		})
		if !won {
			return false
		}
	}
	return len(cs) > 0
}

// callerExplained maps the caller's terminal event to the decisions that
// send it (PROTOCOL.md steps 2 to 8).
func callerExplained(c Decision, t Event, left Leave) bool {
	if left.abrupt() && t.Kind == KindFailure && t.Reason == core.LocalFailureUnknown.String() {
		return true // the client ended it itself: it cannot know the decision
	}
	switch t.Kind {
	case KindAccepted:
		return c.Kind == DecAccepted
	case KindRefused:
		return c.Kind == DecRefused
	case KindCanceled:
		return c.Kind == DecCanceled
	case KindFailure:
		switch t.Reason {
		case core.LocalFailureInvitationExpire.String():
			return c.Kind == DecExpired
		case core.LocalFailurePeerNoResponse.String():
			return c.Kind == DecNoResponse
		case core.LocalFailurePeerOffline.String():
			return c.Kind == DecCalleeGone
		case core.LocalFailureNotLoggedIn.String():
			return c.Kind == DecCallerLeft && left.gone()
		case core.LocalFailureUnknown.String():
			return c.Kind == DecShutdown
		}
	}
	return false
}

// deviceExplained maps a callee device's terminal event to the decisions
// that send it. ownerLost: the invitation's node died, or a reset of its
// pair with the device's node ended the ringing ("Lost messages": the
// owner stops ringing it, or the settle gives up). When the invitation's node (the caller's) died, a device on
// a live node ends with PEER_OFFLINE whatever the dead node had decided
// that did not reach it (docs/CLUSTER.md: "invitations it owned that ring
// sessions on live nodes end there with remote.failure PEER_OFFLINE"; a
// message in flight when a node's link breaks may be lost), even the
// device's own win, whose reply died with the node ("a request waiting for
// its answer gets ALREADY_END").
func deviceExplained(c Decision, dev string, t Event, left Leave, ownerLost bool) bool {
	if ownerLost && t.Kind == KindFailure && t.Reason == core.RemoteFailurePeerOffline.String() {
		return true
	}
	if t.Kind == KindFailure {
		switch t.Reason {
		case core.RemoteFailureAcceptFailure.String():
			// The client's own end with an accept in flight: any decision.
			return left.abrupt()
		case core.RemoteFailureUnknown.String():
			if left.abrupt() || left == LeftLogout {
				// The client's own end (or the server's answer to its
				// logout) while ringing: it had not won the invitation.
				return c != Decision{DecAccepted, dev}
			}
			return c.Kind == DecShutdown
		}
	}
	switch t.Kind {
	case KindAccepted:
		return c == Decision{DecAccepted, dev}
	case KindRefused:
		return c == Decision{DecRefused, dev}
	case KindCanceled:
		return c.Kind == DecCanceled
	case KindFailure:
		switch t.Reason {
		case core.RemoteFailureAnsweredElsewhere.String():
			return (c.Kind == DecAccepted || c.Kind == DecRefused) && c.By != dev
		case core.RemoteFailureInvitationExpire.String():
			return c.Kind == DecExpired || c.Kind == DecNoResponse
		case core.RemoteFailurePeerOffline.String():
			return c.Kind == DecCallerLeft
		}
	}
	return false
}

// opCodeAllowed reports whether op's code is one the protocol allows for
// it: success, ALREADY_END (it lost a race), or NOT_CONNECTED from a party
// whose session went away (a resumed session holds its operations and
// sends them on resume instead).
func opCodeAllowed(r *Record, op Op) bool {
	switch op.Code {
	case 0, protocol.CodeAlreadyEnd:
		return true
	case protocol.CodeNotConnected:
		return r.left(op.Party).gone()
	case protocol.CodeUnknown:
		// docs/CLUSTER.md "Lost messages": a request forwarded to a node that
		// dies waits at most 2 × PeerTimeout, then UNKNOWN.
		return len(r.Died) > 0
	}
	return false
}

func sortedEvents(evs []Event) []Event {
	s := slices.Clone(evs)
	slices.SortStableFunc(s, func(a, b Event) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	return s
}

func eventList(evs []Event) string {
	if len(evs) == 0 {
		return "nothing"
	}
	parts := make([]string, len(evs))
	for i, e := range evs {
		parts[i] = e.Kind.String()
		if e.Kind == KindFailure {
			parts[i] += " " + e.Reason
		}
	}
	return strings.Join(parts, ", ")
}

func leftNote(r *Record, party string) string {
	if l := r.left(party); l != Stayed {
		return " (" + l.String() + ")"
	}
	return ""
}

func codeName(c protocol.Code) string {
	if c == 0 {
		return "ok"
	}
	return c.String()
}

// Outcome names how a flow ended for its caller, e.g. "ACCEPTED_BY_REMOTE"
// or "FAILURE PEER_OFFLINE", for the report.
func Outcome(r *Record) string {
	for _, e := range sortedEvents(r.Events) {
		if e.Party == Caller && e.Kind.terminal() {
			return partyOutcome(e)
		}
	}
	return "NONE"
}

// partyOutcome names a terminal event with the state it leaves the party in.
func partyOutcome(e Event) string {
	caller := e.Party == Caller
	switch e.Kind {
	case KindAccepted:
		if caller {
			return core.LocalAcceptedByRemote.String()
		}
		return core.RemoteAccepted.String()
	case KindRefused:
		if caller {
			return core.LocalRefusedByRemote.String()
		}
		return core.RemoteRefused.String()
	case KindCanceled:
		return core.LocalCanceled.String()
	case KindFailure:
		return "FAILURE " + e.Reason
	}
	return e.Kind.String()
}

// checkCall: a call follows an acceptance only, and ends exactly once on
// both of its sides (the caller and the device that accepted, when that
// device saw its acceptance); two hang-ups at once agree on who won.
func checkCall(r *Record, bad func(what, format string, args ...any)) {
	sides := map[string]bool{}
	for _, e := range r.Events {
		if e.Kind == KindAccepted {
			sides[e.Party] = true
		}
	}
	ends := map[string][]CallEnd{}
	for _, c := range r.CallEnds {
		ends[c.Party] = append(ends[c.Party], c)
	}
	for p, es := range ends {
		if !sides[p] {
			bad("call", "%s saw its call end (%+v) without an acceptance", p, es)
		}
	}
	for p := range sides {
		if len(ends[p]) != 1 {
			bad("call", "%s saw its call end %d times: %+v", p, len(ends[p]), ends[p])
		}
	}
	var hangups []CallEnd
	for _, c := range r.CallEnds {
		if c.Reason == "HANGUP" {
			hangups = append(hangups, c)
		}
	}
	if len(hangups) == 2 && hangups[0].By != hangups[1].By {
		bad("call", "the two sides disagree on who hung up: %+v", hangups)
	}
}

// checkMessages: every callee session that stayed or resumed got each of
// the flow's messages exactly once, in order; one whose node drained
// (Drained) may miss those sent while it moved (docs/CLUSTER.md "Drain and
// rolling restart"), not get one twice or out of order.
func checkMessages(r *Record, bad func(what, format string, args ...any)) {
	if len(r.Messages) == 0 {
		return
	}
	for _, key := range r.Expected {
		if l := r.left(key); l != Stayed && l != LeftResumed {
			continue
		}
		got := r.Got[key]
		if slices.Contains(r.Drained, key) && inOrderOnce(got, r.Messages) {
			continue
		}
		if !slices.Equal(got, r.Messages) {
			bad("message", "%s (%s) got %v, want %v", key, r.left(key), got, r.Messages)
		}
	}
}

// inOrderOnce reports whether got is want with some left out.
func inOrderOnce(got, want []string) bool {
	i := 0
	for _, g := range got {
		for i < len(want) && want[i] != g {
			i++
		}
		if i == len(want) {
			return false
		}
		i++
	}
	return true
}
