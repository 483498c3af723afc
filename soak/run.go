//go:build !js

package soak

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/server"
)

// maxListed is how many violations a report describes in full.
const maxListed = 20

// harness is one run: its nodes, fleet, book and tallies.
type harness struct {
	cfg     Config
	shards  []*shard
	book    *book
	actions []action
	// pairActions are the actions but the group flows, which follow node
	// deaths, partitions (deaths for the flows: partition in chaos.go)
	// and drains (group.go), not yet the resets of loss between nodes,
	// which would count as violations. So group flows and loss windows
	// exclude each other: a group flow holds lossGate shared, a window
	// (loss) exclusive, and a flow drawn as a group while it is taken is
	// drawn again from these.
	pairActions []action
	lossGate    sync.RWMutex
	stats       stats
	warns       *warnCounter

	start time.Time

	// struck is closed once every chaos kind has struck, and repaired,
	// on every cluster shard (runChaos); closed at once without chaos.
	struck     chan struct{}
	fullRounds atomic.Int32 // shards on which every kind has struck

	// healed is closed once the devices lost with nodes (nodeDied) have
	// been logged in again (heal); nil while none are lost.
	healMu sync.Mutex
	healed chan struct{}
	heals  int // node deaths not healed yet

	deathMu sync.Mutex
	deaths  chan struct{} // closed at a node's death, then replaced
	settled chan struct{} // of the last death: closed once every node declared it

	mu    sync.Mutex // guards the report's maps and violations below
	rep   *Report
	gone  int // devices that never came back
	flows int // flows checked

	gpeak *goroutinePeak // the most goroutines at once (measureAfter)
}

// stats counts session changes; atomics since flows run in parallel.
type stats struct {
	logins, closes, drops, logouts, resumes, unplanned atomic.Int64
}

// Run starts the nodes, logs the fleet in, runs the flows, tears it all
// down and reports. The error is for a run that could not be set up; a
// run that breaks invariants returns a Report whose OK is false.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	h := &harness{cfg: cfg, warns: newWarnCounter(), rep: newReport(cfg), start: time.Now(), deaths: make(chan struct{}),
		struck: make(chan struct{})}
	h.book = newBook(h)
	h.actions = actions
	h.pairActions = slices.DeleteFunc(slices.Clone(actions), func(a action) bool { return a.pick.group })
	h.gpeak = watchGoroutines()
	defer h.gpeak.close()
	h.rep.FileLimit, err = raiseFileLimit(uint64(8*cfg.Clients + 1024))
	if err != nil {
		return nil, err
	}

	level := slog.LevelInfo
	if cfg.ServerLogDebug {
		level = slog.LevelDebug
	}
	for _, spec := range cfg.specs() {
		var logger *slog.Logger
		if cfg.ServerLog != nil {
			logger = slog.New(teeHandler{h.warns, slog.NewTextHandler(cfg.ServerLog,
				&slog.HandlerOptions{Level: level})}).With("node", spec.name)
		} else {
			logger = slog.New(h.warns)
		}
		scfg := server.Config{Dev: true, Logger: logger, LogLevel: level, ReceiptTimeout: spec.receipt,
			InvitationTimeout: cfg.ExpiryTimeout, TombstoneTTL: cfg.TombstoneTTL, ResumeGrace: cfg.ResumeGrace}
		sh := &shard{spec: spec}
		if cfg.Cluster > 0 {
			sh.cl, err = startCluster(ctx, spec.name, cfg.Cluster, scfg)
		} else {
			sh.nd, err = startNode(spec.name, scfg)
		}
		if err != nil {
			h.stopNodes()
			return nil, err
		}
		h.shards = append(h.shards, sh)
	}
	defer h.stopNodes()
	h.rep.GoroutinesBefore, h.rep.HeapBefore = runtime.NumGoroutine(), liveHeap()
	h.rep.GoroutinesTopBefore = h.gpeak.now()

	start := time.Now()
	if err := h.loginFleet(ctx); err != nil {
		h.closeFleet()
		return nil, err
	}
	h.rep.LoginTime = time.Since(start)

	flowStart := time.Now()
	runCtx, cancel := context.WithTimeout(ctx, cfg.TimeLimit)
	stopChaos := make(chan struct{})
	chaosDone := h.runChaos(runCtx, stopChaos)
	stallDone := h.watchStalls(stopChaos)
	h.runFlows(runCtx)
	close(stopChaos)
	chaosDone()
	h.rep.LongestStall = <-stallDone
	cancel()
	h.rep.Duration = time.Since(flowStart)
	h.rep.HeapPeak, h.rep.GoroutinesPeak = liveHeap(), runtime.NumGoroutine()
	skipped := 0
	for _, n := range h.rep.Skipped {
		skipped += n
	}
	if h.flows+skipped < cfg.Flows {
		h.rep.Failures = append(h.rep.Failures, fmt.Sprintf("only %d of %d flows ran within the time limit of %v",
			h.flows+skipped, cfg.Flows, cfg.TimeLimit))
	}
	if skipped > 0 {
		h.rep.Failures = append(h.rep.Failures, fmt.Sprintf("%d flows skipped: no suitable users were free", skipped))
	}
	h.measureAfter(ctx, time.Now())
	h.rep.ServerWarnings = h.warns.snapshot()
	h.rep.Logins, h.rep.Closes = int(h.stats.logins.Load()), int(h.stats.closes.Load())
	h.rep.Drops, h.rep.Logouts, h.rep.NeverBack = int(h.stats.drops.Load()), int(h.stats.logouts.Load()), h.gone
	h.rep.Resumes, h.rep.Unplanned = int(h.stats.resumes.Load()), int(h.stats.unplanned.Load())
	h.rep.FlowsRun = h.flows
	return h.rep, nil
}

