//go:build !js

package bench

import (
	"fmt"
	"strings"
	"time"
)

// The messages of one flow as the harness drives it (load.go). The harness
// does not count them during the timed runs: the report derives its
// per-message figures from these, which TestFlowMessages counts on the wire
// for rtmcall and the relay. Centrifugo's are its protocol's as
// centrifugo.go drives it.
const (
	// rtmcall: send, ack, accept, and the hangup (outside the timed part;
	// without it the pair's next send would find the callee busy).
	rtmFlowRequests = 4
	// rtmcall-server: the send's ok and the invite, local.received,
	// remote.accepted (the accept's reply), local.accepted, and the two
	// call.ended (one the hangup's reply).
	rtmFlowFrames = 7
	// The relay reads and writes each of the invite, receipt and answer.
	relayFlowMessages = 3
	// Centrifugo reads the three publications and writes each one's reply
	// to its publisher and its push to the subscriber.
	cfFlowReads, cfFlowWrites = 3, 6
)

// syscallFn is the function under which the CPU profiles count system calls.
const syscallFn = "internal/runtime/syscall/linux.Syscall6"

// perMessage is a per-flow time over n messages.
func perMessage(d time.Duration, n int) time.Duration { return d / time.Duration(n) }

// usec formats a time per message: to a tenth of a µs.
func usec(d time.Duration) string {
	return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
}

// MissedTargets is the findings' first section: one entry per target this
// run missed, each saying what the run and its profiles show and what
// would close it, with the detailed item named.
func (res *Results) MissedTargets() string {
	var b strings.Builder
	b.WriteString("### Targets missed\n\n")
	n := 0
	for _, t := range res.Targets() {
		if t.Met {
			continue
		}
		n++
		fmt.Fprintf(&b, "- **%s**: %s against %s, %s (goal %s). ", t.What, t.Measured, t.Baseline, t.Ratio, t.Goal)
		if t.why != nil {
			b.WriteString(t.why())
		}
		b.WriteString("\n")
	}
	if n == 0 {
		b.WriteString("None: this run met every target of the table.\n")
	}
	if note := res.spreadNote(); n > 0 && note != "" {
		b.WriteString("\n" + note + "\n")
	}
	b.WriteString("\n")
	return b.String()
}

// spreadNote says, when the runs were repeated, how the servers' CPU per
// flow moved with the flows/s reached, their busy cores holding.
func (res *Results) spreadNote() string {
	r, b := res.RTMCall.Runs, res.Baseline.Runs
	if len(r) < 2 || len(r) != len(b) {
		return ""
	}
	lo, hi := 1e9, 0.0
	runs := func(runs []FlowRun) string {
		var out []string
		for _, x := range runs {
			t := x.Throughput
			lo, hi = min(lo, t.ServerCores), max(hi, t.ServerCores)
			out = append(out, fmt.Sprintf("%.2f cores at %s flows/s (%s per flow)", t.ServerCores, count(int(t.Rate)),
				dur(t.ServerCPUPerFlow)))
		}
		return strings.Join(out, ", ")
	}
	figures := fmt.Sprintf("rtmcall-server %s; the relay %s", runs(r), runs(b))
	if lo <= 0 || hi > 1.1*lo {
		return "Run by run, the servers' throughput figures: " + figures + "."
	}
	return "Run by run, the throughput rows move together: in the closed loop every server kept the same share of " +
		"the cores busy (within 10%) whatever rate the pair of processes reached, so its CPU per flow moved inversely " +
		"with the flows/s (" + figures + "). A ratio of one run is noisier than the pooled one."
}

