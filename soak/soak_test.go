//go:build !js

package soak

import (
	"context"
	"flag"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	soakSeed  = flag.Uint64("soak.seed", 1, "seed of the short soak")
	soakFlows = flag.Int("soak.flows", 2000, "flows of the short soak")
)

// TestSoakShort is `make soak` at a fiftieth of its size: real nodes on
// loopback, 50 devices, every action of the repertoire, and every
// invariant. It fails on any violation.
func TestSoakShort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Config{Clients: 50, Flows: *soakFlows, Seed: *soakSeed, Workers: 20,
		TimeLimit: time.Minute, TombstoneTTL: time.Second, ExpiryTimeout: 150 * time.Millisecond, ResumeGrace: 2 * time.Second})
	require.NoError(t, err)
	t.Log("\n" + rep.String())

	assert.Zero(t, rep.Violations, "violations (first ones above)")
	assert.Empty(t, rep.Failures)
	assert.Equal(t, *soakFlows, rep.FlowsRun)
	assert.Equal(t, 50, rep.Clients)
	// The run exercised the whole repertoire and met every outcome, so that
	// a harness that quietly stopped doing something fails too.
	for _, a := range actions {
		assert.Positive(t, rep.ByAction[a.name], "action %s never ran", a.name)
	}
	for _, o := range []string{"ACCEPTED_BY_REMOTE", "REFUSED_BY_REMOTE", "CANCELED", "FAILURE PEER_OFFLINE",
		"FAILURE INVITATION_EXPIRE", "FAILURE PEER_NO_RESPONSE", "FAILURE UNKNOWN", "FAILURE NOT_LOGGEDIN"} {
		assert.Positive(t, rep.Outcomes[o], "no flow ended %s", o)
	}
	for _, o := range []string{"ACCEPTED", "REFUSED", "CANCELED", "FAILURE ANSWERED_ELSEWHERE", "FAILURE INVITATION_EXPIRE",
		"FAILURE PEER_OFFLINE", "FAILURE UNKNOWN"} {
		assert.Positive(t, rep.DeviceOutcomes[o], "no device ended %s", o)
	}
	assert.Positive(t, rep.Resumes)
	assert.Positive(t, rep.Drops)
	assert.Positive(t, rep.LateRings, "no device that came back rang late")
}

var soakChaos = flag.String("soak.chaos", "partition,kill-restart,loss,drain",
	"chaos kinds of the short cluster soak, comma-separated (kill, kill-restart, rolling-restart, partition, loss, drain); none: no chaos")

// TestSoakClusterShort is `make soak-cluster` small: three clustered nodes
// behind the load balancer, every action (the group flows but with loss),
// and by turns from 1 s on: a node cut off and healed, a node killed and
// restarted, loss between two nodes, and a drained rolling restart
// (drain), last: a drain leaves the restarted nodes with few sessions, and
// a kill after it hit no flow. The flows go on until each kind has struck
// once (allStruck). It fails on any violation, and on a call dropped with
// a party's node draining (docs/CLUSTER.md, "The short test", has why
// drain left its default kinds three times, and came back). Its flows take 30 to 55 s
// under -race on 2 shared cores, loss windows back to back the most: the
// limit is 90 s, so that make test's load does not fail it by the clock
// (60 s did once, seed 9).
func TestSoakClusterShort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	flows := *soakFlows / 2
	ttl := time.Second // with chaos, the cluster's default (config.go)
	if len(chaosFlag()) > 0 {
		flows, ttl = *soakFlows, 0 // time for every kind to strike
	}
	rep, err := Run(ctx, Config{Clients: 45, Flows: flows, Seed: *soakSeed, Workers: 16, Cluster: 3,
		Chaos: chaosFlag(), ChaosEvery: time.Second, TombstoneTTL: ttl,
		TimeLimit: 90 * time.Second, ExpiryTimeout: 150 * time.Millisecond, ResumeGrace: 2 * time.Second,
		ServerLog: serverLog(t), ServerLogDebug: true})
	require.NoError(t, err)
	t.Log("\n" + rep.String())

	assert.Zero(t, rep.Violations, "violations (first ones above)")
	assert.Empty(t, rep.Failures)
	assert.GreaterOrEqual(t, rep.FlowsRun, flows)
	for _, a := range actions {
		assert.Positive(t, rep.ByAction[a.name], "action %s never ran", a.name)
	}
	for _, k := range chaosFlag() {
		switch k {
		case "partition":
			assert.Positive(t, rep.Chaos["heals"], "no partition healed")
		case "loss":
			assert.Positive(t, rep.Chaos["pair resets"], "no loss reset a pair")
			assert.Positive(t, rep.Chaos["flows across a loss"], "no flow spanned a lossy pair")
		case "drain":
			assert.GreaterOrEqual(t, rep.Chaos["drains"], 3, "every node drained")
			assert.Positive(t, rep.Chaos["sessions on a draining node"])
			assert.Zero(t, rep.DroppedCalls[DropDrain], "calls dropped with a drain")
		default:
			assert.Positive(t, rep.Chaos["node deaths"], "no node died")
			// With partitions in turn (deaths for the flows too), a group
			// flow hit is not sure: seed 3 of the default kinds had none.
			if !slices.Contains(chaosFlag(), "partition") {
				assert.Positive(t, rep.Chaos["group flows hit by a node death"])
			}
		}
	}
	if slices.ContainsFunc(chaosFlag(), func(k string) bool { return k != "loss" && k != "drain" }) {
		assert.Positive(t, rep.HitFlows, "no flow had a party on a dying node")
	}
	assert.Positive(t, rep.LateRings)
}

