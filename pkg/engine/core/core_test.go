package core

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/geofence"
	"github.com/corridor-dev/corridor/pkg/rules"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// testWorld: vehicle v1 of carrier c1 on a trip along a corridor on latitude 29.80 from
// 107.00 to 107.50 (200 m buffer), active all day.
func testWorld() *World {
	coords := []float64{}
	for i := 0; i <= 50; i++ {
		coords = append(coords, 107+float64(i)*0.01, 29.8)
	}
	return &World{
		Index:     geofence.NewIndex([]geofence.Corridor{{ID: "cor", Coords: coords, BufferM: 200}}, nil),
		Corridors: map[string]*Corridor{"cor": {ID: "cor", BufferM: 200}},
		Zones:     map[string]*Zone{},
		Vehicles:  map[string]Vehicle{"v1": {ID: "v1", CarrierID: "c1", Plate: "P1"}},
		Trips: map[string][]tracking.Trip{"v1": {{ID: "trip", VehicleID: "v1", CarrierID: "c1", CorridorID: "cor",
			StartsAt: t0.Add(-time.Hour), EndsAt: t0.Add(24 * time.Hour)}}},
	}
}

// fx is a fix s seconds after t0 at lon, lat, 60 km/h.
func fx(s int, lon, lat float64) tracking.Position {
	v := 60.0
	return tracking.Position{VehicleID: "v1", CarrierID: "c1", TS: t0.Add(time.Duration(s) * time.Second), Lon: lon, Lat: lat, SpeedKmh: &v}
}

// along is a fix s seconds after t0 on the corridor, moving east at 60 km/h (1 km a minute).
func along(s int) tracking.Position { return fx(s, 107+float64(s)/60*0.0103, 29.8) }

// run applies fixes and describes each outcome: "stored[flags] status changes".
func run(c *Core, w *World, ps []tracking.Position) []string {
	var out []string
	for _, p := range ps {
		o := c.Apply(w, w.Vehicles["v1"], p, nil, p.TS.Add(time.Second))
		var b strings.Builder
		switch {
		case o.Duplicate:
			b.WriteString("duplicate")
		case o.Position != nil:
			fmt.Fprintf(&b, "stored%v", o.Position.Flags)
		}
		if o.Live != nil {
			b.WriteString(" " + o.Live.Status)
		}
		for _, ch := range o.Changes {
			b.WriteString(" " + ch.Event + ":" + ch.Kind)
		}
		out = append(out, b.String())
	}
	return out
}

