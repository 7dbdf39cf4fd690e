package tracking

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestETA(t *testing.T) {
	ts := time.Date(2026, 5, 1, 8, 0, 0, 0, time.FixedZone("CST", 8*3600))
	for _, c := range []struct {
		name      string
		remaining float64
		speed     float64
		want      *time.Duration
	}{
		{"36 km at 72 km/h", 36000, 72, dur(30 * time.Minute)},
		{"arrived", 0, 60, dur(0)},
		{"negative remaining is arrived", -5, 60, dur(0)},
		{"rounded to the second", 1000, 7.2, dur(500 * time.Second)},
		{"stopped", 36000, 4.9, nil},
		{"at the stop threshold", 5000, 5, dur(3600 * time.Second)},
		{"NaN speed", 1000, math.NaN(), nil},
		{"infinite speed", 1000, math.Inf(1), nil},
		{"NaN remaining", math.NaN(), 50, nil},
		{"more than a year away", 1e9, 5, nil},
	} {
		got := ETA(ts, c.remaining, c.speed)
		switch {
		case c.want == nil && got != nil:
			t.Errorf("%s: ETA %v, want none", c.name, got)
		case c.want != nil && (got == nil || !got.Equal(ts.Add(*c.want)) || got.Location() != time.UTC):
			t.Errorf("%s: ETA %v, want %v in UTC", c.name, got, ts.Add(*c.want))
		}
	}
}

func dur(d time.Duration) *time.Duration { return &d }

func TestSmoothSpeed(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	tau := 5 * time.Minute
	if v := SmoothSpeed(0, time.Time{}, 60, t0, tau); v != 60 {
		t.Fatalf("first sample %v", v)
	}
	// After one time constant the old average weighs 1/e.
	v := SmoothSpeed(60, t0, 0, t0.Add(tau), tau)
	if math.Abs(v-60/math.E) > 1e-9 {
		t.Fatalf("after tau: %v", v)
	}
	// A red light of 30 s barely moves an average of 60 km/h; a long stop brings it under 5.
	if v := SmoothSpeed(60, t0, 0, t0.Add(30*time.Second), tau); v < 54 {
		t.Fatalf("after a short stop: %v", v)
	}
	avg, at := 60.0, t0
	for i := 1; i <= 30; i++ { // 15 minutes stopped, a fix every 30 s
		next := t0.Add(time.Duration(i) * 30 * time.Second)
		avg, at = SmoothSpeed(avg, at, 0, next, tau), next
	}
	if avg >= StopSpeedKmh || ETA(at, 1000, avg) != nil {
		t.Fatalf("after 15 min stopped: %v", avg)
	}
	// Samples not newer, and invalid speeds, change nothing.
	for _, c := range []struct {
		speed float64
		ts    time.Time
	}{{80, t0}, {80, t0.Add(-time.Second)}, {math.NaN(), t0.Add(time.Minute)}, {-1, t0.Add(time.Minute)}} {
		if v := SmoothSpeed(50, t0, c.speed, c.ts, tau); v != 50 {
			t.Errorf("speed %v at %v: %v, want 50", c.speed, c.ts, v)
		}
	}
}

func TestSetProgress(t *testing.T) {
	ts := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	s := VehicleState{TS: ts}
	s.SetProgress(4000, 10000, 36)
	if *s.ProgressM != 4000 || *s.RemainingM != 6000 || s.ETA == nil || !s.ETA.Equal(ts.Add(10*time.Minute)) {
		t.Fatalf("progress %v %v %v", *s.ProgressM, *s.RemainingM, s.ETA)
	}
	s.SetProgress(12000, 10000, 0) // past the end (rounding), stopped
	if *s.ProgressM != 10000 || *s.RemainingM != 0 || s.ETA != nil {
		t.Fatalf("clamped %v %v %v", *s.ProgressM, *s.RemainingM, s.ETA)
	}
	s.ClearProgress()
	data, _ := json.Marshal(s)
	for _, k := range []string{`"progress_m":null`, `"remaining_m":null`, `"eta":null`} {
		if !strings.Contains(string(data), k) {
			t.Fatalf("%s missing from %s", k, data)
		}
	}
}

func TestDisposalsAndCSV(t *testing.T) {
	for _, d := range []string{"handled", "no_action", "false_alarm", "later"} {
		if !ValidDisposal(d) {
			t.Errorf("%s rejected", d)
		}
	}
	for _, d := range []string{"", "Handled", "done"} {
		if ValidDisposal(d) {
			t.Errorf("%q accepted", d)
		}
	}
	r := DailyReport{CarrierID: "acme", Day: "2026-05-01", Timezone: "Asia/Shanghai", OnlineRate: Ratio(2, 3),
		AlarmsByKind: map[string]int64{AlarmOverspeed: 4}, ComputedAt: time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC)}
	rec, head := r.CSVRecord(), DailyReportCSVHeader()
	if len(rec) != len(head) {
		t.Fatalf("%d fields, %d columns", len(rec), len(head))
	}
	row := map[string]string{}
	for i := range head {
		row[head[i]] = rec[i]
	}
	if row["online_rate"] != "0.6666666666666666" || row["alarms_overspeed"] != "4" || row["alarms_route_deviation"] != "0" ||
		row["drift_rate"] != "" || row["computed_at"] != "2026-05-02T00:00:00Z" {
		t.Fatalf("row %v", row)
	}
	if Ratio(1, 0) != nil {
		t.Fatal("ratio over zero")
	}
}
