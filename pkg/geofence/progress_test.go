package geofence_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/geo"
	"github.com/corridor-dev/corridor/pkg/geofence"
	"github.com/corridor-dev/corridor/pkg/geofence/geobench"
)

func TestCheckProgressTable(t *testing.T) {
	// Along the equator: every degree of longitude is the same geodesic length.
	deg := geo.Geodesic(0, 0, 1, 0)
	ix := geofence.NewIndex([]geofence.Corridor{
		{ID: "eq", Coords: []float64{0, 0, 1, 0, 2, 0, 3, 0}, BufferM: 100},
		{ID: "dot", Coords: []float64{10, 10}, BufferM: 100},
		{ID: "back", Coords: []float64{3, 0, 2, 0, 1, 0, 0, 0}, BufferM: 100},
	}, nil)
	for _, c := range []struct {
		id            string
		lon, lat      float64
		along, length float64
		within        bool
	}{
		{"eq", 0, 0, 0, 3 * deg, true},
		{"eq", 1.5, 0.0005, 1.5 * deg, 3 * deg, true}, // 55 m north of the middle edge
		{"eq", 2, 0, 2 * deg, 3 * deg, true},
		{"eq", 3, 0.01, 3 * deg, 3 * deg, false},
		{"eq", 4, 0, 3 * deg, 3 * deg, false}, // past the end: at the end
		{"eq", -1, 0, 0, 3 * deg, false},      // before the start: at the start
		{"back", 0.5, 0, 2.5 * deg, 3 * deg, true},
		{"dot", 10, 10.001, 0, 0, false},
	} {
		got, ok := ix.CheckProgress(c.id, c.lon, c.lat, -1)
		if !ok || math.Abs(got.AlongM-c.along) > 0.001 || math.Abs(got.LengthM-c.length) > 0.001 || got.Within != c.within {
			t.Errorf("%s at (%g, %g): %+v, want along %.3f of %.3f within %v", c.id, c.lon, c.lat, got, c.along, c.length, c.within)
		}
		// The same distance, within and edge as CheckCorridor.
		d, in, seg, _ := ix.CheckCorridor(c.id, c.lon, c.lat, -1)
		if d != got.DistanceM || in != got.Within || seg != got.Seg {
			t.Errorf("%s: CheckProgress %+v disagrees with CheckCorridor %v %v %v", c.id, got, d, in, seg)
		}
	}
	if _, ok := ix.CheckProgress("none", 0, 0, -1); ok {
		t.Error("unknown corridor found")
	}
	if l, ok := ix.CorridorLength("eq"); !ok || math.Abs(l-3*deg) > 0.001 {
		t.Errorf("CorridorLength %v %v", l, ok)
	}
	// Driving a corridor, progress never goes back by more than the fixes' sideways noise.
	r := rand.New(rand.NewPCG(1, 2))
	shape := geobench.Shape{Vertices: 60, EdgeM: 500, MinLat: 29, MaxLat: 30, MinLon: 106, MaxLon: 107, MinBufferM: 100, MaxBufferM: 100}
	cor := shape.Corridor(r, "drive")
	ix = geofence.NewIndex([]geofence.Corridor{cor}, nil)
	prev, hint := -1.0, -1
	for i, f := range geobench.Track(r, &cor, 0, 400) {
		c, _ := ix.CheckProgress("drive", f.Lon, f.Lat, hint)
		hint = c.Seg
		if c.AlongM < prev-40 || c.AlongM > c.LengthM {
			t.Fatalf("fix %d: along %.1f after %.1f (length %.1f)", i, c.AlongM, prev, c.LengthM)
		}
		prev = math.Max(prev, c.AlongM)
	}
}

