package postgres_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// A registration is made once, refused while it holds, and taken over once its vehicle is
// deleted or its terminal id moved; RegisteredTerminal follows the same rule.
func TestTerminalRegistration(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	if _, err := db.CreateCarrier(ctx, tracking.Carrier{ID: "acme", Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	for _, v := range []tracking.Vehicle{{ID: "v1", CarrierID: "acme", Plate: "A", TerminalID: ptr("013800138000")},
		{ID: "v2", CarrierID: "acme", Plate: "B"}} {
		if _, err := db.CreateVehicle(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	h1, h2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	if _, err := db.RegisterTerminal(ctx, "555", h1); tracking.ErrorCode(err) != tracking.ENOTFOUND {
		t.Fatalf("unknown terminal: %v", err)
	}
	v, err := db.RegisterTerminal(ctx, "013800138000", h1)
	if err != nil || v.ID != "v1" {
		t.Fatalf("register: %+v %v", v, err)
	}
	if _, err := db.RegisterTerminal(ctx, "13800138000", h2); tracking.ErrorCode(err) != tracking.ECONFLICT {
		t.Fatalf("second registration: %v", err)
	}
	v, hash, err := db.RegisteredTerminal(ctx, "013800138000")
	if err != nil || v.ID != "v1" || !bytes.Equal(hash, h1) {
		t.Fatalf("registered: %+v %x %v", v, hash, err)
	}
	// The terminal id moves to v2: v1's registration no longer holds; v2's terminal registers anew.
	if _, err := db.UpdateVehicle(ctx, "v1", "", func(v *tracking.Vehicle) error { v.TerminalID = nil; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateVehicle(ctx, "v2", "", func(v *tracking.Vehicle) error { v.TerminalID = ptr("13800138000"); return nil }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.RegisteredTerminal(ctx, "13800138000"); tracking.ErrorCode(err) != tracking.ENOTFOUND {
		t.Fatalf("after the move: %v", err)
	}
	if v, err := db.RegisterTerminal(ctx, "13800138000", h2); err != nil || v.ID != "v2" {
		t.Fatalf("register after the move: %+v %v", v, err)
	}
	// Deleted vehicle: the registration no longer holds.
	if err := db.DeleteVehicle(ctx, "v2", ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.RegisteredTerminal(ctx, "13800138000"); tracking.ErrorCode(err) != tracking.ENOTFOUND {
		t.Fatalf("after delete: %v", err)
	}
	// Reset: a carrier outside the scope sees no vehicle; the admin removes the registration.
	if _, err := db.UpdateVehicle(ctx, "v1", "", func(v *tracking.Vehicle) error { v.TerminalID = ptr("13800138000"); return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RegisterTerminal(ctx, "13800138000", h1); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ResetTerminal(ctx, "v1", "beta"); tracking.ErrorCode(err) != tracking.ENOTFOUND {
		t.Fatalf("reset outside scope: %v", err)
	}
	if removed, err := db.ResetTerminal(ctx, "v1", ""); err != nil || !removed {
		t.Fatalf("reset: %v %v", removed, err)
	}
	if removed, err := db.ResetTerminal(ctx, "v1", ""); err != nil || removed {
		t.Fatalf("second reset: %v %v", removed, err)
	}
	if _, err := db.RegisterTerminal(ctx, "13800138000", h2); err != nil {
		t.Fatalf("register after reset: %v", err)
	}
}
