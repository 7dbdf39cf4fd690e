package rules

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// maxFuzzSteps bounds a fuzz sequence: long enough for every rule's episodes, short enough that
// the fuzzer's minimisation stays fast.
const maxFuzzSteps = 64

// fuzzOps turns bytes into a config and a sequence of fixes and ticks: 5 bytes per step.
func fuzzOps(data []byte) (Config, []fuzzStep) {
	cfg := DefaultConfig()
	cfg.OfflineAfter, cfg.StopAfter = 2*time.Minute, 2*time.Minute
	cfg.FatigueDrive, cfg.FatigueRest = 10*time.Minute, 3*time.Minute
	if len(data) > 0 {
		cfg.DeviationConfirmFixes = 1 + int(data[0]%3)
		cfg.ClearFixes = 1 + int(data[0]/3%3)
		cfg.OverspeedConfirmFixes = 1 + int(data[0]/9%3)
		data = data[1:]
	}
	trips := []*Trip{nil,
		{ID: "T1", CorridorID: "C1", BufferM: 50, MaxSpeedKmh: 60, StartsAt: t0, EndsAt: t0.Add(20 * time.Minute)},
		{ID: "T2", CorridorID: "C2", BufferM: 50, StartsAt: t0.Add(20 * time.Minute), EndsAt: t0.Add(time.Hour)},
		{ID: "T3", CorridorID: "C1", BufferM: 0.5, StartsAt: t0.Add(-time.Hour), EndsAt: t0.Add(2 * time.Hour)},
	}
	dists := []float64{0, 49, 50, 51, 500, math.NaN()}
	speeds := []float64{-1, 0, 4.9, 5, 60, 80, 80.1, 130, math.NaN()}
	night := &tracking.ActiveHours{From: "16:10", To: "16:20"} // 08:10–08:20 UTC in Shanghai
	var steps []fuzzStep
	ts := t0
	for len(data) >= 5 && len(steps) < maxFuzzSteps {
		b := data[:5]
		data = data[5:]
		ts = ts.Add(time.Duration(int(b[1])-32) * 10 * time.Second)
		s := fuzzStep{trip: trips[b[4]%4]}
		if b[0]%16 == 0 {
			s.tick = true
			s.now = ts.Add(time.Duration(b[4]>>2) * 10 * time.Second)
			steps = append(steps, s)
			continue
		}
		in := &s.in
		in.Fix = Fix{TS: ts, Lat: 30 + float64(b[0])/1000, Lon: 107}
		in.ReceivedAt = ts.Add(time.Duration(b[4]>>2) * time.Second)
		in.Trip = s.trip
		in.DistanceM = dists[int(b[2])%len(dists)]
		if v := speeds[int(b[2])/len(dists)%len(speeds)]; v >= 0 || math.IsNaN(v) {
			in.Fix.SpeedKmh = &v
		}
		if b[3]&1 != 0 {
			in.Zones = append(in.Zones, ZoneHit{ID: "Z1", Kind: tracking.ZoneRestricted})
		}
		if b[3]&2 != 0 {
			in.Zones = append(in.Zones, ZoneHit{ID: "Z2", Kind: tracking.ZoneRestricted, ActiveHours: night})
		}
		if b[3]&4 != 0 {
			in.Zones = append(in.Zones, ZoneHit{ID: "P", Kind: tracking.ZoneParking})
		}
		in.Fix.Implausible = b[3]&0x18 == 0x18
		if b[3]&0x20 != 0 {
			in.Fix.DeviceAlarms = append(in.Fix.DeviceAlarms, "emergency")
		}
		if b[3]&0x40 != 0 {
			in.Fix.DeviceAlarms = append(in.Fix.DeviceAlarms, "power_cut", "")
		}
		steps = append(steps, s)
	}
	return cfg, steps
}

type fuzzStep struct {
	tick bool
	now  time.Time
	trip *Trip
	in   Input
}

func FuzzEvaluate(f *testing.F) {
	f.Add([]byte{0, 1, 40, 20, 0, 1, 1, 40, 20, 1, 2, 40, 22, 1, 3, 40, 22, 1, 4, 34, 0, 1, 0, 80, 0, 0})
	f.Add([]byte{13, 5, 33, 43, 97, 1, 5, 33, 43, 97, 1, 5, 33, 43, 97, 1, 5, 33, 43, 96, 1, 0, 32, 0, 0, 1, 5, 34, 0, 1})
	f.Add([]byte{4, 7, 32, 10, 0, 5, 16, 200, 0, 0, 5, 32, 250, 0, 3, 5, 9, 36, 0, 1, 5, 32, 36, 0, 1})
	f.Add([]byte{26, 1, 60, 28, 0, 2, 30, 28, 0, 2, 40, 28, 0, 2, 40, 28, 0, 2, 40, 28, 24, 2, 40, 28, 0, 2})
	f.Fuzz(checkSequence)
}

// checkSequence runs the steps encoded in data and checks the invariants of the rules.
func checkSequence(t *testing.T, data []byte) {
	{
		cfg, steps := fuzzOps(data)
		var st, twin State
		active := map[string]bool{}
		for i, s := range steps {
			before, _ := json.Marshal(st)
			var ch, twinCh []Change
			if s.tick {
				st, ch = Tick(cfg, st, s.now, s.trip)
				twin, twinCh = Tick(cfg, roundtrip(t, twin), s.now, s.trip)
			} else {
				st, ch = Evaluate(cfg, st, s.in)
				twin, twinCh = Evaluate(cfg, roundtrip(t, twin), s.in)
				if st2, again := Evaluate(cfg, st, s.in); len(again) != 0 || !reflect.DeepEqual(st2, st) {
					t.Fatalf("step %d: the same fix again changed something: %v", i, again)
				}
			}
			if after, _ := json.Marshal(st); string(before) == string(after) && len(ch) != 0 {
				t.Fatalf("step %d: changes without a state change", i)
			}
			if fmt.Sprint(describe(ch)) != fmt.Sprint(describe(twinCh)) {
				t.Fatalf("step %d: reloaded state gives %v, want %v", i, describe(twinCh), describe(ch))
			}
			for _, c := range ch {
				k := changeKey(c)
				switch c.Event {
				case tracking.EventRaised:
					if active[k] {
						t.Fatalf("step %d: %s raised twice", i, k)
					}
					if c.At.Before(c.StartedAt) {
						t.Fatalf("step %d: %s raised before it started", i, k)
					}
					active[k] = true
				case tracking.EventCleared:
					if !active[k] {
						t.Fatalf("step %d: %s cleared but not raised", i, k)
					}
					if c.At.Before(c.StartedAt) {
						t.Fatalf("step %d: %s cleared before it started", i, k)
					}
					delete(active, k)
				default:
					t.Fatalf("step %d: event %q", i, c.Event)
				}
			}
			var got, want []string
			for _, a := range st.Active() {
				got = append(got, alarmKey(a.Kind, a.Key))
			}
			for k := range active {
				want = append(want, k)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("step %d: Active() = %v, changes say %v", i, got, want)
			}
			if st.Offline() != active[alarmKey(tracking.AlarmSignalLost, "")] {
				t.Fatalf("step %d: Offline() disagrees with the changes", i)
			}
		}
	}
}

func describe(ch []Change) []string {
	var out []string
	for _, c := range ch {
		out = append(out, formatChange(t0, c))
	}
	return out
}
