package rules

import (
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// benchInputs is a vehicle on route on an active trip, inside a restricted zone whose night
// window does not apply and a parking zone: the common no-change path.
func benchInput() Input {
	trip := &Trip{ID: "8b0e4a8c-3c1f-4a8e-9b1e-1f2a3b4c5d6e", CorridorID: "c0e4a8c-3c1f-4a8e-9b1e-1f2a3b4c5d6e",
		BufferM: 50, MaxSpeedKmh: 70, StartsAt: t0.Add(-time.Hour), EndsAt: t0.Add(1000 * time.Hour)}
	speed := 62.0
	return Input{
		Fix:  Fix{TS: t0, Lat: 29.85, Lon: 107.08, SpeedKmh: &speed},
		Trip: trip, DistanceM: 12.5,
		Zones: []ZoneHit{{ID: "z-night", Kind: tracking.ZoneRestricted, ActiveHours: &tracking.ActiveHours{From: "22:00", To: "06:00"}},
			{ID: "z-park", Kind: tracking.ZoneParking}},
	}
}

func BenchmarkEvaluate(b *testing.B) {
	cfg := DefaultConfig()
	in := benchInput()
	st, _ := Evaluate(cfg, State{}, in)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		in.Fix.TS = t0.Add(time.Duration(i+1) * time.Second)
		in.ReceivedAt = in.Fix.TS
		st, _ = Evaluate(cfg, st, in)
	}
}

// BenchmarkEvaluateAlarmsActive: off route, over the limit, with a device alarm, all three raised
// and still violated (no change).
func BenchmarkEvaluateAlarmsActive(b *testing.B) {
	cfg := DefaultConfig()
	in := benchInput()
	in.DistanceM = 400
	*in.Fix.SpeedKmh = 95
	in.Fix.DeviceAlarms = []string{"emergency"}
	var st State
	for i := range 5 {
		in.Fix.TS = t0.Add(time.Duration(i) * time.Second)
		st, _ = Evaluate(cfg, st, in)
	}
	if len(st.Active()) != 3 {
		b.Fatalf("want 3 active alarms, got %v", st.Active())
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		in.Fix.TS = t0.Add(time.Duration(i+10) * time.Second)
		st, _ = Evaluate(cfg, st, in)
	}
}

func BenchmarkTick(b *testing.B) {
	cfg := DefaultConfig()
	in := benchInput()
	st, _ := Evaluate(cfg, State{}, in)
	now := t0.Add(time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		Tick(cfg, st, now, in.Trip)
	}
}

func TestEvaluateAllocFree(t *testing.T) {
	cfg := DefaultConfig()
	in := benchInput()
	st, _ := Evaluate(cfg, State{}, in)
	i := 0
	if n := testing.AllocsPerRun(1000, func() {
		i++
		in.Fix.TS = t0.Add(time.Duration(i) * time.Second)
		st, _ = Evaluate(cfg, st, in)
	}); n != 0 {
		t.Errorf("the no-change path allocates %v times per fix", n)
	}
	if n := testing.AllocsPerRun(1000, func() { Tick(cfg, st, in.Fix.TS.Add(time.Second), in.Trip) }); n != 0 {
		t.Errorf("Tick allocates %v times", n)
	}
}
