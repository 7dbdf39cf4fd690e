package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// RegisterTerminal stores authHash as the JT/T 808 registration of terminalID (any form
// NormalizeTerminalID accepts) and returns the terminal's vehicle. ENOTFOUND when no vehicle
// (not deleted) has the terminal id; ECONFLICT when the terminal is registered already and the
// registration still holds (its vehicle is not deleted and still has the terminal id). A
// registration that no longer holds is replaced.
func (db *DB) RegisterTerminal(ctx context.Context, terminalID string, authHash []byte) (tracking.Vehicle, error) {
	n, ok := NormalizeTerminalID(terminalID)
	if !ok {
		return tracking.Vehicle{}, tracking.Errorf(tracking.ENOTFOUND, "vehicle not found")
	}
	var out tracking.Vehicle
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `select `+vehicleColumns+` from vehicles
			where terminal_id = $1 and deleted_at is null for update`, n)
		v, err := pgx.CollectExactlyOneRow(rows, scanVehicle)
		if err != nil {
			return mapError(err, "vehicle")
		}
		// Insert, or take over a registration that no longer holds; a holding one is a conflict.
		tag, err := tx.Exec(ctx, `insert into jt808_terminals (terminal_id, vehicle_id, auth_hash) values ($1, $2, $3)
			on conflict (terminal_id) do update set vehicle_id = excluded.vehicle_id, auth_hash = excluded.auth_hash,
				registered_at = now()
			where not exists (select 1 from vehicles v where v.id = jt808_terminals.vehicle_id
				and v.terminal_id = jt808_terminals.terminal_id and v.deleted_at is null)`, n, v.ID, authHash)
		if err != nil {
			return mapError(err, "terminal registration")
		}
		if tag.RowsAffected() == 0 {
			return tracking.Errorf(tracking.ECONFLICT, "terminal %s is registered already", n)
		}
		out = v
		return nil
	})
	return out, err
}

// RegisteredTerminal returns the vehicle terminalID is registered for and the SHA-256 of its
// auth code; ENOTFOUND when it is not registered or the registration no longer holds.
func (db *DB) RegisteredTerminal(ctx context.Context, terminalID string) (tracking.Vehicle, []byte, error) {
	n, ok := NormalizeTerminalID(terminalID)
	if !ok {
		return tracking.Vehicle{}, nil, tracking.Errorf(tracking.ENOTFOUND, "terminal not registered")
	}
	var hash []byte
	rows, _ := db.Pool.Query(ctx, `select `+vehicleColumns+`, t.hash from vehicles
		join (select terminal_id as tid, vehicle_id as vid, auth_hash as hash from jt808_terminals where terminal_id = $1) t
			on vehicles.id = t.vid and vehicles.terminal_id = t.tid
		where vehicles.deleted_at is null`, n)
	v, err := pgx.CollectExactlyOneRow(rows, func(row pgx.CollectableRow) (tracking.Vehicle, error) {
		var v tracking.Vehicle
		err := row.Scan(&v.ID, &v.CarrierID, &v.Plate, &v.TerminalID, &v.HazardClass, &v.UNNumber, &v.CreatedAt, &v.UpdatedAt,
			&v.PlateColor, &v.JT808TimeOffset, &v.Rejected, &hash)
		utc(&v.CreatedAt)
		utc(&v.UpdatedAt)
		return v, err
	})
	if err != nil {
		return tracking.Vehicle{}, nil, mapError(err, "terminal registration")
	}
	return v, hash, nil
}

// DeregisterTerminal removes the JT/T 808 registration of terminalID (the terminal's own
// deregistration, 0x0003); removing nothing is not an error.
func (db *DB) DeregisterTerminal(ctx context.Context, terminalID string) error {
	n, ok := NormalizeTerminalID(terminalID)
	if !ok {
		return nil
	}
	_, err := db.Pool.Exec(ctx, `delete from jt808_terminals where terminal_id = $1`, n)
	return mapError(err, "terminal registration")
}

// ResetTerminal removes the JT/T 808 registration of vehicle id's terminal (within carrierID's
// scope), so that the terminal may register again. ENOTFOUND when the vehicle does not exist;
// removing nothing (no terminal id, or not registered) is not an error. It reports whether a
// registration was removed.
func (db *DB) ResetTerminal(ctx context.Context, id, carrierID string) (bool, error) {
	var found, removed bool
	err := db.Pool.QueryRow(ctx, `with v as (select id, terminal_id from vehicles
			where id = $1 and deleted_at is null and ($2 = '' or carrier_id = $2)),
		d as (delete from jt808_terminals t using v where t.terminal_id = v.terminal_id or t.vehicle_id = v.id returning 1)
		select exists (select 1 from v), exists (select 1 from d)`, id, carrierID).Scan(&found, &removed)
	if err != nil {
		return false, mapError(err, "vehicle")
	}
	if !found {
		return false, tracking.Errorf(tracking.ENOTFOUND, "vehicle not found")
	}
	return removed, nil
}
