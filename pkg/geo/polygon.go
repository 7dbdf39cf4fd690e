package geo

import "math"

// Ring position of a point.
const (
	outside = iota
	inside
	boundary
)

// side is the planar orientation of point (x, y) against the segment (x1, y1)-(x2, y2): > 0 on
// the left, < 0 on the right, 0 on its line. It is evaluated as PostGIS does (each product
// rounded, no fused multiply-add) so exactly-on-edge verdicts match.
func side(x1, y1, x2, y2, x, y float64) float64 {
	return float64((x2-x1)*(y-y1)) - float64((x-x1)*(y2-y1))
}

// ringPosition returns outside, inside or boundary for lon, lat against a closed ring of flat
// lon,lat pairs, by the winding number (Dan Sunday's formulation, as PostGIS's interval tree).
func ringPosition(ring []float64, x, y float64) int {
	w := 0
	for i := 0; i+3 < len(ring); i += 2 {
		y1, y2 := ring[i+1], ring[i+3]
		if (y1 < y && y2 < y) || (y1 > y && y2 > y) {
			continue // the edge's y-range misses the point's (PostGIS's interval tree skips it too)
		}
		x1, x2 := ring[i], ring[i+2]
		s := side(x1, y1, x2, y2, x, y)
		if s == 0 && x >= math.Min(x1, x2) && x <= math.Max(x1, x2) {
			return boundary
		}
		if y1 <= y && y < y2 && s > 0 {
			w++
		} else if y2 <= y && y < y1 && s < 0 {
			w--
		}
	}
	if w != 0 {
		return inside
	}
	return outside
}

// PolygonCovers reports whether the polygon (rings as closed flat lon,lat pairs; ring 0 the
// outer boundary, the rest holes) covers lon, lat: inside the outer ring and not strictly inside
// a hole, a point on any ring counting as covered. Edges are straight in lon/lat (planar, as
// PostGIS ST_Covers(geometry, point)).
func PolygonCovers(rings [][]float64, lon, lat float64) bool {
	if len(rings) == 0 {
		return false
	}
	switch ringPosition(rings[0], lon, lat) {
	case boundary:
		return true
	case outside:
		return false
	}
	for _, h := range rings[1:] {
		switch ringPosition(h, lon, lat) {
		case boundary:
			return true
		case inside:
			return false
		}
	}
	return true
}

// MultiPolygonCovers reports whether any polygon of a multipolygon covers lon, lat (see
// PolygonCovers).
func MultiPolygonCovers(polys [][][]float64, lon, lat float64) bool {
	for _, p := range polys {
		if PolygonCovers(p, lon, lat) {
			return true
		}
	}
	return false
}

// RingsBox returns the lon/lat bounding box of the rings' vertices (planar edges stay inside it).
func RingsBox(rings [][]float64) Box {
	b := Box{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}
	for _, r := range rings {
		for i := 0; i+1 < len(r); i += 2 {
			b.MinLon, b.MaxLon = math.Min(b.MinLon, r[i]), math.Max(b.MaxLon, r[i])
			b.MinLat, b.MaxLat = math.Min(b.MinLat, r[i+1]), math.Max(b.MaxLat, r[i+1])
		}
	}
	return b
}
