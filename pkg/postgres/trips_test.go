package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

func TestTrips(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	for _, c := range []string{"acme", "beta"} {
		if _, err := db.CreateCarrier(ctx, tracking.Carrier{ID: c, Name: c}); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []tracking.Vehicle{{ID: "v1", CarrierID: "acme", Plate: "A"}, {ID: "v2", CarrierID: "beta", Plate: "B"}} {
		if _, err := db.CreateVehicle(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	c, err := db.CreateCorridor(ctx, tracking.Corridor{Name: "c", Line: line(107, 29, 107.1, 29.1), BufferM: 100})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	trip, err := db.CreateTrip(ctx, tracking.Trip{VehicleID: "v1", CorridorID: c.ID, StartsAt: now.Add(-time.Hour), EndsAt: now.Add(time.Hour),
		Cargo: &tracking.Cargo{UNNumber: "UN1203", HazardClass: "3", Description: "petrol", QuantityKg: ptr(20000.0)}}, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if trip.CarrierID != "acme" || trip.Cargo == nil || trip.Cargo.UNNumber != "UN1203" || *trip.Cargo.QuantityKg != 20000 || !trip.StartsAt.Equal(now.Add(-time.Hour)) {
		t.Fatalf("created %+v", trip)
	}
	// Overlap, unknown or foreign vehicle, unknown corridor, bad window.
	_, err = db.CreateTrip(ctx, tracking.Trip{VehicleID: "v1", CorridorID: c.ID, StartsAt: now, EndsAt: now.Add(2 * time.Hour)}, "")
	wantCode(t, err, tracking.ECONFLICT)
	_, err = db.CreateTrip(ctx, tracking.Trip{VehicleID: "v2", CorridorID: c.ID, StartsAt: now, EndsAt: now.Add(time.Hour)}, "acme")
	wantCode(t, err, tracking.EINVALID)
	_, err = db.CreateTrip(ctx, tracking.Trip{VehicleID: "v2", CorridorID: "00000000-0000-0000-0000-000000000000", StartsAt: now, EndsAt: now.Add(time.Hour)}, "")
	wantCode(t, err, tracking.EINVALID)
	if f := err.(*tracking.Error).Fields; f[0].Field != "corridor_id" {
		t.Fatalf("fields %+v", f)
	}
	_, err = db.CreateTrip(ctx, tracking.Trip{VehicleID: "v2", CorridorID: c.ID, StartsAt: now, EndsAt: now}, "")
	wantCode(t, err, tracking.EINVALID)
	future, err := db.CreateTrip(ctx, tracking.Trip{VehicleID: "v2", CorridorID: c.ID, StartsAt: now.Add(time.Hour), EndsAt: now.Add(2 * time.Hour)}, "")
	if err != nil || future.CarrierID != "beta" || future.Cargo != nil {
		t.Fatalf("future %+v %v", future, err)
	}

	all, _ := db.ListTrips(ctx, "", "", nil)
	active, _ := db.ListTrips(ctx, "", "", ptr(true))
	inactive, _ := db.ListTrips(ctx, "", "", ptr(false))
	byVehicle, _ := db.ListTrips(ctx, "", "v2", nil)
	scoped, _ := db.ListTrips(ctx, "beta", "", nil)
	if len(all) != 2 || len(active) != 1 || active[0].ID != trip.ID || len(inactive) != 1 || len(byVehicle) != 1 || len(scoped) != 1 || scoped[0].ID != future.ID {
		t.Fatalf("lists: all=%d active=%d inactive=%d byVehicle=%d scoped=%d", len(all), len(active), len(inactive), len(byVehicle), len(scoped))
	}
	_, err = db.GetTrip(ctx, trip.ID, "beta")
	wantCode(t, err, tracking.ENOTFOUND)
	_, err = db.CancelTrip(ctx, trip.ID, "beta")
	wantCode(t, err, tracking.ENOTFOUND)
	cancelled, err := db.CancelTrip(ctx, trip.ID, "acme")
	if err != nil || cancelled.CancelledAt == nil {
		t.Fatalf("cancel %+v %v", cancelled, err)
	}
	again, err := db.CancelTrip(ctx, trip.ID, "")
	if err != nil || !again.CancelledAt.Equal(*cancelled.CancelledAt) {
		t.Fatalf("cancel again %+v %v", again, err)
	}
	// After cancelling, the window is free again.
	if _, err := db.CreateTrip(ctx, tracking.Trip{VehicleID: "v1", CorridorID: c.ID, StartsAt: now, EndsAt: now.Add(time.Hour)}, ""); err != nil {
		t.Fatal(err)
	}
	past, err := db.CreateTrip(ctx, tracking.Trip{VehicleID: "v1", CorridorID: c.ID, StartsAt: now.Add(-3 * time.Hour), EndsAt: now.Add(-2 * time.Hour)}, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.CancelTrip(ctx, past.ID, "")
	wantCode(t, err, tracking.ECONFLICT)
}