// FuzzCheckProgress: for any corridor and fix, CheckProgress agrees with CheckCorridor, the
// progress lies within the corridor, and the length is the sum of Karney's geodesics.
func FuzzCheckProgress(f *testing.F) {
	f.Add(uint64(1), 107.0, 29.8, -1)
	f.Add(uint64(2), 179.99, 69.0, 3)
	f.Add(uint64(3), -0.001, -88.5, 0)
	f.Fuzz(func(t *testing.T, seed uint64, lon, lat float64, hint int) {
		if math.IsNaN(lon) || math.IsNaN(lat) || math.Abs(lon) > 180 || math.Abs(lat) > 89 {
			return
		}
		r := rand.New(rand.NewPCG(seed, 5))
		shape := geobench.Shape{Vertices: 1 + r.IntN(60), EdgeM: 10 + 20000*r.Float64(), MinLat: lat - 0.5, MaxLat: lat + 0.5,
			MinLon: lon - 0.5, MaxLon: lon + 0.5, Hairpins: r.IntN(2) == 0, MinBufferM: 5, MaxBufferM: 5000}
		c := shape.Corridor(r, "f")
		ix := geofence.NewIndex([]geofence.Corridor{c}, nil)
		got, ok := ix.CheckProgress("f", lon, lat, hint)
		d, in, seg, _ := ix.CheckCorridor("f", lon, lat, hint)
		if !ok || got.DistanceM != d || got.Within != in || got.Seg != seg {
			t.Fatalf("CheckProgress %+v, CheckCorridor %v %v %v", got, d, in, seg)
		}
		want := 0.0
		for i := 2; i+1 < len(c.Coords); i += 2 {
			want += geo.Geodesic(c.Coords[i-2], c.Coords[i-1], c.Coords[i], c.Coords[i+1])
		}
		if math.Abs(got.LengthM-want) > 1e-3 || !(got.AlongM >= 0 && got.AlongM <= got.LengthM+1e-9) {
			t.Fatalf("along %v of %v, Karney length %v", got.AlongM, got.LengthM, want)
		}
	})
}

// TestAgreementProgress compares the corridor length with PostGIS ST_Length(geography) and the
// along-track distance with PostGIS. PostGIS 3.3 has no ST_LineLocatePoint for geography, so the
// reference densifies the corridor along its great-circle edges to 20 m (ST_Segmentize on
// geography), cuts it where ST_LineLocatePoint puts the fix in the corridor's UTM zone (a
// conformal projection: over 20 m pieces the perpendicular foot is the nearest point) and
// measures the cut line with ST_Length(geography).
func TestAgreementProgress(t *testing.T) {
	r := rand.New(rand.NewPCG(agreementSeed(t), 7))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn := connect(t)
	shapes := []geobench.Shape{
		{Vertices: 40, EdgeM: 400, MinLat: 20, MaxLat: 50, MinLon: 100.5, MaxLon: 101.5, Hairpins: true, MinBufferM: 20, MaxBufferM: 500},
		{Vertices: 12, EdgeM: 8000, MinLat: 20, MaxLat: 50, MinLon: 106.5, MaxLon: 107.5, MinBufferM: 100, MaxBufferM: 2000},
		{Vertices: 200, EdgeM: 60, MinLat: -40, MaxLat: -20, MinLon: 150.5, MaxLon: 151.5, Hairpins: true, MinBufferM: 5, MaxBufferM: 100},
	}
	var cs []geofence.Corridor
	for i := 0; i < 60; i++ {
		cs = append(cs, shapes[i%len(shapes)].Corridor(r, "p"+string(rune('0'+i%10))+string(rune('a'+i/10))))
	}
	ix := geofence.NewIndex(cs, nil)
	if err := geobench.LoadCorridors(ctx, conn, cs); err != nil {
		t.Fatal(err)
	}
	// Lengths.
	var maxLen float64
	for i := range cs {
		var pg float64
		if err := conn.QueryRow(ctx, `select ST_Length(geom) from geobench_corridors where id = $1`, i).Scan(&pg); err != nil {
			t.Fatal(err)
		}
		l, _ := ix.CorridorLength(cs[i].ID)
		maxLen = math.Max(maxLen, math.Abs(l-pg))
		if math.Abs(l-pg) > 0.001 {
			t.Errorf("corridor %d: length %.4f, PostGIS %.4f", i, l, pg)
		}
	}
	// Along-track distances of fixes near the corridors (kinds 0, 1, 2 and 4 of FixNear: on the
	// way, sideways up to twice the buffer; far-away fixes have no meaningful progress).
	type fixCase struct {
		ci       int
		lon, lat float64
	}
	var fixes []fixCase
	for len(fixes) < 2500 {
		ci := r.IntN(len(cs))
		kind := r.IntN(5)
		if kind == 3 {
			continue
		}
		f := geobench.FixNear(r, &cs[ci], ci, kind)
		fixes = append(fixes, fixCase{ci, f.Lon, f.Lat})
	}
	ids := make([]int32, len(fixes))
	lons := make([]float64, len(fixes))
	lats := make([]float64, len(fixes))
	for i, f := range fixes {
		ids[i], lons[i], lats[i] = int32(f.ci), f.lon, f.lat
	}
	// The reference line: each corridor densified along its great-circle edges (ST_Segmentize on
	// geography) to 20 m, in its UTM zone.
	if _, err := conn.Exec(ctx, `create temporary table progress_ref as
		select id, ST_Transform(ST_Segmentize(geom, 20)::geometry,
		       (case when ST_Y(ST_StartPoint(geom::geometry)) >= 0 then 32600 else 32700 end
		        + floor((ST_X(ST_StartPoint(geom::geometry)) + 180) / 6)::int + 1)) as l
		from geobench_corridors`); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `with u as (
			select f.i, ST_SetSRID(ST_MakePoint(f.lon, f.lat), 4326) as pt, r.l,
			       ST_LineLocatePoint(r.l, ST_Transform(ST_SetSRID(ST_MakePoint(f.lon, f.lat), 4326), ST_SRID(r.l))) as frac
			from unnest($1::int[], $2::float8[], $3::float8[]) with ordinality as f(cid, lon, lat, i)
			join progress_ref r on r.id = f.cid
		)
		select i, case when frac = 0 then 0 else ST_Length(ST_Transform(ST_LineSubstring(l, 0, frac), 4326)::geography) end,
		       ST_Distance(pt::geography, ST_Transform(ST_LineInterpolatePoint(l, frac), 4326)::geography)
		from u`, ids, lons, lats)
	if err != nil {
		t.Fatal(err)
	}
	pgAlong := make([]float64, len(fixes))
	pgFoot := make([]float64, len(fixes))
	for rows.Next() {
		var i int64
		var a, d float64
		if err := rows.Scan(&i, &a, &d); err != nil {
			t.Fatal(err)
		}
		pgAlong[i-1], pgFoot[i-1] = a, d
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var maxDiff, maxRatio float64
	ties := 0
	for i, f := range fixes {
		c, _ := ix.CheckProgress(cs[f.ci].ID, f.lon, f.lat, -1)
		diff := math.Abs(c.AlongM - pgAlong[i])
		if diff > progressTolerance(c.DistanceM) {
			// Two parts of the corridor (a hairpin's two sides) about equally near the fix: the
			// sphere and the ellipsoid may rank them differently. That is a tie, not a disagreement.
			if math.Abs(pgFoot[i]-c.DistanceM) <= progressTolerance(c.DistanceM) {
				ties++
				continue
			}
			t.Errorf("fix %d (%.8f, %.8f) corridor %d: along %.3f m, PostGIS %.3f m (distance %.2f, PostGIS foot %.2f)",
				i, f.lon, f.lat, f.ci, c.AlongM, pgAlong[i], c.DistanceM, pgFoot[i])
			continue
		}
		maxDiff = math.Max(maxDiff, diff)
		if c.DistanceM > 1 {
			maxRatio = math.Max(maxRatio, diff/c.DistanceM)
		}
	}
	t.Logf("%d corridors: max |length - ST_Length| %.2g m; %d fixes: max |along - PostGIS| %.3g m, at most %.3g of the fix's distance from the corridor; %d ties on hairpins",
		len(cs), maxLen, len(fixes), maxDiff, maxRatio, ties)
	if ties > len(fixes)/50 {
		t.Errorf("%d ties: more than near-ties on hairpins", ties)
	}
}

