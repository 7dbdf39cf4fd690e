package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

const benchE2EUsage = `Usage: corridor bench e2e [flags]

End-to-end figures of the engine through NATS JetStream and PostgreSQL, in one run, side by side:
bare JetStream publish and consume+ack rates with the same message size (the ceiling); the
engine's drained throughput (first publish to nothing pending and every fix in PostgreSQL); an
alarm storm (every vehicle silent past CORRIDOR_OFFLINE_AFTER, then reporting again); publish →
live.<carrier>.<vehicle> latency at fixed rates; the engine's heap and RSS per tracked vehicle.

It creates a fresh database on DATABASE_URL's server (dropped at the end; --database names one to
keep), starts an embedded NATS server (or uses NATS_URL) and runs the engine as child processes
(` + "`corridor serve`" + ` with CORRIDOR_ROLES=engine). Progress goes to stderr, the summary (markdown) to stdout.

Flags:
`

type e2eFlags struct {
	vehicles, corridors, fixes int
	engines                    []int
	rates                      []int
	rateDuration               time.Duration
	memVehicles                []int
	offlineAfter               time.Duration
	partitions                 int
	database                   string
	bin                        string
	skip                       map[string]bool
}

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(strings.ReplaceAll(f, "_", ""))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q is not a count", f)
		}
		if n > 0 {
			out = append(out, n)
		}
	}
	return out, nil
}

func parseE2EFlags(args []string, stderr io.Writer) (e2eFlags, error) {
	var o e2eFlags
	fs := flag.NewFlagSet("bench e2e", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, benchE2EUsage); fs.PrintDefaults() }
	fs.IntVar(&o.vehicles, "vehicles", 10000, "vehicles (each on a trip along one of the corridors)")
	fs.IntVar(&o.corridors, "corridors", 50, "corridors (random, ~30 km, 60 vertices)")
	fs.IntVar(&o.fixes, "fixes", 20, "fixes per vehicle in a drained-throughput round")
	engines := fs.String("engines", "1", "engine processes, one drained-throughput round per entry (e.g. 1,2,3; processes beyond --partitions stand by)")
	rates := fs.String("rates", "5000,20000", "fixed publish rates (fixes/s) for the publish → live latency; empty: skip")
	fs.DurationVar(&o.rateDuration, "rate-duration", 10*time.Second, "how long each fixed rate runs")
	mem := fs.String("mem-vehicles", "", "vehicle counts for heap/RSS per tracked vehicle (e.g. 10000,100000,400000; default: --vehicles)")
	fs.DurationVar(&o.offlineAfter, "offline-after", 5*time.Second, "CORRIDOR_OFFLINE_AFTER of the engines in the alarm-storm phase")
	fs.IntVar(&o.partitions, "partitions", defaultEnginePartitions, "CORRIDOR_ENGINE_PARTITIONS for the engines")
	fs.StringVar(&o.database, "database", "", "use (and keep) this database instead of a fresh one that is dropped at the end")
	fs.StringVar(&o.bin, "bin", "", "corridor binary for the engine processes (default: this executable)")
	skip := fs.String("skip", "", "phases to skip: ceiling,drain,storm,latency,memory")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var bad []string
	var err error
	if o.engines, err = intList(*engines); err != nil || len(o.engines) == 0 {
		bad = append(bad, "--engines: a list of process counts such as 1,2,3")
	}
	if o.rates, err = intList(*rates); err != nil {
		bad = append(bad, "--rates: "+err.Error())
	}
	if o.memVehicles, err = intList(*mem); err != nil {
		bad = append(bad, "--mem-vehicles: "+err.Error())
	}
	if len(o.memVehicles) == 0 {
		o.memVehicles = []int{o.vehicles}
	}
	for _, m := range o.memVehicles {
		if m < o.vehicles {
			bad = append(bad, "--mem-vehicles: each count must be at least --vehicles")
			break
		}
	}
	if o.vehicles < 1 || o.vehicles > 999999 || o.corridors < 1 || o.fixes < 1 {
		bad = append(bad, "--vehicles (1–999999), --corridors and --fixes must be positive")
	}
	if o.offlineAfter < time.Second || o.rateDuration < time.Second {
		bad = append(bad, "--offline-after and --rate-duration must be at least 1s")
	}
	o.skip = map[string]bool{}
	for _, s := range strings.Split(*skip, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.skip[s] = true
		}
	}
	if len(bad) > 0 {
		return o, errors.New(strings.Join(bad, "; "))
	}
	return o, nil
}

