//go:build !js

package soak

import (
	"testing"

	"go.uber.org/goleak"
)

// The harness closes every client and node it starts: a test that leaves
// a goroutine behind fails.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
