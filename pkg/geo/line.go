package geo

import (
	"math"
	"sync"
)

// ChunkSegments is the number of consecutive edges in one chunk of a [Line]: the unit a spatial
// index over lines stores (see ChunkBox and SearchChunk).
const ChunkSegments = 8

// leafSegments is the number of consecutive edges under one leaf cap.
const leafSegments = 4

// capFan is the number of children of an inner cap.
const capFan = 8

// capMargin (radians, about 0.6 m) widens every cap so that rounding in the pruning test can never
// skip an edge that is nearest.
const capMargin = 1e-7

// sphCap is a spherical cap containing a run of edges (great-circle arcs).
type sphCap struct {
	c          Vec3    // centre, unit
	r          float64 // angular radius including capMargin; >= math.Pi: never pruned
	cosR, sinR float64
}

// Line is a polyline prepared for nearest-point queries. It is immutable once built and safe for
// concurrent use.
type Line struct {
	coords []float64 // flat lon,lat pairs, shared with the caller
	v      []Vec3    // unit vector per vertex
	caps   [][]sphCap
	cum    []float64 // cum[i]: metres along the line from vertex 0 to vertex i (along.go)
	cumOne sync.Once // cum is built on first use
}

// NewLine prepares a polyline given as flat lon,lat pairs (degrees). The slice is kept, not
// copied: do not modify it afterwards. A trailing odd value is ignored.
func NewLine(flat []float64) *Line {
	n := len(flat) / 2
	l := &Line{coords: flat[:2*n], v: make([]Vec3, n)}
	for i := 0; i < n; i++ {
		l.v[i] = UnitVector(flat[2*i], flat[2*i+1])
	}
	l.buildCaps()
	return l
}

// Len returns the number of vertices.
func (l *Line) Len() int { return len(l.v) }

// Segments returns the number of edges (segment i joins vertices i and i+1).
func (l *Line) Segments() int {
	if len(l.v) < 2 {
		return 0
	}
	return len(l.v) - 1
}

// Coords returns the flat lon,lat pairs the line was built from.
func (l *Line) Coords() []float64 { return l.coords }

// Chunks returns the number of runs of up to ChunkSegments edges (at least 1 for a single point).
func (l *Line) Chunks() int {
	if len(l.v) == 0 {
		return 0
	}
	s := l.Segments()
	if s == 0 {
		return 1
	}
	return (s + ChunkSegments - 1) / ChunkSegments
}

// chunkVerts returns the vertex range [lo, hi] (inclusive) of chunk i.
func (l *Line) chunkVerts(i int) (lo, hi int) { return l.runVerts(i, ChunkSegments) }

// runVerts returns the vertex range [lo, hi] (inclusive) of the i-th run of size edges.
func (l *Line) runVerts(i, size int) (lo, hi int) {
	lo = i * size
	hi = lo + size
	if hi > len(l.v)-1 {
		hi = len(l.v) - 1
	}
	return lo, hi
}

func (l *Line) buildCaps() {
	if len(l.v) == 0 {
		return
	}
	nc := 1
	if s := l.Segments(); s > 0 {
		nc = (s + leafSegments - 1) / leafSegments
	}
	leaf := make([]sphCap, nc)
	for i := range leaf {
		lo, hi := l.runVerts(i, leafSegments)
		if len(l.v) == 1 {
			lo, hi = 0, 0
		}
		var s Vec3
		for j := lo; j <= hi; j++ {
			s.X += l.v[j].X
			s.Y += l.v[j].Y
			s.Z += l.v[j].Z
		}
		c := normalize(s)
		c2 := 0.0
		for j := lo; j <= hi; j++ {
			c2 = math.Max(c2, chord2(c, l.v[j]))
		}
		r := chordToAngle(c2)
		// Arcs stay inside a cap through their end points only when the cap is under a hemisphere.
		if dot(s, s) == 0 || r >= math.Pi/2-0.01 {
			r = math.Pi
		}
		leaf[i] = newCap(c, r)
	}
	l.caps = append(l.caps, leaf)
	for len(l.caps[len(l.caps)-1]) > capFan {
		below := l.caps[len(l.caps)-1]
		up := make([]sphCap, (len(below)+capFan-1)/capFan)
		for i := range up {
			lo, hi := i*capFan, min(i*capFan+capFan, len(below))
			var s Vec3
			for _, ch := range below[lo:hi] {
				s.X += ch.c.X
				s.Y += ch.c.Y
				s.Z += ch.c.Z
			}
			c := normalize(s)
			r := 0.0
			for _, ch := range below[lo:hi] {
				r = math.Max(r, chordToAngle(chord2(c, ch.c))+ch.r)
			}
			if dot(s, s) == 0 {
				r = math.Pi
			}
			up[i] = newCap(c, r)
		}
		l.caps = append(l.caps, up)
	}
}

func newCap(c Vec3, r float64) sphCap {
	r += capMargin
	if r >= math.Pi {
		return sphCap{c: c, r: math.Pi, cosR: -1}
	}
	return sphCap{c: c, r: r, cosR: math.Cos(r), sinR: math.Sin(r)}
}

