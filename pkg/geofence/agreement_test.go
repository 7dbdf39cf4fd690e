package geofence_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/corridor-dev/corridor/internal/pgtest"
	"github.com/corridor-dev/corridor/pkg/geofence"
	"github.com/corridor-dev/corridor/pkg/geofence/geobench"
)

// agreementSeed is fixed so failures reproduce; GEOFENCE_AGREEMENT_SEED overrides it.
func agreementSeed(t *testing.T) uint64 {
	seed := uint64(20261127)
	if s := os.Getenv("GEOFENCE_AGREEMENT_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("GEOFENCE_AGREEMENT_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (set GEOFENCE_AGREEMENT_SEED to override)", seed)
	return seed
}

// agreementCorridors returns the hard cases: short and long (5–20 km) edges, hairpins, latitudes
// up to 70° both sides, some across the antimeridian.
func agreementCorridors(r *rand.Rand, n int) []geofence.Corridor {
	shapes := []geobench.Shape{
		{Vertices: 40, EdgeM: 400, MinLat: -70, MaxLat: 70, MinLon: -180, MaxLon: 180, Hairpins: true, MinBufferM: 10, MaxBufferM: 500},
		{Vertices: 12, EdgeM: 12000, MinLat: -70, MaxLat: 70, MinLon: -180, MaxLon: 180, Hairpins: false, MinBufferM: 100, MaxBufferM: 5000},
		{Vertices: 12, EdgeM: 12000, MinLat: 55, MaxLat: 70, MinLon: -180, MaxLon: 180, Hairpins: true, MinBufferM: 50, MaxBufferM: 3000},
		{Vertices: 12, EdgeM: 12000, MinLat: -70, MaxLat: -55, MinLon: -180, MaxLon: 180, Hairpins: true, MinBufferM: 50, MaxBufferM: 3000},
		{Vertices: 80, EdgeM: 60, MinLat: -70, MaxLat: 70, MinLon: -180, MaxLon: 180, Hairpins: true, MinBufferM: 5, MaxBufferM: 100},
		{Vertices: 20, EdgeM: 8000, MinLat: -65, MaxLat: 65, MinLon: 179.5, MaxLon: 180, Hairpins: true, MinBufferM: 100, MaxBufferM: 2000},
	}
	out := make([]geofence.Corridor, n)
	for i := range out {
		out[i] = shapes[i%len(shapes)].Corridor(r, fmt.Sprintf("c%d", i))
	}
	return out
}

func connect(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.NewURL(t, false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// TestAgreementCorridors compares CheckCorridor and CorridorsAt with PostGIS ST_Distance on
// several thousand random fixes around a few hundred random corridors, in one run.
func TestAgreementCorridors(t *testing.T) {
	seed := agreementSeed(t)
	r := rand.New(rand.NewPCG(seed, 1))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn := connect(t)

	tStart := time.Now()
	defer func() { t.Logf("took %v", time.Since(tStart)) }()
	cs := agreementCorridors(r, 300)
	fixes := geobench.Fixes(r, cs, 10000)
	ix := geofence.NewIndex(cs, nil)
	if err := geobench.LoadCorridors(ctx, conn, cs); err != nil {
		t.Fatal(err)
	}

	// PostGIS: the distance from every fix to its own corridor, in one query.
	cid := make([]int32, len(fixes))
	lons := make([]float64, len(fixes))
	lats := make([]float64, len(fixes))
	for i, f := range fixes {
		cid[i], lons[i], lats[i] = int32(f.Corridor), f.Lon, f.Lat
	}
	pg := make([]float64, len(fixes))
	rows, err := conn.Query(ctx, `select f.i, ST_Distance(c.geom, ST_SetSRID(ST_MakePoint(f.lon, f.lat), 4326)::geography)
		from unnest($1::int[], $2::float8[], $3::float8[]) with ordinality as f(cid, lon, lat, i)
		join geobench_corridors c on c.id = f.cid`, cid, lons, lats)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var i int64
		var d float64
		if err := rows.Scan(&i, &d); err != nil {
			t.Fatal(err)
		}
		pg[i-1] = d
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(fixes) {
		t.Fatalf("PostGIS returned %d rows for %d fixes", n, len(fixes))
	}

	var maxDiff, maxRel float64
	nearEdge, nearEdgeMismatch, inside := 0, 0, 0
	hints := make([]int, len(cs))
	for i := range hints {
		hints[i] = -1
	}
	for i, f := range fixes {
		c := &cs[f.Corridor]
		for _, hint := range []int{-1, hints[f.Corridor]} {
			d, in, seg, ok := ix.CheckCorridor(c.ID, f.Lon, f.Lat, hint)
			if !ok {
				t.Fatalf("corridor %s not found", c.ID)
			}
			hints[f.Corridor] = seg
			diff := math.Abs(d - pg[i])
			if diff > geobench.Tolerance(pg[i]) {
				t.Errorf("fix %d (%.9f, %.9f) corridor %s hint %d: engine %.4f m, PostGIS %.4f m", i, f.Lon, f.Lat, c.ID, hint, d, pg[i])
			}
			maxDiff = math.Max(maxDiff, diff)
			if pg[i] > 0 {
				maxRel = math.Max(maxRel, diff/pg[i])
			}
			want := pg[i] <= c.BufferM
			if math.Abs(pg[i]-c.BufferM) <= 0.5 {
				nearEdge++
				if in != want {
					nearEdgeMismatch++
				}
			} else if in != want {
				t.Errorf("fix %d corridor %s: within=%v, PostGIS distance %.4f buffer %.1f", i, c.ID, in, pg[i], c.BufferM)
			}
			if in {
				inside++
			}
		}
	}
	t.Logf("%d fixes around %d corridors: max |engine - PostGIS| %.3g m (max relative %.3g); %d checks inside; %d checks within 0.5 m of the buffer edge, %d of them with another verdict",
		len(fixes), len(cs), maxDiff, maxRel, inside, nearEdge, nearEdgeMismatch)
	if nearEdge < 200 {
		t.Errorf("only %d fixes near the buffer edge: the generator no longer exercises the hard case", nearEdge)
	}

	// Any-corridor search against ST_DWithin over all corridors.
	sample := fixes
	want := make([]map[int]float64, len(sample)) // fix -> corridor -> PostGIS distance
	rows, err = conn.Query(ctx, `select f.i, c.id, ST_Distance(c.geom, f.g)
		from (select i, ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography g
		      from unnest($1::float8[], $2::float8[]) with ordinality as u(lon, lat, i)) f
		join geobench_corridors c on ST_DWithin(c.geom, f.g, 5001) and ST_DWithin(c.geom, f.g, c.buffer_m + 1)`, lons[:len(sample)], lats[:len(sample)])
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var i int64
		var id int32
		var d float64
		if err := rows.Scan(&i, &id, &d); err != nil {
			t.Fatal(err)
		}
		if want[i-1] == nil {
			want[i-1] = map[int]float64{}
		}
		want[i-1][int(id)] = d
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var hits []geofence.CorridorHit
	got := 0
	for i, f := range sample {
		hits = ix.CorridorsAt(f.Lon, f.Lat, hits[:0])
		seen := map[int]bool{}
		for _, h := range hits {
			ci, _ := strconv.Atoi(strings.TrimPrefix(h.ID, "c"))
			seen[ci] = true
			got++
			d, ok := want[i][ci]
			if !ok || math.Abs(d-h.DistanceM) > geobench.Tolerance(d) {
				t.Errorf("CorridorsAt fix %d: corridor %s at %.4f m, PostGIS %.4f (found %v)", i, h.ID, h.DistanceM, d, ok)
			}
		}
		for ci, d := range want[i] {
			if !seen[ci] && d < cs[ci].BufferM-0.5 {
				t.Errorf("CorridorsAt fix %d misses corridor c%d at %.4f m (buffer %.1f)", i, ci, d, cs[ci].BufferM)
			}
		}
	}
	t.Logf("CorridorsAt: %d hits over %d fixes agree with ST_DWithin", got, len(sample))
}

// TestAgreementZones compares ZonesAt with PostGIS ST_Covers(zone::geometry, point) for random
// points, many exactly on edges and vertices.
func TestAgreementZones(t *testing.T) {
	seed := agreementSeed(t)
	r := rand.New(rand.NewPCG(seed, 2))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := connect(t)

	zones := make([]geofence.Zone, 150)
	for i := range zones {
		lat := (r.Float64()*2 - 1) * 70
		lon := (r.Float64()*2 - 1) * 178
		zones[i] = geobench.Zone(r, fmt.Sprintf("z%d", i), lon, lat, 500+5000*r.Float64())
	}
	if _, err := conn.Exec(ctx, `create temporary table zones (id int primary key, geom geography(Geometry, 4326) not null)`); err != nil {
		t.Fatal(err)
	}
	ids := make([]int32, len(zones))
	wkts := make([]string, len(zones))
	for i, z := range zones {
		ids[i] = int32(i)
		wkts[i] = multiPolygonWKT(z.Polygons)
	}
	if _, err := conn.Exec(ctx, `insert into zones select id, ST_GeogFromText(w) from unnest($1::int[], $2::text[]) as t(id, w)`, ids, wkts); err != nil {
		t.Fatal(err)
	}
	ix := geofence.NewIndex(nil, zones)

	const pointsPerZone = 30
	zid := make([]int32, 0, len(zones)*pointsPerZone)
	lons := make([]float64, 0, cap(zid))
	lats := make([]float64, 0, cap(zid))
	for i := range zones {
		for k := 0; k < pointsPerZone; k++ {
			x, y := geobench.ZonePoint(r, &zones[i], k)
			zid, lons, lats = append(zid, int32(i)), append(lons, x), append(lats, y)
		}
	}
	rows, err := conn.Query(ctx, `select f.i, ST_Covers(z.geom::geometry, ST_SetSRID(ST_MakePoint(f.lon, f.lat), 4326))
		from unnest($1::int[], $2::float8[], $3::float8[]) with ordinality as f(zid, lon, lat, i)
		join zones z on z.id = f.zid`, zid, lons, lats)
	if err != nil {
		t.Fatal(err)
	}
	covers := make([]bool, len(zid))
	for rows.Next() {
		var i int64
		var c bool
		if err := rows.Scan(&i, &c); err != nil {
			t.Fatal(err)
		}
		covers[i-1] = c
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var found []*geofence.Zone
	in, bad := 0, 0
	for i := range zid {
		found = ix.ZonesAt(lons[i], lats[i], found[:0])
		got := false
		for _, z := range found {
			got = got || z.ID == zones[zid[i]].ID
		}
		if got != covers[i] {
			bad++
			t.Errorf("point %d (%v, %v) zone %d: engine %v, PostGIS ST_Covers %v", i, lons[i], lats[i], zid[i], got, covers[i])
		}
		if covers[i] {
			in++
		}
	}
	t.Logf("%d points against %d zones (vertices, exact edge points, near-edge and random points): %d covered, %d disagreements", len(zid), len(zones), in, bad)
}

func multiPolygonWKT(polys [][][]float64) string {
	var b strings.Builder
	b.WriteString("MULTIPOLYGON(")
	for pi, p := range polys {
		if pi > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for ri, ring := range p {
			if ri > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strings.TrimPrefix(geobench.WKT(ring), "LINESTRING"))
		}
		b.WriteByte(')')
	}
	b.WriteByte(')')
	return b.String()
}
