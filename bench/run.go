//go:build !js

package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Config sizes a run. DefaultConfig is the full suite of `make bench`;
// tests use much smaller numbers.
type Config struct {
	// ServerBin is the rtmcall-server binary (built from cmd/rtmcall-server).
	ServerBin string
	// Centrifugo is the Centrifugo binary measured side by side
	// (centrifugo.go); empty skips it.
	Centrifugo string
	// Root is the repository, for the micro-benchmarks and the browser module.
	Root string
	// Out is the report written (docs/BENCHMARKS.md); the chart goes next to it.
	Out string
	// Chart is the chart's file name, in Out's directory.
	Chart string
	// WorkDir receives profiles; empty: a temporary directory, removed after.
	WorkDir string

	// Conns idle logged-in connections measure memory and the connect rate,
	// ConnectWorkers logins at a time.
	Conns          int
	ConnectWorkers int
	// IdleFlows sequential flows, rotating over IdlePairs pairs with IdleGap
	// between them, measure latency on an idle server.
	IdleFlows int
	IdlePairs int
	IdleGap   time.Duration
	// Pairs concurrent pairs measure latency under load (LoadRate flows per
	// second in total for LoadDuration) and throughput (flows back to back
	// for ThroughputDuration).
	Pairs              int
	LoadRate           float64
	LoadDuration       time.Duration
	ThroughputDuration time.Duration
	// ProfileDuration of CPU profile of the instrumented server under the
	// throughput load; 0 skips the instrumented server.
	ProfileDuration time.Duration
	// MicroBenchtime is -benchtime for the Go micro-benchmarks; empty skips them.
	MicroBenchtime string
	// Browser runs the browser measurements (needs Chromium): BrowserLoads
	// page loads cold and warm, BrowserFlows flows between two pages.
	Browser      bool
	BrowserLoads int
	BrowserFlows int
	// BrotliLevel compresses rtmcall.wasm for its brotli size; 0 is the
	// best (11), what a production build precompresses with. Tests use a
	// fast level.
	BrotliLevel int
	// Settle is how long memory is left to settle before RSS is read.
	Settle time.Duration
	// Steady is how long rtmcall-server's idle clients are left to
	// heartbeat before its memory is read again, at steady state (0: not).
	Steady time.Duration
	// Repeats runs the flow phases (idle, loaded, throughput) of every
	// system that many times, taking turns, each on a fresh server.
	Repeats int
	// The machine may be shared: each phase waits up to QuietWait for other
	// programs to use under MaxOther cores, and a phase during which they
	// used more is run again, up to Attempts times in all; the least
	// disturbed attempt is kept, and the report shows what others used.
	QuietWait time.Duration
	MaxOther  float64
	Attempts  int

	// Logf reports progress; nil discards it.
	Logf func(format string, args ...any)
}

// DefaultConfig is the full suite: about 3 minutes on a quiet 2-core machine.
func DefaultConfig() Config {
	return Config{
		ServerBin:          "bin/rtmcall-server",
		Root:               ".",
		Out:                "docs/BENCHMARKS.md",
		Chart:              "latency.svg",
		Conns:              10000,
		ConnectWorkers:     64,
		IdleFlows:          2000,
		IdlePairs:          50,
		IdleGap:            time.Millisecond,
		Pairs:              1000,
		LoadRate:           1000,
		LoadDuration:       10 * time.Second,
		ThroughputDuration: 10 * time.Second,
		ProfileDuration:    8 * time.Second,
		MicroBenchtime:     "1s",
		Browser:            true,
		BrowserLoads:       10,
		BrowserFlows:       200,
		Settle:             2 * time.Second,
		Steady:             130 * time.Second,
		QuietWait:          30 * time.Second,
		MaxOther:           0.25,
		Attempts:           3,
		Repeats:            2,
	}
}

// Results are every figure of a run.
type Results struct {
	Config  Config
	Machine Machine
	Started time.Time
	Took    time.Duration

	// RTMCall is the real server driven by core.Client; Raw is the same
	// server driven by bare protocol clients (flows only), which isolates
	// the server's share; Baseline is the relay.
	RTMCall, Raw, Baseline SystemResult
	// Centrifugo is the peer, driven by bare clients (centrifugo.go); nil
	// when not measured.
	Centrifugo *SystemResult

	// Instrumented server: heap and goroutines per connection, profiles.
	Instrumented *InstrumentedResult

	// ServerEndpoints records what the real server answered at /metrics
	// and /debug/pprof/ (HTTP status), to say whether it exposes its heap.
	ServerEndpoints map[string]int

	// GCOff is a diagnostic paced run of the real server with its garbage
	// collector off (GOGC=off), driven by core.Client: the tail without GC.
	GCOff *LatencyResult

	// Messages is the peer-message latency against the relay's (messages.go).
	Messages *MessageResult

	Micro   []MicroResult
	Browser *BrowserResult

	// Code is the commit measured.
	Code string
	// LoadAtStart is the machine's load average when the run began;
	// OtherCPU the CPU time other programs used during it.
	LoadAtStart float64
	OtherCPU    time.Duration
	// Steal is the CPU time the hypervisor gave to others while this
	// machine wanted it (/proc/stat's steal), during the run.
	Steal time.Duration

	Args  []string // the command line flags of the run
	Notes []string // anything that went wrong but did not stop the run
}

