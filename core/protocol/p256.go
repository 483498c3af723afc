//go:build !js

package protocol

import "crypto/ecdh"

// onP256 reports whether key is an uncompressed point of P-256.
func onP256(key []byte) bool {
	_, err := ecdh.P256().NewPublicKey(key)
	return err == nil
}
