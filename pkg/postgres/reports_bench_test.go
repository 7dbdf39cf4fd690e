package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/internal/pgtest"
	"github.com/corridor-dev/corridor/pkg/postgres"
)

// BenchmarkDailyReportDay computes one closed day of a carrier with 100 vehicles on 24-hour trips
// reporting every 30 s (288,000 fixes, 1 % flagged implausible), among 4 other carriers of the
// same size: each iteration recomputes the day from scratch (the report is deleted first).
func BenchmarkDailyReportDay(b *testing.B) {
	db := pgtest.New(b)
	ctx := context.Background()
	loc, _ := time.LoadLocation("Asia/Shanghai")
	now := time.Now().In(loc)
	day := time.Date(now.Year(), now.Month(), now.Day()-2, 0, 0, 0, 0, time.UTC)
	start := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, loc)
	for _, q := range []string{
		`insert into carriers (id, name) select 'c' || i, 'C' from generate_series(0, 4) i`,
		`insert into vehicles (id, carrier_id, plate) select 'v' || i, 'c' || (i % 5), 'P' from generate_series(0, 499) i`,
		`insert into corridors (name, geom, buffer_m) values ('G50', 'LINESTRING(107 29.8, 107.1 29.85)', 200)`,
	} {
		if _, err := db.Pool.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := db.Pool.Exec(ctx, `insert into trips (vehicle_id, carrier_id, corridor_id, starts_at, ends_at)
		select id, carrier_id, (select id from corridors), $1, $1::timestamptz + interval '1 day' from vehicles`, start); err != nil {
		b.Fatal(err)
	}
	for _, ts := range []time.Time{start, start.Add(24 * time.Hour)} {
		if _, err := db.Pool.Exec(ctx, `select positions_partition($1)`, ts); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := db.Pool.Exec(ctx, `insert into positions (vehicle_id, carrier_id, ts, lat, lon, flags)
		select v.id, v.carrier_id, $1::timestamptz + make_interval(secs => 30 * k + abs(hashtext(v.id) % 20)), 29.8, 107.0,
		       case when k % 100 = 7 then array['implausible_jump'] else '{}' end
		from vehicles v, generate_series(0, 2879) k`, start); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `analyze`); err != nil {
		b.Fatal(err)
	}
	rep := db.Reports(postgres.ReportConfig{Location: loc})
	for b.Loop() {
		if _, err := db.Pool.Exec(ctx, `delete from daily_reports`); err != nil {
			b.Fatal(err)
		}
		r, err := rep.DailyReports(ctx, "c1", day, day)
		if err != nil {
			b.Fatal(err)
		}
		if r[0].Fixes != 288000 || r[0].VehiclesReported != 100 {
			b.Fatalf("report %+v", r[0])
		}
	}
}
