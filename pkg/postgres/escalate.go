package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// EscalateUnacknowledged escalates, oldest first and at most limit of them, the critical alarms
// still open (neither acknowledged nor resolved) that Corridor stored at or before now - after and
// that have not escalated yet: it sets escalated_at = now and stores an `escalated` event with
// reason "unacknowledged" in the alarm outbox, in one transaction, and returns the alarms.
//
// It is idempotent and safe to run in several processes at once: the update only takes alarms
// whose escalated_at is still null (rows another process is escalating are skipped, then found
// escalated), so each alarm escalates, and its event is stored, exactly once. The outbox publishes
// the event with a Nats-Msg-Id, so a retried publish is stored once in ALARMS.
// The selection is one scan of the partial index alarms_escalation_due.
func (db *DB) EscalateUnacknowledged(ctx context.Context, now time.Time, after time.Duration, limit int) ([]tracking.Alarm, error) {
	var out []tracking.Alarm
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `update alarms set escalated_at = $1, updated_at = now()
			where id in (select id from alarms
			             where state = 'open' and severity = 'critical' and escalated_at is null and created_at <= $2
			             order by created_at limit $3 for update skip locked)
			  and state = 'open' and escalated_at is null
			returning `+alarmCols, now, now.Add(-after), limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (tracking.Alarm, error) { return scanAlarm(r) })
		if err != nil {
			return err
		}
		for i := range out {
			if err := insertEventReason(ctx, tx, tracking.EventEscalated, tracking.EscalationUnacknowledged, &out[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// OldestUnescalated returns when the oldest critical alarm that is open and not escalated was
// stored (ok false when there is none): the next escalation is due after ESCALATE_AFTER from it.
func (db *DB) OldestUnescalated(ctx context.Context) (time.Time, bool, error) {
	var t time.Time
	err := db.Pool.QueryRow(ctx, `select created_at from alarms
		where state = 'open' and severity = 'critical' and escalated_at is null order by created_at limit 1`).Scan(&t)
	if err == pgx.ErrNoRows {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, err
	}
	return t.UTC(), true, nil
}

// insertEventReason stores an alarm event with a reason (escalated) in the outbox.
func insertEventReason(ctx context.Context, tx pgx.Tx, event, reason string, a *tracking.Alarm) error {
	payload, err := json.Marshal(tracking.AlarmEvent{Event: event, Alarm: *a, Reason: reason})
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `insert into alarm_events (alarm_id, event, payload) values ($1, $2, $3)`, a.ID, event, payload)
	return err
}
