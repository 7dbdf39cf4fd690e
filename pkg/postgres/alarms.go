package postgres

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

const alarmCols = `id::text, kind, severity, state, active, vehicle_id, carrier_id, trip_id::text, corridor_id::text,
	zone_id::text, device_alarm, started_at, raised_at, cleared_at, lat, lon, distance_m, speed_kmh,
	acknowledged_at, acknowledged_by, resolved_at, resolved_by, note, acknowledged_by_key_id, resolved_by_key_id, disposal, escalated_at`

func scanAlarm(row pgx.Row) (tracking.Alarm, error) {
	var a tracking.Alarm
	var lat, lon *float64
	err := row.Scan(&a.ID, &a.Kind, &a.Severity, &a.State, &a.Active, &a.VehicleID, &a.CarrierID, &a.TripID,
		&a.CorridorID, &a.ZoneID, &a.DeviceAlarm, &a.StartedAt, &a.RaisedAt, &a.ClearedAt, &lat, &lon,
		&a.DistanceM, &a.SpeedKmh, &a.AcknowledgedAt, &a.AcknowledgedBy, &a.ResolvedAt, &a.ResolvedBy, &a.Note,
		&a.AcknowledgedByKeyID, &a.ResolvedByKeyID, &a.Disposal, &a.EscalatedAt)
	if err != nil {
		return a, err
	}
	if lat != nil && lon != nil {
		a.Position = &tracking.LatLon{Lat: *lat, Lon: *lon}
	}
	utcAlarm(&a)
	return a, nil
}

func utcAlarm(a *tracking.Alarm) {
	a.StartedAt = a.StartedAt.UTC()
	a.RaisedAt = a.RaisedAt.UTC()
	for _, t := range []*time.Time{a.ClearedAt, a.AcknowledgedAt, a.ResolvedAt, a.EscalatedAt} {
		if t != nil {
			*t = t.UTC()
		}
	}
}

// GetAlarm returns one alarm (ENOTFOUND when absent or not a UUID).
func (db *DB) GetAlarm(ctx context.Context, id string) (tracking.Alarm, error) {
	if _, err := uuid.Parse(id); err != nil {
		return tracking.Alarm{}, tracking.Errorf(tracking.ENOTFOUND, "alarm not found")
	}
	a, err := scanAlarm(db.Pool.QueryRow(ctx, `select `+alarmCols+` from alarms where id = $1`, id))
	return a, mapError(err, "alarm")
}

// ListAlarms lists alarms newest first (raised_at, id) with keyset pagination.
func (db *DB) ListAlarms(ctx context.Context, f tracking.AlarmFilter) ([]tracking.Alarm, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	if limit > 1000 {
		limit = 1000
	}
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.State != nil {
		add("state = ?", *f.State)
	}
	if f.Kind != nil {
		add("kind = ?", *f.Kind)
	}
	if f.VehicleID != nil {
		add("vehicle_id = ?", *f.VehicleID)
	}
	if f.CarrierID != nil {
		add("carrier_id = ?", *f.CarrierID)
	}
	if f.Active != nil {
		add("active = ?", *f.Active)
	}
	if f.Since != nil {
		add("raised_at >= ?", *f.Since)
	}
	if f.Cursor != "" {
		ts, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", tracking.Invalid(tracking.FieldError{Field: "cursor", Message: "not a cursor from a previous page"})
		}
		args = append(args, ts, id)
		where = append(where, fmt.Sprintf("(raised_at, id) < ($%d, $%d::uuid)", len(args)-1, len(args)))
	}
	q := `select ` + alarmCols + ` from alarms`
	if len(where) > 0 {
		q += ` where ` + strings.Join(where, " and ")
	}
	args = append(args, limit+1)
	q += fmt.Sprintf(` order by raised_at desc, id desc limit $%d`, len(args))
	rows, err := db.Pool.Query(ctx, q, args...)
	if err != nil {
		return nil, "", err
	}
	alarms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tracking.Alarm, error) { return scanAlarm(r) })
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(alarms) > limit {
		alarms = alarms[:limit]
		last := alarms[limit-1]
		next = encodeCursor(last.RaisedAt, last.ID)
	}
	return alarms, next, nil
}

func encodeCursor(ts time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(ts.UnixMicro(), 10) + "|" + id))
}

func decodeCursor(c string) (time.Time, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", err
	}
	us, id, ok := strings.Cut(string(b), "|")
	if !ok {
		return time.Time{}, "", errors.New("bad cursor")
	}
	n, err := strconv.ParseInt(us, 10, 64)
	if err != nil {
		return time.Time{}, "", err
	}
	if _, err := uuid.Parse(id); err != nil {
		return time.Time{}, "", err
	}
	return time.UnixMicro(n).UTC(), id, nil
}

// AckAlarm moves an open alarm to acknowledged, recording who, when and the note. Acknowledging
// an acknowledged alarm returns it unchanged; a resolved one is ECONFLICT.
func (db *DB) AckAlarm(ctx context.Context, id string, by tracking.Actor, note *string) (tracking.Alarm, error) {
	return db.changeAlarmState(ctx, id, func(tx pgx.Tx, a tracking.Alarm) (tracking.Alarm, string, error) {
		switch a.State {
		case tracking.StateResolved:
			return a, "", tracking.Errorf(tracking.ECONFLICT, "alarm is resolved")
		case tracking.StateAcknowledged:
			return a, "", nil
		}
		a, err := scanAlarm(tx.QueryRow(ctx, `update alarms set state = 'acknowledged', acknowledged_at = now(),
			acknowledged_by = $2, acknowledged_by_key_id = $4, note = coalesce($3, note), updated_at = now()
			where id = $1 returning `+alarmCols, id, by.Name, note, by.KeyID))
		return a, tracking.EventAcknowledged, err
	})
}

