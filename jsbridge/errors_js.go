package jsbridge

import (
	"errors"
	"strings"
	"syscall/js"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/core/protocol"
)

// ErrorToJS returns the RtmError for err: an Error whose name is "RtmError",
// with the numeric code of the *protocol.Error in err's chain (UNKNOWN, 100,
// for any other error), its codeName and a message.
func ErrorToJS(err error) js.Value {
	code := core.CodeOf(err)
	if err == nil {
		code = protocol.CodeUnknown
	}
	e := jsError.New(errorMessage(err))
	e.Set("name", "RtmError")
	e.Set("code", int(code))
	e.Set("codeName", code.String())
	return e
}

// errorMessage is err's text without the "rtmcall: " prefix that every
// message would otherwise repeat; a bare code gets its name.
func errorMessage(err error) string {
	if err == nil {
		return "unknown error"
	}
	var pe *protocol.Error
	if errors.As(err, &pe) && error(pe) == err && pe.Message != "" {
		return pe.Message
	}
	return strings.TrimPrefix(err.Error(), "rtmcall: ")
}

// invalid returns an INVALID_ARGUMENT error.
func invalid(format string, args ...any) error {
	return protocol.Errorf(protocol.CodeInvalidArgument, format, args...)
}

// throw returns the value that makes a guarded function throw err's RtmError.
func (k *Kit) throw(err error) js.Value { return k.host.raise.Invoke(ErrorToJS(err)) }
