package postgres

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/twpayne/go-geom"
	"github.com/twpayne/go-geom/encoding/wkb"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// validUUID reports whether s is a UUID in its canonical textual form (any case), so that a
// malformed id is answered as not found instead of reaching the database as a cast error.
func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// geomWKB encodes g as little-endian WKB for ST_GeomFromWKB.
func geomWKB(g geom.T) ([]byte, error) {
	if g == nil {
		return nil, tracking.Invalid(tracking.FieldError{Field: "geometry", Message: "required"})
	}
	b, err := wkb.Marshal(g, binary.LittleEndian)
	if err != nil {
		return nil, tracking.Invalid(tracking.FieldError{Field: "geometry", Message: err.Error()})
	}
	return b, nil
}

const corridorColumns = `id::text, name, ST_AsBinary(geom::geometry), buffer_m, max_speed_kmh, created_at, updated_at`

func scanCorridor(row pgx.CollectableRow) (tracking.Corridor, error) {
	var c tracking.Corridor
	var b []byte
	if err := row.Scan(&c.ID, &c.Name, &b, &c.BufferM, &c.MaxSpeedKmh, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return c, err
	}
	g, err := wkb.Unmarshal(b)
	if err != nil {
		return c, fmt.Errorf("corridor %s geometry: %w", c.ID, err)
	}
	ls, ok := g.(*geom.LineString)
	if !ok {
		return c, fmt.Errorf("corridor %s geometry is %T", c.ID, g)
	}
	c.Line = ls.SetSRID(4326)
	utc(&c.CreatedAt)
	utc(&c.UpdatedAt)
	return c, nil
}

// CreateCorridor stores a new corridor with a server-assigned id. The database checks the
// geometry type, buffer_m and max_speed_kmh (EINVALID); callers validate coordinates first.
func (db *DB) CreateCorridor(ctx context.Context, c tracking.Corridor) (tracking.Corridor, error) {
	b, err := geomWKB(c.Line)
	if err != nil {
		return tracking.Corridor{}, err
	}
	rows, _ := db.Pool.Query(ctx, `insert into corridors (name, geom, buffer_m, max_speed_kmh)
		values ($1, ST_GeomFromWKB($2, 4326)::geography, $3, $4) returning `+corridorColumns,
		c.Name, b, c.BufferM, c.MaxSpeedKmh)
	out, err := pgx.CollectExactlyOneRow(rows, scanCorridor)
	if err != nil {
		return tracking.Corridor{}, mapError(err, "corridor")
	}
	return out, nil
}

// ListCorridors lists corridors that are not deleted, oldest first.
func (db *DB) ListCorridors(ctx context.Context) ([]tracking.Corridor, error) {
	rows, _ := db.Pool.Query(ctx, `select `+corridorColumns+` from corridors where deleted_at is null order by created_at, id`)
	out, err := pgx.CollectRows(rows, scanCorridor)
	if err != nil {
		return nil, mapError(err, "corridor")
	}
	return out, nil
}

// GetCorridor returns a corridor that is not deleted; ENOTFOUND otherwise.
func (db *DB) GetCorridor(ctx context.Context, id string) (tracking.Corridor, error) {
	if !validUUID(id) {
		return tracking.Corridor{}, tracking.Errorf(tracking.ENOTFOUND, "corridor not found")
	}
	rows, _ := db.Pool.Query(ctx, `select `+corridorColumns+` from corridors where id = $1 and deleted_at is null`, id)
	out, err := pgx.CollectExactlyOneRow(rows, scanCorridor)
	if err != nil {
		return tracking.Corridor{}, mapError(err, "corridor")
	}
	return out, nil
}

// ReplaceCorridor replaces the name, line, buffer and speed limit of corridor c.ID (not deleted);
// ENOTFOUND when there is none, EINVALID as CreateCorridor.
func (db *DB) ReplaceCorridor(ctx context.Context, c tracking.Corridor) (tracking.Corridor, error) {
	if !validUUID(c.ID) {
		return tracking.Corridor{}, tracking.Errorf(tracking.ENOTFOUND, "corridor not found")
	}
	b, err := geomWKB(c.Line)
	if err != nil {
		return tracking.Corridor{}, err
	}
	rows, _ := db.Pool.Query(ctx, `update corridors set name = $2, geom = ST_GeomFromWKB($3, 4326)::geography,
		buffer_m = $4, max_speed_kmh = $5, updated_at = now()
		where id = $1 and deleted_at is null returning `+corridorColumns,
		c.ID, c.Name, b, c.BufferM, c.MaxSpeedKmh)
	out, err := pgx.CollectExactlyOneRow(rows, scanCorridor)
	if err != nil {
		return tracking.Corridor{}, mapError(err, "corridor")
	}
	return out, nil
}

// DeleteCorridor marks a corridor deleted. ENOTFOUND when there is none; ECONFLICT while a trip
// that is neither cancelled nor ended uses it (cancel the trip first).
func (db *DB) DeleteCorridor(ctx context.Context, id string) error {
	if !validUUID(id) {
		return tracking.Errorf(tracking.ENOTFOUND, "corridor not found")
	}
	return pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		var found bool
		if err := tx.QueryRow(ctx, `select true from corridors where id = $1 and deleted_at is null for update`, id).Scan(&found); err != nil {
			return mapError(err, "corridor")
		}
		var n int
		if err := tx.QueryRow(ctx, `select count(*) from trips where corridor_id = $1 and cancelled_at is null and ends_at > now()`, id).Scan(&n); err != nil {
			return mapError(err, "corridor")
		}
		if n > 0 {
			return tracking.Errorf(tracking.ECONFLICT, "corridor is used by %d current or future trip(s); cancel them first", n)
		}
		_, err := tx.Exec(ctx, `update corridors set deleted_at = now(), updated_at = now() where id = $1`, id)
		return mapError(err, "corridor")
	})
}
