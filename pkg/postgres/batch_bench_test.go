package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/corridor-dev/corridor/internal/pgtest"
	"github.com/corridor-dev/corridor/pkg/postgres"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// The writer benchmark compares, in one run and on one database, the history writer
// (CommitBatch with positions only: COPY into a temporary table + INSERT … ON CONFLICT DO
// NOTHING, in a transaction) with a plain pgx.CopyFrom of the same rows straight into positions
// (no de-duplication: a redelivered fix would fail the whole COPY). docs/BENCHMARKS.md has the
// figures and the command:
//
//	go test ./pkg/postgres -run '^$' -bench Writer -benchtime 20x -count 5
//
// Each iteration writes one batch of benchBatch rows spread over benchVehicles vehicles; every
// sub-benchmark starts from an empty positions table whose day partitions exist (PrepareDays).

const (
	benchBatch    = 500
	benchVehicles = 200
	// benchDupPct is the percentage of each batch that is already stored in the duplicate-heavy case
	// (a JetStream redelivery after a crash, or a terminal re-sending what it was not answered for).
	benchDupPct = 80
)

func bf(v float64) *float64 { return &v }

// benchRows returns n distinct fixes starting at the k-th of an endless stream: fix k belongs to
// vehicle k mod benchVehicles and is at base + k/benchVehicles seconds, so every (vehicle_id, ts)
// is unique and a batch interleaves many vehicles as the engine's batches do.
func benchRows(base time.Time, k, n int) []tracking.StoredPosition {
	ps := make([]tracking.StoredPosition, n)
	ign := true
	for i := range ps {
		j := k + i
		v := j % benchVehicles
		ps[i] = tracking.StoredPosition{
			Position: tracking.Position{
				VehicleID: fmt.Sprintf("bv-%03d", v), CarrierID: "bc",
				TS:  base.Add(time.Duration(j/benchVehicles) * time.Second),
				Lat: 29.80 + float64(v)*1e-3 + float64(j%97)*1e-5, Lon: 107.00 + float64(j%89)*1e-5,
				SpeedKmh: bf(float64(j % 90)), HeadingDeg: bf(float64(j % 360)), AltitudeM: bf(245),
				Satellites: bf(11), OdometerKm: bf(10000 + float64(j)/100), Ignition: &ign,
			},
			ReceivedAt: base.Add(time.Duration(j/benchVehicles)*time.Second + 300*time.Millisecond),
		}
	}
	return ps
}

func benchSeed(b *testing.B, db *postgres.DB) {
	b.Helper()
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `insert into carriers (id, name) values ('bc', 'Bench Carrier')`); err != nil {
		b.Fatal(err)
	}
	for v := 0; v < benchVehicles; v++ {
		if _, err := db.Pool.Exec(ctx, `insert into vehicles (id, carrier_id, plate) values ($1, 'bc', $2)`,
			fmt.Sprintf("bv-%03d", v), fmt.Sprintf("渝B%05d", v)); err != nil {
			b.Fatal(err)
		}
	}
}

// benchReset empties positions (all partitions stay) so every sub-benchmark starts alike.
func benchReset(b *testing.B, db *postgres.DB) {
	b.Helper()
	if _, err := db.Pool.Exec(context.Background(), `truncate positions`); err != nil {
		b.Fatal(err)
	}
}

func benchCopy(ctx context.Context, db *postgres.DB, ps []tracking.StoredPosition) (int64, error) {
	i := 0
	return db.Pool.CopyFrom(ctx, pgx.Identifier{"positions"}, postgres.PositionColumns, pgx.CopyFromFunc(func() ([]any, error) {
		if i >= len(ps) {
			return nil, nil
		}
		i++
		return postgres.PositionRow(&ps[i-1]), nil
	}))
}

// meter measures what a timed loop cost the server beyond wall-clock time: the CPU time of this
// database's PostgreSQL backends, from /proc/<pid>/schedstat (nanoseconds). It needs the server on
// this machine (as scripts/services.sh sets it up) and Linux; elsewhere the figure is left out.
// On a shared machine CPU time per row moves far less with other load than rows/s does.
type meter struct {
	db *postgres.DB
	pg map[int]int64
}

