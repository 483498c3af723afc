//go:build !js

package wasmbuild

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/rtmcall/rtmcall/server/static"
)

// wasmExecHead and wasmExecTail wrap the Go toolchain's wasm_exec.js,
// unchanged, into an ES module. It runs inside a function whose globalThis
// is a view of the real one: reads reach the page's globals, but what it
// defines (Go, fs, process, path) lands in the view, so no global leaks;
// the Go program's js.Global() is that view too. Its one free reference
// (fs.writeSync, for the program's output) finds the fs declared here.
const wasmExecHead = `// Generated at build time from the Go toolchain's lib/wasm/wasm_exec.js (%s),
// which runs unchanged below, made an ES module that defines no globals.
const defined = Object.create(null);
const view = new Proxy(globalThis, {
  get: (target, key) => (key in defined ? defined[key] : Reflect.get(target, key)),
  set: (_target, key, value) => { defined[key] = value; return true; },
  has: (target, key) => key in defined || key in target,
  deleteProperty: (_target, key) => delete defined[key],
});
(function (globalThis) {
var fs; // wasm_exec.js reads fs as a free variable
(function () {
`

const wasmExecTail = `
}).call(undefined);
fs = globalThis.fs;
})(view);

/** Go's wasm host, as wasm_exec.js defines it. */
export const Go = defined.Go;
`

// WasmExecModule returns wasm_exec.js of the running toolchain wrapped as an
// ES module that exports Go and sets no global.
func WasmExecModule() ([]byte, error) {
	src, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		return nil, fmt.Errorf("failed to read wasm_exec.js: %w", err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, wasmExecHead, runtime.Version())
	b.Write(src)
	b.WriteString(wasmExecTail)
	return b.Bytes(), nil
}

// WriteWasmExec writes WasmExecModule to path.
func WriteWasmExec(path string) error {
	b, err := WasmExecModule()
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// Assemble copies the served files (static.Files) from webDir into dir,
// with their brotli-11 and gzip-9 variants (name.br, name.gz), for the
// server to embed. Files webDir lacks are an error: build first.
func Assemble(webDir, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	errs := make(chan error, len(static.Files))
	for _, name := range static.Files {
		go func() { errs <- assembleOne(webDir, dir, name) }()
	}
	var first error
	for range static.Files {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func assembleOne(webDir, dir, name string) error {
	b, err := os.ReadFile(filepath.Join(webDir, name))
	if err != nil {
		return fmt.Errorf("failed to assemble the web assets: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		return err
	}
	for enc, v := range static.Compress(name, b, static.BestBrotli) {
		if err := os.WriteFile(filepath.Join(dir, name+static.Suffix[enc]), v, 0o644); err != nil {
			return err
		}
	}
	return nil
}
