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
	"github.com/corridor-dev/corridor/pkg/rules"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// TestThreeEngines runs three engines against one database and one NATS server: the partition
// is consumed by exactly one of them (the lease holder; the others stand by), every vehicle's
// fixes are handled by that one only, and when it stops another takes over within 10 s with
// nothing lost or written twice — an alarm raised before the stop is cleared after it, once.
// (The old engine deleted and recreated the shared consumer at start and acknowledged the other
// engine's messages with AckAll.)
func TestThreeEngines(t *testing.T) {
	db := pgtest.New(t)
	bus := natstest.New(t)
	ctx := context.Background()
	const vehicles = 30
	for _, q := range []string{`insert into carriers (id, name) values ('c1', 'C')`,
		fmt.Sprintf(`insert into vehicles (id, carrier_id, plate) select 'v' || i, 'c1', 'P' from generate_series(0, %d) i`, vehicles-1)} {
		if _, err := db.Pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	handledBy := map[string]map[int]int{} // vehicle -> engine -> fixes
	type running struct {
		e    *Engine
		stop func()
	}
	var engines []running
	for i := 0; i < 3; i++ {
		e := New(Config{Rules: rules.DefaultConfig(), FetchWait: 50 * time.Millisecond}, db, bus, nil, nil)
		e.onFix = func(p *tracking.Position) {
			mu.Lock()
			if handledBy[p.VehicleID] == nil {
				handledBy[p.VehicleID] = map[int]int{}
			}
			handledBy[p.VehicleID][i]++
			mu.Unlock()
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = e.Run(rctx) }()
		stop := func() { cancel(); <-done }
		t.Cleanup(stop)
		engines = append(engines, running{e, stop})
	}
	holder := func() (int, int) {
		h, n := -1, 0
		for i, r := range engines {
			if len(r.e.Partitions()) > 0 {
				h, n = i, n+1
			}
		}
		return h, n
	}
	waitFor := func(d time.Duration, what string, cond func() bool) { t.Helper(); waitfor.For(t, d, what, cond) }
	waitFor(10*time.Second, "one engine holding the partition", func() bool { _, n := holder(); return n == 1 })
	positions := func() int {
		var n int
		if err := db.Pool.QueryRow(ctx, `select count(*) from positions`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	publish := func(from, to int, alarms []string) {
		var ps []tracking.Position
		for k := from; k < to; k++ {
			for v := 0; v < vehicles; v++ {
				p := tracking.Position{VehicleID: fmt.Sprintf("v%d", v), CarrierID: "c1", TS: t0.Add(time.Duration(k) * 10 * time.Second),
					Lat: 29.8, Lon: 107 + float64(k)*0.001}
				if v == 0 {
					p.DeviceAlarms = alarms
				}
				ps = append(ps, p)
			}
		}
		if err := bus.PublishPositions(ctx, ps); err != nil {
			t.Fatal(err)
		}
	}
	publish(0, 5, []string{"emergency"})
	waitFor(15*time.Second, "the first fixes stored", func() bool { return positions() == 5*vehicles })
	first, n := holder()
	if n != 1 {
		t.Fatalf("%d engines hold the partition", n)
	}
	mu.Lock()
	for v, by := range handledBy {
		if len(by) != 1 || by[first] != 5 {
			t.Errorf("vehicle %s handled by %v, want only by engine %d, 5 fixes", v, by, first)
		}
	}
	clear(handledBy)
	mu.Unlock()

	engines[first].stop()
	stopped := time.Now()
	publish(5, 10, nil)
	waitFor(15*time.Second, "the fixes after the stop stored", func() bool { return positions() == 10*vehicles })
	if d := time.Since(stopped); d > 10*time.Second {
		t.Fatalf("took over after %v, want within 10 s", d)
	}
	second, n := holder()
	if n != 1 || second == first {
		t.Fatalf("after the stop: holder %d of %d holders (the stopped one was %d)", second, n, first)
	}
	mu.Lock()
	for v, by := range handledBy {
		if len(by) != 1 || by[second] == 0 {
			t.Errorf("vehicle %s handled by %v after the takeover, want only engine %d", v, by, second)
		}
	}
	mu.Unlock()
	// The alarm raised under the first engine is cleared by the second, exactly once.
	waitFor(10*time.Second, "the device alarm cleared", func() bool {
		var total, active int
		if err := db.Pool.QueryRow(ctx, `select count(*), count(*) filter (where active) from alarms where kind = 'device_alarm'`).Scan(&total, &active); err != nil {
			t.Fatal(err)
		}
		return total == 1 && active == 0
	})
	var events int
	if err := db.Pool.QueryRow(ctx, `select count(*) from alarm_events`).Scan(&events); err != nil || events != 2 {
		t.Fatalf("%d alarm events (%v), want raised and cleared once each", events, err)
	}
}
