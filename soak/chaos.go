//go:build !js

package soak

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

// A chaos kind disturbs a cluster shard while flows run, then repairs it:
// it returns once the cluster is whole again and every device it took down
// is logged in anew. To add one (loss between nodes), add a row to
// chaosKinds; if it ends sessions, say so with
// harness.nodeDied, which relaxes what their flows may show exactly as
// docs/CLUSTER.md "When a node dies" does, and nothing more (loss, which
// ends no session, has its own: lossWindow).
type chaos struct {
	name string
	run  func(ctx context.Context, h *harness, sh *shard, rng *rand.Rand) error
}

var chaosKinds = []chaos{
	{"kill-restart", killRestart},
	{"rolling-restart", rollingRestart},
	{"kill", killForGood},
	{"partition", partition},
	{"drain", drainRestart},
	{"loss", loss},
}

func chaosKind(name string) (chaos, bool) {
	i := slices.IndexFunc(chaosKinds, func(c chaos) bool { return c.name == name })
	if i < 0 {
		return chaos{}, false
	}
	return chaosKinds[i], true
}

// ChaosKinds names the chaos kinds a cluster run can apply.
func ChaosKinds() []string { return chaosNames() }

func chaosNames() []string {
	var out []string
	for _, c := range chaosKinds {
		out = append(out, c.name)
	}
	return out
}

// killRestart kills a random node as a crash would, keeps it down for a
// heartbeat timeout (its peers declare it dead meanwhile), restarts it and
// logs its devices in again, through the load balancer.
func killRestart(ctx context.Context, h *harness, sh *shard, rng *rand.Rand) error {
	up := sh.cl.up()
	if len(up) == 0 {
		return nil
	}
	return h.killAndRestart(ctx, sh, up[rng.IntN(len(up))])
}

// up lists the members that are running.
func (cl *cluster) up() []int {
	var up []int
	for i, m := range cl.members {
		if m.node() != nil {
			up = append(up, i)
		}
	}
	return up
}

// killForGood kills a random live node, as killRestart does, and leaves it
// down: its clients move to the others for the rest of the run. It keeps
// two nodes up, so that the cluster stays a cluster.
func killForGood(ctx context.Context, h *harness, sh *shard, rng *rand.Rand) error {
	up := sh.cl.up()
	if len(up) <= 2 {
		return nil
	}
	i := up[rng.IntN(len(up))]
	victims, err := h.killNode(ctx, sh, i)
	if err != nil {
		return err
	}
	return h.heal(ctx, victims)
}

// partition cuts a random live node off the others for longer than
// PeerTimeout, until each side has declared the other dead, then heals the
// split. The balancer is on the others' side: the node's clients lose
// their connections and are logged in anew through it, so that for the
// flows it is a death (harness.nodeDied) of a node that goes on running
// alone and, after the heal, meets the others again with its state.
func partition(ctx context.Context, h *harness, sh *shard, rng *rand.Rand) error {
	up := sh.cl.up()
	if len(up) < 3 {
		return nil // a split of two nodes would leave one alone on each side
	}
	i := up[rng.IntN(len(up))]
	var victims []*session
	settled, cut := make(chan struct{}), make(chan struct{})
	ns, nd := sh.cl.isolate(i, func(i int) { victims = h.nodeDied(sh, i, settled, cut) })
	close(cut)
	h.count("partitions")
	err := sh.cl.awaitDeclaredDead(ctx, i)
	if err == nil {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = nd.n.AwaitPeerSet(wctx, nil) // and it took them for dead
		cancel()
	}
	if err == nil {
		// Its clients are gone: once their sessions have ended there (the
		// resume grace), nothing it holds can ring anyone after the heal,
		// as nothing a dead node held can.
		err = awaitNoSessions(ctx, nd)
	}
	close(settled)
	if err != nil {
		return err
	}
	if err := sh.cl.mend(ctx, i, ns, nd); err != nil {
		return fmt.Errorf("heal of node %d: %w", i, err)
	}
	h.count("heals")
	return h.heal(ctx, victims)
}

