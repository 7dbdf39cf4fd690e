package geofence_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/corridor-dev/corridor/pkg/geo"
	"github.com/corridor-dev/corridor/pkg/geofence"
	"github.com/corridor-dev/corridor/pkg/geofence/geobench"
)

func TestIndexLookups(t *testing.T) {
	cs := []geofence.Corridor{
		{ID: "a", Coords: []float64{10, 50, 10.1, 50}, BufferM: 100, MaxSpeedKmh: 80},
		{ID: "b", Coords: []float64{10, 50.5, 10.1, 50.5}, BufferM: 50},
		{ID: "a", Coords: []float64{10, 51, 10.1, 51}, BufferM: 200}, // replaces the first "a"
	}
	zs := []geofence.Zone{{ID: "z", Kind: "restricted", Polygons: [][][]float64{{{0, 0, 1, 0, 1, 1, 0, 1, 0, 0}}}}}
	ix := geofence.NewIndex(cs, zs)
	if c, z := ix.Len(); c != 2 || z != 1 {
		t.Fatalf("Len = %d, %d", c, z)
	}
	if c, ok := ix.Corridor("a"); !ok || c.BufferM != 200 {
		t.Errorf("Corridor(a) = %+v, %v", c, ok)
	}
	if _, ok := ix.Corridor("nope"); ok {
		t.Error("unknown corridor found")
	}
	if z, ok := ix.Zone("z"); !ok || z.Kind != "restricted" {
		t.Errorf("Zone(z) = %+v, %v", z, ok)
	}
	if _, ok := ix.Zone("nope"); ok {
		t.Error("unknown zone found")
	}
	if _, _, _, ok := ix.CheckCorridor("nope", 10, 50, -1); ok {
		t.Error("CheckCorridor on an unknown corridor: ok")
	}
	d, in, seg, ok := ix.CheckCorridor("a", 10.05, 51.001, -1)
	want := geo.DistanceToLine(cs[2].Coords, 10.05, 51.001)
	if !ok || !in || seg != 0 || math.Abs(d-want) > 1e-3 {
		t.Errorf("CheckCorridor(a) = %v %v %v %v, want %v", d, in, seg, ok, want)
	}
	hits := ix.CorridorsAt(10.05, 51.001, nil)
	if len(hits) != 1 || hits[0].ID != "a" {
		t.Errorf("CorridorsAt = %+v", hits)
	}
	if hits := ix.CorridorsAt(10.05, 50.001, nil); len(hits) != 0 {
		t.Errorf("replaced corridor still found: %+v", hits)
	}
	for _, p := range [][2]float64{{0.5, 0.5}, {0, 0}, {0.5, 0}, {1, 1}} {
		if got := ix.ZonesAt(p[0], p[1], nil); len(got) != 1 || got[0].ID != "z" {
			t.Errorf("ZonesAt(%v) = %v", p, got)
		}
	}
	if got := ix.ZonesAt(1.0000001, 0.5, nil); len(got) != 0 {
		t.Errorf("ZonesAt outside = %v", got)
	}
}

func TestEmptyAndStore(t *testing.T) {
	var s geofence.Store
	ix := s.Load()
	if ix == nil {
		t.Fatal("Load on a zero Store returned nil")
	}
	if c, z := ix.Len(); c != 0 || z != 0 {
		t.Fatalf("empty index has %d corridors, %d zones", c, z)
	}
	if h := ix.CorridorsAt(1, 1, nil); len(h) != 0 {
		t.Errorf("empty CorridorsAt = %v", h)
	}
	if z := ix.ZonesAt(1, 1, nil); len(z) != 0 {
		t.Errorf("empty ZonesAt = %v", z)
	}
	next := geofence.NewIndex([]geofence.Corridor{{ID: "x", Coords: []float64{0, 0, 1, 1}, BufferM: 10}}, nil)
	s.Store(next)
	if s.Load() != next {
		t.Error("Store did not swap the snapshot")
	}
	s.Store(nil)
	if s.Load() != geofence.Empty() {
		t.Error("Store(nil) should store the empty index")
	}
}

