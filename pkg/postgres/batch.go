package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// AlarmChange is one rule outcome to store: either Raise (a new active alarm, its ID set by the
// engine from its identity so that a replay inserts it no second time) or Clear (the vehicle's
// active alarm of Kind with Key — zone id or device alarm name, "" otherwise — that started at
// StartedAt ends).
type AlarmChange struct {
	Raise *tracking.Alarm
	Clear *AlarmClear
}

// AlarmClear identifies the active alarm a rule clears.
type AlarmClear struct {
	ID        string // the alarm's id when known (a primary-key lookup); else found by the rest
	VehicleID string
	Kind      string
	Key       string
	StartedAt time.Time // the raise's started_at; zero matches any (an alarm from before 00002)
	At        time.Time
}

// VehicleStateRow is the engine's committed state of one vehicle.
type VehicleStateRow struct {
	VehicleID string
	Rules     json.RawMessage
	Live      *tracking.VehicleState
}

// StreamPos is an engine partition's position in the TELEMETRY stream: every message of its
// Buckets up to Seq of the stream created at StreamCreated is reflected (a bucket already further
// keeps its own position).
type StreamPos struct {
	Buckets       []int
	StreamCreated time.Time
	Seq           uint64
	SeqTime       time.Time // the stream's time of the message at Seq (checkpoints; zero: unknown)
	Fence         *Fence    // optional: written only while this lease is held
}

// Batch is everything one engine batch commits atomically.
type Batch struct {
	Positions []tracking.StoredPosition // CarrierID set
	Changes   []AlarmChange             // in order
	States    []VehicleStateRow         // optional (the time-driven rules write the states they change)
	Stream    *StreamPos                // optional: the partition's stream position after this batch
	Fence     *Fence                    // optional: written only while this lease is held
}

// BatchResult tells what the commit did.
type BatchResult struct {
	Inserted int              // positions new to history (duplicates skipped)
	Events   []tracking.Alarm // alarms raised or cleared (outbox rows written)
	Replayed bool             // history already held some of the positions (the de-duplicating path ran)
}

var partitions sync.Map // "db/YYYYMMDD" -> struct{} for day partitions known to exist

// EnsurePartitions creates the day partitions of positions that hold the given times.
func (db *DB) EnsurePartitions(ctx context.Context, ts ...time.Time) error {
	for _, t := range ts {
		key := t.UTC().Format("20060102")
		if _, ok := partitions.Load(db.key(key)); ok {
			continue
		}
		if _, err := db.Pool.Exec(ctx, `select positions_partition($1)`, t); err != nil {
			return err
		}
		partitions.Store(db.key(key), struct{}{})
	}
	return nil
}

// key identifies a day partition of this database: server and database name.
func (db *DB) key(day string) string {
	c := db.Pool.Config().ConnConfig
	return fmt.Sprintf("%s:%d/%s/%s", c.Host, c.Port, c.Database, day)
}

var positionCols = []string{"vehicle_id", "carrier_id", "ts", "lat", "lon", "speed_kmh", "heading_deg", "altitude_m",
	"accuracy_m", "satellites", "odometer_km", "fuel_pct", "fuel_l", "engine_rpm", "coolant_c", "ignition",
	"device_alarms", "flags", "received_at"}

func positionRow(p *tracking.StoredPosition) []any {
	var alarms, flags any
	if len(p.DeviceAlarms) > 0 {
		alarms = p.DeviceAlarms
	}
	if len(p.Flags) > 0 {
		flags = p.Flags
	}
	return []any{p.VehicleID, p.CarrierID, p.TS, p.Lat, p.Lon, p.SpeedKmh, p.HeadingDeg, p.AltitudeM, p.AccuracyM,
		p.Satellites, p.OdometerKm, p.FuelPct, p.FuelL, p.EngineRPM, p.CoolantC, p.Ignition, alarms, flags, p.ReceivedAt}
}

// CommitBatch writes a batch in one transaction: positions by COPY straight into their day
// partition (the de-duplicating path only when a unique violation shows history already holds
// some of them: a replay), alarm clears, raises and their outbox events as one statement each,
// the given vehicle states, and the partition's stream position. Alarms and events are
// idempotent by identity: a raise whose alarm exists (a replay) or another of whose key is active,
// and a clear with nothing active, write nothing; a person's acknowledgement is never touched.
func (db *DB) CommitBatch(ctx context.Context, b *Batch) (BatchResult, error) {
	res, err := db.commitBatch(ctx, b)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P01" { // undefined_table
		// A day partition this process knew to exist is gone (another process's retention dropped
		// it, or the database was recreated under it): forget what it knew, so that the partitions
		// are made again, and try once more (else the batch would fail the same way forever).
		for i := range b.Positions {
			partitions.Delete(db.key(b.Positions[i].TS.UTC().Format("20060102")))
		}
		return db.commitBatch(ctx, b)
	}
	return res, err
}

