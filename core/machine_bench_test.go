package core_test

import (
	"testing"

	"github.com/rtmcall/rtmcall/core"
)

// BenchmarkNextLocal walks the caller's machine along an accepted flow:
// IDLE -send-> SENT_TO_REMOTE -received-> RECEIVED_BY_REMOTE -accepted->
// ACCEPTED_BY_REMOTE.
func BenchmarkNextLocal(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		s := core.LocalIdle
		for _, ev := range []core.LocalEvent{core.LocalEvSend, core.LocalEvReceived, core.LocalEvAccepted} {
			var err error
			if s, err = core.NextLocal(s, ev); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkNextRemote walks a callee device's machine along an accepted
// flow: INVITATION_RECEIVED -accept-> ACCEPT_SENT_TO_LOCAL -accepted-> ACCEPTED.
func BenchmarkNextRemote(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		s := core.RemoteInvitationReceived
		for _, ev := range []core.RemoteEvent{core.RemoteEvAccept, core.RemoteEvAccepted} {
			var err error
			if s, err = core.NextRemote(s, ev); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkNextLocalIllegal is the error path: a cancel after the end,
// which the server meets on every race it decides.
func BenchmarkNextLocalIllegal(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := core.NextLocal(core.LocalAcceptedByRemote, core.LocalEvCancel); err == nil {
			b.Fatal("cancel after the end was allowed")
		}
	}
}
