//go:build !js

package push

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
)

// An invite payload of exactly MaxPayloadBytes keeps its content; one byte
// more cuts it, at a rune boundary, and says so.
func TestInvitePayloadBound(t *testing.T) {
	s := &Service{cfg: Config{PublicURL: "https://call.example.com"}}
	key := make([]byte, 32)
	w := server.Wake{Inv: strings.Repeat("a", 32), Caller: "alice", Callee: "bob", Expires: time.UnixMilli(1e12)}
	empty, err := s.invitePayload(w, key)
	require.NoError(t, err)
	w.Content = strings.Repeat("x", MaxPayloadBytes-len(empty)-len(`,"content":""`))
	at, err := s.invitePayload(w, key)
	require.NoError(t, err)
	assert.Len(t, at, MaxPayloadBytes)
	var p Invite
	require.NoError(t, json.Unmarshal(at, &p))
	assert.False(t, p.Truncated)
	assert.Equal(t, w.Content, p.Content)

	w.Content += "x"
	over, err := s.invitePayload(w, key)
	require.NoError(t, err)
	assert.LessOrEqual(t, len(over), MaxPayloadBytes)
	require.NoError(t, json.Unmarshal(over, &p))
	assert.True(t, p.Truncated)
	assert.True(t, strings.HasPrefix(w.Content, p.Content))

	// The largest content, escaped and multibyte.
	w.Content = strings.Repeat("é\"", protocol.MaxContentBytes/3)
	big, err := s.invitePayload(w, key)
	require.NoError(t, err)
	assert.LessOrEqual(t, len(big), MaxPayloadBytes)
	require.NoError(t, json.Unmarshal(big, &p))
	assert.True(t, p.Truncated)
	assert.True(t, utf8.ValidString(p.Content) && strings.HasPrefix(w.Content, p.Content))
}

// A capability verifies under its key until its end; another key, a
// changed byte or its end refuses it.
func TestCapability(t *testing.T) {
	key, other := []byte("0123456789abcdef0123456789abcdef"), []byte("fedcba9876543210fedcba9876543210")
	end := time.Now().Add(time.Minute)
	tok := signCapability(key, "inv1", "bob", end)
	c, err := verifyCapability(key, tok, time.Now())
	require.NoError(t, err)
	assert.Equal(t, capability{Inv: "inv1", User: "bob", Exp: end.UnixMilli()}, c)
	_, err = verifyCapability(key, tok, time.UnixMilli(end.UnixMilli()-1))
	assert.NoError(t, err, "a millisecond before its end")
	_, err = verifyCapability(key, tok, time.UnixMilli(end.UnixMilli()))
	assert.ErrorIs(t, err, &protocol.Error{Code: protocol.CodeTokenExpired}, "at its end")
	_, err = verifyCapability(other, tok, time.Now())
	assert.ErrorIs(t, err, protocol.Errorf(protocol.CodeInvalidToken, ""))
	for i := range tok {
		b := []byte(tok)
		b[i] ^= 1
		_, err := verifyCapability(key, string(b), time.Now())
		assert.Error(t, err, "byte %d changed", i)
	}
	_, err = verifyCapability(key, tok+strings.Repeat("A", MaxCapabilityBytes), time.Now())
	assert.ErrorIs(t, err, protocol.Errorf(protocol.CodeInvalidToken, ""))
}
