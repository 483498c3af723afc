package server

import (
	"errors"

	"github.com/rtmcall/rtmcall/core/protocol"
)

var (
	// ErrNoSecret is returned by New when Config.Secret is empty and
	// Config.Dev is not set, and by IssueToken for an empty secret.
	ErrNoSecret = errors.New("server: a secret is required unless dev mode is on")
	// ErrInvalidConfig wraps every other problem New finds in a Config.
	ErrInvalidConfig = errors.New("server: invalid config")
	// ErrNATSPayload is returned by New when the NATS server takes
	// messages smaller than a node may send (its max_payload).
	ErrNATSPayload = errors.New("server: the NATS server's max_payload is too small")
	// ErrSyncLost is returned by Node.Sync when a peer it waited for left
	// or reset this node before answering.
	ErrSyncLost = errors.New("server: a peer left or reset this node during sync")
)

// Protocol errors the server answers with. They are never mutated: error
// frames copy their code and message.
var (
	errNotLoggedIn  = protocol.Errorf(protocol.CodeNotLoggedIn, "log in first")
	errAlreadyLogin = protocol.Errorf(protocol.CodeAlreadyLogin, "this session is already logged in")
	errNotYours     = protocol.Errorf(protocol.CodeNotYours, "no such invitation for this session")
	errAlreadyEnd   = protocol.Errorf(protocol.CodeAlreadyEnd, "the invitation has ended")
	errCallEnded    = protocol.Errorf(protocol.CodeAlreadyEnd, "the call has ended")
	errNotStarted   = protocol.Errorf(protocol.CodeNotStarted, "the invitation was not accepted: there is no call to hang up")
	errSelfInvite   = protocol.Errorf(protocol.CodeInvalidArgument, "cannot invite yourself")
	errShuttingDown = protocol.Errorf(protocol.CodeShuttingDown, "the server is shutting down")
	errBinaryFrame  = protocol.Errorf(protocol.CodeMalformedFrame, "binary frames are not accepted: send JSON text frames")
	errResumeFailed = protocol.Errorf(protocol.CodeResumeFailed, "no session to resume: unknown, ended, or wrong key; log in again")
	errNoAnswer     = protocol.Errorf(protocol.CodeUnknown, "the node that owns the invitation did not answer; it may have ended")
	// errOwnerTimeout is errNoAnswer for the server's HTTP callers (API,
	// push refuse): retryable; the operation may have been carried out.
	errOwnerTimeout = protocol.Errorf(protocol.CodeTimeout, "the node that owns the invitation did not answer in time; try again")
)
