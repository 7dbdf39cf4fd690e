package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/corridor-dev/corridor/pkg/natsbus"
	"github.com/corridor-dev/corridor/pkg/postgres"
)

// PostgreSQL advisory lock keys. Every engine holds memberKey in shared mode while it runs (the
// live engines are counted from pg_locks); it is also the lock an engine from before partitions
// held exclusively, so such an engine and these never run side by side. A partition is held by
// holding the locks of all its buckets, so engines configured with different numbers of
// partitions never process one bucket twice.
const (
	memberKey int64 = 0x636f7272_00000000
	bucketKey int64 = 0x636f7272_00010000 // | bucket
)

// partSpec is one partition: k of n, its buckets and its consumer's filter subjects.
type partSpec struct {
	n, k    int
	buckets []int
	filters []string
	// legacyUntil > 0: the single partition that consumes the 3-token messages stored before the
	// stream had its bucket transform; it ends once its position reaches this sequence.
	legacyUntil uint64
}

func newSpec(n, k int) partSpec {
	s := partSpec{n: n, k: k}
	for b := k; b < natsbus.Buckets; b += n {
		s.buckets = append(s.buckets, b)
	}
	if n == 1 {
		s.filters = []string{"telemetry.>"}
		return s
	}
	for _, b := range s.buckets {
		s.filters = append(s.filters, natsbus.BucketFilter(b))
	}
	if k == 0 {
		s.filters = append(s.filters, "telemetry.*.*.*.>") // malformed (5+ tokens): dead-lettered
	}
	return s
}

// consumer is the partition's durable consumer name.
func (s partSpec) consumer() string { return fmt.Sprintf("%s-%d-%d", natsbus.EngineConsumer, s.n, s.k) }

func (s partSpec) keys() []int64 {
	ks := make([]int64, len(s.buckets))
	for i, b := range s.buckets {
		ks[i] = bucketKey | int64(b)
	}
	return ks
}

// running is a partition this engine holds.
type running struct {
	spec   partSpec
	lease  *postgres.Lease
	health *health
	cancel context.CancelFunc
	done   chan error
}

// plan is how the stream is partitioned now: n partitions (1 while the stream has no buckets or
// 3-token messages are still to be consumed, until legacyUntil).
type plan struct {
	n           int
	legacyUntil uint64
}

// errLegacyDrained ends the single partition that consumed the 3-token messages.
var errLegacyDrained = errors.New("the messages stored before the bucket transform are consumed")