// Loss windows: how long two nodes break what they send each other, and
// how much.
const (
	lossLasts = 1500 * time.Millisecond
	lossDelay = 50 * time.Millisecond
	lossDrop  = 0.02 // and as many reordered
)

// lossWindow is a loss between the nodes of pair, from its start until
// settled is closed: then every reset it caused has run its course
// (docs/CLUSTER.md "Lost messages": a loss is seen within 3 × PeerHeartbeat,
// a settle gives up PeerTimeout after the reset) and the pair has met
// again. The flows whose caller and a rung device are on the pair's two
// nodes while it lasts are allowed what a reset does (flow.lossCheck,
// Record.Reset).
type lossWindow struct {
	pair    [2]int
	calm    chan struct{} // closed once no reset of the window can come any more
	settled chan struct{}
}

func (w *lossWindow) spans(a, b int) bool {
	return a != b && (w.pair == [2]int{a, b} || w.pair == [2]int{b, a})
}

// loss breaks the link between two random live nodes for lossLasts: each
// drops, reorders and delays what it sends the other (its LossyBroker;
// heartbeats, broadcasts, pass), which resets the pair without ending any
// session. It returns once the window has settled and the cluster is whole.
func loss(ctx context.Context, h *harness, sh *shard, rng *rand.Rand) error {
	up := sh.cl.up()
	if len(up) < 2 {
		return nil
	}
	k := rng.IntN(len(up))
	a, b := up[k], up[(k+1+rng.IntN(len(up)-1))%len(up)]
	h.lossGate.Lock() // once the group flows under way have ended (harness.pairActions)
	defer h.lossGate.Unlock()
	na, nb := sh.cl.members[a].node(), sh.cl.members[b].node()
	w := &lossWindow{pair: [2]int{a, b}, calm: make(chan struct{}), settled: make(chan struct{})}
	before := metricSum(na, "rtmcall_cluster_gaps_total") + metricSum(nb, "rtmcall_cluster_gaps_total")
	sh.loss.Store(w)
	h.count("loss windows")
	f := rtmcalltest.Fault{Seed: rng.Uint64(), Drop: lossDrop, Reorder: lossDrop, Delay: lossDelay}
	fa, fb := f, f
	fa.To, fb.To = []string{sh.cl.members[b].id}, []string{sh.cl.members[a].id}
	fb.Seed++
	na.loss.SetFault(fa)
	nb.loss.SetFault(fb)
	err := pause(ctx, lossLasts)
	na.loss.SetFault(rtmcalltest.Fault{})
	nb.loss.SetFault(rtmcalltest.Fault{})
	if err == nil {
		// The bound of the last reset: a loss is seen by the sender's
		// third heartbeat after it, its settle gives up PeerTimeout after.
		err = pause(ctx, lossDelay+3*clusterHeartbeat)
	}
	close(w.calm)
	h.wake()
	if err == nil {
		err = pause(ctx, clusterTimeout+clusterHeartbeat)
	}
	if err == nil {
		err = sh.cl.settle(ctx, sh.cl.nodes())
	}
	resets := metricSum(na, "rtmcall_cluster_gaps_total") + metricSum(nb, "rtmcall_cluster_gaps_total") - before
	h.mu.Lock()
	h.rep.Chaos["pair resets"] += int(resets)
	h.mu.Unlock()
	close(w.settled)
	sh.loss.Store(nil)
	h.wake()
	return err
}

