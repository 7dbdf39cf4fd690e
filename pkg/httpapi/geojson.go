package httpapi

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/twpayne/go-geom"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// Feature is a GeoJSON Feature (RFC 7946) as the API writes it.
type Feature struct {
	Type       string   `json:"type"` // "Feature"
	ID         string   `json:"id,omitempty"`
	Geometry   Geometry `json:"geometry"`
	Properties any      `json:"properties"`
}

// FeatureCollection is a GeoJSON FeatureCollection.
type FeatureCollection struct {
	Type     string    `json:"type"` // "FeatureCollection"
	Features []Feature `json:"features"`
}

// Geometry is a GeoJSON geometry with [lon, lat] positions.
type Geometry struct {
	Type        string `json:"type"`
	Coordinates any    `json:"coordinates"`
}

func collection(fs []Feature) FeatureCollection {
	return FeatureCollection{Type: "FeatureCollection", Features: nonNil(fs)}
}

// pointGeometry is a GeoJSON Point.
func pointGeometry(lon, lat float64) Geometry {
	return Geometry{Type: "Point", Coordinates: [2]float64{lon, lat}}
}

// geometryOf encodes a LineString, Polygon or MultiPolygon as GeoJSON.
func geometryOf(g geom.T) Geometry {
	switch g := g.(type) {
	case *geom.LineString:
		return Geometry{Type: "LineString", Coordinates: coords1(g.Coords())}
	case *geom.Polygon:
		return Geometry{Type: "Polygon", Coordinates: coords2(g.Coords())}
	case *geom.MultiPolygon:
		cs := g.Coords()
		out := make([][][][2]float64, len(cs))
		for i, p := range cs {
			out[i] = coords2(p)
		}
		return Geometry{Type: "MultiPolygon", Coordinates: out}
	}
	return Geometry{Type: "GeometryCollection", Coordinates: []any{}}
}

func coords1(cs []geom.Coord) [][2]float64 {
	out := make([][2]float64, len(cs))
	for i, c := range cs {
		out[i] = [2]float64{c[0], c[1]}
	}
	return out
}

func coords2(rs [][]geom.Coord) [][][2]float64 {
	out := make([][][2]float64, len(rs))
	for i, r := range rs {
		out[i] = coords1(r)
	}
	return out
}

// featureIn is a GeoJSON Feature as a client sends it; properties are decoded by the resource.
type featureIn struct {
	Type       string          `json:"type"`
	Geometry   *geometryIn     `json:"geometry"`
	Properties json.RawMessage `json:"properties"`
}

type geometryIn struct {
	Type        string          `json:"type"`
	Coordinates json.RawMessage `json:"coordinates"`
}

