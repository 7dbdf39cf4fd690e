package engine_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// BenchmarkEngineThroughput measures fixes per second through the whole engine: JetStream
// fetch, JSON decode and validation, geofence and rules, one PostgreSQL transaction per batch
// (COPY history, rule state), acknowledgement. 200 vehicles on trips, b.N fixes.
//
//	go test ./pkg/engine -run '^$' -bench EngineThroughput -benchtime 20000x -count 5
func BenchmarkEngineThroughput(b *testing.B) {
	t := &testing.T{}
	_ = t
	e := newEnvB(b)
	ctx := context.Background()
	e.execB(`insert into carriers (id, name) values ('c1', 'C')`)
	var cid string
	if err := e.db.Pool.QueryRow(ctx, `insert into corridors (name, geom, buffer_m) select 'b', ST_MakeLine(array_agg(ST_MakePoint(107 + i * 0.001, 29.8 + (i % 2) * 0.0005) order by i))::geography, 200 from generate_series(0, 199) i returning id::text`).Scan(&cid); err != nil {
		b.Fatal(err)
	}
	const vehicles = 200
	for v := 0; v < vehicles; v++ {
		e.execB(`insert into vehicles (id, carrier_id, plate) values ($1, 'c1', 'P')`, fmt.Sprintf("v%d", v))
		e.execB(`insert into trips (vehicle_id, carrier_id, corridor_id, starts_at, ends_at) values ($1, 'c1', $2, now() - interval '2 days', now() + interval '1 day')`, fmt.Sprintf("v%d", v), cid)
	}
	// Publish everything first, then time the engine draining the stream.
	t0 := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	batch := make([]tracking.Position, 0, 1000)
	for i := 0; i < b.N; i++ {
		v := i % vehicles
		k := i / vehicles
		s := 50.0
		batch = append(batch, tracking.Position{VehicleID: fmt.Sprintf("v%d", v), CarrierID: "c1", TS: t0.Add(time.Duration(k) * 10 * time.Second),
			Lon: 107 + float64(k%190)*0.001, Lat: 29.8001, SpeedKmh: &s})
		if len(batch) == cap(batch) {
			if err := e.bus.PublishPositions(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		if err := e.bus.PublishPositions(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
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
