package main

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// publishBacklog publishes every vehicle's first perVehicle fixes at once, round by round (a
// round is every vehicle's fix k; the next starts when JetStream has acknowledged all of it, so
// that a retry never stores a vehicle's fix after its next one), counts them as sent, and makes
// the steady load go on from fix perVehicle.
func (l *chaosLoad) publishBacklog(ctx context.Context, perVehicle int) error {
	l.sent = make([]int, l.n)
	msgs := make([]*nats.Msg, l.n)
	for k := 0; k < perVehicle; k++ {
		for i := 1; i <= l.n; i++ {
			p := l.fix(i, k)
			msgs[i-1] = fixMsg(&p)
		}
		for attempt := 1; ; attempt++ {
			n, err := publishAll(ctx, l.js, msgs, nil)
			if err == nil && n == len(msgs) {
				break
			}
			if ctx.Err() != nil || attempt == 5 {
				return fmt.Errorf("round %d of the backlog: %d of %d acknowledged: %v", k, n, len(msgs), err)
			}
			l.mu.Lock()
			l.retry++ // the same Nats-Msg-Ids: what was stored is not stored again
			l.mu.Unlock()
		}
		l.mu.Lock()
		for i := range l.sent {
			l.sent[i] = k + 1
		}
		l.mu.Unlock()
	}
	l.k0 = perVehicle
	return nil
}

// backlog publishes the backlog and starts watching for the moment history holds all of it
// (the engine consumes in stream order, and the steady load starts after the backlog: history
// holds vehicles × backlog fixes exactly when the backlog is drained).
func (c *chaosRun) backlog(ctx context.Context) error {
	total := c.o.vehicles * c.o.backlog
	c.p.printf("publishing a backlog of %s fixes (%d per vehicle) at once", fmtInt(int64(total)), c.o.backlog)
	start := time.Now()
	if err := c.load.publishBacklog(ctx, c.o.backlog); err != nil {
		return err
	}
	published := time.Since(start)
	n, _ := c.db.count(ctx, "select count(*) from positions")
	c.p.printf("backlog published in %s (%s/s); %s already in history", published.Round(10*time.Millisecond),
		fmtInt(int64(float64(total)/published.Seconds())), fmtInt(n))
	c.backlogPublished = fmt.Sprintf("%s fixes published in %s", fmtInt(int64(total)), published.Round(10*time.Millisecond))
	c.backlogDrained = make(chan time.Duration, 1)
	wctx, cancel := context.WithCancel(ctx)
	c.stopWatch = cancel // at teardown
	go func() {
		for wctx.Err() == nil {
			if n, err := c.db.count(wctx, "select count(*) from positions"); err == nil && n >= int64(total) {
				c.backlogDrained <- time.Since(start)
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	return nil
}

// unconsumed says, with a backlog, how much of the stream the engine had yet to consume or
// acknowledge when a fault hit (whether it hit while the engine drained the backlog).
func (c *chaosRun) unconsumed(ctx context.Context) string {
	if c.o.backlog == 0 {
		return ""
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	n, err := telemetryPending(pctx, c.load.js)
	if err != nil {
		return "; fixes not yet consumed at the fault: unknown (" + err.Error() + ")"
	}
	return fmt.Sprintf("; %s fixes not yet consumed at the fault", fmtInt(int64(n)))
}
