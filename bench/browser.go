//go:build !js

package bench

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/rtmcall/rtmcall/internal/wasmbuild"
)

// BrowserResult is the browser module's size and speed in headless Chromium.
type BrowserResult struct {
	BuildCmd                      string
	WasmRaw, WasmGzip, WasmBrotli int64
	BrotliLevel                   int
	Encoding                      string // Content-Encoding rtmcall-server sent rtmcall.wasm with to Chromium
	Chromium                      string // its version
	ReadyCold                     Dist   // navigation to ready, HTTP cache disabled
	ReadyWarm                     Dist   // navigation to ready, page loaded before
	Send                          Dist   // send to RemoteInvitationReceived between two pages
	Accept                        Dist   // accept to LocalInvitationAccepted between two pages
}

// benchPage is the page the browser measurements load: the module and
// nothing else, ready when load() resolves. performance.now() counts from
// the start of the navigation.
const benchPage = `<!doctype html>
<meta charset="utf-8">
<title>rtmcall bench</title>
<script type="module">
import { load } from "/rtmcall.js";
globalThis.kit = await load();
document.documentElement.dataset.readyMs = String(performance.now());
document.documentElement.dataset.ready = "true";
</script>
`

// findChromium returns the Chromium binary, or "".
func findChromium() string {
	for _, p := range []string{"/usr/lib/chromium/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	return ""
}

// measureBrowser builds rtmcall.wasm as `make build` does (internal/wasmbuild),
// serves it with the page's files from the real rtmcall-server (-web), and
// drives headless Chromium. It needs Chromium; without it, it returns an
// error and no result.
func measureBrowser(ctx context.Context, cfg Config, logf func(string, ...any)) (_ *BrowserResult, err error) {
	chromium := findChromium()
	if chromium == "" {
		return nil, errors.New("Chromium is not installed (make deps installs it)")
	}
	web := filepath.Join(cfg.WorkDir, "web")
	if err := os.MkdirAll(web, 0o755); err != nil {
		return nil, err
	}
	br := &BrowserResult{}
	if br.BuildCmd, err = buildWeb(ctx, cfg.Root, web, filepath.Join(cfg.WorkDir, "wasmmod")); err != nil {
		return nil, err
	}
	wasm, err := os.ReadFile(filepath.Join(web, "rtmcall.wasm"))
	if err != nil {
		return nil, err
	}
	br.WasmRaw = int64(len(wasm))
	br.BrotliLevel = cmp.Or(cfg.BrotliLevel, brotli.BestCompression)
	if br.WasmGzip, err = gzipSize(wasm); err != nil {
		return nil, err
	}
	if br.WasmBrotli, err = brotliSize(wasm, cfg.BrotliLevel); err != nil {
		return nil, err
	}

	p, err := startServerBinary(ctx, cfg.ServerBin, web)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, p.stop()) }()
	base := "http://" + p.addr

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(filepath.Join(cfg.WorkDir, "chromium-profile")),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	if err := chromedp.Run(browserCtx); err != nil {
		return nil, fmt.Errorf("failed to start Chromium: %w", err)
	}
	var version struct{ Product string }
	if err := chromedp.Run(browserCtx, chromedp.Evaluate(`({product: navigator.userAgent})`, &version)); err == nil {
		br.Chromium = version.Product
	}

	// Navigation to ready, cold: a new tab with the HTTP cache disabled each time.
	var cold []time.Duration
	for range cfg.BrowserLoads {
		ms, enc, err := loadOnce(browserCtx, base+"/", true)
		if err != nil {
			return nil, fmt.Errorf("cold load: %w", err)
		}
		cold = append(cold, ms)
		br.Encoding = enc
	}
	br.ReadyCold = NewDist(cold)
	// Warm: one tab, navigated once, then again and again.
	warm, err := loadWarm(browserCtx, base+"/", cfg.BrowserLoads)
	if err != nil {
		return nil, fmt.Errorf("warm load: %w", err)
	}
	br.ReadyWarm = NewDist(warm)
	logf("  ready after navigation: cold p50 %v, warm p50 %v", br.ReadyCold.P50(), br.ReadyWarm.P50())

	send, accept, err := browserFlows(browserCtx, base+"/", "ws://"+p.addr+"/ws", cfg.BrowserFlows)
	if err != nil {
		return nil, fmt.Errorf("flows between two pages: %w", err)
	}
	br.Send, br.Accept = NewDist(send), NewDist(accept)
	logf("  two pages: %d flows, send p50 %v", br.Send.N(), br.Send.P50())
	return br, nil
}

