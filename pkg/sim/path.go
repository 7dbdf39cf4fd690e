package sim

import (
	"math"

	"github.com/corridor-dev/corridor/pkg/geo"
)

// earthR is the mean Earth radius used for the simulator's own (approximate) geometry. The
// simulator only needs metres good to a fraction of a percent; the engine measures exactly.
const earthR = 6371008.8

const rad = math.Pi / 180

// lonLat is a WGS84 coordinate, [lon, lat] as in GeoJSON.
type lonLat = [2]float64

// haversine returns the great-circle distance in metres (the project's one: geo.GreatCircle).
func haversine(a, b lonLat) float64 { return geo.GreatCircle(a[0], a[1], b[0], b[1]) }

// bearing returns the initial bearing from a to b in degrees, [0, 360).
func bearing(a, b lonLat) float64 {
	φ1, φ2 := a[1]*rad, b[1]*rad
	dλ := (b[0] - a[0]) * rad
	y := math.Sin(dλ) * math.Cos(φ2)
	x := math.Cos(φ1)*math.Sin(φ2) - math.Sin(φ1)*math.Cos(φ2)*math.Cos(dλ)
	d := math.Atan2(y, x) / rad
	d = math.Mod(d+360, 360)
	if d >= 360 {
		d = 0
	}
	return d
}

// offset moves p by east and north metres (local flat approximation, fine for a few km).
func offset(p lonLat, east, north float64) lonLat {
	return lonLat{
		p[0] + east/(earthR*math.Cos(p[1]*rad))*(1/rad),
		p[1] + north/earthR*(1/rad),
	}
}

// path is a polyline with cumulative lengths, driven along by distance.
type path struct {
	pts []lonLat
	cum []float64 // cum[i] = metres from pts[0] to pts[i]
}

func newPath(pts []lonLat) *path {
	p := &path{pts: pts, cum: make([]float64, len(pts))}
	for i := 1; i < len(pts); i++ {
		p.cum[i] = p.cum[i-1] + haversine(pts[i-1], pts[i])
	}
	return p
}

func (p *path) length() float64 {
	if len(p.cum) == 0 {
		return 0
	}
	return p.cum[len(p.cum)-1]
}

// at returns the point s metres along the path (clamped) and the index of its segment. hint is
// a segment index to start looking from (the previous answer, as vehicles move forward).
func (p *path) at(s float64, hint int) (lonLat, int) {
	n := len(p.pts)
	if n == 1 || s <= 0 {
		return p.pts[0], 0
	}
	if s >= p.length() {
		return p.pts[n-1], n - 2
	}
	i := hint
	if i < 0 || i > n-2 || p.cum[i] > s {
		i = 0
	}
	for i < n-2 && p.cum[i+1] < s {
		i++
	}
	segLen := p.cum[i+1] - p.cum[i]
	f := 0.0
	if segLen > 0 {
		f = (s - p.cum[i]) / segLen
	}
	a, b := p.pts[i], p.pts[i+1]
	return lonLat{a[0] + (b[0]-a[0])*f, a[1] + (b[1]-a[1])*f}, i
}

// slice returns the points of the path from s1 to s2 metres (s1 < s2), both ends interpolated.
func (p *path) slice(s1, s2 float64) []lonLat {
	a, i := p.at(s1, 0)
	b, j := p.at(s2, 0)
	out := []lonLat{a}
	for k := i + 1; k <= j; k++ {
		if p.pts[k] != a {
			out = append(out, p.pts[k])
		}
	}
	if out[len(out)-1] != b {
		out = append(out, b)
	}
	return out
}

// nearest returns the distance along the path of the point nearest to q (sampled every step m).
func (p *path) nearest(q lonLat, step float64) (s, d float64) {
	d = math.Inf(1)
	hint := 0
	for x := 0.0; x <= p.length(); x += step {
		pt, h := p.at(x, hint)
		hint = h
		if dd := haversine(pt, q); dd < d {
			s, d = x, dd
		}
	}
	return s, d
}

// reversed returns the points in the opposite order.
func reversed(pts []lonLat) []lonLat {
	out := make([]lonLat, len(pts))
	for i, p := range pts {
		out[len(pts)-1-i] = p
	}
	return out
}
