// Package geo is Corridor's geodesy: point-to-polyline distance on the WGS84 spheroid that agrees
// with PostGIS 3.3 geography, and point-in-polygon with the boundary counted as inside.
//
// # Distance to a corridor
//
// PostGIS computes ST_Distance(line::geography, point::geography) (use_spheroid = true) in two
// steps: it finds the point of the line nearest to the fix on a sphere of radius 6,371,008.7714 m,
// treating every edge as a great-circle arc and the WGS84 latitude as a spherical one; then it
// measures the distance from the fix to that nearest point with Karney's geodesic on the WGS84
// spheroid (GeographicLib). This package does the same:
//
//   - The nearest point is found with unit vectors (no trigonometry per edge). A prepared [Line]
//     keeps the vertices as unit vectors and a tree of spherical caps over runs of edges, so a
//     search visits only the edges that can still be nearest (branch and bound; exact, not a guess).
//   - The distance from the fix to the nearest point is Karney's geodesic
//     (github.com/tidwall/geodesic, a port of GeographicLib) on the exact path. The fast path
//     replaces it, when the two points are less than [FlatMaxM] apart, by the straight chord
//     between them on the WGS84 ellipsoid bent into an arc with the ellipsoid's radius of curvature
//     at the fix (from the meridional and prime-vertical radii): a local flat measure corrected for
//     curvature, with no trigonometry. Its error against Karney is under a micrometre up to 20 km
//     and 0.2 mm at 100 km (TestFlatError). Decisions within [ExactMarginM] of a threshold are
//     always taken with Karney's method.
//
// Edges are assumed shorter than half the globe, as PostGIS also assumes.
//
// # Zones
//
// Point in polygon is planar in lon/lat degrees, as PostGIS ST_Covers(zone::geometry, point):
// edges are straight lines on the lon/lat plate carrée, not great circles. Zones are small (a
// depot, a tunnel, a town centre): there the two readings of an edge differ by millimetres for a
// 500 m edge (about half a metre for a 5 km east-west edge at 50°), and a straight line on the map
// is what the person who drew the zone expects. A point exactly on an edge or a vertex of any
// ring, holes included, counts as inside (CONTRACT §4), with the same floating-point orientation
// test PostGIS uses, so the verdict matches PostGIS bit for bit.
package geo

import (
	"math"

	"github.com/tidwall/geodesic"
)

// WGS84 and PostGIS constants.
const (
	// WGS84A is the WGS84 semi-major axis in metres.
	WGS84A = 6378137.0
	// WGS84F is the WGS84 flattening.
	WGS84F = 1 / 298.257223563
	// SphereRadius is the radius PostGIS uses for its spherical computations: (2a + b) / 3.
	SphereRadius = 6371008.7714

	wgs84E2 = WGS84F * (2 - WGS84F)
	// minMeridional is the smallest meridional radius of curvature of WGS84 (at the equator).
	minMeridional = WGS84A * (1 - wgs84E2)
)

// FlatMaxM is the distance below which the fast path measures with the curvature-corrected chord
// instead of Karney's geodesic. Above it (a fix more than 100 km off its route) the exact method
// is used.
const FlatMaxM = 100000.0

// ExactMarginM: a distance computed by the fast path within this many metres of a decision
// threshold is recomputed with Karney's method before deciding.
const ExactMarginM = 0.05

const deg = math.Pi / 180

// Vec3 is a point on the unit sphere (or a vector in the same space).
type Vec3 struct{ X, Y, Z float64 }

func dot(a, b Vec3) float64 { return a.X*b.X + a.Y*b.Y + a.Z*b.Z }

func cross(a, b Vec3) Vec3 {
	return Vec3{a.Y*b.Z - a.Z*b.Y, a.Z*b.X - a.X*b.Z, a.X*b.Y - a.Y*b.X}
}

func chord2(a, b Vec3) float64 {
	dx, dy, dz := a.X-b.X, a.Y-b.Y, a.Z-b.Z
	return dx*dx + dy*dy + dz*dz
}

