package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// The response times to the regulator come from the JT/T 809 uplink's tables (migration 00005):
// alarm_supervisions (0x9401 supervision requests: alarm_id, requested_at, answered_at) and
// duty_checks (0x9301 duty checks: asked_at, answered_at). Without those tables the two figures
// stay null.

// uplinkTables reports which of the uplink's tables exist.
func uplinkTables(ctx context.Context, tx pgx.Tx) (supervisions, dutyChecks bool, err error) {
	err = tx.QueryRow(ctx, `select to_regclass('alarm_supervisions') is not null, to_regclass('duty_checks') is not null`).
		Scan(&supervisions, &dutyChecks)
	return supervisions, dutyChecks, err
}

// uplinkFigures fills in the median response time to the supervision requests about the
// carrier's alarms received that day (request to answer), and to the duty checks asked that day.
// Duty checks address the platform, not a carrier: every carrier's report shows the same figure.
func uplinkFigures(ctx context.Context, tx pgx.Tx, rep *tracking.DailyReport, carrierID string, start, end time.Time) error {
	sup, duty, err := uplinkTables(ctx, tx)
	if err != nil {
		return err
	}
	if sup {
		var v []*float64
		if err := tx.QueryRow(ctx, `select percentile_cont(array[0.5]) within group (order by extract(epoch from s.answered_at - s.requested_at))
			from alarm_supervisions s join alarms a on a.id = s.alarm_id
			where a.carrier_id = $1 and s.requested_at >= $2 and s.requested_at < $3 and s.answered_at is not null`,
			carrierID, start, end).Scan(&v); err != nil {
			return err
		}
		rep.SupervisionResponseMedianS = pick(v, 0)
	}
	if duty {
		var v []*float64
		if err := tx.QueryRow(ctx, `select percentile_cont(array[0.5]) within group (order by extract(epoch from answered_at - asked_at))
			from duty_checks where asked_at >= $1 and asked_at < $2 and answered_at is not null`, start, end).Scan(&v); err != nil {
			return err
		}
		rep.DutyCheckResponseMedianS = pick(v, 0)
	}
	return nil
}

// sweepUplink marks dirty the stored closed days whose supervision requests or duty checks were
// made or answered since wm (both tables are small: no index needed beyond theirs).
func sweepUplink(ctx context.Context, tx pgx.Tx, wm, today time.Time, tz string) error {
	sup, duty, err := uplinkTables(ctx, tx)
	if err != nil {
		return err
	}
	if sup {
		if _, err := tx.Exec(ctx, `update daily_reports d set dirty = true from (
				select distinct a.carrier_id, (s.requested_at at time zone $3)::date as day
				from alarm_supervisions s join alarms a on a.id = s.alarm_id
				where (s.requested_at > $1 or s.answered_at > $1) and s.requested_at < $2
			) c where d.carrier_id = c.carrier_id and d.day = c.day and d.complete and not d.dirty`, wm, today, tz); err != nil {
			return err
		}
	}
	if duty {
		if _, err := tx.Exec(ctx, `update daily_reports d set dirty = true from (
				select distinct (asked_at at time zone $3)::date as day from duty_checks
				where (asked_at > $1 or answered_at > $1) and asked_at < $2
			) c where d.day = c.day and d.complete and not d.dirty`, wm, today, tz); err != nil {
			return err
		}
	}
	return nil
}
