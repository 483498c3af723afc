//go:build js

package protocol

// onP256 checks only the uncompressed-point prefix in the browser module: the
// curve arithmetic would add about 600 KB to rtmcall.wasm, the subscription
// comes from the browser's own push manager, and the server checks the point
// in full (ValidatePushSubscription, built natively) before it keeps it.
func onP256(key []byte) bool { return len(key) > 0 && key[0] == 4 }
