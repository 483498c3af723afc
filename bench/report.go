//go:build !js

package bench

import (
	"bytes"
	_ "embed"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/rtmcall/rtmcall/server"
)

// Targets of issue 9, against the relay in the same run, and ahead of
// Centrifugo on every row.
const (
	targetP50Ratio     = 1.3
	targetP99Ratio     = 2.0 // under load
	targetFlowsRatio   = 1.0
	targetCPURatio     = 1.2
	targetConnectRatio = 1.0
	targetRSSPer       = 16 << 10 // bytes per idle logged-in connection
)

// findingsTemplate is the hand-written part of the report: what the
// profiles of the run show and the fixes proposed. It is a text/template
// over *Results, so that every number it cites comes from the run.
//
//go:embed findings.md.tmpl
var findingsTemplate string

// WriteReport writes the report to res.Config.Out and the chart next to it.
func WriteReport(res *Results) error {
	cfg := res.Config
	dir := filepath.Dir(cfg.Out)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, cfg.Chart), []byte(res.Chart()), 0o644); err != nil {
		return err
	}
	md, err := res.Markdown()
	if err != nil {
		return err
	}
	return os.WriteFile(cfg.Out, []byte(md), 0o644)
}

// Chart is the SVG of the latency distributions.
func (res *Results) Chart() string {
	panel := func(title string, pick func(SystemResult) LatencyResult) chartPanel {
		return chartPanel{title: title, series: []chartSeries{
			{label: "rtmcall send → RemoteInvitationReceived", color: "#1f6fd1", dist: pick(res.RTMCall).Send},
			{label: "rtmcall accept → LocalInvitationAccepted", color: "#d1491f", dist: pick(res.RTMCall).Accept},
			{label: "baseline A → B", color: "#1f6fd1", dashed: true, dist: pick(res.Baseline).Send},
			{label: "baseline B → A", color: "#d1491f", dashed: true, dist: pick(res.Baseline).Accept},
		}}
	}
	return latencyChart("rtmcall invitation latency vs the baseline relay ("+res.Machine.Date.UTC().Format("2006-01-02")+")",
		[]chartPanel{
			panel("idle server: one flow at a time", func(s SystemResult) LatencyResult { return s.Idle }),
			panel(fmt.Sprintf("%s concurrent pairs, %s flows/s", count(res.Config.Pairs), count(int(res.Config.LoadRate))),
				func(s SystemResult) LatencyResult { return s.Load }),
		})
}

// Target is one line of the summary.
type Target struct {
	What     string
	Measured string
	Baseline string
	Ratio    string
	PerRun   string // the ratio (or the figure) of each run, when the phase ran more than once
	Goal     string
	Met      bool
	// why says, when the target is missed, what the run and its profiles
	// show and what would close it (MissedTargets); nil: nothing to add.
	why func() string
}

// perRun formats f of each pair of runs of rtmcall and the baseline.
func (res *Results) perRun(f func(r, b FlowRun) string) string {
	if len(res.RTMCall.Runs) < 2 || len(res.RTMCall.Runs) != len(res.Baseline.Runs) {
		return ""
	}
	var out []string
	for i := range res.RTMCall.Runs {
		out = append(out, f(res.RTMCall.Runs[i], res.Baseline.Runs[i]))
	}
	return strings.Join(out, ", ")
}

