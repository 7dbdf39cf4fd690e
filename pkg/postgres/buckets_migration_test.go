package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/internal/pgtest"
	"github.com/corridor-dev/corridor/migrations"
)

// Migration 00008 turns 00002's single engine position (partition 0, every vehicle) into the
// same position for each of the 64 buckets, so an upgraded engine resumes where it stopped.
func TestEngineBucketsMigrationKeepsThePosition(t *testing.T) {
	db := pgtest.New(t)
	ctx := context.Background()
	src, err := migrations.FS.ReadFile("00008_engine_buckets.sql")
	if err != nil {
		t.Fatal(err)
	}
	up, _, _ := strings.Cut(string(src), "-- +goose Down")
	created := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	// Back to the state after 00002 (with a position), then 00008's Up again.
	for _, q := range []string{`drop table engine_buckets`,
		`create table engine_partitions (partition int primary key, stream_created timestamptz not null,
			committed_seq bigint not null default 0, checkpoint_seq bigint not null default 0, updated_at timestamptz not null default now())`} {
		if _, err := db.Pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Pool.Exec(ctx, `insert into engine_partitions (partition, stream_created, committed_seq, checkpoint_seq) values (0, $1, 900, 850)`, created); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, up); err != nil {
		t.Fatal(err)
	}
	pos, err := db.EngineBuckets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pos) != 64 {
		t.Fatalf("%d bucket positions, want 64", len(pos))
	}
	for i, p := range pos {
		if p.Bucket != i || p.CommittedSeq != 900 || p.CheckpointSeq != 850 || !p.StreamCreated.Equal(created) {
			t.Fatalf("bucket position %+v, want bucket %d at 900/850 of the same stream", p, i)
		}
	}
}
