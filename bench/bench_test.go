//go:build !js

package bench

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// TestMain plays a server role when the harness re-executes the test binary
// as one, and otherwise runs the tests, which must leave no goroutine behind.
func TestMain(m *testing.M) {
	if ran, code := RunRoleFromEnv(); ran {
		os.Exit(code)
	}
	goleak.VerifyTestMain(m)
}

// buildServer builds cmd/rtmcall-server into dir.
func buildServer(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "rtmcall-server")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/rtmcall/rtmcall/cmd/rtmcall-server").CombinedOutput()
	require.NoError(t, err, "build the server: %s", out)
	return bin
}

// TestBrowserShort measures the browser module with a few loads and flows.
// It needs Chromium: without it the test is skipped, or fails when CI=true.
func TestBrowserShort(t *testing.T) {
	if findChromium() == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("Chromium is not installed, and CI=true")
		}
		t.Skip("Chromium is not installed (make deps installs it)")
	}
	tmp := t.TempDir()
	// Brotli at level 11 takes minutes under the race detector: the sizes' code is the same at level 1.
	cfg := Config{ServerBin: buildServer(t, tmp), Root: "..", WorkDir: tmp, BrowserLoads: 2, BrowserFlows: 5, BrotliLevel: 1}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	br, err := measureBrowser(ctx, cfg, t.Logf)
	require.NoError(t, err)
	assert.Positive(t, br.WasmRaw)
	assert.Positive(t, br.WasmGzip)
	assert.Positive(t, br.WasmBrotli)
	assert.Less(t, br.WasmGzip, br.WasmRaw)
	assert.Equal(t, 2, br.ReadyCold.N())
	assert.Equal(t, 2, br.ReadyWarm.N())
	assert.Positive(t, br.ReadyCold.P50())
	assert.Equal(t, 5, br.Send.N())
	assert.Equal(t, 5, br.Accept.N())
	assert.Positive(t, br.Send.Max())
	assert.NotEmpty(t, br.Chromium)

	var md strings.Builder
	(&Results{Browser: br}).writeBrowser(func(format string, args ...any) { fmt.Fprintf(&md, format, args...) })
	assert.Contains(t, md.String(), "| brotli -1 |")
	assert.NotContains(t, md.String(), "%!")
}

// TestRunShort runs the whole harness at a tiny scale against the real
// server binary and checks that every figure is there and sane. It checks
// no timing: benchmarks are not timed tests.
func TestRunShort(t *testing.T) {
	tmp := t.TempDir()
	bin := buildServer(t, tmp)

	cfg := Config{
		ServerBin:          bin,
		Root:               "..",
		Out:                filepath.Join(tmp, "docs", "BENCHMARKS.md"),
		Chart:              "latency.svg",
		WorkDir:            filepath.Join(tmp, "work"),
		Conns:              40,
		ConnectWorkers:     8,
		IdleFlows:          30,
		IdlePairs:          5,
		IdleGap:            time.Millisecond,
		Pairs:              10,
		LoadRate:           40,
		LoadDuration:       500 * time.Millisecond,
		ThroughputDuration: 500 * time.Millisecond,
		ProfileDuration:    time.Second,
		Settle:             100 * time.Millisecond,
		Repeats:            2,
		Logf:               t.Logf,
	}
	// Centrifugo when make bench (make centrifugo) has built it.
	if cf, err := filepath.Abs("../.bin/centrifugo"); err == nil {
		if _, err := os.Stat(cf); err == nil {
			cfg.Centrifugo = cf
		}
	}
	require.NoError(t, os.MkdirAll(cfg.WorkDir, 0o755))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var summary strings.Builder
	res, err := Main(ctx, cfg, []string{"-test"}, &summary)
	require.NoError(t, err)
	t.Log(summary.String())
	assert.Contains(t, summary.String(), "wrote "+cfg.Out)
	systems := []SystemResult{res.RTMCall, res.Raw, res.Baseline}
	if cfg.Centrifugo != "" {
		require.NotNil(t, res.Centrifugo)
		systems = append(systems, *res.Centrifugo)
		assert.Equal(t, cfg.Conns, res.Centrifugo.Connect.Logins)
	} else {
		t.Log("Centrifugo not built (make centrifugo): not measured")
	}
	for _, s := range systems {
		t.Run(s.Name, func(t *testing.T) {
			for name, l := range map[string]LatencyResult{"idle": s.Idle, "load": s.Load, "throughput": s.Throughput.LatencyResult} {
				assert.Zero(t, l.Errors, "%s: %s", name, l.ErrText)
				assert.Positive(t, l.Flows, name)
				assert.Equal(t, l.Flows, l.Send.N(), name)
				assert.Equal(t, l.Flows, l.Accept.N(), name)
				assert.Positive(t, l.Send.P50(), name)
				assert.Positive(t, l.Accept.P50(), name)
				assert.LessOrEqual(t, l.Send.P50(), l.Send.P99(), name)
				assert.LessOrEqual(t, l.Send.P99(), l.Send.Max(), name)
			}
			require.Len(t, s.Runs, 2)
			assert.Equal(t, 2*cfg.IdleFlows, s.Idle.Flows, "the runs' samples are pooled")
			assert.Equal(t, s.Runs[0].Load.Flows+s.Runs[1].Load.Flows, s.Load.Send.N())
			tp := s.Throughput
			assert.Positive(t, tp.Rate)
			assert.GreaterOrEqual(t, tp.ServerCPUPerFlow, time.Duration(0))
			assert.Positive(t, tp.ServerRSS)
			assert.Positive(t, tp.WritesPerFlow, "the server writes frames")
		})
	}
	for _, s := range []SystemResult{res.RTMCall, res.Baseline} {
		assert.Equal(t, cfg.Conns, s.Connect.Logins, s.Name)
		assert.Zero(t, s.Connect.Errors, s.Name)
		assert.Positive(t, s.Connect.Rate, s.Name)
		assert.Equal(t, cfg.Conns, s.Memory.Conns, s.Name)
		assert.Positive(t, s.Memory.RSSAfter, s.Name)
	}
	assert.Equal(t, 1.0, res.Baseline.Memory.GoroutinesPerConn, "the relay has one goroutine per connection")
	assert.Zero(t, res.RTMCall.Throughput.LogBytesPerFlow, "rtmcall-server logs invitations at debug, under its default level")
	assert.Empty(t, res.RTMCall.Runs[0].Throughput.GenTop, "no measured run is profiled")
	assert.NotEmpty(t, res.RTMCall.Runs[1].Throughput.GenTop, "the load generator is profiled after the last run")
	assert.Zero(t, res.Baseline.Throughput.LogBytesPerFlow, "the relay does not log")

	require.NotNil(t, res.Instrumented)
	ir := res.Instrumented
	assert.Positive(t, ir.Memory.HeapPerConn)
	assert.Positive(t, ir.Memory.GoroutinesPerConn)
	assert.Contains(t, ir.HeapTop, "inuse_space")
	assert.Contains(t, ir.CPUTop, "flat%")
	assert.NotEmpty(t, ir.Shares)

	wantTargets := 11 // 4 p50s, 2 loaded p99s, flows/s, CPU per flow, RSS, connect rate, peer messages
	if cfg.Centrifugo != "" {
		wantTargets += 14 // a row per figure against Centrifugo
	}
	assert.Len(t, res.Targets(), wantTargets)
	require.NotNil(t, res.Messages)
	assert.Equal(t, 50, res.Messages.RTMCall.N())
	assert.Equal(t, 50, res.Messages.Baseline.N())
	assert.Positive(t, res.Messages.RTMCall.P50())

	md, err := os.ReadFile(cfg.Out)
	require.NoError(t, err)
	report := string(md)
	for _, want := range []string{"# rtmcall benchmarks", "## Targets", "## Machine", "## Reproduce", "## Invitation latency",
		"## Peer messages", "## Throughput and server CPU", "## Memory", "## Connect rate", "## Browser", "## Micro-benchmarks",
		"## Profiles", "## Findings and open items", "### Targets missed", "## Method", "(latency.svg)", "rtmcall-bench -test",
		"| rtmcall | 2 |", "CPU profile of the load generator"} {
		assert.Contains(t, report, want)
	}
	if cfg.Centrifugo != "" {
		assert.Contains(t, report, "## Against Centrifugo")
		assert.Contains(t, report, "| Centrifugo | 2 |")
	}
	for _, bad := range []string{"%!", "<no value>", "NaN", "+Inf"} {
		assert.NotContains(t, report, bad)
	}

	svg, err := os.ReadFile(filepath.Join(tmp, "docs", "latency.svg"))
	require.NoError(t, err)
	elements := map[string]int{}
	dec := xml.NewDecoder(strings.NewReader(string(svg)))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "the chart is well-formed XML")
		if se, ok := tok.(xml.StartElement); ok {
			elements[se.Name.Local]++
		}
	}
	assert.Equal(t, 1, elements["svg"])
	assert.Equal(t, 8, elements["polyline"], "four distributions in each of two panels")
}