// Targets checks the targets against the run.
func (res *Results) Targets() []Target {
	var ts []Target
	// perRun formats each run's ratio of what pick reads.
	perRun := func(pick func(FlowRun) float64) string {
		return res.perRun(func(r, b FlowRun) string { return times(ratio(pick(r), pick(b))) })
	}
	lat := func(cond string, loaded bool, pick func(SystemResult) LatencyResult, pickRun func(FlowRun) LatencyResult) {
		r, b := pick(res.RTMCall), pick(res.Baseline)
		for _, m := range []struct {
			name string
			r, b Dist
			dist func(LatencyResult) Dist
		}{
			{"send → RemoteInvitationReceived", r.Send, b.Send, func(l LatencyResult) Dist { return l.Send }},
			{"accept → LocalInvitationAccepted", r.Accept, b.Accept, func(l LatencyResult) Dist { return l.Accept }},
		} {
			runRatio := func(q float64) string {
				return perRun(func(r FlowRun) float64 { return float64(m.dist(pickRun(r)).Quantile(q)) })
			}
			why := func(q, goal float64, loaded bool) func() string {
				return func() string {
					return res.whyLatency(func(s SystemResult) time.Duration { return m.dist(pick(s)).Quantile(q) },
						res.Baseline, "the relay", func(x float64) bool { return x <= goal }, loaded, q > 0.5)
				}
			}
			p50 := durRatio(m.r.P50(), m.b.P50())
			ts = append(ts, Target{What: "p50 " + m.name + ", " + cond, Measured: dur(m.r.P50()), Baseline: dur(m.b.P50()),
				Ratio: times(p50), PerRun: runRatio(0.5), Goal: "≤ 1.3×", Met: p50 > 0 && p50 <= targetP50Ratio,
				why: why(0.5, targetP50Ratio, false)})
			if loaded {
				p99 := durRatio(m.r.P99(), m.b.P99())
				ts = append(ts, Target{What: "p99 " + m.name + ", " + cond, Measured: dur(m.r.P99()), Baseline: dur(m.b.P99()),
					Ratio: times(p99), PerRun: runRatio(0.99), Goal: "≤ 2×", Met: p99 > 0 && p99 <= targetP99Ratio,
					why: why(0.99, targetP99Ratio, true)})
			}
		}
	}
	lat("idle", false, func(s SystemResult) LatencyResult { return s.Idle }, func(r FlowRun) LatencyResult { return r.Idle })
	lat(count(res.Config.Pairs)+" pairs", true, func(s SystemResult) LatencyResult { return s.Load },
		func(r FlowRun) LatencyResult { return r.Load })
	r, b := res.RTMCall.Throughput, res.Baseline.Throughput
	fr := ratio(r.Rate, b.Rate)
	ts = append(ts, Target{What: "complete flows per second (load generator on the same 2 cores)",
		Measured: count(int(r.Rate)), Baseline: count(int(b.Rate)), Ratio: times(fr),
		PerRun: perRun(func(r FlowRun) float64 { return r.Throughput.Rate }),
		Goal:   "≥ 1.0×", Met: fr >= targetFlowsRatio,
		why: func() string { return res.whyFlows(res.Baseline, 2*relayFlowMessages, "the relay") }})
	cr := durRatio(r.ServerCPUPerFlow, b.ServerCPUPerFlow)
	ts = append(ts, Target{What: "server CPU per flow",
		Measured: dur(r.ServerCPUPerFlow), Baseline: dur(b.ServerCPUPerFlow), Ratio: times(cr),
		PerRun: perRun(func(r FlowRun) float64 { return float64(r.Throughput.ServerCPUPerFlow) }),
		Goal:   "≤ 1.2×", Met: cr > 0 && cr <= targetCPURatio,
		why: func() string {
			return res.whyCPU(res.Baseline, relayFlowMessages, relayFlowMessages, "the relay",
				"`TestFlowMessages` counts both on the wire")
		}})
	m, bm := res.RTMCall.Memory, res.Baseline.Memory
	ts = append(ts, Target{What: fmt.Sprintf("server RSS per idle logged-in connection (%s), 2s after login", count(m.Conns)),
		Measured: kib(m.RSSPerConn), Baseline: kib(bm.RSSPerConn), Ratio: times(ratio(m.RSSPerConn, bm.RSSPerConn)),
		Goal: "≤ 16 KiB", Met: m.RSSPerConn > 0 && m.RSSPerConn <= targetRSSPer, why: func() string { return res.whyMemory(m) }})
	if st := m.Steady; st != nil {
		ts = append(ts, Target{What: fmt.Sprintf("the same after %s idle with heartbeats", res.Config.Steady),
			Measured: kib(st.RSSPerConn), Baseline: kib(bm.RSSPerConn), Ratio: times(ratio(st.RSSPerConn, bm.RSSPerConn)),
			Goal: "≤ 16 KiB", Met: st.RSSPerConn > 0 && st.RSSPerConn <= targetRSSPer, why: func() string { return res.whyMemory(*st) }})
	}
	rc, bc := res.RTMCall.Connect.Rate, res.Baseline.Connect.Rate
	ts = append(ts, Target{What: "connect rate, logins/s", Measured: count(int(rc)), Baseline: count(int(bc)),
		Ratio: times(ratio(rc, bc)), Goal: "≥ 1.0×", Met: ratio(rc, bc) >= targetConnectRatio, why: res.whyConnect})
	ts = append(ts, res.centrifugoTargets()...)
	if t, ok := res.messageTarget(); ok {
		ts = append(ts, t)
	}
	return ts
}

// centrifugoTargets are the rows against Centrifugo, when it ran: rtmcall
// (the real server and core.Client) ahead on every one.
func (res *Results) centrifugoTargets() []Target {
	cf := res.Centrifugo
	if cf == nil {
		return nil
	}
	r := res.RTMCall
	var ts []Target
	row := func(what, measured, theirs string, x float64, higher bool, why func() string) {
		t := Target{What: what + " (vs Centrifugo)", Measured: measured, Baseline: theirs, Ratio: times(x),
			Goal: "< 1× (ahead)", Met: x > 0 && x < 1, why: why}
		if higher {
			t.Goal, t.Met = "> 1× (ahead)", x > 1
		}
		ts = append(ts, t)
	}
	ahead := func(x float64) bool { return x < 1 }
	for _, d := range centrifugoTimes {
		a, c := d.pick(r), d.pick(*cf)
		why := func() string {
			return res.whyLatency(d.pick, *cf, "Centrifugo", ahead, d.loaded, strings.HasSuffix(d.name, "p99"))
		}
		if d.cpu {
			why = func() string {
				return res.whyCPU(*cf, cfFlowReads, cfFlowWrites, "Centrifugo",
					"rtmcall's counted by `TestFlowMessages`, Centrifugo's its protocol's as `bench/centrifugo.go` drives it")
			}
		}
		row(d.name, dur(a), dur(c), durRatio(a, c), false, why)
	}
	row("flows/s", count(int(r.Throughput.Rate)), count(int(cf.Throughput.Rate)), ratio(r.Throughput.Rate, cf.Throughput.Rate), true,
		func() string { return res.whyFlows(*cf, cfFlowReads+cfFlowWrites, "Centrifugo") })
	one := func(v float64) string { return fmt.Sprintf("%.1f", v) }
	row("server write syscalls per flow", one(r.Throughput.WritesPerFlow), one(cf.Throughput.WritesPerFlow),
		ratio(r.Throughput.WritesPerFlow, cf.Throughput.WritesPerFlow), false, res.whyWrites)
	row("server read syscalls per flow", one(r.Throughput.ReadsPerFlow), one(cf.Throughput.ReadsPerFlow),
		ratio(r.Throughput.ReadsPerFlow, cf.Throughput.ReadsPerFlow), false, res.whyReads)
	row("server RSS per idle logged-in connection", kib(r.Memory.RSSPerConn), kib(cf.Memory.RSSPerConn),
		ratio(r.Memory.RSSPerConn, cf.Memory.RSSPerConn), false, func() string { return res.whyMemory(r.Memory) })
	row("connect rate, logins/s", count(int(r.Connect.Rate)), count(int(cf.Connect.Rate)), ratio(r.Connect.Rate, cf.Connect.Rate), true,
		res.whyConnect)
	return ts
}

