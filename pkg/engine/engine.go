// Package engine is the shell around the pure core (package core): it holds a lease on its
// partition of the TELEMETRY stream, fetches batches with a bound of its own, validates them,
// lets the core apply them, commits positions, alarm changes and the stream position in one
// transaction, publishes live state and alarm events, and acknowledges. Rule state is
// checkpointed every few seconds with the stream position it reflects; recovery from anything
// (crash, lost connection, refused batch, stalled consumer) is one path: restore the
// checkpoint, replay the stream from there. It is the only package that owns goroutines for this
// flow.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corridor-dev/corridor/pkg/engine/core"
	"github.com/corridor-dev/corridor/pkg/natsbus"
	"github.com/corridor-dev/corridor/pkg/postgres"
	"github.com/corridor-dev/corridor/pkg/rules"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// MaxPlausibleKmh is the implied speed between two fixes above which they disagree (see core).
const MaxPlausibleKmh = core.MaxPlausibleKmh

// Config tunes the engine.
type Config struct {
	Rules           rules.Config
	BatchSize       int              // messages per fetch (default 2000)
	FetchWait       time.Duration    // longest wait for a first message before the loop ticks (default 250 ms)
	TickEvery       time.Duration    // time-driven rules (signal_lost) period (default 1 s)
	CheckpointEvery time.Duration    // rule-state checkpoint period (default 2 s)
	StallAfter      time.Duration    // nothing delivered this long while messages are pending: the consumer is recreated (default 3 s)
	Now             func() time.Time // server clock (default time.Now)
	// Partitions is N, the number of stream partitions (1..natsbus.Buckets, default 1): partition
	// k holds the vehicle buckets b with b % N == k. Engines share them out (CORRIDOR_ENGINE_PARTITIONS).
	Partitions int
	// PlanEvery is how often an engine looks at the partitions' leases and its share (default 1 s).
	PlanEvery time.Duration
}

// Store is what the engine needs of the database; *postgres.DB implements it.
type Store interface {
	CommitBatch(ctx context.Context, b *postgres.Batch) (postgres.BatchResult, error)
	Checkpoint(ctx context.Context, states []postgres.VehicleStateRow, pos postgres.StreamPos) error
	EngineBuckets(ctx context.Context) ([]postgres.BucketPos, error)
	RewindBuckets(ctx context.Context, buckets []int, streamCreated time.Time, seq uint64, seqTime time.Time, fence *postgres.Fence) error
	VehicleStates(ctx context.Context, ids []string) ([]postgres.StoredVehicleState, error)
	EngineVehicle(ctx context.Context, id string) (postgres.EngineVehicle, error)
}

// Publisher is where the engine publishes; *natsbus.Bus implements it.
type Publisher interface {
	PublishDeadLetters(ctx context.Context, dls []natsbus.DeadLetter) error
	PublishLive(s *tracking.VehicleState) error
	Ready(ctx context.Context) error
}

// Engine is the geofence-and-rules consumer.
type Engine struct {
	cfg     Config
	db      *postgres.DB
	store   Store
	bus     *natsbus.Bus
	pub     Publisher
	log     *slog.Logger
	loader  *loader
	ready   atomic.Bool
	kick    chan struct{} // wakes the outbox publisher after a commit
	metrics *metrics
	health  health // the engine's own (leases, planning); each partition has its own
	// coverage: some bucket has been held by no engine for a while
	coverage health
	onFix    func(*tracking.Position) // test seam: called for every valid fix before evaluation
	crashed  atomic.Bool              // test seam: stop as a killed process would (no final checkpoint)

	mu      sync.Mutex
	running map[int]*running // the partitions this engine holds, by k
	// phealth is each partition's health, by k: it outlives a run of the partition that failed
	// (restore fails again and again: still not ready) until the partition restores, is given up
	// or is found held by another engine.
	phealth map[int]*health
}