// decodeFeature parses a Feature whose geometry is one of types, validating every position
// ([lon, lat] in range, finite), LineStrings (≥ 2 distinct positions) and polygon rings (closed,
// ≥ 4 positions). props receives the properties object. Errors are EINVALID naming the field.
func decodeFeature(data []byte, props any, types ...string) (geom.T, error) {
	var f featureIn
	if err := unmarshal(data, &f); err != nil {
		return nil, err
	}
	var fields []tracking.FieldError
	bad := func(field, msg string) { fields = append(fields, tracking.FieldError{Field: field, Message: msg}) }
	if f.Type != "Feature" {
		bad("type", `must be "Feature"`)
	}
	if len(f.Properties) == 0 || string(f.Properties) == "null" {
		bad("properties", "required")
	} else if err := json.Unmarshal(f.Properties, props); err != nil {
		if e, ok := jsonError(err, "properties").(*tracking.Error); ok {
			fields = append(fields, e.Fields...)
		}
	}
	var g geom.T
	switch {
	case f.Geometry == nil:
		bad("geometry", "required")
	case !contains(types, f.Geometry.Type):
		bad("geometry.type", fmt.Sprintf("must be one of %v", types))
	default:
		var errs []tracking.FieldError
		g, errs = parseGeometry(f.Geometry)
		fields = append(fields, errs...)
	}
	if len(fields) > 0 {
		return nil, tracking.Invalid(fields...)
	}
	return g, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func parseGeometry(gi *geometryIn) (geom.T, []tracking.FieldError) {
	var fields []tracking.FieldError
	bad := func(field, msg string) { fields = append(fields, tracking.FieldError{Field: field, Message: msg}) }
	const base = "geometry.coordinates"
	if len(gi.Coordinates) == 0 || string(gi.Coordinates) == "null" {
		bad(base, "required")
		return nil, fields
	}
	switch gi.Type {
	case "LineString":
		var cs [][]float64
		if err := json.Unmarshal(gi.Coordinates, &cs); err != nil {
			bad(base, "must be an array of [lon, lat] positions")
			return nil, fields
		}
		flat := checkPositions(base, cs, bad)
		if len(fields) == 0 && distinct(flat) < 2 {
			bad(base, "a LineString needs at least 2 distinct positions")
		}
		if len(fields) > 0 {
			return nil, fields
		}
		return geom.NewLineStringFlat(geom.XY, flat).SetSRID(4326), nil
	case "Polygon":
		var rings [][][]float64
		if err := json.Unmarshal(gi.Coordinates, &rings); err != nil {
			bad(base, "must be an array of linear rings of [lon, lat] positions")
			return nil, fields
		}
		flat, ends := checkPolygon(base, rings, bad)
		if len(fields) > 0 {
			return nil, fields
		}
		return geom.NewPolygonFlat(geom.XY, flat, ends).SetSRID(4326), nil
	case "MultiPolygon":
		var polys [][][][]float64
		if err := json.Unmarshal(gi.Coordinates, &polys); err != nil {
			bad(base, "must be an array of polygons")
			return nil, fields
		}
		if len(polys) == 0 {
			bad(base, "a MultiPolygon needs at least one polygon")
			return nil, fields
		}
		var flat []float64
		var endss [][]int
		for i, p := range polys {
			f, ends := checkPolygon(base+"["+strconv.Itoa(i)+"]", p, bad)
			off := len(flat)
			flat = append(flat, f...)
			for j := range ends {
				ends[j] += off
			}
			endss = append(endss, ends)
		}
		if len(fields) > 0 {
			return nil, fields
		}
		return geom.NewMultiPolygonFlat(geom.XY, flat, endss).SetSRID(4326), nil
	}
	bad("geometry.type", "unsupported geometry type "+gi.Type)
	return nil, fields
}

// checkPositions validates positions and returns them flattened as lon, lat pairs (any altitude is
// dropped).
func checkPositions(path string, cs [][]float64, bad func(string, string)) []float64 {
	flat := make([]float64, 0, 2*len(cs))
	for i, c := range cs {
		p := path + "[" + strconv.Itoa(i) + "]"
		if len(c) < 2 || len(c) > 3 {
			bad(p, "a position is [lon, lat] or [lon, lat, altitude]")
			continue
		}
		lon, lat := c[0], c[1]
		if math.IsNaN(lon) || math.IsInf(lon, 0) || lon < -180 || lon > 180 {
			bad(p, "longitude must be in [-180, 180]")
			continue
		}
		if math.IsNaN(lat) || math.IsInf(lat, 0) || lat < -90 || lat > 90 {
			bad(p, "latitude must be in [-90, 90]")
			continue
		}
		flat = append(flat, lon, lat)
	}
	return flat
}

// checkPolygon validates a polygon's rings: at least one, each closed with ≥ 4 positions.
func checkPolygon(path string, rings [][][]float64, bad func(string, string)) ([]float64, []int) {
	if len(rings) == 0 {
		bad(path, "a Polygon needs an exterior ring")
		return nil, nil
	}
	var flat []float64
	var ends []int
	for i, ring := range rings {
		p := path + "[" + strconv.Itoa(i) + "]"
		f := checkPositions(p, ring, bad)
		if len(f) != 2*len(ring) {
			continue
		}
		switch {
		case len(ring) < 4:
			bad(p, "a linear ring needs at least 4 positions")
		case f[0] != f[len(f)-2] || f[1] != f[len(f)-1]:
			bad(p, "a linear ring must be closed: its last position equals its first")
		case distinct(f) < 3:
			bad(p, "a linear ring needs at least 3 distinct positions")
		}
		flat = append(flat, f...)
		ends = append(ends, len(flat))
	}
	return flat, ends
}

// distinct counts the distinct positions of a flat lon, lat list.
func distinct(flat []float64) int {
	seen := make(map[[2]float64]struct{}, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		seen[[2]float64{flat[i], flat[i+1]}] = struct{}{}
	}
	return len(seen)
}
