package protocol

import (
	"time"
	"unicode/utf8"
)

// Limits enforced by the server and checked early by the client. They are
// documented in docs/PROTOCOL.md; change both together.
const (
	// MaxUserIDLen is the longest user id, in characters (all ASCII).
	MaxUserIDLen = 64
	// MaxChannelIDBytes is the longest channel id, in UTF-8 bytes.
	MaxChannelIDBytes = 64
	// MaxContentBytes bounds an invitation's content and response, in UTF-8 bytes.
	MaxContentBytes = 8192
	// MaxFrameBytes is the largest frame the server reads; a larger one closes
	// the connection with status 1009. It fits a frame whose 8192-byte
	// content is entirely escaped as \uXXXX (6 bytes each) with room to spare.
	MaxFrameBytes = 64 << 10
	// MaxQueryIDs bounds the ids of one presence query.
	MaxQueryIDs = 256
	// MaxSubscribedIDs bounds the ids one session may be subscribed to.
	MaxSubscribedIDs = 512
	// MinTimeout and MaxTimeout bound an invitation's timeout.
	MinTimeout = time.Second
	MaxTimeout = 600 * time.Second
	// MaxRequestID is the largest request id: 2^53-1, exact in JavaScript.
	MaxRequestID = 1<<53 - 1
)

// userIDPunct is the punctuation allowed in user ids besides letters, digits
// and space (REFERENCE.md, as Agora defines it).
const userIDPunct = "!#$%&()+-:;<=.>?@[]^_{}|~,"

var userIDChar [128]bool

func init() {
	for c := 'a'; c <= 'z'; c++ {
		userIDChar[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		userIDChar[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		userIDChar[c] = true
	}
	userIDChar[' '] = true
	for _, c := range userIDPunct {
		userIDChar[c] = true
	}
}

// ValidateUserID checks a user id: 1 to 64 characters from letters, digits,
// space and !#$%&()+-:;<=.>?@[]^_{}|~, and never "null".
func ValidateUserID(id string) error {
	if id == "" || len(id) > MaxUserIDLen {
		return Errorf(CodeInvalidArgument, "user id must be 1 to %d characters, got %d", MaxUserIDLen, len(id))
	}
	if id == "null" {
		return Errorf(CodeInvalidArgument, `user id must not be "null"`)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c >= 128 || !userIDChar[c] {
			return Errorf(CodeInvalidArgument, "user id has a character that is not allowed at byte %d", i)
		}
	}
	return nil
}

// ValidateChannelID checks a channel id: valid UTF-8, at most 64 bytes, empty allowed.
func ValidateChannelID(id string) error {
	if len(id) > MaxChannelIDBytes {
		return Errorf(CodeInvalidArgument, "channel id is %d bytes, the limit is %d", len(id), MaxChannelIDBytes)
	}
	if !utf8.ValidString(id) {
		return Errorf(CodeInvalidArgument, "channel id is not valid UTF-8")
	}
	return nil
}

// ValidateContent checks an invitation's content or response: valid UTF-8,
// at most 8192 bytes, empty allowed. what names the field in the message.
func ValidateContent(what, s string) error {
	if len(s) > MaxContentBytes {
		return Errorf(CodeInvalidArgument, "%s is %d bytes, the limit is %d", what, len(s), MaxContentBytes)
	}
	if !utf8.ValidString(s) {
		return Errorf(CodeInvalidArgument, "%s is not valid UTF-8", what)
	}
	return nil
}

// ValidateTimeout checks an invitation timeout; zero means the server's default.
func ValidateTimeout(d time.Duration) error {
	if d != 0 && (d < MinTimeout || d > MaxTimeout) {
		return Errorf(CodeInvalidArgument, "timeout must be 0 (default) or from %v to %v, got %v", MinTimeout, MaxTimeout, d)
	}
	return nil
}

// Millis converts a wire timeout in milliseconds to a Duration, saturating
// instead of overflowing so that huge values are rejected, not wrapped.
func Millis(ms int64) time.Duration {
	if ms > int64(MaxTimeout/time.Millisecond)*1000 {
		return time.Duration(1<<63 - 1)
	}
	return time.Duration(ms) * time.Millisecond
}
