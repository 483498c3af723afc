//go:build !js

// Package pagetest holds the page tests of the browser module: headless
// Chromium (driven with chromedp) loads the real page from the real server
// (server.Node and server/static over a directory with the freshly built
// rtmcall.wasm) and drives clients through the JavaScript API, and through
// the demo page's buttons. It has no code besides its tests.
//
// The tests need Chromium ($RTMCALL_CHROMIUM, or chromium on PATH): without
// it they are skipped, unless CI=true, where they fail. Screenshots go to $RTMCALL_ARTIFACTS (default
// .artifacts/ at the repository root).
package pagetest
