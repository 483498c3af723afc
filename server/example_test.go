//go:build !js

package server_test

import (
	"context"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/rtmcall/rtmcall/server"
)

// A Node embedded in an application's own HTTP server, with its WebSocket
// endpoint mounted on the application's mux and a graceful shutdown.
func ExampleNode_WebSocketHandler() {
	node, err := server.New(server.Config{
		Secret:  []byte(os.Getenv("RTMCALL_SECRET")),
		Origins: []string{"app.example.com"},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/rtmcall/ws", node.WebSocketHandler())
	hs := &http.Server{Addr: "127.0.0.1:8080", Handler: mux}
	go hs.ListenAndServe()

	// ... on SIGTERM:
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := node.Shutdown(ctx); err != nil { // invitations end, connections close with 1001
		log.Print(err)
	}
	hs.Shutdown(ctx)
}

// A login token for alice, valid for an hour, as the token subcommand of
// rtmcall-server prints it.
func ExampleIssueToken() {
	token, err := server.IssueToken([]byte(os.Getenv("RTMCALL_SECRET")), "alice", time.Hour)
	if err != nil {
		log.Fatal(err)
	}
	_ = token // the client sends it in its login frame
}