// progressTolerance is how far the along-track distance may differ from the reference for a fix
// distM from the corridor. Corridor, like PostGIS's ST_Distance, takes the nearest point on the
// sphere; the reference (UTM, conformal on the ellipsoid) the nearest point on the ellipsoid. The
// two feet lie a fraction of the distance apart along the edge, of the order of the flattening
// (1/298): measured up to 0.6 % of the distance (0.3 m for a fix 50 m off the road, 12 m for
// one 2 km off); the tolerance is 1 %. The distance itself barely
// changes (the foot is where it is flat), so both agree with ST_Distance.
func progressTolerance(distM float64) float64 { return 0.05 + 0.01*distM }

// BenchmarkCheckProgress is BenchmarkCheckCorridor/hint with the along-track distance too.
func BenchmarkCheckProgress(b *testing.B) {
	w := world()
	ids := make([]string, len(w.cs))
	hints := make([]int, len(w.cs))
	for i := range w.cs {
		ids[i], hints[i] = w.cs[i].ID, -1
	}
	for i := range w.cs { // the corridors' lengths are summed on first use
		w.ix.CorridorLength(ids[i])
	}
	b.ReportAllocs()
	i := 0
	m := startCPU(b)
	for b.Loop() {
		f := &w.fixes[i%len(w.fixes)]
		c, _ := w.ix.CheckProgress(ids[f.Corridor], f.Lon, f.Lat, hints[f.Corridor])
		hints[f.Corridor] = c.Seg
		i++
	}
	m.stop("checks")
}
