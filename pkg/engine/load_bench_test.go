package engine

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/internal/pgtest"
)

// BenchmarkLoadWorld10kx500 loads 10,000 corridors of 500 vertices from PostGIS into the
// engine's world (query, WKB decoding, geofence index build), as at start or after a full
// re-sync, and reports the time and the heap the world holds.
//
//	go test ./pkg/engine -run '^$' -bench LoadWorld -benchtime 3x -count 3
func BenchmarkLoadWorld10kx500(b *testing.B) {
	db := pgtest.New(b)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `insert into corridors (name, geom, buffer_m)
		select 'c' || c, ST_MakeLine(array_agg(ST_MakePoint(100 + (c % 100) * 0.1 + i * 0.0009, 25 + (c / 100) * 0.1 + sin(i / 7.0) * 0.001) order by i))::geography, 100 + c % 400
		from generate_series(0, 9999) c, generate_series(0, 499) i group by c`); err != nil {
		b.Fatal(err)
	}
	l := &loader{db: db, now: time.Now}
	var before, after runtime.MemStats
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l.current.Store(nil)
		runtime.GC()
		runtime.ReadMemStats(&before)
		w, err := l.sync(ctx, true)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if n, _ := w.Index.Len(); n != 10000 {
			b.Fatalf("%d corridors", n)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB-held")
	}
}
