package geofence

import "github.com/corridor-dev/corridor/pkg/geo"

// Check is a fix measured against one corridor: CheckCorridor's answer and the fix's progress
// along the corridor.
type Check struct {
	// DistanceM and Within are as CheckCorridor's dist and within; Seg is the edge matched (the
	// next hint).
	DistanceM float64
	Within    bool
	Seg       int
	// AlongM is the metres along the corridor (WGS84 geodesic, as ST_Length(geography)) from its
	// first vertex to the point of the corridor nearest the fix; LengthM is the corridor's length.
	// A fix off the route is placed at its nearest point, as for DistanceM.
	AlongM  float64
	LengthM float64
}

// CheckProgress is CheckCorridor plus the progress along the corridor, from the same search
// (the along-track distance costs one more short geodesic; the corridor's cumulative edge
// lengths are summed once, on its first use). ok is false if there is no such corridor.
func (ix *Index) CheckProgress(id string, lon, lat float64, hint int) (c Check, ok bool) {
	i, found := ix.byID[id]
	if !found {
		return Check{Seg: -1}, false
	}
	e := &ix.corridors[i]
	q := geo.NewPoint(lon, lat)
	var n geo.Nearest
	e.line.Search(&q, hint, &n)
	c.DistanceM, c.Within = e.line.Within(&q, &n, e.c.BufferM)
	c.Seg = n.Seg
	c.AlongM, c.LengthM = e.line.Along(&n), e.line.Length()
	return c, true
}

// CorridorLength returns the length in metres of corridor id (ST_Length(geom::geography)).
func (ix *Index) CorridorLength(id string) (float64, bool) {
	i, found := ix.byID[id]
	if !found {
		return 0, false
	}
	return ix.corridors[i].line.Length(), true
}
