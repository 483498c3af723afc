package server

import (
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// IssueToken returns a login token for user: a JWT signed with HS256 whose
// sub is user and whose exp is ttl from now (a ttl of zero or less gives a
// token that has already expired, which tests use).
func IssueToken(secret []byte, user string, ttl time.Duration) (string, error) {
	if len(secret) == 0 {
		return "", ErrNoSecret
	}
	if err := protocol.ValidateUserID(user); err != nil {
		return "", err
	}
	now := time.Now()
	claims := jwt.RegisteredClaims{
		Subject:   user,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
}

// authenticate checks a login (PROTOCOL.md, "Authentication"): the token
// must be an HS256 JWT signed with the node's secret, with an exp in the
// future and sub equal to user. In dev mode a missing token is accepted,
// and so is any token when there is no secret to check it with. It returns
// the token's expiry (zero when there is none to enforce).
func (n *Node) authenticate(user, token string) (time.Time, *protocol.Error) {
	if token == "" {
		if n.cfg.Dev {
			return time.Time{}, nil
		}
		return time.Time{}, protocol.Errorf(protocol.CodeInvalidToken, "a token is required")
	}
	if len(n.cfg.Secret) == 0 {
		return time.Time{}, nil // dev mode without a secret: nothing to check the token with
	}
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(token, &claims,
		func(*jwt.Token) (any, error) { return n.cfg.Secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return time.Time{}, protocol.Errorf(protocol.CodeTokenExpired, "the token has expired")
	case err != nil:
		return time.Time{}, protocol.Errorf(protocol.CodeInvalidToken, "invalid token: %v", err)
	case claims.Subject != user:
		return time.Time{}, protocol.Errorf(protocol.CodeNotAuthorized, "the token is not for user %q", user)
	}
	return claims.ExpiresAt.Time, nil
}