// SystemResult is one system's figures: rtmcall or the baseline.
type SystemResult struct {
	Name string
	// MemoryAttempts and FlowAttempts count the runs of each phase (more
	// than one when other programs disturbed it).
	MemoryAttempts, FlowAttempts int
	// Runs are the Config.Repeats runs of the flow phases; Idle, Load and
	// Throughput merge them (latency samples pooled, rates averaged).
	Runs []FlowRun

	Connect    ConnectResult
	Memory     MemoryResult
	Idle       LatencyResult
	Load       LatencyResult
	Throughput ThroughputResult
}

// ConnectResult is the login phase of the memory measurement.
type ConnectResult struct {
	Logins  int
	Errors  int
	Elapsed time.Duration
	Rate    float64 // logins per second
	// OtherCores: see LatencyResult.
	OtherCores float64
}

// MemoryResult is the server's memory with Conns idle logged-in clients.
type MemoryResult struct {
	Conns             int
	RSSBefore         int64
	RSSAfter          int64
	RSSPerConn        float64 // bytes
	Threads           int
	HeapPerConn       float64 // bytes; -1 when not measured
	StackPerConn      float64
	GoroutinesPerConn float64
	// FromMetrics: heap, stacks and goroutines come from the server's own
	// /metrics (Prometheus, not after a GC) rather than the harness's
	// /debug/stats.
	FromMetrics bool
	// Steady is the same reading after Config.Steady more of idling with
	// heartbeats; nil when not measured.
	Steady *MemoryResult
}

// LatencyResult is a run of flows.
type LatencyResult struct {
	Send, Accept Dist
	Flows        int
	Errors       int
	ErrText      string
	Late         int
	Rate         float64 // flows per second achieved
	Elapsed      time.Duration
	// Sched is the server's scheduler during the run, when the server
	// reports it (the baseline relay and the instrumented server).
	Sched SchedResult
	// OtherCores is the CPU other programs of the machine used during the
	// run, in cores: the machine's busy time minus the server's and the
	// harness's.
	OtherCores float64
}

// ThroughputResult is the closed-loop run with server CPU.
type ThroughputResult struct {
	LatencyResult
	ServerCPU        time.Duration
	ServerCPUPerFlow time.Duration
	ServerCores      float64 // average CPU cores the server used
	GenCPUPerFlow    time.Duration
	GenCores         float64
	LogBytesPerFlow  float64
	ServerRSS        int64 // at the end of the run
	// Server system calls and context switches per flow.
	ReadsPerFlow, WritesPerFlow, SwitchesPerFlow float64
	// GenTop is a CPU profile of the load generator (the harness with its
	// clients) during this run, when taken; GenShares its cumulative
	// percentages by function.
	GenTop    string
	GenShares map[string]float64
	// LoadServerCPUPerFlow is the server's CPU per flow in the paced run.
	LoadServerCPUPerFlow time.Duration
	// LoadSwitchesPerFlow are its context switches per flow in the paced run.
	LoadSwitchesPerFlow float64
}

// InstrumentedResult is measured on the instrumented rtmcall server (same
// server.New and Config as cmd/rtmcall-server -dev, plus introspection).
type InstrumentedResult struct {
	Memory     MemoryResult
	Before     procStats
	After      procStats
	HeapTop    string             // go tool pprof -top of the heap at Conns connections
	HeapShares map[string]float64 // cumulative bytes in use by function
	ConnectTop string             // go tool pprof -top while the Conns clients logged in
	CPUTop     string             // go tool pprof -top of the throughput run
	CPUCumTop  string             // the same, sorted by cumulative time
	Throughput float64
	Shares     map[string]float64 // cumulative CPU % by function
	// Load is a paced run like the real server's, for the scheduler figures.
	Load LatencyResult
	// AllocPerFlow and MallocsPerFlow: what the server allocated per flow
	// in that run (bytes, objects).
	AllocPerFlow, MallocsPerFlow float64
	// SchedTop is where goroutines waited, runnable, to be run, from an
	// execution trace of TraceFlows paced flows (go tool trace -pprof=sched):
	// SchedTotal in all, SchedShares by function (cumulative %).
	SchedTop    string
	SchedTotal  time.Duration
	SchedShares map[string]float64
	TraceFlows  int
}

