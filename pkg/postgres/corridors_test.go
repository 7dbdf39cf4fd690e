package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/twpayne/go-geom"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

func line(coords ...float64) *geom.LineString {
	return geom.NewLineStringFlat(geom.XY, coords).SetSRID(4326)
}

func TestCorridors(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	c, err := db.CreateCorridor(ctx, tracking.Corridor{Name: "G50", Line: line(107.0, 29.8, 107.1, 29.85, 107.2, 29.9),
		BufferM: 200, MaxSpeedKmh: ptr(60.0)})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.ID) != 36 || c.Line.NumCoords() != 3 || c.Line.Coord(1)[0] != 107.1 || c.Line.Coord(1)[1] != 29.85 || *c.MaxSpeedKmh != 60 {
		t.Fatalf("created %+v %v", c, c.Line.FlatCoords())
	}
	_, err = db.CreateCorridor(ctx, tracking.Corridor{Name: "wide", Line: line(107, 29, 108, 30), BufferM: 6000})
	wantCode(t, err, tracking.EINVALID)

	got, err := db.GetCorridor(ctx, c.ID)
	if err != nil || got.Name != "G50" {
		t.Fatalf("get: %+v %v", got, err)
	}
	_, err = db.GetCorridor(ctx, "not-a-uuid")
	wantCode(t, err, tracking.ENOTFOUND)
	_, err = db.GetCorridor(ctx, "00000000-0000-0000-0000-000000000000")
	wantCode(t, err, tracking.ENOTFOUND)

	c.Name = "G50 east"
	c.Line = line(107.0, 29.8, 107.3, 29.9)
	c.MaxSpeedKmh = nil
	r, err := db.ReplaceCorridor(ctx, c)
	if err != nil || r.Name != "G50 east" || r.Line.NumCoords() != 2 || r.MaxSpeedKmh != nil {
		t.Fatalf("replace: %+v %v", r, err)
	}

	// A corridor in use by a current trip cannot be deleted.
	if _, err := db.CreateCarrier(ctx, tracking.Carrier{ID: "acme", Name: "ACME"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateVehicle(ctx, tracking.Vehicle{ID: "v1", CarrierID: "acme", Plate: "P"}); err != nil {
		t.Fatal(err)
	}
	trip, err := db.CreateTrip(ctx, tracking.Trip{VehicleID: "v1", CorridorID: c.ID,
		StartsAt: time.Now().Add(-time.Hour), EndsAt: time.Now().Add(time.Hour)}, "")
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, db.DeleteCorridor(ctx, c.ID), tracking.ECONFLICT)
	if _, err := db.CancelTrip(ctx, trip.ID, ""); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteCorridor(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, db.DeleteCorridor(ctx, c.ID), tracking.ENOTFOUND)
	_, err = db.GetCorridor(ctx, c.ID)
	wantCode(t, err, tracking.ENOTFOUND)
	_, err = db.ReplaceCorridor(ctx, c)
	wantCode(t, err, tracking.ENOTFOUND)
	list, err := db.ListCorridors(ctx)
	if err != nil || len(list) != 0 {
		t.Fatalf("list: %v %v", list, err)
	}
}