// Markdown is the report.
func (res *Results) Markdown() (string, error) {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	cfg := res.Config
	mach := res.Machine

	w("# rtmcall benchmarks\n\n")
	w("<!-- Generated by `make bench` (cmd/rtmcall-bench, package bench). Do not edit: change bench/report.go or\n")
	w("     bench/findings.md.tmpl and run `make bench` again. -->\n\n")
	w("Every figure on this page comes from one run of `make bench` on the machine below, on %s; the run took %s.\n",
		mach.Date.UTC().Format("2006-01-02 15:04 MST"), res.Took.Round(time.Second))
	w("The servers ran as separate processes on loopback (`127.0.0.1`), next to the load generator on the same cores.\n")
	w("Each comparison is a ratio against the **baseline relay** measured in the same run: the least a signaling relay\n")
	w("does (client A → server → client B over coder/websocket, JSON messages of the same sizes, one goroutine per\n")
	w("connection, no state, no logs). `rtmcall` means the real `cmd/rtmcall-server` driven by the real `core.Client`.\n\n")

	w("## Targets\n\n")
	w("| target | rtmcall | baseline | ratio | run by run | goal | met |\n|---|---:|---:|---:|---:|---|---|\n")
	for _, t := range res.Targets() {
		met := "**yes**"
		if !t.Met {
			met = "**no**"
		}
		w("| %s | %s | %s | %s | %s | %s | %s |\n", t.What, t.Measured, t.Baseline, t.Ratio, t.PerRun, t.Goal, met)
	}
	if len(res.RTMCall.Runs) > 1 {
		w("\nLatency and throughput pool %d runs of each system (*run by run*: each run's ratio).\n",
			len(res.RTMCall.Runs))
	}
	if res.Centrifugo != nil {
		w("\nRows *vs Centrifugo* hold Centrifugo's figure in the baseline column ([Against Centrifugo](#against-centrifugo)).\n")
	}
	w("Where a target is missed, [Targets missed](#targets-missed) says what the run and its profiles show and what would\n")
	w("close it, with the item of [Findings and open items](#findings-and-open-items) that holds the detail.\n\n")

	w("## Machine\n\n| | |\n|---|---|\n")
	w("| CPU | %s, %d cores |\n", mach.CPU, mach.Cores)
	w("| memory | %.1f GiB |\n", float64(mach.MemBytes)/(1<<30))
	w("| OS | %s, Linux %s |\n", mach.OS, mach.Kernel)
	w("| Go | %s |\n", mach.GoVersion)
	w("| file limit | %d (RLIMIT_NOFILE, raised to the hard limit by the harness) |\n", mach.FileLimit)
	w("| date | %s |\n", mach.Date.UTC().Format(time.RFC3339))
	w("| code | %s |\n", res.Code)
	w("| other programs | load average %.2f at the start; %.1f CPU-seconds used by other programs during the run (%.2f cores on average) |\n",
		res.LoadAtStart, res.OtherCPU.Seconds(), ratio(res.OtherCPU.Seconds(), res.Took.Seconds()))
	w("| hypervisor steal | %.1f CPU-seconds taken from this virtual machine by its host during the run (%.2f cores on average) |\n\n",
		res.Steal.Seconds(), ratio(res.Steal.Seconds(), res.Took.Seconds()))

	w("## Reproduce\n\n```sh\nmake bench\n```\n\n")
	w("builds `bin/rtmcall-server` and runs `go run ./cmd/rtmcall-bench`, which rewrites this page and `docs/%s`.\n", cfg.Chart)
	w("This run's flags: `rtmcall-bench %s`. Every size is a flag (`go run ./cmd/rtmcall-bench -h`); a quick version:\n\n", strings.Join(res.Args, " "))
	w("```sh\nmake bench BENCH_FLAGS='-conns 2000 -pairs 200 -load-rate 500 -load-duration 3s -throughput-duration 3s\n")
	w("    -profile-duration 2s -micro-benchtime 100x -browser=false -out /tmp/bench/BENCHMARKS.md' CENTRIFUGO=\n```\n\n")
	w("(`CENTRIFUGO=` skips Centrifugo; by default `make bench` builds the pinned version into `.bin/` once and\n")
	w("measures it side by side: [Against Centrifugo](#against-centrifugo).)\n\n")
	w("`go test ./bench` runs a tiny version of the whole harness and checks its output; `make test-bench` runs every Go\n")
	w("micro-benchmark once.\n\n")

	res.writeLatency(w)
	res.writeMessages(w)
	res.writeThroughput(w)
	res.writeMemory(w)
	res.writeConnect(w)
	res.writeCentrifugo(w)
	res.writeBrowser(w)
	res.writeMicro(w)
	res.writeProfiles(w)

	w("## Findings and open items\n\n")
	tmpl, err := template.New("findings").Funcs(templateFuncs).Parse(findingsTemplate)
	if err != nil {
		return "", fmt.Errorf("findings template: %w", err)
	}
	var fb bytes.Buffer
	if err := tmpl.Execute(&fb, res); err != nil {
		return "", fmt.Errorf("findings template: %w", err)
	}
	b.Write(fb.Bytes())

	res.writeMethod(w)
	if len(res.Notes) > 0 {
		w("\n## Notes of this run\n\n")
		for _, n := range res.Notes {
			w("- %s\n", n)
		}
	}
	return b.String(), nil
}

