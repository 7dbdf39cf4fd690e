package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/internal/pgtest"
	"github.com/corridor-dev/corridor/pkg/postgres"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// Leases: all keys or none; members counted; a write fenced by a lease that was lost (another
// engine took its keys) is rolled back, so it cannot overwrite what the new holder restored.
func TestLeasesAndFence(t *testing.T) {
	db := pgtest.New(t)
	seedVehicle(t, db)
	ctx := context.Background()
	a, ok, err := db.TryLeases(ctx, 101, 102)
	if err != nil || !ok {
		t.Fatalf("TryLeases: %v %v", ok, err)
	}
	if _, ok, err := db.TryLeases(ctx, 103, 102); err != nil || ok {
		t.Fatalf("a second holder of key 102: %v %v", ok, err)
	}
	if l, ok, err := db.TryLeases(ctx, 103); err != nil || !ok {
		t.Fatalf("key 103 after a failed all-or-none attempt: %v %v", ok, err) // the failed attempt released it
	} else {
		l.Release()
	}
	for i := 0; i < 2; i++ {
		m, ok, err := db.TryMember(ctx, 900)
		if err != nil || !ok {
			t.Fatalf("TryMember: %v %v", ok, err)
		}
		defer m.Release()
	}
	if n, err := db.Members(ctx, 900); err != nil || n != 2 {
		t.Fatalf("Members = %d, %v; want 2", n, err)
	}

	fence := a.Fence()
	pos := func(sec int) []tracking.StoredPosition {
		return []tracking.StoredPosition{{Position: tracking.Position{VehicleID: "v1", CarrierID: "c1",
			TS: time.Now().Add(-time.Hour).Truncate(time.Second).Add(time.Duration(sec) * time.Second), Lat: 29.8, Lon: 107}, ReceivedAt: time.Now()}}
	}
	if _, err := db.CommitBatch(ctx, &postgres.Batch{Positions: pos(0), Fence: fence}); err != nil {
		t.Fatalf("fenced commit while held: %v", err)
	}
	a.Release()
	if b, ok, err := db.TryLeases(ctx, 101, 102); err != nil || !ok {
		t.Fatalf("taking the released keys: %v %v", ok, err)
	} else {
		defer b.Release()
	}
	if _, err := db.CommitBatch(ctx, &postgres.Batch{Positions: pos(1), Fence: fence}); !errors.Is(err, postgres.ErrLeaseLost) {
		t.Fatalf("commit fenced by a lost lease: %v, want ErrLeaseLost", err)
	}
	if err := db.Checkpoint(ctx, nil, postgres.StreamPos{Buckets: []int{1}, StreamCreated: time.Now(), Seq: 5, Fence: fence}); !errors.Is(err, postgres.ErrLeaseLost) {
		t.Fatalf("checkpoint fenced by a lost lease: %v, want ErrLeaseLost", err)
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `select (select count(*) from positions) + (select count(*) from engine_buckets)`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d rows written (%v), want only the first position", n, err)
	}
}