func (db *DB) commitBatch(ctx context.Context, b *Batch) (BatchResult, error) {
	var res BatchResult
	days := map[string][]int{}
	var dayOrder []string
	for i := range b.Positions {
		d := b.Positions[i].TS.UTC().Format("20060102")
		if _, ok := days[d]; !ok {
			dayOrder = append(dayOrder, d)
			if err := db.EnsurePartitions(ctx, b.Positions[i].TS); err != nil {
				return res, err
			}
		}
		days[d] = append(days[d], i)
	}
	// First straight COPY; when history already holds some of the positions (a replay) the
	// transaction fails on the unique key and is done again through the de-duplicating path.
	for _, dedupe := range []bool{false, true} {
		err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
			res = BatchResult{Replayed: dedupe}
			for _, d := range dayOrder {
				n, err := copyPositions(ctx, tx, "positions_"+d, b.Positions, days[d], dedupe)
				if err != nil {
					return err
				}
				res.Inserted += n
			}
			evs, err := writeAlarmChangesInChunks(ctx, tx, b.Changes)
			if err != nil {
				return err
			}
			res.Events = evs
			if err := upsertStates(ctx, tx, b.States); err != nil {
				return err
			}
			if b.Stream != nil {
				if _, err := tx.Exec(ctx, bucketsCommitted, b.Stream.Buckets, b.Stream.StreamCreated, int64(b.Stream.Seq)); err != nil {
					return err
				}
			}
			return b.Fence.check(ctx, tx)
		})
		var pe *pgconn.PgError
		if !dedupe && errors.As(err, &pe) && pe.Code == "23505" { // only positions can violate a unique key here
			continue
		}
		return res, err
	}
	return res, nil
}

// copyPositions COPYs the positions idx of ps straight into the day partition table, or with
// dedupe through a temporary table and INSERT … ON CONFLICT DO NOTHING. It returns how many were
// new.
func copyPositions(ctx context.Context, tx pgx.Tx, table string, ps []tracking.StoredPosition, idx []int, dedupe bool) (int, error) {
	if !dedupe {
		n, err := tx.CopyFrom(ctx, pgx.Identifier{table}, positionCols, rowsOf(ps, idx))
		return int(n), err
	}
	if _, err := tx.Exec(ctx, `create temp table if not exists positions_in (like positions including defaults) on commit delete rows`); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `truncate positions_in`); err != nil {
		return 0, err
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"positions_in"}, positionCols, rowsOf(ps, idx)); err != nil {
		return 0, err
	}
	tag, err := tx.Exec(ctx, `insert into positions select * from positions_in on conflict (vehicle_id, ts) do nothing`)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

func rowsOf(ps []tracking.StoredPosition, idx []int) pgx.CopyFromSource {
	i := 0
	return pgx.CopyFromFunc(func() ([]any, error) {
		if i >= len(idx) {
			return nil, nil
		}
		row := positionRow(&ps[idx[i]])
		i++
		return row, nil
	})
}

// upsertStates writes vehicle states in statements of statesPerStatement rows: the connection
// keeps its largest message's buffer for good, and one statement for a whole fleet's checkpoint
// (100,000 states, about 80 MB) would keep that much per connection.
func upsertStates(ctx context.Context, tx pgx.Tx, states []VehicleStateRow) error {
	n := min(len(states), statesPerStatement)
	ids := make([]string, 0, n)
	rules := make([]string, 0, n)
	lives := make([]*string, 0, n)
	var buf []byte
	for len(states) > 0 {
		chunk := states[:min(len(states), statesPerStatement)]
		states = states[len(chunk):]
		ids, rules, lives = ids[:0], rules[:0], lives[:0]
		for _, s := range chunk {
			ids = append(ids, s.VehicleID)
			rules = append(rules, string(s.Rules))
			var live *string
			if s.Live != nil {
				var err error
				if buf, err = s.Live.AppendJSON(buf[:0]); err != nil {
					return err
				}
				l := string(buf)
				live = &l
			}
			lives = append(lives, live)
		}
		if _, err := tx.Exec(ctx, `insert into vehicle_state (vehicle_id, rules, live, updated_at)
			select v, r::jsonb, l::jsonb, now() from unnest($1::text[], $2::text[], $3::text[]) as u(v, r, l)
			on conflict (vehicle_id) do update set rules = excluded.rules,
				live = coalesce(excluded.live, vehicle_state.live), updated_at = now()`, ids, rules, lives); err != nil {
			return err
		}
	}
	return nil
}

