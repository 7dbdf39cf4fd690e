package geo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// Reference values computed by PostGIS 3.3.2 (PROJ 9.1.1):
// SELECT ST_Distance('LINESTRING(…)'::geography, 'POINT(…)'::geography).
var postgisCases = []struct {
	name     string
	line     []float64
	lon, lat float64
	want     float64
}{
	{"equator mid edge", []float64{0, 0, 1, 0}, 0.5, 0.01, 1105.74275833},
	{"oblique 60N", []float64{10, 60, 10.3, 60.1}, 10.1, 60.05, 1531.08210129},
	{"hairpin 65S", []float64{-70, -65, -69.8, -65.05, -70, -65.1}, -69.7, -65.05, 4708.73281066},
	{"antimeridian", []float64{179.9, 10, -179.9, 10}, 180, 10.001, 108.9571176},
	{"great-circle bulge at 70N", []float64{0, 70, 0.5, 70}, 0.25, 70, 19.55604727},
	{"on a vertex", []float64{2.35, 48.85, 2.36, 48.86}, 2.35, 48.85, 0},
	{"far off a vertex", []float64{116.3, 39.9, 116.5, 40.1, 116.3, 40.3}, 116.0, 40.1, 33789.25166662},
}

func tolerance(d float64) float64 { return math.Max(0.5, 0.0005*d) }

func TestDistanceToLinePostGIS(t *testing.T) {
	for _, c := range postgisCases {
		t.Run(c.name, func(t *testing.T) {
			got := DistanceToLine(c.line, c.lon, c.lat)
			if math.Abs(got-c.want) > 1e-6 {
				t.Errorf("DistanceToLine = %.8f, PostGIS %.8f", got, c.want)
			}
			l := NewLine(c.line)
			for _, hint := range []int{-1, 0, 1, 99} {
				fast, seg := l.Distance(c.lon, c.lat, hint)
				if math.Abs(fast-c.want) > 0.005 {
					t.Errorf("hint %d: Line.Distance = %.8f, PostGIS %.8f", hint, fast, c.want)
				}
				if seg < 0 || seg >= l.Segments() {
					t.Errorf("hint %d: seg %d out of range", hint, seg)
				}
				for _, buf := range []float64{c.want - 0.001, c.want + 0.001} {
					_, in, _ := l.DistanceWithin(c.lon, c.lat, buf, hint)
					if in != (c.want <= buf) {
						t.Errorf("hint %d: within %.3f = %v", hint, buf, in)
					}
				}
			}
		})
	}
}

func TestDegenerateLines(t *testing.T) {
	if d := DistanceToLine(nil, 1, 2); !math.IsInf(d, 1) {
		t.Errorf("empty line: %v", d)
	}
	pt := []float64{10, 50}
	want := Geodesic(10, 50, 10.01, 50)
	if d := DistanceToLine(pt, 10.01, 50); math.Abs(d-want) > 1e-9 {
		t.Errorf("single point: %v want %v", d, want)
	}
	if d, _ := NewLine(pt).Distance(10.01, 50, -1); math.Abs(d-want) > 0.001 {
		t.Errorf("single point line: %v want %v", d, want)
	}
	// A repeated vertex (zero-length edge) is harmless.
	rep := []float64{10, 50, 10, 50, 10.1, 50}
	if d := DistanceToLine(rep, 10.05, 50.001); math.Abs(d-DistanceToLine([]float64{10, 50, 10.1, 50}, 10.05, 50.001)) > 1e-9 {
		t.Errorf("repeated vertex: %v", d)
	}
	if d, _ := NewLine(nil).Distance(1, 1, -1); !math.IsInf(d, 1) {
		t.Errorf("empty Line: %v", d)
	}
}

// randomLine returns a polyline of n vertices with edges of about edgeM metres near lat0,
// turning sharply (hairpins) when sharp is set.
func randomLine(r *rand.Rand, n int, lon0, lat0, edgeM float64, sharp bool) []float64 {
	out := make([]float64, 0, 2*n)
	lon, lat := lon0, lat0
	head := r.Float64() * 2 * math.Pi
	for i := 0; i < n; i++ {
		out = append(out, lon, lat)
		if sharp && r.IntN(3) == 0 {
			head += math.Pi - 0.3 + 0.6*r.Float64()
		} else {
			head += (r.Float64() - 0.5) * 1.2
		}
		step := edgeM * (0.3 + 1.4*r.Float64())
		lat += step * math.Cos(head) / 111000
		lat = math.Max(-80, math.Min(80, lat))
		lon += step * math.Sin(head) / (111000 * math.Cos(lat*deg))
		if lon > 180 {
			lon -= 360
		} else if lon < -180 {
			lon += 360
		}
	}
	return out
}

