package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// e2eRun is the state of one `corridor bench e2e` run that its phases share.
type e2eRun struct {
	o       e2eFlags
	p       *progress
	db      *benchDB
	nc      *nats.Conn
	js      jetstream.JetStream
	fleet   *benchFleet
	clock   *fixClock
	spec    childSpec
	engines []*child
}

// startEngines stops the running engine processes and starts n new ones with extra environment.
func (r *e2eRun) startEngines(ctx context.Context, n int, extra ...string) error {
	r.stopEngines()
	// Outside the storm phase signal_lost is kept out of the way (the trips started long before the
	// first fix, so a short CORRIDOR_OFFLINE_AFTER would raise it for every vehicle at start).
	env := append([]string{"CORRIDOR_ROLES=engine", "CORRIDOR_OFFLINE_AFTER=24h"}, extra...)
	if r.o.partitions > 0 {
		env = append(env, fmt.Sprintf("CORRIDOR_ENGINE_PARTITIONS=%d", r.o.partitions))
	}
	for i := 0; i < n; i++ {
		c, err := r.spec.start(fmt.Sprintf("engine-%d", i+1), env...)
		if err != nil {
			return err
		}
		r.engines = append(r.engines, c)
	}
	for _, c := range r.engines {
		if err := c.waitReady(ctx, 60*time.Second); err != nil {
			return err
		}
	}
	return nil
}

func (r *e2eRun) stopEngines() {
	for _, c := range r.engines {
		c.stop()
	}
	r.engines = nil
}

// settle waits until the engines have nothing pending (a phase starts from a drained stream);
// false when they made no progress for a minute.
func (r *e2eRun) settle(ctx context.Context) bool {
	d, err := r.drain(ctx, nil, 60*time.Second)
	if err != nil || d.stalled {
		pending, _ := telemetryPending(ctx, r.js)
		r.p.printf("  the engine did not drain what was pending (%s messages left, %v): the figures below are affected", fmtInt(int64(pending)), err)
		return false
	}
	return true
}

// ceilings measures bare JetStream on the same server with msgs' sizes: publish with acks into
// a scratch stream, then consume it with a pull consumer acknowledging each batch (AckAll, as
// the engine does).
func (r *e2eRun) ceilings(ctx context.Context, msgs []*nats.Msg) (pub, cons float64, err error) {
	const stream = "BENCH_CEILING"
	_ = r.js.DeleteStream(ctx, stream)
	s, err := r.js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{"benchceiling.>"},
		Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute})
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = r.js.DeleteStream(context.WithoutCancel(ctx), stream) }()
	bare := make([]*nats.Msg, len(msgs))
	for i, m := range msgs {
		bare[i] = &nats.Msg{Subject: "benchceiling." + strings.TrimPrefix(m.Subject, "telemetry."), Data: m.Data, Header: m.Header}
	}
	t0 := time.Now()
	n, err := publishAll(ctx, r.js, bare, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("bare publish: %v", err)
	}
	pub = rate(n, time.Since(t0))
	c, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "bench", AckPolicy: jetstream.AckAllPolicy,
		MaxAckPending: 50000, AckWait: 30 * time.Second})
	if err != nil {
		return pub, 0, err
	}
	t0 = time.Now()
	got := 0
	for got < n && ctx.Err() == nil {
		batch, err := c.Fetch(min(1000, n-got), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return pub, 0, err
		}
		var last jetstream.Msg
		for m := range batch.Messages() {
			last = m
			got++
		}
		if last == nil {
			return pub, 0, fmt.Errorf("bare consume: nothing delivered after %d of %d", got, n)
		}
		if err := last.Ack(); err != nil {
			return pub, 0, err
		}
	}
	return pub, rate(got, time.Since(t0)), ctx.Err()
}

// drainResult is one drained-throughput measurement.
type drainResult struct {
	fixes      int
	published  time.Duration // first publish to the last PubAck
	drained    time.Duration // first publish to nothing pending and every fix in PostgreSQL
	persisted  int64         // fixes found in PostgreSQL
	stalled    bool
	stallAfter time.Duration
}

