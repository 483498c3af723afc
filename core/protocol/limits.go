package protocol

import (
	"encoding/base64"
	"net/url"
	"strings"
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
	// MaxMessageBytes bounds a peer message: its text in UTF-8 bytes, or its raw bytes.
	MaxMessageBytes = 32 << 10
	// MaxDescriptionBytes bounds a raw message's description, in UTF-8 bytes.
	MaxDescriptionBytes = 1024
	// MaxFrameBytes is the largest frame the server reads; a larger one closes
	// the connection with status 1009. It fits the worst case of every
	// request: a 32 KiB text message whose every byte is escaped as \uXXXX
	// (6 bytes each: 196,608) with its description escaped too, or 8192 bytes
	// of content so escaped, with room to spare.
	MaxFrameBytes = 256 << 10
	// MaxQueryIDs bounds the ids of one presence query.
	MaxQueryIDs = 256
	// MaxSubscribedIDs bounds the ids one session may be subscribed to.
	MaxSubscribedIDs = 512
	// MinTimeout and MaxTimeout bound an invitation's timeout.
	MinTimeout = time.Second
	MaxTimeout = 600 * time.Second
	// MaxRequestID is the largest request id: 2^53-1, exact in JavaScript.
	MaxRequestID = 1<<53 - 1
	// MaxLoginAttempt bounds a login's attempt number within one move
	// (PROTOCOL.md "Drain"): far more than a move's backoff makes within
	// any grace period (an attempt at least every 2.5 s once backed off:
	// 45 hours), small enough for the cluster directory to carry cheaply.
	MaxLoginAttempt = 65535
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

// NoWake in a send's wake asks for no wake window: an offline callee is
// PEER_OFFLINE at once. MaxWake bounds a wake window.
const (
	NoWake  = -1
	MaxWake = MaxTimeout
)

// ValidateWake checks a send's wake: NoWake, 0 (the server's window), or
// 1 to MaxWake in ms.
func ValidateWake(ms int64) error {
	if ms < NoWake || ms > MaxWake.Milliseconds() {
		return Errorf(CodeInvalidArgument, "wake must be -1 (none), 0 (the server's) or 1 to %d ms, got %d", MaxWake.Milliseconds(), ms)
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

// ValidateMessage checks a peer message: exactly one of a text (1 to 32768
// bytes of UTF-8) or raw bytes (1 to 32768), and a description (at most
// 1024 bytes of UTF-8) only with raw bytes.
func ValidateMessage(text string, raw []byte, description string) error {
	switch {
	case text == "" && len(raw) == 0:
		return Errorf(CodeInvalidArgument, "a message needs a text or raw bytes")
	case text != "" && len(raw) > 0:
		return Errorf(CodeInvalidArgument, "a message has a text or raw bytes, not both")
	case len(text) > MaxMessageBytes:
		return Errorf(CodeInvalidArgument, "message text is %d bytes, the limit is %d", len(text), MaxMessageBytes)
	case !utf8.ValidString(text):
		return Errorf(CodeInvalidArgument, "message text is not valid UTF-8")
	case len(raw) > MaxMessageBytes:
		return Errorf(CodeInvalidArgument, "raw message is %d bytes, the limit is %d", len(raw), MaxMessageBytes)
	case description != "" && len(raw) == 0:
		return Errorf(CodeInvalidArgument, "only a raw message has a description")
	case len(description) > MaxDescriptionBytes:
		return Errorf(CodeInvalidArgument, "description is %d bytes, the limit is %d", len(description), MaxDescriptionBytes)
	case !utf8.ValidString(description):
		return Errorf(CodeInvalidArgument, "description is not valid UTF-8")
	}
	return nil
}

// Web Push subscription limits (docs/PUSH.md). A push.subscribe's keys are
// what PushSubscription.toJSON() gives: base64url, padding optional.
const (
	// MaxPushEndpointBytes bounds a subscription's endpoint URL; the push
	// services' own are under 300 bytes.
	MaxPushEndpointBytes = 1024
	// PushP256dhBytes is the size of a decoded p256dh: an uncompressed
	// P-256 point (RFC 8291 section 3.1).
	PushP256dhBytes = 65
	// PushAuthBytes is the size of a decoded auth secret (RFC 8291 section 3.2).
	PushAuthBytes = 16
	// MaxPushSubscriptions bounds the subscriptions of one user; the same
	// endpoint again replaces its subscription.
	MaxPushSubscriptions = 10
)

// ValidatePushEndpoint checks an endpoint: an absolute http or https URL
// with a host, at most MaxPushEndpointBytes. Whether http is allowed is
// the server's decision (https only unless dev mode).
func ValidatePushEndpoint(endpoint string) error {
	if len(endpoint) > MaxPushEndpointBytes {
		return Errorf(CodeInvalidArgument, "endpoint is %d bytes, the limit is %d", len(endpoint), MaxPushEndpointBytes)
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return Errorf(CodeInvalidArgument, "endpoint must be an absolute https URL")
	}
	return nil
}

// ValidatePushSubscription checks a subscription: its endpoint, p256dh
// decoding to 65 bytes in the uncompressed-point form (0x04 first) and auth
// to 16 bytes. That the point is on P-256 the server checks where it keeps
// the subscription (server/push), so the browser module links no curve
// arithmetic (386,753 bytes of rtmcall.wasm).
func ValidatePushSubscription(endpoint, p256dh, auth string) error {
	if err := ValidatePushEndpoint(endpoint); err != nil {
		return err
	}
	key, err := DecodeBase64URL(p256dh)
	if err != nil || len(key) != PushP256dhBytes {
		return Errorf(CodeInvalidArgument, "p256dh must be %d bytes in base64url", PushP256dhBytes)
	}
	if key[0] != 4 {
		return Errorf(CodeInvalidArgument, "p256dh must be an uncompressed point (0x04 first)")
	}
	if a, err := DecodeBase64URL(auth); err != nil || len(a) != PushAuthBytes {
		return Errorf(CodeInvalidArgument, "auth must be %d bytes in base64url", PushAuthBytes)
	}
	return nil
}

// DecodeBase64URL decodes base64url with or without padding, strictly
// (unused bits zero), so that one value has one encoding.
func DecodeBase64URL(s string) ([]byte, error) {
	return base64.RawURLEncoding.Strict().DecodeString(strings.TrimRight(s, "="))
}
