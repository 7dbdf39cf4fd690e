package core

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/rules"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkCoreHeapPerVehicle reports the core's heap per tracked vehicle (each on a trip, one
// fix each, one tick, as committed: state, live state, schedule), and the world's per vehicle
// (vehicle and trip), at 10k, 100k and 400k vehicles. The target is ≤ 1 KiB per vehicle.
//
//	go test ./pkg/engine/core -run '^$' -bench CoreHeapPerVehicle -benchtime 1x
func BenchmarkCoreHeapPerVehicle(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 400_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				base := heapInUse()
				w := testWorld()
				trip := w.Trips["v1"][0]
				w.Vehicles, w.Trips = make(map[string]Vehicle, n), make(map[string][]tracking.Trip, n)
				for i := 0; i < n; i++ {
					id := fmt.Sprintf("veh-%07d", i)
					w.Vehicles[id] = Vehicle{ID: id, CarrierID: "c1", Plate: fmt.Sprintf("渝A%05d", i)}
					tr := trip
					tr.ID, tr.VehicleID = fmt.Sprintf("%08d-0000-4000-8000-000000000000", i), id
					w.Trips[id] = []tracking.Trip{tr}
				}
				withWorld := heapInUse()
				c := New(rules.DefaultConfig())
				k := 0
				for id, v := range w.Vehicles { // in batches of 1,000, as the engine does
					if k%1000 == 0 {
						c.Begin()
					}
					p := along(0)
					p.VehicleID = id
					c.Apply(w, v, p, nil, t0)
					if k++; k%1000 == 0 {
						c.Commit()
					}
				}
				c.Commit()
				c.Tick(w, t0.Add(time.Second))
				c.TakeDirty()
				withCore := heapInUse()
				b.ReportMetric(float64(withCore-withWorld)/float64(n), "core-B/vehicle")
				b.ReportMetric(float64(withWorld-base)/float64(n), "world-B/vehicle")
				runtime.KeepAlive(c)
				runtime.KeepAlive(w)
			}
		})
	}
}

// TestStormUndoNotKept: a tick that changes 10,000 vehicles in one batch does not leave its
// undo room behind (half a kilobyte per vehicle).
func TestStormUndoNotKept(t *testing.T) {
	w := testWorld()
	trip := w.Trips["v1"][0]
	w.Vehicles, w.Trips = map[string]Vehicle{}, map[string][]tracking.Trip{}
	for i := 0; i < 10000; i++ {
		id := fmt.Sprintf("v%d", i)
		w.Vehicles[id] = Vehicle{ID: id, CarrierID: "c1"}
		tr := trip
		tr.ID, tr.VehicleID = "t"+id, id
		w.Trips[id] = []tracking.Trip{tr}
	}
	c := New(rules.DefaultConfig())
	c.Begin()
	if outs, _ := c.Tick(w, t0); len(outs) != 10000 {
		t.Fatalf("%d signal_lost raised, want 10000", len(outs))
	}
	c.Commit()
	if cap(c.undo) > keepUndo || len(c.undoAt) != 0 {
		t.Fatalf("undo room for %d vehicles kept after the batch", cap(c.undo))
	}
}
