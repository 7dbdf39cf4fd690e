package geo

import "math"

// Box is a lon/lat rectangle in degrees. A box built from a line crossing the antimeridian may
// have MinLon < -180 or MaxLon > 180; Split turns it into boxes within [-180, 180].
type Box struct{ MinLon, MinLat, MaxLon, MaxLat float64 }

// ContainsPoint reports whether lon, lat lies in b (edges included).
func (b Box) ContainsPoint(lon, lat float64) bool {
	return lon >= b.MinLon && lon <= b.MaxLon && lat >= b.MinLat && lat <= b.MaxLat
}

func wrapLon(d float64) float64 {
	for d > 180 {
		d -= 360
	}
	for d <= -180 {
		d += 360
	}
	return d
}

// ChunkBox returns the lon/lat box of chunk i's edges as great-circle arcs, including the bulge
// of an arc towards the pole beyond its end points.
func (l *Line) ChunkBox(i int) Box {
	lo, hi := l.chunkVerts(i)
	if len(l.v) == 1 {
		lo, hi = 0, 0
	}
	lon0 := wrapLon(l.coords[2*lo])
	b := Box{lon0, l.coords[2*lo+1], lon0, l.coords[2*lo+1]}
	prev := lon0
	for j := lo + 1; j <= hi; j++ {
		lon := prev + wrapLon(l.coords[2*j]-l.coords[2*j-2])
		lat := l.coords[2*j+1]
		b.MinLon, b.MaxLon = math.Min(b.MinLon, lon), math.Max(b.MaxLon, lon)
		b.MinLat, b.MaxLat = math.Min(b.MinLat, lat), math.Max(b.MaxLat, lat)
		prev = lon
		// Latitude extremes of the arc between j-1 and j.
		a, c := l.v[j-1], l.v[j]
		n := cross(a, c)
		nn := dot(n, n)
		if nn == 0 {
			continue
		}
		ac := dot(a, c)
		// Northernmost point of the great circle: z minus its component along n.
		f := n.Z / nn
		v := Vec3{-n.X * f, -n.Y * f, 1 - n.Z*f}
		va, vc := dot(v, a), dot(v, c)
		north := vc-va*ac >= 0 && va-vc*ac >= 0
		south := -vc+va*ac >= 0 && -va+vc*ac >= 0
		if north || south {
			ext := math.Acos(math.Min(1, math.Abs(n.Z)/math.Sqrt(nn))) / deg
			if north {
				b.MaxLat = math.Max(b.MaxLat, ext)
			}
			if south {
				b.MinLat = math.Min(b.MinLat, -ext)
			}
		}
	}
	return b
}

// Pad widens b so that it contains every point within m metres (geodesic on WGS84) of any point
// of b. The result may extend past ±180° of longitude (see Split); near a pole it spans every
// longitude.
func (b Box) Pad(m float64) Box {
	dLat := m/minMeridional/deg*(1+1e-9) + 1e-9
	out := Box{b.MinLon, b.MinLat - dLat, b.MaxLon, b.MaxLat + dLat}
	maxAbs := math.Max(math.Abs(out.MinLat), math.Abs(out.MaxLat))
	if maxAbs >= 89.9 {
		return Box{-180, math.Max(out.MinLat, -90), 180, math.Min(out.MaxLat, 90)}
	}
	// The parallel radius N cos φ is at least a cos φ and shrinks towards the poles.
	dLon := m/(WGS84A*math.Cos(maxAbs*deg))/deg*(1+1e-9) + 1e-9
	out.MinLon -= dLon
	out.MaxLon += dLon
	if out.MaxLon-out.MinLon >= 360 {
		out.MinLon, out.MaxLon = -180, 180
	}
	return out
}

// Split returns b as one or two boxes within [-180, 180] of longitude.
func (b Box) Split() ([2]Box, int) {
	switch {
	case b.MaxLon-b.MinLon >= 360:
		return [2]Box{{-180, b.MinLat, 180, b.MaxLat}}, 1
	case b.MinLon < -180:
		return [2]Box{{b.MinLon + 360, b.MinLat, 180, b.MaxLat}, {-180, b.MinLat, b.MaxLon, b.MaxLat}}, 2
	case b.MaxLon > 180:
		return [2]Box{{b.MinLon, b.MinLat, 180, b.MaxLat}, {-180, b.MinLat, b.MaxLon - 360, b.MaxLat}}, 2
	}
	return [2]Box{b}, 1
}
