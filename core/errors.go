package core

import (
	"errors"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// Error is the error type of every client operation; see protocol.Error.
type Error = protocol.Error

// Sentinels for errors.Is; they match any error with the same code.
var (
	ErrInvalidArgument = protocol.ErrInvalidArgument
	ErrNotStarted      = protocol.ErrNotStarted
	ErrAlreadyEnd      = protocol.ErrAlreadyEnd
	ErrAlreadyAccept   = protocol.ErrAlreadyAccept
	ErrAlreadySent     = protocol.ErrAlreadySent
	ErrNotLoggedIn     = protocol.ErrNotLoggedIn
	ErrNotConnected    = protocol.ErrNotConnected

	// ErrUnexpectedEvent is an event that the machine cannot take in its
	// state and that no API code describes, e.g. a second receipt. The
	// client drops such events and logs them.
	ErrUnexpectedEvent = errors.New("rtmcall: unexpected event")
)

// CodeOf returns the code of err: 0 for nil, the code of an *Error in its
// chain, or UNKNOWN.
func CodeOf(err error) protocol.Code {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return protocol.CodeUnknown
}