// drain publishes msgs (fixes not stored before) and waits until the engine has nothing pending
// and every fix is in positions. No progress for stall reports a stall instead of waiting on.
func (r *e2eRun) drain(ctx context.Context, msgs []*nats.Msg, stall time.Duration) (drainResult, error) {
	res := drainResult{fixes: len(msgs)}
	before, err := r.db.count(ctx, "select count(*) from positions")
	if err != nil {
		return res, err
	}
	t0 := time.Now()
	pubDone := make(chan error, 1)
	go func() {
		n, err := publishAll(ctx, r.js, msgs, nil)
		if err == nil && n != len(msgs) {
			err = fmt.Errorf("%d of %d fixes acknowledged", n, len(msgs))
		}
		res.published = time.Since(t0)
		pubDone <- err
	}()
	published := false
	lastN, lastChange := int64(-1), time.Now()
	nextReport := time.Now().Add(5 * time.Second)
	for {
		select {
		case err := <-pubDone:
			if err != nil {
				return res, err
			}
			published = true
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		n, err := r.db.count(ctx, "select count(*) from positions")
		if err != nil {
			return res, err
		}
		res.persisted = n - before
		if published && res.persisted >= int64(len(msgs)) {
			if pending, err := telemetryPending(ctx, r.js); err == nil && pending == 0 {
				res.drained = time.Since(t0)
				return res, nil
			}
		}
		if n != lastN {
			lastN, lastChange = n, time.Now()
		} else if time.Since(lastChange) > stall {
			res.stalled, res.stallAfter = true, time.Since(t0)
			return res, nil
		}
		if time.Now().After(nextReport) {
			r.p.printf("  … %s of %s fixes persisted", fmtInt(res.persisted), fmtInt(int64(len(msgs))))
			nextReport = time.Now().Add(5 * time.Second)
		}
	}
}

// eventCounter counts alarm events of one kind seen on NATS, by event.
type eventCounter struct {
	mu     sync.Mutex
	counts map[string]map[string]bool // event -> vehicles
}

func (e *eventCounter) reset() {
	e.mu.Lock()
	e.counts = map[string]map[string]bool{}
	e.mu.Unlock()
}

func (e *eventCounter) add(m *nats.Msg) {
	var ev tracking.AlarmEvent
	if json.Unmarshal(m.Data, &ev) != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.counts[ev.Event] == nil {
		e.counts[ev.Event] = map[string]bool{}
	}
	e.counts[ev.Event][ev.Alarm.VehicleID] = true
}

func (e *eventCounter) n(event string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.counts[event])
}

// stormResult is an alarm storm: every vehicle silent, then reporting again, twice: first when
// the engine starts (every vehicle has been silent past CORRIDOR_OFFLINE_AFTER), then in steady
// state.
type stormResult struct {
	vehicles                  int
	startRaised, startCleared time.Duration // from engine ready; from the first publish
	raised, cleared           time.Duration // from due time; from the first publish
	raisedDB, activeAfter     int64
	raisedNATS, clearedNATS   int
	err                       error
}

