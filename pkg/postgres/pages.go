package postgres

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// Paged lists: keyset pagination in each list's own order, with an opaque cursor (base64url of
// the JSON array of the last item's sort keys). Each returns the page and the next page's cursor,
// "" on the last page. A cursor that cannot be read is EINVALID naming "cursor".

func encodePageCursor(parts ...string) string {
	b, _ := json.Marshal(parts)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodePageCursor(c string, n int) ([]string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return nil, badCursor()
	}
	var parts []string
	if json.Unmarshal(b, &parts) != nil || len(parts) != n {
		return nil, badCursor()
	}
	return parts, nil
}

func badCursor() error {
	return tracking.Invalid(tracking.FieldError{Field: "cursor", Message: "not a cursor of this list"})
}

func pageLimit(p tracking.Page) int {
	if p.Limit <= 0 {
		return tracking.DefaultPageLimit
	}
	return min(p.Limit, tracking.MaxPageLimit)
}

// timeCursor decodes a (time, id) cursor into query arguments; both nil for the first page.
func timeCursor(c string) (any, any, error) {
	if c == "" {
		return nil, nil, nil
	}
	parts, err := decodePageCursor(c, 2)
	if err != nil {
		return nil, nil, err
	}
	t, err := time.Parse(time.RFC3339Nano, parts[0])
	if err != nil || !validUUID(parts[1]) {
		return nil, nil, badCursor()
	}
	return t, parts[1], nil
}

// idCursor decodes an id cursor; "" for the first page.
func idCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	parts, err := decodePageCursor(c, 1)
	if err != nil {
		return "", err
	}
	return parts[0], nil
}

// page runs a query for limit+1 rows and cuts the page, returning the cursor made by next from
// its last item when more rows remain.
func page[T any](ctx context.Context, db *DB, what string, limit int, next func(T) string, scan pgx.RowToFunc[T], sql string, args ...any) ([]T, string, error) {
	rows, _ := db.Pool.Query(ctx, sql, append(args, limit+1)...)
	out, err := pgx.CollectRows(rows, scan)
	if err != nil {
		return nil, "", mapError(err, what)
	}
	if len(out) <= limit {
		return out, "", nil
	}
	out = out[:limit]
	return out, next(out[limit-1]), nil
}

func timeID(t time.Time, id string) string {
	return encodePageCursor(t.UTC().Format(time.RFC3339Nano), id)
}

// ListCarriersPage is ListCarriers one page at a time, in id order.
func (db *DB) ListCarriersPage(ctx context.Context, carrierID string, p tracking.Page) ([]tracking.Carrier, string, error) {
	after, err := idCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	return page(ctx, db, "carrier", pageLimit(p), func(c tracking.Carrier) string { return encodePageCursor(c.ID) }, scanCarrier,
		`select `+carrierColumns+` from carriers where ($1 = '' or id = $1) and id > $2 order by id limit $3`, carrierID, after)
}

// ListVehiclesPage is ListVehicles one page at a time, in id order.
func (db *DB) ListVehiclesPage(ctx context.Context, carrierID string, p tracking.Page) ([]tracking.Vehicle, string, error) {
	after, err := idCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	return page(ctx, db, "vehicle", pageLimit(p), func(v tracking.Vehicle) string { return encodePageCursor(v.ID) }, scanVehicle,
		`select `+vehicleColumns+` from vehicles where deleted_at is null and ($1 = '' or carrier_id = $1) and id > $2
		order by id limit $3`, carrierID, after)
}

// ListCorridorsPage is ListCorridors one page at a time, in creation order.
func (db *DB) ListCorridorsPage(ctx context.Context, p tracking.Page) ([]tracking.Corridor, string, error) {
	at, id, err := timeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	return page(ctx, db, "corridor", pageLimit(p), func(c tracking.Corridor) string { return timeID(c.CreatedAt, c.ID) }, scanCorridor,
		`select `+corridorColumns+` from corridors where deleted_at is null
		and ($1::timestamptz is null or (created_at, id) > ($1, $2::uuid)) order by created_at, id limit $3`, at, id)
}

// ListZonesPage is ListZones one page at a time, in creation order.
func (db *DB) ListZonesPage(ctx context.Context, p tracking.Page) ([]tracking.Zone, string, error) {
	at, id, err := timeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	return page(ctx, db, "zone", pageLimit(p), func(z tracking.Zone) string { return timeID(z.CreatedAt, z.ID) }, scanZone,
		`select `+zoneColumns+` from zones where deleted_at is null
		and ($1::timestamptz is null or (created_at, id) > ($1, $2::uuid)) order by created_at, id limit $3`, at, id)
}

// ListTripsPage is ListTrips one page at a time, in starts_at order.
func (db *DB) ListTripsPage(ctx context.Context, carrierID, vehicleID string, active *bool, p tracking.Page) ([]tracking.Trip, string, error) {
	at, id, err := timeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	return page(ctx, db, "trip", pageLimit(p), func(t tracking.Trip) string { return timeID(t.StartsAt, t.ID) }, scanTrip,
		`select `+tripColumns+` from trips
		where ($1 = '' or carrier_id = $1) and ($2 = '' or vehicle_id = $2)
		and ($3::boolean is null or $3 = (cancelled_at is null and starts_at <= now() and ends_at > now()))
		and ($4::timestamptz is null or (starts_at, id) > ($4, $5::uuid))
		order by starts_at, id limit $6`, carrierID, vehicleID, active, at, id)
}

// ListAPIKeysPage is ListAPIKeys one page at a time, in creation order.
func (db *DB) ListAPIKeysPage(ctx context.Context, p tracking.Page) ([]tracking.APIKey, string, error) {
	at, id, err := timeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	return page(ctx, db, "api key", pageLimit(p), func(k tracking.APIKey) string { return timeID(k.CreatedAt, k.ID) }, scanAPIKey,
		`select `+apiKeyColumns+` from api_keys
		where ($1::timestamptz is null or (created_at, id) > ($1, $2::uuid)) order by created_at, id limit $3`, at, id)
}
