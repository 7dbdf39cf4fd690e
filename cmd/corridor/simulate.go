package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/corridor-dev/corridor/pkg/natsbus"
	"github.com/corridor-dev/corridor/pkg/postgres"
	"github.com/corridor-dev/corridor/pkg/sim"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

const simulateUsage = `Usage: corridor simulate [flags]

Publishes a simulated fleet's telemetry to NATS (telemetry.<carrier>.<vehicle>): every vehicle
with an active trip drives its trip's corridor, some of them misbehaving on purpose. With --load,
N load-test vehicles publish as fast as NATS takes their fixes, and the rate is printed.

Environment: DATABASE_URL (vehicles, trips, corridors, zones), NATS_URL (default
nats://<CORRIDOR_EMBEDDED_NATS_ADDR>, i.e. nats://127.0.0.1:4222).

Flags:
`

// simulateFlags are the flags of corridor simulate.
type simulateFlags struct {
	vehicles     int
	interval     time.Duration
	speedup      float64
	backfill     time.Duration
	duration     time.Duration
	seed         uint64
	load         bool
	seedDemo     bool
	misbehave    bool
	deviceAlarms int
	workers      int
}

func parseSimulateFlags(args []string, stderr io.Writer) (simulateFlags, error) {
	var f simulateFlags
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, simulateUsage); fs.PrintDefaults() }
	fs.IntVar(&f.vehicles, "vehicles", 0, "vehicles to simulate: the first N with an active trip (0: all); with --load, load-test vehicles to create and drive (default 100)")
	fs.DurationVar(&f.interval, "interval", sim.DefaultInterval, "time between two fixes of a vehicle (at least 1s)")
	fs.Float64Var(&f.speedup, "speedup", 0, "replay the --backfill window X times faster than real time (0: at once); fixes are never stamped ahead of the clock, so the fleet then drives in real time")
	fs.DurationVar(&f.backfill, "backfill", 0, "also publish the fixes of this window before now (never before a vehicle's trip start or its last stored fix); default 1h when --speedup is set")
	fs.DurationVar(&f.duration, "duration", 0, "stop after this long (0: until interrupted; --load: 10s)")
	fs.Uint64Var(&f.seed, "seed", sim.DemoSeed, "seed of the misbehaviours and of the noise")
	fs.BoolVar(&f.load, "load", false, "load mode: N vehicles as fast as possible for --duration, then print the achieved fixes/s")
	fs.BoolVar(&f.seedDemo, "seed-demo", false, "first create the Changshou demo data (corridors, zones, carriers, 18 trucks, active trips) where absent")
	fs.BoolVar(&f.misbehave, "misbehave", true, "let some vehicles misbehave on purpose (route deviation, overspeed, unauthorized stop, signal loss, restricted zone)")
	fs.IntVar(&f.deviceAlarms, "device-alarms", 5000, "on average one fix in N starts a device alarm (JT/T 808 alarm bit) lasting 3 fixes; 0: none")
	fs.IntVar(&f.workers, "workers", 8, "--load: concurrent publishers")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	var bad []string
	if fs.NArg() > 0 {
		bad = append(bad, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if f.vehicles < 0 {
		bad = append(bad, "--vehicles must be ≥ 0")
	}
	if f.interval < time.Second {
		bad = append(bad, "--interval must be at least 1s")
	}
	if f.speedup != 0 && f.speedup < 1 {
		bad = append(bad, "--speedup must be 0 (at once) or at least 1")
	}
	if f.backfill < 0 || f.backfill > 6*24*time.Hour {
		bad = append(bad, "--backfill must be between 0 and 144h (fixes older than 7 days are refused)")
	}
	if f.duration < 0 {
		bad = append(bad, "--duration must be ≥ 0")
	}
	if f.deviceAlarms < 0 {
		bad = append(bad, "--device-alarms must be ≥ 0")
	}
	if f.workers < 1 {
		bad = append(bad, "--workers must be ≥ 1")
	}
	if len(bad) > 0 {
		return f, errors.New(strings.Join(bad, "; "))
	}
	if f.speedup >= 1 && f.backfill == 0 && !f.load {
		f.backfill = time.Hour
	}
	if f.load {
		if f.vehicles == 0 {
			f.vehicles = 100
		}
		if f.duration == 0 {
			f.duration = 10 * time.Second
		}
	}
	return f, nil
}

func cmdSimulate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	f, err := parseSimulateFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		if !strings.Contains(err.Error(), "flag provided but not defined") && !strings.Contains(err.Error(), "invalid value") {
			fmt.Fprintln(stderr, "corridor simulate:", err)
		}
		return 2
	}
	cfg, db, code := openDB(ctx, "simulate", getenv, stderr)
	if db == nil {
		return code
	}
	defer db.Close()
	log := newLogger(cfg.LogFormat, cfg.LogLevel, stderr)
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "corridor simulate: "+format+"\n", a...)
		return 1
	}
	if n, err := db.Pending(ctx); err != nil {
		return fail("migrations: %v", err)
	} else if n > 0 {
		return fail("%d database migrations are pending: run `corridor migrate up` (or start `corridor serve`) first", n)
	}
	natsURL := cfg.NATSURL
	if natsURL == "" {
		// where `corridor serve` runs its embedded server
		host, port, _ := net.SplitHostPort(cfg.EmbeddedNATSAddr)
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		natsURL = "nats://" + net.JoinHostPort(host, port)
	}
	natsOpts, err := cfg.NATSAuth.Options()
	if err != nil {
		fmt.Fprintln(stderr, "corridor simulate:", err)
		return 1
	}
	bus, err := natsbus.Connect(ctx, natsURL, "corridor-simulate", log, natsOpts...)
	if err != nil {
		return fail("%v", err)
	}
	defer bus.Close()
	if err := bus.EnsureStreams(ctx); err != nil {
		return fail("NATS: %v", err)
	}
	opts := sim.Options{Seed: f.seed, Interval: f.interval, DeviceAlarmEvery: f.deviceAlarms}

	if f.load {
		fleet, err := sim.SeedLoad(ctx, db, f.vehicles)
		if err != nil {
			return fail("load vehicles: %v", err)
		}
		if err := resumeFleet(ctx, db, &fleet); err != nil {
			return fail("%v", err)
		}
		fmt.Fprintf(stdout, "corridor simulate: load: %d vehicles (carrier %s), %d publishers, %s …\n",
			len(fleet.Vehicles), sim.LoadCarrier, f.workers, f.duration)
		res, err := sim.Load(ctx, bus, fleet, sim.LoadOptions{Options: opts, Duration: f.duration, Workers: f.workers})
		if err != nil && ctx.Err() == nil {
			return fail("load: %v (after %d fixes)", err, res.Fixes)
		}
		fmt.Fprintf(stdout, "corridor simulate: load: %d vehicles, %d fixes acknowledged by JetStream in %.1fs: %.0f fixes/s\n",
			res.Vehicles, res.Fixes, res.Elapsed.Seconds(), res.PerSecond())
		if res.CaughtUp {
			fmt.Fprintln(stdout, "corridor simulate: load: the fleet reached the present and was held to real time; start again with more --vehicles for a longer run")
		}
		return 0
	}

	if f.seedDemo {
		if _, err := sim.SeedDemo(ctx, db); err != nil {
			return fail("demo data: %v", err)
		}
	}
	fleet, err := fleetFromDB(ctx, db, f.seed, f.misbehave)
	if err != nil {
		return fail("%v", err)
	}
	if len(fleet.Vehicles) == 0 {
		return fail("no vehicle has an active trip: create trips, or pass --seed-demo for the Changshou demo")
	}
	if f.vehicles > 0 && f.vehicles < len(fleet.Vehicles) {
		fleet.Vehicles = fleet.Vehicles[:f.vehicles]
	}
	if err := resumeFleet(ctx, db, &fleet); err != nil {
		return fail("%v", err)
	}
	fmt.Fprintf(stdout, "corridor simulate: %d vehicles → %s, a fix every %s%s\n", len(fleet.Vehicles), natsURL, f.interval, describeMisbehaviour(fleet))
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	var sent int
	err = sim.Run(ctx, bus, fleet, sim.RunOptions{Options: opts, Backfill: f.backfill, Speedup: f.speedup, Log: log,
		Published: func(ps []tracking.Position) { sent += len(ps) }})
	if err != nil {
		return fail("%v", err)
	}
	fmt.Fprintf(stdout, "corridor simulate: %d fixes published\n", sent)
	return 0
}

