package geobench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/corridor-dev/corridor/pkg/geofence"
)

// Options of a side-by-side run. Zero values take the defaults.
type Options struct {
	Corridors int    // random corridors (default 200)
	Vertices  int    // vertices per corridor (default 200)
	Fixes     int    // fixes sent to PostGIS one query each (default 2000)
	Seed      uint64 // random seed (default 1)
	// Batched also times all the fixes in one PostGIS query (unnest of arrays): the best case for
	// the database, not what a per-fix geofence does.
	Batched bool
	// MinEngine is the least time the engine loop runs, repeating the fixes, for a stable rate
	// (default 300 ms).
	MinEngine time.Duration
}

// Result of a run. Rates are fixes per second on one goroutine.
type Result struct {
	Corridors, Vertices, Fixes int
	Seed                       uint64
	EngineRate                 float64 // CheckCorridor with the vehicle's hint
	PostGISRate                float64 // one ST_Distance query per fix
	BatchedRate                float64 // all fixes in one query (0 unless Options.Batched)
	Ratio                      float64 // EngineRate / PostGISRate
	// MaxDiffM is the largest |engine - PostGIS| distance.
	MaxDiffM float64
	// Disagreements counts fixes whose distance differs by more than max(0.5 m, 0.05 %) or whose
	// within-buffer verdict differs while more than 0.5 m from the buffer's edge.
	Disagreements int
}

// Tolerance is the agreement required with PostGIS for a distance d: max(0.5 m, 0.05 %).
func Tolerance(d float64) float64 { return math.Max(0.5, 0.0005*d) }

// WKT renders a corridor as a WKT LINESTRING with exact (round-trip) coordinates.
func WKT(flat []float64) string {
	var b strings.Builder
	b.WriteString("LINESTRING(")
	for i := 0; i+1 < len(flat); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatFloat(flat[i], 'g', -1, 64))
		b.WriteByte(' ')
		b.WriteString(strconv.FormatFloat(flat[i+1], 'g', -1, 64))
	}
	b.WriteByte(')')
	return b.String()
}

// LoadCorridors creates the temporary table geobench_corridors (id int, buffer_m, geom
// geography(LineString, 4326)) on conn and fills it with cs, id being the index in cs.
func LoadCorridors(ctx context.Context, conn *pgx.Conn, cs []geofence.Corridor) error {
	if _, err := conn.Exec(ctx, `create temporary table geobench_corridors (
		id int primary key, buffer_m float8 not null, geom geography(LineString, 4326) not null)`); err != nil {
		return fmt.Errorf("geobench: create table: %w", err)
	}
	const chunk = 500
	for lo := 0; lo < len(cs); lo += chunk {
		hi := min(lo+chunk, len(cs))
		ids := make([]int32, 0, hi-lo)
		bufs := make([]float64, 0, hi-lo)
		wkts := make([]string, 0, hi-lo)
		for i := lo; i < hi; i++ {
			ids = append(ids, int32(i))
			bufs = append(bufs, cs[i].BufferM)
			wkts = append(wkts, WKT(cs[i].Coords))
		}
		if _, err := conn.Exec(ctx, `insert into geobench_corridors (id, buffer_m, geom)
			select id, b, ST_GeogFromText(w) from unnest($1::int[], $2::float8[], $3::text[]) as t(id, b, w)`,
			ids, bufs, wkts); err != nil {
			return fmt.Errorf("geobench: load corridors: %w", err)
		}
	}
	if _, err := conn.Exec(ctx, `create index on geobench_corridors using gist (geom); analyze geobench_corridors`); err != nil {
		return fmt.Errorf("geobench: analyze: %w", err)
	}
	return nil
}

