package static_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/server/static"
)

var (
	js   = []byte(strings.Repeat("export const answer = 42; // a module line\n", 100))
	wasm = append([]byte("\x00asm\x01\x00\x00\x00"), bytes.Repeat([]byte{0, 1, 2, 3, 4, 5, 6, 7}, 1000)...)
	png  = append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{9}, 2000)...)
)

func testFS() fstest.MapFS {
	mod := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	return fstest.MapFS{
		"index.html":        {Data: []byte("<!doctype html><title>demo</title>"), ModTime: mod},
		"rtmcall.js":        {Data: js, ModTime: mod},
		"lib.mjs":           {Data: js, ModTime: mod},
		"demo.css":          {Data: []byte("body { margin: 0 }"), ModTime: mod},
		"rtmcall.wasm":      {Data: wasm, ModTime: mod},
		"rtmcall.d.ts":      {Data: []byte("export declare const x: number;"), ModTime: mod},
		"package.json":      {Data: []byte(`{"name":"rtmcall"}`), ModTime: mod},
		"logo.png":          {Data: png, ModTime: mod},
		"docs/index.html":   {Data: []byte("<p>docs</p>"), ModTime: mod},
		".secret":           {Data: []byte("no"), ModTime: mod},
		"sub/.git/config":   {Data: []byte("no"), ModTime: mod},
		"sub/unindexed.txt": {Data: []byte("text"), ModTime: mod},
	}
}

func get(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func body(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if len(b) == 0 {
		return b
	}
	switch resp.Header.Get("Content-Encoding") {
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		require.NoError(t, err)
		b, err = io.ReadAll(zr)
		require.NoError(t, err)
	case "br":
		b, err = io.ReadAll(brotli.NewReader(bytes.NewReader(b)))
		require.NoError(t, err)
	}
	return b
}

func TestContentTypes(t *testing.T) {
	h := static.New(testFS(), static.Options{})
	for path, want := range map[string]string{
		"/":             "text/html; charset=utf-8",
		"/rtmcall.js":   "text/javascript; charset=utf-8",
		"/lib.mjs":      "text/javascript; charset=utf-8",
		"/demo.css":     "text/css; charset=utf-8",
		"/rtmcall.wasm": "application/wasm",
		"/rtmcall.d.ts": "text/plain; charset=utf-8",
		"/package.json": "application/json",
		"/logo.png":     "image/png",
	} {
		t.Run(path, func(t *testing.T) {
			resp := get(t, h, http.MethodGet, path, nil)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, want, resp.Header.Get("Content-Type"))
			assert.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
			assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
			assert.NotEmpty(t, resp.Header.Get("ETag"))
		})
	}
}

func TestEncodings(t *testing.T) {
	h := static.New(testFS(), static.Options{})
	tests := []struct {
		accept, want string
	}{
		{"", ""},
		{"gzip", "gzip"},
		{"br", "br"},
		{"gzip, deflate, br, zstd", "br"}, // what Chromium sends
		{"gzip;q=1.0, br;q=0.5", "gzip"},
		{"br;q=0, gzip", "gzip"},
		{"br;q=0, gzip;q=0", ""},
		{"*", "br"},
		{"*;q=0.5, br;q=0", "gzip"},
		{"identity", ""},
		{"GZIP", "gzip"},
		{"br;q=bogus, gzip", "gzip"},
	}
	for _, path := range []string{"/rtmcall.wasm", "/rtmcall.js"} {
		want := wasm
		if path == "/rtmcall.js" {
			want = js
		}
		for _, tt := range tests {
			t.Run(path+" "+tt.accept, func(t *testing.T) {
				resp := get(t, h, http.MethodGet, path, map[string]string{"Accept-Encoding": tt.accept})
				require.Equal(t, http.StatusOK, resp.StatusCode)
				assert.Equal(t, tt.want, resp.Header.Get("Content-Encoding"))
				assert.Equal(t, "Accept-Encoding", resp.Header.Get("Vary"))
				assert.Equal(t, want, body(t, resp), "the content, once decoded")
				if tt.want != "" {
					n, _ := io.Copy(io.Discard, resp.Body)
					assert.Zero(t, n)
				}
			})
		}
	}
}

