//go:build !js

// Package wasmbuild builds rtmcall.wasm, the browser module: GOOS=js
// GOARCH=wasm go build -trimpath -ldflags="-s -w" of ./wasm.
//
// The build uses its own go.mod (a generated copy of the repository's, given
// with -modfile) that replaces github.com/coder/websocket with a generated
// copy whose ws_js.go does not import net/http. Upstream's browser Dial
// returns a mock *http.Response only to keep the native signature, and that
// import links net/http and crypto/tls into the module: about 1.7 MB raw
// and 0.5 MB gzip of the 1.6 MB gzip total, over the 1.5 MiB budget
// (coder/websocket pull request 449 makes the same change; it was not
// merged because it changes Dial's signature). The core discards Dial's
// response, so it builds unchanged against the copy; native builds and the
// repository's go.mod are not affected.
package wasmbuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

const websocketModule = "github.com/coder/websocket"

// wsJSPatch is the edit of ws_js.go: each old text must occur exactly once.
var wsJSPatch = []struct{ old, new string }{
	{"\t\"net/http\"\n", ""},
	{"func Dial(ctx context.Context, url string, opts *DialOptions) (*Conn, *http.Response, error) {",
		"func Dial(ctx context.Context, url string, opts *DialOptions) (*Conn, *Response, error) {"},
	{"func dial(ctx context.Context, url string, opts *DialOptions) (*Conn, *http.Response, error) {",
		"func dial(ctx context.Context, url string, opts *DialOptions) (*Conn, *Response, error) {"},
	{"return c, &http.Response{\n\t\t\tStatusCode: http.StatusSwitchingProtocols,\n\t\t}, nil",
		"return c, &Response{StatusCode: 101}, nil"},
	{"func Accept(w http.ResponseWriter, r *http.Request, opts *AcceptOptions) (*Conn, error) {",
		"func Accept(w, r any, opts *AcceptOptions) (*Conn, error) {"},
}

const wsJSAppend = `
// Response stands in for the *http.Response of the native Dial: rtmcall's
// wasm build leaves net/http out (see internal/wasmbuild).
type Response struct{ StatusCode int }
`

// Prepare writes dir/websocket (the patched copy of the module version the
// repository at root requires) and dir/rtmcall-wasm.mod (with its .sum),
// and returns the absolute path of that modfile, for go build -modfile.
func Prepare(ctx context.Context, root, dir string) (string, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return "", err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	out, err := goCmd(ctx, root, nil, "list", "-m", "-f", "{{.Dir}}", websocketModule)
	if err != nil {
		return "", err
	}
	src := strings.TrimSpace(out)
	if src == "" {
		return "", fmt.Errorf("wasmbuild: %s is not downloaded (run go mod download)", websocketModule)
	}
	dst := filepath.Join(dir, "websocket")
	if err := os.RemoveAll(dst); err != nil {
		return "", err
	}
	if err := copyModule(src, dst); err != nil {
		return "", err
	}
	if err := patchWSJS(filepath.Join(dst, "ws_js.go")); err != nil {
		return "", err
	}
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", err
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	mod = append(mod, fmt.Sprintf("\nreplace %s => %s\n", websocketModule, dst)...)
	modfile := filepath.Join(dir, "rtmcall-wasm.mod")
	if err := writeIfChanged(modfile, mod); err != nil {
		return "", err
	}
	if err := writeIfChanged(strings.TrimSuffix(modfile, ".mod")+".sum", sum); err != nil {
		return "", err
	}
	return modfile, nil
}

// Options are the build's settings.
type Options struct {
	Version string // kit.version; empty keeps the default of wasm/main.go
	Dir     string // where Prepare writes; default root/.bin/wasm
}

// Build builds root/wasm into out and returns the go command it ran.
func Build(ctx context.Context, root, out string, opts Options) (string, error) {
	if opts.Dir == "" {
		opts.Dir = filepath.Join(root, ".bin", "wasm")
	}
	modfile, err := Prepare(ctx, root, opts.Dir)
	if err != nil {
		return "", err
	}
	ldflags := "-s -w"
	if opts.Version != "" {
		ldflags += " -X main.version=" + opts.Version
	}
	args := []string{"build", "-modfile=" + modfile, "-trimpath", "-ldflags=" + ldflags, "-o", out, "./wasm"}
	if _, err := goCmd(ctx, root, []string{"GOOS=js", "GOARCH=wasm"}, args...); err != nil {
		return "", err
	}
	shown := slices.Clone(args)
	for i, a := range shown {
		if strings.ContainsRune(a, ' ') {
			k, v, _ := strings.Cut(a, "=")
			shown[i] = k + "=" + strconv.Quote(v)
		}
	}
	return "GOOS=js GOARCH=wasm go " + strings.Join(shown, " "), nil
}

func goCmd(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("wasmbuild: go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// copyModule copies a module's sources (no tests), go.mod and license.
func copyModule(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		name := d.Name()
		keep := name == "go.mod" || strings.HasPrefix(name, "LICENSE") || strings.HasSuffix(name, ".s") ||
			(strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go"))
		if !keep {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
}

func patchWSJS(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(b)
	for _, p := range wsJSPatch {
		if n := strings.Count(s, p.old); n != 1 {
			return fmt.Errorf("wasmbuild: %s: expected %q once, found it %d times; update the patch in internal/wasmbuild for this version of %s",
				path, p.old, n, websocketModule)
		}
		s = strings.Replace(s, p.old, p.new, 1)
	}
	return os.WriteFile(path, []byte(s+wsJSAppend), 0o644)
}

// writeIfChanged keeps the file's modification time when nothing changed,
// so that tools watching it do not rebuild for nothing.
func writeIfChanged(path string, b []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
