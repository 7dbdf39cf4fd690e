package rules

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// TestTickChangesMatchesTick: TickChanges says true exactly when Tick returns changes, over
// random states, trips and times.
func TestTickChangesMatchesTick(t *testing.T) {
	cfg := DefaultConfig()
	rng := rand.New(rand.NewPCG(3, 8))
	base := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	at := func() time.Time { return base.Add(time.Duration(rng.IntN(7200)-3600) * time.Second) }
	yes := 0
	for i := 0; i < 200000; i++ {
		st := State{LastSeen: at(), HasPos: rng.IntN(2) == 0}
		if rng.IntN(4) == 0 {
			st.LastSeen = time.Time{}
		}
		if rng.IntN(3) == 0 {
			st.Alarms = append(st.Alarms, ActiveAlarm{Kind: tracking.AlarmRouteDeviation, TripID: []string{"a", "b"}[rng.IntN(2)], TripStartsAt: at()})
		}
		if rng.IntN(4) == 0 {
			st.Alarms = append(st.Alarms, ActiveAlarm{Kind: tracking.AlarmSignalLost})
		}
		if rng.IntN(3) == 0 {
			st.Deviation = Episode{TripID: "a", TripStart: at(), Count: 1}
		}
		var trip *Trip
		if rng.IntN(4) != 0 {
			s := at()
			trip = &Trip{ID: []string{"a", "b"}[rng.IntN(2)], StartsAt: s, EndsAt: s.Add(time.Hour)}
		}
		now := at()
		_, ch := Tick(cfg, st, now, trip)
		if got := st.TickChanges(cfg, now, trip); got != (len(ch) > 0) {
			t.Fatalf("state %+v trip %+v now %s: TickChanges %v, Tick changes %+v", st, trip, now, got, ch)
		}
		if len(ch) > 0 {
			yes++
		}
	}
	if yes < 10000 {
		t.Fatalf("only %d cases with changes", yes)
	}
}

// TestNoAlarmRoomKept: a state whose alarms are all cleared keeps no room for them (half a
// kilobyte per vehicle after a fleet-wide signal_lost), and one alarm takes room for one.
func TestNoAlarmRoomKept(t *testing.T) {
	cfg := DefaultConfig()
	base := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	trip := &Trip{ID: "t", CorridorID: "c", BufferM: 200, StartsAt: base.Add(-time.Hour), EndsAt: base.Add(time.Hour)}
	st, ch := Tick(cfg, State{}, base, trip)
	if len(ch) != 1 || cap(st.Alarms) != 1 {
		t.Fatalf("signal_lost: changes %+v, room for %d alarms", ch, cap(st.Alarms))
	}
	s := 50.0
	st, ch = Evaluate(cfg, st, Input{Fix: Fix{TS: base, Lat: 29.8, Lon: 107, SpeedKmh: &s}, ReceivedAt: base, Trip: trip})
	if len(ch) != 1 || st.Alarms != nil {
		t.Fatalf("after the clearing fix: changes %+v, alarms %v (room for %d)", ch, st.Alarms, cap(st.Alarms))
	}
}