// whyFlows: the load generator and the server share the cores, so a flow
// costs the sum of their CPU.
func (res *Results) whyFlows(other SystemResult, otherFlow int, otherName string) string {
	r, o := res.RTMCall.Throughput, other.Throughput
	cores := float64(res.Machine.Cores)
	bound := func(t ThroughputResult) string {
		return count(int(ratio(cores, (t.ServerCPUPerFlow + t.GenCPUPerFlow).Seconds())))
	}
	rtmMsgs := rtmFlowRequests + rtmFlowFrames
	s := fmt.Sprintf("The load generator shares the %d cores with the server, so a flow costs both their CPU: rtmcall %s "+
		"(server) + %s (load generator), %s %s + %s, at most %s and %s flows/s (measured %s and %s). ",
		res.Machine.Cores, dur(r.ServerCPUPerFlow), dur(r.GenCPUPerFlow), otherName, dur(o.ServerCPUPerFlow), dur(o.GenCPUPerFlow),
		bound(r), bound(o), count(int(r.Rate)), count(int(o.Rate)))
	srv, gen := perMessage(r.ServerCPUPerFlow, rtmMsgs), perMessage(r.GenCPUPerFlow, rtmMsgs)
	osrv, ogen := perMessage(o.ServerCPUPerFlow, otherFlow), perMessage(o.GenCPUPerFlow, otherFlow)
	s += fmt.Sprintf("Both ends handle the flow's messages (rtmcall %d: %d requests, %d server frames; %s %d), and per message "+
		"rtmcall costs %s on the server and %s in the load generator against %s and %s",
		rtmMsgs, rtmFlowRequests, rtmFlowFrames, otherName, otherFlow, usec(srv), usec(gen), usec(osrv), usec(ogen))
	if srv <= osrv && gen <= ogen {
		s += ": the count makes the gap, not the cost of a message"
	}
	s += ". "
	share := ""
	if v, ok := r.GenShares[syscallFn]; ok {
		share = fmt.Sprintf(", where system calls are %.0f%% of the load generator's profile", v)
	}
	return s + "Closing it takes fewer messages per flow or cheaper ones on both sides: the server's CPU per flow " +
		"(item 2) and `core.Client`'s (item 6" + share + ")."
}

// whyCPU: per message the server is on a par; a flow has more of them.
func (res *Results) whyCPU(other SystemResult, reads, writes int, otherName, counted string) string {
	r, o := res.RTMCall.Throughput, other.Throughput
	rtmMsgs, otherMsgs := rtmFlowRequests+rtmFlowFrames, reads+writes
	s := fmt.Sprintf("A flow is %d requests read and %d frames written by rtmcall-server (send, ack, accept, and the hangup outside "+
		"the timed part, which %s, keeping no call, does not need), against %d read and %d written by %s: per message "+
		"%s against %s (%s; the counts are the protocols', not counted in this run: %s). ",
		rtmFlowRequests, rtmFlowFrames, otherName, reads, writes, otherName, usec(perMessage(r.ServerCPUPerFlow, rtmMsgs)),
		usec(perMessage(o.ServerCPUPerFlow, otherMsgs)),
		times(ratio(float64(r.ServerCPUPerFlow)/float64(rtmMsgs), float64(o.ServerCPUPerFlow)/float64(otherMsgs))), counted)
	if ir := res.Instrumented; ir != nil {
		if v, ok := ir.Shares[syscallFn]; ok {
			s += fmt.Sprintf("System calls are %.0f%% of the instrumented server's CPU profile, and rtmcall-server makes %.1f "+
				"per flow against %s's %.1f (a read with data and one that finds nothing per request, a write per frame). ",
				v, r.ReadsPerFlow+r.WritesPerFlow, otherName, o.ReadsPerFlow+o.WritesPerFlow)
		}
	}
	goal := time.Duration(targetCPURatio * float64(o.ServerCPUPerFlow))
	return s + fmt.Sprintf("Closing it takes cheaper messages or fewer per flow: at this run's mean cost per message the goal "+
		"(%s) allows %.1f messages, or %s per message for %d (items 1 and 2, **Left**).",
		dur(goal), ratio(float64(goal), float64(perMessage(r.ServerCPUPerFlow, rtmMsgs))), usec(perMessage(goal, rtmMsgs)), rtmMsgs)
}

// whyWrites: one write per frame's socket and moment.
func (res *Results) whyWrites() string {
	return fmt.Sprintf("Both write each message on its own: rtmcall-server the %d frames of a flow, each to its own socket at "+
		"its own moment (frames queued together for one connection go out in one write, item 2), Centrifugo %d, the reply "+
		"to each of the %d publications and its push to the subscriber. Two of rtmcall's frames are the hangup's "+
		"`call.ended`, which Centrifugo's flow has no counterpart for: in the three steps both do, rtmcall writes %d, and "+
		"the stream's acknowledgments add %.2f replies per flow (a `ping` per %d frames a client reads). Closing the row "+
		"takes a flow written in fewer frames, not fewer write calls per frame (item 2, **Still**).",
		rtmFlowFrames, cfFlowWrites, cfFlowReads, rtmFlowFrames-2, acksPerFlow, rawAckEvery)
}

