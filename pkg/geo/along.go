package geo

import "math"

// Progress along a line: how far along it the point nearest a fix lies, measured as PostGIS
// measures a line's length, ST_Length(line::geography): the sum of the WGS84 geodesic lengths of
// its edges. The cumulative lengths of the edges are summed once per line, on its first use
// (summing them for every line when it is prepared added 26 % to the CPU time of building an
// index of 10,000 corridors of 500 vertices, and 8 bytes per vertex, for corridors most of which
// may have no vehicle on a trip), by the fast path of flatDistance (within 0.2 mm of Karney's
// geodesic up to FlatMaxM; Karney's method for longer edges and near the poles): about 60 ns an
// edge, 30 µs for a corridor of 500 vertices.
// The nearest point lies on its edge's great-circle arc (as PostGIS picks it); the distance from
// the edge's first vertex to it is measured the same way.

// vertexPoint prepares vertex i as a Point without trigonometry (from its unit vector).
func (l *Line) vertexPoint(i int) Point {
	v := l.v[i]
	sl, cl := v.Z, math.Hypot(v.X, v.Y)
	w := 1 - wgs84E2*sl*sl
	n := WGS84A / math.Sqrt(w)
	return Point{Lon: l.coords[2*i], Lat: l.coords[2*i+1], v: v, sinLat: sl, cosLat: cl, n: n, m: n * (1 - wgs84E2) / w}
}

// geodesicTo is the WGS84 geodesic length from the prepared point p to the point k on the unit
// sphere (lon, lat its coordinates; NaN: from k), by the fast path where it holds, else by
// Karney's method.
func geodesicTo(p *Point, k Vec3, lon, lat float64) float64 {
	if d, ok := flatDistance(p, k); ok {
		return d
	}
	if math.IsNaN(lon) {
		lon, lat = lonLat(k)
	}
	return Geodesic(p.Lon, p.Lat, lon, lat)
}

func (l *Line) buildLengths() {
	if len(l.v) == 0 {
		return
	}
	l.cum = make([]float64, len(l.v))
	for i := 1; i < len(l.v); i++ {
		p := l.vertexPoint(i - 1)
		l.cum[i] = l.cum[i-1] + geodesicTo(&p, l.v[i], l.coords[2*i], l.coords[2*i+1])
	}
}

// Length returns the line's length in metres (PostGIS ST_Length(line::geography)); 0 for an
// empty or single-vertex line.
func (l *Line) Length() float64 {
	l.cumOne.Do(l.buildLengths)
	if len(l.cum) == 0 {
		return 0
	}
	return l.cum[len(l.cum)-1]
}

// Along returns the metres along the line from its first vertex to the nearest point n (from
// Search): the lengths of the edges before n's edge plus the distance along that edge to the
// point. It is 0 for an empty line and never more than the length up to the end of n's edge.
func (l *Line) Along(n *Nearest) float64 {
	l.cumOne.Do(l.buildLengths)
	if n.Seg < 0 || len(l.cum) == 0 {
		return 0
	}
	if n.Vertex >= 0 {
		return l.cum[n.Vertex]
	}
	p := l.vertexPoint(n.Seg)
	d := geodesicTo(&p, n.K, math.NaN(), math.NaN())
	return min(l.cum[n.Seg]+d, l.cum[n.Seg+1])
}
