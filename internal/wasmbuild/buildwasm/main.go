//go:build !js

// Command buildwasm builds web/rtmcall.wasm (see package wasmbuild):
//
//	go run ./internal/wasmbuild/buildwasm -o web/rtmcall.wasm -version 0.1.0
//
// With -modfile-only it only prepares the build's go.mod and prints its
// path, for `GOOS=js GOARCH=wasm go test -modfile=...`. -wasm-exec also
// writes the toolchain's wasm_exec.js wrapped as an ES module
// (wasmbuild.WasmExecModule); -assets then copies the served files from
// the output's directory into the server's embedded assets, with their
// brotli-11 and gzip-9 variants.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rtmcall/rtmcall/internal/wasmbuild"
)

func main() {
	out := flag.String("o", "web/rtmcall.wasm", "output file")
	version := flag.String("version", "", "kit.version (default: the one in wasm/main.go)")
	dir := flag.String("dir", ".bin/wasm", "where to write the build's go.mod and the patched websocket module")
	wasmExec := flag.String("wasm-exec", "", "also write wasm_exec.js, as an ES module, here")
	assets := flag.String("assets", "", "then assemble the served files and their variants into this directory")
	modfileOnly := flag.Bool("modfile-only", false, "only prepare the build's go.mod and print its path")
	flag.Parse()
	ctx := context.Background()
	if *modfileOnly {
		modfile, err := wasmbuild.Prepare(ctx, ".", *dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(modfile)
		return
	}
	cmd, err := wasmbuild.Build(ctx, ".", *out, wasmbuild.Options{Version: *version, Dir: *dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(cmd)
	if *wasmExec != "" {
		if err := wasmbuild.WriteWasmExec(*wasmExec); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if *assets != "" {
		if err := wasmbuild.Assemble(filepath.Dir(*out), *assets); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("assembled", *assets)
	}
}
