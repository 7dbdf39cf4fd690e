package postgres

import (
	"context"
	"encoding/json"
	"errors"
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

// StreamPos is an engine partition's position in the TELEMETRY stream: every message up to Seq
// of the stream created at StreamCreated is reflected.
type StreamPos struct {
	Partition     int
	StreamCreated time.Time
	Seq           uint64
}

// Batch is everything one engine batch commits atomically.
type Batch struct {
	Positions []tracking.StoredPosition // CarrierID set
	Changes   []AlarmChange             // in order
	States    []VehicleStateRow         // optional (the time-driven rules write the states they change)
	Stream    *StreamPos                // optional: the partition's stream position after this batch
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

func (db *DB) key(day string) string { return db.Pool.Config().ConnConfig.Database + "/" + day }

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
				if _, err := tx.Exec(ctx, `insert into engine_partitions (partition, stream_created, committed_seq) values ($1, $2, $3)
					on conflict (partition) do update set committed_seq = excluded.committed_seq,
						stream_created = excluded.stream_created, updated_at = now()`,
					b.Stream.Partition, b.Stream.StreamCreated, int64(b.Stream.Seq)); err != nil {
					return err
				}
			}
			return nil
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
		_, err := tx.Exec(ctx, `insert into engine_partitions (partition, stream_created, committed_seq, checkpoint_seq) values ($1, $2, $3, $3)
			on conflict (partition) do update set checkpoint_seq = excluded.checkpoint_seq,
				committed_seq = greatest(engine_partitions.committed_seq, excluded.committed_seq),
				stream_created = excluded.stream_created, updated_at = now()`,
			pos.Partition, pos.StreamCreated, int64(pos.Seq))
		return err
	})
}

// PartitionPos is what engine_partitions holds for one partition.
type PartitionPos struct {
	StreamCreated time.Time
	CommittedSeq  uint64
	CheckpointSeq uint64
}

// EnginePartition returns the stored stream position of a partition; ok is false when none.
func (db *DB) EnginePartition(ctx context.Context, partition int) (p PartitionPos, ok bool, err error) {
	var c, k int64
	err = db.Pool.QueryRow(ctx, `select stream_created, committed_seq, checkpoint_seq from engine_partitions where partition = $1`,
		partition).Scan(&p.StreamCreated, &c, &k)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, false, nil
	}
	p.CommittedSeq, p.CheckpointSeq = uint64(c), uint64(k)
	return p, err == nil, err
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
