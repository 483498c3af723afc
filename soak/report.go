//go:build !js

package soak

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Report is what a run found: counts of flows and outcomes, violations,
// timing, and the process's goroutines and heap before and after.
type Report struct {
	Seed      uint64
	Clients   int // devices logged in at the start
	Users     int
	Nodes     int
	Cluster   bool // the nodes are one cluster
	Workers   int
	FileLimit uint64 // RLIMIT_NOFILE during the run

	FlowsWanted int
	FlowsRun    int
	LoginTime   time.Duration // to log the fleet in
	Duration    time.Duration // to run the flows

	ByAction       map[string]int    // flows by action
	Latency        map[string]Timing // from a flow's first step to its last terminal event, by action
	Skipped        map[string]int    // flows whose users could not be found, by action
	Outcomes       map[string]int    // by the caller's terminal state and reason
	DeviceOutcomes map[string]int    // by each rung device's terminal state and reason
	Ops            map[string]int    // operations by name and result

	Logins, Closes, Drops, Resumes, Logouts, NeverBack int
	// Chaos counts what the chaos did, by kind ("node deaths", "restarts",
	// "partitions", ...); HitFlows are the flows that had a party on a node
	// as it died.
	Chaos    map[string]int
	HitFlows int
	// Calls are the calls the flows set up (an invitation accepted);
	// DroppedCalls those of them a side saw end other than by a hang-up
	// (UNKNOWN, PEER_OFFLINE, SERVER_SHUTDOWN), by cause: a party's node
	// died (kill-restart, rolling-restart) or a loss reset its pair
	// (DropDeath), else it drained during the flow (DropDrain), else none
	// of those (DropOther). A drain is to drop none.
	Calls        int
	DroppedCalls map[string]int
	// LongestWait is the longest time any flow's party waited, from the
	// send, for its terminal event.
	LongestWait time.Duration
	// LongestStall is the longest a 50 ms ticker of the process was late
	// while the flows ran: how long everything, nodes and clients, stood
	// still (a machine short of CPU), against the 3 s resume grace.
	LongestStall time.Duration
	// LateLogins are callee sessions that logged in while their flow's
	// invitation was sent, LateRings those of them it rang.
	LateLogins, LateRings int
	Unplanned             int      // reconnections the harness did not cause
	UnplannedExamples     []string // the first few: session and time

	ClientLogs        map[string]int    // what clients logged, by kind
	ClientLogExamples map[string]string // the first message of each kind
	ServerWarnings    map[string]int    // the nodes' warnings and errors, by message

	Violations       int
	ViolationsByKind map[string]int
	FirstViolations  []Violation
	Failures         []string // run-level failures: time limit, goroutines, heap

	GoroutinesBefore, GoroutinesPeak, GoroutinesAfter int
	// GoroutinesTopBefore is the most goroutines at once (sampled every
	// millisecond) up to the baseline, GoroutinesTop up to the end;
	// HeapGoroutines what the runtime keeps of the difference, allowed
	// on top of HeapSlack (goroutineHeap).
	GoroutinesTopBefore, GoroutinesTop int
	HeapGoroutines                     uint64
	HeapSlack                          uint64 // Config.HeapSlack
	// HeapBefore is the live heap with the nodes up and no client;
	// HeapPeak at the end of the flows; HeapAfterRun once every client has
	// closed (ended invitations still remembered); HeapAfter once those
	// expired too.
	HeapBefore, HeapPeak, HeapAfterRun, HeapAfter uint64
}

// Causes of a dropped call (Report.DroppedCalls).
const (
	DropDeath = "with a party's node dying or its pair reset"
	DropDrain = "with a party's node draining"
	DropOther = "with neither"
)

func newReport(cfg Config) *Report {
	nodes := len(shardSpecs)
	if cfg.Cluster > 0 {
		nodes = cfg.Cluster
	}
	return &Report{Seed: cfg.Seed, Nodes: nodes, Cluster: cfg.Cluster > 0, Workers: cfg.Workers, FlowsWanted: cfg.Flows,
		ByAction: map[string]int{}, Latency: map[string]Timing{}, Skipped: map[string]int{}, Outcomes: map[string]int{},
		DeviceOutcomes: map[string]int{}, Chaos: map[string]int{}, Ops: map[string]int{}, ClientLogs: map[string]int{}, ClientLogExamples: map[string]string{},
		ViolationsByKind: map[string]int{}, DroppedCalls: map[string]int{}}
}

// OK reports whether the run broke no invariant and met its bounds.
func (r *Report) OK() bool { return r.Violations == 0 && len(r.Failures) == 0 }

// FlowsPerSecond is the flow throughput.
func (r *Report) FlowsPerSecond() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.FlowsRun) / r.Duration.Seconds()
}

