package postgres

import (
	"context"
	"errors"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

const tripColumns = `id::text, vehicle_id, carrier_id, corridor_id::text, starts_at, ends_at, cargo, cancelled_at, created_at`

var scanTrip = rowTo(func(t *tracking.Trip) {
	utc(&t.StartsAt)
	utc(&t.EndsAt)
	utc(t.CancelledAt)
	utc(&t.CreatedAt)
})

func validateTrip(t *tracking.Trip) error {
	var fields []tracking.FieldError
	if !tracking.ValidID(t.VehicleID) {
		fields = append(fields, tracking.FieldError{Field: "vehicle_id", Message: "must match ^[A-Za-z0-9_-]{1,64}$"})
	}
	if t.CorridorID == "" {
		fields = append(fields, tracking.FieldError{Field: "corridor_id", Message: "required"})
	} else if !validUUID(t.CorridorID) {
		fields = append(fields, tracking.FieldError{Field: "corridor_id", Message: "must be a corridor id (UUID)"})
	}
	if t.StartsAt.IsZero() {
		fields = append(fields, tracking.FieldError{Field: "starts_at", Message: "required"})
	}
	if t.EndsAt.IsZero() {
		fields = append(fields, tracking.FieldError{Field: "ends_at", Message: "required"})
	} else if !t.StartsAt.IsZero() && !t.EndsAt.After(t.StartsAt) {
		fields = append(fields, tracking.FieldError{Field: "ends_at", Message: "must be after starts_at"})
	}
	if c := t.Cargo; c != nil {
		c.UNNumber = strings.TrimSpace(c.UNNumber)
		c.HazardClass = strings.TrimSpace(c.HazardClass)
		if len(c.UNNumber) > 32 {
			fields = append(fields, tracking.FieldError{Field: "cargo.un_number", Message: "at most 32 bytes"})
		}
		if len(c.HazardClass) > 32 {
			fields = append(fields, tracking.FieldError{Field: "cargo.hazard_class", Message: "at most 32 bytes"})
		}
		if len(c.Description) > 1000 {
			fields = append(fields, tracking.FieldError{Field: "cargo.description", Message: "at most 1000 bytes"})
		}
		if q := c.QuantityKg; q != nil && (math.IsNaN(*q) || math.IsInf(*q, 0) || *q < 0) {
			fields = append(fields, tracking.FieldError{Field: "cargo.quantity_kg", Message: "must be a number ≥ 0"})
		}
	}
	if len(fields) > 0 {
		return tracking.Invalid(fields...)
	}
	return nil
}

// CreateTrip stores a new trip with a server-assigned id; its carrier_id is the vehicle's.
// The vehicle must exist, not be deleted and be within carrierID's scope, and the corridor must
// exist and not be deleted (EINVALID naming vehicle_id or corridor_id otherwise). A trip
// overlapping another trip of the same vehicle that is not cancelled is ECONFLICT.
func (db *DB) CreateTrip(ctx context.Context, t tracking.Trip, carrierID string) (tracking.Trip, error) {
	if err := validateTrip(&t); err != nil {
		return tracking.Trip{}, err
	}
	var out tracking.Trip
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		var vehicleCarrier string
		err := tx.QueryRow(ctx, `select carrier_id from vehicles where id = $1 and deleted_at is null and ($2 = '' or carrier_id = $2)`,
			t.VehicleID, carrierID).Scan(&vehicleCarrier)
		if errors.Is(err, pgx.ErrNoRows) {
			return tracking.Invalid(tracking.FieldError{Field: "vehicle_id", Message: "unknown vehicle"})
		} else if err != nil {
			return mapError(err, "trip")
		}
		var ok bool
		err = tx.QueryRow(ctx, `select true from corridors where id = $1 and deleted_at is null`, t.CorridorID).Scan(&ok)
		if errors.Is(err, pgx.ErrNoRows) {
			return tracking.Invalid(tracking.FieldError{Field: "corridor_id", Message: "unknown corridor"})
		} else if err != nil {
			return mapError(err, "trip")
		}
		rows, _ := tx.Query(ctx, `insert into trips (vehicle_id, carrier_id, corridor_id, starts_at, ends_at, cargo)
			values ($1, $2, $3, $4, $5, $6) returning `+tripColumns,
			t.VehicleID, vehicleCarrier, t.CorridorID, t.StartsAt, t.EndsAt, t.Cargo)
		out, err = pgx.CollectExactlyOneRow(rows, scanTrip)
		if err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "23P01" {
				return tracking.Errorf(tracking.ECONFLICT, "vehicle %s already has a trip overlapping [%s, %s)",
					t.VehicleID, t.StartsAt.Format(time.RFC3339), t.EndsAt.Format(time.RFC3339))
			}
			return mapError(err, "trip")
		}
		return nil
	})
	return out, err
}