// storm starts one engine with CORRIDOR_OFFLINE_AFTER=r.o.offlineAfter and measures, each time
// until every alarm change is committed (PostgreSQL) and published (NATS): the raise of
// signal_lost for every vehicle at start-up, its clearing when each reports once, the raise when
// they all fall silent again, and the clearing when they report again.
func (r *e2eRun) storm(ctx context.Context) stormResult {
	v := r.o.vehicles
	res := stormResult{vehicles: v}
	ec := &eventCounter{}
	ec.reset()
	sub, err := r.nc.Subscribe("alarms.signal_lost.>", ec.add)
	if err != nil {
		res.err = err
		return res
	}
	defer func() { _ = sub.Unsubscribe() }()
	active := func() int64 {
		n, _ := r.db.count(ctx, "select count(*) from alarms where kind = 'signal_lost' and active")
		return n
	}
	const limit = 5 * time.Minute
	raisedAll := func() bool {
		res.raisedDB, res.raisedNATS = active(), ec.n(tracking.EventRaised)
		return res.raisedDB >= int64(v) && res.raisedNATS >= v
	}
	inactive := func() int64 {
		n, _ := r.db.count(ctx, "select count(*) from alarms where kind = 'signal_lost' and not active")
		return n
	}
	// Cleared for all: every vehicle's alarm cleared in PostgreSQL and on NATS (not "none active":
	// with a short OFFLINE_AFTER the first vehicles cleared may already be silent again).
	var inactiveBefore int64
	clearedAll := func() bool {
		res.activeAfter, res.clearedNATS = inactive()-inactiveBefore, ec.n(tracking.EventCleared)
		return res.activeAfter >= int64(v) && res.clearedNATS >= v
	}
	clear := func() (time.Duration, bool) {
		ec.reset()
		inactiveBefore = inactive()
		t0 := time.Now()
		msgs := fixMsgs(r.clock.next(1))
		go func() { _, _ = publishAll(ctx, r.js, msgs, nil) }()
		ok := waitFor(ctx, limit, clearedAll)
		return time.Since(t0), ok
	}
	if err := r.startEngines(ctx, 1, "CORRIDOR_OFFLINE_AFTER="+r.o.offlineAfter.String()); err != nil {
		res.err = err
		return res
	}
	t0 := time.Now()
	ok := waitFor(ctx, limit, raisedAll)
	res.startRaised = time.Since(t0)
	if !ok {
		res.err = fmt.Errorf("start-up raise incomplete after %s: %d committed, %d published of %d", limit, res.raisedDB, res.raisedNATS, v)
		return res
	}
	r.p.printf("  at start-up: %s signal_lost raised, committed and published %s after the engine was ready", fmtInt(int64(v)), fmtMs(res.startRaised))
	if res.startCleared, ok = clear(); !ok {
		res.err = fmt.Errorf("clear incomplete after %s: %d cleared in PostgreSQL, %d cleared events of %d", limit, res.activeAfter, res.clearedNATS, v)
		return res
	}
	r.p.printf("  cleared for all %s after the first fix was published", fmtMs(res.startCleared))
	if !r.settle(ctx) {
		res.err = errors.New("the engine did not settle after the first clear")
		return res
	}
	// Raised events are counted since the clear began: with a short OFFLINE_AFTER and a slow
	// engine the first vehicles cleared are silent again, and raised again, before the clear is
	// through (then the raise is timed as negative: before the last vehicle was due).
	silent := time.Now()
	r.p.printf("  every vehicle silent; signal_lost due by %s", silent.Add(r.o.offlineAfter).Format("15:04:05.000"))
	ok = waitFor(ctx, r.o.offlineAfter+limit, raisedAll)
	res.raised = time.Since(silent.Add(r.o.offlineAfter))
	if !ok {
		res.err = fmt.Errorf("raise incomplete: %d committed, %d published of %d", res.raisedDB, res.raisedNATS, v)
		return res
	}
	r.p.printf("  %s signal_lost raised, committed and published %s after they were due", fmtInt(int64(v)), fmtMs(res.raised))
	if res.cleared, ok = clear(); !ok {
		res.err = fmt.Errorf("clear incomplete: %d cleared in PostgreSQL, %d cleared events of %d", res.activeAfter, res.clearedNATS, v)
	}
	return res
}

// waitFor polls cond every 50 ms until it holds (true) or timeout passes (false).
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// latencyResult is publish → live.<c>.<v> at a fixed rate.
type latencyResult struct {
	rate          int
	sent, matched int
	sendRate      float64
	p50, p99, max time.Duration // notSeen when the percentile falls among fixes never seen live
}

// notSeen marks a latency percentile that falls among fixes whose state never arrived on live.
const notSeen = time.Duration(1<<63 - 1)

