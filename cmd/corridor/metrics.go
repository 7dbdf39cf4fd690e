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

func newGatewayCollector(gw *gateway.Server) *gatewayCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("corridor_jt808_"+name, help, nil, nil)
	}
	return &gatewayCollector{gw: gw, descs: map[string]*prometheus.Desc{
		"frames_ok":            d("frames_ok_total", "Frames decoded."),
		"frames_bad":           d("frames_bad_total", "Frames refused (check code, length, escapes)."),
		"positions":            d("positions_published_total", "Positions stored in JetStream."),
		"publish_failures":     d("publish_failures_total", "Publishes that failed (the terminal was told to retry)."),
		"reports_rejected":     d("reports_rejected_total", "Location reports not accepted as positions (not authenticated)."),
		"connections_active":   d("connections_active", "Open terminal connections."),
		"connections_total":    d("connections_total", "Terminal connections accepted."),
		"connections_rejected": d("connections_rejected_total", "Terminal connections refused (limit)."),
	}}
}

func (c *gatewayCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *gatewayCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.gw.Stats()
	counter := func(k string, v uint64) {
		ch <- prometheus.MustNewConstMetric(c.descs[k], prometheus.CounterValue, float64(v))
	}
	counter("frames_ok", uint64(s.FramesOK))
	counter("frames_bad", uint64(s.FramesBad))
	counter("positions", uint64(s.PositionsPublished))
	counter("publish_failures", uint64(s.PublishFailures))
	counter("reports_rejected", uint64(s.ReportsRejected))
	counter("connections_total", uint64(s.ConnectionsTotal))
	counter("connections_rejected", uint64(s.ConnectionsRejected))
	ch <- prometheus.MustNewConstMetric(c.descs["connections_active"], prometheus.GaugeValue, float64(s.ConnectionsActive))
}
