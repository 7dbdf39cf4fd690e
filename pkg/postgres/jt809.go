package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// This file is the JT/T 809 uplink's storage (migration 00005): stream cursors, reported
// alarms, supervision requests and duty checks.

// UplinkCursor returns the last stream sequence forwarded from stream; ok is false before the first.
func (db *DB) UplinkCursor(ctx context.Context, stream string) (seq uint64, ok bool, err error) {
	var s int64
	err = db.Pool.QueryRow(ctx, `select seq from jt809_cursors where stream = $1`, stream).Scan(&s)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return uint64(s), err == nil, err
}

// SetUplinkCursor stores the last stream sequence forwarded from stream.
func (db *DB) SetUplinkCursor(ctx context.Context, stream string, seq uint64) error {
	_, err := db.Pool.Exec(ctx, `insert into jt809_cursors (stream, seq) values ($1, $2)
		on conflict (stream) do update set seq = excluded.seq, updated_at = now()`, stream, int64(seq))
	return err
}

// UplinkVehicle returns the vehicle (deleted ones too: their history stays theirs) with the trips
// that end after since; ENOTFOUND for an unknown id.
func (db *DB) UplinkVehicle(ctx context.Context, id string, since time.Time) (tracking.UplinkVehicle, error) {
	v := tracking.UplinkVehicle{ID: id}
	err := db.Pool.QueryRow(ctx, `select carrier_id, plate, plate_color from vehicles where id = $1`, id).
		Scan(&v.CarrierID, &v.Plate, &v.PlateColor)
	if err != nil {
		return v, mapError(err, "vehicle")
	}
	rows, _ := db.Pool.Query(ctx, `select starts_at, ends_at from trips
		where vehicle_id = $1 and cancelled_at is null and ends_at > $2 order by starts_at`, id, since)
	v.Trips, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]time.Time, error) {
		var t [2]time.Time
		err := r.Scan(&t[0], &t[1])
		return t, err
	})
	return v, err
}

// RecordAlarmReport stores that alarmID was reported (idempotent: a second call keeps the first
// INFO_ID and updates the MSG_SN) and returns the report.
func (db *DB) RecordAlarmReport(ctx context.Context, alarmID, vehicleID string, warnType uint16, warnTime time.Time, msgSN *uint32) (tracking.AlarmReport, error) {
	var sn *int64
	if msgSN != nil {
		v := int64(*msgSN)
		sn = &v
	}
	row := db.Pool.QueryRow(ctx, `insert into jt809_alarm_reports (alarm_id, vehicle_id, warn_type, warn_time, msg_sn)
		values ($1, $2, $3, $4, $5)
		on conflict (alarm_id) do update set msg_sn = coalesce(excluded.msg_sn, jt809_alarm_reports.msg_sn)
		returning alarm_id::text, info_id, msg_sn, vehicle_id, warn_type, warn_time, result_sent`,
		alarmID, vehicleID, int(warnType), warnTime, sn)
	return scanReport(row)
}

// InfoIDFor returns the INFO_ID an alarm will be reported with (reserving it); used before the
// frame is built so that the frame carries it.
func (db *DB) InfoIDFor(ctx context.Context, alarmID, vehicleID string, warnType uint16, warnTime time.Time) (tracking.AlarmReport, error) {
	return db.RecordAlarmReport(ctx, alarmID, vehicleID, warnType, warnTime, nil)
}

func scanReport(row pgx.Row) (tracking.AlarmReport, error) {
	var r tracking.AlarmReport
	var info int64
	var sn *int64
	var wt int
	var res *int16
	err := row.Scan(&r.AlarmID, &info, &sn, &r.VehicleID, &wt, &r.WarnTime, &res)
	if err != nil {
		return r, mapError(err, "alarm report")
	}
	r.InfoID = uint32(info)
	if sn != nil {
		v := uint32(*sn)
		r.MsgSN = &v
	}
	r.WarnType = uint16(wt)
	r.WarnTime = r.WarnTime.UTC()
	if res != nil {
		v := int(*res)
		r.ResultSent = &v
	}
	return r, nil
}

const reportCols = `alarm_id::text, info_id, msg_sn, vehicle_id, warn_type, warn_time, result_sent`

// AlarmReportByAlarm returns the report of an alarm; ENOTFOUND when it was never reported.
func (db *DB) AlarmReportByAlarm(ctx context.Context, alarmID string) (tracking.AlarmReport, error) {
	return scanReport(db.Pool.QueryRow(ctx, `select `+reportCols+` from jt809_alarm_reports where alarm_id = $1`, alarmID))
}

// FindAlarmReport finds the reported alarm a 0x9401 names: by the 0x1402 frame's MSG_SN when
// msgSN is set (2019), else by plate, WARN_TYPE and WARN_TIME (2011; the newest match).
func (db *DB) FindAlarmReport(ctx context.Context, msgSN *uint32, plate string, warnType uint16, warnTime time.Time) (tracking.AlarmReport, error) {
	if msgSN != nil {
		return scanReport(db.Pool.QueryRow(ctx, `select `+reportCols+` from jt809_alarm_reports
			where msg_sn = $1 order by reported_at desc limit 1`, int64(*msgSN)))
	}
	return scanReport(db.Pool.QueryRow(ctx, `select r.alarm_id::text, r.info_id, r.msg_sn, r.vehicle_id, r.warn_type, r.warn_time, r.result_sent
		from jt809_alarm_reports r join vehicles v on v.id = r.vehicle_id
		where v.plate = $1 and r.warn_type = $2 and r.warn_time >= $3 and r.warn_time < $3 + interval '1 second'
		order by r.reported_at desc limit 1`, strings.TrimSpace(plate), int(warnType), warnTime.Truncate(time.Second)))
}