// Nearest is the point of a line nearest to a fix on PostGIS's sphere.
type Nearest struct {
	// Seg is the edge the nearest point lies on (-1: none, for an empty line).
	Seg int
	// Chord2 is the squared chord between the fix and the nearest point on the unit sphere:
	// the order in which edges compete.
	Chord2 float64
	// Vertex is the index of the vertex the nearest point is, or -1 if it lies inside edge Seg.
	Vertex int
	// K is the nearest point on the unit sphere.
	K Vec3
}

// Reset prepares n for a new search.
func (n *Nearest) Reset() { *n = Nearest{Seg: -1, Chord2: math.Inf(1), Vertex: -1} }

// better reports whether an edge i at squared chord c2 beats best: nearer, or as near and earlier
// (PostGIS keeps the first of equally near edges), whatever order the edges are visited in.
func better(c2 float64, i int, best *Nearest) bool {
	return c2 < best.Chord2 || (c2 == best.Chord2 && i < best.Seg)
}

// edge finds the nearest point of edge i to p and keeps it in best if it is better.
func (l *Line) edge(p Vec3, i int, best *Nearest) {
	a, b := l.v[i], l.v[i+1]
	pa, pb, ab := dot(p, a), dot(p, b), dot(a, b)
	n := cross(a, b)
	nn := dot(n, n)
	if nn > 0 && pb-pa*ab >= 0 && pa-pb*ab >= 0 {
		t := dot(p, n)
		s2 := t * t / nn // sin² of the angle to the great circle
		// The foot of the perpendicular lies inside the arc: it is the nearest point. (Unless p is
		// a pole of the great circle, a quarter of the globe from every point of it: then the foot
		// is undefined and an end point is as near as any.)
		if s2 < 1-1e-12 {
			c2 := 2 * s2 / (1 + math.Sqrt(1-s2))
			if better(c2, i, best) {
				f := t / nn
				best.Seg, best.Chord2, best.Vertex = i, c2, -1
				best.K = normalize(Vec3{p.X - n.X*f, p.Y - n.Y*f, p.Z - n.Z*f})
			}
			return
		}
	}
	da, db := chord2(p, a), chord2(p, b)
	if da <= db {
		if better(da, i, best) {
			best.Seg, best.Chord2, best.Vertex, best.K = i, da, i, a
		}
	} else if better(db, i, best) {
		best.Seg, best.Chord2, best.Vertex, best.K = i, db, i+1, b
	}
}

// point handles a single-vertex line.
func (l *Line) point(p Vec3, best *Nearest) {
	if c2 := chord2(p, l.v[0]); c2 < best.Chord2 {
		best.Seg, best.Chord2, best.Vertex, best.K = 0, c2, 0, l.v[0]
	}
}

// SearchChunk offers every edge of chunk i to best.
func (l *Line) SearchChunk(q *Point, i int, best *Nearest) {
	if len(l.v) == 1 {
		l.point(q.v, best)
		return
	}
	lo, hi := l.chunkVerts(i)
	for j := lo; j < hi; j++ {
		l.edge(q.v, j, best)
	}
}

// bound tracks the pruning threshold for the current best.
type bound struct {
	theta, cosT, sinT float64
}

func (b *bound) set(c2 float64) {
	if math.IsInf(c2, 1) {
		b.theta = math.Inf(1)
		return
	}
	b.theta = chordToAngle(c2)
	b.sinT, b.cosT = math.Sincos(b.theta)
}

// prune reports whether no point of cap c, whose centre is at pc = p·c from the fix p, can be
// nearer to p than the bound.
func (b *bound) prune(pc float64, c *sphCap) bool {
	if c.r+b.theta >= math.Pi {
		return false
	}
	// angle(p, c) > r + theta  <=>  p·c < cos(r + theta)
	return pc < c.cosR*b.cosT-c.sinR*b.sinT
}

// Search finds the point of the line nearest to q on the sphere, exactly as PostGIS chooses it.
// hint is an edge to try first (for example the one matched for the previous fix of the same
// vehicle; -1 for none): a good hint only makes the search cheaper, never changes the answer.
func (l *Line) Search(q *Point, hint int, best *Nearest) {
	best.Reset()
	if len(l.v) == 0 {
		return
	}
	if len(l.v) == 1 {
		l.point(q.v, best)
		return
	}
	segs := len(l.v) - 1
	if hint >= 0 && hint < segs {
		for j := max(hint-1, 0); j <= min(hint+1, segs-1); j++ {
			l.edge(q.v, j, best)
		}
	}
	var b bound
	b.set(best.Chord2)
	top := len(l.caps) - 1
	l.visitRange(q.v, top, 0, len(l.caps[top]), best, &b)
}

// visitRange visits caps [lo, hi) of a level (at most capFan of them), the one whose centre is
// nearest to p first, so that the bound tightens early.
func (l *Line) visitRange(p Vec3, level, lo, hi int, best *Nearest, b *bound) {
	var dots [capFan]float64
	caps := l.caps[level][lo:hi]
	first, fd := 0, -2.0
	for j := range caps {
		d := dot(p, caps[j].c)
		dots[j] = d
		if d > fd {
			first, fd = j, d
		}
	}
	l.visit(p, level, lo+first, dots[first], best, b)
	for j := range caps {
		if j != first {
			l.visit(p, level, lo+j, dots[j], best, b)
		}
	}
}

