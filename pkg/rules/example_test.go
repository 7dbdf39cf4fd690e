package rules_test

import (
	"fmt"
	"time"

	"github.com/corridor-dev/corridor/pkg/rules"
)

// The engine keeps one State per vehicle, passes every fix in ts order, and runs Tick from a
// ticker; the State is stored with each committed batch.
func ExampleEvaluate() {
	cfg := rules.DefaultConfig()
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, cfg.Location)
	trip := &rules.Trip{ID: "trip-1", CorridorID: "corridor-1", BufferM: 50, StartsAt: start, EndsAt: start.Add(4 * time.Hour)}
	var st rules.State
	for i, d := range []float64{20, 60, 75, 90, 40, 30} {
		ts := start.Add(time.Duration(i) * 30 * time.Second)
		var changes []rules.Change
		st, changes = rules.Evaluate(cfg, st, rules.Input{
			Fix:  rules.Fix{TS: ts, Lat: 29.85, Lon: 107.08},
			Trip: trip, DistanceM: d, ReceivedAt: ts,
		})
		for _, c := range changes {
			fmt.Println(c.At.Format("15:04:05"), c.Event, c.Kind, "since", c.StartedAt.Format("15:04:05"))
		}
	}
	_, changes := rules.Tick(cfg, st, start.Add(10*time.Minute), trip)
	for _, c := range changes {
		fmt.Println(c.At.Format("15:04:05"), c.Event, c.Kind, "since", c.StartedAt.Format("15:04:05"))
	}
	// Output:
	// 09:01:30 raised route_deviation since 09:00:30
	// 09:02:30 cleared route_deviation since 09:00:30
	// 09:10:00 raised signal_lost since 09:02:30
}