type writer func(format string, args ...any)

func (res *Results) writeLatency(w writer) {
	cfg := res.Config
	w("## Invitation latency\n\n")
	w("A *flow* is one complete invitation: the caller sends, the callee's device gets `RemoteInvitationReceived` and\n")
	w("acknowledges it, the caller gets the receipt, then the callee accepts and the caller gets\n")
	w("`LocalInvitationAccepted`. Two latencies per flow, each one way across the server, timed on one clock (both\n")
	w("clients live in the harness): **send** (`LocalInvitation.Send` called → the callee's `OnInvitationReceived`\n")
	w("callback) and **accept** (`RemoteInvitation.Accept` called → the caller's `OnAccepted` callback). The baseline\n")
	w("does the same with three relayed messages: invite (A → B), receipt (B → A), answer (B → A); its send and accept\n")
	w("latencies are the invite's and the answer's trips.\n\n")
	w("- **idle**: %s flows one at a time (%s between flows), rotating over %d logged-in pairs.\n",
		count(cfg.IdleFlows), cfg.IdleGap, cfg.IdlePairs)
	w("- **%s pairs**: %s logged-in clients; each pair starts a flow every %s (random phase), %s flows/s in all, for %s.\n",
		count(cfg.Pairs), count(2*cfg.Pairs), time.Duration(float64(cfg.Pairs)/cfg.LoadRate*float64(time.Second)),
		count(int(cfg.LoadRate)), cfg.LoadDuration)
	w("\n")
	w("*rtmcall server, bare client* is the real server driven by minimal clients that speak the wire protocol directly,\n")
	w("as the baseline's clients do: it separates the server's share of the latency from `core.Client`'s.\n\n")

	w("| condition | system | flows | send p50 | p90 | p99 | max | accept p50 | p90 | p99 | max | errors | other programs, cores |\n")
	w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range []struct {
		name string
		pick func(SystemResult) LatencyResult
	}{
		{"idle", func(s SystemResult) LatencyResult { return s.Idle }},
		{count(cfg.Pairs) + " pairs", func(s SystemResult) LatencyResult { return s.Load }},
	} {
		for _, s := range res.flowSystems() {
			l := c.pick(s)
			w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %.2f |\n", c.name, s.Name, count(l.Flows),
				dur(l.Send.P50()), dur(l.Send.P90()), dur(l.Send.P99()), dur(l.Send.Max()),
				dur(l.Accept.P50()), dur(l.Accept.P90()), dur(l.Accept.P99()), dur(l.Accept.Max()), l.Errors, l.OtherCores)
		}
	}
	w("\nRatios to the baseline (p50 target ≤ 1.3×, p99 target under load ≤ 2×):\n\n")
	w("| condition | system | send p50 | send p99 | accept p50 | accept p99 |\n|---|---|---:|---:|---:|---:|\n")
	for _, c := range []struct {
		name string
		pick func(SystemResult) LatencyResult
	}{
		{"idle", func(s SystemResult) LatencyResult { return s.Idle }},
		{count(cfg.Pairs) + " pairs", func(s SystemResult) LatencyResult { return s.Load }},
	} {
		b := c.pick(res.Baseline)
		for _, s := range []SystemResult{res.RTMCall, res.Raw} {
			l := c.pick(s)
			w("| %s | %s | %s | %s | %s | %s |\n", c.name, s.Name,
				times(durRatio(l.Send.P50(), b.Send.P50())), times(durRatio(l.Send.P99(), b.Send.P99())),
				times(durRatio(l.Accept.P50(), b.Accept.P50())), times(durRatio(l.Accept.P99(), b.Accept.P99())))
		}
	}
	if g := res.GCOff; g != nil {
		w("\nDiagnostic: `rtmcall-server` started with `GOGC=off` (no garbage collection), the same %s pairs and paced\n", count(cfg.Pairs))
		w("load, driven by `core.Client`: send p50 %s, p99 %s, max %s; accept p50 %s, p99 %s, max %s (%s flows, %d errors,\n",
			dur(g.Send.P50()), dur(g.Send.P99()), dur(g.Send.Max()), dur(g.Accept.P50()), dur(g.Accept.P99()), dur(g.Accept.Max()),
			count(g.Flows), g.Errors)
		w("other programs %.2f cores).\n", g.OtherCores)
	}
	for _, s := range res.flowSystems() {
		for _, l := range []LatencyResult{s.Idle, s.Load, s.Throughput.LatencyResult} {
			if l.ErrText != "" {
				w("\n%s: %s\n", s.Name, l.ErrText)
			}
		}
		if s.Load.Late > 0 {
			w("\n%s: %d flows of the paced run started over a period late (the load generator fell behind).\n", s.Name, s.Load.Late)
		}
	}
	if len(res.RTMCall.Runs) > 1 {
		w("\nThe figures above pool the samples of %d runs of each system (the systems took turns, each run on a fresh\n",
			len(res.RTMCall.Runs))
		w("server process). Run by run, as a measure of how much they move on this machine (*server cores* and *load\n")
		w("generator CPU per flow* are the throughput run's, as in [Throughput and server CPU](#throughput-and-server-cpu)):\n\n")
		w("| system | run | idle send p50 | idle accept p50 | loaded send p99 | loaded accept p99 | flows/s | server CPU per flow | server cores | load generator CPU per flow | other programs, cores |\n")
		w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, s := range res.flowSystems() {
			for i, r := range s.Runs {
				t := r.Throughput
				w("| %s | %d | %s | %s | %s | %s | %s | %s | %.2f | %s | %.2f |\n", s.Name, i+1, dur(r.Idle.Send.P50()), dur(r.Idle.Accept.P50()),
					dur(r.Load.Send.P99()), dur(r.Load.Accept.P99()), count(int(t.Rate)), dur(t.ServerCPUPerFlow), t.ServerCores,
					dur(t.GenCPUPerFlow), max(r.Idle.OtherCores, r.Load.OtherCores, t.OtherCores))
			}
		}
	}
	w("\n![Latency percentiles: rtmcall vs the baseline relay](%s)\n\n", res.Config.Chart)
	w("The chart (`docs/%s`, drawn by the harness) plots each distribution by percentile on a log scale, so the tail\n", res.Config.Chart)
	w("gets as much room as the median: solid lines are rtmcall, dashed lines the baseline.\n\n")
}

