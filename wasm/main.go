//go:build js && wasm

// Command wasm is rtmcall.wasm, the browser module: web/rtmcall.js loads it
// and receives the kit. It only wires package jsbridge to the loader.
//
// The loader sets globalThis.__rtmcall, the one global rtmcall uses, to a
// hook object: the host helpers of jsbridge.Host plus ready(kit) and
// fail(message). The module answers through it once, and the loader then
// removes it.
package main

import (
	"syscall/js"

	"github.com/rtmcall/rtmcall/jsbridge"
)

// version is kit.version; `make build` sets it from web/package.json.
var version = "0.0.0-dev"

func main() {
	hook := js.Global().Get("__rtmcall")
	if hook.Type() != js.TypeObject {
		println("rtmcall: load rtmcall.wasm with rtmcall.js: globalThis.__rtmcall is not set")
		return
	}
	kit, err := jsbridge.NewKit(hook, version)
	if err != nil {
		hook.Call("fail", err.Error())
		return
	}
	hook.Call("ready", kit.Value())
	select {} // serve the kit's functions for the life of the page
}