func TestCompressedIsSmaller(t *testing.T) {
	h := static.New(testFS(), static.Options{})
	sizes := map[string]int{}
	for _, enc := range []string{"", "gzip", "br"} {
		resp := get(t, h, http.MethodGet, "/rtmcall.wasm", map[string]string{"Accept-Encoding": enc})
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		assert.Equal(t, resp.Header.Get("Content-Length"), strconv.Itoa(len(b)))
		sizes[enc] = len(b)
	}
	assert.Less(t, sizes["gzip"], sizes[""])
	assert.Less(t, sizes["br"], sizes[""])
}

func TestNotCompressed(t *testing.T) {
	h := static.New(testFS(), static.Options{})
	for _, path := range []string{"/logo.png", "/demo.css"} { // not compressible; too small to gain
		resp := get(t, h, http.MethodGet, path, map[string]string{"Accept-Encoding": "gzip, br"})
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Empty(t, resp.Header.Get("Content-Encoding"), path)
	}
	assert.Empty(t, get(t, h, http.MethodGet, "/logo.png", nil).Header.Get("Vary"), "images do not vary")
}

func TestETags(t *testing.T) {
	h := static.New(testFS(), static.Options{})
	etags := map[string]string{}
	for _, enc := range []string{"", "gzip", "br"} {
		resp := get(t, h, http.MethodGet, "/rtmcall.wasm", map[string]string{"Accept-Encoding": enc})
		etag := resp.Header.Get("ETag")
		require.Regexp(t, `^"[0-9a-f]+(-gzip|-br)?"$`, etag, "a strong ETag")
		etags[enc] = etag

		// A revalidation of the same variant is a 304 with no body.
		resp = get(t, h, http.MethodGet, "/rtmcall.wasm", map[string]string{"Accept-Encoding": enc, "If-None-Match": etag})
		assert.Equal(t, http.StatusNotModified, resp.StatusCode, enc)
		assert.Equal(t, etag, resp.Header.Get("ETag"))
		assert.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
		assert.Equal(t, "Accept-Encoding", resp.Header.Get("Vary"))
		assert.Empty(t, body(t, resp))

		// In a list, and weakly compared as If-None-Match requires.
		resp = get(t, h, http.MethodGet, "/rtmcall.wasm", map[string]string{"Accept-Encoding": enc, "If-None-Match": `"other", W/` + etag})
		assert.Equal(t, http.StatusNotModified, resp.StatusCode, enc)
	}
	assert.Len(t, map[string]bool{etags[""]: true, etags["gzip"]: true, etags["br"]: true}, 3, "one ETag per variant")

	// Another variant's ETag does not validate this one.
	resp := get(t, h, http.MethodGet, "/rtmcall.wasm", map[string]string{"Accept-Encoding": "gzip", "If-None-Match": etags["br"]})
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp = get(t, h, http.MethodGet, "/rtmcall.wasm", map[string]string{"If-None-Match": "*"})
	assert.Equal(t, http.StatusNotModified, resp.StatusCode)
}

func TestFileChanges(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "rtmcall.js")
	require.NoError(t, os.WriteFile(p, js, 0o644))
	h, err := static.Handler(dir)
	require.NoError(t, err)
	first := get(t, h, http.MethodGet, "/rtmcall.js", map[string]string{"Accept-Encoding": "br"})
	assert.Equal(t, js, body(t, first))

	changed := append([]byte("// rebuilt\n"), js...)
	require.NoError(t, os.WriteFile(p, changed, 0o644))
	later := time.Now().Add(time.Minute)
	require.NoError(t, os.Chtimes(p, later, later))
	resp := get(t, h, http.MethodGet, "/rtmcall.js", map[string]string{"Accept-Encoding": "br", "If-None-Match": first.Header.Get("ETag")})
	require.Equal(t, http.StatusOK, resp.StatusCode, "the old ETag no longer validates")
	assert.Equal(t, changed, body(t, resp))
	assert.NotEqual(t, first.Header.Get("ETag"), resp.Header.Get("ETag"))
}