// Run measures everything cfg asks for and returns the figures. It does not
// write the report: WriteReport does.
func Run(ctx context.Context, cfg Config) (*Results, error) {
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	res := &Results{Config: cfg, Started: time.Now(), LoadAtStart: loadAverage()}
	busy0, own0, steal0 := machineBusy(), selfCPU()+childrenCPU(), machineSteal()
	limit, err := raiseFileLimit()
	if err != nil {
		return nil, err
	}
	need := uint64(cfg.Conns + 2*cfg.Pairs + 2*cfg.IdlePairs + 256)
	if limit < need {
		return nil, fmt.Errorf("RLIMIT_NOFILE is %d, the run needs about %d: lower -conns or -pairs, or raise the hard limit", limit, need)
	}
	res.Machine = readMachine(limit)
	res.Code = codeVersion(ctx, cfg.Root)
	if cfg.WorkDir == "" {
		dir, err := os.MkdirTemp("", "rtmcall-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		cfg.WorkDir = dir
		res.Config.WorkDir = dir
	}

	var clientLogs atomic.Int64
	rtm := rtmcallSystem{logs: &clientLogs}
	startRTM := func(ctx context.Context) (*proc, error) { return startServerBinary(ctx, cfg.ServerBin, "") }
	startRelay := func(ctx context.Context) (*proc, error) { return startRole(ctx, RoleRelay) }
	startCF := func(ctx context.Context) (*proc, error) { return startCentrifugo(ctx, cfg.Centrifugo, cfg.WorkDir) }
	if cfg.Centrifugo != "" {
		res.Centrifugo = &SystemResult{Name: "Centrifugo"}
	}

	res.RTMCall.Name, res.Raw.Name, res.Baseline.Name = "rtmcall", "rtmcall server, bare client", "baseline relay"
	memory := func(sys system, start func(context.Context) (*proc, error), out *SystemResult, withStats bool, probe func(*proc), steady time.Duration) error {
		logf("memory and connect rate: %s, %d connections", out.Name, cfg.Conns)
		var err error
		*out, out.MemoryAttempts, err = attempts(ctx, cfg, *out, logf, func(got *SystemResult) (float64, error) {
			err := measureMemory(ctx, cfg, sys, start, got, withStats, probe, steady)
			return got.Connect.OtherCores, err
		})
		return err
	}
	flows := func(sys system, start func(context.Context) (*proc, error), out *SystemResult, rep int) error {
		logf("latency and throughput: %s (run %d of %d)", out.Name, rep+1, max(cfg.Repeats, 1))
		profileGen := rep == max(cfg.Repeats, 1)-1
		got, n, err := attempts(ctx, cfg, SystemResult{Name: out.Name}, logf, func(got *SystemResult) (float64, error) {
			err := measureFlows(ctx, cfg, sys, start, got, profileGen, logf)
			return max(got.Idle.OtherCores, got.Load.OtherCores, got.Throughput.OtherCores), err
		})
		out.FlowAttempts += n
		out.Runs = append(out.Runs, FlowRun{Idle: got.Idle, Load: got.Load, Throughput: got.Throughput})
		return err
	}
	if err := memory(rtm, startRTM, &res.RTMCall, false, func(p *proc) { res.ServerEndpoints = probeEndpoints(ctx, p) }, cfg.Steady); err != nil {
		return nil, fmt.Errorf("rtmcall memory: %w", err)
	}
	if err := memory(relaySystem{}, startRelay, &res.Baseline, true, nil, 0); err != nil {
		return nil, fmt.Errorf("baseline memory: %w", err)
	}
	if cf := res.Centrifugo; cf != nil {
		if err := memory(centrifugoSystem{}, startCF, cf, false, nil, 0); err != nil {
			return nil, fmt.Errorf("centrifugo memory: %w", err)
		}
	}
	// The systems take turns, in reverse order every other round, so that
	// a drift of the machine touches all of them alike and none always
	// follows the same phase (in forward order rtmcall always came right
	// after Centrifugo's flows or the memory phases).
	type turn struct {
		name  string
		sys   system
		start func(context.Context) (*proc, error)
		out   *SystemResult
	}
	turns := []turn{
		{"rtmcall", rtm, startRTM, &res.RTMCall},
		{"rtmcall bare-client", rawSystem{}, startRTM, &res.Raw},
		{"baseline", relaySystem{}, startRelay, &res.Baseline},
	}
	if cf := res.Centrifugo; cf != nil {
		turns = append(turns, turn{"centrifugo", centrifugoSystem{}, startCF, cf})
	}
	for rep := range max(cfg.Repeats, 1) {
		for i := range turns {
			if rep%2 == 1 {
				i = len(turns) - 1 - i
			}
			t := turns[i]
			if err := flows(t.sys, t.start, t.out, rep); err != nil {
				return nil, fmt.Errorf("%s flows: %w", t.name, err)
			}
		}
	}
	for _, s := range []*SystemResult{&res.RTMCall, &res.Raw, &res.Baseline, res.Centrifugo} {
		if s != nil {
			s.mergeRuns()
		}
	}
	logf("peer messages: rtmcall and baseline")
	if res.Messages, err = measureMessages(ctx, cfg, max(cfg.IdleFlows, 50), startRTM, startRelay, logf); err != nil {
		return nil, fmt.Errorf("peer messages: %w", err)
	}
	if cfg.ProfileDuration > 0 {
		logf("diagnostic: rtmcall-server with GOGC=off, %s pairs at %g flows/s", count(cfg.Pairs), cfg.LoadRate)
		waitQuiet(ctx, cfg.QuietWait, cfg.MaxOther, logf)
		lr, err := measureGCOff(ctx, cfg, rtm)
		if err != nil {
			return nil, fmt.Errorf("GOGC=off run: %w", err)
		}
		res.GCOff = lr
	}
	if cfg.ProfileDuration > 0 {
		logf("instrumented rtmcall server: heap, goroutines, profiles")
		waitQuiet(ctx, cfg.QuietWait, cfg.MaxOther, logf)
		ir, err := measureInstrumented(ctx, cfg, rtm)
		if err != nil {
			return nil, fmt.Errorf("instrumented server: %w", err)
		}
		res.Instrumented = ir
	}
	if n := clientLogs.Load(); n > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("the rtmcall clients logged %d dropped frames", n))
	}
	if cfg.MicroBenchtime != "" {
		logf("micro-benchmarks (-benchtime=%s)", cfg.MicroBenchtime)
		micro, err := runMicro(ctx, cfg.Root, cfg.MicroBenchtime)
		if err != nil {
			return nil, fmt.Errorf("micro-benchmarks: %w", err)
		}
		res.Micro = micro
	}
	if cfg.Browser {
		logf("browser")
		br, err := measureBrowser(ctx, cfg, logf)
		if err != nil {
			res.Notes = append(res.Notes, "browser: "+err.Error())
		}
		res.Browser = br
	}
	res.Took = time.Since(res.Started)
	own := selfCPU() + childrenCPU() - own0
	res.OtherCPU = max(0, machineBusy()-busy0-own)
	res.Steal = max(0, machineSteal()-steal0)
	if other := ratio(res.OtherCPU.Seconds(), res.Took.Seconds()); other > 0.1 {
		res.Notes = append(res.Notes, fmt.Sprintf("other programs used %.2f cores on average during the run "+
			"(load average %.1f at its start): the figures are disturbed; run again on a quiet machine", other, res.LoadAtStart))
	}
	if steal := ratio(res.Steal.Seconds(), res.Took.Seconds()); steal > 0.1 {
		res.Notes = append(res.Notes, fmt.Sprintf("the hypervisor took %.2f cores on average from this machine during the run "+
			"(steal): every system ran slower, and the ratios are noisier than on a machine of its own", steal))
	}
	return res, nil
}

