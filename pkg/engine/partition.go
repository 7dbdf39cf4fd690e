package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/corridor-dev/corridor/pkg/engine/core"
	"github.com/corridor-dev/corridor/pkg/natsbus"
	"github.com/corridor-dev/corridor/pkg/postgres"
)

// partition is one partition of the stream while this engine holds its lease.
type partition struct {
	id      int
	name    string // durable consumer
	filter  string // subject filter
	core    *core.Core
	lease   *postgres.Lease
	created time.Time // the stream's creation time: identifies the stream the sequences refer to
	seq     uint64    // last stream sequence reflected in the core and committed
	cseq    uint64    // last consumer sequence delivered to us (0: none since the consumer was created)
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

// errRecreate asks for the consumer to be recreated from the partition's position.
var errRecreate = errors.New("consumer must be recreated")

// runPartition restores the partition's checkpoint and consumes it until ctx ends, the lease is
// lost or something fails in a way only a restore can repair (then it returns the error and Run
// restores again).
func (e *Engine) runPartition(ctx context.Context, lease *postgres.Lease, id int) error {
	p := &partition{id: id, name: natsbus.EngineConsumer, filter: "telemetry.>", core: core.New(e.cfg.Rules), lease: lease}
	if err := e.restore(ctx, p); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	e.recovered()
	e.ready.Store(true)
	lastTick, lastCheckpoint := time.Time{}, time.Now()
	defer func() {
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
	for ctx.Err() == nil {
		msgs, err := e.fetch(p)
		idle := err == nil && len(msgs) == 0
		if idle {
			err = e.watchdog(ctx, p)
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			e.fail("NATS: " + err.Error())
			e.metrics.fetchErrors.Inc()
			e.log.Warn("engine: fetch", "err", err, "recreating_consumer_from_seq", p.seq+1)
			sleep(ctx, backoff)
			backoff = min(backoff*2, 2*time.Second)
			if rerr := e.recreate(ctx, p); rerr != nil {
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
				if rerr := e.recreate(ctx, p); rerr != nil {
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
	for _, r := range rows {
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
	pos, have, err := e.store.EnginePartition(ctx, p.id)
	if err != nil {
		return err
	}
	start := uint64(1)
	if have && pos.StreamCreated.Equal(p.created) {
		start = pos.CheckpointSeq + 1
	} else if c, err := e.bus.JS.Consumer(sctx, natsbus.StreamTelemetry, p.name); err == nil {
		// First start with a stream position table, or a recreated stream: what the consumer
		// acknowledged is what vehicle_state reflects.
		if info, err := c.Info(sctx); err == nil {
			start = info.AckFloor.Stream + 1
		}
	} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return err
	}
	if start < sp.First {
		if start > 1 {
			e.log.Warn("engine: the stream no longer holds every message after the checkpoint; replaying what it holds",
				"checkpoint_seq", start-1, "stream_first_seq", sp.First)
		}
		start = sp.First
	}
	p.seq = start - 1
	if err := e.recreate(ctx, p); err != nil {
		return err
	}
	e.log.Info("engine consuming", "stream", natsbus.StreamTelemetry, "consumer", p.name, "partition", p.id,
		"vehicles_restored", len(rows), "replay_from_seq", start, "stream_last_seq", sp.Last, "nats_server", sp.ServerVersion)
	return nil
}

// recreate makes the partition's consumer deliver again from the message after p.seq.
func (e *Engine) recreate(ctx context.Context, p *partition) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cons, err := e.bus.ConsumerFrom(cctx, p.name, p.filter, p.seq+1)
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
	e.metrics.pending.Set(float64(info.NumPending))
	if pending == 0 {
		p.lastDelivery = time.Now()
		e.recovered()
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
		if md.Sequence.Stream > p.seq {
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
		e.fail("batch failing: " + err.Error())
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
	e.recovered()
	// AckAll: the last message acknowledges the batch, and everything before it.
	if err := last.Ack(); err != nil {
		e.log.Warn("engine: ack", "err", err)
	}
	e.metrics.streamSeq.Set(float64(p.seq))
	return nil
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
	return rows, ids, postgres.StreamPos{Partition: p.id, StreamCreated: p.created, Seq: p.seq}, nil
}

// checkpointEnded records how a checkpoint ended; a failed one's vehicles are dirty again.
func (e *Engine) checkpointEnded(p *partition, d checkpointDone) error {
	p.ckpt = nil
	if d.err != nil {
		p.core.MarkDirty(d.ids)
		return d.err
	}
	e.metrics.checkpointSeconds.Observe(d.took.Seconds())
	e.metrics.checkpointSeq.Set(float64(d.seq))
	return nil
}