// flowSystems are the systems whose flows were measured, in table order.
func (res *Results) flowSystems() []SystemResult {
	out := []SystemResult{res.RTMCall, res.Raw, res.Baseline}
	if cf := res.Centrifugo; cf != nil {
		out = append(out, *cf)
	}
	return out
}

// centrifugoTimes are the times compared with Centrifugo's, row by row.
var centrifugoTimes = []struct {
	name        string
	pick        func(SystemResult) time.Duration
	loaded, cpu bool
}{
	{"idle send p50", func(s SystemResult) time.Duration { return s.Idle.Send.P50() }, false, false},
	{"idle send p99", func(s SystemResult) time.Duration { return s.Idle.Send.P99() }, false, false},
	{"idle accept p50", func(s SystemResult) time.Duration { return s.Idle.Accept.P50() }, false, false},
	{"idle accept p99", func(s SystemResult) time.Duration { return s.Idle.Accept.P99() }, false, false},
	{"loaded send p50", func(s SystemResult) time.Duration { return s.Load.Send.P50() }, true, false},
	{"loaded send p99", func(s SystemResult) time.Duration { return s.Load.Send.P99() }, true, false},
	{"loaded accept p50", func(s SystemResult) time.Duration { return s.Load.Accept.P50() }, true, false},
	{"loaded accept p99", func(s SystemResult) time.Duration { return s.Load.Accept.P99() }, true, false},
	{"server CPU per flow", func(s SystemResult) time.Duration { return s.Throughput.ServerCPUPerFlow }, false, true},
}

// writeCentrifugo compares rtmcall with Centrifugo row by row, in this run.
func (res *Results) writeCentrifugo(w writer) {
	cf := res.Centrifugo
	if cf == nil {
		return
	}
	r := res.RTMCall
	w("## Against Centrifugo\n\n")
	w("Centrifugo (`%s`, the version the Makefile pins, built from the module proxy) measured in the same run, on the\n", centrifugoModule)
	w("same flows, driven by minimal JSON clients over client publish to personal channels (`bench/centrifugo.go`):\n")
	w("rtmcall (the real server and `core.Client`, and the same server with bare clients) against it. Below 1× is\n")
	w("rtmcall ahead for times, CPU, system calls and memory; above 1× for rates.\n\n")
	w("| | rtmcall | rtmcall, bare client | Centrifugo | rtmcall / Centrifugo | bare / Centrifugo |\n|---|---:|---:|---:|---:|---:|\n")
	for _, d := range centrifugoTimes {
		a, b, c := d.pick(r), d.pick(res.Raw), d.pick(*cf)
		w("| %s | %s | %s | %s | %s | %s |\n", d.name, dur(a), dur(b), dur(c), times(durRatio(a, c)), times(durRatio(b, c)))
	}
	f := func(name string, a, b, c float64, format func(float64) string) {
		w("| %s | %s | %s | %s | %s | %s |\n", name, format(a), format(b), format(c), times(ratio(a, c)), times(ratio(b, c)))
	}
	n := func(v float64) string { return count(int(v)) }
	one := func(v float64) string { return fmt.Sprintf("%.1f", v) }
	f("flows/s", r.Throughput.Rate, res.Raw.Throughput.Rate, cf.Throughput.Rate, n)
	f("server write syscalls per flow", r.Throughput.WritesPerFlow, res.Raw.Throughput.WritesPerFlow, cf.Throughput.WritesPerFlow, one)
	f("server read syscalls per flow", r.Throughput.ReadsPerFlow, res.Raw.Throughput.ReadsPerFlow, cf.Throughput.ReadsPerFlow, one)
	w("\n| | rtmcall | Centrifugo | rtmcall / Centrifugo |\n|---|---:|---:|---:|\n")
	w("| RSS per idle logged-in connection (%s) | %s | %s | %s |\n", count(res.Config.Conns), kib(r.Memory.RSSPerConn),
		kib(cf.Memory.RSSPerConn), times(ratio(r.Memory.RSSPerConn, cf.Memory.RSSPerConn)))
	w("| connect rate, logins/s | %s | %s | %s |\n\n", count(int(r.Connect.Rate)), count(int(cf.Connect.Rate)),
		times(ratio(r.Connect.Rate, cf.Connect.Rate)))
	w("%s\n\n", centrifugoNote)
}