// settle waits for memory to settle before it is read. It is a measurement
// interval, not a wait for an event.
func settle(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}

// measureMemory logs in cfg.Conns idle clients and reads the server's RSS
// before and after, and again steady later when not 0; withStats also reads
// its /debug/stats (heap, stacks and goroutines).
func measureMemory(ctx context.Context, cfg Config, sys system, start func(context.Context) (*proc, error),
	out *SystemResult, withStats bool, probe func(*proc), steady time.Duration) (err error) {
	debug.FreeOSMemory() // as in measureFlows: nothing of the previous phase left to collect or return
	p, err := start(ctx)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, p.stop()) }()
	if probe != nil {
		probe(p)
	}
	settle(ctx, cfg.Settle)
	before, err := readUsage(p.pid())
	if err != nil {
		return err
	}
	var stats0, stats1 procStats
	metrics := false
	switch {
	case withStats:
		if stats0, err = p.stats(ctx); err != nil {
			return err
		}
	default:
		// The real server: its heap and goroutines if it serves Prometheus metrics.
		stats0, metrics = p.promStats(ctx)
	}
	other := startOther(p)
	cr := connectMany(ctx, sys, p.wsURL(), "m", cfg.Conns, cfg.ConnectWorkers)
	defer closeAll(cr.clients, 64, func(c io.Closer) { c.Close() })
	out.Connect = ConnectResult{Logins: len(cr.clients), Errors: cr.errs.count(), Elapsed: cr.elapsed, Rate: cr.rate(),
		OtherCores: other.cores()}
	if cr.errs.count() > cfg.Conns/100 {
		return fmt.Errorf("%d of %d logins failed: %s", cr.errs.count(), cfg.Conns, cr.errs.String())
	}
	// read waits d, then reads the server's memory against before.
	read := func(d time.Duration) (MemoryResult, error) {
		settle(ctx, d)
		after, err := readUsage(p.pid())
		if err != nil {
			return MemoryResult{}, err
		}
		switch {
		case withStats:
			if stats1, err = p.stats(ctx); err != nil {
				return MemoryResult{}, err
			}
		case metrics:
			stats1, metrics = p.promStats(ctx)
		}
		m := memoryOf(len(cr.clients), before, after, withStats || metrics, stats0, stats1)
		m.FromMetrics = metrics
		return m, nil
	}
	if out.Memory, err = read(cfg.Settle); err != nil || steady <= 0 {
		return err
	}
	if cfg.Logf != nil {
		cfg.Logf("memory at steady state: %s idle with heartbeats", steady)
	}
	m, err := read(steady)
	out.Memory.Steady = &m
	return err
}

// memoryOf computes the per-connection figures of n connections.
func memoryOf(n int, before, after usage, withStats bool, s0, s1 procStats) MemoryResult {
	fn := float64(n)
	m := MemoryResult{Conns: n, RSSBefore: before.rss, RSSAfter: after.rss, Threads: after.threads,
		RSSPerConn: ratio(float64(after.rss-before.rss), fn), HeapPerConn: -1, StackPerConn: -1, GoroutinesPerConn: -1}
	if withStats {
		m.HeapPerConn = ratio(float64(s1.HeapInuse)-float64(s0.HeapInuse), fn)
		m.StackPerConn = ratio(float64(s1.StackInuse)-float64(s0.StackInuse), fn)
		m.GoroutinesPerConn = ratio(float64(s1.Goroutines-s0.Goroutines), fn)
	}
	return m
}

