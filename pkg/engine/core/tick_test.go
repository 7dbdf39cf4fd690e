package core

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/geofence"
	"github.com/corridor-dev/corridor/pkg/rules"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// fullWalkTick is the Tick the core had before due times: it walks every trip in the world and
// every vehicle with alarms at each tick. It is kept as the oracle the due-time Tick must agree
// with. One difference from the original: a vehicle with alarms is ticked only when the core
// owns it (SetOwner), as for the vehicles on a trip.
func (c *Core) fullWalkTick(w *World, now time.Time) (outs []Outcome, errs []error) {
	seen := map[string]bool{}
	for vid, trips := range w.Trips {
		if c.owns != nil && !c.owns(vid) {
			continue
		}
		for i := range trips {
			if trips[i].ActiveAt(now) || (trips[i].EndsAt.Before(now) && trips[i].EndsAt.After(now.Add(-time.Minute))) {
				seen[vid] = true
				if o, ok, err := c.tickOne(w, vid, now); err != nil {
					errs = append(errs, err)
				} else if ok {
					outs = append(outs, o)
				}
				break
			}
		}
	}
	for vid, v := range c.vs {
		if c.owns != nil && !c.owns(vid) {
			continue
		}
		if !seen[vid] && len(v.st.Rules.Alarms) > 0 {
			if o, ok, err := c.tickOne(w, vid, now); err != nil {
				errs = append(errs, err)
			} else if ok {
				outs = append(outs, o)
			}
		}
	}
	return outs, errs
}

// randWorld: vehicles r0..r(n-1) (the last two unknown to the world but with trips), each with
// 0–3 trips around base on corridor "cor" (loaded) or "gone" (not loaded), sometimes cancelled,
// rarely overlapping.
func randWorld(rng *rand.Rand, n int, base time.Time, idx *geofence.Index) *World {
	w := &World{
		Index:     idx,
		Corridors: map[string]*Corridor{"cor": {ID: "cor", BufferM: 200}},
		Zones:     map[string]*Zone{},
		Vehicles:  map[string]Vehicle{},
		Trips:     map[string][]tracking.Trip{},
	}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("r%d", i)
		if i < n-2 {
			w.Vehicles[id] = Vehicle{ID: id, CarrierID: "c1", Plate: "P"}
		}
		at := base.Add(time.Duration(rng.IntN(120)-60) * time.Minute)
		for k := rng.IntN(4); k > 0; k-- {
			cor := "cor"
			if rng.IntN(8) == 0 {
				cor = "gone"
			}
			start := at.Add(time.Duration(rng.IntN(40)) * time.Minute)
			end := start.Add(time.Duration(1+rng.IntN(90)) * time.Minute)
			t := tracking.Trip{ID: fmt.Sprintf("%s-t%d", id, k), VehicleID: id, CarrierID: "c1", CorridorID: cor, StartsAt: start, EndsAt: end}
			if rng.IntN(12) == 0 {
				x := start
				t.CancelledAt = &x
			}
			w.Trips[id] = append(w.Trips[id], t)
			at = end
			if rng.IntN(10) == 0 {
				at = end.Add(-10 * time.Minute) // overlapping: the world never has these, the schedule copes anyway
			}
		}
	}
	return w
}

func sortOuts(outs []Outcome) {
	sort.Slice(outs, func(i, j int) bool { return outs[i].Vehicle.ID < outs[j].Vehicle.ID })
}

