package sim

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/geo"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

var t0 = time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC) // 09:00 in Changshou

// demoFleet is the demo fleet as SeedDemo would return it, without a database: corridors get
// their names as ids and every trip starts at t0.
func demoFleet(t testing.TB) (Fleet, DemoData) {
	t.Helper()
	d, err := Demo()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]tracking.Corridor{}
	for _, c := range d.Corridors {
		c.ID = c.Name
		byName[c.Name] = c
	}
	var f Fleet
	for _, dv := range d.Vehicles {
		f.Vehicles = append(f.Vehicles, SpecOf(dv.Vehicle, tracking.Trip{ID: "trip-" + dv.Vehicle.ID, StartsAt: t0}, byName[dv.Corridor]))
	}
	return Plan(f, d.Zones, DemoSeed, true), d
}

func TestDemoData(t *testing.T) {
	f, d := demoFleet(t)
	if len(d.Carriers) != 3 || len(d.Corridors) != 3 || len(d.Zones) != 8 || len(d.Vehicles) != 18 {
		t.Fatalf("demo: %d carriers, %d corridors, %d zones, %d vehicles", len(d.Carriers), len(d.Corridors), len(d.Zones), len(d.Vehicles))
	}
	terms := map[string]bool{}
	for _, v := range d.Vehicles {
		if !tracking.ValidID(v.Vehicle.ID) || len(v.Vehicle.Plate) > 32 || terms[*v.Vehicle.TerminalID] {
			t.Fatalf("bad demo vehicle %+v", v.Vehicle)
		}
		terms[*v.Vehicle.TerminalID] = true
	}
	for _, b := range Misbehaviours {
		if got := f.With(b); len(got) != 1 {
			t.Errorf("behaviour %s: vehicles %v, want exactly one", b, got)
		}
	}
	for _, v := range f.Vehicles {
		if !v.TerminalAtStart || !v.TerminalAtEnd {
			t.Errorf("%s: corridor ends not in terminal zones", v.VehicleID)
		}
	}
	for _, b := range Misbehaviours {
		id := f.With(b)[0]
		v, _ := f.Vehicle(id)
		t.Logf("%-18s %s (%s) on %q", b, id, v.Plate, v.CorridorID)
	}
}

// fixesOf runs the fleet from t0 for d, stepping every step, and returns each vehicle's fixes.
func fixesOf(f Fleet, o Options, d, step time.Duration) map[string][]tracking.Position {
	s := NewSim(f, o)
	out := map[string][]tracking.Position{}
	end := t0.Add(d)
	for now := t0; ; now = now.Add(step) {
		if now.After(end) {
			now = end
		}
		for _, p := range s.Step(now) {
			if p.TS.After(now) {
				panic("fix in the future")
			}
			out[p.VehicleID] = append(out[p.VehicleID], p)
		}
		if now.Equal(end) {
			return out
		}
	}
}

func TestDeterministic(t *testing.T) {
	f, _ := demoFleet(t)
	o := Options{Seed: 7, DeviceAlarmEvery: 50}
	a := fixesOf(f, o, 2*time.Hour, 10*time.Second)
	b := fixesOf(f, o, 2*time.Hour, 7*time.Minute+3*time.Second) // other chunking, same fixes
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Fatal("same seed and clock, different fixes")
	}
	// A vehicle whose fixes start later (a restart) makes the same fixes from then on.
	g := Fleet{Vehicles: append([]VehicleSpec(nil), f.Vehicles...)}
	later := t0.Add(47 * time.Minute)
	for i := range g.Vehicles {
		g.Vehicles[i].NotBefore = later
	}
	c := fixesOf(g, o, 2*time.Hour, time.Minute)
	for id, ps := range a {
		var want []tracking.Position
		for _, p := range ps {
			if p.TS.After(later) {
				want = append(want, p)
			}
		}
		jw, _ := json.Marshal(want)
		jc, _ := json.Marshal(c[id])
		if string(jw) != string(jc) {
			t.Fatalf("%s: a later start changes the fixes", id)
		}
	}
	d := fixesOf(f, Options{Seed: 8, DeviceAlarmEvery: 50}, 2*time.Hour, time.Minute)
	jd, _ := json.Marshal(d)
	if string(jd) == string(ja) {
		t.Fatal("another seed, same fixes")
	}
}