// promStats reads the Go runtime's figures from the server's Prometheus
// /metrics, if it serves them.
func (p *proc) promStats(ctx context.Context) (procStats, bool) {
	var s procStats
	status, body, err := p.get(ctx, "/metrics")
	if err != nil || status != 200 {
		return s, false
	}
	m := parseProm(string(body))
	g, ok1 := m["go_goroutines"]
	heap, ok2 := m["go_memstats_heap_inuse_bytes"]
	stack, ok3 := m["go_memstats_stack_inuse_bytes"]
	if !ok1 || !ok2 || !ok3 {
		return s, false
	}
	s.Goroutines, s.HeapInuse, s.StackInuse = int(g), uint64(heap), uint64(stack)
	return s, true
}

// parseProm reads the unlabeled samples of a Prometheus text exposition.
func parseProm(text string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' || strings.Contains(line, "{") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			out[f[0]] = v
		}
	}
	return out
}

// sched reads /debug/sched of a harness role.
func (p *proc) sched(ctx context.Context) (schedHist, error) {
	var h schedHist
	status, body, err := p.get(ctx, "/debug/sched")
	if err != nil {
		return h, err
	}
	if status != 200 {
		return h, fmt.Errorf("/debug/sched: HTTP %d", status)
	}
	return h, json.Unmarshal(body, &h)
}

// stats reads /debug/stats of a harness role, after a GC.
func (p *proc) stats(ctx context.Context) (procStats, error) { return p.statsAt(ctx, "/debug/stats") }

// allocStats reads /debug/stats without a GC: for the allocation counters.
func (p *proc) allocStats(ctx context.Context) (procStats, error) {
	return p.statsAt(ctx, "/debug/stats?gc=0")
}

func (p *proc) statsAt(ctx context.Context, path string) (procStats, error) {
	var s procStats
	status, body, err := p.get(ctx, path)
	if err != nil {
		return s, err
	}
	if status != 200 {
		return s, fmt.Errorf("/debug/stats: HTTP %d", status)
	}
	return s, json.Unmarshal(body, &s)
}

// measureFlows measures the flow phases of sys on a fresh server; profileGen
// also profiles the load generator, after them, when sys is rtmcall's.
func measureFlows(ctx context.Context, cfg Config, sys system, start func(context.Context) (*proc, error),
	out *SystemResult, profileGen bool, logf func(string, ...any)) (err error) {
	// What a previous phase left in this process (the memory phases' 10,000
	// clients, say) is collected and its memory returned now, so that no
	// system's load generator runs with a heap goal set by another phase, or
	// with the scavenger returning another phase's memory.
	debug.FreeOSMemory()
	p, err := start(ctx)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, p.stop()) }()

	idle, err := loginPairs(ctx, sys, p.wsURL(), "i", cfg.IdlePairs, cfg.ConnectWorkers)
	if err != nil {
		return err
	}
	runSequential(ctx, idle, min(cfg.IdleFlows/10, 200), cfg.IdleGap) // warm-up
	other := startOther(p)
	run := runSequential(ctx, idle, cfg.IdleFlows, cfg.IdleGap)
	out.Idle = latencyOf(run)
	out.Idle.OtherCores = other.cores()
	closePairs(idle)
	logf("  idle: %d flows, send p50 %v", run.flows, out.Idle.Send.P50())

	pairs, err := loginPairs(ctx, sys, p.wsURL(), "c", cfg.Pairs, cfg.ConnectWorkers)
	if err != nil {
		return err
	}
	defer closePairs(pairs)
	runPaced(ctx, pairs, cfg.LoadRate, min(cfg.LoadDuration/5, 2*time.Second)) // warm-up

	u0 := mustUsage(p)
	sched0, schedErr := p.sched(ctx)
	other = startOther(p)
	run = runPaced(ctx, pairs, cfg.LoadRate, cfg.LoadDuration)
	u1 := mustUsage(p)
	out.Load = latencyOf(run)
	out.Load.OtherCores = other.cores()
	if schedErr == nil {
		if sched1, err := p.sched(ctx); err == nil {
			out.Load.Sched = schedDelta(sched0, sched1, run.flows)
		}
	}
	out.Throughput.LoadServerCPUPerFlow = perFlow(u1.cpu-u0.cpu, run.flows)
	out.Throughput.LoadSwitchesPerFlow = ratio(float64(u1.switches-u0.switches), float64(run.flows))
	logf("  %d pairs at %g flows/s: %d flows, send p50 %v", cfg.Pairs, cfg.LoadRate, run.flows, out.Load.Send.P50())

	logs0 := p.logBytes.Load()
	other = startOther(p)
	u0, cpu0 := mustUsage(p), selfCPU()
	run = runClosed(ctx, pairs, cfg.ThroughputDuration)
	u1, cpu1 := mustUsage(p), selfCPU()
	logs1 := p.logBytes.Load()
	t := &out.Throughput
	t.LatencyResult = latencyOf(run)
	t.ServerCPU = u1.cpu - u0.cpu
	t.ServerCPUPerFlow = perFlow(t.ServerCPU, run.flows)
	t.ServerCores = ratio(t.ServerCPU.Seconds(), run.elapsed.Seconds())
	t.GenCPUPerFlow = perFlow(cpu1-cpu0, run.flows)
	t.GenCores = ratio((cpu1 - cpu0).Seconds(), run.elapsed.Seconds())
	t.LogBytesPerFlow = ratio(float64(logs1-logs0), float64(run.flows))
	t.OtherCores = other.cores()
	t.ServerRSS = u1.rss
	t.ReadsPerFlow = ratio(float64(u1.syscr-u0.syscr), float64(run.flows))
	t.WritesPerFlow = ratio(float64(u1.syscw-u0.syscw), float64(run.flows))
	t.SwitchesPerFlow = ratio(float64(u1.switches-u0.switches), float64(run.flows))
	logf("  throughput: %d flows in %v: %.0f flows/s, server %v CPU per flow", run.flows, run.elapsed.Round(time.Millisecond),
		run.rate(), t.ServerCPUPerFlow)
	if _, ok := sys.(rtmcallSystem); ok && profileGen && cfg.ProfileDuration > 0 {
		t.GenTop, t.GenShares, err = profileLoadGenerator(ctx, cfg, pairs)
	}
	return err
}