// TestTickMatchesFullWalk runs the due-time Tick and the full walk side by side over random
// fleets, fixes (on and off the corridor, silent stretches, device alarms, out of order), trips,
// world reloads, rollbacks, restores, owners and a clock that steps back: every tick's outcomes
// and every vehicle's state must be equal.
func TestTickMatchesFullWalk(t *testing.T) {
	coords := []float64{}
	for i := 0; i <= 50; i++ {
		coords = append(coords, 107+float64(i)*0.01, 29.8)
	}
	idx := geofence.NewIndex([]geofence.Corridor{{ID: "cor", Coords: coords, BufferM: 200}}, nil)
	cfg := rules.DefaultConfig()
	ticks, changes := 0, 0
	for seed := uint64(1); seed <= 25; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		const n = 24
		now := t0
		w := randWorld(rng, n, now, idx)
		a, b := New(cfg), New(cfg) // a: due-time Tick; b: the full walk
		fixTS := map[string]time.Time{}
		off := map[string]bool{} // vehicles driving off the corridor
		for step := 0; step < 1500; step++ {
			switch r := rng.IntN(100); {
			case r < 55: // a fix
				id := fmt.Sprintf("r%d", rng.IntN(n))
				veh, ok := w.Vehicles[id]
				if !ok {
					continue
				}
				ts := fixTS[id]
				if ts.IsZero() {
					ts = now.Add(-time.Minute)
				}
				if rng.IntN(30) == 0 {
					ts = now.Add(time.Duration(rng.IntN(60)) * time.Minute) // a device clock running ahead
				}
				ts = ts.Add(time.Duration(rng.IntN(90)) * time.Second)
				if rng.IntN(15) == 0 {
					ts = ts.Add(-5 * time.Minute) // out of order
				}
				fixTS[id] = ts
				if rng.IntN(6) == 0 {
					off[id] = !off[id]
				}
				lat := 29.8
				if off[id] {
					lat = 29.81
				}
				speed := float64(rng.IntN(100))
				p := tracking.Position{VehicleID: id, CarrierID: "c1", TS: ts, Lat: lat, Lon: 107 + rng.Float64()*0.4, SpeedKmh: &speed}
				if rng.IntN(10) == 0 {
					p.DeviceAlarms = []string{"emergency"}
				}
				received := now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
				oa, ob := a.Apply(w, veh, p, nil, received), b.Apply(w, veh, p, nil, received)
				if !reflect.DeepEqual(oa, ob) {
					t.Fatalf("seed %d step %d: Apply differs:\n%+v\n%+v", seed, step, oa, ob)
				}
			case r < 85: // a tick
				now = now.Add(time.Duration(1+rng.IntN(120)) * time.Second)
				if rng.IntN(50) == 0 {
					now = now.Add(-time.Duration(rng.IntN(600)) * time.Second) // the clock steps back
				}
				if rng.IntN(40) == 0 {
					now = now.Add(2 * time.Hour) // the engine was stopped
				}
				oa, ea := a.Tick(w, now)
				ob, eb := b.fullWalkTick(w, now)
				sortOuts(oa)
				sortOuts(ob)
				if len(ea) != 0 || len(eb) != 0 || !reflect.DeepEqual(oa, ob) {
					t.Fatalf("seed %d step %d: Tick at %s differs:\ndue-time %d outcomes %+v %v\nfull walk %d outcomes %+v %v",
						seed, step, now.Sub(t0), len(oa), oa, ea, len(ob), ob, eb)
				}
				ticks++
				changes += len(oa)
			case r < 88: // the world is reloaded with other trips
				w = randWorld(rng, n, now, idx)
			case r < 93: // a batch that is rolled back
				a.Begin()
				b.Begin()
				id := fmt.Sprintf("r%d", rng.IntN(n-2))
				ts := fixTS[id].Add(time.Minute)
				p := tracking.Position{VehicleID: id, CarrierID: "c1", TS: ts, Lat: 29.8, Lon: 107.1}
				a.Apply(w, w.Vehicles[id], p, nil, now)
				b.Apply(w, w.Vehicles[id], p, nil, now)
				if rng.IntN(2) == 0 {
					a.Tick(w, now.Add(10*time.Minute))
					b.fullWalkTick(w, now.Add(10*time.Minute))
				}
				a.Rollback()
				b.Rollback()
			case r < 96: // a restore (as from a checkpoint)
				id := fmt.Sprintf("r%d", rng.IntN(n))
				st, live, ok := a.State(id)
				if !ok {
					st = NewState()
				}
				a.Restore(id, st, live)
				b.Restore(id, st, live)
			case r < 98: // another owner
				k := rng.IntN(3)
				owns := func(id string) bool { return k == 0 || len(id)%k == 0 }
				a.SetOwner(owns)
				b.SetOwner(owns)
			default:
				a.Commit()
				b.Commit()
			}
			for i := 0; i < n; i++ {
				id := fmt.Sprintf("r%d", i)
				sa, la, oka := a.State(id)
				sb, lb, okb := b.State(id)
				if oka != okb || !reflect.DeepEqual(sa, sb) || !reflect.DeepEqual(la, lb) {
					t.Fatalf("seed %d step %d: state of %s differs:\n%+v\n%+v", seed, step, id, sa, sb)
				}
			}
		}
	}
	if changes < 200 {
		t.Fatalf("only %d tick outcomes in %d ticks: the test does not exercise the time-driven rules", changes, ticks)
	}
	t.Logf("%d ticks, %d outcomes", ticks, changes)
}

