package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/corridor-dev/corridor/pkg/engine/core"
	"github.com/corridor-dev/corridor/pkg/natsbus"
	"github.com/corridor-dev/corridor/pkg/postgres"
)

// partition is one partition of the stream while this engine holds its lease.
type partition struct {
	spec    partSpec
	label   string // metrics label: k
	name    string // durable consumer
	core    *core.Core
	lease   *postgres.Lease
	health  *health
	owns    [natsbus.Buckets]bool      // the partition's buckets
	floor   [natsbus.Buckets]uint64    // per bucket: the sequence its restored checkpoint reflects (skipped up to it)
	floorAt [natsbus.Buckets]time.Time // per bucket: the stream's time of the message at floor (zero: unknown)
	poison  map[uint64]string          // stream sequences whose processing panicked, with why
	fence   *postgres.Fence            // every write checks the lease is still held before it commits
	created time.Time                  // the stream's creation time: identifies the stream the sequences refer to
	seq     uint64                     // last stream sequence reflected in the core and committed
	seqAt   time.Time                  // the stream's time of the message at seq (zero: unknown)
	cseq    uint64                     // last consumer sequence delivered to us (0: none since the consumer was created)
	cons    jetstream.Consumer
	// lastDelivery is when a message last arrived, for the stall watchdog.
	lastDelivery time.Time
	lastInfo     time.Time
	// ckpt is non-nil while a checkpoint is being written in the background.
	ckpt chan checkpointDone
}

// checkpointDone is how a background checkpoint ended: its vehicles to mark dirty again when it
// failed.
type checkpointDone struct {
	ids  []string
	seq  uint64
	took time.Duration
	err  error
}

// errRestore: only restoring the partition from its checkpoint again can go on.
var errRestore = errors.New("the partition must be restored")

// errRecreate asks for the consumer to be recreated from the partition's position.
var errRecreate = errors.New("consumer must be recreated")

