package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/httpapi"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

func TestCarriersAndVehicles(t *testing.T) {
	e := newEnv(t)
	r := e.do("POST", "/v1/carriers", roleAdmin, map[string]any{"id": "gamma", "name": "Gamma Logistics"})
	wantStatus(t, r, http.StatusCreated)
	if r.Header.Get("Location") != "/v1/carriers/gamma" {
		t.Fatalf("Location %q", r.Header.Get("Location"))
	}
	p := e.do("POST", "/v1/carriers", roleAdmin, map[string]any{"id": "gamma", "name": "again"}).problem(t)
	if p.Status != http.StatusConflict {
		t.Fatalf("duplicate carrier: %+v", p)
	}
	var cs []tracking.Carrier
	e.do("GET", "/v1/carriers", roleCarrier, nil).decode(t, &cs)
	if len(cs) != 1 || cs[0].ID != "acme" {
		t.Fatalf("carrier sees %+v", cs)
	}

	var v tracking.Vehicle
	r = e.do("POST", "/v1/vehicles", roleAdmin, map[string]any{"id": "g1", "carrier_id": "gamma", "plate": "渝C00001",
		"terminal_id": "0013912345678", "hazard_class": "2.1", "un_number": "UN1075", "unknown_field": true})
	wantStatus(t, r, http.StatusCreated)
	r.decode(t, &v)
	if v.TerminalID == nil || *v.TerminalID != "13912345678" || v.CarrierID != "gamma" {
		t.Fatalf("vehicle %+v", v)
	}
	// 409 for the same id and for the same terminal id (in another spelling).
	p = e.do("POST", "/v1/vehicles", roleAdmin, map[string]any{"id": "g1", "carrier_id": "gamma", "plate": "X"}).problem(t)
	if p.Status != http.StatusConflict {
		t.Fatalf("duplicate id: %+v", p)
	}
	p = e.do("POST", "/v1/vehicles", roleAdmin, map[string]any{"id": "g2", "carrier_id": "gamma", "plate": "X", "terminal_id": "13912345678"}).problem(t)
	if p.Status != http.StatusConflict || !strings.Contains(p.Detail, "terminal_id") {
		t.Fatalf("duplicate terminal: %+v", p)
	}
	// 400 naming fields.
	p = e.do("POST", "/v1/vehicles", roleAdmin, map[string]any{"id": "bad id!", "carrier_id": "nope", "plate": "", "terminal_id": "12ab"}).problem(t)
	if p.Status != http.StatusBadRequest || !hasFields(p, "id", "plate", "terminal_id") {
		t.Fatalf("bad vehicle: %+v", p)
	}
	p = e.do("POST", "/v1/vehicles", roleAdmin, map[string]any{"id": "g3", "carrier_id": "nope", "plate": "X"}).problem(t)
	if !hasFields(p, "carrier_id") {
		t.Fatalf("unknown carrier: %+v", p)
	}
	p = e.do("POST", "/v1/vehicles", roleAdmin, `{"id": "g3", "carrier_id": "gamma", "plate": 5}`).problem(t)
	if p.Status != http.StatusBadRequest || !hasFields(p, "plate") {
		t.Fatalf("type error: %+v", p)
	}
	p = e.do("POST", "/v1/vehicles", roleAdmin, `{"id": "g3", `).problem(t)
	if p.Status != http.StatusBadRequest || !hasFields(p, "body") {
		t.Fatalf("malformed: %+v", p)
	}

	// PATCH: merge patch; null clears; id/carrier cannot change.
	r = e.do("PATCH", "/v1/vehicles/g1", roleAdmin, map[string]any{"plate": "渝C99999", "un_number": nil, "created_at": "ignored"})
	wantStatus(t, r, http.StatusOK)
	r.decode(t, &v)
	if v.Plate != "渝C99999" || v.UNNumber != nil || v.HazardClass == nil || *v.HazardClass != "2.1" {
		t.Fatalf("patched %+v", v)
	}
	p = e.do("PATCH", "/v1/vehicles/g1", roleAdmin, map[string]any{"carrier_id": "acme"}).problem(t)
	if !hasFields(p, "carrier_id") {
		t.Fatalf("carrier change: %+v", p)
	}
	p = e.do("PATCH", "/v1/vehicles/g1", roleAdmin, map[string]any{"terminal_id": "13800000001"}).problem(t)
	if p.Status != http.StatusConflict {
		t.Fatalf("terminal taken: %+v", p)
	}
	wantStatus(t, e.do("PATCH", "/v1/vehicles/zz", roleAdmin, map[string]any{"plate": "X"}), http.StatusNotFound)

	// DELETE hides the vehicle, keeps its id taken, frees its terminal id.
	wantStatus(t, e.do("DELETE", "/v1/vehicles/g1", roleAdmin, nil), http.StatusNoContent)
	wantStatus(t, e.do("GET", "/v1/vehicles/g1", roleAdmin, nil), http.StatusNotFound)
	wantStatus(t, e.do("DELETE", "/v1/vehicles/g1", roleAdmin, nil), http.StatusNotFound)
	wantStatus(t, e.do("POST", "/v1/vehicles", roleAdmin, map[string]any{"id": "g1", "carrier_id": "gamma", "plate": "X"}), http.StatusConflict)
	wantStatus(t, e.do("POST", "/v1/vehicles", roleAdmin, map[string]any{"id": "g4", "carrier_id": "gamma", "plate": "X", "terminal_id": "13912345678"}), http.StatusCreated)

	var vs []tracking.Vehicle
	e.do("GET", "/v1/vehicles", roleOther, nil).decode(t, &vs)
	if len(vs) != 1 || vs[0].ID != "b1" {
		t.Fatalf("other carrier sees %+v", vs)
	}
}

