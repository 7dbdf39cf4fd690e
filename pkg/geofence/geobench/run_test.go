package geobench_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/corridor-dev/corridor/internal/pgtest"
	"github.com/corridor-dev/corridor/pkg/geofence/geobench"
)

// envInt reads a size from the environment, for full-size runs:
//
//	GEOBENCH_CORRIDORS=2000 GEOBENCH_VERTICES=200 GEOBENCH_FIXES=5000 go test ./pkg/geofence/geobench -run TestRun -v -count=1
func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// TestRun runs the side-by-side benchmark small (or at the size the environment asks for) against
// a fresh PostGIS database, and fails if the engine and PostGIS disagree.
func TestRun(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewURL(t, false))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	opts := geobench.Options{
		Corridors: envInt(t, "GEOBENCH_CORRIDORS", 20),
		Vertices:  envInt(t, "GEOBENCH_VERTICES", 50),
		Fixes:     envInt(t, "GEOBENCH_FIXES", 300),
		Seed:      uint64(envInt(t, "GEOBENCH_SEED", 7)),
		Batched:   true,
		MinEngine: 20 * time.Millisecond,
	}
	if os.Getenv("GEOBENCH_FIXES") != "" {
		opts.MinEngine = time.Second
	}
	var out strings.Builder
	res, err := geobench.Run(ctx, pool, &out, opts)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if res.EngineRate <= 0 || res.PostGISRate <= 0 || res.BatchedRate <= 0 || res.Ratio <= 0 {
		t.Errorf("rates not measured: %+v", res)
	}
	if !strings.Contains(out.String(), "ratio engine/PostGIS") {
		t.Errorf("report lacks the ratio:\n%s", out.String())
	}
}
