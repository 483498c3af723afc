//go:build !js

// Command wasmexec runs Go tests compiled to WebAssembly in headless
// Chromium against a live rtmcall server. Use it as go test's -exec:
//
//	GOOS=js GOARCH=wasm go test -exec="$PWD/.bin/rtmcall_wasm_exec" ./jsbridge/
//
// It starts a server node in dev mode on 127.0.0.1:0 with a short receipt
// timeout, runs the real runner (wasmbrowsertest, installed as
// go_js_wasm_exec next to this program, or $RTMCALL_WASM_RUNNER) under a
// trimmed environment that carries the server's address, passes the exit
// code through and shuts the server down. The environment the test sees:
//
//	RTMCALL_WS_URL              ws://127.0.0.1:PORT/ws
//	RTMCALL_RECEIPT_TIMEOUT_MS  the server's receipt timeout
//
// (wasm_exec.js limits argv plus environment to about 8 KiB, so only what
// the runner and the tests need is passed.)
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/rtmcall/rtmcall/server"
)

// receiptTimeout is short so that a test sees PEER_NO_RESPONSE quickly;
// the test clients acknowledge invitations at once.
const receiptTimeout = 1500 * time.Millisecond

func main() {
	code, err := run(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "wasmexec:", err)
	}
	os.Exit(code)
}

func run(args []string) (int, error) {
	if len(args) == 0 {
		return 2, errors.New("usage: wasmexec <test.wasm> [test flags] (as go test -exec)")
	}
	runner, err := runnerPath()
	if err != nil {
		return 1, err
	}
	level := slog.LevelWarn
	if os.Getenv("RTMCALL_SERVER_LOG") != "" {
		level = slog.LevelDebug
	}
	node, err := server.New(server.Config{
		Dev:            true,
		ReceiptTimeout: receiptTimeout,
		Logger:         slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		return 1, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 1, err
	}
	hs := &http.Server{Handler: node, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = node.Shutdown(ctx)
		_ = hs.Shutdown(ctx)
	}()

	cmd := exec.Command(runner, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = environ(map[string]string{
		"RTMCALL_WS_URL":             "ws://" + ln.Addr().String() + "/ws",
		"RTMCALL_RECEIPT_TIMEOUT_MS": strconv.FormatInt(receiptTimeout.Milliseconds(), 10),
	})
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	if err != nil {
		return 1, err
	}
	return 0, nil
}

// runnerPath finds wasmbrowsertest.
func runnerPath() (string, error) {
	if p := os.Getenv("RTMCALL_WASM_RUNNER"); p != "" {
		return p, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	p := filepath.Join(filepath.Dir(self), "go_js_wasm_exec")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no runner at %s (make deps builds it): %w", p, err)
	}
	return p, nil
}

// environ is the runner's environment: what Chromium and the runner need,
// plus extra.
func environ(extra map[string]string) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "LANG", "CI", "WASM_HEADLESS", "XDG_RUNTIME_DIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}
