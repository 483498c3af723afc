//go:build !js

package wasmbuild

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestModuleCarriesNothingItDoesNotNeed lists the packages linked into
// rtmcall.wasm: no server code, no JWT library, no encoding/json (frames go
// through core/protocol's own codec), and (with the build's own go.mod) no
// net/http nor crypto/tls. reflect itself is linked by fmt and syscall/js.
func TestModuleCarriesNothingItDoesNotNeed(t *testing.T) {
	ctx := context.Background()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	modfile, err := Prepare(ctx, root, t.TempDir())
	require.NoError(t, err)

	patched, err := os.ReadFile(filepath.Join(filepath.Dir(modfile), "websocket", "ws_js.go"))
	require.NoError(t, err)
	assert.NotContains(t, string(patched), `"net/http"`)
	mod, err := os.ReadFile(modfile)
	require.NoError(t, err)
	assert.Contains(t, string(mod), "replace github.com/coder/websocket => ")

	out, err := goCmd(ctx, root, []string{"GOOS=js", "GOARCH=wasm"}, "list", "-modfile="+modfile, "-deps", "./wasm")
	require.NoError(t, err)
	deps := strings.Fields(out)
	assert.Contains(t, deps, "github.com/rtmcall/rtmcall/jsbridge")
	assert.Contains(t, deps, "github.com/rtmcall/rtmcall/core")
	assert.Contains(t, deps, "github.com/coder/websocket")
	for _, d := range deps {
		assert.False(t, strings.HasPrefix(d, "github.com/rtmcall/rtmcall/server"), d)
		assert.False(t, strings.HasPrefix(d, "github.com/golang-jwt/"), d)
		assert.False(t, strings.HasPrefix(d, "net/http"), d)
		assert.False(t, strings.HasPrefix(d, "crypto/tls"), d)
		assert.False(t, strings.HasPrefix(d, "encoding/json"), d)
	}
}

func TestPatchFailsLoudly(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ws_js.go")
	require.NoError(t, os.WriteFile(p, []byte("package websocket\n"), 0o644))
	err := patchWSJS(p)
	assert.ErrorContains(t, err, "update the patch in internal/wasmbuild")
}