// watchStalls measures, until stop, how late a 50 ms ticker gets.
func (h *harness) watchStalls(stop chan struct{}) <-chan time.Duration {
	const every = 50 * time.Millisecond
	done := make(chan time.Duration, 1)
	go func() {
		var longest time.Duration
		t := time.NewTicker(every)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-stop:
				done <- longest
				return
			case now := <-t.C:
				longest = max(longest, time.Since(last)-every)
				last = now
			}
		}
	}()
	return done
}

// measureAfter closes the fleet and checks that the process goes back to
// its baseline: goroutines at once, the heap once the nodes have forgotten
// the invitations that ended (TombstoneTTL after lastFlow).
func (h *harness) measureAfter(ctx context.Context, lastFlow time.Time) {
	h.closeFleet()
	h.rep.GoroutinesAfter = waitGoroutines(h.rep.GoroutinesBefore)
	for _, v := range h.book.orphans() {
		h.violate(v)
	}
	h.book.mu.Lock()
	// The harness's own records must not count as the server's heap: a
	// group's record holds the invitations of its callees, and so their
	// clients, closed or not.
	h.book.byInv, h.book.groups, h.book.diedSends = nil, nil, nil
	h.book.mu.Unlock()
	for _, sh := range h.shards {
		sh.users = nil
	}
	h.rep.HeapAfterRun = liveHeap()

	// Ended invitations stay in the nodes for TombstoneTTL and are swept on
	// the next send: wait them out, send once, then measure.
	t := time.NewTimer(time.Until(lastFlow.Add(h.cfg.TombstoneTTL + 10*time.Millisecond)))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		h.rep.Failures = append(h.rep.Failures, fmt.Sprintf("interrupted before the final measurement: %v", ctx.Err()))
		return
	}
	if err := h.sweep(ctx); err != nil {
		h.rep.Failures = append(h.rep.Failures, err.Error())
	}
	h.rep.GoroutinesAfter = waitGoroutines(h.rep.GoroutinesBefore)
	h.rep.GoroutinesTop = h.gpeak.close()
	h.rep.HeapAfter = liveHeap()
	// What the runtime keeps of the goroutines above the baseline's peak
	// is not the server's: allowed on top of the slack (goroutineHeap).
	h.rep.HeapSlack = h.cfg.HeapSlack
	h.rep.HeapGoroutines = uint64(max(0, h.rep.GoroutinesTop-h.rep.GoroutinesTopBefore)) * goroutineHeap
	if h.cfg.HeapProfile != nil {
		if err := pprof.Lookup("heap").WriteTo(h.cfg.HeapProfile, 0); err != nil {
			h.rep.Failures = append(h.rep.Failures, fmt.Sprintf("heap profile: %v", err))
		}
	}
	if h.rep.GoroutinesAfter > h.rep.GoroutinesBefore {
		h.rep.Failures = append(h.rep.Failures, fmt.Sprintf("goroutines did not return to their baseline: %d before, %d after",
			h.rep.GoroutinesBefore, h.rep.GoroutinesAfter))
	}
	if h.rep.HeapAfter > h.rep.HeapBefore+h.rep.HeapGoroutines+h.cfg.HeapSlack {
		h.rep.Failures = append(h.rep.Failures, fmt.Sprintf("heap did not return near its baseline: %s before, %s after (slack %s, and %s for the goroutines' descriptors)",
			mib(h.rep.HeapBefore), mib(h.rep.HeapAfter), mib(h.cfg.HeapSlack), mib(h.rep.HeapGoroutines)))
	}
}