// bucketsCommitted and bucketsCheckpointed move the positions of a partition's buckets forward
// (never back: a bucket another partition took further keeps its position); a bucket whose
// position refers to another (recreated) stream takes the new one.
const (
	bucketsCommitted = `insert into engine_buckets (bucket, stream_created, committed_seq)
		select b, $2, $3 from unnest($1::int[]) b
		on conflict (bucket) do update set
			committed_seq = case when engine_buckets.stream_created = excluded.stream_created
				then greatest(engine_buckets.committed_seq, excluded.committed_seq) else excluded.committed_seq end,
			checkpoint_seq = case when engine_buckets.stream_created = excluded.stream_created
				then engine_buckets.checkpoint_seq else 0 end,
			stream_created = excluded.stream_created, updated_at = now()`
	bucketsCheckpointed = `insert into engine_buckets (bucket, stream_created, committed_seq, checkpoint_seq, checkpoint_time)
		select b, $2, $3, $3, $4 from unnest($1::int[]) b
		on conflict (bucket) do update set
			committed_seq = case when engine_buckets.stream_created = excluded.stream_created
				then greatest(engine_buckets.committed_seq, excluded.committed_seq) else excluded.committed_seq end,
			checkpoint_time = case when engine_buckets.stream_created = excluded.stream_created
				and engine_buckets.checkpoint_seq > excluded.checkpoint_seq
				then engine_buckets.checkpoint_time else excluded.checkpoint_time end,
			checkpoint_seq = case when engine_buckets.stream_created = excluded.stream_created
				then greatest(engine_buckets.checkpoint_seq, excluded.checkpoint_seq) else excluded.checkpoint_seq end,
			stream_created = excluded.stream_created, updated_at = now()`
)

// writeAlarmChangesInChunks writes the changes in order, changesPerStatement at a time, each
// chunk as a batch of its own would be (a raise in one and its clear in the next is an alarm
// raised, then cleared): the start-up tick of a fleet raises signal_lost for every vehicle at
// once, and one statement of 100,000 raises would leave its buffer (about 80 MB) on the
// connection for good.
func writeAlarmChangesInChunks(ctx context.Context, tx pgx.Tx, changes []AlarmChange) ([]tracking.Alarm, error) {
	var evs []tracking.Alarm
	for len(changes) > 0 {
		chunk := changes[:min(len(changes), changesPerStatement)]
		changes = changes[len(chunk):]
		e, err := writeAlarmChanges(ctx, tx, chunk)
		if err != nil {
			return nil, err
		}
		evs = append(evs, e...)
	}
	return evs, nil
}

// changesPerStatement bounds the alarm changes of one set of alarm statements.
const changesPerStatement = 2000

// statesPerStatement bounds one vehicle_state upsert (see upsertStates).
const statesPerStatement = 2000

// Checkpoint stores the rule state of the given vehicles and the stream position it reflects,
// in one transaction.
func (db *DB) Checkpoint(ctx context.Context, states []VehicleStateRow, pos StreamPos) error {
	return pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if err := upsertStates(ctx, tx, states); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, bucketsCheckpointed, pos.Buckets, pos.StreamCreated, int64(pos.Seq), nullTime(pos.SeqTime)); err != nil {
			return err
		}
		return pos.Fence.check(ctx, tx)
	})
}

// RewindBuckets moves the positions of buckets back to seq where they are past it: the stream
// ends before them because it lost messages it had acknowledged (a server's power cut without
// a sync), and the sequences after seq now number new messages.
// seqTime is the stream's time of the message at seq (zero: unknown).
func (db *DB) RewindBuckets(ctx context.Context, buckets []int, streamCreated time.Time, seq uint64, seqTime time.Time, fence *Fence) error {
	return pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `update engine_buckets set committed_seq = least(committed_seq, $3),
			checkpoint_time = case when checkpoint_seq > $3 then $4 else checkpoint_time end,
			checkpoint_seq = least(checkpoint_seq, $3), updated_at = now()
			where bucket = any($1) and stream_created = $2 and (committed_seq > $3 or checkpoint_seq > $3)`,
			buckets, streamCreated, int64(seq), nullTime(seqTime)); err != nil {
			return err
		}
		return fence.check(ctx, tx)
	})
}

// BucketPos is what engine_buckets holds for one bucket.
type BucketPos struct {
	Bucket         int
	StreamCreated  time.Time
	CommittedSeq   uint64
	CheckpointSeq  uint64
	CheckpointTime time.Time // the stream's time of the message at CheckpointSeq (zero: unknown)
}

// EngineBuckets returns the stored stream positions of every bucket that has one.
func (db *DB) EngineBuckets(ctx context.Context) ([]BucketPos, error) {
	rows, err := db.Pool.Query(ctx, `select bucket, stream_created, committed_seq, checkpoint_seq, checkpoint_time from engine_buckets order by bucket`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (BucketPos, error) {
		var p BucketPos
		var c, k int64
		var at *time.Time
		err := r.Scan(&p.Bucket, &p.StreamCreated, &c, &k, &at)
		p.CommittedSeq, p.CheckpointSeq = uint64(c), uint64(k)
		if at != nil {
			p.CheckpointTime = *at
		}
		return p, err
	})
}

// AlarmKey is the key that makes an active alarm unique per vehicle and kind.
func AlarmKey(a *tracking.Alarm) string {
	switch {
	case a.ZoneID != nil:
		return *a.ZoneID
	case a.DeviceAlarm != nil:
		return *a.DeviceAlarm
	}
	return ""
}

// nullTime is t, or NULL when t is zero.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