// TestTickCostsTheVehiclesDue: with 20,000 vehicles on trips that just reported, a tick visits
// none of them; the one that fell silent is the only one ticked when its deadline comes.
func TestTickCostsTheVehiclesDue(t *testing.T) {
	w := testWorld()
	trip := w.Trips["v1"][0]
	w.Vehicles, w.Trips = map[string]Vehicle{}, map[string][]tracking.Trip{}
	c := New(rules.DefaultConfig())
	for i := 0; i < 20000; i++ {
		id := fmt.Sprintf("v%d", i)
		w.Vehicles[id] = Vehicle{ID: id, CarrierID: "c1"}
		tr := trip
		tr.ID, tr.VehicleID = "t"+id, id
		w.Trips[id] = []tracking.Trip{tr}
	}
	for i := 0; i < 20000; i++ {
		id := fmt.Sprintf("v%d", i)
		p := along(0)
		p.VehicleID = id
		c.Apply(w, w.Vehicles[id], p, nil, t0)
	}
	c.Tick(w, t0.Add(time.Second))
	for i := 1; i < 20000; i++ { // every vehicle but v0 reports again
		id := fmt.Sprintf("v%d", i)
		p := along(240)
		p.VehicleID = id
		c.Apply(w, w.Vehicles[id], p, nil, t0.Add(4*time.Minute))
	}
	if d := len(c.due.h); d != 20000 {
		t.Fatalf("%d vehicles scheduled, want 20000", d)
	}
	if outs, _ := c.Tick(w, t0.Add(4*time.Minute+30*time.Second)); len(outs) != 0 || len(c.ticks) != 0 {
		t.Fatalf("a tick before any deadline ran the rules for %d vehicles (%d outcomes)", len(c.ticks), len(outs))
	}
	outs, _ := c.Tick(w, t0.Add(5*time.Minute))
	if len(c.ticks) != 1 || len(outs) != 1 || outs[0].Vehicle.ID != "v0" || outs[0].Changes[0].Kind != tracking.AlarmSignalLost {
		t.Fatalf("at v0's deadline: rules ran for %v, outcomes %+v", c.ticks, outs)
	}
	// The others' entries (early since their second fix) came up once and moved to their
	// deadline: the heap is not looked at again until then.
	if d := c.due.h[0].at; d != dueKey(t0.Add(9*time.Minute)) {
		t.Fatalf("first entry due at %s", time.Unix(0, d).Sub(t0))
	}
	if outs, _ := c.Tick(w, t0.Add(5*time.Minute+time.Second)); len(outs) != 0 || len(c.ticks) != 0 {
		t.Fatalf("the tick after ran the rules for %d vehicles (%d outcomes)", len(c.ticks), len(outs))
	}
	if outs, _ := c.Tick(w, t0.Add(9*time.Minute)); len(outs) != 19999 {
		t.Fatalf("at the others' deadline: %d outcomes", len(outs))
	}
}