// profileLoadGenerator profiles this process (the load generator) while
// pairs do flows back to back for cfg.ProfileDuration: a run of its own, not
// measured, so that no measured run pays for the profiling.
func profileLoadGenerator(ctx context.Context, cfg Config, pairs []pair) (string, map[string]float64, error) {
	file := filepath.Join(cfg.WorkDir, "loadgen.pprof")
	if err := startCPUProfile(file); err != nil {
		return "", nil, nil // another profile runs: go without
	}
	runClosed(ctx, pairs, cfg.ProfileDuration)
	pprof.StopCPUProfile()
	top, err := pprofTop(ctx, file, "-nodecount=20")
	if err != nil {
		return "", nil, err
	}
	cum, err := pprofTop(ctx, file, "-cum", "-nodefraction=0", "-nodecount=400")
	if err != nil {
		return "", nil, err
	}
	return top, cumShares(cum), nil
}

// startCPUProfile profiles this process into file until
// pprof.StopCPUProfile.
func startCPUProfile(file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return err
	}
	return nil // the file is closed with the process; StopCPUProfile flushes it
}

func mustUsage(p *proc) usage {
	u, _ := readUsage(p.pid()) // zero on error: the figures then show it
	return u
}

func perFlow(d time.Duration, flows int) time.Duration {
	if flows == 0 {
		return 0
	}
	return d / time.Duration(flows)
}

func latencyOf(run *flowRun) LatencyResult {
	lr := LatencyResult{Send: NewDist(run.send), Accept: NewDist(run.accept), Flows: run.flows,
		Errors: run.errs.count(), Late: run.late, Rate: run.rate(), Elapsed: run.elapsed}
	if lr.Errors > 0 {
		lr.ErrText = run.errs.String()
	}
	return lr
}

// probeEndpoints records the HTTP status of the real server's would-be
// introspection endpoints.
func probeEndpoints(ctx context.Context, p *proc) map[string]int {
	out := map[string]int{}
	for _, path := range []string{"/metrics", "/debug/pprof/", "/debug/vars"} {
		status, _, err := p.get(ctx, path)
		if err != nil {
			status = -1
		}
		out[path] = status
	}
	return out
}

