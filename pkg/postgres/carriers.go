package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// Carrier scoping: every repository method that reads carrier-owned rows takes a carrierID.
// An empty carrierID sees every carrier's rows; a non-empty one sees only that carrier's rows, and
// another carrier's row is ENOTFOUND, exactly as if it did not exist.

const carrierColumns = `id, name, created_at`

// rowTo scans a row into T by position and then calls fix on it (times are returned in UTC).
func rowTo[T any](fix func(*T)) pgx.RowToFunc[T] {
	return func(row pgx.CollectableRow) (T, error) {
		v, err := pgx.RowToStructByPos[T](row)
		if err == nil {
			fix(&v)
		}
		return v, err
	}
}

// utc converts an optional time to UTC in place.
func utc(t *time.Time) {
	if t != nil {
		*t = t.UTC()
	}
}

var scanCarrier = rowTo(func(c *tracking.Carrier) { utc(&c.CreatedAt) })

// CreateCarrier stores a new carrier. A taken id is ECONFLICT; a bad id or empty name is EINVALID.
func (db *DB) CreateCarrier(ctx context.Context, c tracking.Carrier) (tracking.Carrier, error) {
	var fields []tracking.FieldError
	if !tracking.ValidID(c.ID) {
		fields = append(fields, tracking.FieldError{Field: "id", Message: "must match ^[A-Za-z0-9_-]{1,64}$"})
	}
	if strings.TrimSpace(c.Name) == "" {
		fields = append(fields, tracking.FieldError{Field: "name", Message: "required"})
	}
	if len(fields) > 0 {
		return tracking.Carrier{}, tracking.Invalid(fields...)
	}
	rows, _ := db.Pool.Query(ctx, `insert into carriers (id, name) values ($1, $2) returning `+carrierColumns, c.ID, c.Name)
	out, err := pgx.CollectExactlyOneRow(rows, scanCarrier)
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" {
			return tracking.Carrier{}, tracking.Errorf(tracking.ECONFLICT, "carrier %q already exists", c.ID)
		}
		return tracking.Carrier{}, mapError(err, "carrier")
	}
	return out, nil
}

// ListCarriers lists carriers ordered by id; a non-empty carrierID lists only that carrier.
func (db *DB) ListCarriers(ctx context.Context, carrierID string) ([]tracking.Carrier, error) {
	rows, _ := db.Pool.Query(ctx, `select `+carrierColumns+` from carriers where ($1 = '' or id = $1) order by id`, carrierID)
	out, err := pgx.CollectRows(rows, scanCarrier)
	if err != nil {
		return nil, mapError(err, "carrier")
	}
	return out, nil
}

// GetCarrier returns one carrier; ENOTFOUND when it does not exist or is outside carrierID's scope.
func (db *DB) GetCarrier(ctx context.Context, id, carrierID string) (tracking.Carrier, error) {
	if (carrierID != "" && id != carrierID) || !tracking.ValidID(id) {
		return tracking.Carrier{}, tracking.Errorf(tracking.ENOTFOUND, "carrier not found")
	}
	rows, _ := db.Pool.Query(ctx, `select `+carrierColumns+` from carriers where id = $1`, id)
	out, err := pgx.CollectExactlyOneRow(rows, scanCarrier)
	if err != nil {
		return tracking.Carrier{}, mapError(err, "carrier")
	}
	return out, nil
}