// TestConcurrentReaders runs queries while snapshots are swapped (meaningful under -race).
func TestConcurrentReaders(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	shape := geobench.Shape{Vertices: 50, EdgeM: 300, MinLat: 40, MaxLat: 41, MinLon: 10, MaxLon: 11, MinBufferM: 50, MaxBufferM: 300}
	var s geofence.Store
	s.Store(geofence.NewIndex(shape.Corridors(r, 50), nil))
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			var hits []geofence.CorridorHit
			for i := 0; i < 2000; i++ {
				ix := s.Load()
				hits = ix.CorridorsAt(10+float64(i%100)/100, 40.5, hits[:0])
				ix.CheckCorridor("c1", 10.5, 40.5, i%10-1)
			}
		}(g)
	}
	for i := 0; i < 20; i++ {
		s.Store(geofence.NewIndex(shape.Corridors(r, 50), nil))
	}
	wg.Wait()
}

// TestHintNeverChangesTheAnswer: any hint, the same distance and verdict.
func TestHintNeverChangesTheAnswer(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	shape := geobench.Shape{Vertices: 300, EdgeM: 800, MinLat: -70, MaxLat: 70, MinLon: -180, MaxLon: 180, Hairpins: true, MinBufferM: 20, MaxBufferM: 2000}
	cs := shape.Corridors(r, 20)
	ix := geofence.NewIndex(cs, nil)
	for i, f := range geobench.Fixes(r, cs, 4000) {
		id := cs[f.Corridor].ID
		d0, in0, seg0, _ := ix.CheckCorridor(id, f.Lon, f.Lat, -1)
		for _, h := range []int{0, seg0, r.IntN(300), 298, 1000} {
			d, in, seg, _ := ix.CheckCorridor(id, f.Lon, f.Lat, h)
			if d != d0 || in != in0 || seg != seg0 {
				t.Fatalf("fix %d hint %d: %v %v %v, without hint %v %v %v", i, h, d, in, seg, d0, in0, seg0)
			}
		}
	}
}

// TestAntimeridian: a corridor and a zone either side of ±180°.
func TestAntimeridian(t *testing.T) {
	c := geofence.Corridor{ID: "dateline", Coords: []float64{179.95, -16.5, -179.95, -16.5}, BufferM: 300}
	ix := geofence.NewIndex([]geofence.Corridor{c}, nil)
	for _, lon := range []float64{180, -180, 179.99, -179.99} {
		hits := ix.CorridorsAt(lon, -16.501, nil)
		if len(hits) != 1 {
			t.Errorf("CorridorsAt(%v) = %v", lon, hits)
		}
		d, in, _, _ := ix.CheckCorridor("dateline", lon, -16.501, -1)
		if !in || math.Abs(d-geo.DistanceToLine(c.Coords, lon, -16.501)) > 1e-3 {
			t.Errorf("CheckCorridor(%v) = %v %v", lon, d, in)
		}
	}
}