// runPartition restores the partition's checkpoint and consumes it until ctx ends, the lease is
// lost or something fails in a way only a restore can repair (then it returns the error and Run
// restores again).
func (e *Engine) runPartition(ctx context.Context, r *running) error {
	p := &partition{spec: r.spec, label: strconv.Itoa(r.spec.k), name: r.spec.consumer(), core: core.New(e.cfg.Rules),
		lease: r.lease, health: r.health, poison: map[uint64]string{}, fence: r.lease.Fence()}
	for _, b := range p.spec.buckets {
		p.owns[b] = true
	}
	if len(p.spec.buckets) < natsbus.Buckets {
		p.core.SetOwner(func(id string) bool { return p.owns[natsbus.Bucket(id)] })
	}
	if err := e.restore(ctx, p); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	e.precovered(p)
	lastTick, lastCheckpoint := time.Time{}, time.Now()
	defer func() {
		if e.crashed.Load() {
			return // a killed process checkpoints nothing
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if p.ckpt != nil {
			if err := e.checkpointEnded(p, <-p.ckpt); err != nil {
				e.log.Warn("engine: checkpoint", "err", err)
			}
		}
		if err := e.checkpoint(cctx, p); err != nil {
			e.log.Warn("engine: final checkpoint", "err", err)
		}
	}()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil && !e.crashed.Load() {
		if p.spec.legacyUntil > 0 && p.seq >= p.spec.legacyUntil {
			return errLegacyDrained
		}
		msgs, err := e.fetch(p)
		idle := err == nil && len(msgs) == 0
		if idle {
			err = e.watchdog(ctx, p)
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			e.pfail(p, "NATS: "+err.Error())
			e.metrics.fetchErrors.Inc()
			e.log.Warn("engine: fetch", "err", err, "recreating_consumer_from_seq", p.seq+1)
			sleep(ctx, backoff)
			backoff = min(backoff*2, 2*time.Second)
			if rerr := e.recreate(ctx, p); errors.Is(rerr, errRestore) {
				return rerr
			} else if rerr != nil {
				e.log.Warn("engine: recreating the consumer", "err", rerr)
			}
		} else {
			backoff = 100 * time.Millisecond
		}
		if len(msgs) > 0 {
			if err := e.runBatch(ctx, p, msgs); err != nil {
				if !errors.Is(err, errRecreate) {
					return err
				}
				if rerr := e.recreate(ctx, p); errors.Is(rerr, errRestore) {
					return rerr
				} else if rerr != nil {
					e.log.Warn("engine: recreating the consumer", "err", rerr)
				}
			}
		}
		// The time-driven rules run when the stream has nothing more for now (so a fix that is
		// already there counts before a silence is judged), and at most half a period late under
		// a steady load.
		if now := e.cfg.Now(); (idle && now.Sub(lastTick) >= e.cfg.TickEvery) || now.Sub(lastTick) >= e.cfg.TickEvery*3/2 {
			lastTick = now
			if err := e.tick(context.WithoutCancel(ctx), p, now); err != nil {
				e.log.Error("engine: tick", "err", err)
			}
		}
		if p.ckpt != nil {
			select {
			case d := <-p.ckpt:
				if err := e.checkpointEnded(p, d); err != nil {
					e.log.Warn("engine: checkpoint", "err", err)
				}
			default:
			}
		}
		if p.ckpt == nil && time.Since(lastCheckpoint) >= e.cfg.CheckpointEvery {
			lastCheckpoint = time.Now()
			if err := p.lease.Check(ctx); err != nil {
				return fmt.Errorf("partition lease lost: %w", err)
			}
			if err := e.startCheckpoint(ctx, p); err != nil {
				e.log.Warn("engine: checkpoint", "err", err)
			}
		}
	}
	return nil
}

// restore loads the checkpoint of the partition's vehicles and (re)creates its consumer from the
// stream position the checkpoint reflects.
func (e *Engine) restore(ctx context.Context, p *partition) error {
	rows, err := e.store.VehicleStates(ctx, nil)
	if err != nil {
		return err
	}
	restored := 0
	for _, r := range rows {
		if !p.owns[natsbus.Bucket(r.VehicleID)] {
			continue // another partition's
		}
		restored++
		st := core.NewState()
		if err := json.Unmarshal(r.Rules, &st); err != nil {
			e.log.Error("engine: unreadable vehicle state; starting it afresh", "vehicle_id", r.VehicleID, "err", err)
			st = core.NewState()
		}
		p.core.Restore(r.VehicleID, st, r.Live)
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	sp, err := e.bus.TelemetryPos(sctx)
	if err != nil {
		return err
	}
	p.created = sp.Created.UTC().Truncate(time.Microsecond)
	pos, err := e.store.EngineBuckets(ctx)
	if err != nil {
		return err
	}
	ckpt, ckptAt := bucketCheckpoints(pos, p.created)
	if len(pos) == 0 {
		// First start with stream positions: what the consumer of the engine from before them
		// acknowledged is what vehicle_state reflects.
		if c, err := e.bus.JS.Consumer(sctx, natsbus.StreamTelemetry, natsbus.EngineConsumer); err == nil {
			if info, err := c.Info(sctx); err == nil {
				for b := range ckpt {
					ckpt[b] = info.AckFloor.Stream
				}
			}
		} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return err
		}
	}
	low := uint64(math.MaxUint64)
	for _, b := range p.spec.buckets {
		p.floor[b], p.floorAt[b] = ckpt[b], ckptAt[b]
		low = min(low, ckpt[b])
	}
	start := low + 1
	if start < sp.First {
		if start > 1 {
			e.log.Warn("engine: the stream no longer holds every message after the checkpoint; replaying what it holds",
				"partition", p.spec.k, "checkpoint_seq", start-1, "stream_first_seq", sp.First)
		}
		start = sp.First
	}
	p.seq = start - 1
	for _, b := range p.spec.buckets {
		if p.floor[b] == p.seq {
			p.seqAt = p.floorAt[b]
		}
	}
	if err := e.checkStream(ctx, p, sp); err != nil {
		return err
	}
	start = p.seq + 1
	if err := e.recreate(ctx, p); err != nil {
		return err
	}
	e.log.Info("engine consuming", "stream", natsbus.StreamTelemetry, "consumer", p.name, "partition", p.spec.k, "of", p.spec.n,
		"buckets", len(p.spec.buckets), "vehicles_restored", restored, "replay_from_seq", start, "stream_last_seq", sp.Last, "nats_server", sp.ServerVersion)
	return nil
}

// recreate makes the partition's consumer deliver again from the message after p.seq (or from
// where the stream was written anew, when its server lost messages: checkStream).
func (e *Engine) recreate(ctx context.Context, p *partition) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()

	sp, err := e.bus.TelemetryPos(cctx)
	if err != nil {
		return err
	}
	if !sp.Created.UTC().Truncate(time.Microsecond).Equal(p.created) {
		return fmt.Errorf("%w: the TELEMETRY stream was recreated", errRestore)
	}
	if err := e.checkStream(cctx, p, sp); err != nil {
		return err
	}
	cons, err := e.bus.ConsumerFrom(cctx, p.name, p.spec.filters, p.seq+1)
	if err != nil {
		return err
	}
	p.cons, p.cseq, p.lastDelivery = cons, 0, time.Now()
	e.metrics.consumerRecreated.Inc()
	return nil
}

