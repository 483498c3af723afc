//go:build !js

package soak

import (
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGoroutineHeap measures what goroutineHeap states: the live heap that
// stays, after GC, per goroutine the process once had at the same time,
// and that a later peak no higher reuses it.
func TestGoroutineHeap(t *testing.T) {
	const n = 10000
	burst := func() {
		var wg sync.WaitGroup
		release := make(chan struct{})
		for range n {
			wg.Go(func() { <-release })
		}
		close(release)
		wg.Wait()
	}
	burst() // the descriptors of earlier tests' goroutines are reused from here on
	before := liveHeap()
	before0 := runtime.NumGoroutine()
	burst()
	first := liveHeap()
	burst()
	second := liveHeap()
	require.Equal(t, before0, runtime.NumGoroutine())
	t.Logf("heap kept after a peak of %d goroutines no higher than an earlier one: %.0f B, then %.0f B",
		n, float64(first)-float64(before), float64(second)-float64(before))
	// The first burst above made the descriptors: a second peak no higher
	// than it adds nothing (the runtime reuses them).
	assert.Less(t, float64(first)-float64(before), float64(n*64), "a peak no higher than an earlier one reuses its descriptors")

	// A peak above every earlier one keeps about goroutineHeap per goroutine.
	base := liveHeap()
	var wg sync.WaitGroup
	release := make(chan struct{})
	for range 2 * n {
		wg.Go(func() { <-release })
	}
	close(release)
	wg.Wait()
	per := (float64(liveHeap()) - float64(base)) / n // n more than the first burst's peak
	t.Logf("heap kept per goroutine above the earlier peak: %.1f B", per)
	assert.Greater(t, per, 400.0)
	assert.LessOrEqual(t, per, float64(goroutineHeap))
}