func TestFleetPlausible(t *testing.T) {
	f, d := demoFleet(t)
	areas := areasOf(d.Zones)
	o := Options{Seed: DemoSeed, DeviceAlarmEvery: 2000}
	all := fixesOf(f, o, 8*time.Hour, time.Minute)
	devices := 0
	for _, v := range f.Vehicles {
		ps := all[v.VehicleID]
		if len(ps) < 1000 {
			t.Fatalf("%s: %d fixes in 8 h", v.VehicleID, len(ps))
		}
		line := flat(v.Line)
		limit := v.MaxSpeedKmh
		var off, maxOffRun, run, overRun, maxOverRun int
		var inRestricted bool
		var maxGap, longestStop time.Duration
		var stopStart time.Time
		for i, p := range ps {
			data, _ := json.Marshal(p)
			if _, err := tracking.DecodePosition(data, p.TS); err != nil {
				t.Fatalf("%s: invalid fix %s: %v", v.VehicleID, data, err)
			}
			if len(p.DeviceAlarms) > 0 {
				devices++
			}
			dist := geo.DistanceToLine(line, p.Lon, p.Lat)
			if dist > v.BufferM {
				off++
				run++
				maxOffRun = max(maxOffRun, run)
			} else {
				run = 0
			}
			if *p.SpeedKmh > limit {
				overRun++
				maxOverRun = max(maxOverRun, overRun)
			} else {
				overRun = 0
			}
			if inKind(areas, lonLat{p.Lon, p.Lat}, tracking.ZoneRestricted) {
				inRestricted = true
			}
			pt := lonLat{p.Lon, p.Lat}
			if *p.SpeedKmh < 5 && !inKind(areas, pt, tracking.ZoneTerminal, tracking.ZoneParking) {
				if stopStart.IsZero() {
					stopStart = p.TS
				}
				longestStop = max(longestStop, p.TS.Sub(stopStart))
			} else {
				stopStart = time.Time{}
			}
			if i == 0 {
				continue
			}
			q := ps[i-1]
			dt := p.TS.Sub(q.TS)
			if dt <= 0 {
				t.Fatalf("%s: ts %v after %v", v.VehicleID, p.TS, q.TS)
			}
			maxGap = max(maxGap, dt)
			kmh := haversine(lonLat{q.Lon, q.Lat}, lonLat{p.Lon, p.Lat}) / dt.Seconds() * 3.6
			if kmh > 130 {
				t.Fatalf("%s: %.0f km/h between fixes at %v", v.VehicleID, kmh, p.TS)
			}
			if *p.OdometerKm < *q.OdometerKm {
				t.Fatalf("%s: odometer goes back", v.VehicleID)
			}
		}
		b := v.Behaviour
		deviates := b == RouteDeviation || b == RestrictedZone
		if !deviates && off > 0 {
			t.Errorf("%s (%q): %d fixes outside the %v m buffer", v.VehicleID, b, off, v.BufferM)
		}
		if deviates && maxOffRun < 6 {
			t.Errorf("%s (%q): longest off-corridor run %d fixes", v.VehicleID, b, maxOffRun)
		}
		if (b == Overspeed) != (maxOverRun >= 3) {
			t.Errorf("%s (%q): longest run over %v km/h: %d fixes", v.VehicleID, b, limit, maxOverRun)
		}
		if (b == RestrictedZone) != inRestricted {
			t.Errorf("%s (%q): in a restricted zone: %v", v.VehicleID, b, inRestricted)
		}
		if (b == UnauthorizedStop) != (longestStop >= 15*time.Minute) {
			t.Errorf("%s (%q): longest stop outside terminals %v", v.VehicleID, b, longestStop)
		}
		if (b == SignalLost) != (maxGap >= 5*time.Minute) {
			t.Errorf("%s (%q): longest silence %v", v.VehicleID, b, maxGap)
		}
	}
	if devices == 0 {
		t.Error("no device alarm at all")
	}
}

// TestMisbehaviourEarly: each misbehaviour shows within minutes of the trip's start, which the
// demo and the end-to-end test rely on.
func TestMisbehaviourEarly(t *testing.T) {
	f, d := demoFleet(t)
	areas := areasOf(d.Zones)
	all := fixesOf(f, Options{Seed: DemoSeed}, 20*time.Minute, 10*time.Second)
	for _, b := range []Behaviour{RouteDeviation, RestrictedZone, Overspeed} {
		v, _ := f.Vehicle(f.With(b)[0])
		var first time.Time
		for _, p := range all[v.VehicleID] {
			hit := false
			switch b {
			case RouteDeviation:
				hit = geo.DistanceToLine(flat(v.Line), p.Lon, p.Lat) > v.BufferM
			case RestrictedZone:
				hit = inKind(areas, lonLat{p.Lon, p.Lat}, tracking.ZoneRestricted)
			case Overspeed:
				hit = *p.SpeedKmh > v.MaxSpeedKmh
			}
			if hit {
				first = p.TS
				break
			}
		}
		if first.IsZero() || first.Sub(t0) > 5*time.Minute {
			t.Errorf("%s: first shows at %v after the start", b, first.Sub(t0))
		}
	}
}

func BenchmarkStep(b *testing.B) {
	f, _ := demoFleet(b)
	var big Fleet
	for i := 0; i < 1000; i++ {
		v := f.Vehicles[i%len(f.Vehicles)]
		v.VehicleID = fmt.Sprintf("bench-%04d", i)
		big.Vehicles = append(big.Vehicles, v)
	}
	s := NewSim(big, Options{Seed: 1})
	now := t0
	n := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now = now.Add(10 * time.Second)
		n += len(s.Step(now))
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "fixes/s")
	if n == 0 {
		b.Fatal("no fix")
	}
}