// parseServerAddr finds the address in rtmcall-server's "listening" log line.
func parseServerAddr(line string) (string, bool) {
	// time=... level=INFO msg=listening addr=127.0.0.1:40123 dev=true
	if !strings.Contains(line, "msg=listening") {
		return "", false
	}
	for _, f := range strings.Fields(line) {
		if a, ok := strings.CutPrefix(f, "addr="); ok {
			return a, true
		}
	}
	return "", false
}

// buildWeb assembles what `make build` puts in web/: the page's files,
// rtmcall.wasm (built by internal/wasmbuild) and the toolchain's
// wasm_exec.js as an ES module; with the bench page as index.html.
func buildWeb(ctx context.Context, root, web, modDir string) (string, error) {
	var pkg struct{ Version string }
	if b, err := os.ReadFile(filepath.Join(root, "web", "package.json")); err == nil {
		_ = json.Unmarshal(b, &pkg)
	}
	bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd, err := wasmbuild.Build(bctx, root, filepath.Join(web, "rtmcall.wasm"), wasmbuild.Options{Version: pkg.Version, Dir: modDir})
	if err != nil {
		return "", err
	}
	entries, err := os.ReadDir(filepath.Join(root, "web"))
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || name == "rtmcall.wasm" || name == "wasm_exec.js" || strings.HasSuffix(name, ".gz") || strings.HasSuffix(name, ".br") {
			continue
		}
		if err := copyFile(filepath.Join(root, "web", name), filepath.Join(web, name)); err != nil {
			return "", err
		}
	}
	if err := wasmbuild.WriteWasmExec(filepath.Join(web, "wasm_exec.js")); err != nil {
		return "", err
	}
	// The server serves only the module and the demo's files: the bench page takes the demo's place.
	return cmd, os.WriteFile(filepath.Join(web, "index.html"), []byte(benchPage), 0o644)
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

func gzipSize(b []byte) (int64, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return 0, err
	}
	if _, err := zw.Write(b); err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	return int64(buf.Len()), nil
}

func brotliSize(b []byte, level int) (int64, error) {
	if level == 0 {
		level = brotli.BestCompression
	}
	var buf bytes.Buffer
	bw := brotli.NewWriterLevel(&buf, level)
	if _, err := bw.Write(b); err != nil {
		return 0, err
	}
	if err := bw.Close(); err != nil {
		return 0, err
	}
	return int64(buf.Len()), nil
}

const readyExpr = `document.documentElement.dataset.ready === "true"`

// readyMs reads the page's time from navigation to ready.
func readyMs(ctx context.Context) (time.Duration, error) {
	var ms float64
	err := chromedp.Run(ctx,
		chromedp.Poll(readyExpr, nil, chromedp.WithPollingInterval(5*time.Millisecond), chromedp.WithPollingTimeout(60*time.Second)),
		chromedp.Evaluate(`Number(document.documentElement.dataset.readyMs)`, &ms))
	return time.Duration(ms * float64(time.Millisecond)), err
}

// pageLog collects a tab's exceptions and console errors, for error messages.
type pageLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *pageLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == 0 {
		return ""
	}
	return "; the page said: " + strings.Join(l.lines, " | ")
}

func watchPage(tab context.Context) *pageLog {
	l := &pageLog{}
	chromedp.ListenTarget(tab, func(ev any) {
		var line string
		switch ev := ev.(type) {
		case *cdpruntime.EventExceptionThrown:
			line = "exception: " + ev.ExceptionDetails.Error()
		case *cdpruntime.EventConsoleAPICalled:
			if ev.Type != cdpruntime.APITypeError && ev.Type != cdpruntime.APITypeWarning {
				return
			}
			var parts []string
			for _, a := range ev.Args {
				if a.Value != nil {
					parts = append(parts, string(a.Value))
				} else {
					parts = append(parts, a.Description)
				}
			}
			line = "console." + string(ev.Type) + ": " + strings.Join(parts, " ")
		default:
			return
		}
		l.mu.Lock()
		if len(l.lines) < 10 {
			l.lines = append(l.lines, line)
		}
		l.mu.Unlock()
	})
	return l
}

