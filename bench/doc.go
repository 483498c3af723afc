// Package bench is rtmcall's benchmark harness: it starts the real server
// (cmd/rtmcall-server) and a minimal baseline relay as separate processes on
// loopback, drives them with the same load generator, measures invitation
// latency, throughput, server CPU and memory, connect rate and the browser
// module, and writes docs/BENCHMARKS.md and its charts. cmd/rtmcall-bench is
// its command line; `make bench` runs it at full scale.
//
// The harness is native only: every other file of the package is tagged
// !js.
package bench