// pause waits d, or until ctx ends: a bound passing, not an event.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// metricSum adds up the values of nd's metrics named names (0 if they
// cannot be read).
func metricSum(nd *node, names ...string) float64 {
	g, ok := nd.n.Registerer().(prometheus.Gatherer)
	if !ok {
		return 0
	}
	mfs, err := g.Gather()
	if err != nil {
		return 0
	}
	sum := 0.0
	for _, mf := range mfs {
		if slices.Contains(names, mf.GetName()) {
			for _, m := range mf.GetMetric() {
				sum += m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// awaitNoSessions waits until nd holds no session, attached or detached.
// The node has no event for it: it polls its gauges, as
// awaitDeclaredDead polls the peers.
func awaitNoSessions(ctx context.Context, nd *node) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, ok := nd.n.Registerer().(prometheus.Gatherer); !ok {
		return fmt.Errorf("node %s: its metrics cannot be read", nd.name)
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		left := metricSum(nd, "rtmcall_sessions_attached", "rtmcall_sessions_detached")
		if left == 0 {
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("node %s still holds %v sessions: %w", nd.name, left, ctx.Err())
		}
	}
}

// rollingRestart restarts every node in turn, each once the cluster is
// whole again. Without a drain a restart is a crash (killAndRestart); a
// Node.Drain (issue 16 part 1) would let it end its invitations first.
func rollingRestart(ctx context.Context, h *harness, sh *shard, _ *rand.Rand) error {
	for i := range sh.cl.members {
		if err := h.killAndRestart(ctx, sh, i); err != nil {
			return err
		}
	}
	h.count("rolling restarts")
	return nil
}

// drainRestart is a graceful rolling restart: each node in turn drains
// (Node.Drain: its clients move to the others once party to nothing, its
// invitations and calls end first) and shuts down, then starts again once
// its peers have let it go. Nothing it held dies, so no flow is relaxed.
func drainRestart(ctx context.Context, h *harness, sh *shard, _ *rand.Rand) error {
	for i := range sh.cl.members {
		if err := h.drainAndRestart(ctx, sh, i); err != nil {
			return err
		}
	}
	h.count("drained rolling restarts")
	return nil
}

func (h *harness) drainAndRestart(ctx context.Context, sh *shard, i int) error {
	nd := sh.cl.members[i].node()
	if nd == nil {
		return nil // killed for good (killForGood): it stays down
	}
	sh.beginDrain(i)
	h.wake() // flows waiting on those sessions may stop waiting (flow.drains)
	err := sh.cl.drain(ctx, i)
	moving := sh.endDrain(i)
	if err != nil {
		return fmt.Errorf("drain of node %d: %w", i, err)
	}
	h.count("drains")
	// Left as node i's, a moved session would be counted lost with node i
	// at a later kill of it, restarted, while it lives on.
	deadline := time.Now().Add(h.cfg.ResumeGrace)
	for _, s := range moving {
		h.count("sessions on a draining node")
		if j, ok := movedTo(s, i, deadline, sh.cl.lb.nodeOf); ok {
			sh.cl.lb.stick(s.slot, j)
			s.node.Store(int32(j + 1))
		}
	}
	if err := sh.cl.awaitDeclaredDead(ctx, i); err != nil {
		return err
	}
	if err := sh.cl.restart(ctx, i, sh.spec.name); err != nil {
		return fmt.Errorf("restart of node %d: %w", i, err)
	}
	h.count("restarts")
	return nil
}

// movedTo waits, until deadline, for s, moved by the drain of node i, to
// have a connection through the balancer (nodeOf) to another node, and
// returns that node; false if s ended or the deadline passed first. A
// moved client logs in anew through the balancer, which sends a draining
// node nothing, but one whose connection was cut just then has none for a
// moment: a single look left it node i's (e8ffc7f).
func movedTo(s *session, i int, deadline time.Time, nodeOf func(slot string) (int, bool)) (int, bool) {
	for !s.ended.Load() {
		if j, ok := nodeOf(s.slot); ok && j != i {
			return j, true
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0, false
}

func (h *harness) killAndRestart(ctx context.Context, sh *shard, i int) error {
	if sh.cl.members[i].node() == nil {
		return nil // killed for good (killForGood): it stays down
	}
	victims, err := h.killNode(ctx, sh, i)
	if err != nil {
		return err
	}
	if err := sh.cl.restart(ctx, i, sh.spec.name); err != nil {
		return fmt.Errorf("restart of node %d: %w", i, err)
	}
	h.count("restarts")
	return h.heal(ctx, victims)
}

// nodeDied marks every session whose connection went to node i as lost
// with it, and wakes the flows that wait on them. settled is closed once
// every other node has declared i dead: nothing it sent can arrive later;
// cut once the node's client connections are cut (and it is down, or
// split off): nothing can ring those sessions any more.
func (h *harness) nodeDied(sh *shard, i int, settled, cut chan struct{}) []*session {
	sh.cl.members[i].deaths.Add(1)
	h.healMu.Lock() // until heal has logged the lost devices in again
	if h.heals == 0 {
		h.healed = make(chan struct{})
	}
	h.heals++
	h.healMu.Unlock()
	var out []*session
	sh.mu.Lock()
	for s := range sh.live {
		n, open := sh.cl.lb.nodeOf(s.slot)
		last, dialed := sh.cl.lb.lastDial(s.slot)
		// Its connection goes there, its session lives there, or it is
		// logging in and its last attempt went there (refused by the
		// dying node, it will fail); an attempt of the device's earlier
		// sessions says nothing of this one, whose dial the balancer,
		// having unpublished the node, sends to a live one.
		if open && n == i || int(s.node.Load()) == i+1 || s.node.Load() == 0 && dialed && last.n > s.since && last.i == i {
			out = append(out, s)
		}
	}
	sh.mu.Unlock()
	for _, s := range out {
		s.die(settled)
		s.mu.Lock()
		s.cut = cut
		s.mu.Unlock()
	}
	h.deathMu.Lock()
	h.settled = settled
	h.deathMu.Unlock()
	h.wake()
	return out
}

// wake wakes every flow waiting for an event (deathsCh): a node died or
// began to drain.
func (h *harness) wake() {
	h.deathMu.Lock()
	close(h.deaths)
	h.deaths = make(chan struct{})
	h.deathMu.Unlock()
}

// lastSettled returns the settled channel of the last node death.
func (h *harness) lastSettled() <-chan struct{} {
	h.deathMu.Lock()
	defer h.deathMu.Unlock()
	return h.settled
}

// deathsCh returns a channel closed at the next node death.
func (h *harness) deathsCh() <-chan struct{} {
	h.deathMu.Lock()
	defer h.deathMu.Unlock()
	return h.deaths
}

// heal waits until each lost session has ended on its client (its resume
// failed), then logs its device in again, under its user's exclusive lock
// as a flow would, unless a flow already did; 32 at a time.
func (h *harness) heal(ctx context.Context, lost []*session) error {
	defer func() { // the window nodeDied opened
		h.healMu.Lock()
		if h.heals > 0 {
			if h.heals--; h.heals == 0 {
				close(h.healed)
				h.healed = nil
			}
		}
		h.healMu.Unlock()
	}()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, 32)
	)
	for _, s := range lost {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := h.healOne(ctx, s); err != nil {
				mu.Lock()
				first = firstErr(first, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}

// awaitHealed waits until the devices lost with a node, if any are, have
// been logged in again (heal), at most a flow's deadline (a chaos that
// failed before its heal leaves them lost), and reports whether some
// were. A flow that found no suitable users while they were lost (a user
// with two devices online is rare then, seconds after a kill; a group
// needs three to five users online) tries again after it, rather than
// being skipped (make soak-cluster: 29 flows, nearly all of two devices;
// TestSoakClusterShort: a group flow).
func (h *harness) awaitHealed() bool {
	h.healMu.Lock()
	ch := h.healed
	h.healMu.Unlock()
	if ch == nil {
		return false
	}
	t := time.NewTimer(h.cfg.FlowDeadline)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

func (h *harness) healOne(ctx context.Context, s *session) error {
	ctx, cancel := context.WithTimeout(ctx, 3*h.cfg.FlowDeadline) // the user's lock may wait for flows
	defer cancel()
	wctx, wcancel := context.WithTimeout(ctx, h.cfg.FlowDeadline)
	ended := s.waitState(wctx, core.ConnectionDisconnected, 0) == nil
	wcancel()
	if !ended && !s.died.Load() {
		return nil // its login lived on (livesOn): nothing to heal
	}
	d := h.deviceOf(s)
	if d == nil {
		return nil
	}
	d.u.mu.Lock()
	defer d.u.mu.Unlock()
	if d.s != s {
		return nil
	}
	if !ended {
		// Counted as lost while its login went to another node: end it
		// as lost, so that it is logged in anew like the others. Its
		// client reports nothing more: the flows waiting for its end
		// (flow.complete) stop waiting.
		if d.c != nil {
			_ = d.c.Close() // always nil
			d.c = nil
		}
		s.ended.Store(true)
		h.wake()
	}
	d.s, d.last = nil, "its node died"
	if err := h.login(ctx, d); err != nil && !errors.Is(err, errDied) {
		return fmt.Errorf("logging %s in again: %w", d.slot, err)
	}
	return nil
}

// deviceOf finds the device whose session s is.
func (h *harness) deviceOf(s *session) *device {
	for _, u := range s.sh.users {
		for _, d := range u.devs {
			if d.slot == s.slot {
				return d
			}
		}
	}
	return nil
}

// count adds one to a chaos count of the report.
func (h *harness) count(what string) {
	h.mu.Lock()
	h.rep.Chaos[what]++
	h.mu.Unlock()
}

// runChaos applies the configured chaos kinds in turn, one every
// ChaosEvery, to every cluster shard until stop is closed, and returns
// when the last one has repaired the cluster. It closes h.struck once each
// kind has struck every shard.
func (h *harness) runChaos(ctx context.Context, stop <-chan struct{}) (wait func()) {
	var kinds []chaos
	for _, k := range h.cfg.Chaos {
		c, _ := chaosKind(k)
		kinds = append(kinds, c)
	}
	var wg, round sync.WaitGroup
	for _, sh := range h.shards {
		if sh.cl == nil || len(kinds) == 0 {
			continue
		}
		round.Add(1)
		wg.Go(func() {
			var once sync.Once
			defer once.Do(round.Done) // a shard that stopped early ends its round too
			rng := rand.New(rand.NewPCG(h.cfg.Seed, 0xc4a05))
			t := time.NewTicker(h.cfg.ChaosEvery)
			defer t.Stop()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				case <-t.C:
				}
				c := kinds[n%len(kinds)]
				if err := c.run(ctx, h, sh, rng); err != nil {
					h.mu.Lock()
					h.rep.Failures = append(h.rep.Failures, fmt.Sprintf("chaos %s: %v", c.name, err))
					h.mu.Unlock()
					return
				}
				if n == len(kinds)-1 {
					h.fullRounds.Add(1)
					once.Do(round.Done)
				}
			}
		})
	}
	go func() { round.Wait(); close(h.struck) }()
	return func() {
		wg.Wait()
		if shards := int(h.fullRounds.Load()); len(kinds) > 0 && shards < len(h.shards) {
			h.mu.Lock()
			h.rep.Failures = append(h.rep.Failures, fmt.Sprintf("not every chaos kind of %v struck before the flows' end", h.cfg.Chaos))
			h.mu.Unlock()
		}
	}
}

// killNode kills node i abruptly and waits until every other node has
// declared it dead; it returns the sessions that died with it.
func (h *harness) killNode(ctx context.Context, sh *shard, i int) ([]*session, error) {
	var victims []*session
	settled, cut := make(chan struct{}), make(chan struct{})
	sh.cl.kill(i, func(i int) { victims = h.nodeDied(sh, i, settled, cut) })
	close(cut)
	h.count("node deaths")
	err := sh.cl.awaitDeclaredDead(ctx, i)
	close(settled)
	return victims, err
}
