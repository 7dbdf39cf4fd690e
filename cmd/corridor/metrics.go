package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/corridor-dev/corridor/pkg/jt808/gateway"
)

// gatewayCollector exposes the JT/T 808 gateway's counters on /metrics.
type gatewayCollector struct {
	gw    *gateway.Server
	descs map[string]*prometheus.Desc
}

// gatewayCounters are the gateway's counters: metric name (after corridor_jt808_), help, value.
var gatewayCounters = []struct {
	name, help string
	value      func(gateway.Stats) uint64
}{
	{"frames_ok_total", "Frames decoded.", func(s gateway.Stats) uint64 { return s.FramesOK }},
	{"frames_bad_total", "Frames refused (check code, length, escapes).", func(s gateway.Stats) uint64 { return s.FramesBad }},
	{"positions_published_total", "Positions stored in JetStream.", func(s gateway.Stats) uint64 { return s.PositionsPublished }},
	{"publish_failures_total", "Publishes that failed (the terminal was told to retry).", func(s gateway.Stats) uint64 { return s.PublishFailures }},
	{"reports_rejected_total", "Location reports not accepted as positions (not authenticated).", func(s gateway.Stats) uint64 { return s.ReportsRejected }},
	{"registrations_total", "Terminals registered (0x8100 result 0).", func(s gateway.Stats) uint64 { return s.Registrations }},
	{"registrations_refused_total", "Registrations answered result 3 (terminal registered already, or unknown).", func(s gateway.Stats) uint64 { return s.RegistrationsRefused }},
	{"authentications_total", "Successful authentications.", func(s gateway.Stats) uint64 { return s.AuthOK }},
	{"authentication_failures_total", "Failed authentications.", func(s gateway.Stats) uint64 { return s.AuthFailed }},
	{"attempts_limited_total", "Registration/authentication attempts refused by the rate limits.", func(s gateway.Stats) uint64 { return s.AttemptsLimited }},
	{"auth_timeouts_total", "Connections closed for not authenticating in time.", func(s gateway.Stats) uint64 { return s.AuthTimeouts }},
	{"idle_timeouts_total", "Connections closed for sending no valid frame in time.", func(s gateway.Stats) uint64 { return s.IdleTimeouts }},
	{"sessions_replaced_total", "Sessions closed because the terminal authenticated on a new connection.", func(s gateway.Stats) uint64 { return s.SessionsReplaced }},
	{"sessions_closed_on_change_total", "Sessions closed because their vehicle changed.", func(s gateway.Stats) uint64 { return s.SessionsClosedOnChange }},
	{"reassembly_refused_total", "Subpackages refused (limits, or not authenticated).", func(s gateway.Stats) uint64 { return s.ReassemblyRefused }},
	{"rejection_record_failures_total", "Refused fixes that could not be recorded as dead letters.", func(s gateway.Stats) uint64 { return s.RejectionRecordFailures }},
	{"logs_suppressed_total", "Log lines dropped by the per-source log limit.", func(s gateway.Stats) uint64 { return s.LogsSuppressed }},
	{"connections_total", "Terminal connections accepted.", func(s gateway.Stats) uint64 { return uint64(s.ConnectionsTotal) }},
	{"connections_rejected_total", "Terminal connections refused (limit).", func(s gateway.Stats) uint64 { return uint64(s.ConnectionsRejected) }},
	{"connections_rejected_per_address_total", "Terminal connections refused (limit per source address).", func(s gateway.Stats) uint64 { return uint64(s.ConnectionsRejectedPerIP) }},
}

func newGatewayCollector(gw *gateway.Server) *gatewayCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("corridor_jt808_"+name, help, labels, nil)
	}
	c := &gatewayCollector{gw: gw, descs: map[string]*prometheus.Desc{
		"connections_active": d("connections_active", "Open terminal connections."),
		"reassembly_bytes":   d("reassembly_bytes", "Bytes held by subpackage reassembly over all connections."),
		"fixes_rejected":     d("fixes_rejected_total", "Fixes refused for their time, by reason (stale_fix, future_fix).", "reason"),
	}}
	for _, g := range gatewayCounters {
		c.descs[g.name] = d(g.name, g.help)
	}
	return c
}

func (c *gatewayCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *gatewayCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.gw.Stats()
	for _, g := range gatewayCounters {
		ch <- prometheus.MustNewConstMetric(c.descs[g.name], prometheus.CounterValue, float64(g.value(s)))
	}
	ch <- prometheus.MustNewConstMetric(c.descs["fixes_rejected"], prometheus.CounterValue, float64(s.StaleFixes), "stale_fix")
	ch <- prometheus.MustNewConstMetric(c.descs["fixes_rejected"], prometheus.CounterValue, float64(s.FutureFixes), "future_fix")
	ch <- prometheus.MustNewConstMetric(c.descs["connections_active"], prometheus.GaugeValue, float64(s.ConnectionsActive))
	ch <- prometheus.MustNewConstMetric(c.descs["reassembly_bytes"], prometheus.GaugeValue, float64(c.gw.ReassemblyBytes()))
}
