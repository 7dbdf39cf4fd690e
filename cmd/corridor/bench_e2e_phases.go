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

// stormResult is an alarm storm: every vehicle silent, then reporting again.
type stormResult struct {
	vehicles        int
	raised, cleared time.Duration // to every alarm committed (PostgreSQL) and published (NATS)
	raisedDB        int64
	raisedNATS      int
	clearedNATS     int
	activeAfter     int64
	err             error
}

// storm needs engines started with a short CORRIDOR_OFFLINE_AFTER (r.o.offlineAfter).
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
	// Everyone reports once (clearing any signal_lost of the restart), then falls silent.
	if d, err := r.drain(ctx, fixMsgs(r.clock.next(1)), 60*time.Second); err != nil || d.stalled {
		res.err = fmt.Errorf("fixes before the storm did not drain (%v)", err)
		return res
	}
	if !waitFor(ctx, 60*time.Second, func() bool { return active() == 0 }) {
		res.err = errors.New("signal_lost still active after every vehicle reported")
		return res
	}
	silent := time.Now()
	ec.reset()
	r.p.printf("  every vehicle silent; signal_lost due by %s", silent.Add(r.o.offlineAfter).Format("15:04:05.000"))
	ok := waitFor(ctx, r.o.offlineAfter+120*time.Second, func() bool {
		res.raisedDB = active()
		res.raisedNATS = ec.n(tracking.EventRaised)
		return res.raisedDB >= int64(v) && res.raisedNATS >= v
	})
	res.raised = time.Since(silent.Add(r.o.offlineAfter))
	if !ok {
		res.err = fmt.Errorf("raise incomplete: %d committed, %d published of %d", res.raisedDB, res.raisedNATS, v)
		return res
	}
	r.p.printf("  %s signal_lost raised, committed and published %s after they were due", fmtInt(int64(v)), fmtMs(res.raised))
	ec.reset()
	t0 := time.Now()
	msgs := fixMsgs(r.clock.next(1))
	go func() { _, _ = publishAll(ctx, r.js, msgs, nil) }()
	ok = waitFor(ctx, 120*time.Second, func() bool {
		res.activeAfter = active()
		res.clearedNATS = ec.n(tracking.EventCleared)
		return res.activeAfter == 0 && res.clearedNATS >= v
	})
	res.cleared = time.Since(t0)
	if !ok {
		res.err = fmt.Errorf("clear incomplete: %d still active, %d cleared events of %d", res.activeAfter, res.clearedNATS, v)
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
	p50, p99, max time.Duration
}

// latency publishes fixes at a fixed rate for the configured duration and times each from
// just before its publish to its vehicle's state on live.<carrier>.<vehicle>. The engine
// publishes one live state per vehicle per batch, so a fix superseded within its batch by a
// newer one of the same vehicle has no live message of its own (matched < sent).
func (r *e2eRun) latency(ctx context.Context, perSec int) (latencyResult, error) {
	res := latencyResult{rate: perSec}
	var sentAt sync.Map // vehicle|unix µs -> time.Time
	var mu sync.Mutex
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
		if t, ok := sentAt.LoadAndDelete(s.VehicleID + "|" + fmt.Sprint(s.TS.UnixMicro())); ok {
			mu.Lock()
			lats = append(lats, now.Sub(t.(time.Time)))
			mu.Unlock()
		}
	})
	if err != nil {
		return res, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	sub.SetPendingLimits(-1, -1)
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
			sentAt.Store(p.VehicleID+"|"+fmt.Sprint(p.TS.UnixMicro()), time.Now())
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
	waitFor(ctx, 15*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(lats) >= res.sent
	})
	mu.Lock()
	defer mu.Unlock()
	res.matched = len(lats)
	res.p50, res.p99, res.max = percentile(lats, 50), percentile(lats, 99), percentile(lats, 100)
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
