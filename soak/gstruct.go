//go:build !js

package soak

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// goroutineHeap is the live heap the Go runtime keeps for ever per
// goroutine it had at once: it never frees a goroutine's descriptor (its g,
// a 480-byte object, plus its slot in the list of all of them), only reuses
// it for a later goroutine. Measured by TestGoroutineHeap: 487 to 494 bytes
// (go1.26.8, amd64). So a run whose goroutines peaked N above any peak
// before its baseline ends with about N × 494 bytes more heap than that
// baseline, however clean the server: the soak's chaos makes such peaks
// (every restart reconnects a third of the fleet at once), and
// measureAfter allows for them (docs/SOAK-NOTES.md "Heap after a run").
const goroutineHeap = 512

// goroutinePeak samples the number of goroutines every millisecond, from
// the start of a run to its final measurement: a peak between two samples
// is missed, so the allowance made from it is, if anything, too small; a
// process that had more goroutines before Run began (a test binary) gets
// more than it needs, its descriptors being there already.
type goroutinePeak struct {
	peak atomic.Int64
	once sync.Once
	stop chan struct{}
	done chan struct{}
}

func watchGoroutines() *goroutinePeak {
	p := &goroutinePeak{stop: make(chan struct{}), done: make(chan struct{})}
	p.peak.Store(int64(runtime.NumGoroutine()))
	go func() {
		defer close(p.done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				if n := int64(runtime.NumGoroutine()); n > p.peak.Load() {
					p.peak.Store(n)
				}
			}
		}
	}()
	return p
}

// now returns the peak so far.
func (p *goroutinePeak) now() int { return int(p.peak.Load()) }

// close stops the sampling, if not yet, and returns the peak.
func (p *goroutinePeak) close() int {
	p.once.Do(func() { close(p.stop) })
	<-p.done
	return p.now()
}