// latency publishes fixes at a fixed rate for the configured duration and times each from
// just before its publish to the first state of its vehicle on live.<carrier>.<vehicle> that
// reflects it (its ts or a newer one: the engine publishes one state per vehicle per batch).
// Fixes not reflected within 30 s of the last publish count as not seen.
func (r *e2eRun) latency(ctx context.Context, perSec int) (latencyResult, error) {
	res := latencyResult{rate: perSec}
	type sentFix struct {
		ts int64 // unix µs
		at time.Time
	}
	var mu sync.Mutex
	waiting := map[string][]sentFix{} // vehicle -> fixes sent, in ts order
	var lats []time.Duration
	sub, err := r.nc.Subscribe("live."+benchCarrier+".>", func(m *nats.Msg) {
		now := time.Now()
		var s struct {
			VehicleID string    `json:"vehicle_id"`
			TS        time.Time `json:"ts"`
		}
		if json.Unmarshal(m.Data, &s) != nil {
			return
		}
		ts := s.TS.UnixMicro()
		mu.Lock()
		defer mu.Unlock()
		q := waiting[s.VehicleID]
		for len(q) > 0 && q[0].ts <= ts {
			lats = append(lats, now.Sub(q[0].at))
			q = q[1:]
		}
		waiting[s.VehicleID] = q
	})
	if err != nil {
		return res, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	_ = sub.SetPendingLimits(-1, -1)
	total := int(float64(perSec) * r.o.rateDuration.Seconds())
	var queue []tracking.Position
	var acked atomic.Int64
	t0 := time.Now()
	for res.sent < total && ctx.Err() == nil {
		due := min(total, int(float64(perSec)*time.Since(t0).Seconds()))
		for res.sent < due {
			if len(queue) == 0 {
				queue = r.clock.next(1)
			}
			p := &queue[0]
			mu.Lock()
			waiting[p.VehicleID] = append(waiting[p.VehicleID], sentFix{p.TS.UnixMicro(), time.Now()})
			mu.Unlock()
			f, err := r.js.PublishMsgAsync(fixMsg(p), jetstream.WithStallWait(5*time.Second))
			if err != nil {
				return res, err
			}
			go func() {
				select {
				case <-f.Ok():
					acked.Add(1)
				case <-f.Err():
				case <-time.After(time.Minute):
				}
			}()
			queue = queue[1:]
			res.sent++
		}
		time.Sleep(2 * time.Millisecond)
	}
	res.sendRate = rate(res.sent, time.Since(t0))
	waitFor(ctx, 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(lats) >= res.sent
	})
	mu.Lock()
	defer mu.Unlock()
	res.matched = len(lats)
	all := append([]time.Duration(nil), lats...)
	for len(all) < res.sent {
		all = append(all, notSeen)
	}
	res.p50, res.p99, res.max = percentile(all, 50), percentile(all, 99), percentile(all, 100)
	if int(acked.Load()) < res.sent {
		r.p.printf("  note: %d of %d publishes acknowledged", acked.Load(), res.sent)
	}
	return res, nil
}

// memResult is the engine process's memory with a number of vehicles tracked.
type memResult struct {
	vehicles  int
	heap, rss float64
	drainedIn time.Duration
	stalled   bool
	persisted int64
}

// memory restarts one engine with m vehicles in the database, sends one fix for each and reads
// the engine's heap in use (the least of three readings a second apart, so that garbage not yet
// collected counts less) and resident memory.
func (r *e2eRun) memory(ctx context.Context, m int) (memResult, error) {
	res := memResult{vehicles: m}
	r.stopEngines()
	if err := r.fleet.grow(ctx, r.db, m); err != nil {
		return res, err
	}
	if err := r.startEngines(ctx, 1); err != nil {
		return res, err
	}
	r.settle(ctx)
	ts := r.clock.t.Add(r.clock.interval)
	r.clock.next(1) // the clock moves past ts: later fixes stay newer
	d, err := r.drain(ctx, r.fleet.oneFixEach(1, m, ts), 60*time.Second)
	if err != nil {
		return res, err
	}
	res.drainedIn, res.stalled, res.persisted = d.drained, d.stalled, d.persisted
	time.Sleep(2 * time.Second)
	for i := 0; i < 3; i++ {
		v, err := r.engines[0].metrics(ctx, "go_memstats_heap_inuse_bytes", "process_resident_memory_bytes")
		if err != nil {
			return res, err
		}
		if h := v["go_memstats_heap_inuse_bytes"]; res.heap == 0 || h < res.heap {
			res.heap = h
		}
		res.rss = v["process_resident_memory_bytes"]
		time.Sleep(time.Second)
	}
	return res, nil
}
