package postgres

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

const vehicleColumns = `id, carrier_id, plate, terminal_id, hazard_class, un_number, created_at, updated_at,
	plate_color, jt808_time_offset, ` + rejectionsColumn

var scanVehicle = rowTo(func(v *tracking.Vehicle) { utc(&v.CreatedAt); utc(&v.UpdatedAt) })

// NormalizeTerminalID returns a JT/T 808 terminal phone number in its stored form: digits only,
// leading zeros dropped, at most 20 digits. ok is false when s is not such a number.
func NormalizeTerminalID(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 32 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", false
		}
	}
	s = strings.TrimLeft(s, "0")
	if s == "" || len(s) > 20 {
		return "", false
	}
	return s, true
}

// DefaultPlateColor is yellow, the plate colour of hazardous-goods trucks (JT/T 415).
const DefaultPlateColor = 2

// validateVehicle checks and normalises v in place (terminal id, empty optional strings to nil).
func validateVehicle(v *tracking.Vehicle) error {
	var fields []tracking.FieldError
	if !tracking.ValidID(v.ID) {
		fields = append(fields, tracking.FieldError{Field: "id", Message: "must match ^[A-Za-z0-9_-]{1,64}$"})
	}
	if !tracking.ValidID(v.CarrierID) {
		fields = append(fields, tracking.FieldError{Field: "carrier_id", Message: "must match ^[A-Za-z0-9_-]{1,64}$"})
	}
	v.Plate = strings.TrimSpace(v.Plate)
	if v.Plate == "" || len(v.Plate) > 32 {
		fields = append(fields, tracking.FieldError{Field: "plate", Message: "required, at most 32 bytes"})
	}
	if v.PlateColor == 0 {
		v.PlateColor = DefaultPlateColor
	} else if v.PlateColor < 1 || v.PlateColor > 255 {
		fields = append(fields, tracking.FieldError{Field: "plate_color", Message: "must be a JT/T 415 plate colour code in [1, 255] (1 blue, 2 yellow, 3 black, 4 white, 9 other)"})
	}
	if v.TerminalID != nil {
		if *v.TerminalID == "" {
			v.TerminalID = nil
		} else if n, ok := NormalizeTerminalID(*v.TerminalID); ok {
			v.TerminalID = &n
		} else {
			fields = append(fields, tracking.FieldError{Field: "terminal_id", Message: "must be the terminal phone number: 1 to 20 digits after leading zeros"})
		}
	}
	if v.JT808TimeOffset != nil {
		if *v.JT808TimeOffset == "" {
			v.JT808TimeOffset = nil
		} else if _, err := tracking.ParseUTCOffset(*v.JT808TimeOffset); err != nil || *v.JT808TimeOffset == "Z" || *v.JT808TimeOffset == "z" {
			fields = append(fields, tracking.FieldError{Field: "jt808_time_offset", Message: "must be a UTC offset such as +08:00"})
		}
	}
	for _, f := range []struct {
		name string
		p    **string
	}{{"hazard_class", &v.HazardClass}, {"un_number", &v.UNNumber}} {
		if *f.p == nil {
			continue
		}
		s := strings.TrimSpace(**f.p)
		switch {
		case s == "":
			*f.p = nil
		case len(s) > 32:
			fields = append(fields, tracking.FieldError{Field: f.name, Message: "at most 32 bytes"})
		default:
			*f.p = &s
		}
	}
	if len(fields) > 0 {
		return tracking.Invalid(fields...)
	}
	return nil
}

// vehicleError maps the database errors of vehicle writes: a taken id (even of a deleted vehicle)
// or terminal id is ECONFLICT, an unknown carrier is EINVALID naming carrier_id.
func vehicleError(err error, v tracking.Vehicle) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505" && pe.ConstraintName == "vehicles_terminal_id":
			return tracking.Errorf(tracking.ECONFLICT, "terminal_id %s belongs to another vehicle", deref(v.TerminalID))
		case pe.Code == "23505":
			return tracking.Errorf(tracking.ECONFLICT, "vehicle %q already exists", v.ID)
		case pe.Code == "23503":
			return tracking.Invalid(tracking.FieldError{Field: "carrier_id", Message: "unknown carrier"})
		}
	}
	return mapError(err, "vehicle")
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// CreateVehicle stores a new vehicle. A taken id (including a deleted vehicle's) or terminal id
// is ECONFLICT; invalid fields and an unknown carrier are EINVALID.
func (db *DB) CreateVehicle(ctx context.Context, v tracking.Vehicle) (tracking.Vehicle, error) {
	if err := validateVehicle(&v); err != nil {
		return tracking.Vehicle{}, err
	}
	rows, _ := db.Pool.Query(ctx, `insert into vehicles (id, carrier_id, plate, terminal_id, hazard_class, un_number, jt808_time_offset, plate_color)
		values ($1, $2, $3, $4, $5, $6, $7, $8) returning `+vehicleColumns,
		v.ID, v.CarrierID, v.Plate, v.TerminalID, v.HazardClass, v.UNNumber, v.JT808TimeOffset, v.PlateColor)
	out, err := pgx.CollectExactlyOneRow(rows, scanVehicle)
	if err != nil {
		return tracking.Vehicle{}, vehicleError(err, v)
	}
	return out, nil
}

