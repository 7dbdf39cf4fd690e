package rules

import (
	"strconv"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// Device alarms cost time linear in the number of names: a fix carrying 100,000 names (the entrances
// reject more than 32, but the rules must not rely on it) used to stall Evaluate for minutes
// (a scan of the active alarms per name to raise, a shift of the alarm slice per clear).
func TestManyDeviceAlarmsAreLinear(t *testing.T) {
	const n = 100_000
	names := make([]string, n+1)
	for i := range n {
		names[i] = "alarm-" + strconv.Itoa(i)
	}
	names[n] = names[0] // a repeated name is one alarm
	cfg := DefaultConfig()
	type result struct {
		raised, cleared, kept []Change
		st                    State
	}
	done := make(chan result, 1)
	go func() {
		var r result
		st, ch := Evaluate(cfg, State{}, Input{Fix: Fix{TS: t0, Lat: 30, Lon: 107, DeviceAlarms: names}})
		r.raised = ch
		// The next fix keeps every odd name: the even ones clear.
		odd := make([]string, 0, n/2)
		for i := 1; i < n; i += 2 {
			odd = append(odd, names[i])
		}
		st, r.cleared = Evaluate(cfg, st, Input{Fix: Fix{TS: t0.Add(time.Second), Lat: 30, Lon: 107, DeviceAlarms: odd}})
		st, r.kept = Evaluate(cfg, st, Input{Fix: Fix{TS: t0.Add(2 * time.Second), Lat: 30, Lon: 107, DeviceAlarms: odd}})
		r.st = st
		done <- r
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(60 * time.Second): // linear takes well under a second; quadratic, minutes
		t.Fatal("Evaluate with 100,000 device alarm names stalled")
	}
	if len(r.raised) != n || len(r.cleared) != n/2 || len(r.kept) != 0 || len(r.st.Alarms) != n/2 {
		t.Fatalf("raised %d cleared %d kept-changes %d active %d", len(r.raised), len(r.cleared), len(r.kept), len(r.st.Alarms))
	}
	for i, c := range r.raised {
		if c.Kind != tracking.AlarmDevice || c.Event != tracking.EventRaised || c.DeviceAlarm != names[i] {
			t.Fatalf("raise %d: %+v", i, c)
		}
	}
	for i, c := range r.cleared { // in raise order
		if c.Event != tracking.EventCleared || c.DeviceAlarm != names[2*i] {
			t.Fatalf("clear %d: %+v", i, c)
		}
	}
	for i, a := range r.st.Alarms {
		if a.Key != names[2*i+1] {
			t.Fatalf("active %d is %s, want %s", i, a.Key, names[2*i+1])
		}
	}
}
