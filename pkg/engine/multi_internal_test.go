package engine

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/internal/natstest"
	"github.com/corridor-dev/corridor/internal/pgtest"
	"github.com/corridor-dev/corridor/internal/waitfor"
	"github.com/corridor-dev/corridor/pkg/natsbus"
	"github.com/corridor-dev/corridor/pkg/postgres"
	"github.com/corridor-dev/corridor/pkg/rules"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// fleet is a test fleet: carrier c1, vehicles v0..v(n-1), fixes published by round.
type fleet struct {
	t   *testing.T
	db  *postgres.DB
	bus *natsbus.Bus
	n   int
	t0  time.Time
	mu  sync.Mutex
	// handledBy: vehicle -> engine -> fixes; order: vehicle -> fix times as applied
	handledBy map[string]map[int]int
	order     map[string][]time.Time
}

func newFleet(t *testing.T, db *postgres.DB, bus *natsbus.Bus, n int) *fleet {
	ctx := context.Background()
	for _, q := range []string{`insert into carriers (id, name) values ('c1', 'C')`,
		fmt.Sprintf(`insert into vehicles (id, carrier_id, plate) select 'v' || i, 'c1', 'P' from generate_series(0, %d) i`, n-1)} {
		if _, err := db.Pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	return &fleet{t: t, db: db, bus: bus, n: n, t0: time.Now().Add(-time.Hour).Truncate(time.Second),
		handledBy: map[string]map[int]int{}, order: map[string][]time.Time{}}
}

// engine starts engine i with n partitions; stop cancels it, kill stops it as a killed process
// would stop (no final checkpoint).
func (f *fleet) engine(i, n int) (e *Engine, stop, kill func()) {
	e = New(Config{Rules: rules.DefaultConfig(), FetchWait: 50 * time.Millisecond, Partitions: n}, f.db, f.bus, nil, nil)
	e.onFix = func(p *tracking.Position) {
		f.mu.Lock()
		if f.handledBy[p.VehicleID] == nil {
			f.handledBy[p.VehicleID] = map[int]int{}
		}
		f.handledBy[p.VehicleID][i]++
		f.order[p.VehicleID] = append(f.order[p.VehicleID], p.TS)
		f.mu.Unlock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	kill = func() { once.Do(func() { e.crashed.Store(true); cancel(); <-done }) }
	f.t.Cleanup(stop)
	return e, stop, kill
}

// publish publishes rounds [from, to) of every vehicle; v0 reports alarms.
func (f *fleet) publish(from, to int, alarms []string) {
	var ps []tracking.Position
	for k := from; k < to; k++ {
		for v := 0; v < f.n; v++ {
			p := tracking.Position{VehicleID: fmt.Sprintf("v%d", v), CarrierID: "c1", TS: f.t0.Add(time.Duration(k) * 10 * time.Second),
				Lat: 29.8, Lon: 107 + float64(k)*0.001}
			if v == 0 {
				p.DeviceAlarms = alarms
			}
			ps = append(ps, p)
		}
	}
	if err := f.bus.PublishPositions(context.Background(), ps); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fleet) count(q string) int {
	var n int
	if err := f.db.Pool.QueryRow(context.Background(), q).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *fleet) waitStored(n int) {
	f.t.Helper()
	waitfor.For(f.t, 30*time.Second, fmt.Sprintf("%d fixes stored", n), func() bool { return f.count(`select count(*) from positions`) >= n })
	if got := f.count(`select count(*) from positions`); got != n {
		f.t.Fatalf("%d positions stored, want %d", got, n)
	}
}

// checkOrder: every vehicle's fixes applied exactly once each, in time order, rounds in all.
func (f *fleet) checkOrder(rounds int) {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for v := 0; v < f.n; v++ {
		ts := f.order[fmt.Sprintf("v%d", v)]
		if len(ts) != rounds {
			f.t.Errorf("v%d: %d fixes applied, want %d", v, len(ts), rounds)
		}
		for i := 1; i < len(ts); i++ {
			if !ts[i].After(ts[i-1]) {
				f.t.Errorf("v%d: fix %d (%s) applied after %s", v, i, ts[i].Format(time.TimeOnly), ts[i-1].Format(time.TimeOnly))
				break
			}
		}
	}
}

// checkAlarm: v0's device alarm raised and cleared exactly once.
func (f *fleet) checkAlarm() {
	f.t.Helper()
	waitfor.For(f.t, 15*time.Second, "the device alarm cleared", func() bool {
		return f.count(`select count(*) from alarms where kind = 'device_alarm'`) == 1 &&
			f.count(`select count(*) from alarms where kind = 'device_alarm' and active`) == 0
	})
	if n := f.count(`select count(*) from alarm_events`); n != 2 {
		f.t.Fatalf("%d alarm events, want raised and cleared once each", n)
	}
}

// TestThreeEngines runs three engines with 6 partitions against one database and one NATS
// server: they split the partitions (2 each, none a standby), every vehicle's fixes are handled
// by exactly one engine — the one holding its bucket's partition — and when one is killed (no
// final checkpoint) its partitions are taken over within 10 s, with nothing lost or written
// twice and the alarm raised before the kill cleared after it, once. (The old engine deleted
// and recreated the shared consumer at start and acknowledged the other engine's messages with
// AckAll.)
func TestThreeEngines(t *testing.T) {
	db := pgtest.New(t)
	bus := natstest.New(t)
	const parts = 6
	f := newFleet(t, db, bus, 60)
	type eng struct {
		e          *Engine
		stop, kill func()
	}
	var engines []eng
	for i := 0; i < 3; i++ {
		e, stop, kill := f.engine(i, parts)
		engines = append(engines, eng{e, stop, kill})
	}
	holding := func(es ...int) map[int]int { // partition -> engine
		h := map[int]int{}
		for _, i := range es {
			for _, k := range engines[i].e.Partitions() {
				if j, dup := h[k]; dup {
					t.Fatalf("partition %d held by engines %d and %d", k, j, i)
				}
				h[k] = i
			}
		}
		return h
	}
	waitfor.For(t, 30*time.Second, "three engines holding 2 partitions each", func() bool {
		for _, r := range engines {
			if len(r.e.Partitions()) != 2 {
				return false
			}
		}
		return len(holding(0, 1, 2)) == parts
	})
	owner := holding(0, 1, 2)
	f.publish(0, 5, []string{"emergency"})
	f.waitStored(5 * f.n)
	f.mu.Lock()
	for v, by := range f.handledBy {
		want := owner[natsbus.Bucket(v)%parts]
		if len(by) != 1 || by[want] != 5 {
			t.Errorf("vehicle %s (partition %d) handled by %v, want only by engine %d, 5 fixes", v, natsbus.Bucket(v)%parts, by, want)
		}
	}
	perEngine := map[int]int{}
	for _, by := range f.handledBy {
		for i := range by {
			perEngine[i]++
		}
	}
	clear(f.handledBy)
	f.mu.Unlock()
	if len(perEngine) != 3 {
		t.Fatalf("vehicles per engine %v: every engine should handle some", perEngine)
	}

	// Kill the engine that holds v0's partition: its device alarm is cleared by another.
	victim := owner[natsbus.Bucket("v0")%parts]
	survivors := []int{}
	for i := range engines {
		if i != victim {
			survivors = append(survivors, i)
		}
	}
	engines[victim].kill()
	killed := time.Now()
	f.publish(5, 10, nil)
	waitfor.For(t, 30*time.Second, "the survivors holding every partition", func() bool { return len(holding(survivors...)) == parts })
	if d := time.Since(killed); d > 10*time.Second {
		t.Fatalf("partitions taken over %v after the kill, want within 10 s", d)
	} else {
		t.Logf("partitions taken over %v after the kill", d.Round(time.Millisecond))
	}
	f.waitStored(10 * f.n)
	after := holding(survivors...)
	f.mu.Lock()
	for v, by := range f.handledBy {
		want := after[natsbus.Bucket(v)%parts]
		if len(by) != 1 || by[want] == 0 {
			t.Errorf("vehicle %s handled by %v after the kill, want only engine %d", v, by, want)
		}
	}
	f.mu.Unlock()
	f.checkAlarm()
	if n := f.count(`select count(*) from (select distinct vehicle_id, ts from positions) d`); n != 10*f.n {
		t.Fatalf("%d distinct fixes stored, want %d", n, 10*f.n)
	}
}

// TestChangePartitions runs one engine with 1, then 4, then 2 partitions, publishing between
// the runs and during them: nothing is lost or written twice, and each vehicle's fixes are
// applied exactly once each, in order (a partition starts at its buckets' lowest checkpoint
// and skips, per bucket, what that bucket's checkpoint reflects).
func TestChangePartitions(t *testing.T) {
	db := pgtest.New(t)
	bus := natstest.New(t)
	f := newFleet(t, db, bus, 40)
	rounds := 0
	for i, n := range []int{1, 4, 2} {
		f.publish(rounds, rounds+3, []string{"emergency"}[:max(0, 1-i)]) // published while no engine runs
		rounds += 3
		e, stop, _ := f.engine(i, n)
		waitfor.For(t, 30*time.Second, fmt.Sprintf("the engine holding %d partitions", n), func() bool { return len(e.Partitions()) == n })
		f.waitStored(rounds * f.n)
		f.publish(rounds, rounds+3, nil) // published while it runs
		rounds += 3
		f.waitStored(rounds * f.n)
		stop()
	}
	f.checkOrder(rounds)
	f.checkAlarm()
	var seqs []int64
	rows, err := db.Pool.Query(context.Background(), `select distinct checkpoint_seq from engine_buckets`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s int64
		_ = rows.Scan(&s)
		seqs = append(seqs, s)
	}
	if f.count(`select count(*) from engine_buckets`) != natsbus.Buckets {
		t.Errorf("engine_buckets has %d rows, want %d", f.count(`select count(*) from engine_buckets`), natsbus.Buckets)
	}
	t.Logf("bucket checkpoints at the end: %v", seqs)
}
