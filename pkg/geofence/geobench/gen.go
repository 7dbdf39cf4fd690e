// Package geobench measures the geofence engine side by side with PostGIS on the same random
// corridors and fixes, and checks that both give the same answers. It also holds the random
// corridor, fix and zone generators the geofence tests and benchmarks share.
package geobench

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/corridor-dev/corridor/pkg/geo"
	"github.com/corridor-dev/corridor/pkg/geofence"
)

const degM = 111195.0 // metres per degree of latitude, near enough for generating data

// Shape describes random corridors.
type Shape struct {
	Vertices int
	// EdgeM is the typical edge length; each edge is 0.3–1.7 times it.
	EdgeM float64
	// MinLat, MaxLat, MinLon, MaxLon bound the start points.
	MinLat, MaxLat, MinLon, MaxLon float64
	// Hairpins makes about one turn in three a sharp U-turn.
	Hairpins bool
	// MinBufferM, MaxBufferM bound the buffers.
	MinBufferM, MaxBufferM float64
}

// Corridor returns one random corridor with the given ID.
func (s Shape) Corridor(r *rand.Rand, id string) geofence.Corridor {
	n := max(s.Vertices, 2)
	flat := make([]float64, 0, 2*n)
	lat := s.MinLat + (s.MaxLat-s.MinLat)*r.Float64()
	lon := s.MinLon + (s.MaxLon-s.MinLon)*r.Float64()
	head := r.Float64() * 2 * math.Pi
	for i := 0; i < n; i++ {
		flat = append(flat, lon, lat)
		if s.Hairpins && r.IntN(3) == 0 {
			head += math.Pi - 0.4 + 0.8*r.Float64()
		} else {
			head += (r.Float64() - 0.5) * 0.8
		}
		step := s.EdgeM * (0.3 + 1.4*r.Float64())
		lat += step * math.Cos(head) / degM
		if lat > 84 || lat < -84 {
			lat = math.Max(-84, math.Min(84, lat))
			head += math.Pi
		}
		lon += step * math.Sin(head) / (degM * math.Cos(lat*math.Pi/180))
		if lon > 180 {
			lon -= 360
		} else if lon < -180 {
			lon += 360
		}
	}
	buf := s.MinBufferM + (s.MaxBufferM-s.MinBufferM)*r.Float64()
	return geofence.Corridor{ID: id, Coords: flat, BufferM: math.Round(buf*10) / 10}
}

// Corridors returns n random corridors with IDs "c0", "c1", ….
func (s Shape) Corridors(r *rand.Rand, n int) []geofence.Corridor {
	out := make([]geofence.Corridor, n)
	for i := range out {
		out[i] = s.Corridor(r, fmt.Sprintf("c%d", i))
	}
	return out
}

// Fix is a position reported for a vehicle assigned to corridor index Corridor.
type Fix struct {
	Corridor int
	Lon, Lat float64
}

// offset moves lon, lat by about m metres in direction az (radians), on a local flat earth.
func offset(lon, lat, m, az float64) (float64, float64) {
	lat2 := lat + m*math.Cos(az)/degM
	lat2 = math.Max(-89.5, math.Min(89.5, lat2))
	lon2 := lon + m*math.Sin(az)/(degM*math.Cos(lat*math.Pi/180))
	if lon2 > 180 {
		lon2 -= 360
	} else if lon2 < -180 {
		lon2 += 360
	}
	return lon2, lat2
}

// FixNear returns a random fix around corridor c (index ci), of one of these kinds, in turn by
// kind%5: 0 a point along an edge moved sideways by up to twice the buffer; 1 within a few metres
// of a vertex; 2 within about a metre of the buffer's edge (placed with the exact distance);
// 3 up to 30 km away; 4 along an edge, close to the route (a vehicle on its way).
func FixNear(r *rand.Rand, c *geofence.Corridor, ci, kind int) Fix {
	n := len(c.Coords) / 2
	v := r.IntN(n)
	lon, lat := c.Coords[2*v], c.Coords[2*v+1]
	if v+1 < n && kind%5 != 1 {
		t := r.Float64()
		dlon := c.Coords[2*v+2] - lon
		if dlon > 180 {
			dlon -= 360
		} else if dlon < -180 {
			dlon += 360
		}
		lon += t * dlon
		lat += t * (c.Coords[2*v+3] - lat)
	}
	az := r.Float64() * 2 * math.Pi
	var m float64
	switch kind % 5 {
	case 0:
		m = 2 * c.BufferM * r.Float64()
	case 1:
		m = 5 * r.Float64()
	case 2:
		// Aim at the buffer's edge: a few Newton steps on the exact distance along az.
		m = c.BufferM
		for it := 0; it < 4; it++ {
			x, y := offset(lon, lat, m, az)
			d := geo.DistanceToLine(c.Coords, x, y)
			if d <= 0 {
				break
			}
			m *= c.BufferM / d
			if m > 10*c.BufferM {
				break
			}
		}
		m += (r.Float64()*2 - 1) * 1.0
	case 3:
		m = 30000 * r.Float64()
	default:
		m = 0.3 * c.BufferM * r.Float64()
	}
	x, y := offset(lon, lat, math.Max(m, 0), az)
	return Fix{Corridor: ci, Lon: x, Lat: y}
}