// fleetFromDB is every vehicle with an active trip, on its trip's corridor, by vehicle id, with
// misbehaviours planned by seed.
func fleetFromDB(ctx context.Context, db *postgres.DB, seed uint64, misbehave bool) (sim.Fleet, error) {
	active := true
	trips, err := db.ListTrips(ctx, "", "", &active)
	if err != nil {
		return sim.Fleet{}, fmt.Errorf("trips: %v", err)
	}
	vehicles, err := db.ListVehicles(ctx, "")
	if err != nil {
		return sim.Fleet{}, fmt.Errorf("vehicles: %v", err)
	}
	corridors, err := db.ListCorridors(ctx)
	if err != nil {
		return sim.Fleet{}, fmt.Errorf("corridors: %v", err)
	}
	zones, err := db.ListZones(ctx)
	if err != nil {
		return sim.Fleet{}, fmt.Errorf("zones: %v", err)
	}
	vByID := map[string]tracking.Vehicle{}
	for _, v := range vehicles {
		vByID[v.ID] = v
	}
	cByID := map[string]tracking.Corridor{}
	for _, c := range corridors {
		cByID[c.ID] = c
	}
	seen := map[string]bool{}
	var fleet sim.Fleet
	for _, t := range trips {
		v, okV := vByID[t.VehicleID]
		c, okC := cByID[t.CorridorID]
		if !okV || !okC || seen[v.ID] {
			continue
		}
		seen[v.ID] = true
		fleet.Vehicles = append(fleet.Vehicles, sim.SpecOf(v, t, c))
	}
	slices.SortFunc(fleet.Vehicles, func(a, b sim.VehicleSpec) int { return strings.Compare(a.VehicleID, b.VehicleID) })
	return sim.Plan(fleet, zones, seed, misbehave), nil
}

