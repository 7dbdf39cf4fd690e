package postgres

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// AlarmChange is one rule outcome to store: either Raise (a new active alarm) or Clear (the
// vehicle's active alarm of Kind with Key — zone id or device alarm name, "" otherwise — ends).
type AlarmChange struct {
	Raise *tracking.Alarm
	Clear *AlarmClear
}

// AlarmClear identifies the active alarm a rule clears.
type AlarmClear struct {
	VehicleID string
	Kind      string
	Key       string
	At        time.Time
}

// VehicleStateRow is the engine's committed state of one vehicle.
type VehicleStateRow struct {
	VehicleID string
	Rules     json.RawMessage
	Live      *tracking.VehicleState
}

// Batch is everything one engine batch commits atomically.
type Batch struct {
	Positions []tracking.StoredPosition // CarrierID set
	Changes   []AlarmChange             // in order
	States    []VehicleStateRow
}

// BatchResult tells what the commit did.
type BatchResult struct {
	Inserted int              // positions new to history (duplicates skipped)
	Events   []tracking.Alarm // alarms raised or cleared (outbox rows written)
}

var partitions sync.Map // "YYYYMMDD" -> struct{} for day partitions known to exist

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

// CommitBatch writes a batch in one transaction: positions by COPY into a temporary table and
// INSERT … ON CONFLICT DO NOTHING (idempotent on vehicle_id, ts), alarm raises and clears with
// their outbox events, and the vehicles' rule state. A raise whose alarm is already active (a
// redelivered fix) and a clear with nothing active write nothing.
func (db *DB) CommitBatch(ctx context.Context, b *Batch) (BatchResult, error) {
	var res BatchResult
	if len(b.Positions) > 0 {
		ts := make([]time.Time, 0, 2)
		seen := map[string]bool{}
		for i := range b.Positions {
			d := b.Positions[i].TS.UTC().Format("20060102")
			if !seen[d] {
				seen[d] = true
				ts = append(ts, b.Positions[i].TS)
			}
		}
		if err := db.EnsurePartitions(ctx, ts...); err != nil {
			return res, err
		}
	}
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		res = BatchResult{}
		if len(b.Positions) > 0 {
			n, err := insertPositions(ctx, tx, b.Positions)
			if err != nil {
				return err
			}
			res.Inserted = n
		}
		for _, c := range b.Changes {
			var a tracking.Alarm
			var err error
			var event string
			if c.Raise != nil {
				a, err = raiseAlarm(ctx, tx, c.Raise)
				event = tracking.EventRaised
			} else {
				a, err = clearAlarm(ctx, tx, c.Clear)
				event = tracking.EventCleared
			}
			if err == pgx.ErrNoRows {
				continue
			}
			if err != nil {
				return err
			}
			if err := insertEvent(ctx, tx, event, &a); err != nil {
				return err
			}
			res.Events = append(res.Events, a)
		}
		if len(b.States) > 0 {
			ids := make([]string, len(b.States))
			rules := make([]string, len(b.States))
			lives := make([]*string, len(b.States))
			for i, s := range b.States {
				ids[i] = s.VehicleID
				rules[i] = string(s.Rules)
				if s.Live != nil {
					lj, err := json.Marshal(s.Live)
					if err != nil {
						return err
					}
					l := string(lj)
					lives[i] = &l
				}
			}
			_, err := tx.Exec(ctx, `insert into vehicle_state (vehicle_id, rules, live, updated_at)
				select v, r::jsonb, l::jsonb, now() from unnest($1::text[], $2::text[], $3::text[]) as u(v, r, l)
				on conflict (vehicle_id) do update set rules = excluded.rules,
					live = coalesce(excluded.live, vehicle_state.live), updated_at = now()`, ids, rules, lives)
			if err != nil {
				return err
			}
		}
		return nil
	})
	return res, err
}

func insertPositions(ctx context.Context, tx pgx.Tx, ps []tracking.StoredPosition) (int, error) {
	if _, err := tx.Exec(ctx, `create temp table if not exists positions_in (like positions including defaults) on commit delete rows`); err != nil {
		return 0, err
	}
	i := 0
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"positions_in"}, positionCols, pgx.CopyFromFunc(func() ([]any, error) {
		if i >= len(ps) {
			return nil, nil
		}
		row := positionRow(&ps[i])
		i++
		return row, nil
	}))
	if err != nil {
		return 0, err
	}
	tag, err := tx.Exec(ctx, `insert into positions select * from positions_in on conflict (vehicle_id, ts) do nothing`)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

func raiseAlarm(ctx context.Context, tx pgx.Tx, a *tracking.Alarm) (tracking.Alarm, error) {
	var lat, lon *float64
	if a.Position != nil {
		lat, lon = &a.Position.Lat, &a.Position.Lon
	}
	return scanAlarm(tx.QueryRow(ctx, `insert into alarms (kind, severity, vehicle_id, carrier_id, trip_id, corridor_id,
			zone_id, device_alarm, started_at, raised_at, lat, lon, distance_m, speed_kmh)
		values ($1, $2, $3, $4, $5::uuid, $6::uuid, $7::uuid, $8, $9, $10, $11, $12, $13, $14)
		on conflict (vehicle_id, kind, (coalesce(zone_id::text, device_alarm, ''))) where active do nothing
		returning `+alarmCols,
		a.Kind, tracking.AlarmSeverity(a.Kind, deref(a.DeviceAlarm)), a.VehicleID, a.CarrierID, a.TripID, a.CorridorID, a.ZoneID, a.DeviceAlarm,
		a.StartedAt, a.RaisedAt, lat, lon, a.DistanceM, a.SpeedKmh))
}

func clearAlarm(ctx context.Context, tx pgx.Tx, c *AlarmClear) (tracking.Alarm, error) {
	return scanAlarm(tx.QueryRow(ctx, `update alarms set active = false, cleared_at = $4, updated_at = now()
		where vehicle_id = $1 and kind = $2 and coalesce(zone_id::text, device_alarm, '') = $3 and active
		returning `+alarmCols, c.VehicleID, c.Kind, c.Key, c.At))
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
