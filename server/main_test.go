//go:build !js

package server_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives the tests: every
// node is shut down by its test's cleanup, which waits for all of them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
