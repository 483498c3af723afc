//go:build !js

package pagetest

import (
	"encoding/json"
	"os"
	"os/exec"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// needNpm returns npm's path; without it the test skips, or fails when CI=true.
func needNpm(t *testing.T) string {
	t.Helper()
	npm, err := exec.LookPath("npm")
	if err == nil {
		return npm
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("npm is not installed (make deps installs it), and CI=true")
	}
	t.Skip("npm is not installed (make deps installs it)")
	return ""
}

// TestPackage checks what `npm pack` puts in the package, from web/ with
// the module built (as `make pack` does).
func TestPackage(t *testing.T) {
	npm := needNpm(t)
	cmd := exec.Command(npm, "pack", "--dry-run", "--json", "--loglevel=error")
	cmd.Dir = webDir
	out, err := cmd.Output()
	require.NoError(t, err)
	var packs []struct {
		Name  string
		Files []struct{ Path string }
	}
	require.NoError(t, json.Unmarshal(out, &packs), "%s", out)
	require.Len(t, packs, 1)
	var files []string
	for _, f := range packs[0].Files {
		files = append(files, f.Path)
	}
	sort.Strings(files)
	assert.Equal(t, "rtmcall", packs[0].Name)
	assert.Equal(t, []string{"LICENSE", "README.md", "agora.d.ts", "agora.js", "anyrtm.d.ts", "anyrtm.js",
		"compat-types.d.ts", "compat.js", "package.json", "rtmcall-sw.d.ts", "rtmcall-sw.js", "rtmcall.d.ts", "rtmcall.js", "rtmcall.wasm",
		"wasm_exec.js"}, files)

	var pkg map[string]any
	b, err := os.ReadFile(webDir + "/package.json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &pkg))
	assert.Equal(t, "Apache-2.0", pkg["license"])
	assert.NotEmpty(t, pkg["repository"])
	assert.NotEmpty(t, pkg["homepage"])
	exports, _ := pkg["exports"].(map[string]any)
	assert.Equal(t, map[string]any{"types": "./agora.d.ts", "default": "./agora.js"}, exports["./agora"])
	assert.Equal(t, map[string]any{"types": "./anyrtm.d.ts", "default": "./anyrtm.js"}, exports["./anyrtm"])
	assert.Equal(t, map[string]any{"types": "./rtmcall-sw.d.ts", "default": "./rtmcall-sw.js"}, exports["./sw"])
}
