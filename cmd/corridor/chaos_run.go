package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/corridor-dev/corridor/internal/pgcluster"
)

// chaosRun is one chaos run against one NATS server.
type chaosRun struct {
	o       chaosFlags
	p       *progress
	pg      *pgcluster.Cluster
	natsBin string // "embedded" or a nats-server binary
	mode    string
	dir     string

	db       *benchDB
	ns       *natsProc
	natsURL  string
	spec     childSpec
	engine   *child
	load     *chaosLoad
	verdicts []verdict

	backlogPublished string             // with --backlog: what was published, how fast
	backlogDrained   chan time.Duration // with --backlog: when history held all of it, since its first publish
	stopWatch        func()             // ends the watch for the backlog's end
}

func (c *chaosRun) add(check, result string, ok bool) {
	c.verdicts = append(c.verdicts, verdict{nats: c.mode, check: check, result: result, ok: ok})
	mark := "ok"
	if !ok {
		mark = "FAILED"
	}
	c.p.printf("  %s: %s (%s)", check, result, mark)
}

func (c *chaosRun) run(ctx context.Context) []verdict {
	if err := c.setup(ctx); err != nil {
		c.add("set-up", err.Error(), false)
		c.teardown()
		return c.verdicts
	}
	defer c.teardown()
	nc, err := nats.Connect(c.natsURL, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond), nats.ReconnectBufSize(-1))
	if err != nil {
		c.add("set-up", err.Error(), false)
		return c.verdicts
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	c.load = &chaosLoad{js: js, n: c.o.vehicles, rate: c.o.rate, t0: time.Now().Add(-2 * 24 * time.Hour).Truncate(time.Second)}
	// With a backlog the faults follow one another as soon as the engine has recovered, so that
	// they hit while it drains the backlog.
	gap := c.o.steady
	if c.o.backlog > 0 {
		if err := c.backlog(ctx); err != nil {
			c.add("backlog published", err.Error(), false)
			return c.verdicts
		}
		gap = 0
	}
	lctx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.load.run(lctx, 8) }()
	defer func() { stopLoad(); wg.Wait() }()

	c.sleep(ctx, gap)
	faults := []struct {
		name string
		do   func() error
	}{
		{"engine killed (SIGKILL)", c.killEngine},
		{"NATS restarted", c.restartNATS},
		{"PostgreSQL restarted (immediate stop)", c.restartPG},
	}
	for _, f := range faults {
		_, before := c.load.acked()
		left := c.unconsumed(ctx)
		c.p.printf("fault: %s (%s fixes acknowledged so far%s)", f.name, fmtInt(int64(before)), left)
		if err := f.do(); err != nil {
			c.add(f.name, "fault could not be applied: "+err.Error(), false)
			return c.verdicts
		}
		rec, ok := c.recovery(ctx)
		res := fmt.Sprintf("processing again after %s%s", rec.Round(10*time.Millisecond), left)
		if !ok {
			res = fmt.Sprintf("not processing %s after the fault%s", rec.Round(time.Second), left)
		}
		c.add(f.name+": recovered within "+c.o.recoverWithin.String(), res, ok && rec <= c.o.recoverWithin)
		c.sleep(ctx, gap)
	}
	c.sleep(ctx, c.o.steady-gap) // steady load after the last fault
	stopLoad()
	wg.Wait()
	c.check(ctx)
	return c.verdicts
}

func (c *chaosRun) sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func (c *chaosRun) setup(ctx context.Context) error {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	var err error
	if c.db, err = openBenchDB(ctx, c.pg.URL(), "", "corridor_chaos_"); err != nil {
		return err
	}
	if _, err := c.db.pool.Exec(ctx, `insert into carriers (id, name) values ($1, 'Corridor chaos')`, benchCarrier); err != nil {
		return err
	}
	if _, err := c.db.pool.Exec(ctx, `insert into corridors (name, geom, buffer_m) values ('chaos', 'SRID=4326;LINESTRING(107.0 29.8, 107.6 29.8)'::geography, 200)`); err != nil {
		return err
	}
	if _, err := c.db.pool.Exec(ctx, `insert into vehicles (id, carrier_id, plate)
		select format('bench-%s', lpad(g::text, 6, '0')), $2, 'C' || g from generate_series(1, $1::int) g`, c.o.vehicles, benchCarrier); err != nil {
		return err
	}
	if _, err := c.db.pool.Exec(ctx, `insert into trips (vehicle_id, carrier_id, corridor_id, starts_at, ends_at)
		select v.id, v.carrier_id, c.id, now() - interval '3 days', now() + interval '1 day' from vehicles v, corridors c`); err != nil {
		return err
	}
	env := []string{"DATABASE_URL=" + c.db.url, "CORRIDOR_ROLES=engine", "CORRIDOR_AUTO_MIGRATE=false", "CORRIDOR_LOG_LEVEL=info",
		"CORRIDOR_OFFLINE_AFTER=96h"} // the trips started days before; faults last seconds: no signal_lost is expected
	if c.natsBin == "embedded" {
		addr, err := freePort()
		if err != nil {
			return err
		}
		c.natsURL = "nats://" + addr
		env = append(env, "NATS_URL=", "CORRIDOR_EMBEDDED_NATS_ADDR="+addr)
	} else {
		addr, err := freePort()
		if err != nil {
			return err
		}
		c.ns = &natsProc{bin: c.natsBin, port: addr[len("127.0.0.1:"):], store: c.dir + "/nats-store", logPath: c.dir + "/nats-server.log"}
		if err := c.ns.start(); err != nil {
			return err
		}
		c.natsURL = c.ns.url()
		env = append(env, "NATS_URL="+c.natsURL)
	}
	c.spec = childSpec{bin: c.o.bin, dir: c.dir, env: env}
	return c.startEngine(ctx)
}

func (c *chaosRun) startEngine(ctx context.Context) error {
	e, err := c.spec.start("engine")
	if err != nil {
		return err
	}
	c.engine = e
	return e.waitReady(ctx, 60*time.Second)
}

func (c *chaosRun) teardown() {
	if c.stopWatch != nil {
		c.stopWatch()
	}
	if c.engine != nil {
		c.engine.stop()
	}
	if c.ns != nil {
		c.ns.stop()
	}
	if c.db != nil {
		c.db.drop()
	}
}

func (c *chaosRun) killEngine() error {
	c.engine.kill()
	e, err := c.spec.start("engine")
	c.engine = e
	return err
}

func (c *chaosRun) restartNATS() error {
	if c.ns == nil { // embedded: NATS lives in the serve process
		c.engine.stop()
		e, err := c.spec.start("engine")
		c.engine = e
		return err
	}
	c.ns.stop()
	return c.ns.start()
}

func (c *chaosRun) restartPG() error {
	if err := c.pg.Stop("immediate"); err != nil {
		return err
	}
	time.Sleep(time.Second)
	return c.pg.Start()
}

// recovery measures from now until the engine answers /readyz 200 and stores new positions.
func (c *chaosRun) recovery(ctx context.Context) (time.Duration, bool) {
	t0 := time.Now()
	base := int64(-1)
	for time.Since(t0) < 60*time.Second && ctx.Err() == nil {
		n, err := c.db.count(ctx, "select count(*) from positions")
		if err == nil {
			if base < 0 {
				base = n
			} else if n > base && c.engine.ready(ctx) {
				return time.Since(t0), true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(t0), false
}
