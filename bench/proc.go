//go:build !js

package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// httpClient keeps no idle connections: the harness leaves no goroutine behind.
var httpClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat: 100
// on every Linux architecture Go supports.
const clockTicks = 100

// proc is a server running as a child process.
type proc struct {
	name string
	cmd  *exec.Cmd
	addr string // host:port it listens on
	path string // its WebSocket endpoint; empty: /ws

	logBytes atomic.Int64 // bytes it wrote to stderr (its logs)
	logLines atomic.Int64
	done     chan struct{} // closed when the process has exited
	waitErr  error
	tail     tailBuf // its last log lines, for errors
}

// startServerBinary starts the real cmd/rtmcall-server in dev mode on a free
// loopback port and waits until it listens. Its store (-data, kept by Web
// Push, on by default) goes into a temporary directory removed when it exits,
// so a run leaves nothing behind in the tree.
// web is its -web folder ("" for none), env what it adds to the environment.
func startServerBinary(ctx context.Context, path, web string, env ...string) (*proc, error) {
	data, err := os.MkdirTemp("", "rtmcall-bench-data-")
	if err != nil {
		return nil, err
	}
	// SIGTERM drains (docs/CLUSTER.md): a phase may end with invitations
	// still ringing, which a drain would wait for; the phase is over.
	cmd := exec.Command(path, "-dev", "-addr", "127.0.0.1:0", "-web", web, "-data", data, "-drain-timeout", "1s")
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	p, err := startProc(ctx, "rtmcall-server", cmd, parseServerAddr, true)
	if err != nil {
		os.RemoveAll(data)
		return nil, err
	}
	go func() {
		<-p.done
		os.RemoveAll(data)
	}()
	return p, nil
}

// startRole starts this program again in role (RoleRelay or RoleServer) and
// waits until it listens.
func startRole(ctx context.Context, role string) (*proc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), RoleEnv+"="+role)
	return startProc(ctx, role, cmd, func(line string) (string, bool) {
		return strings.CutPrefix(line, "listening ")
	}, false)
}

// startProc starts cmd and waits until parse finds the listening address
// in its stderr (fromStderr) or stdout. Its stderr is drained and counted
// for as long as it runs.
func startProc(ctx context.Context, name string, cmd *exec.Cmd, parse func(string) (string, bool), fromStderr bool) (*proc, error) {
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("failed to start %s: %w", name, err)
	}
	addrc := make(chan string, 1)
	var readers sync.WaitGroup
	scan := func(r io.Reader, lookForAddr, count bool) {
		defer readers.Done()
		br := bufio.NewReaderSize(r, 64<<10)
		found := !lookForAddr
		for {
			line, err := br.ReadString('\n')
			if len(line) > 0 {
				if count {
					p.logBytes.Add(int64(len(line)))
					p.logLines.Add(1)
					p.tail.add(line)
				}
				if !found {
					if a, ok := parse(strings.TrimSpace(line)); ok {
						found = true
						addrc <- a
					}
				}
			}
			if err != nil {
				return
			}
		}
	}
	readers.Add(2)
	go scan(stderr, fromStderr, true)
	go scan(stdout, !fromStderr, false)
	go func() {
		readers.Wait() // before Wait, which closes the pipes
		p.waitErr = cmd.Wait()
		close(p.done)
	}()

	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	select {
	case p.addr = <-addrc:
	case <-p.done:
		return nil, fmt.Errorf("%s exited before listening: %v\n%s", name, p.waitErr, p.tail.String())
	case <-tctx.Done():
		p.stop()
		return nil, fmt.Errorf("%s did not listen: %w\n%s", name, tctx.Err(), p.tail.String())
	}
	return p, nil
}

// pid is the process id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// wsURL is the WebSocket endpoint.
func (p *proc) wsURL() string {
	if p.path != "" {
		return "ws://" + p.addr + p.path
	}
	return "ws://" + p.addr + "/ws"
}

// stop asks the process to shut down (SIGTERM) and kills it if it has not
// exited within 20 s.
func (p *proc) stop() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not exit within 20 s of SIGTERM: killed", p.name)
	}
}

// get fetches path from the process's HTTP server: the status and body.
func (p *proc) get(ctx context.Context, path string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr+path, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// usage is a process's CPU time, memory and system calls at one moment.
type usage struct {
	cpu      time.Duration // user + system
	rss      int64         // bytes resident (VmRSS)
	hwm      int64         // peak resident (VmHWM)
	threads  int
	syscr    int64 // read system calls (/proc/PID/io)
	syscw    int64 // write system calls
	switches int64 // context switches, voluntary and not, of every thread
}

// readUsage reads /proc/PID/stat and /proc/PID/status.
func readUsage(pid int) (usage, error) {
	var u usage
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// The command name is in parentheses and may hold spaces: fields start after the last ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return u, errors.New("malformed /proc/PID/stat")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return u, errors.New("short /proc/PID/stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return u, err
	}
	u.cpu = time.Duration(ut+st) * time.Second / clockTicks

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(fields[0], 10, 64)
		switch k {
		case "VmRSS":
			u.rss = n << 10
		case "VmHWM":
			u.hwm = n << 10
		case "Threads":
			u.threads = int(n)
		}
	}
	if io, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid)); err == nil {
		for _, line := range strings.Split(string(io), "\n") {
			k, v, _ := strings.Cut(line, ": ")
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			switch k {
			case "syscr":
				u.syscr = n
			case "syscw":
				u.syscw = n
			}
		}
	}
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, t.Name()))
		if err != nil {
			continue // the thread exited
		}
		for _, line := range strings.Split(string(st), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if ok && (k == "voluntary_ctxt_switches" || k == "nonvoluntary_ctxt_switches") {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				u.switches += n
			}
		}
	}
	return u, nil
}

// selfCPU is this process's CPU time (user + system).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childrenCPU is the CPU time of this process's waited-for children.
func childrenCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineBusy is the CPU time every process of the machine has used since
// boot (user, nice, system, irq and softirq of /proc/stat): with the
// harness's and its servers' own time subtracted, what other programs took.
func machineBusy() time.Duration {
	return procStat(1, 2, 3, 6, 7) // user nice system (idle iowait) irq softirq
}

// machineSteal is the time the hypervisor ran something else while this
// virtual machine wanted its CPUs (steal, /proc/stat): invisible to
// machineBusy, it slows every system of a run alike.
func machineSteal() time.Duration { return procStat(8) }

// procStat sums the given fields of /proc/stat's cpu line.
func procStat(fields ...int) time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for _, i := range fields {
		n, _ := strconv.ParseInt(f[i], 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// loadAverage is the first field of /proc/loadavg.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// raiseFileLimit raises the soft RLIMIT_NOFILE to the hard limit (children
// inherit it) and returns the new soft limit.
func raiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, fmt.Errorf("failed to raise RLIMIT_NOFILE to %d: %w", lim.Max, err)
		}
	}
	return lim.Cur, nil
}

// tailBuf keeps the last lines written to it.
type tailBuf struct {
	mu    sync.Mutex
	lines []string
}

func (t *tailBuf) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, line)
	if len(t.lines) > 20 {
		t.lines = t.lines[1:]
	}
}

func (t *tailBuf) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "")
}
