package postgres_test

import (
	"context"
	"testing"

	"github.com/corridor-dev/corridor/internal/pgtest"
)

func TestMigrateIdempotent(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	n, err := db.Pending(ctx)
	if err != nil || n != 0 {
		t.Fatalf("pending=%d err=%v", n, err)
	}
	var name string
	if err := db.Pool.QueryRow(ctx, `select positions_partition(now())`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	if err := db.Pool.QueryRow(ctx, `select positions_partition(now())`).Scan(&name); err != nil {
		t.Fatal(err)
	}
}
