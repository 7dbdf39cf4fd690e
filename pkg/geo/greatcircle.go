package geo

import "math"

// GreatCircle returns the great-circle (haversine) distance in metres between two points
// (degrees) on the sphere of radius [SphereRadius]. It is the project's one approximate distance
// between two points: for plausibility checks and the simulator, where 0.5 % is plenty. Rule
// distances use [Geodesic] and the corridor distance of this package.
func GreatCircle(lon1, lat1, lon2, lat2 float64) float64 {
	s1, s2 := math.Sin((lat2-lat1)*deg/2), math.Sin((lon2-lon1)*deg/2)
	h := s1*s1 + math.Cos(lat1*deg)*math.Cos(lat2*deg)*s2*s2
	return 2 * SphereRadius * math.Asin(math.Min(1, math.Sqrt(h)))
}