// Run generates random corridors and fixes, loads the corridors into PostGIS, and measures the
// assigned-corridor check through the engine's index and through PostGIS
// (ST_Distance(corridor, point::geography), one query per fix on one connection, as a per-fix
// geofence in the database would do), printing both rates, their ratio and the agreement to w.
// It fails if the two disagree.
func Run(ctx context.Context, pool *pgxpool.Pool, w io.Writer, opts Options) (Result, error) {
	if opts.Corridors <= 0 {
		opts.Corridors = 200
	}
	if opts.Vertices <= 0 {
		opts.Vertices = 200
	}
	if opts.Fixes <= 0 {
		opts.Fixes = 2000
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	if opts.MinEngine <= 0 {
		opts.MinEngine = 300 * time.Millisecond
	}
	res := Result{Corridors: opts.Corridors, Vertices: opts.Vertices, Fixes: opts.Fixes, Seed: opts.Seed}
	r := rand.New(rand.NewPCG(opts.Seed, 0x9e3779b97f4a7c15))
	shape := Shape{Vertices: opts.Vertices, EdgeM: 500, MinLat: -60, MaxLat: 60, MinLon: -170, MaxLon: 170,
		Hairpins: true, MinBufferM: 30, MaxBufferM: 1000}
	cs := shape.Corridors(r, opts.Corridors)
	// Fixes: vehicles driving along their corridors, plus the random kinds (off route, near the
	// buffer's edge, near vertices), interleaved.
	fixes := make([]Fix, 0, opts.Fixes)
	perTrack := 50
	for len(fixes) < opts.Fixes {
		ci := r.IntN(len(cs))
		fixes = append(fixes, Track(r, &cs[ci], ci, perTrack)...)
		for k := 0; k < perTrack/5; k++ {
			fixes = append(fixes, FixNear(r, &cs[ci], ci, k))
		}
	}
	fixes = fixes[:opts.Fixes]

	fmt.Fprintf(w, "geofence bench: %d corridors x %d vertices, %d fixes, seed %d\n",
		opts.Corridors, opts.Vertices, opts.Fixes, opts.Seed)
	t0 := time.Now()
	ix := geofence.NewIndex(cs, nil)
	fmt.Fprintf(w, "  index build: %v\n", time.Since(t0).Round(time.Millisecond))

	// (a) the engine, with each corridor's last matched edge as the hint.
	engine := make([]float64, len(fixes))
	inside := make([]bool, len(fixes))
	hints := make([]int, len(cs))
	ids := make([]string, len(cs))
	for i := range cs {
		ids[i] = cs[i].ID
	}
	runEngine := func() {
		for i := range hints {
			hints[i] = -1
		}
		for i, f := range fixes {
			d, in, seg, _ := ix.CheckCorridor(ids[f.Corridor], f.Lon, f.Lat, hints[f.Corridor])
			hints[f.Corridor] = seg
			engine[i], inside[i] = d, in
		}
	}
	runEngine() // warm up
	passes := 0
	t0 = time.Now()
	for passes == 0 || time.Since(t0) < opts.MinEngine {
		runEngine()
		passes++
	}
	res.EngineRate = float64(passes*len(fixes)) / time.Since(t0).Seconds()

	// (b) PostGIS, one query per fix on one connection.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return res, fmt.Errorf("geobench: %w", err)
	}
	defer conn.Release()
	if err := LoadCorridors(ctx, conn.Conn(), cs); err != nil {
		return res, err
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), `drop table if exists geobench_corridors`) }()
	const q = `select ST_Distance(geom, ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography) from geobench_corridors where id = $1`
	pg := make([]float64, len(fixes))
	// Warm the statement cache and the table.
	if err := conn.QueryRow(ctx, q, int32(fixes[0].Corridor), fixes[0].Lon, fixes[0].Lat).Scan(&pg[0]); err != nil {
		return res, fmt.Errorf("geobench: postgis: %w", err)
	}
	t0 = time.Now()
	for i, f := range fixes {
		if err := conn.QueryRow(ctx, q, int32(f.Corridor), f.Lon, f.Lat).Scan(&pg[i]); err != nil {
			return res, fmt.Errorf("geobench: postgis: %w", err)
		}
	}
	res.PostGISRate = float64(len(fixes)) / time.Since(t0).Seconds()
	res.Ratio = res.EngineRate / res.PostGISRate

	if opts.Batched {
		cid := make([]int32, len(fixes))
		lons := make([]float64, len(fixes))
		lats := make([]float64, len(fixes))
		for i, f := range fixes {
			cid[i], lons[i], lats[i] = int32(f.Corridor), f.Lon, f.Lat
		}
		t0 = time.Now()
		rows, err := conn.Query(ctx, `select f.i, ST_Distance(c.geom, ST_SetSRID(ST_MakePoint(f.lon, f.lat), 4326)::geography)
			from unnest($1::int[], $2::float8[], $3::float8[]) with ordinality as f(cid, lon, lat, i)
			join geobench_corridors c on c.id = f.cid`, cid, lons, lats)
		if err != nil {
			return res, fmt.Errorf("geobench: batched: %w", err)
		}
		n := 0
		for rows.Next() {
			var i int64
			var d float64
			if err := rows.Scan(&i, &d); err != nil {
				rows.Close()
				return res, fmt.Errorf("geobench: batched: %w", err)
			}
			if math.Abs(d-pg[i-1]) > 1e-6 {
				res.Disagreements++
			}
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return res, fmt.Errorf("geobench: batched: %w", err)
		}
		res.BatchedRate = float64(n) / time.Since(t0).Seconds()
	}

	for i, f := range fixes {
		diff := math.Abs(engine[i] - pg[i])
		res.MaxDiffM = math.Max(res.MaxDiffM, diff)
		buf := cs[f.Corridor].BufferM
		if diff > Tolerance(pg[i]) || (inside[i] != (pg[i] <= buf) && math.Abs(pg[i]-buf) > 0.5) {
			res.Disagreements++
		}
	}
	fmt.Fprintf(w, "  engine (CheckCorridor, one goroutine): %12.0f fixes/s\n", res.EngineRate)
	fmt.Fprintf(w, "  PostGIS (one ST_Distance query/fix):   %12.0f fixes/s\n", res.PostGISRate)
	if opts.Batched {
		fmt.Fprintf(w, "  PostGIS (all fixes in one query):      %12.0f fixes/s\n", res.BatchedRate)
	}
	fmt.Fprintf(w, "  ratio engine/PostGIS per-fix: %.0fx", res.Ratio)
	if opts.Batched {
		fmt.Fprintf(w, " (engine/batched: %.0fx)", res.EngineRate/res.BatchedRate)
	}
	fmt.Fprintf(w, "\n  agreement: max |engine - PostGIS| = %.2g m, %d disagreements\n", res.MaxDiffM, res.Disagreements)
	if res.Disagreements > 0 {
		return res, errors.New("geobench: engine and PostGIS disagree")
	}
	return res, nil
}
