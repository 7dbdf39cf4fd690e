// Package engine consumes positions from JetStream, validates them, checks them against the
// in-memory geofence index, runs the alarm rules, stores history, alarms and rule state in one
// transaction per batch, then publishes alarm events and live state, and acknowledges the batch.
// It is the only package that owns goroutines for this flow.
package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/corridor-dev/corridor/pkg/geofence"
	"github.com/corridor-dev/corridor/pkg/j1939"
	"github.com/corridor-dev/corridor/pkg/natsbus"
	"github.com/corridor-dev/corridor/pkg/postgres"
	"github.com/corridor-dev/corridor/pkg/rules"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// MaxPlausibleKmh is the implied speed between two fixes above which the later one is stored
// flagged as an implausible jump and drives no rule.
const MaxPlausibleKmh = 250

// Config tunes the engine.
type Config struct {
	Rules     rules.Config
	BatchSize int              // messages per fetch (default 500)
	FetchWait time.Duration    // longest wait for a first message before the loop ticks (default 250 ms)
	TickEvery time.Duration    // time-driven rules (signal_lost) period (default 1 s)
	Now       func() time.Time // server clock (default time.Now)
}

// Engine is the geofence-and-rules consumer.
type Engine struct {
	cfg     Config
	db      *postgres.DB
	bus     *natsbus.Bus
	log     *slog.Logger
	loader  *loader
	states  map[string]*vstate // owned by the Run goroutine
	ready   atomic.Bool
	kick    chan struct{} // wakes the outbox publisher after a commit
	metrics *metrics
	poison  map[uint64]string        // stream sequences whose processing panicked, with why
	onFix   func(*tracking.Position) // test seam: called for every valid fix before evaluation
}

// vstate is one vehicle's state, owned by the Run goroutine.
type vstate struct {
	cur       persisted       // as committed, plus the changes of the batch being worked on
	committed json.RawMessage // JSON of the state as last committed, to restore after a failed commit
	live      *tracking.VehicleState
}

// persisted is what vehicle_state.rules holds.
type persisted struct {
	Rules   rules.State `json:"rules"`
	LastTS  time.Time   `json:"last_ts"` // last fix that drove the rules (for implausible jumps)
	LastLat float64     `json:"last_lat"`
	LastLon float64     `json:"last_lon"`
	Hint    int         `json:"hint"` // geofence segment matched last
}