// errStuck: a fetch outlived its own bound; what it may still deliver is given up.
var errStuck = errors.New("fetch did not finish within its bound")

// fetch takes what is there, up to BatchSize, without waiting; when nothing is, it waits up to
// FetchWait for one message and then takes what else is there. Every wait has a bound of our
// own: a library call that does not return (seen with nats-server 2.9) cannot stop the engine.
func (e *Engine) fetch(p *partition) ([]jetstream.Msg, error) {
	if p.cons == nil {
		return nil, errRecreate
	}
	const grace = 2 * time.Second
	msgs, err := drain(p.cons.FetchNoWait(e.cfg.BatchSize))(grace)
	if err != nil || len(msgs) > 0 {
		return msgs, err
	}
	msgs, err = drain(p.cons.Fetch(1, jetstream.FetchMaxWait(e.cfg.FetchWait)))(e.cfg.FetchWait + grace)
	if err != nil || len(msgs) == 0 || e.cfg.BatchSize == 1 {
		return msgs, err
	}
	more, err := drain(p.cons.FetchNoWait(e.cfg.BatchSize - 1))(grace)
	if err != nil {
		return nil, err // the consumer is recreated from p.seq: msgs come again
	}
	return append(msgs, more...), nil
}

func drain(b jetstream.MessageBatch, err error) func(bound time.Duration) ([]jetstream.Msg, error) {
	return func(bound time.Duration) ([]jetstream.Msg, error) {
		if err != nil {
			if isNoMessages(err) {
				return nil, nil
			}
			return nil, err
		}
		t := time.NewTimer(bound)
		defer t.Stop()
		var msgs []jetstream.Msg
		for {
			select {
			case m, ok := <-b.Messages():
				if !ok {
					if err := b.Error(); err != nil && !isNoMessages(err) {
						return nil, err
					}
					return msgs, nil
				}
				msgs = append(msgs, m)
			case <-t.C:
				return nil, errStuck
			}
		}
	}
}

func isNoMessages(err error) bool {
	return errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages) || errors.Is(err, context.DeadlineExceeded)
}

// watchdog runs when a fetch brought nothing: at most every StallAfter/2 it asks the server
// whether the consumer has messages for us; when it has had some for StallAfter without
// delivering any, the consumer is recreated (errStalled) and the engine is not ready meanwhile.
func (e *Engine) watchdog(ctx context.Context, p *partition) error {
	if time.Since(p.lastInfo) < e.cfg.StallAfter/2 {
		return nil
	}
	p.lastInfo = time.Now()
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	info, err := p.cons.Info(cctx)
	if err != nil {
		return fmt.Errorf("consumer info: %w", err)
	}
	pending := info.NumPending + uint64(info.NumAckPending)
	e.metrics.pending.WithLabelValues(p.label).Set(float64(info.NumPending))
	if pending == 0 {
		p.lastDelivery = time.Now()
		e.precovered(p)
		return nil
	}
	if idle := time.Since(p.lastDelivery); idle >= e.cfg.StallAfter {
		e.metrics.stalls.Inc()
		return fmt.Errorf("consumer delivered nothing for %s while %d messages are pending (%d unacknowledged)",
			idle.Round(time.Millisecond), info.NumPending, info.NumAckPending)
	}
	return nil
}

// runBatch handles one fetched batch: messages already reflected are skipped (acknowledged with
// the batch), a gap in the consumer's deliveries (a delivery we never saw) recreates the
// consumer, and a failing batch is retried in place (not nak'ed: fetching newer fixes first
// would make the failed ones arrive out of order and drive no rule) until it succeeds.
func (e *Engine) runBatch(ctx context.Context, p *partition, msgs []jetstream.Msg) error {
	p.lastDelivery = time.Now()
	todo := msgs[:0:0]
	for _, m := range msgs {
		md, err := m.Metadata()
		if err != nil {
			return errRecreate
		}
		if md.Sequence.Consumer != p.cseq+1 {
			e.log.Warn("engine: a delivery was missed; replaying from the partition's position",
				"expected_consumer_seq", p.cseq+1, "got", md.Sequence.Consumer, "from_stream_seq", p.seq+1)
			e.metrics.stalls.Inc()
			return errRecreate
		}
		p.cseq = md.Sequence.Consumer
		if md.Sequence.Stream > p.seq && (!p.reflected(m.Subject(), md.Sequence.Stream)) {
			todo = append(todo, m)
		}
	}
	last := msgs[len(msgs)-1]
	backoff := 100 * time.Millisecond
	for attempt := 0; len(todo) > 0; attempt++ {
		err := e.handle(context.WithoutCancel(ctx), p, todo)
		if err == nil {
			break
		}
		e.metrics.batchFailures.Inc()
		e.pfail(p, "batch failing: "+err.Error())
		e.log.Error("engine: batch failed; retrying it", "messages", len(todo), "attempt", attempt+1, "err", err)
		sleep(ctx, backoff)
		backoff = min(backoff*2, 5*time.Second)
		if ctx.Err() != nil {
			return nil // not acknowledged: replayed in order at the next start
		}
		if attempt%3 == 2 {
			if err := p.lease.Check(ctx); err != nil {
				return fmt.Errorf("partition lease lost: %w", err)
			}
		}
		for _, m := range todo {
			_ = m.InProgress()
		}
	}
	e.precovered(p)
	// Every message of the batch is reflected now: those skipped were before.
	p.advance(last)
	// AckAll: the last message acknowledges the batch, and everything before it.
	if err := last.Ack(); err != nil {
		e.log.Warn("engine: ack", "err", err)
	}
	e.metrics.streamSeq.WithLabelValues(p.label).Set(float64(p.seq))
	return nil
}