// hasFields reports whether the problem names every field.
func hasFields(p httpapi.Problem, names ...string) bool { return problemHas(p.Errors, names...) }

func TestCorridorsAndZones(t *testing.T) {
	e := newEnv(t)
	var f struct {
		Type     string
		ID       string
		Geometry struct {
			Type        string
			Coordinates [][]float64
		}
		Properties struct {
			Name        string
			BufferM     float64  `json:"buffer_m"`
			MaxSpeedKmh *float64 `json:"max_speed_kmh"`
		}
	}
	body := corridorBody()
	body["properties"].(map[string]any)["max_speed_kmh"] = 60
	r := e.do("POST", "/v1/corridors", roleAdmin, body)
	wantStatus(t, r, http.StatusCreated)
	if ct := r.Header.Get("Content-Type"); ct != "application/geo+json" {
		t.Fatalf("Content-Type %q", ct)
	}
	r.decode(t, &f)
	if f.Type != "Feature" || f.ID == "" || f.Geometry.Type != "LineString" || len(f.Geometry.Coordinates) != 2 ||
		f.Geometry.Coordinates[1][0] != 107.2 || f.Geometry.Coordinates[1][1] != 29.9 || f.Properties.BufferM != 150 || *f.Properties.MaxSpeedKmh != 60 {
		t.Fatalf("corridor %+v", f)
	}
	id := f.ID
	body["geometry"] = map[string]any{"type": "LineString", "coordinates": [][]float64{{107.0, 29.8, 250}, {107.1, 29.8}, {107.3, 29.95}}}
	body["properties"] = map[string]any{"name": "S103 v2", "buffer_m": 300}
	r = e.do("PUT", "/v1/corridors/"+id, roleAdmin, body)
	wantStatus(t, r, http.StatusOK)
	r.decode(t, &f)
	if len(f.Geometry.Coordinates) != 3 || f.Properties.Name != "S103 v2" || f.Properties.MaxSpeedKmh != nil {
		t.Fatalf("replaced %+v", f)
	}
	var fc struct {
		Type     string
		Features []struct{ ID string }
	}
	e.do("GET", "/v1/corridors", roleCarrier, nil).decode(t, &fc)
	if fc.Type != "FeatureCollection" || len(fc.Features) != 2 {
		t.Fatalf("list %+v", fc)
	}
	wantStatus(t, e.do("GET", "/v1/corridors/not-a-uuid", roleAdmin, nil), http.StatusNotFound)
	wantStatus(t, e.do("PUT", "/v1/corridors/00000000-0000-0000-0000-000000000000", roleAdmin, body), http.StatusNotFound)
	// The fixture corridor carries active trips: 409.
	wantStatus(t, e.do("DELETE", "/v1/corridors/"+e.corridorID, roleAdmin, nil), http.StatusConflict)
	wantStatus(t, e.do("DELETE", "/v1/corridors/"+id, roleAdmin, nil), http.StatusNoContent)
	wantStatus(t, e.do("GET", "/v1/corridors/"+id, roleAdmin, nil), http.StatusNotFound)

	// Geometry and property validation.
	for _, tc := range []struct {
		name   string
		body   any
		fields []string
	}{
		{"one point", map[string]any{"type": "Feature", "geometry": map[string]any{"type": "LineString", "coordinates": [][]float64{{107, 29}, {107, 29}}},
			"properties": map[string]any{"name": "x", "buffer_m": 10}}, []string{"geometry.coordinates"}},
		{"latitude", map[string]any{"type": "Feature", "geometry": map[string]any{"type": "LineString", "coordinates": [][]float64{{107, 29}, {107, 91}}},
			"properties": map[string]any{"name": "x", "buffer_m": 10}}, []string{"geometry.coordinates[1]"}},
		{"buffer", map[string]any{"type": "Feature", "geometry": map[string]any{"type": "LineString", "coordinates": [][]float64{{107, 29}, {108, 29}}},
			"properties": map[string]any{"name": "", "buffer_m": 5001, "max_speed_kmh": 0}}, []string{"properties.name", "properties.buffer_m", "properties.max_speed_kmh"}},
		{"type", map[string]any{"type": "Polygon", "geometry": map[string]any{"type": "Point", "coordinates": []float64{107, 29}},
			"properties": map[string]any{"name": "x", "buffer_m": 10}}, []string{"type", "geometry.type"}},
		{"missing", map[string]any{"type": "Feature"}, []string{"geometry", "properties"}},
		{"buffer type", map[string]any{"type": "Feature", "geometry": map[string]any{"type": "LineString", "coordinates": [][]float64{{107, 29}, {108, 29}}},
			"properties": map[string]any{"name": "x", "buffer_m": "200"}}, []string{"properties.buffer_m"}},
	} {
		p := e.do("POST", "/v1/corridors", roleAdmin, tc.body).problem(t)
		if p.Status != http.StatusBadRequest || !problemHas(p.Errors, tc.fields...) {
			t.Errorf("%s: %+v", tc.name, p)
		}
	}

	// Zones: MultiPolygon with active hours spanning midnight.
	zone := map[string]any{"type": "Feature",
		"geometry": map[string]any{"type": "MultiPolygon", "coordinates": [][][][]float64{
			{{{107, 29}, {107.1, 29}, {107.1, 29.1}, {107, 29}}},
			{{{108, 29}, {108.1, 29}, {108.1, 29.1}, {108, 29}}, {{108.05, 29.01}, {108.08, 29.01}, {108.08, 29.03}, {108.05, 29.01}}},
		}},
		"properties": map[string]any{"name": "schools", "kind": "restricted", "active_hours": map[string]string{"from": "22:00", "to": "06:00"}}}
	var z struct {
		ID         string
		Geometry   struct{ Type string }
		Properties struct {
			Kind        string
			ActiveHours *tracking.ActiveHours `json:"active_hours"`
		}
	}
	r = e.do("POST", "/v1/zones", roleAdmin, zone)
	wantStatus(t, r, http.StatusCreated)
	r.decode(t, &z)
	if z.Geometry.Type != "MultiPolygon" || z.Properties.Kind != "restricted" || z.Properties.ActiveHours == nil || z.Properties.ActiveHours.From != "22:00" {
		t.Fatalf("zone %+v", z)
	}
	zone["properties"] = map[string]any{"name": "schools", "kind": "parking"}
	r = e.do("PUT", "/v1/zones/"+z.ID, roleAdmin, zone)
	wantStatus(t, r, http.StatusOK)
	r.decode(t, &z)
	if z.Properties.Kind != "parking" || z.Properties.ActiveHours != nil {
		t.Fatalf("replaced zone %+v", z)
	}
	for _, tc := range []struct {
		name   string
		geom   any
		props  any
		fields []string
	}{
		{"open ring", map[string]any{"type": "Polygon", "coordinates": [][][]float64{{{107, 29}, {107.1, 29}, {107.1, 29.1}, {107, 29.1}}}},
			map[string]any{"name": "x", "kind": "parking"}, []string{"geometry.coordinates[0]"}},
		{"short ring", map[string]any{"type": "Polygon", "coordinates": [][][]float64{{{107, 29}, {107.1, 29}, {107, 29}}}},
			map[string]any{"name": "x", "kind": "parking"}, []string{"geometry.coordinates[0]"}},
		{"kind and hours", map[string]any{"type": "Polygon", "coordinates": [][][]float64{{{107, 29}, {107.1, 29}, {107.1, 29.1}, {107, 29}}}},
			map[string]any{"name": "x", "kind": "school", "active_hours": map[string]string{"from": "24:00", "to": "7:00"}},
			[]string{"properties.kind", "properties.active_hours.from", "properties.active_hours.to"}},
		{"line", map[string]any{"type": "LineString", "coordinates": [][]float64{{107, 29}, {108, 29}}},
			map[string]any{"name": "x", "kind": "parking"}, []string{"geometry.type"}},
	} {
		p := e.do("POST", "/v1/zones", roleAdmin, map[string]any{"type": "Feature", "geometry": tc.geom, "properties": tc.props}).problem(t)
		if p.Status != http.StatusBadRequest || !problemHas(p.Errors, tc.fields...) {
			t.Errorf("%s: %+v", tc.name, p)
		}
	}
	wantStatus(t, e.do("DELETE", "/v1/zones/"+z.ID, roleAdmin, nil), http.StatusNoContent)
	wantStatus(t, e.do("GET", "/v1/zones/"+z.ID, roleAdmin, nil), http.StatusNotFound)
}