func (l *Line) visit(p Vec3, level, i int, pc float64, best *Nearest, b *bound) {
	if b.prune(pc, &l.caps[level][i]) {
		return
	}
	if level == 0 {
		before := best.Chord2
		lo, hi := l.runVerts(i, leafSegments)
		for j := lo; j < hi; j++ {
			l.edge(p, j, best)
		}
		if best.Chord2 < before {
			b.set(best.Chord2)
		}
		return
	}
	l.visitRange(p, level-1, i*capFan, min(i*capFan+capFan, len(l.caps[level-1])), best, b)
}

// NearestLonLat returns the nearest point in degrees (a vertex's own coordinates when it is one).
func (l *Line) NearestLonLat(n *Nearest) (lon, lat float64) {
	if n.Vertex >= 0 {
		return l.coords[2*n.Vertex], l.coords[2*n.Vertex+1]
	}
	return lonLat(n.K)
}

// ExactDistance is Karney's geodesic from q to the nearest point n: PostGIS's answer.
func (l *Line) ExactDistance(q *Point, n *Nearest) float64 {
	if n.Seg < 0 {
		return math.Inf(1)
	}
	lon, lat := l.NearestLonLat(n)
	return Geodesic(q.Lon, q.Lat, lon, lat)
}

// FastDistance is the distance from q to the nearest point n by the fast path: the local flat
// projection when the points are under FlatMaxM apart and away from the poles, else Karney.
func (l *Line) FastDistance(q *Point, n *Nearest) float64 {
	if n.Seg < 0 {
		return math.Inf(1)
	}
	if d, ok := flatDistance(q, n.K); ok {
		return d
	}
	return l.ExactDistance(q, n)
}

// Within returns the distance from q to n and whether it is at most bufferM, deciding with
// Karney's method whenever the fast path lands within ExactMarginM of bufferM.
func (l *Line) Within(q *Point, n *Nearest, bufferM float64) (float64, bool) {
	d := l.FastDistance(q, n)
	if math.Abs(d-bufferM) <= ExactMarginM {
		d = l.ExactDistance(q, n)
	}
	return d, d <= bufferM
}

// Distance returns the fast-path distance in metres from lon, lat to the line (agreeing with
// PostGIS to well under a centimetre) and the edge matched. See Search for hint.
func (l *Line) Distance(lon, lat float64, hint int) (float64, int) {
	q := NewPoint(lon, lat)
	var n Nearest
	l.Search(&q, hint, &n)
	return l.FastDistance(&q, &n), n.Seg
}

// DistanceWithin returns the distance from lon, lat to the line, whether it is within bufferM
// (decided exactly near the threshold), and the edge matched.
func (l *Line) DistanceWithin(lon, lat, bufferM float64, hint int) (float64, bool, int) {
	q := NewPoint(lon, lat)
	var n Nearest
	l.Search(&q, hint, &n)
	d, in := l.Within(&q, &n, bufferM)
	return d, in, n.Seg
}

// DistanceToLine returns the distance in metres from lon, lat (degrees) to the polyline flat
// (lon,lat pairs), computed as PostGIS ST_Distance(line::geography, point::geography) does:
// the nearest point on great-circle edges of the 6,371,008.7714 m sphere, then Karney's geodesic on
// WGS84 to it. It is the exact (slow) reference; a prepared Line is faster for repeated queries.
// An empty line is +Inf away.
func DistanceToLine(flat []float64, lon, lat float64) float64 {
	n := len(flat) / 2
	if n == 0 {
		return math.Inf(1)
	}
	q := NewPoint(lon, lat)
	l := Line{coords: flat[:2*n], v: make([]Vec3, 0, 2)}
	var best Nearest
	best.Reset()
	if n == 1 {
		l.v = append(l.v, UnitVector(flat[0], flat[1]))
		l.point(q.v, &best)
		return l.ExactDistance(&q, &best)
	}
	// Slide a two-vertex window over the line, keeping the winning edge's vertices.
	a := UnitVector(flat[0], flat[1])
	var win Nearest
	win.Reset()
	winSeg := -1
	for i := 0; i+1 < n; i++ {
		b := UnitVector(flat[2*i+2], flat[2*i+3])
		l.v = append(l.v[:0], a, b)
		best.Reset()
		l.edge(q.v, 0, &best)
		if best.Chord2 < win.Chord2 {
			win = best
			winSeg = i
		}
		a = b
	}
	lon2, lat2 := lonLat(win.K)
	if win.Vertex >= 0 {
		v := winSeg + win.Vertex
		lon2, lat2 = flat[2*v], flat[2*v+1]
	}
	return Geodesic(lon, lat, lon2, lat2)
}

// DistanceWithin returns DistanceToLine and whether it is at most bufferM.
func DistanceWithin(flat []float64, lon, lat, bufferM float64) (float64, bool) {
	d := DistanceToLine(flat, lon, lat)
	return d, d <= bufferM
}
