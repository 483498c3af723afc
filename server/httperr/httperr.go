// Package httperr writes the error answers of the server's HTTP endpoints
// (server/api, server/push): JSON {code, name, message} with the wire
// protocol's code, and one HTTP status per code, so that a code means the
// same status on every endpoint (docs/BACKEND.md, docs/PUSH.md).
package httperr

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// Error is the JSON body of every error answer.
type Error struct {
	Code    protocol.Code `json:"code"`
	Name    string        `json:"name"`
	Message string        `json:"message"`
}

// statuses are the HTTP statuses of the codes the endpoints answer with.
var statuses = map[protocol.Code]int{
	protocol.CodeInvalidArgument: http.StatusBadRequest,
	protocol.CodeMalformedFrame:  http.StatusBadRequest,
	protocol.CodeNotAuthorized:   http.StatusUnauthorized,
	protocol.CodeInvalidToken:    http.StatusUnauthorized,
	protocol.CodeTokenExpired:    http.StatusUnauthorized,
	protocol.CodeRejected:        http.StatusForbidden,
	protocol.CodeNotYours:        http.StatusNotFound,
	protocol.CodeUnknownType:     http.StatusNotFound,
	protocol.CodeAlreadyEnd:      http.StatusConflict,
	protocol.CodeTooLarge:        http.StatusRequestEntityTooLarge,
	protocol.CodeTooManyPending:  http.StatusTooManyRequests,
	protocol.CodeRateLimited:     http.StatusTooManyRequests,
	protocol.CodeShuttingDown:    http.StatusServiceUnavailable,
	protocol.CodeTimeout:         http.StatusServiceUnavailable,
	protocol.CodePushUnavailable: http.StatusServiceUnavailable,
}

// Status maps a code to its HTTP status: 500 for a code not listed above
// (UNKNOWN).
func Status(c protocol.Code) int {
	if s, ok := statuses[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Retryable reports whether a request that got c may be sent again as it
// is: the server could not carry it out now (503).
func Retryable(c protocol.Code) bool { return Status(c) == http.StatusServiceUnavailable }

// Write answers err with Status of its code (UNKNOWN when err is not a
// *protocol.Error); a retryable code gets Retry-After: 1.
func Write(w http.ResponseWriter, err error) {
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		pe = protocol.Errorf(protocol.CodeUnknown, "%v", err)
	}
	if Retryable(pe.Code) {
		w.Header().Set("Retry-After", "1")
	}
	write(w, Status(pe.Code), pe)
}

// MethodNotAllowed answers 405 UNKNOWN_TYPE, with the Allow header when
// allow is given: the one status that is not its code's (404), since the
// route exists.
func MethodNotAllowed(w http.ResponseWriter, message string, allow ...string) {
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
	}
	write(w, http.StatusMethodNotAllowed, protocol.Errorf(protocol.CodeUnknownType, "%s", message))
}

func write(w http.ResponseWriter, status int, pe *protocol.Error) {
	w.Header().Set("Cache-Control", "no-store")
	JSON(w, status, Error{Code: pe.Code, Name: pe.Code.String(), Message: pe.Message})
}

// JSON answers v as JSON with status.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client may have gone: nothing to do
}