// problemHas reports whether errs names every field.
func problemHas(errs []tracking.FieldError, fields ...string) bool {
	for _, f := range fields {
		found := false
		for _, e := range errs {
			if e.Field == f {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func TestTrips(t *testing.T) {
	e := newEnv(t)
	start := e.now.Add(48 * time.Hour)
	body := map[string]any{"vehicle_id": "a1", "corridor_id": e.corridorID, "starts_at": start.Format(time.RFC3339),
		"ends_at": start.Add(4 * time.Hour).Format(time.RFC3339),
		"cargo":   map[string]any{"un_number": "UN1203", "hazard_class": "3", "description": "gasoline", "quantity_kg": 18000}}
	var trip tracking.Trip
	r := e.do("POST", "/v1/trips", roleCarrier, body)
	wantStatus(t, r, http.StatusCreated)
	r.decode(t, &trip)
	if trip.CarrierID != "acme" || trip.Cargo == nil || trip.Cargo.UNNumber != "UN1203" || !trip.StartsAt.Equal(start) {
		t.Fatalf("trip %+v", trip)
	}
	p := e.do("POST", "/v1/trips", roleDispatcher, body).problem(t)
	if p.Status != http.StatusConflict {
		t.Fatalf("overlap: %+v", p)
	}
	p = e.do("POST", "/v1/trips", roleAdmin, map[string]any{"vehicle_id": "a1", "starts_at": "tomorrow", "ends_at": start.Format(time.RFC3339)}).problem(t)
	if !problemHas(p.Errors, "corridor_id", "starts_at") {
		t.Fatalf("bad trip: %+v", p)
	}
	p = e.do("POST", "/v1/trips", roleAdmin, map[string]any{"vehicle_id": "nope", "corridor_id": e.corridorID,
		"starts_at": start.Format(time.RFC3339), "ends_at": start.Add(-time.Hour).Format(time.RFC3339)}).problem(t)
	if !problemHas(p.Errors, "ends_at") {
		t.Fatalf("bad window: %+v", p)
	}
	p = e.do("POST", "/v1/trips", roleOther, body).problem(t)
	if p.Status != http.StatusBadRequest || !problemHas(p.Errors, "vehicle_id") {
		t.Fatalf("foreign vehicle: %+v", p)
	}

	var trips []tracking.Trip
	e.do("GET", "/v1/trips?vehicle_id=a1&active=true", roleAdmin, nil).decode(t, &trips)
	if len(trips) != 1 || trips[0].ID != e.tripA {
		t.Fatalf("active trips %+v", trips)
	}
	e.do("GET", "/v1/trips?active=false", roleCarrier, nil).decode(t, &trips)
	if len(trips) != 1 || trips[0].ID != trip.ID {
		t.Fatalf("inactive acme trips %+v", trips)
	}
	wantStatus(t, e.do("GET", "/v1/trips?active=maybe", roleAdmin, nil), http.StatusBadRequest)
	wantStatus(t, e.do("GET", "/v1/trips/"+e.tripB, roleCarrier, nil), http.StatusNotFound)

	r = e.do("POST", "/v1/trips/"+trip.ID+"/cancel", roleDispatcher, nil)
	wantStatus(t, r, http.StatusOK)
	r.decode(t, &trip)
	if trip.CancelledAt == nil {
		t.Fatalf("not cancelled: %+v", trip)
	}
	wantStatus(t, e.do("POST", "/v1/trips/"+trip.ID+"/cancel", roleAdmin, nil), http.StatusOK)
	wantStatus(t, e.do("POST", "/v1/trips", roleCarrier, body), http.StatusCreated)
}

func TestTrackAndLive(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		ts := e.now.Add(-time.Duration(3-i) * time.Hour)
		if _, err := e.db.Pool.Exec(ctx, `select positions_partition($1)`, ts); err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.Pool.Exec(ctx, `insert into positions (vehicle_id, carrier_id, ts, lat, lon, speed_kmh) values ('a1', 'acme', $1, 29.8, $2, 40)`,
			ts, 107+float64(i)/100); err != nil {
			t.Fatal(err)
		}
	}
	old := e.now.Add(-30 * time.Hour)
	if _, err := e.db.Pool.Exec(ctx, `select positions_partition($1)`, old); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Pool.Exec(ctx, `insert into positions (vehicle_id, carrier_id, ts, lat, lon) values ('a1', 'acme', $1, 29.7, 106.9)`, old); err != nil {
		t.Fatal(err)
	}
	var fc struct {
		Type     string
		Features []struct {
			Geometry struct {
				Type        string
				Coordinates []float64
			}
			Properties tracking.StoredPosition
		}
	}
	e.do("GET", "/v1/vehicles/a1/track", roleCarrier, nil).decode(t, &fc)
	if fc.Type != "FeatureCollection" || len(fc.Features) != 3 || fc.Features[0].Geometry.Type != "Point" ||
		fc.Features[0].Geometry.Coordinates[0] != 107 || fc.Features[2].Properties.Lon != 107.02 || *fc.Features[0].Properties.SpeedKmh != 40 {
		t.Fatalf("track %+v", fc)
	}
	from := e.now.Add(-48 * time.Hour).Format(time.RFC3339)
	e.do("GET", "/v1/vehicles/a1/track?limit=2&from="+from, roleAdmin, nil).decode(t, &fc)
	if len(fc.Features) != 2 || fc.Features[0].Properties.Lon != 106.9 {
		t.Fatalf("track from %s: %+v", from, fc)
	}
	p := e.do("GET", "/v1/vehicles/a1/track?limit=0&to=yesterday", roleAdmin, nil).problem(t)
	if !problemHas(p.Errors, "limit", "to") {
		t.Fatalf("bad track query: %+v", p)
	}
	wantStatus(t, e.do("GET", "/v1/vehicles/b1/track", roleCarrier, nil), http.StatusNotFound)

	var live struct {
		Features []struct {
			ID         string
			Properties tracking.VehicleState
		}
	}
	e.do("GET", "/v1/positions/live", roleAdmin, nil).decode(t, &live)
	if len(live.Features) != 2 {
		t.Fatalf("live %+v", live)
	}
	e.do("GET", "/v1/positions/live", roleCarrier, nil).decode(t, &live)
	if len(live.Features) != 1 || live.Features[0].ID != "a1" || live.Features[0].Properties.Status != tracking.StatusOnRoute {
		t.Fatalf("carrier live %+v", live)
	}
	e.do("GET", "/v1/positions/live?carrier_id=beta", roleCarrier, nil).decode(t, &live)
	if len(live.Features) != 0 {
		t.Fatalf("carrier asking for beta: %+v", live)
	}
	e.do("GET", "/v1/positions/live?bbox=108,30,109,31", roleAdmin, nil).decode(t, &live)
	if len(live.Features) != 1 || live.Features[0].ID != "b1" {
		t.Fatalf("bbox %+v", live)
	}
	e.do("GET", "/v1/positions/live?status=on_route,offline&carrier_id=acme", roleSafety, nil).decode(t, &live)
	if len(live.Features) != 1 || live.Features[0].ID != "a1" {
		t.Fatalf("status %+v", live)
	}
	p = e.do("GET", "/v1/positions/live?bbox=1,2,3&status=lost", roleAdmin, nil).problem(t)
	if !problemHas(p.Errors, "bbox") {
		t.Fatalf("bad live query: %+v", p)
	}
	p = e.do("GET", "/v1/positions/live?status=lost", roleAdmin, nil).problem(t)
	if !problemHas(p.Errors, "status") {
		t.Fatalf("bad status: %+v", p)
	}
	// A deleted vehicle leaves the live view.
	wantStatus(t, e.do("DELETE", "/v1/vehicles/b1", roleAdmin, nil), http.StatusNoContent)
	e.do("GET", "/v1/positions/live", roleAdmin, nil).decode(t, &live)
	if len(live.Features) != 1 || live.Features[0].ID != "a1" {
		t.Fatalf("live after delete %+v", live)
	}
}

func TestAlarms(t *testing.T) {
	e := newEnv(t)
	var page struct {
		Alarms     []tracking.Alarm
		NextCursor *string `json:"next_cursor"`
	}
	e.do("GET", "/v1/alarms", roleAdmin, nil).decode(t, &page)
	if len(page.Alarms) != 2 || page.Alarms[0].ID != e.alarmA || page.NextCursor != nil {
		t.Fatalf("page %+v", page)
	}
	e.do("GET", "/v1/alarms?limit=1", roleAdmin, nil).decode(t, &page)
	if len(page.Alarms) != 1 || page.NextCursor == nil {
		t.Fatalf("first page %+v", page)
	}
	e.do("GET", "/v1/alarms?limit=1&cursor="+*page.NextCursor, roleAdmin, nil).decode(t, &page)
	if len(page.Alarms) != 1 || page.Alarms[0].ID != e.alarmB {
		t.Fatalf("second page %+v", page)
	}
	e.do("GET", "/v1/alarms", roleCarrier, nil).decode(t, &page)
	if len(page.Alarms) != 1 || page.Alarms[0].CarrierID != "acme" {
		t.Fatalf("carrier alarms %+v", page)
	}
	e.do("GET", "/v1/alarms?carrier_id=acme", roleOther, nil).decode(t, &page)
	if len(page.Alarms) != 0 {
		t.Fatalf("other asking for acme %+v", page)
	}
	e.do("GET", "/v1/alarms?state=open&kind=route_deviation&vehicle_id=b1&active=true&since="+e.now.Add(-time.Hour).Format(time.RFC3339), roleSafety, nil).decode(t, &page)
	if len(page.Alarms) != 1 || page.Alarms[0].ID != e.alarmB {
		t.Fatalf("filtered %+v", page)
	}
	p := e.do("GET", "/v1/alarms?state=closed&kind=speeding&active=yes&limit=5000&since=now", roleAdmin, nil).problem(t)
	if !problemHas(p.Errors, "state", "kind", "active", "limit", "since") {
		t.Fatalf("bad filters %+v", p)
	}
	p = e.do("GET", "/v1/alarms?cursor=garbage", roleAdmin, nil).problem(t)
	if !problemHas(p.Errors, "cursor") {
		t.Fatalf("bad cursor %+v", p)
	}
	wantStatus(t, e.do("GET", "/v1/alarms/"+e.alarmB, roleCarrier, nil), http.StatusNotFound)
	wantStatus(t, e.do("GET", "/v1/alarms/nope", roleAdmin, nil), http.StatusNotFound)

	var a tracking.Alarm
	r := e.do("POST", "/v1/alarms/"+e.alarmA+"/ack", roleSafety, nil)
	wantStatus(t, r, http.StatusOK)
	r.decode(t, &a)
	if a.State != tracking.StateAcknowledged || a.AcknowledgedBy == nil || *a.AcknowledgedBy != "safety key" || a.AcknowledgedAt == nil ||
		a.AcknowledgedByKeyID == nil || *a.AcknowledgedByKeyID == "" || *a.AcknowledgedByKeyID == "safety key" {
		t.Fatalf("acked %+v", a)
	}
	p = e.do("POST", "/v1/alarms/"+e.alarmA+"/resolve", roleSafety, map[string]any{"note": "  "}).problem(t)
	if p.Status != http.StatusBadRequest || !problemHas(p.Errors, "note") {
		t.Fatalf("resolve without note %+v", p)
	}
	p = e.do("POST", "/v1/alarms/"+e.alarmA+"/resolve", roleSafety, nil).problem(t)
	if !problemHas(p.Errors, "note") {
		t.Fatalf("resolve with no body %+v", p)
	}
	// The disposal is required and must be one of the four; both bad fields are named at once.
	p = e.do("POST", "/v1/alarms/"+e.alarmA+"/resolve", roleSafety, map[string]any{"note": "driver back on route"}).problem(t)
	if p.Status != http.StatusBadRequest || !problemHas(p.Errors, "disposal") {
		t.Fatalf("resolve without disposal %+v", p)
	}
	p = e.do("POST", "/v1/alarms/"+e.alarmA+"/resolve", roleSafety, map[string]any{"note": "", "disposal": "ignored"}).problem(t)
	if p.Status != http.StatusBadRequest || !problemHas(p.Errors, "disposal") || !problemHas(p.Errors, "note") {
		t.Fatalf("resolve with a bad disposal %+v", p)
	}
	r = e.do("POST", "/v1/alarms/"+e.alarmA+"/resolve", roleAdmin, map[string]any{"note": "driver back on route", "disposal": "false_alarm"})
	wantStatus(t, r, http.StatusOK)
	r.decode(t, &a)
	if a.State != tracking.StateResolved || a.ResolvedBy == nil || *a.ResolvedBy != "admin" || a.Note == nil || *a.Note != "driver back on route" ||
		a.ResolvedByKeyID == nil || *a.ResolvedByKeyID != httpapi.AdminKeyID ||
		a.Disposal == nil || *a.Disposal != tracking.DisposalFalseAlarm {
		t.Fatalf("resolved %+v", a)
	}
	r = e.do("GET", "/v1/alarms/"+e.alarmA, roleCarrier, nil)
	wantStatus(t, r, http.StatusOK)
	if r.decode(t, &a); a.Disposal == nil || *a.Disposal != tracking.DisposalFalseAlarm {
		t.Fatalf("stored disposal %+v", a)
	}
	p = e.do("POST", "/v1/alarms/"+e.alarmA+"/ack", roleSafety, map[string]any{"note": "late"}).problem(t)
	if p.Status != http.StatusConflict {
		t.Fatalf("ack resolved %+v", p)
	}
}
