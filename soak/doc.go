// Package soak is rtmcall's load-and-chaos harness: it starts real server
// nodes in-process on loopback listeners, logs in a fleet of native
// core.Client devices (users with one to three devices each), runs a large
// number of invitation flows whose actions a seeded PRNG chooses (accept,
// refuse, cancel, expiry, offline callees, answers racing each other and
// the clock, devices that close, log out or lose their connection), and
// checks every invitation against the invariants of docs/PROTOCOL.md:
// exactly one terminal event per party, both ends agreeing on one decision
// of the server, no event twice, none lost, events in a legal order, and
// the server's goroutines and heap back to their baseline afterwards. Every
// accepted call is then hung up (by the caller, the callee or both at once)
// and must end exactly once on both of its sides; peer messages sent across
// a cut and resumed connection must reach every callee session once, in order.
//
// `make soak` runs the full size through cmd/rtmcall-soak; `go test
// ./soak/...` runs a short version that fails on any violation.
//
// The harness is native only (it raises RLIMIT_NOFILE and cuts TCP
// connections); every other file of the package is tagged !js.
package soak