// coordinate registers the engine as a member (while it can plan, i.e. reach NATS and the
// database: an engine that cannot take partitions is not counted) and, every PlanEvery, holds its share of the
// partitions: at most ceil(n / live engines), taking free ones up to it and releasing one (after
// its final checkpoint) while above it, so a newcomer gets its share and a stopped or killed
// engine's partitions (their locks die with its connections) are taken within seconds.
func (e *Engine) coordinate(ctx context.Context) {
	defer e.stopAll()
	var member *postgres.Lease
	defer func() {
		if member != nil {
			member.Release()
		}
	}()
	var cur plan
	var planned time.Time
	warned := map[string]bool{}
	offset := rand.IntN(natsbus.Buckets)
	var uncovered time.Time        // since when some bucket has been held by no engine (zero: none)
	backoff := map[int]time.Time{} // k -> not before (after a partition failed)
	t := time.NewTicker(e.cfg.PlanEvery)
	defer t.Stop()
	for first := true; ctx.Err() == nil; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
		// Collect partitions that ended (released, lost their lease or failed).
		for k, r := range e.snapshot() {
			select {
			case err := <-r.done:
				e.forget(k)
				switch {
				case errors.Is(err, errLegacyDrained):
					e.healthy(k)
					planned = time.Time{} // plan again: the stream can now be split
				case err != nil && ctx.Err() == nil:
					r.health.set(err.Error()) // until it restores, or another engine holds it
					backoff[k] = time.Now().Add(time.Second)
					planned = time.Time{} // can this engine still reach NATS? (if not, it stops counting as one)
					e.log.Error("engine: partition stopped; restoring it from its checkpoint", "partition", k, "of", r.spec.n, "err", err)
				default:
					e.healthy(k) // given up
				}
			default:
			}
		}
		if planned.IsZero() || (time.Since(planned) >= 10*time.Second && len(e.snapshot()) == 0) || (cur.legacyUntil > 0 && time.Since(planned) >= 10*time.Second) {
			p, err := e.plan(ctx, warned)
			if err != nil {
				if ctx.Err() == nil {
					e.fail("NATS/database: cannot plan the partitions: " + err.Error())
					e.log.Warn("engine: planning partitions", "err", err)
				}
				if member != nil && len(e.snapshot()) == 0 {
					// Not counted as an engine while it cannot take partitions: the others'
					// share covers this one's.
					member.Release()
					member = nil
				}
				continue
			}
			planned = time.Now()
			if p != cur {
				running := e.snapshot()
				for _, r := range running {
					if r.spec.n != p.n || r.spec.legacyUntil != p.legacyUntil {
						r.cancel() // collected above once it has checkpointed
					}
				}
				e.mu.Lock()
				for k := range e.phealth {
					if _, ok := running[k]; !ok {
						delete(e.phealth, k) // a partition of the previous plan
					}
				}
				e.mu.Unlock()
			}
			cur = p
		}
		if member == nil {
			l, ok, err := e.db.TryMember(ctx, memberKey)
			if err != nil || !ok {
				why := "an engine of an older version holds the engine lease"
				if err != nil {
					why = "database: cannot register as an engine: " + err.Error()
				}
				if !warned[why] {
					e.log.Warn("engine: standing by", "why", why)
					warned[why] = true
				}
				if err != nil {
					e.fail(why)
				}
				e.ready.Store(err == nil)
				continue
			}
			member = l
		}
		live, err := e.db.Members(ctx, memberKey)
		if err != nil {
			if ctx.Err() == nil {
				e.fail("database: cannot count the engines: " + err.Error())
			}
			continue
		}
		e.recovered()
		e.ready.Store(true)
		share := (cur.n + max(live, 1) - 1) / max(live, 1)
		held := e.snapshot()
		if len(held) > share {
			// Give one up for an engine below its share (the highest k: deterministic).
			top := -1
			for k := range held {
				top = max(top, k)
			}
			e.log.Info("engine: releasing a partition for another engine", "partition", top, "of", cur.n, "engines", live, "share", share)
			held[top].cancel()
			continue
		}
		if len(held) >= share {
			if busy, err := e.heldBuckets(ctx); err == nil {
				e.checkCoverage(busy, &uncovered, cur)
			}
			continue
		}
		busy, err := e.heldBuckets(ctx)
		if err != nil {
			continue
		}
		e.checkCoverage(busy, &uncovered, cur)
		for i := 0; i < cur.n && len(held) < share; i++ {
			k := (offset + i) % cur.n
			if _, ok := held[k]; ok || time.Now().Before(backoff[k]) {
				continue
			}
			spec := newSpec(cur.n, k)
			spec.legacyUntil = cur.legacyUntil
			if spec.anyIn(busy) {
				e.healthy(k) // another engine holds (some of) it: its health is that engine's
				continue
			}
			lease, ok, err := e.db.TryLeases(ctx, spec.keys()...)
			if err != nil || !ok {
				continue
			}
			held[k] = e.start(ctx, spec, lease)
		}
	}
}

func (s partSpec) anyIn(busy map[int]bool) bool {
	for _, b := range s.buckets {
		if busy[b] {
			return true
		}
	}
	return false
}

// heldBuckets returns the buckets whose lock some session holds (so that taking a partition is
// tried only when it can succeed: each try costs a connection).
func (e *Engine) heldBuckets(ctx context.Context) (map[int]bool, error) {
	rows, err := e.db.Pool.Query(ctx, `select objid from pg_locks
		where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())
			and classid = $1 and objsubid = 1 and granted and objid >= $2 and objid < $3`,
		uint32(bucketKey>>32), uint32(bucketKey&0xffffffff), uint32(bucketKey&0xffffffff)+natsbus.Buckets)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	busy := map[int]bool{}
	for rows.Next() {
		var objid uint32
		if err := rows.Scan(&objid); err != nil {
			return nil, err
		}
		busy[int(objid-uint32(bucketKey&0xffffffff))] = true
	}
	return busy, rows.Err()
}

