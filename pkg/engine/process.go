package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/corridor-dev/corridor/pkg/engine/core"
	"github.com/corridor-dev/corridor/pkg/j1939"
	"github.com/corridor-dev/corridor/pkg/natsbus"
	"github.com/corridor-dev/corridor/pkg/postgres"
	"github.com/corridor-dev/corridor/pkg/rules"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// batchWork collects what one batch commits.
type batchWork struct {
	db    postgres.Batch
	live  map[string]*tracking.VehicleState // each vehicle's newest live state in the batch
	order []string                          // vehicles with a live state, in first-change order
	dead  []natsbus.DeadLetter
	err   error // an infrastructure failure while processing: retry the batch
}

func newBatchWork() *batchWork { return &batchWork{live: map[string]*tracking.VehicleState{}} }

// add takes one core outcome into the batch.
func (e *Engine) add(bw *batchWork, o core.Outcome) {
	if o.Position != nil {
		bw.db.Positions = append(bw.db.Positions, *o.Position)
	} else if o.Duplicate {
		e.metrics.fixes.WithLabelValues("duplicate").Inc()
	}
	for _, c := range o.Changes {
		e.metrics.alarmChanges.WithLabelValues(c.Kind, c.Event).Inc()
		bw.db.Changes = append(bw.db.Changes, alarmChange(o.Vehicle, c))
	}
	if o.Live != nil {
		if bw.live[o.Vehicle.ID] == nil {
			bw.order = append(bw.order, o.Vehicle.ID)
		}
		bw.live[o.Vehicle.ID] = o.Live
	}
}

// alarmChange is a rule change as stored: a raise with its deterministic identity, or a clear
// naming the alarm (vehicle, kind, key, start) it ends.
func alarmChange(v core.Vehicle, c rules.Change) postgres.AlarmChange {
	key := c.ZoneID
	if key == "" {
		key = c.DeviceAlarm
	}
	if c.Event == tracking.EventCleared {
		return postgres.AlarmChange{Clear: &postgres.AlarmClear{ID: core.AlarmID(v.ID, c.Kind, key, c.StartedAt), VehicleID: v.ID, Kind: c.Kind, Key: key, StartedAt: c.StartedAt, At: c.At}}
	}
	a := &tracking.Alarm{ID: core.AlarmID(v.ID, c.Kind, key, c.StartedAt), Kind: c.Kind, VehicleID: v.ID, CarrierID: v.CarrierID,
		StartedAt: c.StartedAt, RaisedAt: c.At, Position: &tracking.LatLon{Lat: c.Lat, Lon: c.Lon}, DistanceM: c.DistanceM, SpeedKmh: c.SpeedKmh}
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
	return postgres.AlarmChange{Raise: a}
}

func ptr[T any](v T) *T { return &v }

// handle processes one batch of messages: decode, validate, apply, commit, publish. On failure
// the core is rolled back to where it was before the batch.
func (e *Engine) handle(ctx context.Context, p *partition, msgs []jetstream.Msg) error {
	start := time.Now()
	w, err := e.loader.sync(ctx, false)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	bw := newBatchWork()
	received := e.cfg.Now()
	extra := map[string]postgres.EngineVehicle{}
	p.core.Begin()
	for _, m := range msgs {
		if e.processSafely(ctx, p, w, m, received, bw, extra); bw.err != nil {
			p.core.Rollback()
			return bw.err
		}
	}
	last := seqOf(msgs[len(msgs)-1])
	if err := e.commit(ctx, p, bw, last); err != nil {
		p.core.Rollback()
		if len(msgs) > 1 && isDataError(err) {
			// One message's data is refused by the database: isolate it by going one at a time.
			e.log.Warn("engine: batch refused by the database; retrying message by message", "err", err)
			for _, m := range msgs {
				if err := e.handle(ctx, p, []jetstream.Msg{m}); err != nil {
					return err
				}
			}
			return nil
		}
		if len(msgs) == 1 && isDataError(err) {
			if derr := e.publishDead(ctx, []natsbus.DeadLetter{deadLetter(msgs[0], tracking.ReasonInvalidField,
				"refused by the database: "+err.Error())}); derr != nil {
				return derr
			}
			e.metrics.deadLetters.WithLabelValues(tracking.ReasonInvalidField).Inc()
			p.advance(msgs[0])
			return nil
		}
		return err
	}
	p.core.Commit()
	p.advance(msgs[len(msgs)-1])
	e.metrics.batchSeconds.Observe(time.Since(start).Seconds())
	return nil
}

// deadLetter builds the dead letter of a message, de-duplicated by its stream sequence.
func deadLetter(m jetstream.Msg, reason, detail string) natsbus.DeadLetter {
	dl := natsbus.NewDeadLetter(reason, detail, publishedSubject(m.Subject()), m.Data())
	if md, err := m.Metadata(); err == nil {
		dl.MsgID = fmt.Sprintf("dead-%s-%d", md.Stream, md.Sequence.Stream)
	}
	return dl
}

