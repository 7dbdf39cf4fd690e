package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twpayne/go-geom"
	"github.com/twpayne/go-geom/encoding/wkb"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// EngineVehicle is what the engine keeps of a vehicle.
type EngineVehicle struct {
	ID, CarrierID, Plate string
}

// EngineVehicles loads every vehicle that is not deleted.
func (db *DB) EngineVehicles(ctx context.Context) (map[string]EngineVehicle, error) {
	rows, err := db.Pool.Query(ctx, `select id, carrier_id, plate from vehicles where deleted_at is null`)
	if err != nil {
		return nil, err
	}
	out := map[string]EngineVehicle{}
	for rows.Next() {
		var v EngineVehicle
		if err := rows.Scan(&v.ID, &v.CarrierID, &v.Plate); err != nil {
			return nil, err
		}
		out[v.ID] = v
	}
	return out, rows.Err()
}

// EngineVehicle loads one vehicle that is not deleted (ENOTFOUND otherwise).
func (db *DB) EngineVehicle(ctx context.Context, id string) (EngineVehicle, error) {
	v := EngineVehicle{ID: id}
	err := db.Pool.QueryRow(ctx, `select carrier_id, plate from vehicles where id = $1 and deleted_at is null`, id).Scan(&v.CarrierID, &v.Plate)
	return v, mapError(err, "vehicle")
}

// CorridorGeom is a corridor as the geofence index needs it.
type CorridorGeom struct {
	ID          string
	Coords      []float64 // flat lon, lat pairs
	BufferM     float64
	MaxSpeedKmh *float64
}

// ZoneGeom is a zone as the geofence index and the rules need it.
type ZoneGeom struct {
	ID, Kind    string
	Polygons    [][][]float64 // polygons -> rings -> flat lon, lat pairs
	ActiveHours *tracking.ActiveHours
}

// EngineCorridors loads every corridor that is not deleted.
func (db *DB) EngineCorridors(ctx context.Context) ([]CorridorGeom, error) {
	rows, err := db.Pool.Query(ctx, `select id::text, ST_AsBinary(geom::geometry), buffer_m, max_speed_kmh from corridors where deleted_at is null`)
	if err != nil {
		return nil, err
	}
	var out []CorridorGeom
	for rows.Next() {
		var c CorridorGeom
		var b []byte
		if err := rows.Scan(&c.ID, &b, &c.BufferM, &c.MaxSpeedKmh); err != nil {
			return nil, err
		}
		g, err := wkb.Unmarshal(b)
		if err != nil {
			return nil, fmt.Errorf("corridor %s: %v", c.ID, err)
		}
		ls, ok := g.(*geom.LineString)
		if !ok {
			return nil, fmt.Errorf("corridor %s: not a LineString", c.ID)
		}
		c.Coords = xyFlat(ls.FlatCoords(), ls.Stride())
		out = append(out, c)
	}
	return out, rows.Err()
}

// EngineZones loads every zone that is not deleted.
func (db *DB) EngineZones(ctx context.Context) ([]ZoneGeom, error) {
	rows, err := db.Pool.Query(ctx, `select id::text, kind, ST_AsBinary(geom::geometry), to_char(active_from, 'HH24:MI'),
		to_char(active_to, 'HH24:MI') from zones where deleted_at is null`)
	if err != nil {
		return nil, err
	}
	var out []ZoneGeom
	for rows.Next() {
		var z ZoneGeom
		var b []byte
		var from, to *string
		if err := rows.Scan(&z.ID, &z.Kind, &b, &from, &to); err != nil {
			return nil, err
		}
		if from != nil && to != nil {
			z.ActiveHours = &tracking.ActiveHours{From: *from, To: *to}
		}
		g, err := wkb.Unmarshal(b)
		if err != nil {
			return nil, fmt.Errorf("zone %s: %v", z.ID, err)
		}
		switch g := g.(type) {
		case *geom.Polygon:
			z.Polygons = [][][]float64{polygonRings(g)}
		case *geom.MultiPolygon:
			for i := 0; i < g.NumPolygons(); i++ {
				z.Polygons = append(z.Polygons, polygonRings(g.Polygon(i)))
			}
		default:
			return nil, fmt.Errorf("zone %s: not a polygon", z.ID)
		}
		out = append(out, z)
	}
	return out, rows.Err()
}

func polygonRings(p *geom.Polygon) [][]float64 {
	rings := make([][]float64, 0, p.NumLinearRings())
	for i := 0; i < p.NumLinearRings(); i++ {
		r := p.LinearRing(i)
		rings = append(rings, xyFlat(r.FlatCoords(), r.Stride()))
	}
	return rings
}

func xyFlat(flat []float64, stride int) []float64 {
	if stride == 2 {
		return append([]float64(nil), flat...)
	}
	out := make([]float64, 0, len(flat)/stride*2)
	for i := 0; i+1 < len(flat); i += stride {
		out = append(out, flat[i], flat[i+1])
	}
	return out
}

// EngineTrips loads every trip that is not cancelled and ends after since, ordered by vehicle and start.
func (db *DB) EngineTrips(ctx context.Context, since time.Time) ([]tracking.Trip, error) {
	rows, err := db.Pool.Query(ctx, `select id::text, vehicle_id, carrier_id, corridor_id::text, starts_at, ends_at, cancelled_at
		from trips where cancelled_at is null and ends_at > $1 order by vehicle_id, starts_at`, since)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (tracking.Trip, error) {
		var t tracking.Trip
		err := r.Scan(&t.ID, &t.VehicleID, &t.CarrierID, &t.CorridorID, &t.StartsAt, &t.EndsAt, &t.CancelledAt)
		return t, err
	})
}

// StoredVehicleState is a vehicle_state row.
type StoredVehicleState struct {
	VehicleID string
	Rules     json.RawMessage
	Live      *tracking.VehicleState
}

// VehicleStates loads the engine's committed state of every vehicle (or of the given ones).
func (db *DB) VehicleStates(ctx context.Context, ids []string) ([]StoredVehicleState, error) {
	q := `select vehicle_id, rules::text, live::text from vehicle_state`
	var args []any
	if ids != nil {
		q += ` where vehicle_id = any($1)`
		args = append(args, ids)
	}
	rows, err := db.Pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	var out []StoredVehicleState
	for rows.Next() {
		var s StoredVehicleState
		var rules string
		var live *string
		if err := rows.Scan(&s.VehicleID, &rules, &live); err != nil {
			return nil, err
		}
		s.Rules = json.RawMessage(rules)
		if live != nil {
			var l tracking.VehicleState
			if err := json.Unmarshal([]byte(*live), &l); err == nil {
				s.Live = &l
			}
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// ChangeSeqs returns the change counter of each watched table (corridors, zones, trips, vehicles).
func (db *DB) ChangeSeqs(ctx context.Context) (map[string]int64, error) {
	rows, err := db.Pool.Query(ctx, `select table_name, seq from change_seq`)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, 4)
	for rows.Next() {
		var t string
		var n int64
		if err := rows.Scan(&t, &n); err != nil {
			return nil, err
		}
		out[t] = n
	}
	return out, rows.Err()
}

// Setting returns the stored value of key, storing def first if the key has none (so that every
// process sharing the database agrees on it).
func (db *DB) Setting(ctx context.Context, key, def string) (string, error) {
	var v string
	err := db.Pool.QueryRow(ctx, `with ins as (insert into settings (key, value) values ($1, $2) on conflict (key) do nothing returning value)
		select value from ins union all select value from settings where key = $1 limit 1`, key, def).Scan(&v)
	return v, err
}