// loginFleet makes the users of every shard and logs their devices in,
// 64 at a time.
func (h *harness) loginFleet(ctx context.Context) error {
	rng := rand.New(rand.NewPCG(h.cfg.Seed, ^uint64(0)))
	order := 0
	var devs []*device
	for i, sh := range h.shards {
		want := h.cfg.Clients * sh.spec.share / 100
		if i == len(h.shards)-1 {
			want = h.cfg.Clients - len(devs)
		}
		for n := 0; n < want; {
			u := &user{id: fmt.Sprintf("%s.u%04d", sh.spec.name, len(sh.users)), sh: sh, order: order}
			order++
			k := 1 + rng.IntN(3)
			if len(sh.users) == 0 {
				k = 3 // every shard has a user that two-device flows can call
			}
			for j := range min(k, want-n) {
				d := &device{u: u, slot: fmt.Sprintf("%s.d%d", u.id, j)}
				u.devs = append(u.devs, d)
				devs = append(devs, d)
			}
			n += len(u.devs)
			sh.users = append(sh.users, u)
		}
		for g := range 20 {
			sh.ghosts = append(sh.ghosts, fmt.Sprintf("%s.ghost%02d", sh.spec.name, g))
		}
		h.rep.Users += len(sh.users)
	}
	h.rep.Clients = len(devs)

	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, 64)
	)
	for _, d := range devs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			lctx, cancel := context.WithTimeout(ctx, h.cfg.FlowDeadline)
			defer cancel()
			if err := h.login(lctx, d); err != nil {
				mu.Lock()
				first = firstErr(first, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}

func firstErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// closeFleet closes every client, 64 at a time.
func (h *harness) closeFleet() {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, sh := range h.shards {
		for _, u := range sh.users {
			for _, d := range u.devs {
				if d.c == nil {
					continue
				}
				if d.s != nil {
					d.s.setLeaving()
				}
				sem <- struct{}{}
				wg.Go(func() {
					defer func() { <-sem }()
					_ = d.c.Close() // always nil
				})
			}
		}
	}
	wg.Wait()
}

// runFlows runs cfg.Flows flows on cfg.Workers workers, until ctx ends.
func (h *harness) runFlows(ctx context.Context) {
	var next atomic.Int64
	var done atomic.Int64
	stop := h.progress(&done)
	defer stop()
	var wg sync.WaitGroup
	for range h.cfg.Workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				n := int(next.Add(1) - 1)
				if n >= h.cfg.Flows && h.allStruck() {
					return
				}
				h.runFlow(n)
				done.Add(1)
			}
		})
	}
	wg.Wait()
}

// allStruck reports whether every chaos kind has struck once: until then
// the flows go on past Config.Flows, so that a short run sees each kind,
// which strike in turn, each for seconds.
func (h *harness) allStruck() bool {
	select {
	case <-h.struck:
		return true
	default:
		return false
	}
}

// progress prints a status line every 5 s until stopped.
func (h *harness) progress(done *atomic.Int64) (stop func()) {
	if h.cfg.Progress == nil {
		return func() {}
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	wg.Go(func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				n := done.Load()
				h.mu.Lock()
				v := h.rep.Violations
				h.mu.Unlock()
				fmt.Fprintf(h.cfg.Progress, "soak: %d/%d flows, %.0f/s, %d violations, %d goroutines\n",
					n, h.cfg.Flows, float64(n)/time.Since(start).Seconds(), v, runtime.NumGoroutine())
			}
		}
	})
	return func() { close(quit); wg.Wait() }
}