func (res *Results) writeThroughput(w writer) {
	cfg := res.Config
	w("## Throughput and server CPU\n\n")
	w("%s pairs do complete flows back to back for %s (each pair at most one flow per %s, so that no connection\n",
		count(cfg.Pairs), cfg.ThroughputDuration, pairMinPeriod)
	w("reaches the server's rate limit of 60 frames/s). The server's CPU time (utime + stime), system calls and context\n")
	w("switches are read from `/proc/PID/{stat,io,task/*/status}` before and after; the load generator's CPU from\n")
	w("`getrusage`. Both share the machine's %d cores.\n\n", res.Machine.Cores)
	w("| system | flows/s | server CPU per flow | server cores busy | server read / write syscalls per flow | server context switches per flow | load generator CPU per flow | load generator cores | other programs, cores | server log bytes per flow | errors |\n")
	w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range res.flowSystems() {
		t := s.Throughput
		w("| %s | %s | %s | %.2f | %.1f / %.1f | %.2f | %s | %.2f | %.2f | %.0f | %d |\n", s.Name, count(int(t.Rate)),
			dur(t.ServerCPUPerFlow), t.ServerCores, t.ReadsPerFlow, t.WritesPerFlow, t.SwitchesPerFlow,
			dur(t.GenCPUPerFlow), t.GenCores, t.OtherCores, t.LogBytesPerFlow, t.Errors)
	}
	r, b := res.RTMCall.Throughput, res.Baseline.Throughput
	w("\nrtmcall/baseline: %s the flows per second, %s the server CPU per flow. At the paced load (%s flows/s) the server\n",
		times(ratio(r.Rate, b.Rate)), times(durRatio(r.ServerCPUPerFlow, b.ServerCPUPerFlow)), count(int(cfg.LoadRate)))
	w("spends more per flow, having fewer frames to amortize each wake-up over: rtmcall %s (%.1f context switches per\n",
		dur(r.LoadServerCPUPerFlow), r.LoadSwitchesPerFlow)
	w("flow), baseline %s (%.1f).\n", dur(b.LoadServerCPUPerFlow), b.LoadSwitchesPerFlow)
	if r.ServerCPUPerFlow > 0 {
		w("With the %d cores to itself, the rtmcall server's CPU per flow would allow about %s flows/s.\n",
			res.Machine.Cores, count(int(float64(res.Machine.Cores)/r.ServerCPUPerFlow.Seconds())))
	}
	if ir := res.Instrumented; ir != nil {
		w("\nThe Go scheduler in the server during a paced run (%s flows/s): how many times a goroutine was woken\n", count(int(cfg.LoadRate)))
		w("(made runnable, then run) per flow, and how long it waited to run (`runtime/metrics`\n")
		w("`/sched/latencies:seconds`, bucket bounds; the runtime samples one transition in 8, the counts are scaled\n")
		w("back). The real `rtmcall-server` does not report it: the instrumented\n")
		w("server (same code) stands for it.\n\n")
		w("The same run's garbage collections (the share of the process's CPU is the runtime's estimate), their\n")
		w("stop-the-world pauses, and the time goroutines spent blocked on a `sync.Mutex` (`/sync/mutex/wait/total`).\n\n")
		w("| server | wake-ups per flow | wait p50 | wait p99 | GC cycles | GC share of CPU | GC pause p99 | GC pause max | mutex wait per flow | send p50 | send p99 |\n")
		w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, row := range []struct {
			name string
			l    LatencyResult
		}{{"rtmcall, instrumented", ir.Load}, {"baseline relay", res.Baseline.Load}} {
			sc := row.l.Sched
			w("| %s | %.1f | %s | %s | %d | %.0f%% | %s | %s | %s | %s | %s |\n", row.name, sc.PerFlow, dur(sc.P50), dur(sc.P99),
				sc.GCCycles, 100*sc.GCShare, dur(sc.PauseP99), dur(sc.PauseMax), dur(sc.MutexWaitPerFlow),
				dur(row.l.Send.P50()), dur(row.l.Send.P99()))
		}
	}
	w("\n")
}