func (m *meter) backendCPU(b *testing.B) map[int]int64 {
	b.Helper()
	rows, err := m.db.Pool.Query(context.Background(),
		`select pid from pg_stat_activity where datname = current_database() and backend_type = 'client backend'`)
	if err != nil {
		b.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		b.Fatal(err)
	}
	out := map[int]int64{}
	for _, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid))
		if err != nil {
			return nil // not on this machine (or no schedstat): no figure
		}
		f := strings.Fields(string(data))
		if len(f) == 0 {
			return nil
		}
		ns, _ := strconv.ParseInt(f[0], 10, 64)
		out[int(pid)] = ns
	}
	return out
}

func startMeter(b *testing.B, db *postgres.DB) *meter {
	m := &meter{db: db}
	m.pg = m.backendCPU(b)
	return m
}

// report adds rows/s (wall clock of the timed loop) and pg-cpu-ns/row.
func (m *meter) report(b *testing.B, rows int) {
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	if after := m.backendCPU(b); after != nil && m.pg != nil {
		var pgNs int64
		for pid, ns := range after {
			pgNs += ns - m.pg[pid] // a backend opened during the loop counts from 0
		}
		b.ReportMetric(float64(pgNs)/float64(rows), "pg-cpu-ns/row")
	}
}

// timeCommits commits the batches, one per iteration, on the benchmark's clock, and returns how
// many rows were new to history.
func timeCommits(b *testing.B, db *postgres.DB, batches [][]tracking.StoredPosition) int {
	inserted := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := db.CommitBatch(context.Background(), &postgres.Batch{Positions: batches[i]})
		if err != nil {
			b.Fatal(err)
		}
		inserted += res.Inserted
	}
	b.StopTimer()
	return inserted
}

func BenchmarkWriter(b *testing.B) {
	db := pgtest.New(b)
	benchSeed(b, db)
	ctx := context.Background()
	now := time.Now().UTC()
	if err := db.PrepareDays(ctx, now, 1, 1); err != nil {
		b.Fatal(err)
	}
	// The stream of fixes starts an hour ago: with benchVehicles vehicles, 20 batches × 5 counts
	// span well under a day, so every row falls in a prepared partition.
	base := now.Add(-time.Hour).Truncate(time.Second)
	// Warm-up: the writer's temporary table exists on the pool's connection, as in steady state.
	if _, err := db.CommitBatch(ctx, &postgres.Batch{Positions: benchRows(base, 0, 1)}); err != nil {
		b.Fatal(err)
	}

	b.Run("CommitBatch", func(b *testing.B) {
		benchReset(b, db)
		batches := make([][]tracking.StoredPosition, b.N)
		for i := range batches {
			batches[i] = benchRows(base, i*benchBatch, benchBatch)
		}
		m := startMeter(b, db)
		inserted := timeCommits(b, db, batches)
		if inserted != b.N*benchBatch {
			b.Fatalf("inserted %d, want %d", inserted, b.N*benchBatch)
		}
		m.report(b, b.N*benchBatch)
	})

	b.Run("CommitBatchDuplicates", func(b *testing.B) {
		benchReset(b, db)
		dups := benchBatch * benchDupPct / 100
		fresh := benchBatch - dups
		// Stored beforehand (untimed): the duplicate part of every batch.
		old := benchRows(base, 0, b.N*dups)
		if _, err := benchCopy(ctx, db, old); err != nil {
			b.Fatal(err)
		}
		batches := make([][]tracking.StoredPosition, b.N)
		for i := range batches {
			batch := append([]tracking.StoredPosition(nil), old[i*dups:(i+1)*dups]...)
			batch = append(batch, benchRows(base, b.N*dups+i*fresh, fresh)...)
			batches[i] = batch
		}
		m := startMeter(b, db)
		inserted := timeCommits(b, db, batches)
		if inserted != b.N*fresh {
			b.Fatalf("inserted %d, want %d", inserted, b.N*fresh)
		}
		m.report(b, b.N*benchBatch)
		b.ReportMetric(float64(b.N*fresh)/b.Elapsed().Seconds(), "new-rows/s")
	})

	b.Run("PlainCopy", func(b *testing.B) {
		benchReset(b, db)
		batches := make([][]tracking.StoredPosition, b.N)
		for i := range batches {
			batches[i] = benchRows(base, i*benchBatch, benchBatch)
		}
		m := startMeter(b, db)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			n, err := benchCopy(ctx, db, batches[i])
			if err != nil {
				b.Fatal(err)
			}
			if n != benchBatch {
				b.Fatalf("copied %d rows", n)
			}
		}
		b.StopTimer()
		m.report(b, b.N*benchBatch)
	})
}
