package core

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/rules"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// plainState has State's fields and no methods: encoding/json encodes it by reflection.
type plainState State

// TestStateJSONMatchesReflection: State's MarshalJSON writes what encoding/json writes by
// reflection, and reads back equal, over random states.
func TestStateJSONMatchesReflection(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	tm := func() time.Time {
		switch rng.IntN(4) {
		case 0:
			return time.Time{}
		case 1:
			return t0.Add(time.Duration(rng.Int64N(1e13))).In(time.FixedZone("CST", 8*3600))
		}
		return t0.Add(time.Duration(rng.Int64N(1e13)))
	}
	fl := func() float64 {
		if rng.IntN(3) == 0 {
			return 0
		}
		return rng.NormFloat64() * 100
	}
	str := func() string { return []string{"", "a", "trip-1", `q"<&>`, "渝A", "bad\xff"}[rng.IntN(6)] }
	ep := func() rules.Episode {
		if rng.IntN(2) == 0 {
			return rules.Episode{}
		}
		return rules.Episode{TripID: str(), TripStart: tm(), Count: rng.IntN(3), Since: tm(), MaxKmh: fl()}
	}
	for i := 0; i < 20000; i++ {
		st := State{LastTS: tm(), LastLat: fl(), LastLon: fl(), Hint: rng.IntN(5) - 1, AvgKmh: fl(), AvgAt: tm()}
		st.Rules = rules.State{LastFixTS: tm(), LastSeen: tm(), Lat: fl(), Lon: fl(), HasPos: rng.IntN(2) == 0, EndedTrip: str(),
			Deviation: ep(), Overspeed: ep(), Stop: ep()}
		if rng.IntN(2) == 0 {
			st.Rules.Fatigue = rules.FatigueState{DriveSince: tm(), RestSince: tm()}
		}
		for k := rng.IntN(4); k > 0; k-- {
			st.Rules.Alarms = append(st.Rules.Alarms, rules.ActiveAlarm{Kind: tracking.AlarmDevice, Key: str(), TripID: str(), CorridorID: str(),
				TripStartsAt: tm(), TripEndsAt: tm(), StartedAt: tm(), RaisedAt: tm(), Compliant: rng.IntN(3)})
		}
		if rng.IntN(2) == 0 {
			st.Rules.Alarms = []rules.ActiveAlarm{} // empty, not nil: omitted all the same
		}
		if rng.IntN(3) == 0 {
			st.Suspect = &Ref{TS: tm(), Lat: fl(), Lon: fl()}
		}
		want, err := json.Marshal((*plainState)(&st))
		if err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(&st)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("state %+v:\nMarshalJSON %s (%v)\nreflection  %s", st, got, err, want)
		}
		var back, wantBack State
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatal(err)
		}
		_ = json.Unmarshal(want, &wantBack)
		if !reflect.DeepEqual(back, wantBack) {
			t.Fatalf("read back %+v, want %+v", back, wantBack)
		}
	}
}

func BenchmarkStateJSON(b *testing.B) {
	c, w := New(rules.DefaultConfig()), testWorld()
	run(c, w, []tracking.Position{along(0), along(60), fx(90, 107.1, 29.81)})
	st, _, _ := c.State("v1")
	b.Run("reflection", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_, _ = json.Marshal((*plainState)(&st))
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_, _ = json.Marshal(&st)
		}
	})
	b.Run("MarshalJSON", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_, _ = st.MarshalJSON()
		}
	})
}