// TestFlatError measures the fast path (flat projection at the mid latitude) against Karney's
// geodesic for the distances where it is used.
func TestFlatError(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	maxErr := map[float64]float64{}
	for _, dist := range []float64{100, 1000, 5000, 20000, 50000, 100000} {
		for i := 0; i < 20000; i++ {
			lat := (r.Float64()*2 - 1) * 85
			lon := (r.Float64()*2 - 1) * 180
			az := r.Float64() * 2 * math.Pi
			d := dist * r.Float64()
			lat2 := lat + d*math.Cos(az)/111000
			lon2 := lon + d*math.Sin(az)/(111000*math.Cos(lat*deg))
			if math.Abs(lat2) > 89 {
				continue
			}
			p := NewPoint(lon, lat)
			k := UnitVector(lon2, lat2)
			f, ok := flatDistance(&p, k)
			if !ok {
				if d < FlatMaxM*0.9 && math.Abs(lat) < 88 {
					t.Fatalf("flat path refused %v m at lat %v", d, lat)
				}
				continue
			}
			ex := Geodesic(lon, lat, lon2, lat2)
			maxErr[dist] = math.Max(maxErr[dist], math.Abs(f-ex))
		}
	}
	for _, dist := range []float64{100, 1000, 5000, 20000, 50000, 100000} {
		t.Logf("fast path vs Karney, distances up to %6.0f m, lat ±85°: max error %.2e m", dist, maxErr[dist])
		if maxErr[dist] > 0.005 {
			t.Errorf("flat error %.4f m over %v m", maxErr[dist], dist)
		}
	}
}

// TestLineMatchesReference checks the prepared line (branch and bound, hints, fast path) against
// the plain exact DistanceToLine on hard random cases: long edges, hairpins, high latitudes.
func TestLineMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var worst float64
	for c := 0; c < 300; c++ {
		lat0 := (r.Float64()*2 - 1) * 75
		lon0 := (r.Float64()*2 - 1) * 180
		edge := []float64{30, 300, 2000, 15000}[c%4]
		line := randomLine(r, 2+r.IntN(300), lon0, lat0, edge, c%3 == 0)
		l := NewLine(line)
		for i := 0; i < 40; i++ {
			v := r.IntN(l.Len())
			off := edge * 3 * r.Float64()
			if i%4 == 0 {
				off = 20000 * r.Float64()
			}
			az := r.Float64() * 2 * math.Pi
			lat := line[2*v+1] + off*math.Cos(az)/111000
			lon := line[2*v] + off*math.Sin(az)/(111000*math.Cos(line[2*v+1]*deg))
			lat = math.Max(-89, math.Min(89, lat))
			want := DistanceToLine(line, lon, lat)
			hint := r.IntN(l.Len()+1) - 1
			got, seg := l.Distance(lon, lat, hint)
			if e := math.Abs(got - want); e > 0.005 {
				t.Fatalf("corridor %d fix %d: got %.4f want %.4f (seg %d hint %d)", c, i, got, want, seg, hint)
			} else if e > worst {
				worst = e
			}
			_, in, _ := l.DistanceWithin(lon, lat, want+0.001, hint)
			_, out, _ := l.DistanceWithin(lon, lat, want-0.001, hint)
			if !in || out {
				t.Fatalf("corridor %d fix %d: within verdict wrong at %.4f", c, i, want)
			}
		}
	}
	t.Logf("prepared line vs reference: max difference %.2e m", worst)
}