// Fixes returns n random fixes around random corridors of cs, every kind of FixNear in turn.
func Fixes(r *rand.Rand, cs []geofence.Corridor, n int) []Fix {
	out := make([]Fix, n)
	for i := range out {
		ci := r.IntN(len(cs))
		out[i] = FixNear(r, &cs[ci], ci, i)
	}
	return out
}

// Track returns n fixes of a vehicle driving along corridor ci from its start, a few metres off
// the line: consecutive fixes match the same or the next edges, as real ones do.
func Track(r *rand.Rand, c *geofence.Corridor, ci, n int) []Fix {
	out := make([]Fix, 0, n)
	verts := len(c.Coords) / 2
	for i := 0; i < n; i++ {
		pos := float64(i) / float64(n) * float64(verts-1)
		v := min(int(pos), verts-2)
		t := pos - float64(v)
		lon := c.Coords[2*v] + t*(c.Coords[2*v+2]-c.Coords[2*v])
		lat := c.Coords[2*v+1] + t*(c.Coords[2*v+3]-c.Coords[2*v+1])
		x, y := offset(lon, lat, 20*r.Float64(), r.Float64()*2*math.Pi)
		out = append(out, Fix{Corridor: ci, Lon: x, Lat: y})
	}
	return out
}

// grid is the step on which random zone vertices lie (2⁻¹² degrees): sums, differences and
// products of such coordinates are exact, so points put on an edge are exactly on it.
const grid = 1.0 / 4096

func snap(x float64) float64 { return math.Round(x/grid) * grid }

// Zone returns a random zone around lon, lat of about radiusM metres: a star-shaped polygon with
// one hole, and sometimes a second polygon, vertices on a 2⁻¹² degree grid.
func Zone(r *rand.Rand, id string, lon, lat, radiusM float64) geofence.Zone {
	ring := func(cx, cy, rad float64, n int, rev bool) []float64 {
		out := make([]float64, 0, 2*n+2)
		for i := 0; i < n; i++ {
			a := 2 * math.Pi * float64(i) / float64(n)
			if rev {
				a = -a
			}
			k := rad * (0.6 + 0.4*r.Float64())
			x, y := offset(cx, cy, k, a)
			x, y = snap(x), snap(y)
			if i > 0 && x == out[len(out)-2] && y == out[len(out)-1] {
				continue
			}
			out = append(out, x, y)
		}
		return append(out, out[0], out[1])
	}
	n := 5 + r.IntN(20)
	rad := math.Max(radiusM, 100)
	p := [][]float64{ring(lon, lat, rad, n, false), ring(lon, lat, rad*0.2, 4+r.IntN(4), true)}
	z := geofence.Zone{ID: id, Kind: "restricted", Polygons: [][][]float64{p}}
	if r.IntN(2) == 0 {
		x, y := offset(lon, lat, rad*2.5, r.Float64()*2*math.Pi)
		z.Polygons = append(z.Polygons, [][]float64{ring(x, y, rad*0.7, 4+r.IntN(10), false)})
	}
	return z
}

// ZonePoint returns a random point to test against zone z: in turn by kind%4, a vertex, a point
// exactly on an edge, a point near an edge (interpolated, not exact), or a random point in the
// zone's surroundings.
func ZonePoint(r *rand.Rand, z *geofence.Zone, kind int) (lon, lat float64) {
	p := z.Polygons[r.IntN(len(z.Polygons))]
	ring := p[r.IntN(len(p))]
	n := len(ring)/2 - 1
	i := r.IntN(n)
	x1, y1, x2, y2 := ring[2*i], ring[2*i+1], ring[2*i+2], ring[2*i+3]
	switch kind % 4 {
	case 0:
		return x1, y1
	case 1:
		t := float64(r.IntN(9)) / 8
		return x1 + t*(x2-x1), y1 + t*(y2-y1)
	case 2:
		t := r.Float64()
		return x1 + t*(x2-x1), y1 + t*(y2-y1)
	}
	b := geo.RingsBox(p)
	w, h := b.MaxLon-b.MinLon, b.MaxLat-b.MinLat
	return b.MinLon - 0.2*w + 1.4*w*r.Float64(), b.MinLat - 0.2*h + 1.4*h*r.Float64()
}