func measureInstrumented(ctx context.Context, cfg Config, rtm rtmcallSystem) (_ *InstrumentedResult, err error) {
	p, err := startRole(ctx, RoleServer)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, p.stop()) }()
	ir := &InstrumentedResult{}

	settle(ctx, cfg.Settle)
	u0 := mustUsage(p)
	if ir.Before, err = p.stats(ctx); err != nil {
		return nil, err
	}
	connectProfile := filepath.Join(cfg.WorkDir, "connect.pprof")
	gotConnect := make(chan error, 1)
	go func() { gotConnect <- p.download(ctx, "/debug/pprof/profile?seconds=2", connectProfile) }()
	cr := connectMany(ctx, rtm, p.wsURL(), "m", cfg.Conns, cfg.ConnectWorkers)
	n := len(cr.clients)
	err = <-gotConnect
	if err == nil {
		ir.ConnectTop, err = pprofTop(ctx, connectProfile, "-nodecount=20")
	}
	if err == nil {
		settle(ctx, cfg.Settle)
	}
	u1 := mustUsage(p)
	if err == nil {
		ir.After, err = p.stats(ctx)
	}
	if err == nil {
		heap := filepath.Join(cfg.WorkDir, "heap.pprof")
		err = p.download(ctx, "/debug/pprof/heap?gc=1", heap)
		if err == nil {
			ir.HeapTop, err = pprofTop(ctx, heap, "-sample_index=inuse_space", "-nodecount=15")
		}
		var cum string
		if err == nil {
			cum, err = pprofTop(ctx, heap, "-sample_index=inuse_space", "-cum", "-nodefraction=0", "-nodecount=120")
		}
		ir.HeapShares = cumBytes(cum)
	}
	closeAll(cr.clients, 64, func(c io.Closer) { c.Close() })
	if err != nil {
		return nil, err
	}
	ir.Memory = memoryOf(n, u0, u1, true, ir.Before, ir.After)

	pairs, err := loginPairs(ctx, rtm, p.wsURL(), "c", cfg.Pairs, cfg.ConnectWorkers)
	if err != nil {
		return nil, err
	}
	defer closePairs(pairs)
	runPaced(ctx, pairs, cfg.LoadRate, min(cfg.LoadDuration/5, 2*time.Second)) // warm-up
	sched0, err := p.sched(ctx)
	if err != nil {
		return nil, err
	}
	alloc0, err := p.allocStats(ctx)
	if err != nil {
		return nil, err
	}
	run := runPaced(ctx, pairs, cfg.LoadRate, max(cfg.LoadDuration/2, time.Second))
	alloc1, err := p.allocStats(ctx)
	if err != nil {
		return nil, err
	}
	ir.AllocPerFlow = ratio(float64(alloc1.TotalAlloc-alloc0.TotalAlloc), float64(run.flows))
	ir.MallocsPerFlow = ratio(float64(alloc1.Mallocs-alloc0.Mallocs), float64(run.flows))
	sched1, err := p.sched(ctx)
	if err != nil {
		return nil, err
	}
	ir.Load = latencyOf(run)
	ir.Load.Sched = schedDelta(sched0, sched1, run.flows)

	// An execution trace of another paced run: where goroutines waited to run.
	traceSecs := max(int(cfg.LoadDuration/2/time.Second), 1)
	trace := filepath.Join(cfg.WorkDir, "trace.out")
	gotTrace := make(chan error, 1)
	go func() { gotTrace <- p.download(ctx, fmt.Sprintf("/debug/pprof/trace?seconds=%d", traceSecs), trace) }()
	run = runPaced(ctx, pairs, cfg.LoadRate, time.Duration(traceSecs)*time.Second)
	if err := <-gotTrace; err != nil {
		return nil, err
	}
	ir.TraceFlows = run.flows
	schedProfile := filepath.Join(cfg.WorkDir, "sched.pprof")
	if err := traceProfile(ctx, trace, "sched", schedProfile); err != nil {
		return nil, err
	}
	if ir.SchedTop, err = pprofTop(ctx, schedProfile, "-nodecount=15"); err != nil {
		return nil, err
	}
	ir.SchedTotal = pprofTotal(ir.SchedTop)
	cum, err := pprofTop(ctx, schedProfile, "-cum", "-nodefraction=0", "-nodecount=200")
	if err != nil {
		return nil, err
	}
	ir.SchedShares = cumShares(cum)

	cpu := filepath.Join(cfg.WorkDir, "cpu.pprof")
	secs := max(int(cfg.ProfileDuration/time.Second), 1)
	got := make(chan error, 1)
	go func() { got <- p.download(ctx, fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), cpu) }()
	run = runClosed(ctx, pairs, time.Duration(secs)*time.Second+500*time.Millisecond)
	if err := <-got; err != nil {
		return nil, err
	}
	ir.Throughput = run.rate()
	if ir.CPUTop, err = pprofTop(ctx, cpu, "-nodecount=25"); err != nil {
		return nil, err
	}
	if ir.CPUCumTop, err = pprofTop(ctx, cpu, "-cum", "-nodefraction=0", "-nodecount=400"); err != nil {
		return nil, err
	}
	ir.Shares = cumShares(ir.CPUCumTop)
	return ir, nil
}

// attempts runs a phase on a copy of cur until other programs used at most
// cfg.MaxOther cores during it, or cfg.Attempts times; it returns the least
// disturbed result and the number of attempts. Each attempt first waits
// up to cfg.QuietWait for the machine to be quiet.
func attempts(ctx context.Context, cfg Config, cur SystemResult, logf func(string, ...any),
	phase func(*SystemResult) (float64, error)) (SystemResult, int, error) {
	var best SystemResult
	bestOther := math.Inf(1)
	n := 0
	for n < max(cfg.Attempts, 1) {
		n++
		waitQuiet(ctx, cfg.QuietWait, cfg.MaxOther, logf)
		got := cur
		other, err := phase(&got)
		if err != nil {
			return cur, n, err
		}
		if other < bestOther {
			best, bestOther = got, other
		}
		if other <= cfg.MaxOther {
			break
		}
		logf("  other programs used %.2f cores during that run (over %.2f)", other, cfg.MaxOther)
	}
	return best, n, nil
}

// otherMeter measures the CPU other programs use while a phase runs: the
// machine's busy time minus this process's, its waited-for children's and
// the server's.
type otherMeter struct {
	p                *proc
	t0               time.Time
	busy0, own0, srv time.Duration
}

func startOther(p *proc) otherMeter {
	return otherMeter{p: p, t0: time.Now(), busy0: machineBusy(), own0: selfCPU() + childrenCPU(), srv: mustUsage(p).cpu}
}

// cores is the average number of cores others used since the start.
func (m otherMeter) cores() float64 {
	busy := machineBusy() - m.busy0
	own := selfCPU() + childrenCPU() - m.own0
	srv := mustUsage(m.p).cpu - m.srv
	return max(0, ratio((busy-own-srv).Seconds(), time.Since(m.t0).Seconds()))
}

