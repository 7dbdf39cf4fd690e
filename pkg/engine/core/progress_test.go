package core

import (
	"math"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/geo"
	"github.com/corridor-dev/corridor/pkg/rules"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// A vehicle on its trip gets its progress along the corridor, what remains of it and an ETA at
// its recent speed; progress grows as it drives, and a vehicle off its trip has none.
func TestLiveProgressAlongTheCorridor(t *testing.T) {
	w := testWorld()
	c := New(rules.DefaultConfig())
	length := geo.Geodesic(107, 29.8, 107.5, 29.8)
	var prev float64
	for i, s := range []int{0, 60, 120, 180} {
		o := c.Apply(w, w.Vehicles["v1"], along(s), nil, t0.Add(time.Duration(s+1)*time.Second))
		l := o.Live
		if l == nil || l.ProgressM == nil || l.RemainingM == nil || l.ETA == nil {
			t.Fatalf("fix %d: no progress in %+v", i, l)
		}
		want := geo.Geodesic(107, 29.8, l.Lon, 29.8)
		if math.Abs(*l.ProgressM-want) > 1 || math.Abs(*l.ProgressM+*l.RemainingM-length) > 1 { // 50 edges summed vs one geodesic
			t.Errorf("fix %d: progress %.1f remaining %.1f, want %.1f of %.1f", i, *l.ProgressM, *l.RemainingM, want, length)
		}
		if i > 0 && *l.ProgressM <= prev {
			t.Errorf("fix %d: progress %.1f did not grow from %.1f", i, *l.ProgressM, prev)
		}
		prev = *l.ProgressM
		// 60 km/h throughout: the ETA is the remaining distance at 60 km/h, to the second.
		eta := l.TS.Add(time.Duration(math.Round(*l.RemainingM/(60/3.6))) * time.Second)
		if d := l.ETA.Sub(eta); d < -time.Second || d > time.Second {
			t.Errorf("fix %d: eta %v, want %v", i, l.ETA, eta)
		}
	}
	// Without a trip: no progress.
	w.Trips = map[string][]tracking.Trip{}
	if o := c.Apply(w, w.Vehicles["v1"], along(240), nil, t0.Add(241*time.Second)); o.Live == nil || o.Live.ProgressM != nil || o.Live.ETA != nil {
		t.Fatalf("no trip: %+v", o.Live)
	}
}
