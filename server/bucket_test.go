//go:build !js

package server

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestBucket(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	t.Run("burst then rate", func(t *testing.T) {
		b := newBucket(60, 180, t0)
		for i := range 180 {
			ok, _ := b.take(t0)
			assert.True(t, ok, "frame %d of the burst", i)
		}
		ok, abuse := b.take(t0)
		assert.False(t, ok)
		assert.False(t, abuse)
		later := at(time.Second/60 + time.Microsecond)
		ok, _ = b.take(later)
		assert.True(t, ok, "one token a 60th of a second later")
		ok, _ = b.take(later)
		assert.False(t, ok)
	})

	t.Run("abuse after burst rejections without refill", func(t *testing.T) {
		b := newBucket(60, 180, t0)
		now := t0
		rejected := 0
		for {
			now = now.Add(time.Millisecond) // a flood at 1000 frames per second
			ok, abuse := b.take(now)
			if abuse {
				break
			}
			if !ok {
				rejected++
			}
			if !assert.Less(t, rejected, 1000) {
				return
			}
		}
		assert.Equal(t, 180, rejected, "rejected frames answered before the close")
	})

	t.Run("refilled bucket forgives", func(t *testing.T) {
		b := newBucket(60, 180, t0)
		for range 180 + 100 {
			b.take(t0) // 100 rejected
		}
		ok, _ := b.take(at(3 * time.Second)) // full again: the count restarts
		assert.True(t, ok)
		now := at(3 * time.Second)
		for range 179 {
			b.take(now)
		}
		for i := range 180 {
			ok, abuse := b.take(now)
			assert.False(t, ok)
			assert.False(t, abuse, "rejection %d", i+1)
		}
		_, abuse := b.take(now)
		assert.True(t, abuse)
	})
}