func cmdBenchE2E(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	o, err := parseE2EFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "corridor bench e2e:", err)
		return 2
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		printConfigErrors(stderr, err)
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "corridor bench e2e: "+format+"\n", a...)
		return 1
	}
	var dir string
	var cleanup func()
	if o.bin, dir, cleanup, err = toolSetup(o.bin, "corridor-bench-"); err != nil {
		return fail("%v", err)
	}
	defer cleanup()
	p := &progress{w: stderr, start: time.Now()}
	r := &e2eRun{o: o, p: p}
	p.printf("database: creating on %s", redactURL(cfg.DatabaseURL))
	if r.db, err = openBenchDB(ctx, cfg.DatabaseURL, o.database, "corridor_bench_"); err != nil {
		return fail("%v", err)
	}
	defer r.db.drop()
	ns, err := startBenchNATS(cfg.NATSURL, dir)
	if err != nil {
		return fail("NATS: %v", err)
	}
	defer ns.stop()
	if r.nc, r.js, err = connectJS(ns.url, "corridor-bench"); err != nil {
		return fail("NATS: %v", err)
	}
	defer r.nc.Close()
	r.spec = childSpec{bin: o.bin, dir: dir, env: []string{"DATABASE_URL=" + r.db.url, "NATS_URL=" + ns.url,
		"CORRIDOR_AUTO_MIGRATE=false", "CORRIDOR_LOG_LEVEL=warn"}}
	defer r.stopEngines()

	// Fix time: the fleet drives from far enough back that every phase's fixes are in the past.
	interval := 10 * time.Second
	steps := len(o.engines)*o.fixes + 4 + len(o.memVehicles)
	for _, rt := range o.rates {
		steps += int(float64(rt)*o.rateDuration.Seconds())/o.vehicles + 2
	}
	simStart := time.Now().Add(-time.Duration(steps)*interval - 10*time.Minute).Truncate(time.Second)
	if time.Since(simStart) > tracking.MaxFixAge-time.Hour {
		return fail("the run needs %s of fix time, more than fixes may be old: fewer --fixes or a shorter --rate-duration", time.Since(simStart).Round(time.Minute))
	}
	t0 := time.Now()
	if r.fleet, err = createFleet(ctx, r.db, o.vehicles, o.corridors, 1, simStart.Add(-time.Minute)); err != nil {
		return fail("fleet: %v", err)
	}
	r.clock = newFixClock(r.fleet.specs(o.vehicles, simStart), simStart, interval)
	r.clock.next(1) // the first fixes of the sim: positions settle
	p.printf("fleet: %s vehicles on trips over %d corridors in %s (NATS %s, engine binary %s)", fmtInt(int64(o.vehicles)), o.corridors,
		time.Since(t0).Round(time.Millisecond), ns.url, o.bin)

	sum := &e2eSummary{o: o}
	round := fixMsgs(r.clock.next(o.fixes))
	sum.msgSize = avgSize(round)
	if !o.skip["ceiling"] {
		p.printf("ceiling: bare JetStream, %s messages of %d bytes", fmtInt(int64(len(round))), sum.msgSize)
		if sum.barePub, sum.bareCons, err = r.ceilings(ctx, round); err != nil {
			return fail("ceiling: %v", err)
		}
		p.printf("ceiling: publish %s, consume+ack %s", fmtRate(sum.barePub), fmtRate(sum.bareCons))
	}
	if !o.skip["drain"] {
		for i, n := range o.engines {
			if i > 0 {
				round = fixMsgs(r.clock.next(o.fixes))
			}
			p.printf("drain: %d engine process(es), %s fixes published at once", n, fmtInt(int64(len(round))))
			if err := r.startEngines(ctx, n); err != nil {
				return fail("engines: %v", err)
			}
			d, err := r.drain(ctx, round, 60*time.Second)
			if err != nil {
				return fail("drain: %v", err)
			}
			sum.drains = append(sum.drains, engineDrain{engines: n, res: d})
			if d.stalled {
				p.printf("drain: STALLED: %s of %s persisted, no progress for 60 s", fmtInt(d.persisted), fmtInt(int64(d.fixes)))
			} else {
				p.printf("drain: %s fixes in %s: %s (publishing took %s)", fmtInt(int64(d.fixes)), d.drained.Round(time.Millisecond),
					fmtRate(rate(d.fixes, d.drained)), d.published.Round(time.Millisecond))
			}
		}
	}
	if !o.skip["storm"] {
		p.printf("storm: engine with CORRIDOR_OFFLINE_AFTER=%s", o.offlineAfter)
		s := r.storm(ctx)
		sum.storm = &s
		if s.err != nil {
			p.printf("storm: %v", s.err)
		} else {
			p.printf("storm: cleared for all in %s", fmtMs(s.cleared))
		}
	}
	if !o.skip["latency"] && len(o.rates) > 0 {
		if err := r.startEngines(ctx, 1); err != nil {
			return fail("engines: %v", err)
		}
		r.settle(ctx)
		for _, rt := range o.rates {
			p.printf("latency: %s fixes/s for %s", fmtInt(int64(rt)), o.rateDuration)
			l, err := r.latency(ctx, rt)
			if err != nil {
				return fail("latency: %v", err)
			}
			sum.lat = append(sum.lat, l)
			p.printf("latency: sent %s at %s, %s seen live: p50 %s, p99 %s", fmtInt(int64(l.sent)), fmtRate(l.sendRate),
				fmtInt(int64(l.matched)), fmtLat(l.p50), fmtLat(l.p99))
		}
	}
	if !o.skip["memory"] {
		for _, m := range o.memVehicles {
			p.printf("memory: %s vehicles, one fix each, fresh engine", fmtInt(int64(m)))
			mr, err := r.memory(ctx, m)
			if err != nil {
				return fail("memory: %v", err)
			}
			sum.mem = append(sum.mem, mr)
			p.printf("memory: heap in use %s, RSS %s", fmtBytes(mr.heap), fmtBytes(mr.rss))
		}
	}
	r.stopEngines()
	sum.write(stdout)
	return 0
}

// avgSize is the mean payload size of msgs in bytes.
func avgSize(ms []*nats.Msg) int {
	if len(ms) == 0 {
		return 0
	}
	n := 0
	for _, m := range ms {
		n += len(m.Data)
	}
	return n / len(ms)
}

// redactURL hides a password in a URL for printing.
func redactURL(s string) string {
	if i := strings.Index(s, "@"); i > 0 {
		if j := strings.Index(s, "://"); j > 0 && j < i {
			if k := strings.LastIndex(s[:i], ":"); k > j+2 {
				return s[:k] + ":***" + s[i:]
			}
		}
	}
	return s
}

// machine describes this machine for the summary.
func machine() string {
	cpu := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				_, cpu, _ = strings.Cut(l, ":")
				cpu = strings.TrimSpace(cpu)
				break
			}
		}
	}
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = ", load average " + strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return fmt.Sprintf("%d cores (%s), %s%s", runtime.NumCPU(), cpu, runtime.Version(), load)
}
