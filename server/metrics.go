package server

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rtmcall/rtmcall/core"
)

// metrics are the node's Prometheus metrics, served at /metrics. Each node
// has its own registry, so several nodes in one process (tests) do not clash.
type metrics struct {
	reg *prometheus.Registry

	logins          *prometheus.CounterVec // result: ok or the error code name
	resumes         *prometheus.CounterVec // result: ok or the error code name
	sessionsEnded   *prometheus.CounterVec // why
	frames          prometheus.Counter
	errors          *prometheus.CounterVec // code: the error code name
	rateLimited     prometheus.Counter
	invitations     prometheus.Counter     // created
	outcomes        *prometheus.CounterVec // state, reason
	receiptLatency  prometheus.Histogram   // send to the first ack
	answerLatency   *prometheus.HistogramVec
	pendingInvitees prometheus.Gauge
	lateRings       prometheus.Counter // invites to sessions that appeared after the send
	moves           prometheus.Counter // sessions a draining node moved
	movedDropped    prometheus.Counter // peer messages to moved sessions past MaxMovedMessages
	drainTimeouts   prometheus.Counter // drains that reached their timeout
	eventsDropped   prometheus.Counter
	clusterGaps     prometheus.Counter     // peers reset for a lost message
	tooLarge        *prometheus.CounterVec // kind: messages between nodes refused for their size
	settles         *prometheus.CounterVec // result: settled, late, restarted
	busySyncs       prometheus.Counter     // syncs before acting on a busy that rests on other nodes' word
	writeWaits      prometheus.Counter     // batches the socket did not take at once

	// The children of outcomes without a reason and of answerLatency, by
	// state and event, made on first use: WithLabelValues hashes and
	// checks its labels on every call, twice per flow. Guarded by Node.mu.
	outcomeOf [maxEnum]prometheus.Counter
	answerBy  [maxEnum]prometheus.Observer
}

// maxEnum bounds the values of the core enums metrics are labeled by.
const maxEnum = 16

// outcome is outcomes' counter for an invitation ended in state for reason.
// Node.mu is held.
func (m *metrics) outcome(state core.LocalInvitationState, reason string) prometheus.Counter {
	if reason != "" || int(state) >= maxEnum {
		return m.outcomes.WithLabelValues(state.String(), reason)
	}
	if m.outcomeOf[state] == nil {
		m.outcomeOf[state] = m.outcomes.WithLabelValues(state.String(), "")
	}
	return m.outcomeOf[state]
}