func TestApplyPlausibility(t *testing.T) {
	glitch := func(s int) tracking.Position { return fx(s, 110.2, 29.8) } // ~300 km east
	cases := []struct {
		name string
		ps   []tracking.Position
		want []string
	}{
		{"steady", []tracking.Position{along(0), along(60), along(120)},
			[]string{"stored[] on_route", "stored[] on_route", "stored[] on_route"}},
		{"single glitch in the middle", []tracking.Position{along(0), along(60), glitch(90), along(120), along(180)},
			[]string{"stored[] on_route", "stored[] on_route", "stored[implausible_jump]", "stored[] on_route", "stored[] on_route"}},
		// The first fix is the glitch: the next fix disagrees with it and is held as suspect; the
		// one after agrees with the suspect, so the reference was the outlier: rules resume.
		{"first fix is the glitch", []tracking.Position{glitch(0), along(60), along(120), along(180)},
			[]string{"stored[] off_route", "stored[implausible_jump]", "stored[] on_route", "stored[] on_route"}},
		// After a two-hour stop a glitch 300 km off is plausible (150 km/h) and becomes the
		// reference; the correct fixes after it overrule it after one fix.
		{"glitch after a long stop", []tracking.Position{along(0), glitch(7200), fx(7260, 107.01, 29.8), fx(7320, 107.02, 29.8), fx(7380, 107.03, 29.8)},
			[]string{"stored[] on_route", "stored[] off_route", "stored[implausible_jump]", "stored[] on_route", "stored[] on_route"}},
		{"two glitches in a row that disagree with each other", []tracking.Position{along(0), glitch(30), fx(60, 104, 29.8), along(120)},
			[]string{"stored[] on_route", "stored[implausible_jump]", "stored[implausible_jump]", "stored[] on_route"}},
		{"duplicate and out of order", []tracking.Position{along(60), along(60), along(0)},
			[]string{"stored[] on_route", "duplicate", "stored[out_of_order]"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := run(New(rules.DefaultConfig()), testWorld(), tc.ps)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestGlitchDoesNotBlindTheRules: after a first-fix glitch, a deviation is raised after the
// confirming fixes as usual (at most 2 fixes lost), not an hour later.
func TestGlitchDoesNotBlindTheRules(t *testing.T) {
	off := func(s int) tracking.Position { return fx(s, 107+float64(s)/60*0.0103, 29.81) } // ~1.1 km north
	ps := []tracking.Position{fx(0, 110.2, 29.8), along(60), along(120), off(180), off(240), off(300)}
	got := run(New(rules.DefaultConfig()), testWorld(), ps)
	if last := got[len(got)-1]; !strings.Contains(last, "raised:route_deviation") {
		t.Fatalf("no deviation raised after a first-fix glitch:\n%s", strings.Join(got, "\n"))
	}
}

func TestRollbackRestoresState(t *testing.T) {
	c, w := New(rules.DefaultConfig()), testWorld()
	run(c, w, []tracking.Position{along(0)})
	before, _, _ := c.State("v1")
	c.Begin()
	run(c, w, []tracking.Position{along(60), fx(90, 110.2, 29.8)})
	c.Rollback()
	after, _, _ := c.State("v1")
	if !after.LastTS.Equal(before.LastTS) || after.Suspect != nil {
		t.Fatalf("state after rollback %+v, want %+v", after, before)
	}
	c.Begin()
	c.Apply(w, Vehicle{ID: "v2", CarrierID: "c1"}, tracking.Position{VehicleID: "v2", CarrierID: "c1", TS: t0, Lat: 29.8, Lon: 107}, nil, t0)
	c.Rollback()
	if _, _, ok := c.State("v2"); ok {
		t.Fatal("a vehicle first seen in a rolled-back batch survived it")
	}
	if n := len(c.TakeDirty()); n == 0 {
		t.Fatal("nothing dirty after changes")
	}
	if n := len(c.TakeDirty()); n != 0 {
		t.Fatalf("%d dirty after TakeDirty", n)
	}
}

func TestTickRaisesSignalLostAndLiveOffline(t *testing.T) {
	c, w := New(rules.DefaultConfig()), testWorld()
	run(c, w, []tracking.Position{along(0)})
	outs, errs := c.Tick(w, t0.Add(10*time.Minute))
	if len(errs) != 0 || len(outs) != 1 || len(outs[0].Changes) != 1 || outs[0].Changes[0].Kind != tracking.AlarmSignalLost ||
		outs[0].Live == nil || outs[0].Live.Status != tracking.StatusOffline {
		t.Fatalf("tick: %+v %v", outs, errs)
	}
	got := run(c, w, []tracking.Position{along(660)})
	if !strings.Contains(got[0], "cleared:signal_lost") || !strings.Contains(got[0], "on_route") {
		t.Fatalf("next fix: %s", got[0])
	}
}

func TestAlarmIDIsDeterministic(t *testing.T) {
	a := AlarmID("v1", "device_alarm", "emergency", t0)
	if a != AlarmID("v1", "device_alarm", "emergency", t0.Add(100*time.Nanosecond)) {
		t.Fatal("sub-microsecond difference changes the id (the database keeps microseconds)")
	}
	for _, b := range []string{AlarmID("v2", "device_alarm", "emergency", t0), AlarmID("v1", "device_alarm", "fatigue", t0),
		AlarmID("v1", "device_alarm", "emergency", t0.Add(time.Second)), AlarmID("v1", "overspeed", "", t0)} {
		if a == b {
			t.Fatal("different alarms share an id")
		}
	}
}

func TestTickOnlyForOwnedVehicles(t *testing.T) {
	c, w := New(rules.DefaultConfig()), testWorld()
	c.SetOwner(func(string) bool { return false })
	if outs, errs := c.Tick(w, t0.Add(10*time.Minute)); len(outs) != 0 || len(errs) != 0 || c.Len() != 0 {
		t.Fatalf("a core without vehicles of its own ticked: %+v %v", outs, errs)
	}
	c.SetOwner(func(string) bool { return true })
	if outs, _ := c.Tick(w, t0.Add(10*time.Minute)); len(outs) != 1 {
		t.Fatalf("owned vehicle not ticked: %+v", outs)
	}
}

func TestDirtyAcrossRollbackAndFailedCheckpoint(t *testing.T) {
	c, w := New(rules.DefaultConfig()), testWorld()
	run(c, w, []tracking.Position{along(0)})
	if d := c.TakeDirty(); len(d) != 1 || d[0].VehicleID != "v1" {
		t.Fatalf("dirty after a fix: %+v", d)
	}
	c.Begin()
	run(c, w, []tracking.Position{along(60)})
	c.Rollback()
	if d := c.TakeDirty(); len(d) != 0 {
		t.Fatalf("a vehicle rolled back to its checkpointed state is dirty: %+v", d)
	}
	c.Begin()
	run(c, w, []tracking.Position{along(60), along(120)})
	c.Commit()
	d := c.TakeDirty()
	if len(d) != 1 || !d[0].State.LastTS.Equal(along(120).TS) {
		t.Fatalf("dirty after a committed batch: %+v", d)
	}
	c.MarkDirty([]string{"v1", "gone"}) // the checkpoint failed
	run(c, w, []tracking.Position{along(180)})
	if d := c.TakeDirty(); len(d) != 1 || !d[0].State.LastTS.Equal(along(180).TS) {
		t.Fatalf("dirty after a failed checkpoint and a fix: %+v", d)
	}
}