// Write prints the report.
func (r *Report) Write(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	kind := "nodes"
	if r.Cluster {
		kind = "clustered nodes (embedded NATS, routes; one load balancer)"
	}
	p("rtmcall soak (seed %d): %d clients (%d users, 1-3 devices each) on %d %s, %d workers, open-file limit %d",
		r.Seed, r.Clients, r.Users, r.Nodes, kind, r.Workers, r.FileLimit)
	p("flows: %d of %d in %v (%.0f flows/s); fleet logged in in %v",
		r.FlowsRun, r.FlowsWanted, r.Duration.Round(time.Millisecond), r.FlowsPerSecond(), r.LoginTime.Round(time.Millisecond))
	fmt.Fprintf(w, "flows by action (count, mean and max time from the first step to the last terminal event):\n")
	for _, k := range sortedKeys(r.ByAction) {
		n, lat := r.ByAction[k], r.Latency[k]
		fmt.Fprintf(w, "  %-48s %8d %8v %8v\n", k, n, (lat.Total / time.Duration(max(n, 1))).Round(time.Millisecond),
			lat.Max.Round(time.Millisecond))
	}
	if len(r.Skipped) > 0 {
		table(w, "flows skipped (no suitable users free)", r.Skipped)
	}
	table(w, "caller outcomes (state, reason)", r.Outcomes)
	table(w, "callee device outcomes", r.DeviceOutcomes)
	table(w, "operations", r.Ops)
	p("sessions: %d logins, %d closed, %d logged out, %d cut and resumed, %d cut and never resumed; %d devices never came back",
		r.Logins, r.Closes, r.Logouts, r.Resumes, r.Drops, r.NeverBack)
	if r.Cluster {
		p("chaos: %s; %d flows had a party on a node as it died", chaosList(r.Chaos), r.HitFlows)
	}
	p("calls: %d set up, %d dropped (a side's call ended other than by a hang-up): %d %s, %d %s, %d %s",
		r.Calls, r.DroppedCalls[DropDeath]+r.DroppedCalls[DropDrain]+r.DroppedCalls[DropOther],
		r.DroppedCalls[DropDrain], DropDrain, r.DroppedCalls[DropDeath], DropDeath, r.DroppedCalls[DropOther], DropOther)
	p("longest wait of a party for its terminal event, from the send: %v", r.LongestWait.Round(time.Millisecond))
	p("longest stall of the process (a 50 ms ticker late by): %v", r.LongestStall.Round(time.Millisecond))
	p("late ringing: %d callee sessions logged in after their flow's send, %d of them rang", r.LateLogins, r.LateRings)
	p("reconnections the harness did not cause: %d %v", r.Unplanned, r.UnplannedExamples)
	if len(r.ClientLogs) > 0 {
		table(w, "client logs", r.ClientLogs)
		for _, k := range slices.Sorted(maps.Keys(r.ClientLogExamples)) {
			p("  e.g. %s", r.ClientLogExamples[k])
		}
	}
	if len(r.ServerWarnings) > 0 {
		table(w, "server warnings", r.ServerWarnings)
	}
	p("goroutines: %d before, %d at the end of the flows, %d after; at most %d at once before, %d in all (sampled every ms)",
		r.GoroutinesBefore, r.GoroutinesPeak, r.GoroutinesAfter, r.GoroutinesTopBefore, r.GoroutinesTop)
	p("heap (live, after GC): %s before, %s at the end of the flows, %s once the clients closed, %s once ended invitations expired",
		mib(r.HeapBefore), mib(r.HeapPeak), mib(r.HeapAfterRun), mib(r.HeapAfter))
	p("heap allowed after: %s, the baseline + %s slack + %s kept by the runtime for the goroutines above the peak before (%d × %d B)",
		mib(r.HeapBefore+r.HeapSlack+r.HeapGoroutines), mib(r.HeapSlack), mib(r.HeapGoroutines),
		max(0, r.GoroutinesTop-r.GoroutinesTopBefore), goroutineHeap)
	p("violations: %d", r.Violations)
	if r.Violations > 0 {
		table(w, "violations by kind", r.ViolationsByKind)
		for _, v := range r.FirstViolations {
			p("  - %s", v)
		}
	}
	for _, f := range r.Failures {
		p("FAILED: %s", f)
	}
	if r.OK() {
		p("PASS")
	}
}

// String is the report as Write prints it.
func (r *Report) String() string {
	var b strings.Builder
	r.Write(&b)
	return b.String()
}

// Timing sums the durations of flows.
type Timing struct {
	Total, Max time.Duration
}

// sortedKeys orders m's keys by count, highest first.
func sortedKeys(m map[string]int) []string {
	return slices.SortedFunc(maps.Keys(m), func(a, b string) int {
		return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b))
	})
}

func table(w io.Writer, title string, m map[string]int) {
	fmt.Fprintf(w, "%s:\n", title)
	for _, k := range sortedKeys(m) {
		fmt.Fprintf(w, "  %-48s %8d\n", k, m[k])
	}
}

func chaosList(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, fmt.Sprintf("%d %s", m[k], k))
	}
	return strings.Join(out, ", ")
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
