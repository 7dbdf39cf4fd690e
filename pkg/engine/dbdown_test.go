package engine_test

import (
	"testing"
	"time"

	"github.com/corridor-dev/corridor/internal/natstest"
	"github.com/corridor-dev/corridor/internal/pgtest"
	"github.com/corridor-dev/corridor/pkg/engine"
)

// TestEngineReportsAndRecoversFromDatabaseOutage stops PostgreSQL (a throwaway cluster, not the
// machine's) under a running engine while fixes arrive: within a second or two of its batches
// failing the engine is not ready (/readyz 503), /metrics shows it (healthy 0, batch failures
// counted) and the log says why; once PostgreSQL is back the engine restores from its
// checkpoint and consumes again by itself within 10 s, ready again, with every fix stored once
// (the replay from the checkpoint writes nothing twice) and nothing lost.
func TestEngineReportsAndRecoversFromDatabaseOutage(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	db := cluster.DB(t)
	bus := natstest.New(t)
	e := &env{t: t, db: db, bus: bus}
	e.seed()
	// Rule state is checkpointed rarely here, so that the outage is found by the batch that
	// cannot be committed (not by the idle loop's lease check, which comes with a checkpoint),
	// and so that recovery replays every fix since the start: nothing may be written twice.
	o := startObserved(t, engine.Config{CheckpointEvery: time.Minute}, db, bus)

	t0 := time.Now().Add(-2 * time.Minute).Truncate(time.Second)
	e.publish(fix(t0, 107.001, 29.8001), fix(t0.Add(10*time.Second), 107.003, 29.8001))
	waitFor(t, 10*time.Second, "2 fixes stored", func() bool { return e.positions() == 2 })

	cluster.Stop()
	e.publish(fix(t0.Add(20*time.Second), 107.005, 29.8001), fix(t0.Add(30*time.Second), 107.007, 29.8001),
		fix(t0.Add(40*time.Second), 107.009, 29.8001))
	var failing, notReady time.Time
	waitFor(t, 20*time.Second, "batches failing and the engine not ready", func() bool {
		now := time.Now()
		if failing.IsZero() && o.metric(t, "corridor_engine_batch_failures_total") > 0 {
			failing = now
		}
		if notReady.IsZero() && o.eng.Ready() != nil {
			notReady = now
		}
		return !failing.IsZero() && !notReady.IsZero()
	})
	lag := notReady.Sub(failing)
	t.Logf("not ready %v after the first failed batch was counted: %v", lag.Round(time.Millisecond), o.eng.Ready())
	// The design is one second of grace (one retry is not an outage); the bound is generous for
	// a loaded machine.
	if lag > 5*time.Second {
		t.Errorf("not ready only %v after batches began failing", lag)
	}
	if v := o.metric(t, "corridor_engine_healthy"); v != 0 {
		t.Errorf("corridor_engine_healthy = %v with the database down, want 0", v)
	}
	if l := o.log.Lines("level=ERROR", "batch failed; retrying it"); len(l) == 0 {
		t.Errorf("no log line says the batch failed")
	} else {
		t.Logf("log: %s", l[0])
	}
	// It stays not ready for as long as the database is down.
	waitFor(t, 20*time.Second, "the engine trying to take its lease again", func() bool {
		return len(o.log.Lines("engine: partition lease")) > 0 || len(o.log.Lines("partition stopped")) > 0
	})
	if err := o.eng.Ready(); err == nil {
		t.Fatal("ready with the database down")
	}

	cluster.Start()
	back := time.Now()
	waitFor(t, 30*time.Second, "5 fixes stored and the engine ready", func() bool {
		return e.positions() == 5 && o.eng.Ready() == nil
	})
	if d := time.Since(back); d > 10*time.Second {
		t.Fatalf("recovered %v after PostgreSQL came back, want within 10 s", d)
	} else {
		t.Logf("recovered %v after PostgreSQL came back", d.Round(time.Millisecond))
	}
	if v := o.metric(t, "corridor_engine_healthy"); v != 1 {
		t.Errorf("corridor_engine_healthy = %v after recovery, want 1", v)
	}
	e.publish(fix(t0.Add(50*time.Second), 107.011, 29.8001))
	waitFor(t, 10*time.Second, "6 fixes stored", func() bool { return e.positions() == 6 })
	storedOnce(t, db, 6)
}