// SetReportResult records the handling result sent up for an alarm.
func (db *DB) SetReportResult(ctx context.Context, alarmID string, result int) error {
	_, err := db.Pool.Exec(ctx, `update jt809_alarm_reports set result_sent = $2 where alarm_id = $1`, alarmID, result)
	return err
}

const supervisionCols = `s.id::text, s.alarm_id::text, a.carrier_id, a.vehicle_id, s.supervision_id, s.level,
	s.supervisor, s.supervisor_tel, s.supervisor_email, s.requested_at, s.deadline, s.result, s.answered_at, s.escalated_at`

// resultNames are the 0x1401 results as the API names them.
var resultNames = []string{"processing", "done", "no_action", "later"}

func scanSupervision(row pgx.Row) (tracking.Supervision, error) {
	var s tracking.Supervision
	var level int16
	var res *int16
	err := row.Scan(&s.ID, &s.AlarmID, &s.CarrierID, &s.VehicleID, &s.SupervisionID, &level, &s.Supervisor, &s.SupervisorTel,
		&s.SupervisorEmail, &s.RequestedAt, &s.Deadline, &res, &s.AnsweredAt, &s.EscalatedAt)
	if err != nil {
		return s, err
	}
	s.Level = "normal"
	if level == 0 {
		s.Level = "urgent"
	}
	if res != nil && int(*res) < len(resultNames) && *res >= 0 {
		n := resultNames[*res]
		s.Result = &n
	}
	s.RequestedAt, s.Deadline = s.RequestedAt.UTC(), s.Deadline.UTC()
	utc(s.AnsweredAt)
	utc(s.EscalatedAt)
	return s, nil
}

// CreateSupervision stores a supervision request and returns it.
func (db *DB) CreateSupervision(ctx context.Context, n tracking.NewSupervision) (tracking.Supervision, error) {
	var id string
	err := db.Pool.QueryRow(ctx, `insert into alarm_supervisions (alarm_id, supervision_id, level, supervisor, supervisor_tel,
		supervisor_email, deadline, warn_type, warn_time, plate) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) returning id::text`,
		n.AlarmID, n.SupervisionID, n.Level, n.Supervisor, n.SupervisorTel, n.SupervisorEmail, n.Deadline, n.WarnType, n.WarnTime, n.Plate).Scan(&id)
	if err != nil {
		return tracking.Supervision{}, mapError(err, "supervision")
	}
	return db.supervision(ctx, id)
}

func (db *DB) supervision(ctx context.Context, id string) (tracking.Supervision, error) {
	s, err := scanSupervision(db.Pool.QueryRow(ctx, `select `+supervisionCols+`
		from alarm_supervisions s left join alarms a on a.id = s.alarm_id where s.id = $1`, id))
	return s, mapError(err, "supervision")
}

// AlarmSupervisions lists the supervision requests of an alarm, oldest first.
func (db *DB) AlarmSupervisions(ctx context.Context, alarmID string) ([]tracking.Supervision, error) {
	if _, err := uuid.Parse(alarmID); err != nil {
		return nil, tracking.Errorf(tracking.ENOTFOUND, "alarm not found")
	}
	rows, _ := db.Pool.Query(ctx, `select `+supervisionCols+`
		from alarm_supervisions s left join alarms a on a.id = s.alarm_id where s.alarm_id = $1 order by s.requested_at, s.id`, alarmID)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tracking.Supervision, error) { return scanSupervision(r) })
	return out, mapError(err, "supervision")
}

// AnswerSupervision records the result sent with 0x1401 (0 processing counts as received, not answered).
func (db *DB) AnswerSupervision(ctx context.Context, id string, result int) (tracking.Supervision, error) {
	// "processing" never overwrites a final result recorded concurrently (the alarm was resolved
	// while its supervision was being acknowledged).
	_, err := db.Pool.Exec(ctx, `update alarm_supervisions set result = case when $2 = 0 then coalesce(result, 0) else $2 end,
		answered_at = case when $2 = 0 then answered_at else coalesce(answered_at, now()) end where id = $1`, id, result)
	if err != nil {
		return tracking.Supervision{}, mapError(err, "supervision")
	}
	return db.supervision(ctx, id)
}

// DueSupervisions returns supervisions not yet answered nor escalated whose alarm is not resolved
// and of which at least frac of the time to the deadline has passed at now.
func (db *DB) DueSupervisions(ctx context.Context, now time.Time, frac float64) ([]tracking.Supervision, error) {
	rows, _ := db.Pool.Query(ctx, `select `+supervisionCols+`
		from alarm_supervisions s join alarms a on a.id = s.alarm_id
		where s.escalated_at is null and s.answered_at is null and a.state <> 'resolved'
		  and s.requested_at + (s.deadline - s.requested_at) * $2 <= $1
		order by s.deadline`, now, frac)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tracking.Supervision, error) { return scanSupervision(r) })
	return out, mapError(err, "supervision")
}

// MarkSupervisionEscalated records the escalation; false when another process did it first.
func (db *DB) MarkSupervisionEscalated(ctx context.Context, id string) (bool, error) {
	tag, err := db.Pool.Exec(ctx, `update alarm_supervisions set escalated_at = now() where id = $1 and escalated_at is null`, id)
	return tag.RowsAffected() == 1, err
}
