package engine_test

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corridor-dev/corridor/internal/logbuf"
	"github.com/corridor-dev/corridor/internal/natstest"
	"github.com/corridor-dev/corridor/internal/pgtest"
	"github.com/corridor-dev/corridor/pkg/engine"
	"github.com/corridor-dev/corridor/pkg/natsbus"
	"github.com/corridor-dev/corridor/pkg/postgres"
	"github.com/corridor-dev/corridor/pkg/rules"
)

// observed is an engine run whose log and metrics the test reads.
type observed struct {
	eng *engine.Engine
	reg *prometheus.Registry
	log *logbuf.Buffer
}

// startObserved runs an engine with its own log and metrics registry until the test ends.
func startObserved(t *testing.T, cfg engine.Config, db *postgres.DB, bus *natsbus.Bus) *observed {
	t.Helper()
	o := &observed{reg: prometheus.NewRegistry(), log: &logbuf.Buffer{}}
	if cfg.FetchWait == 0 {
		cfg.FetchWait = 50 * time.Millisecond
	}
	cfg.Rules = rules.DefaultConfig()
	o.eng = engine.New(cfg, db, bus, slog.New(slog.NewTextHandler(o.log, nil)), o.reg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := o.eng.Run(ctx); err != nil {
			t.Errorf("engine: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("engine log:\n%s", strings.Join(o.log.Lines(), "\n"))
		}
	})
	waitFor(t, 15*time.Second, "engine ready", func() bool { return o.eng.Ready() == nil })
	return o
}

// metric is the value of the engine's counter or gauge name (0 when it has none yet).
func (o *observed) metric(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := o.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var v float64
		for _, m := range mf.GetMetric() {
			switch {
			case m.Counter != nil:
				v += m.Counter.GetValue()
			case m.Gauge != nil:
				v += m.Gauge.GetValue()
			}
		}
		return v
	}
	return 0
}

// storedOnce checks that history holds exactly n fixes of v1, none of them twice.
func storedOnce(t *testing.T, db *postgres.DB, n int) {
	t.Helper()
	var all, distinct int
	if err := db.Pool.QueryRow(context.Background(),
		`select count(*), count(distinct (vehicle_id, ts)) from positions`).Scan(&all, &distinct); err != nil {
		t.Fatal(err)
	}
	if all != n || distinct != n {
		t.Fatalf("history holds %d fixes (%d distinct), want %d, each once", all, distinct, n)
	}
}

// TestEngineReportsAndRecoversFromStalledConsumer makes the engine's consumer deliver nothing
// while messages are pending — the engine's pull requests are dropped by the server (its user
// may no longer publish them), so every fetch ends empty and without an error, as with the
// nats-server 2.9 stall — and shows the watchdog at work: within a few seconds the engine is
// not ready (/readyz 503), counts the stall, and logs why; recreating the consumer does not
// cure this cause, so it stays not ready; once the pull requests pass again it consumes by
// itself within 10 s, ready again, every fix stored once. Without the watchdog the engine stays
// "ready" and silent for as long as the cause lasts. With the embedded server and with Debian's
// nats-server 2.9 (reloaded by SIGHUP).
func TestEngineReportsAndRecoversFromStalledConsumer(t *testing.T) {
	t.Run("embedded", func(t *testing.T) { testStall(t, natstest.NewRestricted(t)) })
	t.Run("nats-server-binary", func(t *testing.T) {
		bin := "/usr/sbin/nats-server"
		if _, err := os.Stat(bin); err != nil {
			t.Skip("no", bin)
		}
		testStall(t, natstest.NewRestrictedBinary(t, bin))
	})
}

func testStall(t *testing.T, srv *natstest.Restricted) {
	admin := srv.Connect("admin")
	db := pgtest.New(t)
	e := &env{t: t, db: db, bus: admin}
	e.seed()
	o := startObserved(t, engine.Config{StallAfter: 2 * time.Second}, db, srv.Connect("client"))

	t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	e.publish(fix(t0, 107.001, 29.8001), fix(t0.Add(10*time.Second), 107.003, 29.8001))
	waitFor(t, 10*time.Second, "2 fixes stored", func() bool { return e.positions() == 2 })
	if v := o.metric(t, "corridor_engine_consumer_stalls_total"); v != 0 {
		t.Fatalf("stalls before the fault: %v", v)
	}

	srv.DenyClient("$JS.API.CONSUMER.MSG.NEXT.>")
	faulted := time.Now()
	// A pull request that reached the server before the change may still be waiting there.
	waitFor(t, 10*time.Second, "no pull request waiting at the server", func() bool {
		c, err := admin.JS.Consumer(context.Background(), natsbus.StreamTelemetry, natsbus.EngineConsumer+"-1-0")
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.NumWaiting == 0
	})
	e.publish(fix(t0.Add(20*time.Second), 107.005, 29.8001), fix(t0.Add(30*time.Second), 107.007, 29.8001),
		fix(t0.Add(40*time.Second), 107.009, 29.8001))
	// Not ready, the stall counted and the reason logged (on a very loaded machine a fetch may
	// also outlive its own bound first: that is reported too, but only the watchdog sees this).
	waitFor(t, 20*time.Second, "engine not ready, the stall counted and logged", func() bool {
		return o.eng.Ready() != nil && o.metric(t, "corridor_engine_consumer_stalls_total") >= 1 &&
			len(o.log.Lines("level=WARN", "delivered nothing", "3 messages are pending")) > 0
	})
	t.Logf("not ready %v after the fault: %v", time.Since(faulted).Round(time.Millisecond), o.eng.Ready())
	t.Logf("log: %s", o.log.Lines("level=WARN", "delivered nothing")[0])
	if v := o.metric(t, "corridor_engine_healthy"); v != 0 {
		t.Errorf("corridor_engine_healthy = %v while stalled, want 0", v)
	}
	if v := o.metric(t, "corridor_engine_consumer_pending"); v != 3 {
		t.Errorf("corridor_engine_consumer_pending = %v while stalled, want 3", v)
	}
	if n := e.positions(); n != 2 {
		t.Fatalf("%d fixes stored while the consumer delivered nothing", n)
	}
	// The engine recreates the consumer, which does not cure this cause: it stays not ready.
	recreated := o.metric(t, "corridor_engine_consumer_created_total")
	waitFor(t, 20*time.Second, "the consumer recreated", func() bool {
		return o.metric(t, "corridor_engine_consumer_created_total") > recreated
	})
	if err := o.eng.Ready(); err == nil {
		t.Fatal("ready again although the consumer still delivers nothing")
	}

	cured := time.Now() // (a binary applies the change at some point before DenyClient returns)
	srv.DenyClient()
	waitFor(t, 20*time.Second, "5 fixes stored and the engine ready", func() bool {
		return e.positions() == 5 && o.eng.Ready() == nil
	})
	if d := time.Since(cured); d > 10*time.Second {
		t.Fatalf("recovered %v after the cause went away, want within 10 s", d)
	} else {
		t.Logf("recovered %v after the cause went away", d.Round(time.Millisecond))
	}
	if v := o.metric(t, "corridor_engine_healthy"); v != 1 {
		t.Errorf("corridor_engine_healthy = %v after recovery, want 1", v)
	}
	if l := o.log.Lines("making progress again"); len(l) == 0 {
		t.Errorf("no log line says the engine makes progress again")
	}
	// Later fixes flow as usual, and nothing was stored twice.
	e.publish(fix(t0.Add(50*time.Second), 107.011, 29.8001))
	waitFor(t, 10*time.Second, "6 fixes stored", func() bool { return e.positions() == 6 })
	storedOnce(t, db, 6)
}
