//go:build !js

package core_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/rtmcall/rtmcall/core"
	"github.com/rtmcall/rtmcall/server"
)

// A call from alice to bob: bob's device rings, bob accepts, alice hears it.
func Example() {
	// A dev-mode server on loopback; in production, rtmcall-server with a secret.
	node, err := server.New(server.Config{Dev: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	hs := httptest.NewServer(node)
	defer hs.Close()
	defer node.Shutdown(context.Background())
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"
	ctx := context.Background()

	bob, _ := core.NewClient(core.Options{URL: url})
	defer bob.Close()
	answered, accepted := make(chan struct{}), make(chan error, 1)
	bob.OnInvitationReceived(func(inv *core.RemoteInvitation) {
		fmt.Printf("bob: %s calls: %q\n", inv.CallerID(), inv.Content())
		go func() { // never block the callback queue on an operation
			_ = inv.SetResponse("on my way")
			accepted <- inv.Accept(ctx)
		}()
	})
	if err := bob.Login(ctx, "bob", ""); err != nil {
		fmt.Println(err)
		return
	}

	alice, _ := core.NewClient(core.Options{URL: url})
	defer alice.Close()
	if err := alice.Login(ctx, "alice", ""); err != nil {
		fmt.Println(err)
		return
	}
	call, err := alice.CreateLocalInvitation("bob")
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = call.SetContent("join room-1?")
	_ = call.SetChannelID("room-1")
	call.OnAccepted(func(response string) {
		fmt.Printf("alice: accepted: %q\n", response)
		close(answered)
	})
	if err := call.Send(ctx); err != nil {
		fmt.Println(err)
		return
	}
	<-answered
	fmt.Println("alice:", call.State())
	fmt.Println("bob: accept returned", <-accepted)
	// Output:
	// bob: alice calls: "join room-1?"
	// alice: accepted: "on my way"
	// alice: ACCEPTED_BY_REMOTE
	// bob: accept returned <nil>
}

// A server whose certificate the system roots do not trust (signed by a
// private CA, or self-signed as httptest's): Options.TLSConfig gives the
// roots to trust.
func ExampleOptions_tlsConfig() {
	node, err := server.New(server.Config{Dev: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	hs := httptest.NewTLSServer(node)
	defer hs.Close()
	defer node.Shutdown(context.Background())
	roots := x509.NewCertPool()
	roots.AddCert(hs.Certificate())

	c, err := core.NewClient(core.Options{URL: "wss" + strings.TrimPrefix(hs.URL, "https") + "/ws",
		TLSConfig: &tls.Config{RootCAs: roots}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	if err := c.Login(context.Background(), "alice", ""); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.ConnectionState())
	// Output: CONNECTED
}