// answered is answerLatency's histogram for an answer ev. Node.mu is held.
func (m *metrics) answered(ev core.LocalEvent) prometheus.Observer {
	if int(ev) >= maxEnum {
		return m.answerLatency.WithLabelValues(ev.String())
	}
	if m.answerBy[ev] == nil {
		m.answerBy[ev] = m.answerLatency.WithLabelValues(ev.String())
	}
	return m.answerBy[ev]
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rtmcall_logins_total",
		Help: "Login requests by result: ok or the error code name."}, []string{"result"})
	m.resumes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rtmcall_resumes_total",
		Help: "Resume requests by result: ok or the error code name."}, []string{"result"})
	m.sessionsEnded = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rtmcall_sessions_ended_total",
		Help: "Sessions ended, by why: logout, closed, grace, token_expired, banned, kicked, too_slow, shutdown, resume_lost."}, []string{"why"})
	m.frames = prometheus.NewCounter(prometheus.CounterOpts{Name: "rtmcall_frames_received_total",
		Help: "Frames received from clients, valid or not."})
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rtmcall_error_replies_total",
		Help: "Error frames sent, by code name."}, []string{"code"})
	m.rateLimited = prometheus.NewCounter(prometheus.CounterOpts{Name: "rtmcall_rate_limited_total",
		Help: "Frames rejected by the per-connection rate limit."})
	m.invitations = prometheus.NewCounter(prometheus.CounterOpts{Name: "rtmcall_invitations_total",
		Help: "Invitations created by send."})
	m.outcomes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rtmcall_invitation_outcomes_total",
		Help: "Ended invitations by the caller's terminal state and, for FAILURE, the reason."}, []string{"state", "reason"})
	m.receiptLatency = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "rtmcall_invitation_receipt_seconds",
		Help: "From send to the first callee device's acknowledgement.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)})
	m.answerLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "rtmcall_invitation_answer_seconds",
		Help: "From send to the answer, by answer: accepted, refused, canceled.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 18)},
		[]string{"answer"})
	m.pendingInvitees = prometheus.NewGauge(prometheus.GaugeOpts{Name: "rtmcall_invitations_pending",
		Help: "Invitations not yet ended."})
	m.lateRings = prometheus.NewCounter(prometheus.CounterOpts{Name: "rtmcall_invitation_late_rings_total",
		Help: "Invites sent to a callee session that logged in while the invitation was pending."})
	m.moves = prometheus.NewCounter(prometheus.CounterOpts{Name: "rtmcall_drain_moves_total",
		Help: "Sessions a draining node told to move (bye MOVED, close 1012)."})
	m.movedDropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "rtmcall_drain_moved_messages_dropped_total",
		Help: "Peer messages to a moved session past what it holds for its device's next session (MaxMovedMessages)."})
	m.drainTimeouts = prometheus.NewCounter(prometheus.CounterOpts{Name: "rtmcall_drain_timeouts_total",
		Help: "Drains that reached their timeout with something left to end."})
	m.eventsDropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "rtmcall_events_dropped_total",
		Help: "Events (webhooks) dropped because the observer had 65,536 waiting."})
	m.clusterGaps = prometheus.NewCounter(prometheus.CounterOpts{Name: "rtmcall_cluster_gaps_total",
		Help: "Peers reset because a message from them was lost (docs/CLUSTER.md)."})
	m.tooLarge = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rtmcall_cluster_messages_too_large_total",
		Help: "Messages to other nodes not sent because they were over the broker's max_payload, by kind: each is a lost message (docs/CLUSTER.md \"Message size\")."}, []string{"kind"})
	m.settles = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rtmcall_cluster_settles_total",
		Help: "Invitations owned by a node that reset this one, by how they ended here: settled by their owner, late (failed after PeerTimeout), restarted (the owner restarted)."}, []string{"result"})
	m.busySyncs = prometheus.NewCounter(prometheus.CounterOpts{Name: "rtmcall_cluster_busy_syncs_total",
		Help: "Syncs with the peers before a late ring or a send acted on a user's busy that rested on other nodes' word only (docs/CLUSTER.md)."})
	m.writeWaits = prometheus.NewCounter(prometheus.CounterOpts{Name: "rtmcall_write_waits_total",
		Help: "Batches of frames a connection's socket did not take at once, left to a goroutine that waits for it."})
	for _, c := range []prometheus.Collector{m.moves, m.movedDropped, m.drainTimeouts, m.writeWaits, m.settles, m.busySyncs, m.clusterGaps, m.tooLarge, m.eventsDropped, m.logins, m.resumes, m.sessionsEnded, m.frames,
		m.errors, m.rateLimited, m.invitations, m.outcomes, m.receiptLatency, m.answerLatency, m.pendingInvitees, m.lateRings,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		f(c)
	}
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func since(t time.Time) float64 { return time.Since(t).Seconds() }

// sessionGauges count connections and sessions when scraped, under the
// node's lock, rather than keeping counts in step on every change.
func (n *Node) sessionGauges() []prometheus.Collector {
	count := func(f func() int) func() float64 {
		return func() float64 {
			n.mu.Lock()
			defer n.mu.Unlock()
			return float64(f())
		}
	}
	sessions := func(live bool) func() int {
		return func() int {
			k := 0
			for _, s := range n.hub.sessions {
				if s.live == live {
					k++
				}
			}
			return k
		}
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rtmcall_connections",
			Help: "Open WebSocket connections, logged in or not."}, count(func() int { return len(n.hub.conns) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rtmcall_sessions_attached",
			Help: "Sessions with a connection."}, count(sessions(true))),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rtmcall_sessions_detached",
			Help: "Sessions whose connection dropped, within their grace period."}, count(sessions(false))),
	}
}