// publishedSubject is the subject a message was published to: the stored one without the
// bucket token the stream's transform added.
func publishedSubject(stored string) string {
	if c, v, b, ok := subjectIDs(stored); ok && b != "" && b == strconv.Itoa(natsbus.Bucket(v)) {
		return "telemetry." + c + "." + v
	}
	return stored
}

func isDataError(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23"))
}

// publishDead stores dead letters in DEADLETTER, with a bound of its own. When NATS is down the
// batch is retried (it is not the messages' fault); when NATS is up but refuses one dead letter
// (too large, say), that one is logged, counted and skipped: one message never stalls the stream.
func (e *Engine) publishDead(ctx context.Context, dls []natsbus.DeadLetter) error {
	if len(dls) == 0 {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := e.pub.PublishDeadLetters(pctx, dls)
	cancel()
	if err == nil {
		return nil
	}
	for _, dl := range dls {
		if e.pub.Ready(ctx) != nil {
			return fmt.Errorf("dead letters: %w", err)
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err1 := e.pub.PublishDeadLetters(pctx, []natsbus.DeadLetter{dl})
		cancel()
		if err1 != nil {
			if e.pub.Ready(ctx) != nil {
				return fmt.Errorf("dead letters: %w", err1)
			}
			e.metrics.deadLetterFailures.Inc()
			e.log.Error("engine: NATS refused a dead letter; the input is skipped", "subject", dl.Subject, "reason", dl.Reason,
				"payload_base64_bytes", len(dl.Payload), "err", err1)
		}
	}
	return nil
}

// processSafely is process, with a panic contained to its message: a bug meeting an odd input
// must not crash the engine and then crash it again on every replay of that message, stalling
// every vehicle. The batch fails (state rolled back) and, when it is retried, that message is
// dead-lettered without being processed (its payload kept for replay once the bug is fixed).
func (e *Engine) processSafely(ctx context.Context, p *partition, w *world, m jetstream.Msg, received time.Time, bw *batchWork, extra map[string]postgres.EngineVehicle) {
	seq := seqOf(m)
	if why, ok := p.poison[seq]; ok && seq != 0 {
		bw.dead = append(bw.dead, deadLetter(m, tracking.ReasonInvalidField, "the engine failed on this input: "+why))
		e.metrics.deadLetters.WithLabelValues(tracking.ReasonInvalidField).Inc()
		delete(p.poison, seq)
		return
	}
	defer func() {
		if r := recover(); r != nil {
			e.log.Error("engine: panic while processing a message; it will be dead-lettered", "subject", m.Subject(),
				"stream_seq", seq, "panic", r, "stack", string(debug.Stack()))
			p.poison[seq] = fmt.Sprint(r)
			bw.err = fmt.Errorf("panic while processing %s (stream sequence %d): %v", m.Subject(), seq, r)
		}
	}()
	e.process(ctx, p, w, m, received, bw, extra)
}

// subjectIDs splits telemetry.<carrier>.<vehicle>, or telemetry.<carrier>.<vehicle>.<bucket>
// as the stream's bucket transform stores it (bucket "" without), without allocating.
func subjectIDs(subject string) (carrier, vehicle, bucket string, ok bool) {
	rest, ok := strings.CutPrefix(subject, "telemetry.")
	if !ok {
		return "", "", "", false
	}
	carrier, rest, ok = strings.Cut(rest, ".")
	if !ok {
		return "", "", "", false
	}
	vehicle, bucket, hasBucket := strings.Cut(rest, ".")
	return carrier, vehicle, bucket, carrier != "" && vehicle != "" && (!hasBucket || (bucket != "" && !strings.Contains(bucket, ".")))
}

// process validates one message and hands a valid fix of a known vehicle to the core.
func (e *Engine) process(ctx context.Context, p *partition, w *world, m jetstream.Msg, received time.Time, bw *batchWork, extra map[string]postgres.EngineVehicle) {
	ref := received
	if md, err := m.Metadata(); err == nil && !md.Timestamp.IsZero() {
		ref = md.Timestamp // validity is judged against when the fix reached the stream
	}
	dead := func(reason, detail string) {
		bw.dead = append(bw.dead, deadLetter(m, reason, detail))
		e.metrics.deadLetters.WithLabelValues(reason).Inc()
	}
	pos, err := tracking.DecodePosition(m.Data(), ref)
	if err != nil {
		dead(tracking.Reason(err), err.Error())
		return
	}
	subCarrier, subVehicle, subBucket, okSubject := subjectIDs(m.Subject())
	switch {
	case !okSubject:
		dead(tracking.ReasonInvalidField, "subject must be telemetry.<carrier_id>.<vehicle_id>")
		return
	case subBucket != "" && subBucket != strconv.Itoa(natsbus.Bucket(subVehicle)):
		dead(tracking.ReasonInvalidField, fmt.Sprintf("subject's bucket %q is not vehicle %q's (%d): publish to telemetry.<carrier_id>.<vehicle_id>",
			subBucket, subVehicle, natsbus.Bucket(subVehicle)))
		return
	case pos.CarrierID == "":
		dead(tracking.ReasonInvalidField, "carrier_id: required on NATS")
		return
	case subCarrier != pos.CarrierID:
		dead(tracking.ReasonCarrierMismatch, fmt.Sprintf("carrier_id %q does not match the subject's %q", pos.CarrierID, subCarrier))
		return
	case subVehicle != pos.VehicleID:
		dead(tracking.ReasonInvalidField, fmt.Sprintf("vehicle_id %q does not match the subject's %q", pos.VehicleID, subVehicle))
		return
	}
	v, ok := w.Vehicles[pos.VehicleID]
	if !ok {
		// Not in the world yet (created a moment ago?): ask the database, once per batch; an
		// absent vehicle is remembered as such (empty ID) for the rest of the batch.
		ev, asked := extra[pos.VehicleID]
		if !asked {
			var err error
			if ev, err = e.store.EngineVehicle(ctx, pos.VehicleID); err != nil {
				if tracking.ErrorCode(err) != tracking.ENOTFOUND {
					bw.err = fmt.Errorf("database: %w", err) // the database failed, not the fix: the batch is retried
					return
				}
				ev = postgres.EngineVehicle{}
			}
			extra[pos.VehicleID] = ev
		}
		v, ok = core.Vehicle{ID: ev.ID, CarrierID: ev.CarrierID, Plate: ev.Plate}, ev.ID != ""
	}
	if !ok {
		dead(tracking.ReasonUnknownVehicle, fmt.Sprintf("vehicle %q does not exist", pos.VehicleID))
		return
	}
	if v.CarrierID != pos.CarrierID {
		dead(tracking.ReasonCarrierMismatch, fmt.Sprintf("vehicle %q belongs to carrier %q, not %q", pos.VehicleID, v.CarrierID, pos.CarrierID))
		return
	}
	var flags []string
	if len(pos.CAN) > 0 {
		// The good frames are applied; a frame that cannot be decoded does not cost the fix its
		// position: it is stored flagged.
		if err := j1939.Apply(&pos); err != nil {
			flags = append(flags, tracking.FlagBadCAN)
		}
	}
	if e.onFix != nil {
		e.onFix(&pos)
	}
	e.add(bw, p.core.Apply(&w.World, v, pos, flags, received))
}

// commit stores the batch with the partition's stream position seq (0: none, a tick), then
// publishes live state. Dead letters are stored first: a failure redelivers the batch.
func (e *Engine) commit(ctx context.Context, p *partition, bw *batchWork, seq uint64) error {
	if err := e.publishDead(ctx, bw.dead); err != nil {
		return err
	}
	if seq != 0 {
		bw.db.Stream = &postgres.StreamPos{Buckets: p.spec.buckets, StreamCreated: p.created, Seq: seq}
	}
	bw.db.Fence = p.fence
	if len(bw.db.Positions) == 0 && len(bw.db.Changes) == 0 && len(bw.db.States) == 0 && seq == 0 {
		return nil
	}
	res, err := e.store.CommitBatch(ctx, &bw.db)
	if err != nil {
		return err
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
		if err := e.pub.PublishLive(bw.live[id]); err != nil {
			e.log.Warn("engine: live publish", "err", err)
			break
		}
	}
	return nil
}

// tick runs the time-driven rules and commits what they changed, with the changed vehicles'
// state (so that a restore never forgets an alarm a tick raised).
func (e *Engine) tick(ctx context.Context, p *partition, now time.Time) error {
	w, err := e.loader.sync(ctx, false)
	if err != nil {
		return err
	}
	p.core.Begin()
	outs, errs := p.core.Tick(&w.World, now)
	for _, err := range errs {
		e.log.Error("engine: the time-driven rules failed for a vehicle; skipped this tick", "err", err)
	}
	if len(outs) == 0 {
		p.core.Commit()
		return nil
	}
	bw := newBatchWork()
	for _, o := range outs {
		e.add(bw, o)
		st, live, _ := p.core.State(o.Vehicle.ID)
		j, err := st.MarshalJSON()
		if err != nil {
			p.core.Rollback()
			return err
		}
		bw.db.States = append(bw.db.States, postgres.VehicleStateRow{VehicleID: o.Vehicle.ID, Rules: j, Live: live})
	}
	if err := e.commit(ctx, p, bw, 0); err != nil {
		p.core.Rollback()
		return err
	}
	p.core.Commit()
	return nil
}
