package protocol

import (
	"fmt"
	"strconv"
)

// Code is the numeric error code carried in error frames, returned by every
// client operation and exposed to JavaScript as RtmError.code.
type Code int

// Invitation API errors, numbered as in Agora RTM and anyRTM so that ported
// apps keep their checks.
const (
	CodeInvalidArgument Code = 1 // a bad id, oversized content or an out-of-range value
	CodeNotStarted      Code = 2 // cancel before send
	CodeAlreadyEnd      Code = 3 // any call on an invitation that has ended
	CodeAlreadyAccept   Code = 4 // refuse or a second accept while an accept is in flight
	CodeAlreadySent     Code = 5 // send twice
)

// Login errors (the names of Agora's LoginErrCode).
const (
	CodeUnknown         Code = 100
	CodeRejected        Code = 101
	CodeInvalidAppID    Code = 102
	CodeInvalidToken    Code = 103
	CodeTokenExpired    Code = 104
	CodeNotAuthorized   Code = 105
	CodeAlreadyLogin    Code = 106
	CodeTimeout         Code = 107
	CodeTooOften        Code = 108
	CodeAbortedByLogout Code = 109
)

// Protocol errors.
const (
	CodeMalformedFrame Code = 200 // not JSON, a missing or invalid field, binary or invalid UTF-8
	CodeUnknownType    Code = 201 // a frame type the server does not know
	CodeTooLarge       Code = 202 // a frame over MaxFrameBytes (the server also closes with 1009)
	CodeRateLimited    Code = 203 // over the per-connection rate limit
	CodeNotLoggedIn    Code = 204 // an operation that needs a logged-in session
	CodeNotYours       Code = 205 // an invitation id that is unknown or not this session's to act on
	CodeTooManyPending Code = 206 // over MaxPendingPerUser outgoing invitations
	CodeNotConnected   Code = 207 // the connection to the server is down (client side)
	CodeShuttingDown   Code = 208 // the server is shutting down
	CodeResumeFailed   Code = 209 // no session to resume: unknown, ended, or the key is wrong
	// CodeTooManySubscriptions: over MaxPushSubscriptions for the user.
	CodeTooManySubscriptions Code = 210
	// CodePushUnavailable: the server has no Web Push (no store or keys),
	// or the browser cannot subscribe (no push service; client side).
	CodePushUnavailable Code = 211
	// CodePushDenied: the browser's notification permission was denied
	// (client side: enablePush in the browser).
	CodePushDenied Code = 212
	// CodeMessagesDropped: peer messages sent to this device while it moved
	// were over what its old session holds for it (MaxMovedMessages), and
	// were dropped; an error with rid 0, after the ones held (PROTOCOL.md "Drain").
	CodeMessagesDropped Code = 213
)

var codeNames = map[Code]string{
	CodeInvalidArgument: "INVALID_ARGUMENT",
	CodeNotStarted:      "NOT_STARTED",
	CodeAlreadyEnd:      "ALREADY_END",
	CodeAlreadyAccept:   "ALREADY_ACCEPT",
	CodeAlreadySent:     "ALREADY_SENT",
	CodeUnknown:         "UNKNOWN",
	CodeRejected:        "REJECTED",
	CodeInvalidAppID:    "INVALID_APP_ID",
	CodeInvalidToken:    "INVALID_TOKEN",
	CodeTokenExpired:    "TOKEN_EXPIRED",
	CodeNotAuthorized:   "NOT_AUTHORIZED",
	CodeAlreadyLogin:    "ALREADY_LOGIN",
	CodeTimeout:         "TIMEOUT",
	CodeTooOften:        "TOO_OFTEN",
	CodeAbortedByLogout: "ABORTED_BY_LOGOUT",
	CodeMalformedFrame:  "MALFORMED_FRAME",
	CodeUnknownType:     "UNKNOWN_TYPE",
	CodeTooLarge:        "TOO_LARGE",
	CodeRateLimited:     "RATE_LIMITED",
	CodeNotLoggedIn:     "NOT_LOGGED_IN",
	CodeNotYours:        "NOT_YOURS",
	CodeTooManyPending:  "TOO_MANY_PENDING",
	CodeNotConnected:    "NOT_CONNECTED",
	CodeShuttingDown:    "SHUTTING_DOWN",
	CodeResumeFailed:    "RESUME_FAILED",

	CodeTooManySubscriptions: "TOO_MANY_SUBSCRIPTIONS",
	CodePushUnavailable:      "PUSH_UNAVAILABLE",
	CodePushDenied:           "PUSH_DENIED",
	CodeMessagesDropped:      "MESSAGES_DROPPED",
}

// Codes lists every defined code, in numeric order, for tables such as the
// JavaScript ErrorCode object.
func Codes() []Code {
	return []Code{
		CodeInvalidArgument, CodeNotStarted, CodeAlreadyEnd, CodeAlreadyAccept, CodeAlreadySent,
		CodeUnknown, CodeRejected, CodeInvalidAppID, CodeInvalidToken, CodeTokenExpired,
		CodeNotAuthorized, CodeAlreadyLogin, CodeTimeout, CodeTooOften, CodeAbortedByLogout,
		CodeMalformedFrame, CodeUnknownType, CodeTooLarge, CodeRateLimited, CodeNotLoggedIn,
		CodeNotYours, CodeTooManyPending, CodeNotConnected, CodeShuttingDown, CodeResumeFailed,
		CodeTooManySubscriptions, CodePushUnavailable, CodePushDenied, CodeMessagesDropped,
	}
}

// String returns the code's name, e.g. "ALREADY_END".
func (c Code) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return "CODE_" + strconv.Itoa(int(c))
}

// Error is the one error type of rtmcall: the server sends it in error
// frames, the client returns it from every operation, and the browser module
// turns it into a JavaScript RtmError with the same code and name.
type Error struct {
	Code    Code
	Message string
}

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "rtmcall: " + e.Code.String()
	}
	return "rtmcall: " + e.Code.String() + ": " + e.Message
}

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, protocol.ErrAlreadyEnd) matches whatever the message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinels for errors.Is. Compare by code; never mutate them.
var (
	ErrInvalidArgument = &Error{Code: CodeInvalidArgument}
	ErrNotStarted      = &Error{Code: CodeNotStarted}
	ErrAlreadyEnd      = &Error{Code: CodeAlreadyEnd}
	ErrAlreadyAccept   = &Error{Code: CodeAlreadyAccept}
	ErrAlreadySent     = &Error{Code: CodeAlreadySent}
	ErrNotLoggedIn     = &Error{Code: CodeNotLoggedIn}
	ErrNotYours        = &Error{Code: CodeNotYours}
	ErrNotConnected    = &Error{Code: CodeNotConnected}
)