// TestFlowMessages counts on the wire the messages of the flows the harness
// drives, from which the report derives its figures per message: rtmcall's
// (bare clients on the instrumented server, the same server.New as
// rtmcall-server) and the relay's.
func TestFlowMessages(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const flows = 5 // a client reads under 64 frames: no acknowledgment of its stream
	t.Run("rtmcall", func(t *testing.T) {
		p, err := startRole(ctx, RoleServer)
		require.NoError(t, err)
		defer p.stop()
		a, err := dialRaw(ctx, p.wsURL(), "fa", protocol.TypeLocalReceived, protocol.TypeLocalAccepted, protocol.TypeCallEnded)
		require.NoError(t, err)
		defer a.Close()
		b, err := dialRaw(ctx, p.wsURL(), "fb", protocol.TypeInvite, protocol.TypeCallEnded)
		require.NoError(t, err)
		defer b.Close()
		pr := &rawPair{id: "f", a: a, b: b}
		for i := range flows {
			_, err := pr.flow(ctx, i)
			require.NoError(t, err)
		}
		for range flows { // the hangup's call.ended is the last frame of a flow on each side
			_, err := a.wait(ctx, protocol.TypeCallEnded, "")
			require.NoError(t, err)
			_, err = b.wait(ctx, protocol.TypeCallEnded, "")
			require.NoError(t, err)
		}
		// Less each client's login and its ok.
		assert.Equal(t, int64(rtmFlowRequests*flows), a.writes.Load()+b.writes.Load()-2, "requests")
		assert.Equal(t, int64(rtmFlowFrames*flows), a.reads.Load()+b.reads.Load()-2, "server frames")
	})
	t.Run("relay", func(t *testing.T) {
		p, err := startRole(ctx, RoleRelay)
		require.NoError(t, err)
		defer p.stop()
		pr, err := relaySystem{}.pair(ctx, p.wsURL(), "f")
		require.NoError(t, err)
		defer pr.close()
		for i := range flows {
			_, err := pr.flow(ctx, i)
			require.NoError(t, err)
		}
		rp := pr.(*relayPair)
		// Less each client's hello and its ok.
		assert.Equal(t, int64(relayFlowMessages*flows), rp.a.writes.Load()+rp.b.writes.Load()-2, "messages relayed")
		assert.Equal(t, int64(relayFlowMessages*flows), rp.a.reads.Load()+rp.b.reads.Load()-2, "messages written")
	})
}