// New builds an engine; Run starts it.
func New(cfg Config, db *postgres.DB, bus *natsbus.Bus, log *slog.Logger, reg prometheus.Registerer) *Engine {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 2000
	}
	if cfg.FetchWait <= 0 {
		cfg.FetchWait = 250 * time.Millisecond
	}
	if cfg.TickEvery <= 0 {
		cfg.TickEvery = time.Second
	}
	if cfg.CheckpointEvery <= 0 {
		cfg.CheckpointEvery = 2 * time.Second
	}
	if cfg.StallAfter <= 0 {
		cfg.StallAfter = 3 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 1
	}
	cfg.Partitions = min(cfg.Partitions, natsbus.Buckets)
	if cfg.PlanEvery <= 0 {
		cfg.PlanEvery = time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{cfg: cfg, db: db, store: db, bus: bus, pub: bus, log: log,
		kick: make(chan struct{}, 1), running: map[int]*running{}, phealth: map[int]*health{}}
	e.metrics = newMetrics(reg, func() float64 {
		if e.Ready() == nil {
			return 1
		}
		return 0
	})
	e.loader = &loader{db: db, now: cfg.Now}
	return e
}

// health is why the engine cannot make progress, since when ("" when it can).
type health struct {
	mu     sync.Mutex
	reason string
	since  time.Time
}

func (h *health) set(reason string) {
	h.mu.Lock()
	if h.reason == "" {
		h.since = time.Now()
	}
	h.reason = reason
	h.mu.Unlock()
}

func (h *health) ok() {
	h.mu.Lock()
	h.reason = ""
	h.mu.Unlock()
}

func (h *health) get() (string, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reason, h.since
}

// Partitions returns the stream partitions (k of Config.Partitions, or 0 of 1 while the stream
// has no buckets) this engine holds the lease of, in order (none: a standby).
func (e *Engine) Partitions() []int {
	e.mu.Lock()
	defer e.mu.Unlock()
	ks := make([]int, 0, len(e.running))
	for k := range e.running {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// failGrace is how long a failure may last before Ready reports it: one retry is not an outage.
const failGrace = time.Second

// Ready reports whether the engine is consuming: an error while it starts, and while one of
// its partitions has a batch that keeps failing, a consumer that delivers nothing while messages
// are pending, or NATS or the database cannot be used for its work (each partition's health is
// its own: one partition's success does not hide another's failure).
func (e *Engine) Ready() error {
	if !e.ready.Load() {
		return errors.New("engine starting")
	}
	for _, h := range []*health{&e.health, &e.coverage} {
		if reason, since := h.get(); reason != "" && time.Since(since) >= failGrace {
			return fmt.Errorf("engine: %s (since %s)", reason, since.UTC().Format(time.RFC3339))
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	ks := make([]int, 0, len(e.phealth))
	for k := range e.phealth {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	for _, k := range ks {
		if reason, since := e.phealth[k].get(); reason != "" && time.Since(since) >= failGrace {
			return fmt.Errorf("engine partition %d: %s (since %s)", k, reason, since.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

func (e *Engine) fail(reason string) { e.health.set(reason) }

func (e *Engine) recovered() {
	if r, _ := e.health.get(); r != "" {
		e.log.Info("engine: making progress again", "after", r)
	}
	e.health.ok()
}

// Run loads the world, then holds as many partitions as its share (see coordinate) and
// consumes them, each in its own goroutine, until ctx ends; each partition finishes the batch in
// flight and checkpoints its rule state. Without any partition (others hold them all) it stands
// by and takes over what is released.
func (e *Engine) Run(ctx context.Context) error {
	if _, err := e.loader.sync(ctx, true); err != nil {
		return fmt.Errorf("engine: load: %w", err)
	}
	// Changes reach the engine by notification; after a lost connection, the tables whose
	// change counters moved meanwhile are reloaded whole (notifications sent while it was down
	// are lost, the counters are not).
	var bg sync.WaitGroup
	defer bg.Wait()
	reload := func(ctx context.Context) {
		if _, err := e.loader.sync(ctx, false); err != nil && ctx.Err() == nil {
			e.log.Error("engine: reload", "err", err)
		}
	}
	bg.Add(2)
	go func() {
		defer bg.Done()
		e.db.Listen(ctx, []string{"corridor_changes"}, reload, func(_, _ string) { reload(ctx) })
	}()
	go func() {
		defer bg.Done()
		e.runOutbox(ctx)
	}()
	defer e.ready.Store(false)
	e.coordinate(ctx)
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
