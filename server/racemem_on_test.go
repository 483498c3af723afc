//go:build race && !js

package server_test

// raceStacks scales the stack bound of TestIdleSessionMemory: the race
// detector's instrumentation leaves an idle read loop on an 8 KiB stack.
const raceStacks = 2