func (res *Results) writeMemory(w writer) {
	w("## Memory\n\n")
	w("The server's resident memory (`VmRSS` of `/proc/PID/status`) is read %s after it started and again %s after\n",
		res.Config.Settle, res.Config.Settle)
	w("%s clients logged in (connected and `login` answered) and then stayed idle; the difference is divided by the\n", count(res.Config.Conns))
	w("number of connections. Heap (`HeapInuse`), goroutine stacks (`StackInuse`) and goroutines come from the\n")
	w("process's own `runtime.MemStats` after a GC, where the process can report them. `rtmcall-server` is read once\n")
	w("more after its clients stayed idle %s longer, pinging at the heartbeat interval the server gives them\n", res.Config.Steady)
	w("(%s), when `-steady` is not 0: the steady state.\n\n", server.DefaultHeartbeat)
	w("| server | connections | RSS before | RSS after | RSS per connection | heap per connection | stacks per connection | goroutines per connection | threads |\n")
	w("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	row := func(name string, m MemoryResult) {
		w("| %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", name, count(m.Conns), mib(m.RSSBefore), mib(m.RSSAfter),
			kib(m.RSSPerConn), optKiB(m.HeapPerConn), optKiB(m.StackPerConn), optNum(m.GoroutinesPerConn), m.Threads)
	}
	row("rtmcall-server", res.RTMCall.Memory)
	if st := res.RTMCall.Memory.Steady; st != nil {
		row(fmt.Sprintf("rtmcall-server, %s later", res.Config.Steady), *st)
	}
	if ir := res.Instrumented; ir != nil {
		row("rtmcall, instrumented", ir.Memory)
	}
	row("baseline relay", res.Baseline.Memory)
	if cf := res.Centrifugo; cf != nil {
		row("Centrifugo", cf.Memory)
	}
	w("\n")
	var eps []string
	for _, p := range slices.Sorted(maps.Keys(res.ServerEndpoints)) {
		eps = append(eps, fmt.Sprintf("`%s` → %d", p, res.ServerEndpoints[p]))
	}
	if res.RTMCall.Memory.FromMetrics {
		w("`rtmcall-server`'s heap, stacks and goroutines come from its own Prometheus `/metrics`\n")
		w("(`go_memstats_heap_inuse_bytes`, `go_memstats_stack_inuse_bytes`, `go_goroutines`; not after a GC).\n")
		w("HTTP status of the introspection paths: %s.\n", strings.Join(eps, ", "))
	} else {
		w("`rtmcall-server` itself exposes no heap or goroutine figures at the time of this run (HTTP status of %s),\n",
			strings.Join(eps, ", "))
		w("so its row has RSS only.\n")
	}
	w("*rtmcall, instrumented* is the same `server.New` with the same `Config` as\n")
	w("`rtmcall-server -dev` (text logs at level Info on stderr), run by the harness with `/debug/stats` and\n")
	w("`/debug/pprof` added: its heap, stacks and goroutines stand for the server's.\n\n")
	if res.RTMCall.Memory.RSSPerConn > 0 {
		w("At %s per connection, 1 GB of RSS holds about %s idle logged-in connections (target: 30,000).\n\n",
			kib(res.RTMCall.Memory.RSSPerConn), count(int(float64(1<<30)/res.RTMCall.Memory.RSSPerConn)))
	}
}

func (res *Results) writeConnect(w writer) {
	w("## Connect rate\n\n")
	w("Logins per second while opening the %s connections of the memory run, %d at a time: WebSocket upgrade plus\n",
		count(res.Config.Conns), res.Config.ConnectWorkers)
	w("`login` answered (rtmcall, `core.Client.Login`), or upgrade plus a hello answered (baseline).\n\n")
	w("| server | logins | time | logins/s | failed | other programs, cores |\n|---|---:|---:|---:|---:|---:|\n")
	systems := []SystemResult{res.RTMCall, res.Baseline}
	if cf := res.Centrifugo; cf != nil {
		systems = append(systems, *cf)
	}
	for _, s := range systems {
		c := s.Connect
		w("| %s | %s | %s | %s | %d | %.2f |\n", s.Name, count(c.Logins), c.Elapsed.Round(time.Millisecond), count(int(c.Rate)),
			c.Errors, c.OtherCores)
	}
	w("\nrtmcall/baseline: %s.\n\n", times(ratio(res.RTMCall.Connect.Rate, res.Baseline.Connect.Rate)))
}

func (res *Results) writeMicro(w writer) {
	w("## Micro-benchmarks\n\n")
	if len(res.Micro) == 0 {
		w("Not run (`-micro-benchtime \"\"`).\n\n")
		return
	}
	w("`go test -run '^$' -bench . -benchmem -benchtime=%s %s`:\n\n", res.Config.MicroBenchtime, strings.Join(microPackages, " "))
	w("| package | benchmark | ns/op | B/op | allocs/op | other |\n|---|---|---:|---:|---:|---|\n")
	for _, m := range res.Micro {
		w("| %s | %s | %s | %.0f | %.0f | %s |\n", strings.TrimPrefix(m.Pkg, "github.com/rtmcall/rtmcall/"), m.Name,
			trimFloat(m.NsPerOp), m.BytesPerOp, m.AllocsPerOp, m.Other)
	}
	w("\n")
}

func (res *Results) writeProfiles(w writer) {
	ir := res.Instrumented
	if ir == nil {
		return
	}
	w("## Profiles\n\n")
	w("CPU profile of the instrumented server under the throughput load (%s pairs back to back, %s; %s flows/s while\n",
		count(res.Config.Pairs), res.Config.ProfileDuration, count(int(ir.Throughput)))
	w("profiled), `go tool pprof -top`:\n\n```\n%s\n```\n\n", ir.CPUTop)
	w("Heap profile (in use) of the instrumented server holding %s idle logged-in connections:\n\n```\n%s\n```\n\n",
		count(ir.Memory.Conns), ir.HeapTop)
	if ir.SchedTop != "" {
		w("Where the instrumented server's goroutines waited, runnable, before they ran (`go tool trace -pprof=sched` of\n")
		w("an execution trace of %s paced flows; %s of waiting in all, %s per flow). A function's time is the wait of\n",
			count(ir.TraceFlows), dur(ir.SchedTotal), dur(perFlow(ir.SchedTotal, ir.TraceFlows)))
		w("the goroutines it made runnable:\n\n```\n%s\n```\n\n", ir.SchedTop)
	}
	w("CPU profile of the instrumented server while the %s clients logged in (2 s):\n\n```\n%s\n```\n\n",
		count(ir.Memory.Conns), ir.ConnectTop)
	if t := res.RTMCall.Throughput; t.GenTop != "" {
		w("CPU profile of the load generator (the harness: %s pairs of `core.Client`) doing flows back to back against\n",
			count(res.Config.Pairs))
		w("`rtmcall-server` for %s, a run of its own after rtmcall's last measured throughput run (so that no measured run\n",
			res.Config.ProfileDuration)
		w("pays for the profiling):\n\n```\n%s\n```\n\n", t.GenTop)
	}
}