// loadOnce opens a new tab, loads url with the cache disabled and returns
// the time to ready and the Content-Encoding of rtmcall.wasm.
func loadOnce(browserCtx context.Context, url string, noCache bool) (time.Duration, string, error) {
	tab, cancel := chromedp.NewContext(browserCtx)
	defer cancel()
	enc := make(chan string, 1)
	pageErrs := watchPage(tab)
	chromedp.ListenTarget(tab, func(ev any) {
		if r, ok := ev.(*network.EventResponseReceived); ok && strings.HasSuffix(r.Response.URL, "/rtmcall.wasm") {
			e, _ := r.Response.Headers["Content-Encoding"].(string)
			if e == "" {
				e, _ = r.Response.Headers["content-encoding"].(string)
			}
			select {
			case enc <- e:
			default:
			}
		}
	})
	tctx, cancelT := context.WithTimeout(tab, 90*time.Second)
	defer cancelT()
	if err := chromedp.Run(tab, network.Enable(), network.SetCacheDisabled(noCache), page.BringToFront()); err != nil {
		return 0, "", err
	}
	if err := chromedp.Run(tctx, chromedp.Navigate(url)); err != nil {
		return 0, "", err
	}
	d, err := readyMs(tctx)
	if err != nil {
		err = fmt.Errorf("%w%s", err, pageErrs)
	}
	e := "identity"
	select {
	case got := <-enc:
		if got != "" {
			e = got
		}
	default:
	}
	return d, e, err
}

// loadWarm loads url once in a tab, then n more times in the same tab.
func loadWarm(browserCtx context.Context, url string, n int) ([]time.Duration, error) {
	tab, cancel := chromedp.NewContext(browserCtx)
	defer cancel()
	if err := chromedp.Run(tab, page.BringToFront()); err != nil {
		return nil, err
	}
	var out []time.Duration
	for i := 0; i <= n; i++ {
		tctx, cancelT := context.WithTimeout(tab, 90*time.Second)
		err := chromedp.Run(tctx, chromedp.Navigate(url))
		var d time.Duration
		if err == nil {
			d, err = readyMs(tctx)
		}
		cancelT()
		if err != nil {
			return nil, err
		}
		if i > 0 { // the first load fills the cache
			out = append(out, d)
		}
	}
	return out, nil
}

// calleeJS logs bob in and records, for each invitation, when it arrived and
// when its accept started (epoch milliseconds, high resolution: the two tabs
// share the clock), then accepts it.
const calleeJS = `
const c = kit.createClient({ url: %q });
await c.login("bob");
globalThis.arrivals = {};
c.on("RemoteInvitationReceived", (r) => {
  const at = performance.timeOrigin + performance.now();
  r.response = "on my way";
  arrivals[r.content] = [at, performance.timeOrigin + performance.now()];
  r.accept().catch((e) => console.error("accept", e));
});
return true;
`

// callerJS logs alice in and does n flows one after the other, recording
// when each send started and when its acceptance arrived.
const callerJS = `
const c = kit.createClient({ url: %q });
await c.login("alice");
const out = [];
for (let i = 0; i < %d; i++) {
  const inv = c.createLocalInvitation("bob");
  inv.content = "video call from alice: join? " + i;
  inv.channelId = "room-000123";
  const accepted = new Promise((resolve, reject) => {
    inv.on("LocalInvitationAccepted", () => resolve(performance.timeOrigin + performance.now()));
    inv.on("LocalInvitationFailure", (why) => reject(new Error("invitation failed: " + why)));
  });
  const sent = performance.timeOrigin + performance.now();
  await inv.send();
  out.push([inv.content, sent, await accepted]);
  await inv.hangup(); // the call goes on until hang-up; bob would be busy for the next one
  await new Promise((r) => setTimeout(r, 20));
}
await c.logout();
return out;
`