func TestChunkBoxContainsNearPoints(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for c := 0; c < 200; c++ {
		lat0 := (r.Float64()*2 - 1) * 80
		lon0 := 175 + r.Float64()*10 // crosses the antimeridian often
		if lon0 > 180 {
			lon0 -= 360
		}
		line := randomLine(r, 2+r.IntN(40), lon0, lat0, 20000, c%2 == 0)
		l := NewLine(line)
		buf := 10 + 3000*r.Float64()
		for i := 0; i < 200; i++ {
			v := r.IntN(l.Len())
			az := r.Float64() * 2 * math.Pi
			off := buf * 1.5 * r.Float64()
			lat := math.Max(-89.9, math.Min(89.9, line[2*v+1]+off*math.Cos(az)/111000))
			lon := wrapLon(line[2*v] + off*math.Sin(az)/(111000*math.Cos(line[2*v+1]*deg)))
			d := DistanceToLine(line, lon, lat)
			if d > buf {
				continue
			}
			found := false
			for ch := 0; ch < l.Chunks() && !found; ch++ {
				bs, n := l.ChunkBox(ch).Pad(buf).Split()
				for _, b := range bs[:n] {
					found = found || b.ContainsPoint(lon, lat)
				}
			}
			if !found {
				t.Fatalf("point %v,%v at %.2f m (buffer %.1f) outside every padded chunk box", lon, lat, d, buf)
			}
		}
	}
}

func TestPolygonCovers(t *testing.T) {
	sq := []float64{0, 0, 10, 0, 10, 10, 0, 10, 0, 0}
	hole := []float64{4, 4, 6, 4, 6, 6, 4, 6, 4, 4}
	poly := [][]float64{sq, hole}
	cases := []struct {
		name     string
		lon, lat float64
		want     bool
	}{
		{"inside", 2, 2, true},
		{"outside", 11, 2, false},
		{"on vertex", 0, 0, true},
		{"on edge", 0, 5, true},
		{"on top edge", 5, 10, true},
		{"collinear beyond edge", 0, 12, false},
		{"in hole", 5, 5, false},
		{"on hole edge", 4, 5, true},
		{"on hole vertex", 6, 6, true},
		{"between hole and outer", 8, 8, true},
	}
	for _, c := range cases {
		if got := PolygonCovers(poly, c.lon, c.lat); got != c.want {
			t.Errorf("%s: PolygonCovers = %v", c.name, got)
		}
	}
	multi := [][][]float64{poly, {{4.5, 4.5, 5.5, 4.5, 5.5, 5.5, 4.5, 4.5}}}
	if !MultiPolygonCovers(multi, 5.2, 4.8) {
		t.Error("island inside a hole of another polygon should be covered")
	}
	if MultiPolygonCovers(multi, 4.2, 5.8) {
		t.Error("hole outside the island should not be covered")
	}
	if PolygonCovers(nil, 0, 0) {
		t.Error("empty polygon covers nothing")
	}
}

func FuzzDistanceToLine(f *testing.F) {
	f.Add(0.0, 0.0, 1.0, 0.0, 0.5, 0.01, 2.0, 1.0, 0)
	f.Add(179.9, 10.0, -179.9, 10.0, 180.0, 10.0, 179.0, 11.0, 5)
	f.Add(0.0, 89.0, 180.0, 89.0, 90.0, 89.5, 0.0, 0.0, -1)
	f.Add(10.0, 50.0, 10.0, 50.0, 10.0, 50.0, 10.0, 50.0, 1)
	f.Fuzz(func(t *testing.T, lon1, lat1, lon2, lat2, plon, plat, lon3, lat3 float64, hint int) {
		for _, v := range []float64{lon1, lon2, lon3, plon} {
			if math.IsNaN(v) || v < -180 || v > 180 {
				return
			}
		}
		for _, v := range []float64{lat1, lat2, lat3, plat} {
			if math.IsNaN(v) || v < -90 || v > 90 {
				return
			}
		}
		line := []float64{lon1, lat1, lon2, lat2, lon3, lat3}
		d := DistanceToLine(line, plon, plat)
		if math.IsNaN(d) || d < 0 || d > 20040000 {
			t.Fatalf("distance %v", d)
		}
		// Reversing the line changes nothing.
		rev := []float64{lon3, lat3, lon2, lat2, lon1, lat1}
		if dr := DistanceToLine(rev, plon, plat); math.Abs(dr-d) > 1e-6*math.Max(1, d) {
			t.Fatalf("reversed line: %v vs %v", dr, d)
		}
		// A vertex of the line is at distance zero.
		if dv := DistanceToLine(line, lon2, lat2); dv > 1e-6 {
			t.Fatalf("vertex at %v m", dv)
		}
		l := NewLine(line)
		fd, seg := l.Distance(plon, plat, hint)
		if math.IsNaN(fd) || seg < 0 || seg > 1 {
			t.Fatalf("prepared: %v seg %d", fd, seg)
		}
		if math.Abs(fd-d) > tolerance(d) {
			t.Fatalf("prepared %v vs exact %v", fd, d)
		}
	})
}

