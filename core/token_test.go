package core

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestTokenExpiryReadsTheExpClaim(t *testing.T) {
	jwt := func(claims string) string {
		return "h." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + ".s"
	}
	exp, ok := tokenExpiry(jwt(`{"sub":"alice","exp":1700000000,"aud":["x"]}`))
	assert.True(t, ok)
	assert.Equal(t, time.Unix(1700000000, 0), exp)
	exp, ok = tokenExpiry(jwt(`{"exp":1.7e9}`))
	assert.True(t, ok)
	assert.Equal(t, time.Unix(1700000000, 0), exp)
	for _, claims := range []string{`{"sub":"alice"}`, `{"exp":"1700000000"}`, `{"exp":-5}`, `{"exp":0}`, `{"exp":1,"exp":2}`, `not json`} {
		_, ok := tokenExpiry(jwt(claims))
		assert.False(t, ok, claims)
	}
	_, ok = tokenExpiry("no dots")
	assert.False(t, ok)
}
