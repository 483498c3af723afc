// Package api is rtmcall's server API: HTTP routes at /api/v1/ with which a
// backend places invitations, cancels and reads them, reads presence, ends
// a user's sessions and mints login tokens (docs/BACKEND.md,
// docs/openapi.yaml). It decides nothing itself: each route checks its
// input as the wire protocol does and calls the node, which is the
// authority. Errors carry the wire protocol's codes, as JSON
// {code, name, message} with an HTTP status for each code.
package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server"
	"github.com/rtmcall/rtmcall/server/httperr"
)

// Prefix is where the routes live.
const Prefix = "/api/v1/"

// Limits.
const (
	// MinKeyLen is the shortest API key accepted, in bytes.
	MinKeyLen = 16
	// MaxBodyBytes bounds a request body, as MaxFrameBytes bounds a frame.
	MaxBodyBytes = protocol.MaxFrameBytes
	// DefaultTokenTTL is the ttl of a minted token when the request sets none.
	DefaultTokenTTL = time.Hour
)

// Node is what the API needs of the server: *server.Node.
type Node interface {
	Invite(server.Placement) (*server.InvitationInfo, error)
	Invitation(ctx context.Context, id string) (*server.InvitationInfo, error)
	CancelInvitation(ctx context.Context, id string) (*server.InvitationInfo, error)
	Presence(user string) (server.Presence, error)
	Kick(ctx context.Context, user string) (int, error)
	MintToken(user string, ttl time.Duration) (string, error)
	SendMessage(from, to, text string, raw []byte, description string) (bool, error)
	StartDrain() bool
	ID() string
}

// ErrInvalidKey is returned by New for a key that is too short or holds
// characters other than printable ASCII without space and comma.
var ErrInvalidKey = errors.New("api: invalid API key")

// Handler serves the routes. Mount it at Prefix.
type Handler struct {
	node Node
	keys [][sha256.Size]byte // the keys' digests: compared at one length, so timing tells no key's length
	log  *slog.Logger
	mux  *http.ServeMux
}

// New returns the API of node, authenticated by keys (at least one). Keys
// are never logged; requests are compared against every key in constant time.
func New(node Node, keys []string, log *slog.Logger) (*Handler, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no key", ErrInvalidKey)
	}
	if log == nil {
		log = slog.Default()
	}
	h := &Handler{node: node, log: log, mux: http.NewServeMux()}
	for i, k := range keys {
		if len(k) < MinKeyLen {
			return nil, fmt.Errorf("%w: key %d is %d bytes, at least %d", ErrInvalidKey, i, len(k), MinKeyLen)
		}
		for _, c := range []byte(k) {
			if c <= ' ' || c > '~' || c == ',' {
				return nil, fmt.Errorf("%w: key %d holds a character other than printable ASCII (no space, no comma)", ErrInvalidKey, i)
			}
		}
		h.keys = append(h.keys, sha256.Sum256([]byte(k)))
	}
	h.mux.HandleFunc("POST /api/v1/invitations", h.invite)
	h.mux.HandleFunc("GET /api/v1/invitations/{id}", h.invitation)
	h.mux.HandleFunc("DELETE /api/v1/invitations/{id}", h.cancel)
	h.mux.HandleFunc("GET /api/v1/users/{id}/presence", h.presence)
	h.mux.HandleFunc("POST /api/v1/users/{id}/kick", h.kick)
	h.mux.HandleFunc("POST /api/v1/tokens", h.token)
	h.mux.HandleFunc("POST /api/v1/users/{id}/messages", h.message)
	h.mux.HandleFunc("POST /api/v1/drain", h.drain)
	// The same paths with any other method, and any other path.
	for _, p := range []string{"/api/v1/drain", "/api/v1/invitations", "/api/v1/invitations/{id}", "/api/v1/users/{id}/presence",
		"/api/v1/users/{id}/kick", "/api/v1/tokens", "/api/v1/users/{id}/messages"} {
		h.mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			httperr.MethodNotAllowed(w, fmt.Sprintf("%s does not take %s", p, r.Method))
		})
	}
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, protocol.Errorf(protocol.CodeUnknownType, "no route %s", r.URL.Path))
	})
	return h, nil
}

