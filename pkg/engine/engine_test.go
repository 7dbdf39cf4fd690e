package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/corridor-dev/corridor/internal/natstest"
	"github.com/corridor-dev/corridor/internal/pgtest"
	"github.com/corridor-dev/corridor/internal/waitfor"
	"github.com/corridor-dev/corridor/pkg/engine"
	"github.com/corridor-dev/corridor/pkg/natsbus"
	"github.com/corridor-dev/corridor/pkg/postgres"
	"github.com/corridor-dev/corridor/pkg/rules"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

type env struct {
	t    testing.TB
	db   *postgres.DB
	bus  *natsbus.Bus
	stop func()
	eng  *engine.Engine // the engine start started last
	// partitions is the engine's Config.Partitions (0: the default, 1)
	partitions int
	mu         sync.Mutex
	got        []tracking.AlarmEvent
	dead       []natsbus.DeadLetter
}

func newEnv(t *testing.T) *env { return newEnvB(t) }

func newEnvB(t testing.TB) *env {
	t.Helper()
	db := pgtest.New(t)
	bus := natstest.New(t)
	e := &env{t: t, db: db, bus: bus}
	sub, err := bus.NC.Subscribe("alarms.>", func(m *nats.Msg) {
		var ev tracking.AlarmEvent
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Errorf("alarm event: %v", err)
		}
		e.mu.Lock()
		e.got = append(e.got, ev)
		e.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	sub2, _ := bus.NC.Subscribe("deadletter.>", func(m *nats.Msg) {
		var dl natsbus.DeadLetter
		_ = json.Unmarshal(m.Data, &dl)
		e.mu.Lock()
		e.dead = append(e.dead, dl)
		e.mu.Unlock()
	})
	t.Cleanup(func() { _ = sub2.Unsubscribe() })
	return e
}

func (e *env) start() {
	ctx, cancel := context.WithCancel(context.Background())
	eng := engine.New(engine.Config{Rules: rules.DefaultConfig(), FetchWait: 50 * time.Millisecond, Partitions: e.partitions}, e.db, e.bus, nil, nil)
	e.eng = eng
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := eng.Run(ctx); err != nil {
			e.t.Errorf("engine: %v", err)
		}
	}()
	waitForTB(e.t, 10*time.Second, "engine ready", func() bool { return eng.Ready() == nil })
	e.stop = func() { cancel(); <-done }
	e.t.Cleanup(func() { cancel(); <-done })
}

func (e *env) execB(sql string, args ...any) { e.t.Helper(); e.exec(sql, args...) }

func (e *env) startB() { e.start() }

func (e *env) exec(sql string, args ...any) {
	e.t.Helper()
	if _, err := e.db.Pool.Exec(context.Background(), sql, args...); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}

func (e *env) publish(ps ...tracking.Position) {
	e.t.Helper()
	if err := e.bus.PublishPositions(context.Background(), ps); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) events() []tracking.AlarmEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]tracking.AlarmEvent(nil), e.got...)
}

func (e *env) deadLetters() []natsbus.DeadLetter {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]natsbus.DeadLetter(nil), e.dead...)
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	waitForTB(t, d, what, cond)
}

func waitForTB(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	waitfor.For(t, d, what, cond)
}

// seed: carrier c1, vehicle v1, a corridor along latitude 29.80 from 107.00 to 107.05 with a
// 200 m buffer, and a trip active for the next hour. It returns the corridor id.
func (e *env) seed() string {
	e.exec(`insert into carriers (id, name) values ('c1', 'Changshou Chemical Logistics')`)
	e.exec(`insert into vehicles (id, carrier_id, plate) values ('v1', 'c1', '渝A·D1234')`)
	var cid string
	if err := e.db.Pool.QueryRow(context.Background(), `insert into corridors (name, geom, buffer_m) values
		('test', 'SRID=4326;LINESTRING(107.00 29.80, 107.02 29.801, 107.05 29.80)'::geography, 200) returning id::text`).Scan(&cid); err != nil {
		e.t.Fatal(err)
	}
	e.exec(`insert into trips (vehicle_id, carrier_id, corridor_id, starts_at, ends_at) values ('v1', 'c1', $1, now() - interval '1 hour', now() + interval '1 hour')`, cid)
	return cid
}

func fix(ts time.Time, lon, lat float64) tracking.Position {
	s := 50.0
	return tracking.Position{VehicleID: "v1", CarrierID: "c1", TS: ts, Lon: lon, Lat: lat, SpeedKmh: &s}
}

