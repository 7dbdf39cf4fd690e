package engine

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	fixes        *prometheus.CounterVec
	deadLetters  *prometheus.CounterVec
	alarmChanges *prometheus.CounterVec
	batchSeconds prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		fixes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "corridor_engine_fixes_total",
			Help: "Fixes written to history (stored) or already there (duplicate)."}, []string{"result"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "corridor_engine_dead_letters_total",
			Help: "Inputs the engine dead-lettered, by reason."}, []string{"reason"}),
		alarmChanges: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "corridor_engine_alarm_changes_total",
			Help: "Alarm changes the rules produced, by kind and event."}, []string{"kind", "event"}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "corridor_engine_batch_seconds",
			Help: "Time to process and commit one batch.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
	}
	if reg != nil {
		reg.MustRegister(m.fixes, m.deadLetters, m.alarmChanges, m.batchSeconds)
	}
	return m
}