// plan finds how the stream is partitioned: Config.Partitions when the stream has buckets
// (NATS ≥ 2.10) and no 3-token message is left to consume after the buckets' positions; else one
// partition over telemetry.>.
func (e *Engine) plan(ctx context.Context, warned map[string]bool) (plan, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	sp, err := e.bus.TelemetryPos(cctx)
	if err != nil {
		return plan{}, err
	}
	if !sp.Bucketed {
		if !warned["nats"] {
			warned["nats"] = true
			e.log.Warn("engine: the NATS server has no subject transforms (they need 2.10 or later): one engine partition over telemetry.> instead of the configured number",
				"nats_server", sp.ServerVersion, "configured_partitions", e.cfg.Partitions)
		}
		return plan{n: 1}, nil
	}
	if e.cfg.Partitions == 1 {
		return plan{n: 1}, nil
	}
	last, err := e.bus.LegacyTelemetryLastSeq(cctx)
	if err != nil || last == 0 {
		return plan{n: e.cfg.Partitions}, err
	}
	pos, err := e.store.EngineBuckets(cctx)
	if err != nil {
		return plan{}, err
	}
	ckpt, _ := bucketCheckpoints(pos, sp.Created.UTC().Truncate(time.Microsecond))
	low := ckpt[0]
	for _, c := range ckpt {
		low = min(low, c)
	}
	if max(low, sp.First-1) >= last {
		return plan{n: e.cfg.Partitions}, nil
	}
	if !warned["legacy"+strconv.FormatUint(last, 10)] {
		warned["legacy"+strconv.FormatUint(last, 10)] = true
		e.log.Warn("engine: messages stored before the stream had buckets are still to be consumed: one partition until then",
			"until_stream_seq", last, "from_stream_seq", low+1, "configured_partitions", e.cfg.Partitions)
	}
	return plan{n: 1, legacyUntil: last}, nil
}

// bucketCheckpoints is each bucket's checkpoint sequence in the stream created at created (0:
// none, or one of another stream).
func bucketCheckpoints(pos []postgres.BucketPos, created time.Time) (ckpt [natsbus.Buckets]uint64, at [natsbus.Buckets]time.Time) {
	for _, p := range pos {
		if p.Bucket >= 0 && p.Bucket < natsbus.Buckets && p.StreamCreated.Equal(created) {
			ckpt[p.Bucket], at[p.Bucket] = p.CheckpointSeq, p.CheckpointTime
		}
	}
	return ckpt, at
}

// start runs a partition whose lease is held, in its own goroutine.
func (e *Engine) start(ctx context.Context, spec partSpec, lease *postgres.Lease) *running {
	pctx, cancel := context.WithCancel(ctx)
	e.mu.Lock()
	h := e.phealth[spec.k]
	if h == nil {
		h = &health{}
		e.phealth[spec.k] = h
	}
	r := &running{spec: spec, lease: lease, health: h, cancel: cancel, done: make(chan error, 1)}
	e.running[spec.k] = r
	e.metrics.partitions.Set(float64(len(e.running)))
	e.mu.Unlock()
	go func() {
		err := e.runPartition(pctx, r)
		lease.Release()
		cancel()
		r.done <- err
	}()
	return r
}

func (e *Engine) snapshot() map[int]*running {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := make(map[int]*running, len(e.running))
	for k, r := range e.running {
		m[k] = r
	}
	return m
}

func (e *Engine) forget(k int) {
	e.mu.Lock()
	delete(e.running, k)
	e.metrics.partitions.Set(float64(len(e.running)))
	e.mu.Unlock()
	l := strconv.Itoa(k)
	e.metrics.pending.DeleteLabelValues(l)
	e.metrics.streamSeq.DeleteLabelValues(l)
	e.metrics.checkpointSeq.DeleteLabelValues(l)
}

// checkCoverage reports buckets that no engine has held for 10 s: their messages wait for
// nobody (engines configured with different numbers of partitions can leave some so).
func (e *Engine) checkCoverage(busy map[int]bool, since *time.Time, cur plan) {
	var free []int
	for b := 0; b < natsbus.Buckets; b++ {
		if !busy[b] {
			free = append(free, b)
		}
	}
	switch {
	case len(free) == 0:
		*since = time.Time{}
		e.coverage.ok()
	case since.IsZero():
		*since = time.Now()
	case time.Since(*since) >= 10*time.Second:
		why := fmt.Sprintf("buckets %v are consumed by no engine (do all engines have the same CORRIDOR_ENGINE_PARTITIONS? this one: %d)", free, cur.n)
		if r, _ := e.coverage.get(); r != why {
			e.log.Warn("engine: "+why, "partitions", cur.n)
		}
		e.coverage.set(why)
	}
}

// healthy forgets partition k's health (it is no longer this engine's concern).
func (e *Engine) healthy(k int) {
	e.mu.Lock()
	delete(e.phealth, k)
	e.mu.Unlock()
}

// stopAll stops every partition (each checkpoints) and waits for them.
func (e *Engine) stopAll() {
	for k, r := range e.snapshot() {
		r.cancel()
		<-r.done
		e.forget(k)
	}
}