func FuzzPolygonCovers(f *testing.F) {
	f.Add(0.0, 0.0, 10.0, 10.0, 5.0, 5.0)
	f.Add(0.0, 0.0, 10.0, 10.0, 0.0, 5.0)
	f.Fuzz(func(t *testing.T, x0, y0, x1, y1, px, py float64) {
		if !(x1 > x0 && y1 > y0) || math.IsInf(x1-x0, 0) || math.IsInf(y1-y0, 0) {
			return
		}
		ring := []float64{x0, y0, x1, y0, x1, y1, x0, y1, x0, y0}
		want := px >= x0 && px <= x1 && py >= y0 && py <= y1
		if got := PolygonCovers([][]float64{ring}, px, py); got != want {
			t.Fatalf("rectangle covers %v,%v = %v", px, py, got)
		}
		// Every vertex is covered.
		for i := 0; i < 8; i += 2 {
			if !PolygonCovers([][]float64{ring}, ring[i], ring[i+1]) {
				t.Fatalf("vertex %d not covered", i/2)
			}
		}
	})
}

var sink float64

func BenchmarkDistanceToLineExact(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 8))
	line := randomLine(r, 200, 10, 50, 500, false)
	for i := 0; b.Loop(); i++ {
		sink += DistanceToLine(line, line[2*(i%200)]+0.001, line[2*(i%200)+1])
	}
}

func BenchmarkLineDistance(b *testing.B) {
	for _, n := range []int{200, 5000} {
		r := rand.New(rand.NewPCG(7, 8))
		line := randomLine(r, n, 10, 50, 500, false)
		l := NewLine(line)
		for _, hint := range []bool{false, true} {
			name := fmt.Sprintf("%dv/nohint", n)
			if hint {
				name = fmt.Sprintf("%dv/hint", n)
			}
			b.Run(name, func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					v := i % (n - 1)
					h := -1
					if hint {
						h = v
					}
					d, _ := l.Distance(line[2*v]+0.0003, line[2*v+1]+0.0002, h)
					sink += d
				}
			})
		}
	}
}

func BenchmarkGeodesic(b *testing.B) {
	for i := 0; b.Loop(); i++ {
		sink += Geodesic(10, 50, 10.001+float64(i%7)*1e-4, 50.001)
	}
}

func BenchmarkPolygonCovers(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 10))
	ring := make([]float64, 0, 202)
	for i := 0; i < 100; i++ {
		a := float64(i) / 100 * 2 * math.Pi
		rad := 0.01 * (0.7 + 0.3*r.Float64())
		ring = append(ring, 10+rad*math.Cos(a), 50+rad*math.Sin(a))
	}
	ring = append(ring, ring[0], ring[1])
	poly := [][]float64{ring}
	for i := 0; b.Loop(); i++ {
		if PolygonCovers(poly, 10+float64(i%20)*0.001, 50) {
			sink++
		}
	}
}

func TestGreatCircleAgreesWithGeodesic(t *testing.T) {
	for _, c := range [][4]float64{{107, 29.8, 107.01, 29.8}, {107, 29.8, 110, 33}, {0, 0, 0, 1}, {-179.9, 10, 179.9, 10}} {
		gc, gd := GreatCircle(c[0], c[1], c[2], c[3]), Geodesic(c[0], c[1], c[2], c[3])
		if math.Abs(gc-gd) > 0.006*gd {
			t.Errorf("%v: great circle %.1f m, geodesic %.1f m", c, gc, gd)
		}
	}
	if d := GreatCircle(107, 29.8, 107, 29.8); d != 0 {
		t.Errorf("same point: %v", d)
	}
}
