package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/internal/pgtest"
	"github.com/corridor-dev/corridor/pkg/postgres"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

func TestRetentionDropsWholeDays(t *testing.T) {
	db := pgtest.New(t)
	seedVehicle(t, db)
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	if err := db.PrepareDays(ctx, now, 8, 2); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `select count(*) from pg_inherits i join pg_class p on p.oid = i.inhparent where p.relname = 'positions'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 11 {
		t.Fatalf("%d partitions, want 11", n)
	}
	old := tracking.StoredPosition{Position: tracking.Position{VehicleID: "v1", CarrierID: "c1", TS: now.AddDate(0, 0, -5), Lat: 29.8, Lon: 107}, ReceivedAt: now}
	recent := old
	recent.TS = now.Add(-time.Hour)
	if _, err := db.CommitBatch(ctx, &postgres.Batch{Positions: []tracking.StoredPosition{old, recent}}); err != nil {
		t.Fatal(err)
	}
	dropped, err := db.DropPartitionsBefore(ctx, now.AddDate(0, 0, -3))
	if err != nil {
		t.Fatal(err)
	}
	if len(dropped) != 5 || dropped[0] != "positions_20261119" || dropped[4] != "positions_20261123" {
		t.Fatalf("dropped %v", dropped)
	}
	if err := db.Pool.QueryRow(ctx, `select count(*) from positions`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d fixes left (%v), want the recent one", n, err)
	}
	// A fix for a dropped day recreates its partition rather than failing.
	if _, err := db.CommitBatch(ctx, &postgres.Batch{Positions: []tracking.StoredPosition{old}}); err != nil {
		t.Fatal(err)
	}
}
