package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const chaosUsage = `Usage: corridor chaos [flags]

Under a steady load of acknowledged fixes, kills the engine with SIGKILL, restarts NATS and
restarts PostgreSQL, then checks that every acknowledged fix is in history exactly once, every
expected alarm exists exactly once, and the engine recovered by itself (positions flowing and
/readyz 200) within --recover-within of each fault. Prints a verdict table; exits 1 when a check
fails.

PostgreSQL is a throwaway cluster (initdb in a temporary directory, a random port) stopped and
started by the run; the machine's own cluster is never touched. NATS is, in turn, each of --nats:
"embedded" (inside ` + "`corridor serve`" + `, so restarting NATS restarts the process) or the path of a
nats-server binary run on a random port (e.g. Debian's /usr/sbin/nats-server 2.9, or a current one
built into bin/nats-server by make chaos).

With --backlog N, every vehicle's first N fixes are published at once before the faults (e.g.
--vehicles 10000 --backlog 20: 200,000 fixes, the backlog under which nats-server 2.9 stalled
the old engine); the faults then follow one another as soon as the engine has recovered from the
previous one, so that they hit while it drains the backlog, and the steady load goes on from
each vehicle's fix N.

Flags:
`

type chaosFlags struct {
	vehicles, rate int
	backlog        int // fixes per vehicle published at once before the faults (0: none)
	nats           []string
	steady         time.Duration
	recoverWithin  time.Duration
	bin            string
}

func parseChaosFlags(args []string, stderr io.Writer) (chaosFlags, error) {
	var o chaosFlags
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, chaosUsage); fs.PrintDefaults() }
	fs.IntVar(&o.vehicles, "vehicles", 100, "vehicles publishing")
	fs.IntVar(&o.rate, "rate", 400, "steady load, fixes/s")
	fs.IntVar(&o.backlog, "backlog", 0, "fixes per vehicle published at once before the faults, which then hit while the engine drains them (0: steady load only)")
	natsList := fs.String("nats", "embedded,/usr/sbin/nats-server,bin/nats-server", "NATS servers to run the faults against, in turn (missing binaries are skipped)")
	fs.DurationVar(&o.steady, "steady", 8*time.Second, "steady load before and after each fault")
	fs.DurationVar(&o.recoverWithin, "recover-within", 10*time.Second, "the engine must be processing again within this long after each fault")
	fs.StringVar(&o.bin, "bin", "", "corridor binary for the engine (default: this executable)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	for _, n := range strings.Split(*natsList, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		if n != "embedded" {
			if _, err := os.Stat(n); err != nil {
				fmt.Fprintf(stderr, "corridor chaos: %s not found; skipped\n", n)
				continue
			}
		}
		o.nats = append(o.nats, n)
	}
	if o.vehicles < 1 || o.rate < 1 || o.backlog < 0 || len(o.nats) == 0 {
		return o, errors.New("--vehicles and --rate must be positive, --backlog not negative, and --nats name at least one server")
	}
	return o, nil
}

// verdict is one checked fact of a chaos run.
type verdict struct {
	nats, check, result string
	ok                  bool
}

// verdictTable prints verdicts as markdown and reports whether all passed.
func verdictTable(w io.Writer, vs []verdict) bool {
	t := &table{head: []string{"NATS", "check", "result", "verdict"}}
	all := true
	for _, v := range vs {
		mark := "PASS"
		if !v.ok {
			mark, all = "FAIL", false
		}
		t.add(v.nats, v.check, v.result, mark)
	}
	t.write(w)
	return all
}

func cmdChaos(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	o, err := parseChaosFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "corridor chaos:", err)
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "corridor chaos: "+format+"\n", a...)
		return 1
	}
	var dir string
	var cleanup func()
	if o.bin, dir, cleanup, err = toolSetup(o.bin, "corridor-chaos-"); err != nil {
		return fail("%v", err)
	}
	defer cleanup()
	p := &progress{w: stderr, start: time.Now()}
	p.printf("PostgreSQL: a throwaway cluster in %s", dir)
	pg, err := newChaosCluster(dir)
	if err != nil {
		return fail("PostgreSQL cluster: %v", err)
	}
	defer func() { _ = pg.Stop("fast") }()
	var vs []verdict
	for _, n := range o.nats {
		mode := n
		if n != "embedded" {
			mode = n + " " + natsVersion(n)
		}
		p.printf("=== NATS: %s", mode)
		c := &chaosRun{o: o, p: p, pg: pg, natsBin: n, mode: mode, dir: filepath.Join(dir, fmt.Sprintf("run-%d", len(vs)))}
		vs = append(vs, c.run(ctx)...)
		if ctx.Err() != nil {
			break
		}
	}
	backlog := ""
	if o.backlog > 0 {
		backlog = fmt.Sprintf(", after a backlog of %s fixes (%d per vehicle)", fmtInt(int64(o.vehicles*o.backlog)), o.backlog)
	}
	fmt.Fprintf(stdout, "\n## corridor chaos: %d vehicles, %d fixes/s%s\n\nMachine: %s. Run at %s UTC.\n\n", o.vehicles, o.rate,
		backlog, machine(), time.Now().UTC().Format("2006-01-02 15:04"))
	if !verdictTable(stdout, vs) {
		return 1
	}
	return 0
}