func (res *Results) writeMethod(w writer) {
	w("\n## Method\n\n")
	w("- The real server is `bin/rtmcall-server -dev -addr 127.0.0.1:0 -web \"\"`, its logs read from a pipe and counted;\n")
	w("  the baseline relay and the instrumented server are the harness binary re-executed in another role\n")
	w("  (`%s`). Each phase starts a fresh server process and stops it with SIGTERM. Before each phase the harness\n", RoleEnv)
	w("  collects its own garbage and returns its free memory (`debug.FreeOSMemory`), so that no phase's load generator\n")
	w("  runs with a heap goal set by another phase's clients, or with the scavenger returning their memory.\n")
	cf := ""
	if res.Centrifugo != nil {
		cf = ", Centrifugo"
	}
	w("- The systems' flow phases take turns, in reverse order every other round (rtmcall, bare clients, relay%s, then\n", cf)
	w("  back), so that a drift of the machine touches them alike and none always follows the same phase.\n")
	w("- Latencies are timed in the harness process with the monotonic clock; both ends of a flow are in it. The\n")
	w("  percentiles are nearest-rank over every flow of a run; no sample is dropped.\n")
	w("- Warm-up: the idle run is preceded by %d flows, the paced runs by a shorter paced run; neither is counted.\n", min(res.Config.IdleFlows/10, 200))
	w("- The load generator shares the CPU with the server: on %d cores, throughput is bounded by the sum of the\n", res.Machine.Cores)
	w("  server's and the clients' CPU per flow. Server CPU per flow is measured alone (separate process).\n")
	w("- RLIMIT_NOFILE is raised to the hard limit with `syscall.Setrlimit`; the servers inherit it.\n")
	w("- The machine may be shared. *Other programs, cores* is the CPU the rest of the machine used during a run\n")
	w("  (`/proc/stat` busy time minus the harness's, its children's and the server's). Each phase waits up to %s for\n", res.Config.QuietWait)
	w("  it to fall under %.2f cores, and a phase during which it was higher is run again, up to %d times in all;\n",
		res.Config.MaxOther, res.Config.Attempts)
	w("  the least disturbed run is kept. Attempts in this run: memory and connect rate %d (rtmcall) and %d (baseline);\n",
		res.RTMCall.MemoryAttempts, res.Baseline.MemoryAttempts)
	w("  flows %d (rtmcall), %d (bare clients), %d (baseline).\n", res.RTMCall.FlowAttempts, res.Raw.FlowAttempts, res.Baseline.FlowAttempts)
}

// Formatting helpers.

var templateFuncs = template.FuncMap{
	"dur":      dur,
	"kib":      kib,
	"times":    times,
	"count":    count,
	"countf":   func(v float64) string { return count(int(v)) },
	"count64":  func(v int64) string { return count(int(v)) },
	"ratio":    ratio,
	"durRatio": durRatio,
	"sub":      func(a, b time.Duration) time.Duration { return a - b },
	"pct": func(m map[string]float64, name string) string {
		if v, ok := m[name]; ok {
			return fmt.Sprintf("%.1f%%", v)
		}
		return "n/a"
	},
	"mul":     func(a, b float64) float64 { return a * b },
	"perFlow": perFlow,
	"has": func(m map[string]float64, name string) bool {
		_, ok := m[name]
		return ok
	},
	"schedPerFlow": func(ir *InstrumentedResult, name string) string {
		if ir == nil || ir.TraceFlows == 0 {
			return "n/a"
		}
		v, ok := ir.SchedShares[name]
		if !ok {
			return "n/a"
		}
		return dur(time.Duration(v / 100 * float64(ir.SchedTotal) / float64(ir.TraceFlows)))
	},
	"heapPerConn": func(ir *InstrumentedResult, name string) string {
		if ir == nil || ir.Memory.Conns == 0 {
			return "n/a"
		}
		v, ok := ir.HeapShares[name]
		if !ok {
			return "n/a"
		}
		return kib(v / float64(ir.Memory.Conns))
	},
	"f1": func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"f0": func(v float64) string { return fmt.Sprintf("%.0f", v) },
}

// dur formats a latency or CPU time: µs under 1 ms, ms above.
func dur(d time.Duration) string {
	if d < 0 {
		return "−" + dur(-d)
	}
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case d == 0:
		return "–"
	case d < time.Microsecond:
		return fmt.Sprintf("%.2f µs", float64(d)/float64(time.Microsecond))
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", ms)
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", ms)
	default:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
}

func kib(b float64) string { return fmt.Sprintf("%.1f KiB", b/1024) }

func optKiB(b float64) string {
	if b < 0 {
		return "not exposed"
	}
	return kib(b)
}

func optNum(v float64) string {
	if v < 0 {
		return "not exposed"
	}
	return fmt.Sprintf("%.2f", v)
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func times(r float64) string {
	if r == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", r)
}

// count formats an integer with thousands separators.
func count(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + count(-n)
	}
	var out []string
	for len(s) > 3 {
		out = append([]string{s[len(s)-3:]}, out...)
		s = s[:len(s)-3]
	}
	return strings.Join(append([]string{s}, out...), ",")
}
