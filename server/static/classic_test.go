package static_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/server/static"
)

func classicFS(mod time.Time) fstest.MapFS {
	return fstest.MapFS{
		"loader.js": {Data: []byte("export async function load() { return import.meta.url; }\n"), ModTime: mod},
		"lib.js": {Data: []byte("import { load } from \"./loader.js\";\nconst hidden = 1;\n" +
			"export function twice(x) { return 2 * x + hidden - 1; }\nexport const { a, b } = { a: 1, b: 2 };\n"), ModTime: mod},
		"sdk.js": {Data: []byte("// rtmcall:classic-script SDK extra\nimport { twice, a } from \"./lib.js\";\n" +
			"import { load } from \"./loader.js\";\nconst hidden = 2;\nexport const SDK = { twice, a, load, hidden };\n" +
			"export const extra = 3;\nexport default SDK;\n"), ModTime: mod.Add(time.Hour)},
		"plain.js":      {Data: []byte("export const x = 1;\n"), ModTime: mod},
		"star.js":       {Data: []byte("// rtmcall:classic-script X\nimport * as lib from \"./lib.js\";\nconst X = lib;\n"), ModTime: mod},
		"own.js":        {Data: []byte("// rtmcall:classic-script Own\nexport const Own = 1;\n"), ModTime: mod},
		"own.global.js": {Data: []byte("window.Own = 2;\n"), ModTime: mod},
	}
}

// TestClassic: each module is inlined once in its own function, a module
// using import.meta is imported on first call, and the marked names become
// globals.
func TestClassic(t *testing.T) {
	b, files, err := static.Classic(classicFS(time.Now()), "sdk.js")
	require.NoError(t, err)
	src := string(b)
	assert.Equal(t, []string{"sdk.js", "lib.js"}, files)
	assert.Equal(t, 1, strings.Count(src, "const load = (...args) => import(new URL(\"./loader.js\", __script))"), src)
	assert.Contains(t, src, "const { twice, a, b } = (function () {")
	assert.Contains(t, src, "globalThis.SDK = SDK;\nglobalThis.extra = extra;\n")
	assert.NotContains(t, src, "export ")
	assert.NotContains(t, src, "import {")

	if node, err := exec.LookPath("node"); err == nil {
		// Run it with a stand-in document: the globals and the inlined code work.
		script := "globalThis.document = { currentScript: { src: 'http://x/sdk.global.js' } };\n" + src +
			"if (SDK.twice(3) !== 6 || SDK.a !== 1 || SDK.hidden !== 2 || extra !== 3) throw new Error('wrong');\n"
		p := filepath.Join(t.TempDir(), "s.js")
		require.NoError(t, os.WriteFile(p, []byte(script), 0o644))
		out, err := exec.Command(node, p).CombinedOutput()
		assert.NoError(t, err, "%s", out)
	}

	_, _, err = static.Classic(classicFS(time.Now()), "star.js")
	assert.ErrorContains(t, err, "star.js:2: only `import { a, b } from \"./x.js\";` is supported")
	_, _, err = static.Classic(classicFS(time.Now()), "plain.js")
	assert.ErrorContains(t, err, "has no")
}

// TestClassicServed: the handler serves X.global.js for a marked X.js, as
// JavaScript with the newest modification time of the files it read; a
// real X.global.js wins; an unmarked module has none.
func TestClassicServed(t *testing.T) {
	mod := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	h := static.New(classicFS(mod), static.Options{})
	resp := get(t, h, http.MethodGet, "/sdk.global.js", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/javascript; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Equal(t, mod.Add(time.Hour).Format(http.TimeFormat), resp.Header.Get("Last-Modified"))
	assert.Contains(t, string(body(t, resp)), "globalThis.SDK = SDK;")

	assert.Equal(t, "window.Own = 2;\n", string(body(t, get(t, h, http.MethodGet, "/own.global.js", nil))))
	assert.Equal(t, http.StatusNotFound, get(t, h, http.MethodGet, "/plain.global.js", nil).StatusCode)
	assert.Equal(t, http.StatusNotFound, get(t, h, http.MethodGet, "/missing.global.js", nil).StatusCode)
	assert.Equal(t, http.StatusInternalServerError, get(t, h, http.MethodGet, "/star.global.js", nil).StatusCode)
}

// TestClassicOnly: with Only, X.global.js is served when X.js is allowed.
func TestClassicOnly(t *testing.T) {
	h := static.New(classicFS(time.Now()), static.Options{Only: []string{"sdk.js", "lib.js", "loader.js"}})
	assert.Equal(t, http.StatusOK, get(t, h, http.MethodGet, "/sdk.global.js", nil).StatusCode)
	assert.Equal(t, http.StatusNotFound, get(t, h, http.MethodGet, "/own.global.js", nil).StatusCode)
	assert.Equal(t, http.StatusNotFound, get(t, h, http.MethodGet, "/own.js", nil).StatusCode)
	for _, name := range []string{"agora.js", "anyrtm.js", "compat.js"} {
		assert.Contains(t, static.Files, name, "the server serves it")
	}
}

// TestClassicWeb: web/'s modules with a classic-script version build.
func TestClassicWeb(t *testing.T) {
	for _, entry := range []string{"agora.js", "anyrtm.js"} {
		b, files, err := static.Classic(os.DirFS("../../web"), entry)
		require.NoError(t, err, entry)
		assert.Equal(t, []string{entry, "compat.js"}, files)
		assert.Contains(t, string(b), "import(new URL(\"./rtmcall.js\", __script))")
	}
}

// TestClassicWorker: rtmcall-sw.global.js, the service-worker helper for
// importScripts, runs where there is no document (a worker: only its
// location) and defines RtmcallPush alone.
func TestClassicWorker(t *testing.T) {
	assert.Contains(t, static.Files, "rtmcall-sw.js", "the server serves it")
	b, files, err := static.Classic(os.DirFS("../../web"), "rtmcall-sw.js")
	require.NoError(t, err)
	assert.Equal(t, []string{"rtmcall-sw.js"}, files)
	src := string(b)
	assert.Contains(t, src, "globalThis.RtmcallPush = RtmcallPush;\n})();\n")
	assert.Equal(t, 1, strings.Count(src, "globalThis.RtmcallPush"), "one global")

	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the script was not run")
	}
	script := "globalThis.location = { href: 'http://x/sw.js' };\n" +
		"const before = new Set(Object.keys(globalThis));\n" + src + `
const added = Object.keys(globalThis).filter((k) => !before.has(k));
if (added.join() !== "RtmcallPush") throw new Error("globals added: " + added);
const p = RtmcallPush.parsePushPayload('{"v":1,"kind":"close","inv":"i1","reason":"canceled"}');
if (p.kind !== "close" || p.inv !== "i1") throw new Error("parsed " + JSON.stringify(p));
if (RtmcallPush.parsePushPayload('{"title":"not ours"}') !== null) throw new Error("an app's push was taken");
try {
  RtmcallPush.parsePushPayload('{"v":2,"kind":"invite"}');
  throw new Error("no error for version 2");
} catch (e) {
  if (e.name !== "RtmError" || e.code !== 1 || e.codeName !== "INVALID_ARGUMENT") throw e;
}
`
	p := filepath.Join(t.TempDir(), "s.js")
	require.NoError(t, os.WriteFile(p, []byte(script), 0o644))
	out, err := exec.Command(node, p).CombinedOutput()
	assert.NoError(t, err, "%s", out)
}
