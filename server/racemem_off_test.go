//go:build !race && !js

package server_test

// raceStacks scales the stack bound of TestIdleSessionMemory (1: no race
// detector).
const raceStacks = 1
