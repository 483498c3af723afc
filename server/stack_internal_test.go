//go:build !js

package server

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The read loops reserve their stacks again after a collector cycle: the
// cycles must be counted, or a stack shrunk while idle grows again deep in
// the next request.
func TestGCCyclesCounted(t *testing.T) {
	before := gcCycles.Load()
	deadline := time.Now().Add(10 * time.Second)
	for gcCycles.Load() == before { // the finalizer runs after the cycle, on its own goroutine
		require.True(t, time.Now().Before(deadline), "no collector cycle counted")
		runtime.GC()
		runtime.Gosched()
	}
}