// waitQuiet waits, up to maxWait, until other programs use under limit
// cores over a second.
func waitQuiet(ctx context.Context, maxWait time.Duration, limit float64, logf func(string, ...any)) {
	if maxWait <= 0 {
		return
	}
	deadline := time.Now().Add(maxWait)
	for {
		busy0, own0, t0 := machineBusy(), selfCPU()+childrenCPU(), time.Now()
		settle(ctx, time.Second)
		other := ratio((machineBusy() - busy0 - (selfCPU() + childrenCPU() - own0)).Seconds(), time.Since(t0).Seconds())
		if other <= limit || ctx.Err() != nil {
			return
		}
		if time.Now().After(deadline) {
			logf("  the machine is not quiet (other programs use %.2f cores): going on", other)
			return
		}
	}
}

// FlowRun is one run of the flow phases.
type FlowRun struct {
	Idle, Load LatencyResult
	Throughput ThroughputResult
}

// mergeRuns sets Idle, Load and Throughput from Runs.
func (s *SystemResult) mergeRuns() {
	var idle, load []LatencyResult
	var tp []ThroughputResult
	for _, r := range s.Runs {
		idle, load, tp = append(idle, r.Idle), append(load, r.Load), append(tp, r.Throughput)
	}
	s.Idle, s.Load, s.Throughput = mergeLatency(idle), mergeLatency(load), mergeThroughput(tp)
}

// mergeLatency pools the samples of several runs; rates are averaged.
func mergeLatency(ls []LatencyResult) LatencyResult {
	if len(ls) == 1 {
		return ls[0]
	}
	var m LatencyResult
	var send, accept []time.Duration
	var errs []string
	for _, l := range ls {
		send, accept = append(send, l.Send.sorted...), append(accept, l.Accept.sorted...)
		m.Flows += l.Flows
		m.Errors += l.Errors
		m.Late += l.Late
		m.Elapsed += l.Elapsed
		m.Rate += l.Rate / float64(len(ls))
		m.OtherCores = max(m.OtherCores, l.OtherCores)
		if l.ErrText != "" {
			errs = append(errs, l.ErrText)
		}
		if m.Sched.PerFlow == 0 {
			m.Sched = l.Sched
		}
	}
	m.Send, m.Accept, m.ErrText = NewDist(send), NewDist(accept), strings.Join(errs, "; ")
	return m
}

// mergeThroughput averages several throughput runs, per-flow figures
// weighted by their flows.
func mergeThroughput(ts []ThroughputResult) ThroughputResult {
	if len(ts) == 1 {
		return ts[0]
	}
	var ls []LatencyResult
	var m ThroughputResult
	var flows, loadRuns float64
	for _, t := range ts {
		ls = append(ls, t.LatencyResult)
		f := float64(t.Flows)
		flows += f
		m.ServerCPU += t.ServerCPU
		m.ServerCores += t.ServerCores / float64(len(ts))
		m.GenCores += t.GenCores / float64(len(ts))
		m.GenCPUPerFlow += time.Duration(float64(t.GenCPUPerFlow) * f)
		m.LogBytesPerFlow += t.LogBytesPerFlow * f
		m.ReadsPerFlow += t.ReadsPerFlow * f
		m.WritesPerFlow += t.WritesPerFlow * f
		m.SwitchesPerFlow += t.SwitchesPerFlow * f
		m.ServerRSS = max(m.ServerRSS, t.ServerRSS)
		m.LoadServerCPUPerFlow += t.LoadServerCPUPerFlow
		m.LoadSwitchesPerFlow += t.LoadSwitchesPerFlow
		loadRuns++
		if m.GenTop == "" {
			m.GenTop, m.GenShares = t.GenTop, t.GenShares
		}
	}
	m.LatencyResult = mergeLatency(ls)
	if flows > 0 {
		m.ServerCPUPerFlow = time.Duration(float64(m.ServerCPU) / flows)
		m.GenCPUPerFlow = time.Duration(float64(m.GenCPUPerFlow) / flows)
		m.LogBytesPerFlow /= flows
		m.ReadsPerFlow /= flows
		m.WritesPerFlow /= flows
		m.SwitchesPerFlow /= flows
	}
	m.LoadServerCPUPerFlow = time.Duration(float64(m.LoadServerCPUPerFlow) / loadRuns)
	m.LoadSwitchesPerFlow /= loadRuns
	return m
}

// measureGCOff is the paced run of measureFlows on rtmcall-server started
// with GOGC=off.
func measureGCOff(ctx context.Context, cfg Config, rtm rtmcallSystem) (_ *LatencyResult, err error) {
	p, err := startServerBinary(ctx, cfg.ServerBin, "", "GOGC=off")
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, p.stop()) }()
	pairs, err := loginPairs(ctx, rtm, p.wsURL(), "c", cfg.Pairs, cfg.ConnectWorkers)
	if err != nil {
		return nil, err
	}
	defer closePairs(pairs)
	runPaced(ctx, pairs, cfg.LoadRate, min(cfg.LoadDuration/5, 2*time.Second)) // warm-up
	other := startOther(p)
	lr := latencyOf(runPaced(ctx, pairs, cfg.LoadRate, cfg.LoadDuration))
	lr.OtherCores = other.cores()
	return &lr, nil
}
