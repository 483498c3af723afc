package httperr_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server/httperr"
)

// Write answers a code with its one status and the JSON body; a retryable
// code says when to retry; an error without a code is UNKNOWN, 500.
func TestWrite(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		name   string
		retry  string
	}{
		{protocol.Errorf(protocol.CodeNotYours, "x"), 404, "NOT_YOURS", ""},
		{protocol.Errorf(protocol.CodeTokenExpired, "x"), 401, "TOKEN_EXPIRED", ""},
		{protocol.Errorf(protocol.CodeRejected, "x"), 403, "REJECTED", ""},
		{protocol.Errorf(protocol.CodeTimeout, "x"), 503, "TIMEOUT", "1"},
		{protocol.Errorf(protocol.CodeShuttingDown, "x"), 503, "SHUTTING_DOWN", "1"},
		{protocol.Errorf(protocol.CodePushUnavailable, "x"), 503, "PUSH_UNAVAILABLE", "1"},
		{errors.New("boom"), 500, "UNKNOWN", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			httperr.Write(w, tc.err)
			assert.Equal(t, tc.status, w.Code)
			assert.Equal(t, tc.retry, w.Header().Get("Retry-After"))
			assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
			var e httperr.Error
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &e))
			assert.Equal(t, tc.name, e.Name)
			assert.Equal(t, tc.name, e.Code.String())
		})
	}
	w := httptest.NewRecorder()
	httperr.MethodNotAllowed(w, "use POST", "POST", "OPTIONS")
	assert.Equal(t, http.StatusMethodNotAllowed, w.Code)
	assert.Equal(t, "POST, OPTIONS", w.Header().Get("Allow"))
	assert.Contains(t, w.Body.String(), `"UNKNOWN_TYPE"`)
}