// reflected reports whether the message at seq on subject is one of a bucket whose restored
// checkpoint already reflects it (the partition started before it because another of its
// buckets' checkpoints is older).
func (p *partition) reflected(subject string, seq uint64) bool {
	if _, vehicle, _, ok := subjectIDs(subject); ok {
		return seq <= p.floor[natsbus.Bucket(vehicle)]
	}
	return false
}

func (e *Engine) pfail(p *partition, reason string) { p.health.set(reason) }

func (e *Engine) precovered(p *partition) {
	if r, _ := p.health.get(); r != "" {
		e.log.Info("engine: making progress again", "partition", p.spec.k, "after", r)
	}
	p.health.ok()
}

func seqOf(m jetstream.Msg) uint64 {
	if md, err := m.Metadata(); err == nil {
		return md.Sequence.Stream
	}
	return 0
}

// checkpoint stores the state of the vehicles changed since the last checkpoint with the stream
// position it reflects.
func (e *Engine) checkpoint(ctx context.Context, p *partition) error {
	rows, ids, pos, err := e.checkpointRows(p)
	if err != nil {
		return err
	}
	start := time.Now()
	err = e.store.Checkpoint(ctx, rows, pos)
	return e.checkpointEnded(p, checkpointDone{ids: ids, seq: pos.Seq, took: time.Since(start), err: err})
}

// startCheckpoint takes the dirty vehicles' state as of the partition's position and writes it
// in the background, so that batches go on meanwhile (writing 10,000 states takes longer than
// many batches); checkpointEnded collects the result in the partition's goroutine.
func (e *Engine) startCheckpoint(ctx context.Context, p *partition) error {
	rows, ids, pos, err := e.checkpointRows(p)
	if err != nil {
		return err
	}
	done := make(chan checkpointDone, 1)
	p.ckpt = done
	go func() {
		start := time.Now()
		err := e.store.Checkpoint(context.WithoutCancel(ctx), rows, pos)
		done <- checkpointDone{ids: ids, seq: pos.Seq, took: time.Since(start), err: err}
	}()
	return nil
}

// checkpointRows takes the dirty vehicles' state, encoded, with the position it reflects.
func (e *Engine) checkpointRows(p *partition) ([]postgres.VehicleStateRow, []string, postgres.StreamPos, error) {
	snaps := p.core.TakeDirty()
	rows := make([]postgres.VehicleStateRow, 0, len(snaps))
	ids := make([]string, 0, len(snaps))
	for _, s := range snaps {
		j, err := s.State.MarshalJSON() // without reflection (core/statejson.go)
		if err != nil {
			p.core.MarkDirty(ids)
			return nil, nil, postgres.StreamPos{}, err
		}
		rows = append(rows, postgres.VehicleStateRow{VehicleID: s.VehicleID, Rules: j, Live: s.Live})
		ids = append(ids, s.VehicleID)
	}
	return rows, ids, postgres.StreamPos{Buckets: p.spec.buckets, StreamCreated: p.created, Seq: p.seq, SeqTime: p.seqAt, Fence: p.fence}, nil
}

// checkpointEnded records how a checkpoint ended; a failed one's vehicles are dirty again.
func (e *Engine) checkpointEnded(p *partition, d checkpointDone) error {
	p.ckpt = nil
	if d.err != nil {
		p.core.MarkDirty(d.ids)
		return d.err
	}
	e.metrics.checkpointSeconds.Observe(d.took.Seconds())
	e.metrics.checkpointSeq.WithLabelValues(p.label).Set(float64(d.seq))
	return nil
}
