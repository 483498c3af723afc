//go:build !js

package server_test

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/rtmcalltest"
)

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.Claims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	require.NoError(t, err)
	return tok
}

// TestLoginAuth covers the authentication table of PROTOCOL.md on a server
// that is not in dev mode.
func TestLoginAuth(t *testing.T) {
	srv := rtmcalltest.NewServer(t, func(c *server.Config) { c.Dev = false })
	secret := srv.Secret
	future := jwt.NewNumericDate(time.Now().Add(time.Hour))
	tests := []struct {
		name  string
		user  string
		token string
		want  protocol.Code // 0: ok
	}{
		{"valid token", "alice", srv.Token("alice", time.Hour), 0},
		{"user id with punctuation", "a b!#$%&()+-:;<=.>?@[]^_{}|~,", srv.Token("a b!#$%&()+-:;<=.>?@[]^_{}|~,", time.Hour), 0},
		{"no token", "alice", "", protocol.CodeInvalidToken},
		{"bad signature", "alice", sign(t, jwt.SigningMethodHS256, []byte("other secret"),
			jwt.RegisteredClaims{Subject: "alice", ExpiresAt: future}), protocol.CodeInvalidToken},
		{"malformed token", "alice", "not.a.jwt", protocol.CodeInvalidToken},
		{"garbage", "alice", "garbage", protocol.CodeInvalidToken},
		{"HS512", "alice", sign(t, jwt.SigningMethodHS512, secret,
			jwt.RegisteredClaims{Subject: "alice", ExpiresAt: future}), protocol.CodeInvalidToken},
		{"alg none", "alice", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType,
			jwt.RegisteredClaims{Subject: "alice", ExpiresAt: future}), protocol.CodeInvalidToken},
		{"no exp", "alice", sign(t, jwt.SigningMethodHS256, secret,
			jwt.RegisteredClaims{Subject: "alice"}), protocol.CodeInvalidToken},
		{"not valid yet", "alice", sign(t, jwt.SigningMethodHS256, secret,
			jwt.RegisteredClaims{Subject: "alice", ExpiresAt: future, NotBefore: future}), protocol.CodeInvalidToken},
		{"expired", "alice", srv.Token("alice", -time.Minute), protocol.CodeTokenExpired},
		{"token of another user", "alice", srv.Token("bob", time.Hour), protocol.CodeNotAuthorized},
		{"no sub", "alice", sign(t, jwt.SigningMethodHS256, secret,
			jwt.RegisteredClaims{ExpiresAt: future}), protocol.CodeNotAuthorized},
		{"user id null", "null", srv.Token("alice", time.Hour), protocol.CodeInvalidArgument},
		{"user id too long", string(make([]byte, 65)), srv.Token("alice", time.Hour), protocol.CodeInvalidArgument},
		{"user id with slash", "a/b", srv.Token("alice", time.Hour), protocol.CodeInvalidArgument},
		{"user id not ascii", "ålice", srv.Token("alice", time.Hour), protocol.CodeInvalidArgument},
		{"no user", "", srv.Token("alice", time.Hour), protocol.CodeMalformedFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, srv, tt.name)
			login := &protocol.Frame{Type: protocol.TypeLogin, User: tt.user, Token: tt.token}
			if tt.want == 0 {
				reply := c.ok(login)
				assert.Equal(t, tt.user, reply.User)
				assert.Regexp(t, "^[0-9a-f]{16}$", reply.Session)
				return
			}
			reply := c.fails(login, tt.want)
			assert.Equal(t, login.RID, reply.RID)
			// The session stays usable and anonymous.
			c.fails(&protocol.Frame{Type: protocol.TypeQuery, IDs: []string{"bob"}}, protocol.CodeNotLoggedIn)
			c.ok(&protocol.Frame{Type: protocol.TypeLogin, User: "carol", Token: srv.Token("carol", time.Hour)})
		})
	}
}

func TestLoginDevMode(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	t.Run("no token", func(t *testing.T) {
		login(t, srv, "alice")
	})
	t.Run("a given token is still verified", func(t *testing.T) {
		c := dial(t, srv, "alice")
		c.fails(&protocol.Frame{Type: protocol.TypeLogin, User: "alice", Token: srv.Token("bob", time.Hour)}, protocol.CodeNotAuthorized)
		c.fails(&protocol.Frame{Type: protocol.TypeLogin, User: "alice", Token: "garbage"}, protocol.CodeInvalidToken)
		c.ok(&protocol.Frame{Type: protocol.TypeLogin, User: "alice", Token: srv.Token("alice", time.Hour)})
	})
	t.Run("without a secret tokens are not checked", func(t *testing.T) {
		nosecret := rtmcalltest.NewServer(t, func(c *server.Config) { c.Secret = nil })
		c := dial(t, nosecret, "alice")
		c.ok(&protocol.Frame{Type: protocol.TypeLogin, User: "alice", Token: "garbage"})
	})
}

func TestAlreadyLogin(t *testing.T) {
	srv := rtmcalltest.NewServer(t)
	c := login(t, srv, "alice")
	c.fails(&protocol.Frame{Type: protocol.TypeLogin, User: "alice"}, protocol.CodeAlreadyLogin)
	c.fails(&protocol.Frame{Type: protocol.TypeLogin, User: "bob", Token: srv.Token("bob", time.Hour)}, protocol.CodeAlreadyLogin)
	// Logged out, the session may log in again, as anyone.
	c.ok(&protocol.Frame{Type: protocol.TypeLogout})
	c.login("bob")
}

func TestIssueToken(t *testing.T) {
	secret := []byte("secret")
	tok, err := server.IssueToken(secret, "alice", time.Hour)
	require.NoError(t, err)
	var claims jwt.RegisteredClaims
	parsed, err := jwt.ParseWithClaims(tok, &claims, func(*jwt.Token) (any, error) { return secret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
	require.NoError(t, err)
	assert.True(t, parsed.Valid)
	assert.Equal(t, "alice", claims.Subject)
	assert.WithinDuration(t, time.Now().Add(time.Hour), claims.ExpiresAt.Time, 2*time.Second)

	_, err = server.IssueToken(nil, "alice", time.Hour)
	assert.ErrorIs(t, err, server.ErrNoSecret)
	_, err = server.IssueToken(secret, "null", time.Hour)
	assert.ErrorIs(t, err, protocol.ErrInvalidArgument)
}