func (e *env) alarms(kind string) []tracking.Alarm {
	e.t.Helper()
	k := kind
	as, _, err := e.db.ListAlarms(context.Background(), tracking.AlarmFilter{Kind: &k})
	if err != nil {
		e.t.Fatal(err)
	}
	return as
}

func (e *env) positions() int {
	var n int
	if err := e.db.Pool.QueryRow(context.Background(), `select count(*) from positions`).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func TestRouteDeviationRaiseAndClear(t *testing.T) {
	e := newEnv(t)
	e.seed()
	e.start()
	t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	var ps []tracking.Position
	for i := 0; i < 5; i++ { // on the corridor
		ps = append(ps, fix(t0.Add(time.Duration(i)*10*time.Second), 107.001+float64(i)*0.002, 29.8001))
	}
	off := []tracking.Position{}
	for i := 0; i < 3; i++ { // ~500 m north of it
		off = append(off, fix(t0.Add(time.Duration(50+i*10)*time.Second), 107.012+float64(i)*0.001, 29.8055))
	}
	e.publish(ps...)
	e.publish(off...)
	waitFor(t, 10*time.Second, "route_deviation raised", func() bool { return len(e.alarms(tracking.AlarmRouteDeviation)) == 1 })
	a := e.alarms(tracking.AlarmRouteDeviation)[0]
	if !a.Active || a.State != tracking.StateOpen || !a.StartedAt.Equal(off[0].TS) || !a.RaisedAt.Equal(off[2].TS) {
		t.Fatalf("alarm %+v", a)
	}
	var want float64
	if err := e.db.Pool.QueryRow(context.Background(), `select ST_Distance(c.geom, ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography)
		from corridors c`, off[2].Lon, off[2].Lat).Scan(&want); err != nil {
		t.Fatal(err)
	}
	if a.DistanceM == nil || math.Abs(*a.DistanceM-want) > 0.5 {
		t.Fatalf("distance_m %v, PostGIS %.3f", a.DistanceM, want)
	}
	// Two fixes back on the corridor clear it.
	e.publish(fix(t0.Add(90*time.Second), 107.016, 29.8008), fix(t0.Add(100*time.Second), 107.018, 29.8009))
	waitFor(t, 10*time.Second, "route_deviation cleared", func() bool {
		as := e.alarms(tracking.AlarmRouteDeviation)
		return len(as) == 1 && !as[0].Active && as[0].ClearedAt != nil
	})
	var evs []tracking.AlarmEvent
	waitFor(t, 5*time.Second, "raised and cleared on NATS", func() bool {
		evs = nil
		for _, ev := range e.events() {
			if ev.Alarm.Kind == tracking.AlarmRouteDeviation {
				evs = append(evs, ev)
			}
		}
		return len(evs) >= 2
	})
	if evs[0].Event != "raised" || evs[1].Event != "cleared" || evs[0].Alarm.ID != a.ID {
		t.Fatalf("events %+v", evs)
	}
	if n := e.positions(); n != 10 {
		t.Fatalf("history holds %d fixes, want 10", n)
	}
}

func TestRestartProcessesBacklogWithoutDuplicates(t *testing.T) {
	e := newEnv(t)
	e.seed()
	e.start()
	t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	e.publish(fix(t0, 107.001, 29.8001), fix(t0.Add(10*time.Second), 107.003, 29.8001),
		fix(t0.Add(60*time.Second), 107.007, 29.8055), fix(t0.Add(70*time.Second), 107.008, 29.8055))
	waitFor(t, 10*time.Second, "4 fixes stored", func() bool { return e.positions() == 4 })
	e.stop()
	// While the engine is down: the confirming off fix, and the earlier ones again (redelivery).
	e.publish(fix(t0.Add(80*time.Second), 107.009, 29.8055))
	e.publish(fix(t0.Add(60*time.Second), 107.007, 29.8055))
	e.start()
	waitFor(t, 10*time.Second, "backlog processed", func() bool {
		return e.positions() == 5 && len(e.alarms(tracking.AlarmRouteDeviation)) == 1
	})
	a := e.alarms(tracking.AlarmRouteDeviation)[0]
	if !a.StartedAt.Equal(t0.Add(60*time.Second)) || !a.RaisedAt.Equal(t0.Add(80*time.Second)) {
		t.Fatalf("the two off fixes before the restart were forgotten: %+v", a)
	}
	// A restart replays nothing twice.
	e.stop()
	e.start()
	time.Sleep(300 * time.Millisecond)
	if n := len(e.alarms(tracking.AlarmRouteDeviation)); n != 1 {
		t.Fatalf("%d alarms after restart", n)
	}
}

func TestDeadLetters(t *testing.T) {
	e := newEnv(t)
	e.seed()
	e.start()
	now := time.Now().UTC()
	pub := func(subject, data string) {
		if _, err := e.bus.JS.Publish(context.Background(), subject, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	pub("telemetry.c1.v1", `{not json`)
	pub("telemetry.c1.v1", fmt.Sprintf(`{"vehicle_id":"v1","carrier_id":"c1","ts":%q,"lat":95,"lon":107}`, now.Format(time.RFC3339)))
	pub("telemetry.c1.ghost", fmt.Sprintf(`{"vehicle_id":"ghost","carrier_id":"c1","ts":%q,"lat":29.8,"lon":107}`, now.Format(time.RFC3339)))
	pub("telemetry.c2.v1", fmt.Sprintf(`{"vehicle_id":"v1","carrier_id":"c2","ts":%q,"lat":29.8,"lon":107}`, now.Format(time.RFC3339)))
	pub("telemetry.c1.v1", fmt.Sprintf(`{"vehicle_id":"v1","carrier_id":"c1","ts":%q,"lat":29.8,"lon":107}`, now.Add(-8*24*time.Hour).Format(time.RFC3339)))
	pub("telemetry.c1.v1", fmt.Sprintf(`{"vehicle_id":"v1","carrier_id":"c1","ts":%q,"lat":29.8,"lon":107}`, now.Add(time.Hour).Format(time.RFC3339)))
	// and a good one after them: the consumer does not stall
	e.publish(fix(now.Add(-time.Second), 107.001, 29.8001))
	waitFor(t, 10*time.Second, "6 dead letters and the good fix", func() bool { return len(e.deadLetters()) == 6 && e.positions() == 1 })
	want := []string{"malformed_json", "invalid_field", "unknown_vehicle", "carrier_mismatch", "stale_fix", "future_fix"}
	for i, dl := range e.deadLetters() {
		if dl.Reason != want[i] || dl.Subject == "" || dl.Payload == "" || dl.Detail == "" {
			t.Errorf("dead letter %d: %+v, want reason %s", i, dl, want[i])
		}
	}
}

func TestCorridorEditedBySQLReachesEngine(t *testing.T) {
	e := newEnv(t)
	cid := e.seed()
	e.start()
	t0 := time.Now().Add(-5 * time.Minute).Truncate(time.Second)
	// Move the corridor 500 m north by SQL; the old position is now off it.
	e.exec(`update corridors set geom = 'SRID=4326;LINESTRING(107.00 29.8045, 107.05 29.8045)'::geography where id = $1`, cid)
	// No wait: the batch compares the tables' change counters, so a change committed before the
	// fix is always seen. (The notification path and its 2 s bound: TestNotifyReloadsWithoutFixes.)
	for i := 0; i < 3; i++ {
		e.publish(fix(t0.Add(time.Duration(i)*10*time.Second), 107.001+float64(i)*0.001, 29.8001))
	}
	waitFor(t, 10*time.Second, "deviation against the edited corridor", func() bool { return len(e.alarms(tracking.AlarmRouteDeviation)) == 1 })
}

// TestUnpublishableDeadLetterDoesNotStall: a 900 kB non-JSON message, whose dead letter NATS
// refuses (over its max payload, unless the dead letter is cut to fit), is dead-lettered or
// skipped, and the fixes after it are stored; the old engine retried that batch forever.
func TestUnpublishableDeadLetterDoesNotStall(t *testing.T) {
	e := newEnv(t)
	e.seed()
	e.start()
	big := make([]byte, 900<<10)
	for i := range big {
		big[i] = 'x'
	}
	if _, err := e.bus.JS.Publish(context.Background(), "telemetry.c1.v1", big); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-time.Minute).Truncate(time.Second)
	e.publish(fix(t0, 107.001, 29.8001))
	waitFor(t, 10*time.Second, "the fix after the big message stored", func() bool { return e.positions() == 1 })
	waitFor(t, 5*time.Second, "engine ready", func() bool { return e.eng.Ready() == nil })
}
