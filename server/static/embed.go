package static

import (
	"embed"
	"io/fs"
	"net/http"
)

// assets holds what `make build` put in assets/: Files and their variants,
// or only the README of a clean clone.
//
//go:embed assets
var assets embed.FS

// Embedded returns the web assets built into the binary, and whether they
// were built (a clean clone compiles with none).
func Embedded() (fs.FS, bool) {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, false
	}
	_, err = fs.Stat(sub, "rtmcall.wasm")
	return sub, err == nil
}

// NotBuilt answers every request with 503 and a page saying that the web
// assets were not built into this binary, and how to build them.
func NotBuilt() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(notBuiltPage))
	})
}

// NotBuiltMessage says why there is no demo page, for the server's log.
const NotBuiltMessage = "the web assets (demo page and browser module) were not built into this binary: run `make build`, or serve a directory with -web"

const notBuiltPage = `<!doctype html>
<meta charset="utf-8">
<title>rtmcall: web assets not built</title>
<h1>The web assets were not built into this server</h1>
<p>The signaling server runs (<code>/ws</code>, <code>/healthz</code>), but this binary carries no demo page
and no browser module. Build it with <code>make build</code> (or <code>make run</code>), or serve a
directory with <code>-web DIR</code>.</p>
`
