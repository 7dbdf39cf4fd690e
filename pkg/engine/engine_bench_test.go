package engine_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

var (
	benchVehicles   = flag.Int("vehicles", 10000, "vehicles in BenchmarkEngineThroughput and BenchmarkEngineAlarmStorm")
	benchPartitions = flag.Int("partitions", 1, "engine partitions (Config.Partitions) in the engine benchmarks")
)

// seedFleet creates carrier c1, one corridor and n vehicles v0..v(n-1), each on a trip along it.
func (e *env) seedFleet(n int) {
	ctx := context.Background()
	e.execB(`insert into carriers (id, name) values ('c1', 'C')`)
	var cid string
	if err := e.db.Pool.QueryRow(ctx, `insert into corridors (name, geom, buffer_m) select 'b', ST_MakeLine(array_agg(ST_MakePoint(107 + i * 0.001, 29.8 + (i % 2) * 0.0005) order by i))::geography, 200 from generate_series(0, 199) i returning id::text`).Scan(&cid); err != nil {
		e.t.Fatal(err)
	}
	e.execB(`insert into vehicles (id, carrier_id, plate) select 'v' || i, 'c1', 'P' from generate_series(0, $1 - 1) i`, n)
	e.execB(`insert into trips (vehicle_id, carrier_id, corridor_id, starts_at, ends_at) select 'v' || i, 'c1', $2, now() - interval '2 days', now() + interval '1 day' from generate_series(0, $1 - 1) i`, n, cid)
}

func (e *env) publishAll(ps []tracking.Position) {
	for len(ps) > 0 {
		k := min(len(ps), 1000)
		if err := e.bus.PublishPositions(context.Background(), ps[:k]); err != nil {
			e.t.Fatal(err)
		}
		ps = ps[k:]
	}
}

// BenchmarkEngineThroughput measures fixes per second drained through the whole engine:
// JetStream fetch, JSON decode and validation, geofence and rules, one PostgreSQL transaction per
// batch (COPY into the day partition, stream position), acknowledgement. -vehicles vehicles on
// trips (default 10,000), b.N fixes spread over them, all published before the engine starts.
//
//	go test ./pkg/engine -run '^$' -bench EngineThroughput -benchtime 200000x -count 3 [-vehicles 10000] [-partitions 4]
func BenchmarkEngineThroughput(b *testing.B) {
	e := newEnvB(b)
	e.partitions = *benchPartitions
	ctx := context.Background()
	vehicles := *benchVehicles
	e.seedFleet(vehicles)
	t0 := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	ps := make([]tracking.Position, 0, b.N)
	for i := 0; i < b.N; i++ {
		v, k := i%vehicles, i/vehicles
		s := 50.0
		ps = append(ps, tracking.Position{VehicleID: fmt.Sprintf("v%d", v), CarrierID: "c1", TS: t0.Add(time.Duration(k) * 10 * time.Second),
			Lon: 107 + float64(k%190)*0.001, Lat: 29.8001, SpeedKmh: &s})
	}
	e.publishAll(ps)
	b.ResetTimer()
	start := time.Now()
	e.startB()
	for {
		var n int
		if err := e.db.Pool.QueryRow(ctx, `select count(*) from positions`).Scan(&n); err != nil {
			b.Fatal(err)
		}
		if n >= b.N {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "fixes/s")
}

// BenchmarkEngineAlarmStorm measures an alarm storm: every one of -vehicles vehicles (default
// 10,000) reports a device alarm at once; the time until every raise is stored and published on
// ALARMS (seen by a subscriber), then the same for the clears. Each iteration is one storm.
//
//	go test ./pkg/engine -run '^$' -bench EngineAlarmStorm -benchtime 3x [-vehicles 10000]
func BenchmarkEngineAlarmStorm(b *testing.B) {
	e := newEnvB(b)
	vehicles := *benchVehicles
	e.seedFleet(vehicles)
	var raised, cleared atomic.Int64
	sub, err := e.bus.NC.Subscribe("alarms.device_alarm.>", func(m *nats.Msg) {
		var ev tracking.AlarmEvent
		_ = json.Unmarshal(m.Data, &ev)
		if ev.Event == tracking.EventRaised {
			raised.Add(1)
		} else if ev.Event == tracking.EventCleared {
			cleared.Add(1)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	e.startB()
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	var raiseTotal, clearTotal time.Duration
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		storm := func(alarms []string, k int) []tracking.Position {
			ps := make([]tracking.Position, vehicles)
			for v := range ps {
				s := 50.0
				ps[v] = tracking.Position{VehicleID: fmt.Sprintf("v%d", v), CarrierID: "c1", TS: t0.Add(time.Duration(k) * 10 * time.Second),
					Lon: 107.05 + float64(k%100)*0.001, Lat: 29.8001, SpeedKmh: &s, DeviceAlarms: alarms}
			}
			return ps
		}
		want := int64((it + 1) * vehicles)
		start := time.Now()
		e.publishAll(storm([]string{"emergency"}, 2*it))
		waitForTB(b, 60*time.Second, "every raise published", func() bool { return raised.Load() >= want })
		raiseTotal += time.Since(start)
		start = time.Now()
		e.publishAll(storm(nil, 2*it+1))
		waitForTB(b, 60*time.Second, "every clear published", func() bool { return cleared.Load() >= want })
		clearTotal += time.Since(start)
	}
	b.StopTimer()
	b.ReportMetric(raiseTotal.Seconds()/float64(b.N), "s/raise-storm")
	b.ReportMetric(clearTotal.Seconds()/float64(b.N), "s/clear-storm")
}