// runFlow picks flow n's action and users from its own PRNG stream, locks
// the users, drives the flow to its end and checks it.
func (h *harness) runFlow(n int) {
	rng := rand.New(rand.NewPCG(h.cfg.Seed, uint64(n)))
	act := pickAction(rng, h.actions)
	if act.pick.group {
		if !h.lossGate.TryRLock() {
			act = pickAction(rng, h.pairActions) // a loss window is open or about to
		} else {
			defer h.lossGate.RUnlock()
		}
	}
	sh := h.pickShard(rng)
	f := &flow{h: h, rng: rng, sh: sh, e: newEntry(), parties: map[string]*session{}}
	f.e.rec.Flow, f.e.rec.Action, f.e.rec.Node = n, act.name, sh.spec.name
	if act.pick.group {
		act.run(f) // picks, locks, drives, checks and counts the group flow
		return
	}
	unlock, ok := f.lockUsers(act.pick)
	for tries := 0; !ok && tries < 3 && h.awaitHealed(); tries++ {
		unlock, ok = f.lockUsers(act.pick)
	}
	if !ok {
		h.mu.Lock()
		h.rep.Skipped[act.name]++
		h.mu.Unlock()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.FlowDeadline)
	f.ctx = ctx
	began := time.Now()
	act.run(f)
	cancel()
	f.complete()
	f.endCall()
	took := time.Since(began)
	var waited time.Duration
	h.book.look(f.e, func(e *entry) bool {
		if !f.sentAt.IsZero() && e.lastEnd.After(f.sentAt) {
			waited = e.lastEnd.Sub(f.sentAt)
		}
		return true
	})
	f.lossCheck()
	rec := h.book.close(f.e, f.drains.drained)
	unlock()
	for key, s := range f.parties {
		if s.died.Load() {
			rec.Died = append(rec.Died, key)
		}
		if f.drains.drained(key) {
			rec.Drained = append(rec.Drained, key)
		}
		if f.acrossLoss(key) {
			rec.Reset = append(rec.Reset, key)
		}
	}
	if f.ownerDied() && !slices.Contains(rec.Died, Caller) {
		rec.Died = append(rec.Died, Caller) // the invitation's node died after the caller left
	}
	slices.Sort(rec.Died)
	slices.Sort(rec.Drained)
	slices.Sort(rec.Reset)
	h.tally(&rec, took, waited, len(rec.Drained) > 0 || f.callerDrain.drained())
}

func pickAction(rng *rand.Rand, as []action) action {
	total := 0
	for _, a := range as {
		total += a.weight
	}
	x := rng.IntN(total)
	for _, a := range as {
		if x -= a.weight; x < 0 {
			return a
		}
	}
	return as[len(as)-1]
}

func (h *harness) pickShard(rng *rand.Rand) *shard {
	x := rng.IntN(100)
	for _, sh := range h.shards {
		if x -= sh.spec.share; x < 0 {
			return sh
		}
	}
	return h.shards[len(h.shards)-1]
}

// lockUsers picks a caller and a callee that suit p, locks them (shared,
// or exclusive if p changes sessions) and picks the caller's device. It
// first tries users that are free, so that a slow flow (one that rings
// out) does not stall the workers that drew its users; after many tries
// it waits, taking the locks in the global order.
func (f *flow) lockUsers(p pick) (unlock func(), ok bool) {
	users := f.sh.users
	for try := range 100 {
		caller := users[f.intN(len(users))]
		var callee *user
		calleeID := ""
		if p.ghost {
			calleeID = f.sh.ghosts[f.intN(len(f.sh.ghosts))]
		} else {
			callee = users[f.intN(len(users))]
			if callee == caller {
				continue
			}
			calleeID = callee.id
		}
		locked := []*user{caller}
		if callee != nil {
			locked = append(locked, callee)
		}
		slices.SortFunc(locked, func(a, b *user) int { return a.order - b.order })
		unlock = func() {
			for _, u := range slices.Backward(locked) {
				if p.exclusive {
					u.mu.Unlock()
				} else {
					u.mu.RUnlock()
				}
			}
		}
		if !lockAll(locked, p.exclusive, try < 90) {
			continue
		}
		cdevs := caller.online()
		if len(cdevs) > 0 && (callee == nil || len(callee.online()) >= max(1, p.devices)) {
			f.caller, f.callee, f.calleeID = cdevs[f.intN(len(cdevs))], callee, calleeID
			return unlock, true
		}
		unlock()
	}
	return nil, false
}

