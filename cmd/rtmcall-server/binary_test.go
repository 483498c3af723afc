//go:build !js

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/internal/wasmbuild"
	"github.com/rtmcall/rtmcall/server/static"
)

// TestBinaryServesEmbeddedDemo builds the server with web assets in its
// embedded directory (through -overlay, leaving the tree alone), runs it
// from an empty directory, and checks it serves the demo, only the served
// files, and the brotli variant made at build time.
func TestBinaryServesEmbeddedDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the server")
	}
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	tmp := t.TempDir()
	web := filepath.Join(tmp, "web")
	require.NoError(t, os.MkdirAll(web, 0o755))
	for _, name := range static.Files {
		src := filepath.Join(root, "web", name)
		switch name {
		case "rtmcall.wasm": // not the subject: a stand-in, large enough to be compressed
			require.NoError(t, os.WriteFile(filepath.Join(web, name), []byte("\x00asm\x01\x00\x00\x00"+strings.Repeat("rtmcall ", 4096)), 0o644))
		case "wasm_exec.js":
			require.NoError(t, wasmbuild.WriteWasmExec(filepath.Join(web, name)))
		default:
			b, err := os.ReadFile(src)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(web, name), b, 0o644))
		}
	}
	assets := filepath.Join(tmp, "assets")
	require.NoError(t, wasmbuild.Assemble(web, assets))
	overlay := map[string]string{}
	entries, err := os.ReadDir(assets)
	require.NoError(t, err)
	for _, e := range entries {
		overlay[filepath.Join(root, "server", "static", "assets", e.Name())] = filepath.Join(assets, e.Name())
	}
	ov, err := json.Marshal(map[string]any{"Replace": overlay})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "overlay.json"), ov, 0o644))
	bin := filepath.Join(tmp, "rtmcall-server")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-overlay", filepath.Join(tmp, "overlay.json"), "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	elsewhere := t.TempDir()
	srv := exec.CommandContext(ctx, bin, "-dev", "-addr", "127.0.0.1:0")
	srv.Dir = elsewhere
	stderr, err := srv.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, srv.Start())
	defer func() {
		_ = srv.Process.Signal(os.Interrupt)
		_ = srv.Wait()
	}()
	url := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`demo page: open (http://\S+/)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				url <- m[1]
			}
		}
	}()
	var base string
	select {
	case base = <-url:
	case <-ctx.Done():
		t.Fatal("the server did not print the page's URL")
	}

	get := func(path, acceptEncoding string) (*http.Response, []byte) {
		req, err := http.NewRequest(http.MethodGet, base+strings.TrimPrefix(path, "/"), nil)
		require.NoError(t, err)
		req.Header.Set("Accept-Encoding", acceptEncoding)
		resp, err := http.DefaultTransport.RoundTrip(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, b
	}
	resp, page := get("/", "")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	index, err := os.ReadFile(filepath.Join(root, "web", "index.html"))
	require.NoError(t, err)
	assert.Equal(t, string(index), string(page), "the demo page, from the binary, run from another directory")

	start := time.Now()
	resp, body := get("/rtmcall.wasm", "gzip, deflate, br")
	first := time.Since(start)
	assert.Equal(t, "br", resp.Header.Get("Content-Encoding"))
	assert.Equal(t, "application/wasm", resp.Header.Get("Content-Type"))
	br, err := os.ReadFile(filepath.Join(assets, "rtmcall.wasm.br"))
	require.NoError(t, err)
	assert.Equal(t, br, body, "the first brotli request is answered with the variant made at build time")
	t.Logf("first brotli request of rtmcall.wasm: %v", first)
	resp, _ = get("/rtmcall.wasm", "gzip")
	assert.Equal(t, "gzip", resp.Header.Get("Content-Encoding"))

	for _, path := range []string{"/package.json", "/tsconfig.json", "/example.ts", "/rtmcall.d.ts", "/README.md", "/rtmcall.wasm.br"} {
		resp, _ := get(path, "")
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "%s is not served", path)
	}
}
