package main

import (
	"context"
	"fmt"
	"time"
)

// check waits for the engine to store every acknowledged fix (at most a minute), then compares
// history and alarms with what the load acknowledged.
func (c *chaosRun) check(ctx context.Context) {
	sent, total := c.load.acked()
	c.p.printf("load stopped: %s fixes acknowledged (%d publish retries during faults); waiting for history", fmtInt(int64(total)), c.load.retry)
	// A backlog may still be draining: a minute, and a millisecond per acknowledged fix.
	within := time.Minute
	if c.o.backlog > 0 {
		within += time.Duration(total) * time.Millisecond
	}
	drained := waitFor(ctx, within, func() bool {
		n, err := c.db.count(ctx, "select count(*) from positions")
		return err == nil && n >= int64(total)
	})
	if !drained {
		n, _ := c.db.count(ctx, "select count(*) from positions")
		c.p.printf("  history holds %s of %s acknowledged fixes %s after the load stopped", fmtInt(n), fmtInt(int64(total)), within.Round(time.Second))
	}
	if c.o.backlog > 0 {
		select {
		case d := <-c.backlogDrained:
			c.add("backlog drained", fmt.Sprintf("%s; all of it in history %s after its first publish",
				c.backlogPublished, d.Round(10*time.Millisecond)), true)
		default:
			c.add("backlog drained", c.backlogPublished+"; not all of it in history", false)
		}
	}
	// History: every acknowledged fix exactly once.
	stored := make([]map[int]int, len(sent)) // vehicle -> fix index -> rows
	for i := range stored {
		stored[i] = map[int]int{}
	}
	rows, err := c.db.pool.Query(ctx, `select vehicle_id, ts from positions`)
	if err != nil {
		c.add("history", err.Error(), false)
		return
	}
	var unknown int
	for rows.Next() {
		var vid string
		var ts time.Time
		if err := rows.Scan(&vid, &ts); err != nil {
			c.add("history", err.Error(), false)
			rows.Close()
			return
		}
		var i int
		if _, err := fmt.Sscanf(vid, "bench-%d", &i); err != nil || i < 1 || i > len(sent) {
			unknown++
			continue
		}
		k := int(ts.Sub(c.load.t0) / (30 * time.Second))
		stored[i-1][k]++
	}
	rows.Close()
	var lost, dup, extra int
	for i, s := range sent {
		for k := 0; k < s; k++ {
			switch n := stored[i][k]; {
			case n == 0:
				lost++
			case n > 1:
				dup += n - 1
			}
		}
		for k, n := range stored[i] {
			if k >= s {
				extra += n // published but never acknowledged (the load stopped mid-publish): allowed once
				if n > 1 {
					dup += n - 1
				}
			}
		}
	}
	c.add(fmt.Sprintf("acknowledged fixes not in history (waited up to %s after the load stopped)", within.Round(time.Second)), fmt.Sprintf("%d of %s", lost, fmtInt(int64(total))), lost == 0)
	c.add("fixes stored twice", fmt.Sprintf("%d (and %d unacknowledged fixes stored once, %d unknown)", dup, extra, unknown), dup == 0 && unknown == 0)

	// Alarms: exactly the expected route_deviation alarms, each once, each with one raised event.
	var missing, twice, unexpected int
	for i, s := range sent {
		k := s
		for j := range stored[i] {
			k = max(k, j+1) // an unacknowledged fix that was stored also drove the rules
		}
		want := map[time.Time]bool{}
		for _, t := range c.load.expectedDeviations(k) {
			want[t.UTC()] = true
		}
		r, err := c.db.pool.Query(ctx, `select started_at from alarms where kind = 'route_deviation' and vehicle_id = $1`, benchVehicleID(i+1))
		if err != nil {
			c.add("alarms", err.Error(), false)
			return
		}
		seen := map[time.Time]int{}
		for r.Next() {
			var t time.Time
			if err := r.Scan(&t); err == nil {
				seen[t.UTC()]++
			}
		}
		r.Close()
		for t := range want {
			if seen[t] == 0 {
				missing++
			}
		}
		for t, n := range seen {
			if !want[t] {
				unexpected += n
			} else if n > 1 {
				twice += n - 1
			}
		}
	}
	others, _ := c.db.count(ctx, `select count(*) from alarms where kind <> 'route_deviation'`)
	events, _ := c.db.count(ctx, `select count(*) from (select a.id from alarms a left join alarm_events e on e.alarm_id = a.id and e.event = 'raised'
		where a.kind = 'route_deviation' group by a.id having count(e.id) <> 1) x`)
	c.add("expected route_deviation alarms", fmt.Sprintf("%d missing, %d twice, %d unexpected, %d of other kinds, %d without exactly one raised event",
		missing, twice, unexpected, others, events), missing == 0 && twice == 0 && unexpected == 0 && others == 0 && events == 0)
}
