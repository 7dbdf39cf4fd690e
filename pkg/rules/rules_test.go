package rules

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

func nan() float64 { return math.NaN() }
func inf() float64 { return math.Inf(1) }

func ptr[T any](v T) *T { return &v }

var t0 = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

func TestStateJSONSmall(t *testing.T) {
	cfg := DefaultConfig()
	trip := &Trip{ID: "8b0e4a8c-3c1f-4a8e-9b1e-1f2a3b4c5d6e", CorridorID: "c0e4a8c-3c1f-4a8e-9b1e-1f2a3b4c5d6e", BufferM: 50,
		StartsAt: t0, EndsAt: t0.Add(time.Hour)}
	var st State
	for i := range 5 {
		st, _ = Evaluate(cfg, st, Input{Fix: Fix{TS: t0.Add(time.Duration(i) * 30 * time.Second), Lat: 30, Lon: 107,
			SpeedKmh: ptr(90.0), DeviceAlarms: []string{"emergency"}}, Trip: trip, DistanceM: 80})
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Active()) != 3 || len(b) > 1024 {
		t.Errorf("state with 3 alarms is %d bytes: %s", len(b), b)
	}
	var empty State
	if b, _ := json.Marshal(empty); string(b) != "{}" {
		t.Errorf("empty state marshals to %s", b)
	}
}

func TestNonFiniteInputs(t *testing.T) {
	cfg := DefaultConfig()
	trip := &Trip{ID: "T", BufferM: 50, StartsAt: t0, EndsAt: t0.Add(time.Hour)}
	var st State
	st, ch := Evaluate(cfg, st, Input{Fix: Fix{TS: t0, Lat: math.NaN(), Lon: 107}})
	if len(ch) != 0 || st.HasPos {
		t.Fatalf("a NaN position was processed")
	}
	for i := range 5 {
		st, ch = Evaluate(cfg, st, Input{Fix: Fix{TS: t0.Add(time.Duration(i) * time.Second), Lat: 30, Lon: 107,
			SpeedKmh: ptr(math.Inf(1))}, Trip: trip, DistanceM: math.NaN()})
		if len(ch) != 0 {
			t.Fatalf("non-finite speed or distance raised %v", ch)
		}
	}
	if _, err := json.Marshal(st); err != nil {
		t.Fatalf("state no longer serialises: %v", err)
	}
}

func TestActiveIsACopy(t *testing.T) {
	st, _ := Evaluate(DefaultConfig(), State{}, Input{Fix: Fix{TS: t0, Lat: 1, Lon: 1, DeviceAlarms: []string{"x"}}})
	a := st.Active()
	a[0].Key = "changed"
	if st.Active()[0].Key != "x" {
		t.Error("Active returns the state's own slice")
	}
	if (State{}).Active() != nil {
		t.Error("Active of an empty state should be nil")
	}
	if st.LastTS() != t0 || st.Offline() {
		t.Error("LastTS or Offline wrong")
	}
}

// TestTickClockSkew: a clear is never dated before its raise, even when the server clock is behind.
func TestTickClockSkew(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DeviationConfirmFixes = 1
	trip := &Trip{ID: "T", BufferM: 50, StartsAt: t0, EndsAt: t0.Add(time.Hour)}
	st, ch := Evaluate(cfg, State{}, Input{Fix: Fix{TS: t0.Add(10 * time.Minute), Lat: 1, Lon: 1}, Trip: trip, DistanceM: 100})
	if len(ch) != 1 {
		t.Fatalf("want a raise, got %v", ch)
	}
	_, ch = Tick(cfg, st, t0.Add(5*time.Minute), nil)
	if len(ch) != 1 || ch[0].Event != tracking.EventCleared || ch[0].At.Before(ch[0].StartedAt) || !ch[0].At.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("clear %+v", ch)
	}
}

func TestOfflineDue(t *testing.T) {
	cfg := DefaultConfig()
	trip := &Trip{ID: "T", BufferM: 50, StartsAt: t0, EndsAt: t0.Add(time.Hour)}
	var st State
	if _, ok := st.OfflineDue(cfg, nil); ok {
		t.Error("no trip: nothing due")
	}
	if due, ok := st.OfflineDue(cfg, trip); !ok || !due.Equal(t0.Add(cfg.OfflineAfter)) {
		t.Errorf("never seen: due %v, want trip start + OfflineAfter", due)
	}
	recv := t0.Add(10 * time.Minute)
	st, _ = Evaluate(cfg, st, Input{Fix: Fix{TS: recv.Add(-time.Second), Lat: 1, Lon: 1}, ReceivedAt: recv, Trip: trip})
	due, ok := st.OfflineDue(cfg, trip)
	if !ok || !due.Equal(recv.Add(cfg.OfflineAfter)) {
		t.Fatalf("due %v, want receive time + OfflineAfter", due)
	}
	if _, ch := Tick(cfg, st, due.Add(-time.Nanosecond), trip); len(ch) != 0 {
		t.Errorf("raised before due: %v", ch)
	}
	st, ch := Tick(cfg, st, due, trip)
	if len(ch) != 1 || ch[0].Kind != tracking.AlarmSignalLost || !st.Offline() {
		t.Fatalf("not raised when due: %v", ch)
	}
	if _, ok := st.OfflineDue(cfg, trip); ok {
		t.Error("already offline: nothing due")
	}
}
