//go:build !js

package core_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test in this package must leave no goroutine behind: clients,
// servers and callback queues all end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