// TestTickClearsDeviationOfAMovedTrip: a device clock running ahead puts a route_deviation on a
// trip that has not started by server time; the trip is then moved an hour later. The alarm
// clears at the first tick at or after the trip's original start, as with the full walk.
func TestTickClearsDeviationOfAMovedTrip(t *testing.T) {
	w := testWorld()
	w.Trips["v1"][0].StartsAt, w.Trips["v1"][0].EndsAt = t0.Add(30*time.Minute), t0.Add(3*time.Hour)
	a, b := New(rules.DefaultConfig()), New(rules.DefaultConfig())
	for i := 0; i < 3; i++ { // fixes 31–33 minutes ahead of the server clock (t0), off the corridor
		p := fx(31*60+i*30, 107.1, 29.81)
		for _, c := range []*Core{a, b} {
			c.Apply(w, w.Vehicles["v1"], p, nil, t0.Add(time.Duration(i)*time.Second))
		}
	}
	if st, _, _ := a.State("v1"); len(st.Rules.Alarms) != 1 || st.Rules.Alarms[0].Kind != tracking.AlarmRouteDeviation {
		t.Fatalf("no deviation raised: %+v", st.Rules.Alarms)
	}
	moved := *w
	moved.Trips = map[string][]tracking.Trip{"v1": {w.Trips["v1"][0]}}
	moved.Trips["v1"][0].StartsAt, moved.Trips["v1"][0].EndsAt = t0.Add(90*time.Minute), t0.Add(4*time.Hour)
	cleared := false
	for s := 10; s < 3600; s += 37 {
		now := t0.Add(time.Duration(s) * time.Second)
		oa, _ := a.Tick(&moved, now)
		ob, _ := b.fullWalkTick(&moved, now)
		if !reflect.DeepEqual(oa, ob) {
			t.Fatalf("at %s: due-time %+v, full walk %+v", now.Sub(t0), oa, ob)
		}
		for _, o := range oa {
			for _, ch := range o.Changes {
				if ch.Kind == tracking.AlarmRouteDeviation && ch.Event == tracking.EventCleared {
					cleared = true
					if now.Before(t0.Add(30*time.Minute)) || now.After(t0.Add(31*time.Minute)) {
						t.Fatalf("cleared at %s", now.Sub(t0))
					}
				}
			}
		}
	}
	if !cleared {
		t.Fatal("the deviation of the moved trip was never cleared")
	}
}

// BenchmarkTick: one tick of a fleet on trips that all reported within the signal_lost
// deadline (the steady state: nothing due), the full walk against the due-time Tick.
//
//	go test ./pkg/engine/core -run '^$' -bench Tick -benchmem
func BenchmarkTick(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		w := testWorld()
		trip := w.Trips["v1"][0]
		w.Vehicles, w.Trips = make(map[string]Vehicle, n), make(map[string][]tracking.Trip, n)
		c := New(rules.DefaultConfig())
		for i := 0; i < n; i++ {
			id := fmt.Sprintf("v%d", i)
			w.Vehicles[id] = Vehicle{ID: id, CarrierID: "c1"}
			tr := trip
			tr.ID, tr.VehicleID = "t"+id, id
			w.Trips[id] = []tracking.Trip{tr}
		}
		for id, v := range w.Vehicles {
			p := along(0)
			p.VehicleID = id
			c.Apply(w, v, p, nil, t0)
		}
		now := t0.Add(time.Minute)
		b.Run(fmt.Sprintf("fullwalk/%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if outs, _ := c.fullWalkTick(w, now); len(outs) != 0 {
					b.Fatal(len(outs))
				}
			}
		})
		b.Run(fmt.Sprintf("due/%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if outs, _ := c.Tick(w, now); len(outs) != 0 {
					b.Fatal(len(outs))
				}
			}
		})
	}
}

// BenchmarkApply: one fix of one of 10,000 vehicles on their trip, in batches of 1,000.
func BenchmarkApply(b *testing.B) {
	const n = 10_000
	w := testWorld()
	trip := w.Trips["v1"][0]
	w.Vehicles, w.Trips = make(map[string]Vehicle, n), make(map[string][]tracking.Trip, n)
	ids := make([]string, n)
	for i := range ids {
		id := fmt.Sprintf("v%d", i)
		ids[i] = id
		w.Vehicles[id] = Vehicle{ID: id, CarrierID: "c1"}
		tr := trip
		tr.ID, tr.VehicleID = "t"+id, id
		w.Trips[id] = []tracking.Trip{tr}
	}
	c := New(rules.DefaultConfig())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%1000 == 0 {
			c.Commit()
			c.Begin()
		}
		id := ids[i%n]
		p := along(i / n % 3000)
		p.VehicleID = id
		p.TS = t0.Add(time.Duration(i/n) * time.Second)
		c.Apply(w, w.Vehicles[id], p, nil, p.TS)
	}
}
