package engine

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	fixes              *prometheus.CounterVec
	deadLetters        *prometheus.CounterVec
	alarmChanges       *prometheus.CounterVec
	batchSeconds       prometheus.Histogram
	checkpointSeconds  prometheus.Histogram
	healthy            prometheus.GaugeFunc
	partitions         prometheus.Gauge
	pending            *prometheus.GaugeVec
	streamSeq          *prometheus.GaugeVec
	checkpointSeq      *prometheus.GaugeVec
	batchFailures      prometheus.Counter
	fetchErrors        prometheus.Counter
	stalls             prometheus.Counter
	consumerRecreated  prometheus.Counter
	streamRewinds      prometheus.Counter
	deadLetterFailures prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, healthy func() float64) *metrics {
	m := &metrics{
		fixes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "corridor_engine_fixes_total",
			Help: "Fixes written to history (stored) or already there (duplicate)."}, []string{"result"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "corridor_engine_dead_letters_total",
			Help: "Inputs the engine dead-lettered, by reason."}, []string{"reason"}),
		alarmChanges: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "corridor_engine_alarm_changes_total",
			Help: "Alarm changes the rules produced, by kind and event."}, []string{"kind", "event"}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "corridor_engine_batch_seconds",
			Help: "Time to process and commit one batch.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		checkpointSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "corridor_engine_checkpoint_seconds",
			Help: "Time to write one rule-state checkpoint.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		healthy: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "corridor_engine_healthy",
			Help: "1 while the engine makes progress (/readyz); 0 while a partition's batch keeps failing, its consumer is stalled or NATS/the database fail."}, healthy),
		partitions: prometheus.NewGauge(prometheus.GaugeOpts{Name: "corridor_engine_partitions_owned",
			Help: "Stream partitions this engine holds the lease of (0: standby)."}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "corridor_engine_consumer_pending",
			Help: "Messages a partition's consumer has not delivered yet, as last asked while idle."}, []string{"partition"}),
		streamSeq: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "corridor_engine_stream_seq",
			Help: "Last TELEMETRY stream sequence a partition committed."}, []string{"partition"}),
		checkpointSeq: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "corridor_engine_checkpoint_seq",
			Help: "TELEMETRY stream sequence of a partition's last rule-state checkpoint."}, []string{"partition"}),
		batchFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "corridor_engine_batch_failures_total",
			Help: "Batch attempts that failed (and were retried)."}),
		fetchErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "corridor_engine_fetch_errors_total",
			Help: "Fetches from NATS that failed, outlived their bound, or found the consumer stalled."}),
		stalls: prometheus.NewCounter(prometheus.CounterOpts{Name: "corridor_engine_consumer_stalls_total",
			Help: "Times the consumer delivered nothing while messages were pending, or a delivery was missed."}),
		consumerRecreated: prometheus.NewCounter(prometheus.CounterOpts{Name: "corridor_engine_consumer_created_total",
			Help: "Times the engine (re)created its consumer from its committed stream position."}),
		streamRewinds: prometheus.NewCounter(prometheus.CounterOpts{Name: "corridor_engine_stream_rewinds_total",
			Help: "Times the TELEMETRY stream ended before the engine's position (the server lost acknowledged messages) and the engine went back to its end."}),
		deadLetterFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "corridor_engine_dead_letter_failures_total",
			Help: "Inputs skipped because NATS (while up) refused their dead letter."}),
	}
	if reg != nil {
		reg.MustRegister(m.fixes, m.deadLetters, m.alarmChanges, m.batchSeconds, m.checkpointSeconds, m.healthy, m.partitions,
			m.pending, m.streamSeq, m.checkpointSeq, m.batchFailures, m.fetchErrors, m.stalls, m.consumerRecreated, m.streamRewinds, m.deadLetterFailures)
	}
	return m
}