// lockAll locks users, in the order given; with try, only if none has to
// be waited for.
func lockAll(users []*user, exclusive, try bool) bool {
	for i, u := range users {
		var ok bool
		switch {
		case !try && exclusive:
			u.mu.Lock()
			ok = true
		case !try:
			u.mu.RLock()
			ok = true
		case exclusive:
			ok = u.mu.TryLock()
		default:
			ok = u.mu.TryRLock()
		}
		if !ok {
			for _, v := range slices.Backward(users[:i]) {
				if exclusive {
					v.mu.Unlock()
				} else {
					v.mu.RUnlock()
				}
			}
			return false
		}
	}
	return true
}

// neverBack decides whether a device that closed stays away for good: one
// in ten, while its user keeps another device and few devices are gone.
func (h *harness) neverBack(f *flow, d *device) bool {
	if f.intN(10) != 0 || len(d.u.online()) == 0 {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gone >= max(1, h.cfg.Clients/50) {
		return false
	}
	h.gone++
	return true
}

// sweep makes every node forget its expired tombstones, which it does on
// the next send, so that the final heap is the idle server's.
func (h *harness) sweep(ctx context.Context) error {
	for _, sh := range h.shards {
		for _, nd := range sh.nodes() {
			if err := h.sweepNode(ctx, sh, nd); err != nil {
				return err
			}
		}
	}
	return nil
}

func (h *harness) sweepNode(ctx context.Context, sh *shard, nd *node) error {
	c, err := core.NewClient(core.Options{URL: nd.url, RequestTimeout: h.cfg.FlowDeadline, Logf: h.clientLog})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Login(ctx, nd.name+".sweeper", ""); err != nil {
		return fmt.Errorf("sweeper login on %s: %w", nd.name, err)
	}
	l, err := c.CreateLocalInvitation(sh.ghosts[0])
	if err != nil {
		return err
	}
	if err := l.Send(ctx); err != nil {
		return fmt.Errorf("sweeper send on %s: %w", nd.name, err)
	}
	return nil
}

func (h *harness) stopNodes() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, sh := range h.shards {
		var err error
		if sh.cl != nil {
			err = sh.cl.stop(ctx)
		} else {
			err = sh.nd.stop(ctx)
		}
		if err != nil {
			h.mu.Lock()
			h.rep.Failures = append(h.rep.Failures, fmt.Sprintf("shard %s shutdown: %v", sh.spec.name, err))
			h.mu.Unlock()
		}
	}
	h.shards = nil
}

// waitGoroutines waits, up to 30 s, until at most base goroutines are
// left, and returns the count. There is no event to wait on: it polls, as
// goleak does.
func waitGoroutines(base int) int {
	deadline := time.Now().Add(30 * time.Second)
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		n := runtime.NumGoroutine()
		if n <= base || time.Now().After(deadline) {
			return n
		}
		<-t.C
	}
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// unplanned counts a reconnection the harness did not cause.
func (h *harness) unplanned(key string) {
	h.stats.unplanned.Add(1)
	h.mu.Lock()
	if len(h.rep.UnplannedExamples) < 5 {
		h.rep.UnplannedExamples = append(h.rep.UnplannedExamples, fmt.Sprintf("%s at %v", key, time.Since(h.start).Round(time.Millisecond)))
	}
	h.mu.Unlock()
}

// violate records a violation.
func (h *harness) violate(v Violation) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rep.Violations++
	h.rep.ViolationsByKind[v.What]++
	if len(h.rep.FirstViolations) < maxListed {
		h.rep.FirstViolations = append(h.rep.FirstViolations, v)
	}
}

// clientLog receives what the clients log. A client drops a frame only
// when the server sent one its state machine refuses (a duplicate, an event
// for an ended invitation): that is a violation. The rest (failed
// background acks, mostly from sessions that are going away) is counted.
func (h *harness) clientLog(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if strings.HasPrefix(format, "rtmcall: dropped") {
		h.violate(Violation{Flow: -1, What: "client dropped a frame", Detail: msg})
		return
	}
	key := format
	if format == "rtmcall: %s %s: %v" && len(args) == 3 {
		err, _ := args[2].(error)
		key = fmt.Sprintf("background %v failed: %s", args[0], core.CodeOf(err))
	}
	h.mu.Lock()
	if h.rep.ClientLogs[key]++; h.rep.ClientLogs[key] == 1 {
		h.rep.ClientLogExamples[key] = msg
	}
	h.mu.Unlock()
}