// acksPerFlow are the stream acknowledgments (pings) per flow: each client
// pings once per rawAckEvery frames it reads, as core.Client does.
const acksPerFlow = float64(rtmFlowFrames) / rawAckEvery

// whyReads: a request read alone is two reads.
func (res *Results) whyReads() string {
	return fmt.Sprintf("A request that arrives alone costs two reads, its data and one that finds nothing, which Go's poller "+
		"needs before it parks the reader: rtmcall's flow is %d requests (and %.2f `ping`s, one per %d frames a client reads) "+
		"against Centrifugo's %d publications; bare clients, whose `ack` and `accept`, and `hangup` and next `send`, often "+
		"arrive together, take %.1f on the same server. The hangup is the request Centrifugo's flow has no counterpart for "+
		"(without it, %d reads: Centrifugo's count); below that takes requests that arrive together (item 2, Read system "+
		"calls).", rtmFlowRequests, acksPerFlow, rawAckEvery, cfFlowReads, res.Raw.Throughput.ReadsPerFlow, 2*(rtmFlowRequests-1))
}

// whyLatency: a latency row, against the relay or Centrifugo, split into
// the server's share (bare clients on the same server) and the client's.
func (res *Results) whyLatency(pick func(SystemResult) time.Duration, other SystemResult, otherName string,
	met func(float64) bool, loaded, tail bool) string {
	rtm, raw, o := pick(res.RTMCall), pick(res.Raw), pick(other)
	rr := durRatio(raw, o)
	s := fmt.Sprintf("The same server driven by bare clients: %s (%s %s's). ", dur(raw), times(rr), otherName)
	if rr > 0 && met(rr) && raw < rtm {
		s += "The server alone meets the goal: the excess is `core.Client`'s, its reader and the hand-off to its " +
			"callback goroutine on the shared cores (item 6"
		if tail {
			s += ", which traced that path at the p50 and p90, not at the tail"
		}
		return s + "). Closing it takes a shorter client path, or fewer wake-ups on it."
	}
	ir := res.Instrumented
	if !loaded || ir == nil {
		return s + "The server's own share: its hand-offs and the wake-ups of its goroutines on the cores it shares with " +
			"the load generator (items 1 and 5); closing it takes fewer of them per flow."
	}
	sc := ir.Load.Sched
	s += fmt.Sprintf("Under the paced load the instrumented server woke %.1f goroutines per flow (the relay %.1f), waited "+
		"%s per flow on mutexes, and its collector ran %d time(s) for %.0f%% of its CPU", sc.PerFlow,
		res.Baseline.Load.Sched.PerFlow, dur(sc.MutexWaitPerFlow), sc.GCCycles, 100*sc.GCShare)
	if g := res.GCOff; g != nil {
		s += fmt.Sprintf("; with `GOGC=off` the p99 was %s send and %s accept", dur(g.Send.P99()), dur(g.Accept.P99()))
	}
	return s + ". Closing it takes less waiting for the one `Node.mu` and fewer wake-ups per flow (item 5, **Not done**)."
}

// whyMemory: what an idle connection holds.
func (res *Results) whyMemory(m MemoryResult) string {
	s := "Besides the heap and goroutine stacks an idle connection holds, the RSS carries what the collector's heap goal " +
		"and the scavenger leave mapped when it is read. "
	if m.HeapPerConn >= 0 {
		s = fmt.Sprintf("Of it, heap %s and goroutine stacks %s per connection; the rest is what the collector's heap goal "+
			"and the scavenger leave mapped when it is read. ", kib(m.HeapPerConn), kib(m.StackPerConn))
	}
	return s + "Closing it takes less held per idle session, by the heap profile under Profiles (item 4)."
}

// whyConnect: logins share the cores with the load generator.
func (res *Results) whyConnect() string {
	return fmt.Sprintf("A login costs the server and the load generator, which share the %d cores (%d logins at a time); "+
		"this run does not divide the CPU by login, and the server's profile while the clients log in is under Profiles. "+
		"What is left of a login's cost on either side, and what was cut, is in item 8.", res.Machine.Cores, res.Config.ConnectWorkers)
}
