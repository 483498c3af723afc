//go:build !js

package pagetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/internal/wasmbuild"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
	"github.com/rtmcall/rtmcall/server/static"
)

var (
	root       string          // the repository
	webDir     string          // web/ with the built module
	files      http.Handler    // webDir, served by server/static; shared, so that it compresses the module once
	browserCtx context.Context // the shared browser; nil without Chromium
	noBrowser  string          // why there is no browser
	version    string          // web/package.json's version
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	root, err = filepath.Abs("../..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "rtmcall-pagetest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if err := prepareWeb(tmp); err != nil {
		fmt.Fprintln(os.Stderr, "pagetest:", err)
		return 1
	}
	if files, err = static.Handler(webDir); err != nil {
		fmt.Fprintln(os.Stderr, "pagetest:", err)
		return 1
	}
	chromium := findChromium()
	if chromium == "" {
		noBrowser = "Chromium is not installed (make deps installs it)"
		return m.Run()
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // as root
		chromedp.DisableGPU,
		chromedp.UserDataDir(filepath.Join(tmp, "profile")),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		// A test pattern camera and a beeping microphone, allowed without a prompt.
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	if err := chromedp.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "pagetest: failed to start Chromium:", err)
		return 1
	}
	browserCtx = ctx
	return m.Run()
}

// prepareWeb builds the module and assembles what `make build` puts in
// web/: the page's files, rtmcall.wasm and wasm_exec.js.
func prepareWeb(tmp string) error {
	var pkg struct{ Version string }
	b, err := os.ReadFile(filepath.Join(root, "web", "package.json"))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		return err
	}
	version = pkg.Version
	webDir = filepath.Join(tmp, "web")
	if err := os.MkdirAll(webDir, 0o755); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := wasmbuild.Build(ctx, root, filepath.Join(webDir, "rtmcall.wasm"),
		wasmbuild.Options{Version: version, Dir: filepath.Join(tmp, "wasmmod")}); err != nil {
		return err
	}
	entries, err := os.ReadDir(filepath.Join(root, "web"))
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || name == "rtmcall.wasm" || name == "wasm_exec.js" {
			continue
		}
		if err := copyFile(filepath.Join(root, "web", name), filepath.Join(webDir, name)); err != nil {
			return err
		}
	}
	if err := wasmbuild.WriteWasmExec(filepath.Join(webDir, "wasm_exec.js")); err != nil {
		return err
	}
	// A page of the same origin without the demo, for tests that must see
	// the module load for the first time.
	return os.WriteFile(filepath.Join(webDir, "blank.html"), []byte("<!doctype html><title>blank</title>\n"), 0o644)
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

// findChromium returns the Chromium binary: $RTMCALL_CHROMIUM if set
// ("none" to act as if there were none), else the first one on PATH.
func findChromium() string {
	if p, ok := os.LookupEnv("RTMCALL_CHROMIUM"); ok {
		if p == "none" {
			return ""
		}
		return p
	}
	for _, p := range []string{"/usr/lib/chromium/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	return ""
}

// needBrowser skips the test without Chromium, or fails it when CI=true.
func needBrowser(t *testing.T) {
	t.Helper()
	if browserCtx != nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("pagetest: %s, and CI=true", noBrowser)
	}
	t.Skipf("pagetest: %s", noBrowser)
}

// site is a server for one test: the real node at /ws and the module's
// files at /, on one origin.
type site struct {
	URL   string // http://127.0.0.1:PORT
	WSURL string // ws://127.0.0.1:PORT/ws
	srv   *rtmcalltest.Server
}

func newSite(t *testing.T, opts ...func(*server.Config)) *site {
	t.Helper()
	return newSiteWith(t, files, nil, opts...)
}

// newSiteServing is newSite with other files at /.
func newSiteServing(t *testing.T, web http.Handler, opts ...func(*server.Config)) *site {
	t.Helper()
	return newSiteWith(t, web, nil, opts...)
}