// New builds an engine; Run starts it.
func New(cfg Config, db *postgres.DB, bus *natsbus.Bus, log *slog.Logger, reg prometheus.Registerer) *Engine {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	if cfg.FetchWait <= 0 {
		cfg.FetchWait = 250 * time.Millisecond
	}
	if cfg.TickEvery <= 0 {
		cfg.TickEvery = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{cfg: cfg, db: db, bus: bus, log: log, states: map[string]*vstate{},
		kick: make(chan struct{}, 1), metrics: newMetrics(reg), poison: map[uint64]string{}}
	e.loader = &loader{db: db, now: cfg.Now}
	return e
}

// Ready reports whether the engine has loaded its state and is consuming.
func (e *Engine) Ready() error {
	if !e.ready.Load() {
		return errors.New("engine starting")
	}
	return nil
}

// Run loads state and consumes until ctx ends; the batch in flight is finished first.
func (e *Engine) Run(ctx context.Context) error {
	if _, err := e.loader.sync(ctx, true); err != nil {
		return fmt.Errorf("engine: load: %w", err)
	}
	if err := e.loadStates(ctx); err != nil {
		return fmt.Errorf("engine: load state: %w", err)
	}
	cons, err := e.bus.EngineConsumer(ctx)
	if err != nil {
		return fmt.Errorf("engine: consumer: %w", err)
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
	e.ready.Store(true)
	e.log.Info("engine consuming", "stream", natsbus.StreamTelemetry, "consumer", natsbus.EngineConsumer)
	defer e.ready.Store(false)

	lastTick := time.Time{}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if now := e.cfg.Now(); now.Sub(lastTick) >= e.cfg.TickEvery {
			lastTick = now
			if err := e.tick(context.WithoutCancel(ctx), now); err != nil {
				e.log.Error("engine: tick", "err", err)
			}
		}
		msgs, err := e.fetch(cons)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			e.log.Warn("engine: fetch", "err", err)
			sleep(ctx, backoff)
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		if len(msgs) == 0 {
			continue
		}
		// The batch is finished even when ctx ends meanwhile: SIGTERM drains in-flight work. A
		// batch that fails is retried in place (not nak'ed): fetching newer fixes first would
		// make the failed ones arrive out of order and drive no rule.
		for attempt := 0; ; attempt++ {
			err := e.handle(context.WithoutCancel(ctx), msgs)
			if err == nil {
				break
			}
			e.log.Error("engine: batch failed; retrying it", "messages", len(msgs), "attempt", attempt+1, "err", err)
			sleep(ctx, backoff)
			backoff = min(backoff*2, 5*time.Second)
			if ctx.Err() != nil {
				return nil // not acknowledged: replayed in order at the next start
			}
			for _, m := range msgs {
				_ = m.InProgress()
			}
		}
		backoff = 100 * time.Millisecond
	}
	return nil
}

// fetch waits up to FetchWait for the first message, then takes what else is already there, up
// to BatchSize, without waiting: a lone fix is processed at once, a backlog in full batches.
func (e *Engine) fetch(cons jetstream.Consumer) ([]jetstream.Msg, error) {
	first, err := cons.Next(jetstream.FetchMaxWait(e.cfg.FetchWait))
	if err != nil {
		if errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages) || errors.Is(err, context.DeadlineExceeded) {
			return nil, nil
		}
		return nil, err
	}
	msgs := []jetstream.Msg{first}
	if e.cfg.BatchSize > 1 {
		rest, err := cons.FetchNoWait(e.cfg.BatchSize - 1)
		if err != nil {
			return msgs, nil // the first one is processed; the rest come next time
		}
		for m := range rest.Messages() {
			msgs = append(msgs, m)
		}
	}
	return msgs, nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func (e *Engine) loadStates(ctx context.Context) error {
	rows, err := e.db.VehicleStates(ctx, nil)
	if err != nil {
		return err
	}
	for _, r := range rows {
		vs := &vstate{committed: r.Rules, live: r.Live}
		if err := json.Unmarshal(r.Rules, &vs.cur); err != nil {
			e.log.Error("engine: unreadable vehicle state; starting it afresh", "vehicle_id", r.VehicleID, "err", err)
			vs.cur = persisted{Hint: -1}
		}
		e.states[r.VehicleID] = vs
	}
	return nil
}

func (e *Engine) state(vehicleID string) *vstate {
	vs := e.states[vehicleID]
	if vs == nil {
		vs = &vstate{cur: persisted{Hint: -1}}
		e.states[vehicleID] = vs
	}
	return vs
}

// batchWork collects what one batch commits.
type batchWork struct {
	db      postgres.Batch
	dirty   map[string]*vstate
	order   []string
	dead    []natsbus.DeadLetter
	nDup    int
	changed map[string]bool // vehicles whose live view changed
	err     error           // an infrastructure failure while processing: retry the batch
}

func (b *batchWork) touch(id string, vs *vstate) {
	if b.dirty[id] == nil {
		b.dirty[id] = vs
		b.order = append(b.order, id)
	}
}

// handle processes one batch of messages: decode, validate, evaluate, commit, publish, ack.
func (e *Engine) handle(ctx context.Context, msgs []jetstream.Msg) error {
	start := time.Now()
	w, err := e.loader.sync(ctx, false)
	if err != nil {
		return err
	}
	bw := &batchWork{dirty: map[string]*vstate{}, changed: map[string]bool{}}
	received := e.cfg.Now()
	extra := map[string]postgres.EngineVehicle{}
	for _, m := range msgs {
		if e.processSafely(ctx, w, m, received, bw, extra); bw.err != nil {
			e.restore(bw)
			return bw.err
		}
	}
	if err := e.commit(ctx, bw); err != nil {
		e.restore(bw)
		if len(msgs) > 1 && isDataError(err) {
			// One message's data is refused by the database: isolate it by going one at a time.
			e.log.Warn("engine: batch refused by the database; retrying message by message", "err", err)
			for _, m := range msgs {
				if err := e.handleOne(ctx, m); err != nil {
					return err
				}
			}
			return nil
		}
		if len(msgs) == 1 && isDataError(err) {
			if derr := e.bus.PublishDeadLetters(ctx, []natsbus.DeadLetter{deadLetter(msgs[0], tracking.ReasonInvalidField,
				"refused by the database: "+err.Error())}); derr != nil {
				return derr
			}
			e.metrics.deadLetters.WithLabelValues(tracking.ReasonInvalidField).Inc()
			return msgs[0].Ack()
		}
		return err
	}
	// The consumer acknowledges all messages up to the one acknowledged (AckAll): a batch is
	// acknowledged by its last message once all of it is committed.
	if err := msgs[len(msgs)-1].Ack(); err != nil {
		e.log.Warn("engine: ack", "err", err)
	}
	e.metrics.batchSeconds.Observe(time.Since(start).Seconds())
	return nil
}

// deadLetter builds the dead letter of a message, de-duplicated by its stream sequence.
func deadLetter(m jetstream.Msg, reason, detail string) natsbus.DeadLetter {
	dl := natsbus.NewDeadLetter(reason, detail, m.Subject(), m.Data())
	if md, err := m.Metadata(); err == nil {
		dl.MsgID = fmt.Sprintf("dead-%s-%d", md.Stream, md.Sequence.Stream)
	}
	return dl
}

func (e *Engine) handleOne(ctx context.Context, m jetstream.Msg) error {
	return e.handle(ctx, []jetstream.Msg{m})
}

func isDataError(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23"))
}

// processSafely is process, with a panic contained to its message: a bug meeting an odd input
// must not crash the engine and then crash it again on every replay of that message, stalling
// every vehicle. The batch fails (state restored) and, when it is retried, that message is
// dead-lettered without being processed (its payload kept for replay once the bug is fixed).
func (e *Engine) processSafely(ctx context.Context, w *world, m jetstream.Msg, received time.Time, bw *batchWork, extra map[string]postgres.EngineVehicle) {
	var seq uint64
	if md, err := m.Metadata(); err == nil {
		seq = md.Sequence.Stream
	}
	if why, ok := e.poison[seq]; ok && seq != 0 {
		bw.dead = append(bw.dead, deadLetter(m, tracking.ReasonInvalidField, "the engine failed on this input: "+why))
		e.metrics.deadLetters.WithLabelValues(tracking.ReasonInvalidField).Inc()
		delete(e.poison, seq)
		return
	}
	defer func() {
		if r := recover(); r != nil {
			e.log.Error("engine: panic while processing a message; it will be dead-lettered", "subject", m.Subject(),
				"stream_seq", seq, "panic", r, "stack", string(debug.Stack()))
			e.poison[seq] = fmt.Sprint(r)
			bw.err = fmt.Errorf("panic while processing %s (stream sequence %d): %v", m.Subject(), seq, r)
		}
	}()
	e.process(ctx, w, m, received, bw, extra)
}

// subjectIDs splits telemetry.<carrier>.<vehicle> without allocating.
func subjectIDs(subject string) (carrier, vehicle string, ok bool) {
	rest, ok := strings.CutPrefix(subject, "telemetry.")
	if !ok {
		return "", "", false
	}
	carrier, vehicle, ok = strings.Cut(rest, ".")
	return carrier, vehicle, ok && carrier != "" && vehicle != "" && !strings.Contains(vehicle, ".")
}

// process handles one message into bw.
func (e *Engine) process(ctx context.Context, w *world, m jetstream.Msg, received time.Time, bw *batchWork, extra map[string]postgres.EngineVehicle) {
	ref := received
	if md, err := m.Metadata(); err == nil && !md.Timestamp.IsZero() {
		ref = md.Timestamp // validity is judged against when the fix reached the stream
	}
	dead := func(reason, detail string) {
		bw.dead = append(bw.dead, deadLetter(m, reason, detail))
		e.metrics.deadLetters.WithLabelValues(reason).Inc()
	}
	p, err := tracking.DecodePosition(m.Data(), ref)
	if err != nil {
		dead(tracking.Reason(err), err.Error())
		return
	}
	// telemetry.<carrier>.<vehicle>
	subCarrier, subVehicle, okSubject := subjectIDs(m.Subject())
	if !okSubject {
		dead(tracking.ReasonInvalidField, "subject must be telemetry.<carrier_id>.<vehicle_id>")
		return
	}
	if p.CarrierID == "" {
		dead(tracking.ReasonInvalidField, "carrier_id: required on NATS")
		return
	}
	if subCarrier != p.CarrierID {
		dead(tracking.ReasonCarrierMismatch, fmt.Sprintf("carrier_id %q does not match the subject's %q", p.CarrierID, subCarrier))
		return
	}
	if subVehicle != p.VehicleID {
		dead(tracking.ReasonInvalidField, fmt.Sprintf("vehicle_id %q does not match the subject's %q", p.VehicleID, subVehicle))
		return
	}
	v, ok := w.vehicles[p.VehicleID]
	if !ok {
		// Not in the world yet (created a moment ago?): ask the database, once per batch; an
		// absent vehicle is remembered as such (empty ID) for the rest of the batch.
		var asked bool
		if v, asked = extra[p.VehicleID]; !asked {
			v2, err := e.db.EngineVehicle(ctx, p.VehicleID)
			if err != nil {
				if tracking.ErrorCode(err) != tracking.ENOTFOUND {
					bw.err = err // the database failed, not the fix: the batch is retried
					return
				}
				v2 = postgres.EngineVehicle{}
			}
			extra[p.VehicleID] = v2
			v = v2
		}
		ok = v.ID != ""
	}
	if !ok {
		dead(tracking.ReasonUnknownVehicle, fmt.Sprintf("vehicle %q does not exist", p.VehicleID))
		return
	}
	if v.CarrierID != p.CarrierID {
		dead(tracking.ReasonCarrierMismatch, fmt.Sprintf("vehicle %q belongs to carrier %q, not %q", p.VehicleID, v.CarrierID, p.CarrierID))
		return
	}
	var flags []string
	if len(p.CAN) > 0 {
		// The good frames are applied; a frame that cannot be decoded does not cost the fix
		// its position: it is stored flagged.
		if err := j1939.Apply(&p); err != nil {
			flags = append(flags, tracking.FlagBadCAN)
		}
	}
	if e.onFix != nil {
		e.onFix(&p)
	}
	e.evaluate(w, v, p, received, bw, flags)
}

// evaluate runs geofence and rules for one valid fix of a known vehicle.
func (e *Engine) evaluate(w *world, v postgres.EngineVehicle, p tracking.Position, received time.Time, bw *batchWork, flags []string) {
	vs := e.state(v.ID)
	bw.touch(v.ID, vs)
	sp := tracking.StoredPosition{Position: p, ReceivedAt: received, Flags: flags}
	newer := p.TS.After(vs.cur.LastTS)
	fix := rules.Fix{TS: p.TS, Lat: p.Lat, Lon: p.Lon, SpeedKmh: p.SpeedKmh, DeviceAlarms: p.DeviceAlarms}
	in := rules.Input{Fix: fix, ReceivedAt: received}
	var dist *float64
	var within bool
	var trip *tracking.Trip
	if !newer {
		if p.TS.Before(vs.cur.LastTS) {
			sp.Flags = append(sp.Flags, tracking.FlagOutOfOrder)
		} else {
			bw.nDup++
		}
	} else {
		if !vs.cur.LastTS.IsZero() {
			dt := p.TS.Sub(vs.cur.LastTS).Hours()
			if km := haversineKm(vs.cur.LastLat, vs.cur.LastLon, p.Lat, p.Lon); km/dt > MaxPlausibleKmh {
				sp.Flags = append(sp.Flags, tracking.FlagImplausibleJump)
				in.Fix.Implausible = true
			}
		}
		if !in.Fix.Implausible {
			trip = w.activeTrip(v.ID, p.TS)
			if trip != nil {
				c := w.corridors[trip.CorridorID]
				if d, in2, seg, ok := w.index.CheckCorridor(trip.CorridorID, p.Lon, p.Lat, vs.cur.Hint); ok && c != nil {
					vs.cur.Hint = seg
					dist, within = &d, in2
					rt := &rules.Trip{ID: trip.ID, CorridorID: trip.CorridorID, BufferM: c.BufferM, StartsAt: trip.StartsAt, EndsAt: trip.EndsAt}
					if c.MaxSpeedKmh != nil {
						rt.MaxSpeedKmh = *c.MaxSpeedKmh
					}
					in.Trip = rt
					in.DistanceM = d
				} else {
					e.log.Warn("engine: trip's corridor is not loaded; fix treated as without trip", "trip_id", trip.ID, "corridor_id", trip.CorridorID)
					trip = nil
				}
			}
			var zbuf [8]*geofence.Zone
			for _, z := range w.index.ZonesAt(p.Lon, p.Lat, zbuf[:0]) {
				hit := rules.ZoneHit{ID: z.ID, Kind: z.Kind}
				if zm := w.zones[z.ID]; zm != nil {
					hit.ActiveHours = zm.ActiveHours
				}
				in.Zones = append(in.Zones, hit)
			}
		}
	}
	bw.db.Positions = append(bw.db.Positions, sp)
	var changes []rules.Change
	vs.cur.Rules, changes = rules.Evaluate(e.cfg.Rules, vs.cur.Rules, in)
	e.addChanges(v, changes, bw)
	if newer && !in.Fix.Implausible {
		vs.cur.LastTS, vs.cur.LastLat, vs.cur.LastLon = p.TS, p.Lat, p.Lon
		st := tracking.VehicleState{VehicleID: v.ID, CarrierID: v.CarrierID, Plate: v.Plate, TS: p.TS.UTC(), Lat: p.Lat, Lon: p.Lon,
			SpeedKmh: p.SpeedKmh, HeadingDeg: p.HeadingDeg, DistanceM: dist, UpdatedAt: received.UTC()}
		switch {
		case trip == nil:
			st.Status = tracking.StatusNoTrip
		case within:
			st.Status = tracking.StatusOnRoute
		default:
			st.Status = tracking.StatusOffRoute
		}
		if trip != nil {
			st.TripID, st.CorridorID = ptr(trip.ID), ptr(trip.CorridorID)
		}
		if vs.cur.Rules.Offline() {
			st.Status = tracking.StatusOffline
		}
		vs.live = &st
		bw.changed[v.ID] = true
	}
}

// statusOf is the live status of a vehicle that is not offline, from its last position and the
// trip in l: the distance to that trip's corridor is measured when l does not have it yet.
func (e *Engine) statusOf(w *world, l *tracking.VehicleState) string {
	if l.TripID == nil || l.CorridorID == nil {
		return tracking.StatusNoTrip
	}
	c := w.corridors[*l.CorridorID]
	if c == nil {
		return tracking.StatusNoTrip
	}
	if l.DistanceM == nil {
		if d, _, _, ok := w.index.CheckCorridor(c.ID, l.Lon, l.Lat, -1); ok {
			l.DistanceM = &d
		}
	}
	if l.DistanceM != nil && *l.DistanceM <= c.BufferM {
		return tracking.StatusOnRoute
	}
	return tracking.StatusOffRoute
}

func (e *Engine) addChanges(v postgres.EngineVehicle, changes []rules.Change, bw *batchWork) {
	for _, c := range changes {
		e.metrics.alarmChanges.WithLabelValues(c.Kind, c.Event).Inc()
		if c.Event == tracking.EventCleared {
			key := c.ZoneID
			if key == "" {
				key = c.DeviceAlarm
			}
			bw.db.Changes = append(bw.db.Changes, postgres.AlarmChange{Clear: &postgres.AlarmClear{
				VehicleID: v.ID, Kind: c.Kind, Key: key, At: c.At}})
			continue
		}
		a := &tracking.Alarm{Kind: c.Kind, VehicleID: v.ID, CarrierID: v.CarrierID, StartedAt: c.StartedAt, RaisedAt: c.At,
			Position: &tracking.LatLon{Lat: c.Lat, Lon: c.Lon}, DistanceM: c.DistanceM, SpeedKmh: c.SpeedKmh}
		if c.NoPosition {
			a.Position = nil // signal_lost of a vehicle that never sent a fix
		}
		if c.TripID != "" {
			a.TripID = ptr(c.TripID)
		}
		if c.CorridorID != "" {
			a.CorridorID = ptr(c.CorridorID)
		}
		if c.ZoneID != "" {
			a.ZoneID = ptr(c.ZoneID)
		}
		if c.DeviceAlarm != "" {
			a.DeviceAlarm = ptr(c.DeviceAlarm)
		}
		bw.db.Changes = append(bw.db.Changes, postgres.AlarmChange{Raise: a})
	}
}

func ptr[T any](v T) *T { return &v }

// commit stores the batch, then publishes dead letters, live state and alarm events.
func (e *Engine) commit(ctx context.Context, bw *batchWork) error {
	if len(bw.dead) > 0 {
		// Dead letters are stored before the batch is acknowledged: a failure redelivers the batch.
		if err := e.bus.PublishDeadLetters(ctx, bw.dead); err != nil {
			return fmt.Errorf("dead letters: %w", err)
		}
	}
	if len(bw.order) == 0 {
		return nil
	}
	jsons := make(map[string]json.RawMessage, len(bw.order))
	for _, id := range bw.order {
		vs := bw.dirty[id]
		j, err := json.Marshal(&vs.cur)
		if err != nil {
			return err
		}
		jsons[id] = j
		bw.db.States = append(bw.db.States, postgres.VehicleStateRow{VehicleID: id, Rules: j, Live: vs.live})
	}
	res, err := e.db.CommitBatch(ctx, &bw.db)
	if err != nil {
		return err
	}
	for _, id := range bw.order {
		bw.dirty[id].committed = jsons[id]
	}
	e.metrics.fixes.WithLabelValues("stored").Add(float64(res.Inserted))
	e.metrics.fixes.WithLabelValues("duplicate").Add(float64(len(bw.db.Positions) - res.Inserted))
	if len(res.Events) > 0 {
		select {
		case e.kick <- struct{}{}:
		default:
		}
	}
	for _, id := range bw.order {
		if bw.changed[id] {
			if err := e.bus.PublishLive(bw.dirty[id].live); err != nil {
				e.log.Warn("engine: live publish", "err", err)
			}
		}
	}
	return nil
}

// restore puts the vehicles of a failed batch back to their committed state.
func (e *Engine) restore(bw *batchWork) {
	for _, id := range bw.order {
		e.restoreOne(bw.dirty[id])
	}
}

func (e *Engine) restoreOne(vs *vstate) {
	var p persisted
	if vs.committed != nil && json.Unmarshal(vs.committed, &p) == nil {
		vs.cur = p
	} else {
		vs.cur = persisted{Hint: -1}
	}
}

// tick runs the time-driven rules for vehicles on an active trip, and for vehicles whose
// deviation or signal_lost may have to clear because their trip ended.
func (e *Engine) tick(ctx context.Context, now time.Time) error {
	w, err := e.loader.sync(ctx, false)
	if err != nil {
		return err
	}
	bw := &batchWork{dirty: map[string]*vstate{}, changed: map[string]bool{}}
	visit := func(vid string) {
		nOrder, nChanges, wasDirty := len(bw.order), len(bw.db.Changes), bw.dirty[vid] != nil
		defer func() {
			if r := recover(); r != nil { // a bug must not stop the ticker for every vehicle
				e.log.Error("engine: panic in the time-driven rules; vehicle skipped this tick", "vehicle_id", vid,
					"panic", r, "stack", string(debug.Stack()))
				if vs := e.states[vid]; vs != nil {
					e.restoreOne(vs)
				}
				bw.order, bw.db.Changes = bw.order[:nOrder], bw.db.Changes[:nChanges]
				if !wasDirty {
					delete(bw.dirty, vid)
				}
			}
		}()
		v, ok := w.vehicles[vid]
		if !ok {
			return
		}
		var rt *rules.Trip
		if t := w.activeTrip(vid, now); t != nil {
			if c := w.corridors[t.CorridorID]; c != nil {
				rt = &rules.Trip{ID: t.ID, CorridorID: t.CorridorID, BufferM: c.BufferM, StartsAt: t.StartsAt, EndsAt: t.EndsAt}
				if c.MaxSpeedKmh != nil {
					rt.MaxSpeedKmh = *c.MaxSpeedKmh
				}
			}
		}
		vs := e.states[vid]
		if vs == nil && rt == nil {
			return
		}
		if vs == nil {
			vs = e.state(vid)
		}
		wasOffline := vs.cur.Rules.Offline()
		var changes []rules.Change
		vs.cur.Rules, changes = rules.Tick(e.cfg.Rules, vs.cur.Rules, now, rt)
		if len(changes) == 0 && wasOffline == vs.cur.Rules.Offline() {
			return
		}
		bw.touch(vid, vs)
		e.addChanges(v, changes, bw)
		if vs.live == nil && vs.cur.LastTS.IsZero() {
			return // never seen: it has no position to show; its signal_lost alarm says enough
		}
		if wasOffline != vs.cur.Rules.Offline() || vs.live == nil || len(changes) > 0 {
			var l tracking.VehicleState
			if vs.live != nil {
				l = *vs.live
			} else {
				l = tracking.VehicleState{VehicleID: vid, CarrierID: v.CarrierID, Plate: v.Plate,
					TS: vs.cur.LastTS.UTC(), Lat: vs.cur.LastLat, Lon: vs.cur.LastLon}
			}
			// The trip is the one active now, not the one of the last fix.
			if rt == nil {
				l.TripID, l.CorridorID, l.DistanceM = nil, nil, nil
			} else if l.TripID == nil || *l.TripID != rt.ID {
				if l.CorridorID == nil || *l.CorridorID != rt.CorridorID {
					l.DistanceM = nil // measured from another corridor, or never
				}
				l.TripID, l.CorridorID = ptr(rt.ID), ptr(rt.CorridorID)
			}
			switch {
			case vs.cur.Rules.Offline():
				l.Status = tracking.StatusOffline
			case rt == nil:
				l.Status = tracking.StatusNoTrip
			default:
				l.Status = e.statusOf(w, &l)
			}
			l.UpdatedAt = now.UTC()
			vs.live = &l
			bw.changed[vid] = true
		}
	}
	seen := map[string]bool{}
	for vid, trips := range w.trips {
		for i := range trips {
			if trips[i].ActiveAt(now) || (trips[i].EndsAt.Before(now) && trips[i].EndsAt.After(now.Add(-time.Minute))) {
				seen[vid] = true
				visit(vid)
				break
			}
		}
	}
	for vid, vs := range e.states {
		if !seen[vid] && len(vs.cur.Rules.Active()) > 0 {
			visit(vid)
		}
	}
	if err := e.commit(ctx, bw); err != nil {
		e.restore(bw)
		return err
	}
	return nil
}

// runOutbox publishes stored alarm events to ALARMS: after each commit that wrote some, on the
// database's notification (changes made by the API), and every second as a safety net.
func (e *Engine) runOutbox(ctx context.Context) {
	RunOutbox(ctx, e.db, e.bus, e.log, e.kick)
}

// RunOutbox publishes alarm events from the database outbox to NATS until ctx ends. Any process
// that changes alarms runs one (the engine does; an API-only process must too).
func RunOutbox(ctx context.Context, db *postgres.DB, bus *natsbus.Bus, log *slog.Logger, kick chan struct{}) {
	if kick == nil {
		kick = make(chan struct{}, 1)
	}
	wake := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	listening := make(chan struct{})
	defer func() { <-listening }()
	go func() {
		defer close(listening)
		db.Listen(ctx, []string{"alarm_events"}, func(context.Context) { wake() }, func(_, _ string) { wake() })
	}()
	publish := func(ctx context.Context, ev postgres.PendingAlarmEvent) error {
		return bus.PublishAlarmEvent(ctx, ev.Subject, fmt.Sprintf("alarm-event-%d", ev.ID), ev.Payload)
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		for {
			n, err := db.PublishPendingAlarmEvents(context.WithoutCancel(ctx), 500, publish)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("outbox: publish", "err", err)
				}
				break
			}
			if n == 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-t.C:
		}
	}
}

func haversineKm(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371.0088
	p1, p2 := lat1*math.Pi/180, lat2*math.Pi/180
	dp, dl := p2-p1, (lon2-lon1)*math.Pi/180
	a := math.Sin(dp/2)*math.Sin(dp/2) + math.Cos(p1)*math.Cos(p2)*math.Sin(dl/2)*math.Sin(dl/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}
