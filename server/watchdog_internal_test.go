//go:build !js

package server

import (
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// closeRecorder is a wsConn whose CloseNow is recorded; nothing else is
// used by the watchdog.
type closeRecorder struct {
	wsConn
	closed chan struct{}
}

func (r *closeRecorder) CloseNow() error {
	select {
	case <-r.closed:
	default:
		close(r.closed)
	}
	return nil
}

func (r *closeRecorder) Close(ws.StatusCode, string) error { return r.CloseNow() }

func (r *closeRecorder) isClosed() bool {
	select {
	case <-r.closed:
		return true
	default:
		return false
	}
}

func watchedConn(login, idle time.Duration) (*conn, *closeRecorder) {
	rec := &closeRecorder{closed: make(chan struct{})}
	c := &conn{n: &Node{cfg: Config{LoginTimeout: login, IdleTimeout: idle}}, ws: rec}
	c.watchLogin()
	return c, rec
}

// TestWatchdogFiringOvertaken: a firing of the watchdog that a logout or
// the end of the connection overtook (the timer's function already running
// as the read loop re-armed or stopped it) neither closes the connection
// just given its LoginTimeout nor arms the timer of one that ended. Each
// firing is called directly, as the timer would have in that moment.
func TestWatchdogFiringOvertaken(t *testing.T) {
	t.Run("by a logout", func(t *testing.T) {
		c, rec := watchedConn(time.Hour, time.Hour)
		c.watchIdle()  // logged in
		c.watchLogin() // and out: an hour to log in again
		c.expire()     // the idle timer's firing, overtaken
		assert.False(t, rec.isClosed(), "a logged-out connection closed before its LoginTimeout")
		c.stopWatch()
	})
	t.Run("by the end", func(t *testing.T) {
		c, rec := watchedConn(time.Hour, time.Hour)
		c.watchIdle()
		c.stopWatch()
		c.lastFrame.Store(clockTime(time.Now())) // a frame's store racing with the end
		c.expire()
		assert.False(t, rec.isClosed())
		assert.False(t, c.watchdog.Stop(), "the watchdog of an ended connection was armed again")
		c.watchIdle() // a late login's arming does not arm it either
		assert.False(t, c.watchdog.Stop())
	})
	t.Run("not overtaken", func(t *testing.T) {
		_, rec := watchedConn(10*time.Millisecond, time.Hour)
		select {
		case <-rec.closed:
		case <-time.After(5 * time.Second):
			require.Fail(t, "an anonymous connection was not closed at its LoginTimeout")
		}
	})
	t.Run("idle", func(t *testing.T) {
		c, rec := watchedConn(time.Hour, 10*time.Millisecond)
		c.watchIdle()
		select {
		case <-rec.closed:
		case <-time.After(5 * time.Second):
			require.Fail(t, "a silent session was not closed at its IdleTimeout")
		}
		assert.True(t, c.expired.Load())
	})
}
