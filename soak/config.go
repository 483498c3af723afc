//go:build !js

package soak

import (
	"fmt"
	"io"
	"time"
)

// Config sizes a run. Zero fields take the defaults of `make soak`.
type Config struct {
	// Clients is how many devices (core.Client sessions) log in at the
	// start, spread over users with one to three devices each; default 1000.
	Clients int
	// Flows is how many invitation flows run; default 100000.
	Flows int
	// Seed fixes the random choices of every flow (which action, which
	// device answers, when it leaves); default 1. Timing still varies, and
	// with it which users a flow gets when the ones it drew first are busy.
	Seed uint64
	// Workers is how many flows are in flight at once; default Clients/8
	// (more only makes flows wait for each other's users).
	Workers int
	// TimeLimit fails the run if its flows have not all run by then;
	// default 15 minutes.
	TimeLimit time.Duration
	// FlowDeadline is how long a flow's step may wait for an event, and how
	// long its parties then have to reach their terminal events; default 10 s.
	FlowDeadline time.Duration
	// ExpiryTimeout is the nodes' default invitation timeout, used by the
	// flows that ring out (clients may not ask for less than 1 s); default
	// 300 ms.
	ExpiryTimeout time.Duration
	// TombstoneTTL is how long the nodes remember ended invitations. The
	// run waits this long before its final heap measurement; default 3 s,
	// FlowDeadline in a cluster.
	TombstoneTTL time.Duration
	// ResumeGrace is how long the nodes keep a session whose connection
	// was cut: long enough for a client to resume on a loaded machine,
	// short because flows whose sessions never resume wait it out; default 3 s.
	ResumeGrace time.Duration
	// HeapSlack is how far above its baseline the heap may end, besides
	// what the runtime keeps of the goroutines' peak (goroutineHeap);
	// default 8 MiB.
	HeapSlack uint64
	// Cluster, if not 0, runs the flows on that many nodes joined over
	// embedded clustered NATS, behind one load balancer, instead of two
	// independent nodes (`make soak-cluster`: 3).
	Cluster int
	// Chaos names the chaos kinds (chaosKinds) a cluster run applies in
	// turn while its flows run, one every ChaosEvery (default 5 s); none
	// if empty.
	Chaos      []string
	ChaosEvery time.Duration
	// Progress receives a status line every few seconds; nil for none.
	Progress io.Writer
	// ServerLog, if set, receives the nodes' logs at level info (one line
	// per invitation and session), to follow a flow the report names.
	ServerLog io.Writer
	// ServerLogDebug writes the nodes' debug logs to ServerLog instead
	// (every request and late ring, with its invitation).
	ServerLogDebug bool
	// HeapProfile, if set, receives a pprof heap profile taken at the final
	// heap measurement: what the idle server still holds.
	HeapProfile io.Writer
}

func (c Config) withDefaults() (Config, error) {
	if c.Clients == 0 {
		c.Clients = 1000
	}
	if c.Flows == 0 {
		c.Flows = 100000
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Workers == 0 {
		c.Workers = max(8, c.Clients/8)
	}
	if c.TimeLimit == 0 {
		c.TimeLimit = 15 * time.Minute
	}
	if c.FlowDeadline == 0 {
		c.FlowDeadline = 10 * time.Second
	}
	if c.ExpiryTimeout == 0 {
		c.ExpiryTimeout = 300 * time.Millisecond
	}
	if c.TombstoneTTL == 0 && c.Cluster > 0 {
		// A node's death delays operations by seconds (PeerTimeout): an
		// answer may then come after an invitation's end by more than 3 s,
		// and past the TTL the protocol says NOT_YOURS, not ALREADY_END.
		c.TombstoneTTL = c.FlowDeadline
	}
	if c.TombstoneTTL == 0 {
		c.TombstoneTTL = 3 * time.Second
	}
	if c.ResumeGrace == 0 {
		c.ResumeGrace = 3 * time.Second
	}
	if c.HeapSlack == 0 {
		c.HeapSlack = 8 << 20
	}
	if c.ChaosEvery == 0 {
		c.ChaosEvery = 5 * time.Second
	}
	for _, k := range c.Chaos {
		if _, ok := chaosKind(k); !ok {
			return c, fmt.Errorf("soak: no chaos kind %q (have %v)", k, chaosNames())
		}
	}
	switch {
	case c.Clients < 4*len(c.specs()):
		return c, fmt.Errorf("soak: %d clients are too few: at least %d", c.Clients, 4*len(c.specs()))
	case c.Cluster < 0 || c.Cluster == 1:
		return c, fmt.Errorf("soak: a cluster of %d nodes", c.Cluster)
	case len(c.Chaos) > 0 && c.Cluster == 0:
		return c, fmt.Errorf("soak: chaos needs a cluster")
	case c.Flows < 0 || c.Workers < 0 || c.TimeLimit < 0 || c.FlowDeadline < 0 || c.ExpiryTimeout < 0 || c.TombstoneTTL < 0 || c.ResumeGrace < 0:
		return c, fmt.Errorf("soak: negative sizes in %+v", c)
	case c.ExpiryTimeout < 10*time.Millisecond:
		return c, fmt.Errorf("soak: ExpiryTimeout %v is too short to answer before it", c.ExpiryTimeout)
	}
	return c, nil
}

// shardSpec is one server node of the run and its share of the devices
// and flows.
type shardSpec struct {
	name  string
	share int // percent
	// receipt is the node's receipt timeout (0: the server's default, 10 s).
	receipt time.Duration
	// extra are decisions any flow on this node may end with.
	extra []DecisionKind
}

// specs are the shards of a run: shardSpecs, or one cluster.
func (c Config) specs() []shardSpec {
	if c.Cluster > 0 {
		return clusterSpecs
	}
	return shardSpecs
}

// clusterSpecs: one shard, its nodes clustered; every node has the default
// receipt timeout.
var clusterSpecs = []shardSpec{{name: "cluster", share: 100}}

// shardSpecs: most flows run on a node with the default receipt timeout;
// the rest on one whose 1 ms receipt timeout races the devices'
// acknowledgements, the only way native clients (which always acknowledge)
// meet PEER_NO_RESPONSE.
var shardSpecs = []shardSpec{
	{name: "main", share: 85},
	{name: "receipt", share: 15, receipt: time.Millisecond, extra: []DecisionKind{DecNoResponse}},
}
