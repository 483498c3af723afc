//go:build !js

package pagetest

import (
	"fmt"
	"testing"
	"time"
)

func TestZZExp(t *testing.T) {
	for _, poll := range []bool{true, false, true, false} {
		ps := newPushSite(t, "/page.html?app=1")
		pt := newPushTab(t, ps, "/sw-module.js")
		future := time.Now().Add(time.Minute).UnixMilli()
		if poll {
			pt.eval(`T.polls = 0; T.stop = false; (async () => { while (!T.stop) { await T.notes(); T.polls++; } })();`, nil)
		}
		for i := range 20 {
			id := fmt.Sprint("a", i)
			pt.push(map[string]any{"v": 1, "kind": "invite", "inv": id, "caller": "alice", "content": "",
				"channel": "", "expiresAt": future, "refuse": "cap-" + id, "refuseUrl": ps.URL + "/refuse"})
		}
		var n []any
		pt.eval(`await new Promise((r) => setTimeout(r, 2000)); T.stop = true; return [T.polls, (await T.notes()).length];`, &n)
		t.Log(poll, n)
	}
}
