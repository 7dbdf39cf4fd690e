// Package escalate escalates critical alarms that nobody acknowledged in time (GB/T 35658 asks
// that alarms be handled, and that an unhandled one go up the chain): a critical alarm still open
// (neither acknowledged nor resolved) CORRIDOR_ESCALATE_AFTER after Corridor raised it gets
// escalated_at and one event
//
//	{"event": "escalated", "alarm": <Alarm>, "reason": "unacknowledged"}
//
// on alarms.<kind>.<carrier>.<vehicle> (through the alarm outbox, so on ALARMS and on the SSE
// stream). Whether the alarm is still active does not matter: a cleared alarm nobody looked at
// is still unhandled.
//
// [Due] is the rule, pure; [Escalator] is the loop. The loop never scans the alarms table: each
// pass is one query on a partial index (open, critical, not escalated; ordered by when stored),
// and between passes it sleeps until the oldest such alarm falls due ([Wait]), at most MaxWait.
package escalate

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// DefaultAfter is the default of CORRIDOR_ESCALATE_AFTER.
const DefaultAfter = 5 * time.Minute

// Due reports whether an alarm escalates at now: it is critical, still open (not acknowledged,
// not resolved), has not escalated, and was stored by Corridor at least after before now.
func Due(severity, state string, escalated bool, stored, now time.Time, after time.Duration) bool {
	return severity == tracking.SeverityCritical && state == tracking.StateOpen && !escalated && !stored.Add(after).After(now)
}

// Wait returns how long the loop may sleep at now: until the oldest candidate (stored at oldest;
// none when !ok) falls due, at least 0 and at most maxWait (so that alarms raised meanwhile are
// seen in time).
func Wait(oldest time.Time, ok bool, now time.Time, after, maxWait time.Duration) time.Duration {
	if !ok {
		return maxWait
	}
	return max(0, min(oldest.Add(after).Sub(now), maxWait))
}

// Store is what the loop needs of the database (*postgres.DB implements it).
type Store interface {
	// EscalateUnacknowledged escalates at most limit alarms Due at now, oldest first, storing
	// each one's escalated event with it; each alarm escalates once whoever calls it.
	EscalateUnacknowledged(ctx context.Context, now time.Time, after time.Duration, limit int) ([]tracking.Alarm, error)
	// OldestUnescalated returns when the oldest open, critical, not escalated alarm was stored.
	OldestUnescalated(ctx context.Context) (time.Time, bool, error)
}

// Config configures an Escalator.
type Config struct {
	// After is CORRIDOR_ESCALATE_AFTER; 0 is DefaultAfter.
	After time.Duration
	// MaxWait bounds the sleep between passes; 0 is min(After, 10 s).
	MaxWait time.Duration
	// Batch is the most alarms escalated per transaction; 0 is 500.
	Batch int
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Log receives failures and escalations; nil discards.
	Log *slog.Logger
	// Metrics registers corridor_alarms_escalated_total and corridor_escalation_errors_total; nil: none.
	Metrics prometheus.Registerer
}

// Escalator is the escalation loop.
type Escalator struct {
	cfg       Config
	store     Store
	escalated prometheus.Counter
	errors    prometheus.Counter
}

// New returns an escalation loop over store.
func New(cfg Config, store Store) *Escalator {
	if cfg.After <= 0 {
		cfg.After = DefaultAfter
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = min(cfg.After, 10*time.Second)
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	e := &Escalator{cfg: cfg, store: store,
		escalated: prometheus.NewCounter(prometheus.CounterOpts{Name: "corridor_alarms_escalated_total",
			Help: "Critical alarms escalated because nobody acknowledged them within CORRIDOR_ESCALATE_AFTER."}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "corridor_escalation_errors_total",
			Help: "Escalation passes that failed (database unreachable, ...); the loop retries."}),
	}
	if cfg.Metrics != nil {
		cfg.Metrics.MustRegister(e.escalated, e.errors)
	}
	return e
}

// Step runs one pass at the clock's now: it escalates every alarm due (in batches) and returns
// how many it escalated and how long to wait before the next pass.
func (e *Escalator) Step(ctx context.Context) (int, time.Duration, error) {
	total := 0
	for {
		now := e.cfg.Now()
		as, err := e.store.EscalateUnacknowledged(ctx, now, e.cfg.After, e.cfg.Batch)
		if err != nil {
			return total, 0, err
		}
		total += len(as)
		e.escalated.Add(float64(len(as)))
		for i := range as {
			e.cfg.Log.Info("alarm escalated: critical and unacknowledged", "alarm_id", as[i].ID, "kind", as[i].Kind,
				"vehicle_id", as[i].VehicleID, "carrier_id", as[i].CarrierID, "after", e.cfg.After.String())
		}
		if len(as) < e.cfg.Batch {
			break
		}
		if ctx.Err() != nil {
			return total, 0, ctx.Err()
		}
	}
	oldest, ok, err := e.store.OldestUnescalated(ctx)
	if err != nil {
		return total, 0, err
	}
	return total, Wait(oldest, ok, e.cfg.Now(), e.cfg.After, e.cfg.MaxWait), nil
}

// Run escalates until ctx ends. A failing pass is logged and counted and retried after MaxWait:
// the loop recovers by itself when the database does.
func (e *Escalator) Run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, wait, err := e.Step(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			e.errors.Inc()
			e.cfg.Log.Warn("escalation pass failed; retrying", "err", err, "retry_in", e.cfg.MaxWait.String())
			wait = e.cfg.MaxWait
		}
		// An alarm another process is escalating right now is skipped and still due: do not spin.
		t.Reset(max(wait, 50*time.Millisecond))
	}
}
