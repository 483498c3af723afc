//go:build !js

package pagetest

import (
	"net/url"
	"testing"
)

// TestDemoGroup: the demo rings "support: ann, ben, cat" as a hunt group;
// ben takes it; the caller's card says who took it and ann's says ben did.
func TestDemoGroup(t *testing.T) {
	s := newSite(t)
	boss := newTab(t, s, "/?user=boss&peer="+url.QueryEscape("support: ann, ben, cat"))
	ann, ben := newTab(t, s, "/?user=ann"), newTab(t, s, "/?user=ben")
	for _, tb := range []*tab{boss, ann, ben} {
		tb.waitReady()
		tb.click("#login")
		tb.textIs("#conn-state", "CONNECTED")
	}
	boss.click("#call")
	ann.waitJS(`document.querySelector(".incoming-call .in-state")?.textContent === "INVITATION_RECEIVED"`)
	ben.waitJS(`document.querySelector(".incoming-call .in-state")?.textContent === "INVITATION_RECEIVED"`)
	ann.waitJS(`document.querySelector(".incoming-call .in-message")?.textContent.includes("rings ann, ben, cat")`)
	ben.click(".incoming-call .accept")
	ben.textIs(".incoming-call .in-outcome", "You accepted")
	ann.textIs(".incoming-call .in-outcome", "ben took the call")
	boss.textIs("#out-outcome", "Taken by ben")
	boss.screenshot("group-taken-by-ben")
	boss.click("#hangup")
	boss.textIs("#out-outcome", "Call ended (HANGUP)")
}