// ListVehicles lists vehicles that are not deleted, ordered by id, within carrierID's scope.
func (db *DB) ListVehicles(ctx context.Context, carrierID string) ([]tracking.Vehicle, error) {
	rows, _ := db.Pool.Query(ctx, `select `+vehicleColumns+` from vehicles
		where deleted_at is null and ($1 = '' or carrier_id = $1) order by id`, carrierID)
	out, err := pgx.CollectRows(rows, scanVehicle)
	if err != nil {
		return nil, mapError(err, "vehicle")
	}
	return out, nil
}

// GetVehicle returns a vehicle that is not deleted; ENOTFOUND otherwise or outside carrierID's scope.
func (db *DB) GetVehicle(ctx context.Context, id, carrierID string) (tracking.Vehicle, error) {
	if !tracking.ValidID(id) {
		return tracking.Vehicle{}, tracking.Errorf(tracking.ENOTFOUND, "vehicle not found")
	}
	rows, _ := db.Pool.Query(ctx, `select `+vehicleColumns+` from vehicles
		where id = $1 and deleted_at is null and ($2 = '' or carrier_id = $2)`, id, carrierID)
	out, err := pgx.CollectExactlyOneRow(rows, scanVehicle)
	if err != nil {
		return tracking.Vehicle{}, mapError(err, "vehicle")
	}
	return out, nil
}

// VehicleByTerminal returns the vehicle (not deleted) with the JT/T 808 terminal phone number
// terminalID, given in any form NormalizeTerminalID accepts; ENOTFOUND when there is none.
func (db *DB) VehicleByTerminal(ctx context.Context, terminalID string) (tracking.Vehicle, error) {
	n, ok := NormalizeTerminalID(terminalID)
	if !ok {
		return tracking.Vehicle{}, tracking.Errorf(tracking.ENOTFOUND, "vehicle not found")
	}
	rows, _ := db.Pool.Query(ctx, `select `+vehicleColumns+` from vehicles
		where terminal_id = $1 and deleted_at is null`, n)
	out, err := pgx.CollectExactlyOneRow(rows, scanVehicle)
	if err != nil {
		return tracking.Vehicle{}, mapError(err, "vehicle")
	}
	return out, nil
}

// UpdateVehicle changes a vehicle (not deleted, within carrierID's scope) by calling update on the
// current row inside a transaction that holds the row lock, then validating and storing the result.
// The id and carrier_id cannot change (EINVALID). Errors as CreateVehicle, or from update.
func (db *DB) UpdateVehicle(ctx context.Context, id, carrierID string, update func(*tracking.Vehicle) error) (tracking.Vehicle, error) {
	if !tracking.ValidID(id) {
		return tracking.Vehicle{}, tracking.Errorf(tracking.ENOTFOUND, "vehicle not found")
	}
	var out tracking.Vehicle
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `select `+vehicleColumns+` from vehicles
			where id = $1 and deleted_at is null and ($2 = '' or carrier_id = $2) for update`, id, carrierID)
		cur, err := pgx.CollectExactlyOneRow(rows, scanVehicle)
		if err != nil {
			return mapError(err, "vehicle")
		}
		v := cur
		if err := update(&v); err != nil {
			return err
		}
		var fields []tracking.FieldError
		if v.ID != cur.ID {
			fields = append(fields, tracking.FieldError{Field: "id", Message: "cannot be changed"})
		}
		if v.CarrierID != cur.CarrierID {
			fields = append(fields, tracking.FieldError{Field: "carrier_id", Message: "cannot be changed"})
		}
		if len(fields) > 0 {
			return tracking.Invalid(fields...)
		}
		if err := validateVehicle(&v); err != nil {
			return err
		}
		rows, _ = tx.Query(ctx, `update vehicles set plate = $2, terminal_id = $3, hazard_class = $4, un_number = $5,
			jt808_time_offset = $6, plate_color = $7, updated_at = now() where id = $1 returning `+vehicleColumns,
			v.ID, v.Plate, v.TerminalID, v.HazardClass, v.UNNumber, v.JT808TimeOffset, v.PlateColor)
		out, err = pgx.CollectExactlyOneRow(rows, scanVehicle)
		if err != nil {
			return vehicleError(err, v)
		}
		return nil
	})
	return out, err
}

// DeleteVehicle marks a vehicle deleted: it disappears from lists and lookups, its terminal id
// becomes free, and its id stays taken (history and alarms keep pointing at it). ENOTFOUND when
// it does not exist, is already deleted, or is outside carrierID's scope.
func (db *DB) DeleteVehicle(ctx context.Context, id, carrierID string) error {
	if !tracking.ValidID(id) {
		return tracking.Errorf(tracking.ENOTFOUND, "vehicle not found")
	}
	tag, err := db.Pool.Exec(ctx, `update vehicles set deleted_at = now(), updated_at = now()
		where id = $1 and deleted_at is null and ($2 = '' or carrier_id = $2)`, id, carrierID)
	if err != nil {
		return mapError(err, "vehicle")
	}
	if tag.RowsAffected() == 0 {
		return tracking.Errorf(tracking.ENOTFOUND, "vehicle not found")
	}
	return nil
}