func TestPaths(t *testing.T) {
	h := static.New(testFS(), static.Options{})
	tests := []struct {
		method, path string
		status       int
		location     string
	}{
		{"GET", "/", 200, ""},
		{"GET", "/docs/", 200, ""},
		{"GET", "/docs", 301, "/docs/"},
		{"GET", "/sub/", 404, ""}, // no index.html, no listing
		{"GET", "/sub/unindexed.txt", 200, ""},
		{"GET", "/missing.js", 404, ""},
		{"GET", "/.secret", 404, ""},
		{"GET", "/sub/.git/config", 404, ""},
		{"GET", "/../etc/passwd", 404, ""},
		{"GET", "/sub/../rtmcall.js", 200, ""},
		{"POST", "/rtmcall.js", 405, ""},
		{"HEAD", "/rtmcall.wasm", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp := get(t, h, tt.method, tt.path, nil)
			assert.Equal(t, tt.status, resp.StatusCode)
			if tt.location != "" {
				assert.Equal(t, tt.location, resp.Header.Get("Location"))
			}
		})
	}
	resp := get(t, h, http.MethodHead, "/rtmcall.wasm", map[string]string{"Accept-Encoding": "br"})
	assert.Equal(t, "br", resp.Header.Get("Content-Encoding"))
	assert.NotEmpty(t, resp.Header.Get("Content-Length"))
	assert.Empty(t, body(t, resp))
}

func TestHandlerNeedsADirectory(t *testing.T) {
	_, err := static.Handler(filepath.Join(t.TempDir(), "missing"))
	assert.Error(t, err)
	f := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(f, nil, 0o644))
	_, err = static.Handler(f)
	assert.ErrorContains(t, err, "not a directory")
}

func TestPrecomputedVariants(t *testing.T) {
	fsys := testFS()
	made := static.Compress("rtmcall.wasm", append(wasm, "made at build time"...), static.BestBrotli)["br"]
	fsys["rtmcall.wasm.br"] = &fstest.MapFile{Data: made, ModTime: fsys["rtmcall.wasm"].ModTime}
	fsys["rtmcall.js.br"] = &fstest.MapFile{Data: []byte("stale"), ModTime: fsys["rtmcall.js"].ModTime.Add(-time.Hour)}
	h := static.New(fsys, static.Options{})
	resp := get(t, h, http.MethodGet, "/rtmcall.wasm", map[string]string{"Accept-Encoding": "br"})
	assert.Equal(t, "br", resp.Header.Get("Content-Encoding"))
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, made, raw, "the variant on disk is served, not compressed again")
	resp = get(t, h, http.MethodGet, "/rtmcall.js", map[string]string{"Accept-Encoding": "br"})
	assert.Equal(t, "br", resp.Header.Get("Content-Encoding"))
	assert.Equal(t, js, body(t, resp), "a variant older than its file is ignored")
}

func TestOnly(t *testing.T) {
	h := static.New(testFS(), static.Options{Only: []string{"index.html", "rtmcall.js"}})
	assert.Equal(t, http.StatusOK, get(t, h, http.MethodGet, "/", nil).StatusCode)
	assert.Equal(t, http.StatusOK, get(t, h, http.MethodGet, "/rtmcall.js", nil).StatusCode)
	for _, p := range []string{"/package.json", "/rtmcall.d.ts", "/docs/"} {
		assert.Equal(t, http.StatusNotFound, get(t, h, http.MethodGet, p, nil).StatusCode, p)
	}
}

func TestNotBuilt(t *testing.T) {
	resp := get(t, static.NotBuilt(), http.MethodGet, "/", nil)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Contains(t, string(body(t, resp)), "make build")
}