// browserFlows does n flows from a page logged in as alice to another page
// logged in as bob.
func browserFlows(browserCtx context.Context, url, ws string, n int) (send, accept []time.Duration, err error) {
	open := func() (context.Context, context.CancelFunc, error) {
		tab, cancel := chromedp.NewContext(browserCtx)
		tctx, cancelT := context.WithTimeout(tab, 5*time.Minute)
		err := chromedp.Run(tctx, chromedp.Navigate(url), chromedp.Poll(readyExpr, nil, chromedp.WithPollingInterval(5*time.Millisecond), chromedp.WithPollingTimeout(60*time.Second)))
		return tctx, func() { cancelT(); cancel() }, err
	}
	eval := func(ctx context.Context, body string, res any) error {
		return chromedp.Run(ctx, chromedp.Evaluate("(async () => {"+body+"})()", res,
			func(p *cdpruntime.EvaluateParams) *cdpruntime.EvaluateParams { return p.WithAwaitPromise(true) }))
	}
	callee, closeCallee, err := open()
	defer closeCallee()
	if err != nil {
		return nil, nil, err
	}
	caller, closeCaller, err := open()
	defer closeCaller()
	if err != nil {
		return nil, nil, err
	}
	if err := chromedp.Run(caller, page.BringToFront()); err != nil {
		return nil, nil, err
	}
	var ok bool
	if err := eval(callee, fmt.Sprintf(calleeJS, ws), &ok); err != nil {
		return nil, nil, err
	}
	var flows [][3]json.RawMessage
	if err := eval(caller, fmt.Sprintf(callerJS, ws, n), &flows); err != nil {
		return nil, nil, err
	}
	var arrivals map[string][2]float64
	if err := eval(callee, "return arrivals;", &arrivals); err != nil {
		return nil, nil, err
	}
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	for _, f := range flows {
		var content string
		var sent, acceptedAt float64
		if json.Unmarshal(f[0], &content) != nil || json.Unmarshal(f[1], &sent) != nil || json.Unmarshal(f[2], &acceptedAt) != nil {
			return nil, nil, fmt.Errorf("bad flow record %s", f)
		}
		a, ok := arrivals[content]
		if !ok {
			return nil, nil, fmt.Errorf("the callee page has no record of %q", content)
		}
		send = append(send, ms(a[0]-sent))
		accept = append(accept, ms(acceptedAt-a[1]))
	}
	return send, accept, nil
}

func (res *Results) writeBrowser(w writer) {
	w("## Browser\n\n")
	br := res.Browser
	if br == nil {
		w("**TODO**: not measured in this run")
		for _, n := range res.Notes {
			if strings.HasPrefix(n, "browser: ") {
				w(" (%s)", strings.TrimPrefix(n, "browser: "))
			}
		}
		w(".\n\n")
		return
	}
	w("`rtmcall.wasm` built as `make build` builds it (`internal/wasmbuild`: `%s`), served with the page's\n",
		strings.ReplaceAll(br.BuildCmd, res.Config.WorkDir, "$WORK"))
	w("files by `rtmcall-server -web` (it sent the module with Content-Encoding `%s`), loaded in headless Chromium\n", br.Encoding)
	w("(%s) on the same machine.\n\n", br.Chromium)
	w("| rtmcall.wasm | bytes |\n|---|---:|\n")
	w("| raw | %s |\n| gzip -9 | %s |\n| brotli -%d | %s |\n\n", count(int(br.WasmRaw)), count(int(br.WasmGzip)), br.BrotliLevel, count(int(br.WasmBrotli)))
	w("Time from navigation to ready (`performance.now()` when `load()` resolved, in a page that loads only the\n")
	w("module), %d loads each: *cold* in a new tab with the HTTP cache disabled, *warm* navigating again in one tab.\n\n",
		br.ReadyCold.N())
	w("| load | p50 | p90 | max |\n|---|---:|---:|---:|\n")
	w("| cold | %s | %s | %s |\n", dur(br.ReadyCold.P50()), dur(br.ReadyCold.P90()), dur(br.ReadyCold.Max()))
	w("| warm | %s | %s | %s |\n\n", dur(br.ReadyWarm.P50()), dur(br.ReadyWarm.P90()), dur(br.ReadyWarm.Max()))
	w("Between two pages (two tabs, alice calling bob, %d flows one after the other, 20 ms apart; bob accepts on\n", br.Send.N())
	w("receipt; alice's tab is in front, bob's in the background, as a callee's often is). Timed with `performance.timeOrigin + performance.now()` in each tab (one clock; Chromium\n")
	w("coarsens it to 0.1 ms):\n\n")
	w("| latency | p50 | p90 | p99 | max |\n|---|---:|---:|---:|---:|\n")
	w("| send → RemoteInvitationReceived | %s | %s | %s | %s |\n", dur(br.Send.P50()), dur(br.Send.P90()), dur(br.Send.P99()), dur(br.Send.Max()))
	w("| accept → LocalInvitationAccepted | %s | %s | %s | %s |\n\n", dur(br.Accept.P50()), dur(br.Accept.P90()), dur(br.Accept.P99()), dur(br.Accept.Max()))
}
