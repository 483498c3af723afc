//go:build !js

package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Machine describes where a run took place.
type Machine struct {
	CPU       string
	Cores     int
	MemBytes  int64
	OS        string
	Kernel    string
	GoVersion string
	FileLimit uint64
	Date      time.Time
}

func readMachine(fileLimit uint64) Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), FileLimit: fileLimit, Date: time.Now(),
		CPU: "unknown", OS: runtime.GOOS, Kernel: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if f := strings.Fields(v); len(f) > 0 {
					kb, _ := strconv.ParseInt(f[0], 10, 64)
					m.MemBytes = kb << 10
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
				m.OS = strings.Trim(v, `"`)
			}
		}
	}
	return m
}

// download saves path from the process's HTTP server to file.
func (p *proc) download(ctx context.Context, path, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr+path, nil)
	if err != nil {
		return err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", path, resp.StatusCode)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// pprofTop runs go tool pprof -top on a profile and returns its table
// (from the "flat" header on) and the summary lines above it.
func pprofTop(ctx context.Context, file string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", append(append([]string{"tool", "pprof", "-top"}, args...), file)...)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		return "", fmt.Errorf("go tool pprof: %w: %s", err, stderr)
	}
	var keep []string
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		// Drop the lines naming the file and the local time.
		if strings.HasPrefix(line, "File:") || strings.HasPrefix(line, "Build ID:") || strings.HasPrefix(line, "Time:") {
			continue
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "\n"), nil
}

// cumShares reads the cumulative percentage of every function in a
// pprof -top table.
func cumShares(top string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(top, "\n") {
		f := strings.Fields(line)
		// flat flat% sum% cum cum% name...
		if len(f) < 6 || !strings.HasSuffix(f[4], "%") {
			continue
		}
		pct, err := strconv.ParseFloat(strings.TrimSuffix(f[4], "%"), 64)
		if err != nil {
			continue
		}
		out[strings.TrimSuffix(strings.Join(f[5:], " "), " (inline)")] = pct
	}
	return out
}

// cumBytes reads the cumulative bytes of every function in a pprof -top
// table of a heap profile.
func cumBytes(top string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(top, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasSuffix(f[4], "%") {
			continue
		}
		if b, ok := parseBytes(f[3]); ok {
			out[strings.TrimSuffix(strings.Join(f[5:], " "), " (inline)")] = b
		}
	}
	return out
}

// parseBytes reads pprof's sizes: 512B, 3084.01kB, 40.15MB, 1.2GB.
func parseBytes(s string) (float64, bool) {
	for _, u := range []struct {
		suffix string
		mult   float64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"kB", 1 << 10}, {"B", 1}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.ParseFloat(v, 64)
			return n * u.mult, err == nil
		}
	}
	if s == "0" {
		return 0, true
	}
	return 0, false
}

// codeVersion names the commit of the repository at root, and whether the
// server's or client's code had uncommitted changes. It reads git without
// touching its index (GIT_OPTIONAL_LOCKS=0).
func codeVersion(ctx context.Context, root string) string {
	git := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GIT_OPTIONAL_LOCKS=0")
		out, err := cmd.Output()
		return strings.TrimSpace(string(out)), err
	}
	head, err := git("rev-parse", "--short=12", "HEAD")
	if err != nil {
		return "unknown (not a git checkout)"
	}
	changed, err := git("status", "--porcelain", "--untracked-files=no", "--", "core", "server", "cmd/rtmcall-server", "wasm", "jsbridge", "web")
	switch {
	case err != nil:
		return head
	case changed != "":
		return head + " with uncommitted changes to tracked files of core/, server/ or the browser module"
	default:
		return head
	}
}

// traceProfile turns an execution trace into a pprof profile of one kind
// (go tool trace -pprof=kind: sched, sync, syscall, net).
func traceProfile(ctx context.Context, trace, kind, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, "go", "tool", "trace", "-pprof="+kind, trace)
	cmd.Stdout = f
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go tool trace -pprof=%s: %w: %s", kind, err, stderr.String())
	}
	return f.Close()
}

// pprofTotal reads the total of a pprof -top table ("... of 1.21s total").
func pprofTotal(top string) time.Duration {
	for _, line := range strings.Split(top, "\n") {
		i := strings.Index(line, "% of ")
		j := strings.LastIndex(line, " total")
		if !strings.HasPrefix(line, "Showing nodes") || i < 0 || j < i {
			continue
		}
		v := strings.TrimSpace(line[i+len("% of ") : j])
		v = strings.NewReplacer("hrs", "h", "mins", "m").Replace(v)
		d, err := time.ParseDuration(v)
		if err == nil {
			return d
		}
	}
	return 0
}
