package engine_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// BenchmarkEngineHeapPerVehicle reports the live heap the engine adds per tracked vehicle:
// -vehicles vehicles on trips (default 10,000), one fix each, all persisted, then a few seconds
// for ticks and a checkpoint; heap after GC (runtime.ReadMemStats) against the same process
// before the engine started. The process also hosts the embedded NATS server, whose share (the
// stream's cache) is counted too. Unlike heap in use from /metrics, garbage not yet collected is
// not counted. CORRIDOR_BENCH_HEAP_PROFILE=file writes a heap profile at the measurement.
//
//	go test ./pkg/engine -run '^$' -bench EngineHeapPerVehicle -benchtime 1x -vehicles 100000
func BenchmarkEngineHeapPerVehicle(b *testing.B) {
	for i := 0; i < b.N; i++ {
		e := newEnvB(b)
		ctx := context.Background()
		vehicles := *benchVehicles
		e.seedFleet(vehicles)
		t0 := time.Now().Add(-time.Minute).Truncate(time.Second)
		ps := make([]tracking.Position, vehicles)
		for v := range ps {
			s := 50.0
			ps[v] = tracking.Position{VehicleID: fmt.Sprintf("v%d", v), CarrierID: "c1", TS: t0, Lon: 107 + float64(v%190)*0.001, Lat: 29.8001, SpeedKmh: &s}
		}
		e.publishAll(ps)
		ps = nil
		before := liveHeap()
		e.startB()
		waitForTB(b, 10*time.Minute, "every fix persisted", func() bool {
			var n int
			if err := e.db.Pool.QueryRow(ctx, `select count(*) from positions`).Scan(&n); err != nil {
				b.Fatal(err)
			}
			return n >= vehicles
		})
		time.Sleep(5 * time.Second) // ticks and a checkpoint
		after := liveHeap()
		if p := os.Getenv("CORRIDOR_BENCH_HEAP_PROFILE"); p != "" { // where the heap goes: go tool pprof -sample_index=inuse_space
			f, err := os.Create(p)
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.WriteHeapProfile(f); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
		b.ReportMetric(float64(int64(after)-int64(before))/float64(vehicles), "heap-B/vehicle")
	}
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