func FuzzCheckCorridor(f *testing.F) {
	f.Add(uint64(1), 10.0, 50.0, 5)
	f.Add(uint64(2), 179.99, 69.0, -1)
	// Every input does bounded work (at most 61 vertices of at most 34 km, one index, one hint in
	// a small range), so an execution can never outlast the run's budget; scripts/fuzz.sh budgets
	// by execution count, not wall time.
	f.Fuzz(func(t *testing.T, seed uint64, lon, lat float64, hint int) {
		if math.IsNaN(lon) || math.IsNaN(lat) || math.Abs(lon) > 180 || math.Abs(lat) > 89 {
			return
		}
		hint %= 256
		r := rand.New(rand.NewPCG(seed, 3))
		shape := geobench.Shape{Vertices: 2 + r.IntN(60), EdgeM: 10 + 20000*r.Float64(), MinLat: lat - 0.5, MaxLat: lat + 0.5,
			MinLon: lon - 0.5, MaxLon: lon + 0.5, Hairpins: r.IntN(2) == 0, MinBufferM: 5, MaxBufferM: 5000}
		c := shape.Corridor(r, "f")
		ix := geofence.NewIndex([]geofence.Corridor{c}, nil)
		d, in, seg, ok := ix.CheckCorridor("f", lon, lat, hint)
		want := geo.DistanceToLine(c.Coords, lon, lat)
		if !ok || math.IsNaN(d) || seg < 0 || math.Abs(d-want) > geobench.Tolerance(want) {
			t.Fatalf("CheckCorridor = %v %v %v %v, exact %v", d, in, seg, ok, want)
		}
		if math.Abs(want-c.BufferM) > 0.5 && in != (want <= c.BufferM) {
			t.Fatalf("within %v at %v, buffer %v", in, want, c.BufferM)
		}
		hits := ix.CorridorsAt(lon, lat, nil)
		if (len(hits) == 1) != in {
			t.Fatalf("CorridorsAt %v, CheckCorridor within %v", hits, in)
		}
	})
}

// benchWorld is 2,000 corridors x 200 vertices (edges ~300 m, about 60 km each) over a
// 6° x 6° region (a busy province), buffers 50–500 m, and 500 zones.
type benchWorld struct {
	cs    []geofence.Corridor
	zones []geofence.Zone
	ix    *geofence.Index
	fixes []geobench.Fix
}

var world = sync.OnceValue(func() *benchWorld {
	r := rand.New(rand.NewPCG(42, 42))
	shape := geobench.Shape{Vertices: 200, EdgeM: 300, MinLat: 45, MaxLat: 51, MinLon: 2, MaxLon: 8, Hairpins: false, MinBufferM: 50, MaxBufferM: 500}
	w := &benchWorld{cs: shape.Corridors(r, 2000)}
	for i := 0; i < 500; i++ {
		w.zones = append(w.zones, geobench.Zone(r, fmt.Sprintf("z%d", i), 2+6*r.Float64(), 45+6*r.Float64(), 300+2000*r.Float64()))
	}
	w.ix = geofence.NewIndex(w.cs, w.zones)
	// Vehicles driving along their corridors: 200 tracks of 500 fixes, interleaved.
	tracks := make([][]geobench.Fix, 200)
	for i := range tracks {
		ci := r.IntN(len(w.cs))
		tracks[i] = geobench.Track(r, &w.cs[ci], ci, 500)
	}
	for k := 0; k < 500; k++ {
		for i := range tracks {
			w.fixes = append(w.fixes, tracks[i][k])
		}
	}
	return w
})

func BenchmarkCheckCorridor(b *testing.B) {
	w := world()
	ids := make([]string, len(w.cs))
	for i := range w.cs {
		ids[i] = w.cs[i].ID
	}
	for _, withHint := range []bool{false, true} {
		name := "nohint"
		if withHint {
			name = "hint"
		}
		b.Run(name, func(b *testing.B) {
			hints := make([]int, len(w.cs))
			for i := range hints {
				hints[i] = -1
			}
			b.ReportAllocs()
			i := 0
			m := startCPU(b)
			for b.Loop() {
				f := &w.fixes[i%len(w.fixes)]
				h := -1
				if withHint {
					h = hints[f.Corridor]
				}
				_, _, seg, _ := w.ix.CheckCorridor(ids[f.Corridor], f.Lon, f.Lat, h)
				hints[f.Corridor] = seg
				i++
			}
			m.stop("checks")
		})
	}
}

