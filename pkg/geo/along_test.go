package geo

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestLengthMatchesKarney: the prepared lengths (fast path) agree with Karney's geodesic summed
// edge by edge, for short and long edges, near the poles (Karney fallback) and across the
// antimeridian.
func TestLengthMatchesKarney(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct {
		name       string
		lat0, lat1 float64
		lon0, lon1 float64
		edgeDeg    float64
	}{
		{"short edges", -60, 60, -180, 180, 0.002},
		{"long edges", -60, 60, -180, 180, 0.5},
		{"near the poles", 88.9, 89.9, -180, 180, 0.01},
		{"antimeridian", -10, 10, 179.9, 180, 0.05},
	} {
		for k := 0; k < 50; k++ {
			lon, lat := c.lon0+(c.lon1-c.lon0)*r.Float64(), c.lat0+(c.lat1-c.lat0)*r.Float64()
			flat := []float64{lon, lat}
			want := 0.0
			for i := 0; i < 30; i++ {
				nlon := lon + (r.Float64()*2-1)*c.edgeDeg
				if nlon > 180 {
					nlon -= 360
				}
				nlat := math.Max(-89.99, math.Min(89.99, lat+(r.Float64()*2-1)*c.edgeDeg))
				want += Geodesic(lon, lat, nlon, nlat)
				flat = append(flat, nlon, nlat)
				lon, lat = nlon, nlat
			}
			l := NewLine(flat)
			if got := l.Length(); math.Abs(got-want) > 1e-3 {
				t.Fatalf("%s: length %.6f, Karney %.6f", c.name, got, want)
			}
			// Along at each vertex is the sum so far; along is never past the end of the edge.
			q := NewPoint(flat[20], flat[21])
			var n Nearest
			l.Search(&q, -1, &n)
			if a := l.Along(&n); a > l.Length()+1e-9 || a < 0 {
				t.Fatalf("%s: along %.3f of %.3f", c.name, a, l.Length())
			}
		}
	}
	if l := NewLine(nil); l.Length() != 0 {
		t.Fatal("empty line has a length")
	}
	if l := NewLine([]float64{1, 2}); l.Length() != 0 {
		t.Fatal("a point has a length")
	}
}
