package push

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"time"

	"github.com/rtmcall/rtmcall/core/protocol"
)

// A refuse capability allows one thing: refusing invitation Inv as callee
// User, until Exp (the invitation's own end, so never longer than its time
// left). It is "v1.<base64url JSON>.<base64url HMAC-SHA256>", keyed with a
// secret of the store that every node shares. Once used, the invitation
// has ended: the same capability again gets ALREADY_END.
type capability struct {
	Inv  string `json:"inv"`
	User string `json:"user"`
	Exp  int64  `json:"exp"` // ms since the epoch
}

const capPrefix = "v1."

// MaxCapabilityBytes bounds a capability as /push/refuse reads it.
const MaxCapabilityBytes = 1024

func signCapability(key []byte, inv, user string, exp time.Time) string {
	body, _ := json.Marshal(capability{Inv: inv, User: user, Exp: exp.UnixMilli()}) // every field marshals
	msg := capPrefix + b64(body)
	return msg + "." + b64(mac(key, msg))
}

func mac(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

// verifyCapability returns the capability tok carries: INVALID_TOKEN when
// it is malformed or its signature is wrong, TOKEN_EXPIRED past its end.
func verifyCapability(key []byte, tok string, now time.Time) (capability, error) {
	var c capability
	bad := protocol.Errorf(protocol.CodeInvalidToken, "the refuse capability is not valid")
	if len(tok) > MaxCapabilityBytes || !strings.HasPrefix(tok, capPrefix) {
		return c, bad
	}
	dot := strings.LastIndexByte(tok, '.')
	if dot <= len(capPrefix) {
		return c, bad
	}
	sig, err := protocol.DecodeBase64URL(tok[dot+1:])
	if err != nil || !hmac.Equal(sig, mac(key, tok[:dot])) { // constant time
		return c, bad
	}
	body, err := protocol.DecodeBase64URL(tok[len(capPrefix):dot])
	if err != nil || json.Unmarshal(body, &c) != nil || c.Inv == "" || c.User == "" {
		return c, bad
	}
	if now.UnixMilli() >= c.Exp {
		return c, protocol.Errorf(protocol.CodeTokenExpired, "the refuse capability has expired")
	}
	return c, nil
}
