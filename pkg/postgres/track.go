package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// Track returns the stored fixes of vehicleID with From ≤ ts < To, oldest first, at most
// f.Limit of them (default 1000, at most 10000). A zero From or To leaves that side open.
// It does not check that the vehicle exists or who may see it: callers do.
func (db *DB) Track(ctx context.Context, vehicleID string, f tracking.TrackFilter) ([]tracking.StoredPosition, error) {
	return db.track(ctx, vehicleID, f, trackLimit(f.Limit))
}

func trackLimit(limit int) int {
	if limit <= 0 {
		limit = 1000
	}
	return min(limit, 10000)
}

// TrackPage is Track with paging: f.Cursor continues after the previous page, and the cursor of
// the next page is returned while more fixes remain in the window ("" on the last page).
func (db *DB) TrackPage(ctx context.Context, vehicleID string, f tracking.TrackFilter) ([]tracking.StoredPosition, string, error) {
	limit := trackLimit(f.Limit)
	ps, err := db.track(ctx, vehicleID, f, limit+1)
	if err != nil || len(ps) <= limit {
		return ps, "", err
	}
	ps = ps[:limit]
	return ps, encodePageCursor(ps[limit-1].TS.Format(time.RFC3339Nano)), nil
}

func (db *DB) track(ctx context.Context, vehicleID string, f tracking.TrackFilter, limit int) ([]tracking.StoredPosition, error) {
	var from, to any
	if !f.From.IsZero() {
		from = f.From
	}
	var after any
	if f.Cursor != "" {
		parts, err := decodePageCursor(f.Cursor, 1)
		if err != nil {
			return nil, err
		}
		t, err := time.Parse(time.RFC3339Nano, parts[0])
		if err != nil {
			return nil, badCursor()
		}
		after = t
	}
	if !f.To.IsZero() {
		to = f.To
	}
	rows, _ := db.Pool.Query(ctx, `select vehicle_id, carrier_id, ts, lat, lon, speed_kmh, heading_deg, altitude_m,
		accuracy_m, satellites, odometer_km, fuel_pct, fuel_l, engine_rpm, coolant_c, ignition, device_alarms,
		flags, received_at
		from positions
		where vehicle_id = $1 and ($2::timestamptz is null or ts >= $2) and ($3::timestamptz is null or ts < $3)
		and ($5::timestamptz is null or ts > $5)
		order by ts limit $4`, vehicleID, from, to, limit, after)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (tracking.StoredPosition, error) {
		var p tracking.StoredPosition
		err := row.Scan(&p.VehicleID, &p.CarrierID, &p.TS, &p.Lat, &p.Lon, &p.SpeedKmh, &p.HeadingDeg, &p.AltitudeM,
			&p.AccuracyM, &p.Satellites, &p.OdometerKm, &p.FuelPct, &p.FuelL, &p.EngineRPM, &p.CoolantC, &p.Ignition,
			&p.DeviceAlarms, &p.Flags, &p.ReceivedAt)
		utc(&p.TS)
		utc(&p.ReceivedAt)
		return p, err
	})
	if err != nil {
		return nil, mapError(err, "position")
	}
	return out, nil
}
