package postgres_test

import (
	"context"
	"testing"

	"github.com/corridor-dev/corridor/internal/pgtest"
	"github.com/corridor-dev/corridor/pkg/postgres"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// testDB returns a fresh migrated database for one test.
func testDB(t *testing.T) *postgres.DB {
	t.Helper()
	return pgtest.New(t)
}

func ptr[T any](v T) *T { return &v }

func TestNormalizeTerminalID(t *testing.T) {
	for in, want := range map[string]string{"013800138000": "13800138000", "1": "1", " 0042 ": "42"} {
		if got, ok := postgres.NormalizeTerminalID(in); !ok || got != want {
			t.Errorf("NormalizeTerminalID(%q) = %q, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "000", "12a", "+8613800138000", "123456789012345678901"} {
		if got, ok := postgres.NormalizeTerminalID(in); ok {
			t.Errorf("NormalizeTerminalID(%q) = %q, want invalid", in, got)
		}
	}
}

func TestVehicles(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	for _, c := range []string{"acme", "beta"} {
		if _, err := db.CreateCarrier(ctx, tracking.Carrier{ID: c, Name: c}); err != nil {
			t.Fatal(err)
		}
	}
	v, err := db.CreateVehicle(ctx, tracking.Vehicle{ID: "truck-1", CarrierID: "acme", Plate: " 渝A12345 ",
		TerminalID: ptr("013800138000"), HazardClass: ptr("3"), UNNumber: ptr("")})
	if err != nil {
		t.Fatal(err)
	}
	if v.Plate != "渝A12345" || *v.TerminalID != "13800138000" || v.UNNumber != nil || *v.HazardClass != "3" {
		t.Fatalf("created %+v", v)
	}
	_, err = db.CreateVehicle(ctx, tracking.Vehicle{ID: "truck-1", CarrierID: "acme", Plate: "X"})
	wantCode(t, err, tracking.ECONFLICT)
	_, err = db.CreateVehicle(ctx, tracking.Vehicle{ID: "truck-2", CarrierID: "acme", Plate: "X", TerminalID: ptr("13800138000")})
	wantCode(t, err, tracking.ECONFLICT)
	_, err = db.CreateVehicle(ctx, tracking.Vehicle{ID: "truck-2", CarrierID: "nope", Plate: "X"})
	wantCode(t, err, tracking.EINVALID)
	if f := err.(*tracking.Error).Fields; len(f) != 1 || f[0].Field != "carrier_id" {
		t.Fatalf("fields %+v", f)
	}
	_, err = db.CreateVehicle(ctx, tracking.Vehicle{ID: "truck-2", CarrierID: "acme", Plate: "X", TerminalID: ptr("12-34")})
	wantCode(t, err, tracking.EINVALID)
	if _, err := db.CreateVehicle(ctx, tracking.Vehicle{ID: "truck-b", CarrierID: "beta", Plate: "B"}); err != nil {
		t.Fatal(err)
	}

	got, err := db.VehicleByTerminal(ctx, "0013800138000")
	if err != nil || got.ID != "truck-1" {
		t.Fatalf("by terminal: %+v %v", got, err)
	}
	if _, err := db.GetVehicle(ctx, "truck-1", "acme"); err != nil {
		t.Fatal(err)
	}
	_, err = db.GetVehicle(ctx, "truck-1", "beta")
	wantCode(t, err, tracking.ENOTFOUND)
	list, err := db.ListVehicles(ctx, "beta")
	if err != nil || len(list) != 1 || list[0].ID != "truck-b" {
		t.Fatalf("list beta: %v %v", list, err)
	}

	u, err := db.UpdateVehicle(ctx, "truck-1", "", func(v *tracking.Vehicle) error {
		v.Plate = "渝B99999"
		v.TerminalID = nil
		return nil
	})
	if err != nil || u.Plate != "渝B99999" || u.TerminalID != nil || !u.UpdatedAt.After(v.UpdatedAt) && !u.UpdatedAt.Equal(v.UpdatedAt) {
		t.Fatalf("update: %+v %v", u, err)
	}
	_, err = db.UpdateVehicle(ctx, "truck-1", "", func(v *tracking.Vehicle) error { v.CarrierID = "beta"; return nil })
	wantCode(t, err, tracking.EINVALID)
	_, err = db.UpdateVehicle(ctx, "truck-1", "beta", func(v *tracking.Vehicle) error { return nil })
	wantCode(t, err, tracking.ENOTFOUND)

	if _, err := db.UpdateVehicle(ctx, "truck-1", "", func(v *tracking.Vehicle) error { v.TerminalID = ptr("555"); return nil }); err != nil {
		t.Fatal(err)
	}
	wantCode(t, db.DeleteVehicle(ctx, "truck-1", "beta"), tracking.ENOTFOUND)
	if err := db.DeleteVehicle(ctx, "truck-1", ""); err != nil {
		t.Fatal(err)
	}
	wantCode(t, db.DeleteVehicle(ctx, "truck-1", ""), tracking.ENOTFOUND)
	_, err = db.GetVehicle(ctx, "truck-1", "")
	wantCode(t, err, tracking.ENOTFOUND)
	_, err = db.VehicleByTerminal(ctx, "555")
	wantCode(t, err, tracking.ENOTFOUND)
	// The id of a deleted vehicle stays taken; its terminal id is free again.
	_, err = db.CreateVehicle(ctx, tracking.Vehicle{ID: "truck-1", CarrierID: "acme", Plate: "X"})
	wantCode(t, err, tracking.ECONFLICT)
	if _, err := db.CreateVehicle(ctx, tracking.Vehicle{ID: "truck-3", CarrierID: "acme", Plate: "X", TerminalID: ptr("555")}); err != nil {
		t.Fatal(err)
	}
	list, _ = db.ListVehicles(ctx, "")
	if len(list) != 2 {
		t.Fatalf("list after delete: %v", list)
	}
}