// ResolveAlarm moves an alarm to resolved with a note and a disposal (one of tracking.Disposals,
// else EINVALID); a resolved alarm is ECONFLICT. Resolving an active alarm is allowed: the rules
// still clear it, and a later violation raises a new alarm.
func (db *DB) ResolveAlarm(ctx context.Context, id string, by tracking.Actor, note, disposal string) (tracking.Alarm, error) {
	if !tracking.ValidDisposal(disposal) {
		return tracking.Alarm{}, tracking.Invalid(tracking.FieldError{Field: "disposal",
			Message: "must be one of " + strings.Join(tracking.Disposals, ", ")})
	}
	return db.changeAlarmState(ctx, id, func(tx pgx.Tx, a tracking.Alarm) (tracking.Alarm, string, error) {
		if a.State == tracking.StateResolved {
			return a, "", tracking.Errorf(tracking.ECONFLICT, "alarm is already resolved")
		}
		a, err := scanAlarm(tx.QueryRow(ctx, `update alarms set state = 'resolved', resolved_at = now(),
			resolved_by = $2, resolved_by_key_id = $4, note = $3, disposal = $5, updated_at = now()
			where id = $1 returning `+alarmCols, id, by.Name, note, by.KeyID, disposal))
		return a, tracking.EventResolved, err
	})
}

func (db *DB) changeAlarmState(ctx context.Context, id string, fn func(pgx.Tx, tracking.Alarm) (tracking.Alarm, string, error)) (tracking.Alarm, error) {
	if _, err := uuid.Parse(id); err != nil {
		return tracking.Alarm{}, tracking.Errorf(tracking.ENOTFOUND, "alarm not found")
	}
	var out tracking.Alarm
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		a, err := scanAlarm(tx.QueryRow(ctx, `select `+alarmCols+` from alarms where id = $1 for update`, id))
		if err != nil {
			return mapError(err, "alarm")
		}
		a, event, err := fn(tx, a)
		if err != nil {
			return err
		}
		out = a
		if event == "" {
			return nil
		}
		return insertEvent(ctx, tx, event, &a)
	})
	return out, err
}

func insertEvent(ctx context.Context, tx pgx.Tx, event string, a *tracking.Alarm) error {
	payload, err := json.Marshal(tracking.AlarmEvent{Event: event, Alarm: *a})
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `insert into alarm_events (alarm_id, event, payload) values ($1, $2, $3)`, a.ID, event, payload)
	return err
}

// PendingAlarmEvent is an outbox row not yet published.
type PendingAlarmEvent struct {
	ID      int64
	Subject string
	Payload []byte
}

// PublishPendingAlarmEvents hands unpublished outbox events, oldest first, to publish, and marks
// those it published. Concurrent callers skip each other's rows. It returns how many it published.
func (db *DB) PublishPendingAlarmEvents(ctx context.Context, limit int, publish func(context.Context, PendingAlarmEvent) error) (int, error) {
	return db.PublishPendingAlarmEventBatch(ctx, limit, func(ctx context.Context, evs []PendingAlarmEvent) (int, error) {
		for i, e := range evs {
			if err := publish(ctx, e); err != nil {
				return i, err
			}
		}
		return len(evs), nil
	})
}

// PublishPendingAlarmEventBatch is PublishPendingAlarmEvents with all the events at once:
// publish returns how many of them, from the first, it published.
func (db *DB) PublishPendingAlarmEventBatch(ctx context.Context, limit int, publish func(context.Context, []PendingAlarmEvent) (int, error)) (int, error) {
	n := 0
	var perr error // a publish failure: what was published before it is still marked
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `select e.id, a.kind, a.carrier_id, a.vehicle_id, e.payload::text from alarm_events e
			join alarms a on a.id = e.alarm_id where e.published_at is null order by e.id limit $1 for update of e skip locked`, limit)
		if err != nil {
			return err
		}
		var evs []PendingAlarmEvent
		for rows.Next() {
			var e PendingAlarmEvent
			var kind, carrier, vehicle, payload string
			if err := rows.Scan(&e.ID, &kind, &carrier, &vehicle, &payload); err != nil {
				return err
			}
			e.Subject = "alarms." + kind + "." + carrier + "." + vehicle
			e.Payload = []byte(payload)
			evs = append(evs, e)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(evs) == 0 {
			return nil
		}
		k, perr2 := publish(ctx, evs)
		perr = perr2
		done := make([]int64, 0, k)
		for _, e := range evs[:k] {
			done = append(done, e.ID)
		}
		if len(done) > 0 {
			if _, err := tx.Exec(ctx, `update alarm_events set published_at = now() where id = any($1)`, done); err != nil {
				return err
			}
		}
		n = len(done)
		return nil
	})
	if err == nil {
		err = perr
	}
	return n, err
}
