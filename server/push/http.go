package push

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rtmcall/rtmcall/core/protocol"
	"github.com/rtmcall/rtmcall/server/httperr"
)

// The Service's HTTP endpoints (Handler).
const (
	VAPIDPath  = "/push/vapid"
	RefusePath = "/push/refuse"
)

// maxRefuseBody bounds a refuse request's body.
const maxRefuseBody = 4 << 10

// RefuseRequest is the body of POST /push/refuse. Inv, when given, must
// be the capability's invitation.
type RefuseRequest struct {
	Cap string `json:"cap"`
	Inv string `json:"inv,omitempty"`
}

// HTTPError is the body of every error answer: a protocol code and name,
// with httperr.Status of the code, as the server API answers.
type HTTPError = httperr.Error

// Handler serves GET /push/vapid ({"publicKey": "<base64url>"}) and POST
// /push/refuse, with CORS for the origins the node allows (the service
// worker runs on the app's origin) and the server's own.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(VAPIDPath, s.cors("GET", s.serveVAPID))
	mux.HandleFunc(RefusePath, s.cors("POST", s.serveRefuse))
	return mux
}

// cors answers preflights and refuses methods other than method and
// browser origins the node does not allow.
func (s *Service) cors(method string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" {
			if !s.originAllowed(origin, r) {
				httperr.Write(w, protocol.Errorf(protocol.CodeRejected, "origin not allowed"))
				return
			}
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Add("Vary", "Origin")
		}
		if r.Method == http.MethodOptions {
			w.Header().Set("Access-Control-Allow-Methods", method)
			w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
			w.Header().Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if r.Method != method {
			httperr.MethodNotAllowed(w, "use "+method, method, http.MethodOptions)
			return
		}
		h(w, r)
	}
}

func (s *Service) originAllowed(origin string, r *http.Request) bool {
	if u, err := url.Parse(origin); err == nil && strings.EqualFold(u.Host, r.Host) {
		return true // the server's own pages
	}
	s.mu.Lock()
	node := s.node
	s.mu.Unlock()
	return node != nil && node.AllowsOrigin(origin)
}

func (s *Service) serveVAPID(w http.ResponseWriter, _ *http.Request) {
	key := s.PublicKey()
	if key == "" {
		httperr.Write(w, protocol.Errorf(protocol.CodePushUnavailable, "web push is not started"))
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	httperr.JSON(w, http.StatusOK, map[string]string{"publicKey": key})
}

func (s *Service) serveRefuse(w http.ResponseWriter, r *http.Request) {
	var req RefuseRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRefuseBody))
	if err := dec.Decode(&req); err != nil || req.Cap == "" {
		httperr.Write(w, protocol.Errorf(protocol.CodeMalformedFrame, `the body must be {"cap": "<capability>"}, at most %d bytes`, maxRefuseBody))
		return
	}
	s.mu.Lock()
	node, key := s.node, s.capKey
	s.mu.Unlock()
	if node == nil {
		httperr.Write(w, protocol.Errorf(protocol.CodePushUnavailable, "web push is not started"))
		return
	}
	c, err := verifyCapability(key, req.Cap, time.Now())
	if err == nil && req.Inv != "" && req.Inv != c.Inv {
		err = protocol.Errorf(protocol.CodeNotYours, "the capability is for another invitation")
	}
	if err == nil {
		ctx, cancel := context.WithTimeout(r.Context(), s.refuseTimeout)
		defer cancel()
		_, err = node.RefuseInvitation(ctx, c.Inv, c.User)
	}
	if err != nil {
		httperr.Write(w, err) // TIMEOUT (503): the owner did not answer in time, the refuse may be done
		return
	}
	s.log.Info("invitation refused through a push", "inv", c.Inv, "callee", c.User)
	httperr.JSON(w, http.StatusOK, map[string]any{"ok": true, "inv": c.Inv})
}
