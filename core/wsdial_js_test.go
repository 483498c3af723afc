package core_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
)

// TestTLSConfigInTheBrowser: the browser does TLS with its own roots, so
// Options.TLSConfig fails NewClient there rather than be ignored.
func TestTLSConfigInTheBrowser(t *testing.T) {
	_, err := core.NewClient(core.Options{URL: "wss://example.com/ws", TLSConfig: &core.TLSConfig{}})
	require.Error(t, err)
	assert.Equal(t, protocol.CodeInvalidArgument, core.CodeOf(err))
	assert.Contains(t, err.Error(), "Options.TLSConfig does not apply in the browser")
	c, err := core.NewClient(core.Options{URL: "wss://example.com/ws"})
	require.NoError(t, err)
	assert.NoError(t, c.Close())
}
