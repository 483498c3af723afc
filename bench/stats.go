//go:build !js

package bench

import (
	"math"
	"slices"
	"time"
)

// Dist is a sorted sample of latencies.
type Dist struct {
	sorted []time.Duration
}

// NewDist sorts a copy of samples.
func NewDist(samples []time.Duration) Dist {
	s := slices.Clone(samples)
	slices.Sort(s)
	return Dist{sorted: s}
}

// N is the number of samples.
func (d Dist) N() int { return len(d.sorted) }

// Quantile returns the q-quantile (0 <= q <= 1) by the nearest-rank method:
// the smallest sample at or above a fraction q of the samples. Zero without
// samples.
func (d Dist) Quantile(q float64) time.Duration {
	if len(d.sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(d.sorted)))) - 1
	i = min(max(i, 0), len(d.sorted)-1)
	return d.sorted[i]
}

// P50, P90, P99 and Max are the usual quantiles.
func (d Dist) P50() time.Duration { return d.Quantile(0.50) }
func (d Dist) P90() time.Duration { return d.Quantile(0.90) }
func (d Dist) P99() time.Duration { return d.Quantile(0.99) }
func (d Dist) Max() time.Duration { return d.Quantile(1) }

// ratio is a/b, or 0 when b is zero.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// durRatio is a/b for durations.
func durRatio(a, b time.Duration) float64 { return ratio(float64(a), float64(b)) }

// SchedResult is what the server's runtime did during a run of flows:
// goroutine wake-ups per flow and how long they waited to run, garbage
// collections, stop-the-world pauses and time blocked on mutexes.
type SchedResult struct {
	PerFlow            float64 // goroutine wake-ups per flow
	P50, P99           time.Duration
	GCCycles           uint64
	GCShare            float64 // of the process's CPU time (the runtime's estimate)
	PauseP99, PauseMax time.Duration
	MutexWaitPerFlow   time.Duration
}

// schedSampling: the runtime records one transition in 8 of each goroutine
// in the scheduling-latency histogram (runtime.gTrackingPeriod).
const schedSampling = 8

// histDelta is after-before of a histogram's counts.
func histDelta(before, after []uint64) ([]uint64, uint64) {
	if len(after) == 0 || len(before) != len(after) {
		return nil, 0
	}
	out := make([]uint64, len(after))
	var total uint64
	for i := range out {
		out[i] = after[i] - before[i]
		total += out[i]
	}
	return out, total
}

// histQuantile is the bucket bound below which a fraction f of the counts
// lie: the bucket's upper bound, or the lower one for an open last bucket.
func histQuantile(buckets []float64, counts []uint64, total uint64, f float64) time.Duration {
	if total == 0 {
		return 0
	}
	want := uint64(math.Ceil(f * float64(total)))
	var seen uint64
	for i, c := range counts {
		seen += c
		if seen >= want {
			bound := buckets[i+1]
			if bound >= 1e9 {
				bound = buckets[i]
			}
			return time.Duration(bound * float64(time.Second))
		}
	}
	return 0
}

// schedDelta sums up what happened between two snapshots, over flows.
func schedDelta(before, after schedHist, flows int) SchedResult {
	var r SchedResult
	counts, total := histDelta(before.Counts, after.Counts)
	if counts == nil {
		return r
	}
	r.PerFlow = ratio(float64(total*schedSampling), float64(flows))
	r.P50 = histQuantile(after.Buckets, counts, total, 0.5)
	r.P99 = histQuantile(after.Buckets, counts, total, 0.99)
	if pc, pt := histDelta(before.PauseCounts, after.PauseCounts); pc != nil {
		r.PauseP99 = histQuantile(after.PauseBuckets, pc, pt, 0.99)
		r.PauseMax = histQuantile(after.PauseBuckets, pc, pt, 1)
	}
	r.GCCycles = after.GCCycles - before.GCCycles
	r.GCShare = ratio(after.GCCPU-before.GCCPU, after.TotalCPU-before.TotalCPU)
	if flows > 0 {
		r.MutexWaitPerFlow = time.Duration((after.MutexWait - before.MutexWait) / float64(flows) * float64(time.Second))
	}
	return r
}