var soakServerLog = flag.String("soak.serverlog", "", "write the short cluster soak's server logs, at level debug, to this file")

var soakDrain = flag.Bool("soak.drain", false, "run TestSoakClusterDrain")

// TestSoakClusterDrain is the short cluster soak with graceful rolling
// restarts (chaos kind drain): every node in turn drains, its clients move
// to the others, and it restarts, while the flows, group flows included,
// run. Nothing dies, so nothing is relaxed: 0 violations.
func TestSoakClusterDrain(t *testing.T) {
	if !*soakDrain {
		t.Skip("opt in with -soak.drain (docs/CLUSTER.md, the cluster soak's drain)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	flows := *soakFlows / 2
	rep, err := Run(ctx, Config{Clients: 45, Flows: flows, Seed: *soakSeed, Workers: 16, Cluster: 3,
		Chaos: []string{"drain"}, ChaosEvery: time.Second, TimeLimit: time.Minute,
		ExpiryTimeout: 150 * time.Millisecond, ResumeGrace: 2 * time.Second})
	require.NoError(t, err)
	t.Log("\n" + rep.String())
	assert.Zero(t, rep.Violations, "violations (first ones above)")
	assert.Empty(t, rep.Failures)
	assert.GreaterOrEqual(t, rep.FlowsRun, flows)
	for _, a := range actions {
		assert.Positive(t, rep.ByAction[a.name], "action %s never ran", a.name)
	}
	assert.GreaterOrEqual(t, rep.Chaos["drains"], 3, "every node drained")
	assert.Zero(t, rep.Chaos["node deaths"])
	assert.Positive(t, rep.Calls)
	assert.Empty(t, rep.DroppedCalls, "calls dropped with a drain (a rolling restart drops none)")
}

// serverLog returns the file -soak.serverlog names, or nil.
func serverLog(t *testing.T) io.Writer {
	if *soakServerLog == "" {
		return nil
	}
	f, err := os.Create(*soakServerLog)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

func chaosFlag() []string {
	if *soakChaos == "" || *soakChaos == "none" {
		return nil
	}
	return strings.Split(*soakChaos, ",")
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := Config{}.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, 1000, cfg.Clients)
	assert.Equal(t, 100000, cfg.Flows)
	assert.Equal(t, 125, cfg.Workers)
	assert.Equal(t, 15*time.Minute, cfg.TimeLimit)

	_, err = Config{Clients: 3}.withDefaults()
	assert.Error(t, err)
	_, err = Config{ExpiryTimeout: time.Millisecond}.withDefaults()
	assert.Error(t, err)
	_, err = Config{Chaos: []string{"kill-restart"}}.withDefaults()
	assert.Error(t, err, "chaos needs a cluster")
	_, err = Config{Cluster: 3, Chaos: []string{"nope"}}.withDefaults()
	assert.Error(t, err)
}

func TestActionTable(t *testing.T) {
	total := 0
	var names []string
	for _, a := range actions {
		require.Positive(t, a.weight, a.name)
		require.NotContains(t, names, a.name, "duplicate action name")
		names = append(names, a.name)
		total += a.weight
	}
	assert.Equal(t, 100, total, "weights are percentages")
}
