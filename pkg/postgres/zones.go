package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/twpayne/go-geom"
	"github.com/twpayne/go-geom/encoding/wkb"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

const zoneColumns = `id::text, name, kind, ST_AsBinary(geom::geometry),
	to_char(active_from, 'HH24:MI'), to_char(active_to, 'HH24:MI'), created_at, updated_at`

func scanZone(row pgx.CollectableRow) (tracking.Zone, error) {
	var z tracking.Zone
	var b []byte
	var from, to *string
	if err := row.Scan(&z.ID, &z.Name, &z.Kind, &b, &from, &to, &z.CreatedAt, &z.UpdatedAt); err != nil {
		return z, err
	}
	g, err := wkb.Unmarshal(b)
	if err != nil {
		return z, fmt.Errorf("zone %s geometry: %w", z.ID, err)
	}
	switch g := g.(type) {
	case *geom.Polygon:
		z.Area = g.SetSRID(4326)
	case *geom.MultiPolygon:
		z.Area = g.SetSRID(4326)
	default:
		return z, fmt.Errorf("zone %s geometry is %T", z.ID, g)
	}
	utc(&z.CreatedAt)
	utc(&z.UpdatedAt)
	if from != nil && to != nil {
		z.ActiveHours = &tracking.ActiveHours{From: *from, To: *to}
	}
	return z, nil
}

func zoneHours(z tracking.Zone) (from, to *string) {
	if z.ActiveHours == nil {
		return nil, nil
	}
	return &z.ActiveHours.From, &z.ActiveHours.To
}

// checkArea refuses an area that is not a valid (OGC) polygon or multipolygon, e.g. one whose
// boundary crosses itself: point-in-zone answers would be meaningless.
func (db *DB) checkArea(ctx context.Context, b []byte) error {
	var valid bool
	var reason string
	err := db.Pool.QueryRow(ctx, `select ST_IsValid(g), ST_IsValidReason(g) from ST_GeomFromWKB($1, 4326) as g`, b).Scan(&valid, &reason)
	if err != nil {
		return mapError(err, "zone")
	}
	if !valid {
		return tracking.Invalid(tracking.FieldError{Field: "geometry", Message: "not a valid polygon: " + reason})
	}
	return nil
}

// CreateZone stores a new zone with a server-assigned id. ActiveHours "HH:MM" map to the
// active_from/active_to time columns. The database checks kind and geometry type (EINVALID);
// callers validate coordinates first. An area that is not a valid polygon (self-intersecting
// rings, say) is EINVALID naming geometry.
func (db *DB) CreateZone(ctx context.Context, z tracking.Zone) (tracking.Zone, error) {
	b, err := geomWKB(z.Area)
	if err != nil {
		return tracking.Zone{}, err
	}
	if err := db.checkArea(ctx, b); err != nil {
		return tracking.Zone{}, err
	}
	from, to := zoneHours(z)
	rows, _ := db.Pool.Query(ctx, `insert into zones (name, kind, geom, active_from, active_to)
		values ($1, $2, ST_GeomFromWKB($3, 4326)::geography, $4::time, $5::time) returning `+zoneColumns,
		z.Name, z.Kind, b, from, to)
	out, err := pgx.CollectExactlyOneRow(rows, scanZone)
	if err != nil {
		return tracking.Zone{}, mapError(err, "zone")
	}
	return out, nil
}

// ListZones lists zones that are not deleted, oldest first.
func (db *DB) ListZones(ctx context.Context) ([]tracking.Zone, error) {
	rows, _ := db.Pool.Query(ctx, `select `+zoneColumns+` from zones where deleted_at is null order by created_at, id`)
	out, err := pgx.CollectRows(rows, scanZone)
	if err != nil {
		return nil, mapError(err, "zone")
	}
	return out, nil
}

// GetZone returns a zone that is not deleted; ENOTFOUND otherwise.
func (db *DB) GetZone(ctx context.Context, id string) (tracking.Zone, error) {
	if !validUUID(id) {
		return tracking.Zone{}, tracking.Errorf(tracking.ENOTFOUND, "zone not found")
	}
	rows, _ := db.Pool.Query(ctx, `select `+zoneColumns+` from zones where id = $1 and deleted_at is null`, id)
	out, err := pgx.CollectExactlyOneRow(rows, scanZone)
	if err != nil {
		return tracking.Zone{}, mapError(err, "zone")
	}
	return out, nil
}

// ReplaceZone replaces every attribute of zone z.ID (not deleted); ENOTFOUND when there is none,
// EINVALID as CreateZone.
func (db *DB) ReplaceZone(ctx context.Context, z tracking.Zone) (tracking.Zone, error) {
	if !validUUID(z.ID) {
		return tracking.Zone{}, tracking.Errorf(tracking.ENOTFOUND, "zone not found")
	}
	b, err := geomWKB(z.Area)
	if err != nil {
		return tracking.Zone{}, err
	}
	if err := db.checkArea(ctx, b); err != nil {
		return tracking.Zone{}, err
	}
	from, to := zoneHours(z)
	rows, _ := db.Pool.Query(ctx, `update zones set name = $2, kind = $3, geom = ST_GeomFromWKB($4, 4326)::geography,
		active_from = $5::time, active_to = $6::time, updated_at = now()
		where id = $1 and deleted_at is null returning `+zoneColumns,
		z.ID, z.Name, z.Kind, b, from, to)
	out, err := pgx.CollectExactlyOneRow(rows, scanZone)
	if err != nil {
		return tracking.Zone{}, mapError(err, "zone")
	}
	return out, nil
}

// DeleteZone marks a zone deleted; ENOTFOUND when there is none.
func (db *DB) DeleteZone(ctx context.Context, id string) error {
	if !validUUID(id) {
		return tracking.Errorf(tracking.ENOTFOUND, "zone not found")
	}
	tag, err := db.Pool.Exec(ctx, `update zones set deleted_at = now(), updated_at = now() where id = $1 and deleted_at is null`, id)
	if err != nil {
		return mapError(err, "zone")
	}
	if tag.RowsAffected() == 0 {
		return tracking.Errorf(tracking.ENOTFOUND, "zone not found")
	}
	return nil
}