// ListTrips lists trips within carrierID's scope, ordered by starts_at then id. A non-empty
// vehicleID selects that vehicle's trips; active selects trips that are (true) or are not (false)
// active at the database clock: starts_at ≤ now < ends_at and not cancelled.
func (db *DB) ListTrips(ctx context.Context, carrierID, vehicleID string, active *bool) ([]tracking.Trip, error) {
	rows, _ := db.Pool.Query(ctx, `select `+tripColumns+` from trips
		where ($1 = '' or carrier_id = $1) and ($2 = '' or vehicle_id = $2)
		and ($3::boolean is null or $3 = (cancelled_at is null and starts_at <= now() and ends_at > now()))
		order by starts_at, id`, carrierID, vehicleID, active)
	out, err := pgx.CollectRows(rows, scanTrip)
	if err != nil {
		return nil, mapError(err, "trip")
	}
	return out, nil
}

// GetTrip returns one trip; ENOTFOUND when it does not exist or is outside carrierID's scope.
func (db *DB) GetTrip(ctx context.Context, id, carrierID string) (tracking.Trip, error) {
	if !validUUID(id) {
		return tracking.Trip{}, tracking.Errorf(tracking.ENOTFOUND, "trip not found")
	}
	rows, _ := db.Pool.Query(ctx, `select `+tripColumns+` from trips where id = $1 and ($2 = '' or carrier_id = $2)`, id, carrierID)
	out, err := pgx.CollectExactlyOneRow(rows, scanTrip)
	if err != nil {
		return tracking.Trip{}, mapError(err, "trip")
	}
	return out, nil
}

// CancelTrip cancels a trip and returns it. Cancelling a cancelled trip returns it unchanged;
// a trip that has already ended is ECONFLICT; ENOTFOUND as GetTrip.
func (db *DB) CancelTrip(ctx context.Context, id, carrierID string) (tracking.Trip, error) {
	var out tracking.Trip
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if !validUUID(id) {
			return tracking.Errorf(tracking.ENOTFOUND, "trip not found")
		}
		rows, _ := tx.Query(ctx, `select `+tripColumns+` from trips where id = $1 and ($2 = '' or carrier_id = $2) for update`, id, carrierID)
		cur, err := pgx.CollectExactlyOneRow(rows, scanTrip)
		if err != nil {
			return mapError(err, "trip")
		}
		if cur.CancelledAt != nil {
			out = cur
			return nil
		}
		var ended bool
		if err := tx.QueryRow(ctx, `select $1::timestamptz <= now()`, cur.EndsAt).Scan(&ended); err != nil {
			return mapError(err, "trip")
		}
		if ended {
			return tracking.Errorf(tracking.ECONFLICT, "trip ended at %s and cannot be cancelled", cur.EndsAt.Format(time.RFC3339))
		}
		rows, _ = tx.Query(ctx, `update trips set cancelled_at = now(), updated_at = now() where id = $1 returning `+tripColumns, id)
		out, err = pgx.CollectExactlyOneRow(rows, scanTrip)
		return mapError(err, "trip")
	})
	return out, err
}