func BenchmarkCorridorsAt(b *testing.B) {
	w := world()
	var hits []geofence.CorridorHit
	b.ReportAllocs()
	i, n := 0, 0
	m := startCPU(b)
	for b.Loop() {
		f := &w.fixes[i%len(w.fixes)]
		hits = w.ix.CorridorsAt(f.Lon, f.Lat, hits[:0])
		n += len(hits)
		i++
	}
	m.stop("searches")
	b.ReportMetric(float64(n)/float64(b.N), "hits/op")
}

func BenchmarkZonesAt(b *testing.B) {
	w := world()
	var zs []*geofence.Zone
	b.ReportAllocs()
	i := 0
	m := startCPU(b)
	for b.Loop() {
		f := &w.fixes[i%len(w.fixes)]
		zs = w.ix.ZonesAt(f.Lon, f.Lat, zs[:0])
		i++
	}
	m.stop("searches")
}

// BenchmarkCorridorsAndZonesAt is the any-corridor search an engine does per fix: corridors and
// zones together.
func BenchmarkCorridorsAndZonesAt(b *testing.B) {
	w := world()
	var hits []geofence.CorridorHit
	var zs []*geofence.Zone
	b.ReportAllocs()
	i := 0
	m := startCPU(b)
	for b.Loop() {
		f := &w.fixes[i%len(w.fixes)]
		hits = w.ix.CorridorsAt(f.Lon, f.Lat, hits[:0])
		zs = w.ix.ZonesAt(f.Lon, f.Lat, zs[:0])
		i++
	}
	m.stop("searches")
}

// BenchmarkNewIndex10kx500 builds the index of 10,000 corridors x 500 vertices, reporting the
// heap the index holds beyond its input (MB-index) and the bytes allocated while building.
func BenchmarkNewIndex10kx500(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 5))
	shape := geobench.Shape{Vertices: 500, EdgeM: 300, MinLat: 35, MaxLat: 60, MinLon: -10, MaxLon: 30, MinBufferM: 50, MaxBufferM: 500}
	cs := shape.Corridors(r, 10000)
	b.ReportAllocs()
	var held float64
	m := startCPU(b)
	for b.Loop() {
		before := heapInUse()
		ix := geofence.NewIndex(cs, nil)
		held = float64(heapInUse()-before) / (1 << 20)
		if c, _ := ix.Len(); c != len(cs) {
			b.Fatal("lost corridors")
		}
	}
	m.stop("builds")
	b.ReportMetric(held, "MB-index")
	b.ReportMetric(float64(len(cs)*len(cs[0].Coords)*8)/(1<<20), "MB-input")
}

// TestInvalidCoordinates: NaN coordinates neither panic nor poison other corridors.
func TestInvalidCoordinates(t *testing.T) {
	nan := math.NaN()
	ix := geofence.NewIndex([]geofence.Corridor{
		{ID: "bad", Coords: []float64{nan, 50, 10.1, nan}, BufferM: 100},
		{ID: "good", Coords: []float64{10, 50, 10.1, 50}, BufferM: 100},
		{ID: "empty", BufferM: 100},
	}, []geofence.Zone{{ID: "bad", Polygons: [][][]float64{{{nan, 0, 1, 0, 1, 1, nan, 0}}}}, {ID: "none"}})
	if hits := ix.CorridorsAt(10.05, 50.0001, nil); len(hits) != 1 || hits[0].ID != "good" {
		t.Errorf("CorridorsAt = %v", hits)
	}
	if _, in, _, ok := ix.CheckCorridor("bad", 10.05, 50, -1); !ok || in {
		t.Errorf("CheckCorridor(bad): within %v ok %v", in, ok)
	}
	if _, in, seg, ok := ix.CheckCorridor("empty", 10.05, 50, 3); !ok || in || seg != -1 {
		t.Errorf("CheckCorridor(empty): within %v seg %d ok %v", in, seg, ok)
	}
	if z := ix.ZonesAt(0.5, 0.5, nil); len(z) != 0 {
		t.Errorf("ZonesAt = %v", z)
	}
}