// newSiteWith is newSite with web at / and more routes, which routes adds to its mux.
func newSiteWith(t *testing.T, web http.Handler, routes func(*http.ServeMux, *rtmcalltest.Server),
	opts ...func(*server.Config)) *site {
	t.Helper()
	srv := rtmcalltest.NewServer(t, opts...)
	mux := http.NewServeMux()
	mux.Handle("/ws", srv.Node)
	mux.Handle("/", web)
	if routes != nil {
		routes(mux, srv)
	}
	// Through the node's Listener, as cmd/rtmcall-server serves: the
	// browser's upgrades skip net/http.
	hs := httptest.NewUnstartedServer(mux)
	hs.Listener = srv.Node.Listener(hs.Listener, 10*time.Second)
	hs.Start()
	t.Cleanup(hs.Close)
	return &site{URL: hs.URL, WSURL: "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws", srv: srv}
}

// tab is a browser tab.
type tab struct {
	t   *testing.T
	ctx context.Context
}

// newTab opens a tab on path of s, waits until the page has loaded the
// module (the demo page sets data-ready on <html>), and installs the test
// helpers (helpers.js) as globalThis.T.
func newTab(t *testing.T, s *site, path string) *tab {
	t.Helper()
	return newTabInit(t, s, path, "")
}

// newTabInit is newTab with a script that runs in the page before its own.
func newTabInit(t *testing.T, s *site, path, init string) *tab {
	t.Helper()
	needBrowser(t)
	ctx, cancel := chromedp.NewContext(browserCtx)
	t.Cleanup(cancel)
	chromedp.ListenTarget(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *cdpruntime.EventConsoleAPICalled:
			var parts []string
			for _, a := range ev.Args {
				if a.Value != nil {
					parts = append(parts, string(a.Value))
				} else {
					parts = append(parts, a.Description)
				}
			}
			logf(t, "console.%s: %s", ev.Type, strings.Join(parts, " "))
		case *cdpruntime.EventExceptionThrown:
			logf(t, "page exception: %s", ev.ExceptionDetails.Error())
		}
	})
	// The first Run opens the tab, which lives as long as the context of
	// that Run: ctx, not one with a timeout.
	require.NoError(t, chromedp.Run(ctx))
	tb := &tab{t: t, ctx: ctx}
	if init != "" {
		require.NoError(t, tb.run(chromedp.ActionFunc(func(ctx context.Context) error {
			_, err := page.AddScriptToEvaluateOnNewDocument(init).Do(ctx)
			return err
		})))
	}
	require.NoError(t, tb.run(chromedp.Navigate(s.URL+path)))
	helpers, err := os.ReadFile("helpers.js")
	require.NoError(t, err)
	tb.eval(string(helpers)+fmt.Sprintf("\nT.url = %q;", s.WSURL), nil)
	return tb
}

// logf logs unless the test has finished (late console output).
func logf(t *testing.T, format string, args ...any) {
	defer func() { _ = recover() }()
	t.Logf(format, args...)
}

func (tb *tab) run(actions ...chromedp.Action) error {
	ctx, cancel := context.WithTimeout(tb.ctx, 60*time.Second)
	defer cancel()
	return chromedp.Run(ctx, actions...)
}

// eval runs JavaScript as the body of an async function and stores its
// JSON result in res (when not nil). A thrown error fails the test.
func (tb *tab) eval(body string, res any) {
	tb.t.Helper()
	err := tb.evalErr(body, res)
	require.NoError(tb.t, err)
}

func (tb *tab) evalErr(body string, res any) error {
	expr := "(async () => {\n" + body + "\n})()"
	var raw json.RawMessage
	err := tb.run(chromedp.Evaluate(expr, &raw, func(p *cdpruntime.EvaluateParams) *cdpruntime.EvaluateParams {
		return p.WithAwaitPromise(true)
	}))
	var exc *cdpruntime.ExceptionDetails
	if errors.As(err, &exc) {
		return fmt.Errorf("page threw: %s", exc.Error())
	}
	if err != nil {
		return err
	}
	if res == nil || len(raw) == 0 {
		return nil
	}
	return json.Unmarshal(raw, res)
}