// ServeHTTP refuses a request with a query string (a key there would be
// logged by proxies), then one without a valid key, then routes it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.RawQuery != "" {
		writeError(w, protocol.Errorf(protocol.CodeInvalidArgument,
			"the API takes no query parameters; send the API key as Authorization: Bearer <key>"))
		return
	}
	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="rtmcall"`)
		writeError(w, protocol.Errorf(protocol.CodeNotAuthorized,
			"a valid API key is required as Authorization: Bearer <key>"))
		return
	}
	h.mux.ServeHTTP(w, r)
}

// authorized compares the bearer key's digest with every key's in
// constant time, so that neither which key matched, nor how much of one
// did, nor a key's length shows in timing.
func (h *Handler) authorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	d := sha256.Sum256([]byte(got))
	match := 0
	for _, k := range h.keys {
		match |= subtle.ConstantTimeCompare(d[:], k[:])
	}
	return match == 1
}

// invitationRequest is the body of POST /api/v1/invitations.
type invitationRequest struct {
	Caller    string `json:"caller"`
	Service   bool   `json:"service"`
	Callee    string `json:"callee"`
	Content   string `json:"content"`
	Channel   string `json:"channel"`
	TimeoutMS int64  `json:"timeout_ms"`
}

func (h *Handler) invite(w http.ResponseWriter, r *http.Request) {
	var req invitationRequest
	if !readBody(w, r, &req) {
		return
	}
	if req.Caller == "" || req.Callee == "" {
		writeError(w, protocol.Errorf(protocol.CodeMalformedFrame, `"caller" and "callee" are required`))
		return
	}
	if req.TimeoutMS < 0 {
		writeError(w, protocol.Errorf(protocol.CodeInvalidArgument, "timeout_ms must not be negative"))
		return
	}
	info, err := h.node.Invite(server.Placement{Caller: req.Caller, Service: req.Service, Callee: req.Callee,
		Content: req.Content, Channel: req.Channel, Timeout: protocol.Millis(req.TimeoutMS)})
	if err != nil {
		writeError(w, err)
		return
	}
	h.log.Info("api: invitation placed", "inv", info.ID, "caller", info.Caller, "callee", info.Callee, "service", info.Service)
	writeJSON(w, http.StatusCreated, info)
}

func (h *Handler) invitation(w http.ResponseWriter, r *http.Request) {
	h.onInvitation(w, r, h.node.Invitation)
}

func (h *Handler) cancel(w http.ResponseWriter, r *http.Request) {
	h.onInvitation(w, r, h.node.CancelInvitation)
}

// onInvitation answers with op's result on the invitation in the path.
func (h *Handler) onInvitation(w http.ResponseWriter, r *http.Request, op func(context.Context, string) (*server.InvitationInfo, error)) {
	info, err := op(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	if r.Method == http.MethodDelete {
		h.log.Info("api: invitation canceled", "inv", info.ID)
	}
	writeJSON(w, http.StatusOK, info)
}

func (h *Handler) presence(w http.ResponseWriter, r *http.Request) {
	p, err := h.node.Presence(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// kickResponse is the body of a kick's answer.
type kickResponse struct {
	User          string `json:"user"`
	SessionsEnded int    `json:"sessions_ended"`
}

func (h *Handler) kick(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("id")
	k, err := h.node.Kick(r.Context(), user)
	if err != nil {
		writeError(w, err)
		return
	}
	h.log.Info("api: user kicked", "user", user, "sessions", k)
	writeJSON(w, http.StatusOK, kickResponse{User: user, SessionsEnded: k})
}

type drainResponse struct {
	Node     string `json:"node"`
	Draining bool   `json:"draining"`
}

// drain starts draining the node that serves the request
// (docs/CLUSTER.md "Drain and rolling restart"); 503 SHUTTING_DOWN if it
// already drains or has shut down.
func (h *Handler) drain(w http.ResponseWriter, r *http.Request) {
	if n, _ := r.Body.Read(make([]byte, 1)); n > 0 {
		writeError(w, protocol.Errorf(protocol.CodeInvalidArgument, "POST /api/v1/drain takes no body"))
		return
	}
	if !h.node.StartDrain() {
		writeError(w, protocol.Errorf(protocol.CodeShuttingDown, "node %s already drains or has shut down", h.node.ID()))
		return
	}
	h.log.Info("api: drain started", "node", h.node.ID())
	writeJSON(w, http.StatusAccepted, drainResponse{Node: h.node.ID(), Draining: true})
}

// messageRequest is the body of POST /api/v1/users/{id}/messages: a text,
// or raw bytes (base64 in JSON) with an optional description.
type messageRequest struct {
	From        string `json:"from"`
	Text        string `json:"text"`
	Raw         []byte `json:"raw"`
	Description string `json:"description"`
}

type messageResponse struct {
	Received bool `json:"received"`
}

func (h *Handler) message(w http.ResponseWriter, r *http.Request) {
	var req messageRequest
	if !readBody(w, r, &req) {
		return
	}
	if req.From == "" {
		writeError(w, protocol.Errorf(protocol.CodeMalformedFrame, `"from" is required`))
		return
	}
	got, err := h.node.SendMessage(req.From, r.PathValue("id"), req.Text, req.Raw, req.Description)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, messageResponse{Received: got})
}

// tokenRequest is the body of POST /api/v1/tokens.
type tokenRequest struct {
	User       string `json:"user"`
	TTLSeconds int64  `json:"ttl_seconds"`
}

type tokenResponse struct {
	User      string    `json:"user"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (h *Handler) token(w http.ResponseWriter, r *http.Request) {
	var req tokenRequest
	if !readBody(w, r, &req) {
		return
	}
	if req.User == "" {
		writeError(w, protocol.Errorf(protocol.CodeMalformedFrame, `"user" is required`))
		return
	}
	ttl := DefaultTokenTTL
	if req.TTLSeconds != 0 {
		if req.TTLSeconds < 0 || req.TTLSeconds > int64(server.MaxTokenTTL/time.Second) {
			writeError(w, protocol.Errorf(protocol.CodeInvalidArgument, "ttl_seconds must be 1 to %d", int64(server.MaxTokenTTL/time.Second)))
			return
		}
		ttl = time.Duration(req.TTLSeconds) * time.Second
	}
	exp := time.Now().Add(ttl).UTC().Truncate(time.Second)
	tok, err := h.node.MintToken(req.User, ttl)
	if err != nil {
		writeError(w, err)
		return
	}
	h.log.Info("api: token minted", "user", req.User, "ttl", ttl) // never the token
	writeJSON(w, http.StatusCreated, tokenResponse{User: req.User, Token: tok, ExpiresAt: exp})
}

// readBody decodes a JSON body of at most MaxBodyBytes with no unknown
// fields, or writes the error and returns false.
func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, protocol.Errorf(protocol.CodeTooLarge, "the body is over %d bytes", MaxBodyBytes))
		} else {
			writeError(w, protocol.Errorf(protocol.CodeMalformedFrame, "the body could not be read: %v", err))
		}
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	if err != nil {
		writeError(w, protocol.Errorf(protocol.CodeMalformedFrame, "the body is not the JSON object expected: %v", err))
		return false
	}
	return true
}

// Error is the JSON body of every error answer; its HTTP status is
// httperr.Status of its code (docs/BACKEND.md).
type Error = httperr.Error

// writeError answers err (httperr.Write).
func writeError(w http.ResponseWriter, err error) { httperr.Write(w, err) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Cache-Control", "no-store")
	httperr.JSON(w, status, v)
}