func normalize(a Vec3) Vec3 {
	l := math.Sqrt(dot(a, a))
	if l == 0 {
		return a
	}
	return Vec3{a.X / l, a.Y / l, a.Z / l}
}

// UnitVector returns the unit vector of lon, lat (degrees), with the latitude taken as a
// spherical one, as PostGIS does.
func UnitVector(lon, lat float64) Vec3 {
	sl, cl := math.Sincos(lat * deg)
	so, co := math.Sincos(lon * deg)
	return Vec3{cl * co, cl * so, sl}
}

// lonLat converts a unit vector back to degrees.
func lonLat(v Vec3) (lon, lat float64) {
	return math.Atan2(v.Y, v.X) / deg, math.Atan2(v.Z, math.Hypot(v.X, v.Y)) / deg
}

// chordToAngle converts a squared chord length on the unit sphere to the central angle.
func chordToAngle(c2 float64) float64 {
	if c2 >= 4 {
		return math.Pi
	}
	return 2 * math.Asin(math.Sqrt(c2)/2)
}

// Geodesic returns the length in metres of the WGS84 geodesic between two points (degrees),
// by Karney's method: what PostGIS reports for the distance between two geography points.
func Geodesic(lon1, lat1, lon2, lat2 float64) float64 {
	var s12 float64
	geodesic.WGS84.Inverse(lat1, lon1, lat2, lon2, &s12, nil, nil)
	return s12
}

// Point is a fix prepared for repeated distance queries: its unit vector and the sines and
// cosines of its latitude, computed once.
type Point struct {
	Lon, Lat       float64
	v              Vec3
	sinLat, cosLat float64
	n, m           float64 // WGS84 prime-vertical and meridional radii at the fix
}

// NewPoint prepares the fix lon, lat (degrees).
func NewPoint(lon, lat float64) Point {
	sl, cl := math.Sincos(lat * deg)
	so, co := math.Sincos(lon * deg)
	w := 1 - wgs84E2*sl*sl
	n := WGS84A / math.Sqrt(w)
	return Point{Lon: lon, Lat: lat, v: Vec3{cl * co, cl * so, sl}, sinLat: sl, cosLat: cl, n: n, m: n * (1 - wgs84E2) / w}
}

// Vector returns the fix's unit vector.
func (p *Point) Vector() Vec3 { return p.v }

// flatDistance is the fast-path distance from p to the point k on the unit sphere (its spherical
// coordinates being the geodetic ones). Both points are placed on the WGS84 ellipsoid (earth-centred
// cartesian coordinates, from the unit vectors without trigonometry); the straight chord c between
// them becomes the arc c + c³/(24 R²), R being the ellipsoid's radius of curvature in the chord's
// azimuth at the fix (from the meridional and prime-vertical radii). Up to FlatMaxM that is within
// 0.2 mm of Karney's geodesic (TestFlatError). ok is false where it is not used: beyond
// FlatMaxM, or within about a degree of a pole.
func flatDistance(p *Point, k Vec3) (d float64, ok bool) {
	if p.cosLat < 0.02 {
		return 0, false
	}
	nk := WGS84A / math.Sqrt(1-wgs84E2*k.Z*k.Z)
	dx := p.n*p.v.X - nk*k.X
	dy := p.n*p.v.Y - nk*k.Y
	dz := (1 - wgs84E2) * (p.n*p.v.Z - nk*k.Z)
	c2 := dx*dx + dy*dy + dz*dz
	if c2 > FlatMaxM*FlatMaxM {
		return 0, false
	}
	if c2 == 0 {
		return 0, true
	}
	// Components of the chord towards local north and east at the fix.
	h := (p.v.X*dx + p.v.Y*dy) / p.cosLat
	north := p.cosLat*dz - p.sinLat*h
	east := (p.v.X*dy - p.v.Y*dx) / p.cosLat
	hz := north*north + east*east
	curv := 0.0 // 1/R²
	if hz > 0 {
		k1 := (north*north/p.m + east*east/p.n) / hz
		curv = k1 * k1
	}
	return math.Sqrt(c2) * (1 + c2*curv/24), true
}
