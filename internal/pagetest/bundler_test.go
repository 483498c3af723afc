//go:build !js

package pagetest

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/server/static"
)

// bundlerApp is a tiny app that imports the npm package by its name, as a
// user's app does, built by one bundler. Each uses the set-up the package's
// README gives for that tool, and nothing else.
type bundlerApp struct {
	name  string
	files map[string]string // the app's sources
	build []string          // the command, run in the app's folder; the first word is in node_modules/.bin
	page  string            // dist/index.html when the tool does not write one
}

const appMain = `import { load } from "rtmcall";
globalThis.appLoad = () => load();
`

func bundlerApps() []bundlerApp {
	return []bundlerApp{
		{
			name: "vite",
			files: map[string]string{
				"main.js":    appMain,
				"index.html": `<!doctype html><title>app</title><script type="module" src="./main.js"></script>`,
			},
			build: []string{"vite", "build", "--logLevel", "warn"},
		},
		{
			name:  "webpack",
			files: map[string]string{"main.js": appMain},
			build: []string{"webpack", "--mode", "production", "--entry", "./main.js", "--output-path", "dist", "--output-filename", "bundle.js"},
			page:  `<!doctype html><title>app</title><script src="bundle.js"></script>`,
		},
		{
			name: "rollup",
			files: map[string]string{
				"main.js": appMain,
				"rollup.config.mjs": `import { nodeResolve } from "@rollup/plugin-node-resolve";
import { importMetaAssets } from "@web/rollup-plugin-import-meta-assets";
export default {
  input: "main.js",
  output: { dir: "dist", format: "es", entryFileNames: "bundle.js" },
  plugins: [nodeResolve(), importMetaAssets()],
};
`,
			},
			build: []string{"rollup", "-c", "rollup.config.mjs", "--silent"},
			page:  `<!doctype html><title>app</title><script type="module" src="bundle.js"></script>`,
		},
		{
			name: "esbuild",
			files: map[string]string{"main.js": `import { load } from "rtmcall";
import wasmUrl from "rtmcall/rtmcall.wasm";
globalThis.appLoad = () => load({ wasmUrl });
`},
			build: []string{"esbuild", "main.js", "--bundle", "--format=esm", "--outfile=dist/bundle.js", "--loader:.wasm=file", "--log-level=warning"},
			page:  `<!doctype html><title>app</title><script type="module" src="bundle.js"></script>`,
		},
	}
}

// bundlersDir is where `make deps` installs the bundlers ($RTMCALL_BUNDLERS
// or .bin/bundlers); the test fails without them under CI=true.
func bundlersDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("RTMCALL_BUNDLERS")
	if dir == "" {
		dir = filepath.Join(root, ".bin", "bundlers")
	}
	for _, app := range bundlerApps() {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", ".bin", app.build[0])); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("bundler %s is not installed in %s (make deps installs it), and CI=true", app.build[0], dir)
			}
			t.Skipf("bundler %s is not installed in %s (make deps installs it)", app.build[0], dir)
		}
	}
	return dir
}

// TestBundlers builds an app that imports "rtmcall" with each bundler, serves
// it with the server on one origin, and places a call between two pages of it.
func TestBundlers(t *testing.T) {
	needBrowser(t)
	npm := needNpm(t)
	tools := bundlersDir(t)
	// The package as npm packs it, unpacked as npm installs it.
	tmp := t.TempDir()
	pack := exec.Command(npm, "pack", "--pack-destination", tmp, "--loglevel=error")
	pack.Dir = webDir
	out, err := pack.Output()
	require.NoError(t, err)
	tarball := filepath.Join(tmp, strings.TrimSpace(string(out)))
	// The apps live under the tools folder, so that Node finds the bundlers' packages (plugins) from them.
	apps, err := os.MkdirTemp(tools, "apps-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(apps) })

	for _, app := range bundlerApps() {
		t.Run(app.name, func(t *testing.T) {
			dir := filepath.Join(apps, app.name)
			require.NoError(t, os.MkdirAll(dir, 0o755))
			for name, text := range app.files {
				require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644))
			}
			require.NoError(t, os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name":"app","private":true,"type":"module"}`), 0o644))
			untar(t, tarball, filepath.Join(dir, "node_modules", "rtmcall"))
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, filepath.Join(tools, "node_modules", ".bin", app.build[0]), app.build[1:]...)
			cmd.Dir = dir
			start := time.Now()
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			t.Logf("%s built the app in %v", app.name, time.Since(start).Round(time.Millisecond))
			dist := filepath.Join(dir, "dist")
			if app.page != "" {
				require.NoError(t, os.WriteFile(filepath.Join(dist, "index.html"), []byte(app.page), 0o644))
			}
			web, err := static.Handler(dist)
			require.NoError(t, err)
			placeCallIn(t, newSiteServing(t, web))
		})
	}
}

// placeCallIn opens the app in two tabs and calls from one to the other.
func placeCallIn(t *testing.T, s *site) {
	t.Helper()
	alice := newTab(t, s, "/")
	bob := newTab(t, s, "/")
	for _, tb := range []*tab{alice, bob} {
		tb.waitJSFor(`typeof globalThis.appLoad === "function"`, 30*time.Second)
		var globals []string
		tb.eval(`const before = new Set(Object.getOwnPropertyNames(globalThis));
T.kit = await appLoad();
return Object.getOwnPropertyNames(globalThis).filter((n) => !before.has(n));`, &globals)
		assert.Empty(t, globals, "load() defines no global")
	}
	bob.eval(`
T.bob = await T.client("bob");
T.bob.on("RemoteInvitationReceived", (r) => { r.response = "on my way"; r.accept(); });`, nil)
	var res struct{ Response, State string }
	alice.eval(`
const alice = await T.client("alice");
const call = alice.createLocalInvitation("bob");
call.content = "bundled?";
const accepted = T.next(call, "LocalInvitationAccepted");
await call.send();
const [response] = await accepted;
return { response, state: call.state };`, &res)
	assert.Equal(t, "on my way", res.Response)
	assert.Equal(t, "ACCEPTED_BY_REMOTE", res.State)
}

// untar unpacks an npm tarball (its files under package/) into dir.
func untar(t *testing.T, tarball, dir string) {
	t.Helper()
	f, err := os.Open(tarball)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		require.NoError(t, err)
		name, ok := strings.CutPrefix(h.Name, "package/")
		if !ok || h.Typeflag != tar.TypeReg || !filepath.IsLocal(name) {
			continue
		}
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(p, b, 0o644))
	}
}