// resumeFleet makes every vehicle continue after its last stored fix, so that a restarted
// simulator neither repeats nor contradicts what the engine already has.
func resumeFleet(ctx context.Context, db *postgres.DB, fleet *sim.Fleet) error {
	ids := make([]string, len(fleet.Vehicles))
	for i, v := range fleet.Vehicles {
		ids[i] = v.VehicleID
	}
	states, err := db.VehicleStates(ctx, ids)
	if err != nil {
		return fmt.Errorf("vehicle states: %v", err)
	}
	last := map[string]time.Time{}
	for _, s := range states {
		if s.Live != nil {
			last[s.VehicleID] = s.Live.TS
		}
	}
	for i := range fleet.Vehicles {
		v := &fleet.Vehicles[i]
		if ts, ok := last[v.VehicleID]; ok && ts.After(v.NotBefore) {
			v.NotBefore = ts
		}
	}
	return nil
}

func describeMisbehaviour(f sim.Fleet) string {
	var parts []string
	for _, b := range sim.Misbehaviours {
		if ids := f.With(b); len(ids) > 0 {
			parts = append(parts, string(b)+"="+strings.Join(ids, ","))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; misbehaving on purpose: " + strings.Join(parts, " ")
}

// demoRunOptions are how `serve --demo` drives the demo fleet: the demo seed, a device alarm
// now and then, the last 10 minutes (at most) replayed at once, then real time.
func demoRunOptions() sim.RunOptions {
	return sim.RunOptions{Options: sim.Options{Seed: sim.DemoSeed, DeviceAlarmEvery: 5000}, Backfill: 10 * time.Minute}
}

// startDemo seeds the Changshou demo data (idempotent: reuses what a previous run created) and
// drives the demo fleet through pub in a goroutine until ctx ends. ro, when given, replaces
// demoRunOptions (tests use a speed factor).
func startDemo(ctx context.Context, db *postgres.DB, pub interface {
	PublishPositions(context.Context, []tracking.Position) error
}, log *slog.Logger, ro ...sim.RunOptions) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fleet, err := sim.SeedDemo(ctx, db)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if len(fleet.Vehicles) == 0 {
		return errors.New("demo: no demo vehicle could be set up (ids taken by deleted vehicles?)")
	}
	if err := resumeFleet(ctx, db, &fleet); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	o := demoRunOptions()
	if len(ro) > 0 {
		o = ro[0]
	}
	if o.Log == nil {
		o.Log = log.With("role", "demo")
	}
	log.Info("demo: Changshou fleet driving", "vehicles", len(fleet.Vehicles), "misbehaving", strings.TrimPrefix(describeMisbehaviour(fleet), "; misbehaving on purpose: "))
	go func() {
		if err := sim.Run(ctx, pub, fleet, o); err != nil {
			log.Error("demo: simulated fleet stopped", "err", err)
		}
	}()
	return nil
}
