package postgres

import (
	"context"
	"encoding/base64"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

const dutyCheckCols = `id::text, info_id, question, object_type, object_id, asked_at,
	asked_at + answer_within, answer, answered_by, answered_at, extract(epoch from answered_at - asked_at)::float8, sent_at`

func scanDutyCheck(row pgx.Row) (tracking.DutyCheck, error) {
	var d tracking.DutyCheck
	var ot *int16
	err := row.Scan(&d.ID, &d.InfoID, &d.Question, &ot, &d.ObjectID, &d.AskedAt, &d.AnswerBy, &d.Answer, &d.AnsweredBy,
		&d.AnsweredAt, &d.ResponseSecs, &d.SentAt)
	if err != nil {
		return d, err
	}
	if ot != nil {
		v := int(*ot)
		d.ObjectType = &v
	}
	d.AskedAt = d.AskedAt.UTC()
	utc(d.AnswerBy)
	utc(d.AnsweredAt)
	utc(d.SentAt)
	return d, nil
}

// CreateDutyCheck stores a duty check.
func (db *DB) CreateDutyCheck(ctx context.Context, n tracking.NewDutyCheck) (tracking.DutyCheck, error) {
	var within *time.Duration
	if n.AnswerWithin > 0 {
		within = &n.AnswerWithin
	}
	rows, _ := db.Pool.Query(ctx, `insert into duty_checks (info_id, msg_sn, object_type, object_id, question, answer_within)
		values ($1, $2, $3, $4, $5, $6) returning `+dutyCheckCols, n.InfoID, n.MsgSN, n.ObjectType, n.ObjectID, n.Question, within)
	d, err := pgx.CollectExactlyOneRow(rows, func(r pgx.CollectableRow) (tracking.DutyCheck, error) { return scanDutyCheck(r) })
	return d, mapError(err, "duty check")
}

// GetDutyCheck returns one duty check; ENOTFOUND when absent.
func (db *DB) GetDutyCheck(ctx context.Context, id string) (tracking.DutyCheck, error) {
	if _, err := uuid.Parse(id); err != nil {
		return tracking.DutyCheck{}, tracking.Errorf(tracking.ENOTFOUND, "duty check not found")
	}
	d, err := scanDutyCheck(db.Pool.QueryRow(ctx, `select `+dutyCheckCols+` from duty_checks where id = $1`, id))
	return d, mapError(err, "duty check")
}

// ListDutyChecks lists duty checks newest first; answered filters on whether one was answered.
// cursor is the opaque cursor of the previous page; the next page's is returned ("" = none).
func (db *DB) ListDutyChecks(ctx context.Context, answered *bool, limit int, cursor string) ([]tracking.DutyCheck, string, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	var afterTS *time.Time
	var afterID *string
	if cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cursor)
		ts, id, ok := strings.Cut(string(raw), "|")
		t, terr := time.Parse(time.RFC3339Nano, ts)
		if _, uerr := uuid.Parse(id); err != nil || !ok || terr != nil || uerr != nil {
			return nil, "", tracking.Invalid(tracking.FieldError{Field: "cursor", Message: "not a cursor of this list"})
		}
		afterTS, afterID = &t, &id
	}
	rows, _ := db.Pool.Query(ctx, `select `+dutyCheckCols+` from duty_checks
		where ($1::bool is null or (answered_at is not null) = $1)
		  and ($2::timestamptz is null or (asked_at, id) < ($2, $3::uuid))
		order by asked_at desc, id desc limit $4`, answered, afterTS, afterID, limit+1)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tracking.DutyCheck, error) { return scanDutyCheck(r) })
	if err != nil {
		return nil, "", mapError(err, "duty check")
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		last := out[limit-1]
		next = base64.RawURLEncoding.EncodeToString([]byte(last.AskedAt.Format(time.RFC3339Nano) + "|" + last.ID))
	}
	return out, next, nil
}

// AnswerDutyCheck records an officer's answer; ECONFLICT when it was answered already.
func (db *DB) AnswerDutyCheck(ctx context.Context, id, answer, by string) (tracking.DutyCheck, error) {
	if _, err := uuid.Parse(id); err != nil {
		return tracking.DutyCheck{}, tracking.Errorf(tracking.ENOTFOUND, "duty check not found")
	}
	tag, err := db.Pool.Exec(ctx, `update duty_checks set answer = $2, answered_by = $3, answered_at = now()
		where id = $1 and answered_at is null`, id, answer, by)
	if err != nil {
		return tracking.DutyCheck{}, mapError(err, "duty check")
	}
	if tag.RowsAffected() == 0 {
		if _, err := db.GetDutyCheck(ctx, id); err != nil {
			return tracking.DutyCheck{}, err
		}
		return tracking.DutyCheck{}, tracking.Errorf(tracking.ECONFLICT, "duty check already answered")
	}
	return db.GetDutyCheck(ctx, id)
}

// UnsentDutyAnswers returns answered duty checks not yet sent up, oldest answer first.
func (db *DB) UnsentDutyAnswers(ctx context.Context) ([]tracking.UnsentDutyAnswer, error) {
	rows, _ := db.Pool.Query(ctx, `select id::text, answer, answered_by, info_id, msg_sn, object_type, object_id from duty_checks
		where answered_at is not null and sent_at is null order by answered_at limit 100`)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (tracking.UnsentDutyAnswer, error) {
		var u tracking.UnsentDutyAnswer
		var ot *int16
		err := r.Scan(&u.ID, &u.Answer, &u.AnsweredBy, &u.InfoID, &u.MsgSN, &ot, &u.ObjectID)
		if ot != nil {
			v := int(*ot)
			u.ObjectType = &v
		}
		return u, err
	})
}

// MarkDutyAnswerSent records that the 0x1301 of a duty check was written to the upper platform.
func (db *DB) MarkDutyAnswerSent(ctx context.Context, id string) error {
	_, err := db.Pool.Exec(ctx, `update duty_checks set sent_at = now() where id = $1`, id)
	return err
}
