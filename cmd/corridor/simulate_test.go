package main

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/internal/pgtest"
	"github.com/corridor-dev/corridor/pkg/natsbus"
	"github.com/corridor-dev/corridor/pkg/postgres"
	"github.com/corridor-dev/corridor/pkg/sim"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

type liveCollection struct {
	Features []struct {
		Properties tracking.VehicleState `json:"properties"`
	} `json:"features"`
}

// TestDemoFleet: the demo (as `serve --demo` starts it) against a real server: every demo
// truck shows in the live view, the deliberate deviator raises route_deviation and the
// overspeeder overspeed within seconds (its first minutes replayed 60× faster), and no truck
// gets a spurious signal_lost from its trip starting before its first fix.
func TestDemoFleet(t *testing.T) {
	dbURL := pgtest.NewURL(t, false)
	natsURL := startNATS(t)
	srv := startServe(t, map[string]string{"DATABASE_URL": dbURL, "NATS_URL": natsURL, "CORRIDOR_DATA_DIR": t.TempDir()})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, err := postgres.Open(ctx, dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bus, err := natsbus.Connect(ctx, natsURL, "demo-test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	start := time.Now()
	ro := demoRunOptions()
	ro.Speedup = 60
	if err := startDemo(ctx, db, bus, nil, ro); err != nil {
		t.Fatal(err)
	}
	// Seeding again reuses every row (a second `serve --demo` must not fail) and plans the
	// same fleet.
	fleet, err := sim.SeedDemo(ctx, db)
	if err != nil {
		t.Fatalf("second seeding: %v", err)
	}
	if len(fleet.Vehicles) != 18 {
		t.Fatalf("%d demo vehicles", len(fleet.Vehicles))
	}
	var trips []tracking.Trip
	srv.do("GET", "/v1/trips?active=true", nil, 200, &trips)
	var corridors struct {
		Features []any `json:"features"`
	}
	srv.do("GET", "/v1/corridors", nil, 200, &corridors)
	if len(trips) != 18 || len(corridors.Features) != 3 {
		t.Fatalf("after seeding twice: %d active trips, %d corridors", len(trips), len(corridors.Features))
	}
	deviator := fleet.With(sim.RouteDeviation)[0]
	speeder := fleet.With(sim.Overspeed)[0]

	waitUntil(t, 15*time.Second, "every demo truck in /v1/positions/live", func() bool {
		var live liveCollection
		srv.do("GET", "/v1/positions/live", nil, 200, &live)
		seen := map[string]bool{}
		for _, f := range live.Features {
			seen[f.Properties.VehicleID] = true
		}
		for _, v := range fleet.Vehicles {
			if !seen[v.VehicleID] {
				return false
			}
		}
		return true
	})
	alarmsOf := func(kind string) []tracking.Alarm {
		var l alarmList
		srv.do("GET", "/v1/alarms?limit=200&kind="+url.QueryEscape(kind), nil, 200, &l)
		return l.Alarms
	}
	has := func(as []tracking.Alarm, vehicle string) bool {
		return slices.ContainsFunc(as, func(a tracking.Alarm) bool { return a.VehicleID == vehicle })
	}
	waitUntil(t, 20*time.Second-time.Since(start), "route_deviation of the deviator and overspeed of the speeder", func() bool {
		return has(alarmsOf("route_deviation"), deviator) && has(alarmsOf("overspeed"), speeder)
	})
	t.Logf("alarms after %v", time.Since(start).Round(100*time.Millisecond))
	allowed := append(fleet.With(sim.RouteDeviation), fleet.With(sim.RestrictedZone)...)
	for _, a := range alarmsOf("route_deviation") {
		if !slices.Contains(allowed, a.VehicleID) {
			t.Errorf("route_deviation of well-behaved %s: %+v", a.VehicleID, a)
		}
	}
	for _, a := range alarmsOf("overspeed") {
		if a.VehicleID != speeder {
			t.Errorf("overspeed of %s, not the speeder %s", a.VehicleID, speeder)
		}
	}
	if sl := alarmsOf("signal_lost"); len(sl) > 0 {
		t.Errorf("spurious signal_lost: %+v", sl[0])
	}
}

// TestSimulateCommand: `corridor simulate` against a migrated database and a NATS server:
// flag errors, the demo for a moment, then load mode printing its rate.
func TestSimulateCommand(t *testing.T) {
	env := map[string]string{"DATABASE_URL": pgtest.NewURL(t, true), "NATS_URL": startNATS(t), "CORRIDOR_LOG_LEVEL": "warn"}
	simulate := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := cmdSimulate(context.Background(), args, func(k string) string { return env[k] }, &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, _, errs := simulate("--interval", "10ms"); code != 2 || !strings.Contains(errs, "--interval must be at least 1s") {
		t.Fatalf("bad interval: %d %q", code, errs)
	}
	if code, _, errs := simulate("--duration", "1s"); code != 1 || !strings.Contains(errs, "no vehicle has an active trip") || strings.Count(errs, "\n") != 1 {
		t.Fatalf("empty database: %d %q", code, errs)
	}
	code, out, errs := simulate("--seed-demo", "--duration", "2s", "--backfill", "5m", "--interval", "5s")
	if code != 0 || !strings.Contains(out, "18 vehicles") || !strings.Contains(out, "route_deviation=") || !strings.Contains(out, "fixes published") {
		t.Fatalf("demo: %d %q %q", code, out, errs)
	}
	var published int
	fmt.Sscanf(out[strings.LastIndex(out, "simulate: ")+len("simulate: "):], "%d", &published)
	if published < 18 {
		t.Fatalf("demo: %d fixes published\n%s", published, out)
	}
	code, out, errs = simulate("--load", "--vehicles", "50", "--duration", "2s")
	if code != 0 || !strings.Contains(out, "50 vehicles") || !strings.Contains(out, "fixes/s") {
		t.Fatalf("load: %d %q %q", code, out, errs)
	}
	t.Log(strings.TrimSpace(out))
	env["NATS_URL"] = "nats://127.0.0.1:1"
	if code, _, errs := simulate("--duration", "1s"); code != 1 || !strings.Contains(errs, "NATS unreachable") {
		t.Fatalf("no NATS: %d %q", code, errs)
	}
}