// countLocked counts a checked flow of action with its caller's outcome.
func (h *harness) countLocked(action, outcome string, took time.Duration) {
	h.flows++
	h.rep.ByAction[action]++
	t := h.rep.Latency[action]
	t.Total += took
	t.Max = max(t.Max, took)
	h.rep.Latency[action] = t
	h.rep.Outcomes[outcome]++
}

// tally checks a finished flow and counts it.
func (h *harness) tally(rec *Record, took, waited time.Duration, drained bool) {
	viols, _ := Check(rec)
	for _, v := range viols {
		h.violate(v)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rep.LongestWait = max(h.rep.LongestWait, waited)
	if len(rec.Died) > 0 {
		h.rep.HitFlows++
	}
	if len(rec.Reset) > 0 {
		h.rep.Chaos["flows across a loss"]++
	}
	h.countLocked(rec.Action, Outcome(rec), took)
	accepted := slices.ContainsFunc(rec.Events, func(e Event) bool { return e.Kind == KindAccepted })
	for _, l := range rec.Left {
		if l.gone() {
			accepted = false // its end is the leave's (UNKNOWN, PEER_OFFLINE): not counted as a call
		}
	}
	h.countCallLocked(accepted, rec.CallEnds, len(rec.Died) > 0 || len(rec.Reset) > 0, drained)
	for _, e := range rec.Events {
		if e.Party != Caller && e.Kind.terminal() {
			h.rep.DeviceOutcomes[partyOutcome(e)]++
		}
	}
	for _, op := range rec.Ops {
		h.rep.Ops[op.Name+" "+codeName(op.Code)]++
	}
	h.rep.LateLogins += len(rec.Late)
	for _, l := range rec.Late {
		if slices.ContainsFunc(rec.Events, func(e Event) bool { return e.Party == l.Key && e.Kind == KindInvite }) {
			h.rep.LateRings++
		}
	}
}

// countCallLocked counts a flow's call, if one was set up (accepted) and no
// party left on purpose, and whether a side saw it end other than by a
// hang-up (the driver hangs up every call): dropped, with a node death or
// pair reset (died) first, else with a drain of a party's node during the
// flow (Report.DroppedCalls).
func (h *harness) countCallLocked(accepted bool, ends []CallEnd, died, drained bool) {
	if !accepted {
		return
	}
	h.rep.Calls++
	if !slices.ContainsFunc(ends, func(c CallEnd) bool { return c.Reason != "HANGUP" }) {
		return
	}
	switch {
	case died:
		h.rep.DroppedCalls[DropDeath]++
	case drained:
		h.rep.DroppedCalls[DropDrain]++
	default:
		h.rep.DroppedCalls[DropOther]++
	}
}

// warnCounter is the nodes' slog handler: it counts warnings and errors by
// message and drops the rest (one info line per invitation would swamp
// the run).
type warnCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func newWarnCounter() *warnCounter { return &warnCounter{counts: make(map[string]int)} }

func (w *warnCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (w *warnCounter) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "DEV MODE") {
		return nil // the harness runs the nodes in dev mode on purpose
	}
	w.mu.Lock()
	w.counts[r.Level.String()+" "+r.Message]++
	w.mu.Unlock()
	return nil
}

func (w *warnCounter) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnCounter) WithGroup(string) slog.Handler      { return w }

func (w *warnCounter) snapshot() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]int, len(w.counts))
	for k, v := range w.counts {
		out[k] = v
	}
	return out
}

var _ slog.Handler = (*warnCounter)(nil)

// teeHandler counts warnings and writes every record to a log.
type teeHandler struct {
	warns *warnCounter
	log   slog.Handler
}

func (t teeHandler) Enabled(ctx context.Context, l slog.Level) bool { return t.log.Enabled(ctx, l) }

func (t teeHandler) Handle(ctx context.Context, r slog.Record) error {
	if t.warns.Enabled(ctx, r.Level) {
		_ = t.warns.Handle(ctx, r) // never fails
	}
	return t.log.Handle(ctx, r)
}

func (t teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return teeHandler{t.warns, t.log.WithAttrs(as)}
}

func (t teeHandler) WithGroup(g string) slog.Handler { return teeHandler{t.warns, t.log.WithGroup(g)} }

// errTooFewFiles is returned when the open-file limit cannot be raised
// enough for the fleet.
var errTooFewFiles = errors.New("soak: open-file limit too low")
