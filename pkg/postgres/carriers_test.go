package postgres_test

import (
	"context"
	"testing"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// wantCode fails the test unless err carries the tracking error code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := tracking.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func TestCarriers(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	c, err := db.CreateCarrier(ctx, tracking.Carrier{ID: "acme", Name: "ACME Haulage"})
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != "acme" || c.Name != "ACME Haulage" || c.CreatedAt.IsZero() {
		t.Fatalf("created %+v", c)
	}
	_, err = db.CreateCarrier(ctx, tracking.Carrier{ID: "acme", Name: "again"})
	wantCode(t, err, tracking.ECONFLICT)
	_, err = db.CreateCarrier(ctx, tracking.Carrier{ID: "bad id", Name: ""})
	wantCode(t, err, tracking.EINVALID)
	if e := err.(*tracking.Error); len(e.Fields) != 2 {
		t.Fatalf("fields %+v", e.Fields)
	}
	if _, err := db.CreateCarrier(ctx, tracking.Carrier{ID: "beta", Name: "Beta"}); err != nil {
		t.Fatal(err)
	}
	all, err := db.ListCarriers(ctx, "")
	if err != nil || len(all) != 2 {
		t.Fatalf("list all: %v %v", all, err)
	}
	own, err := db.ListCarriers(ctx, "beta")
	if err != nil || len(own) != 1 || own[0].ID != "beta" {
		t.Fatalf("list own: %v %v", own, err)
	}
	if _, err := db.GetCarrier(ctx, "acme", ""); err != nil {
		t.Fatal(err)
	}
	_, err = db.GetCarrier(ctx, "acme", "beta")
	wantCode(t, err, tracking.ENOTFOUND)
	_, err = db.GetCarrier(ctx, "nope", "")
	wantCode(t, err, tracking.ENOTFOUND)
}
