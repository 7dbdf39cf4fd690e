package httpapi

import (
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/twpayne/go-geom"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// corridorProps are a corridor Feature's properties.
type corridorProps struct {
	Name        string     `json:"name"`
	BufferM     float64    `json:"buffer_m"`
	MaxSpeedKmh *float64   `json:"max_speed_kmh"`
	CreatedAt   *time.Time `json:"created_at,omitempty"`
	UpdatedAt   *time.Time `json:"updated_at,omitempty"`
}

// corridorFeature is a corridor as GeoJSON.
func corridorFeature(c tracking.Corridor) Feature {
	return Feature{Type: "Feature", ID: c.ID, Geometry: geometryOf(c.Line), Properties: corridorProps{
		Name: c.Name, BufferM: c.BufferM, MaxSpeedKmh: c.MaxSpeedKmh, CreatedAt: &c.CreatedAt, UpdatedAt: &c.UpdatedAt}}
}

// readCorridor decodes and validates a corridor Feature (LineString; name; 0 < buffer_m ≤ 5000;
// 0 < max_speed_kmh ≤ 300 when given).
func readCorridor(w http.ResponseWriter, r *http.Request) (tracking.Corridor, error) {
	data, err := readBody(w, r)
	if err != nil {
		return tracking.Corridor{}, err
	}
	var p struct {
		Name        *string  `json:"name"`
		BufferM     *float64 `json:"buffer_m"`
		MaxSpeedKmh *float64 `json:"max_speed_kmh"`
	}
	g, err := decodeFeature(data, &p, "LineString")
	var fields []tracking.FieldError
	if e, ok := err.(*tracking.Error); ok {
		if len(e.Fields) == 1 && e.Fields[0].Field == "body" {
			return tracking.Corridor{}, err
		}
		fields = e.Fields
	} else if err != nil {
		return tracking.Corridor{}, err
	}
	bad := func(f, m string) { fields = append(fields, tracking.FieldError{Field: f, Message: m}) }
	c := tracking.Corridor{MaxSpeedKmh: p.MaxSpeedKmh}
	if ls, ok := g.(*geom.LineString); ok {
		c.Line = ls
	}
	if p.Name == nil || strings.TrimSpace(*p.Name) == "" {
		if !hasField(fields, "properties", "properties.name") {
			bad("properties.name", "required")
		}
	} else if len(*p.Name) > 200 {
		bad("properties.name", "at most 200 bytes")
	} else {
		c.Name = strings.TrimSpace(*p.Name)
	}
	switch {
	case p.BufferM == nil:
		if !hasField(fields, "properties", "properties.buffer_m") {
			bad("properties.buffer_m", "required")
		}
	case math.IsNaN(*p.BufferM) || *p.BufferM <= 0 || *p.BufferM > 5000:
		bad("properties.buffer_m", "must be > 0 and ≤ 5000 (metres)")
	default:
		c.BufferM = *p.BufferM
	}
	if v := p.MaxSpeedKmh; v != nil && (math.IsNaN(*v) || *v <= 0 || *v > 300) {
		bad("properties.max_speed_kmh", "must be > 0 and ≤ 300 (km/h)")
	}
	if len(fields) > 0 {
		return tracking.Corridor{}, tracking.Invalid(fields...)
	}
	return c, nil
}

// hasField reports whether fields already names one of names (so "required" is not added on top
// of a type error or a missing properties object).
func hasField(fields []tracking.FieldError, names ...string) bool {
	for _, f := range fields {
		if contains(names, f.Field) {
			return true
		}
	}
	return false
}

// handleCorridorCreate: POST /v1/corridors (Feature) → 201 Feature with id.
func (s *server) handleCorridorCreate() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := readCorridor(w, r)
		if err != nil {
			s.writeBodyError(w, r, err)
			return
		}
		c, err = s.Corridors.CreateCorridor(r.Context(), c)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		w.Header().Set("Location", "/v1/corridors/"+c.ID)
		writeGeoJSON(w, http.StatusCreated, corridorFeature(c))
	}
}

// handleCorridorList: GET /v1/corridors → FeatureCollection.
func (s *server) handleCorridorList() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pg, err := parsePage(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		cs, next, err := s.Corridors.ListCorridorsPage(r.Context(), pg)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		fs := make([]Feature, len(cs))
		for i, c := range cs {
			fs[i] = corridorFeature(c)
		}
		writeGeoJSON(w, http.StatusOK, pagedFeatures(fs, next))
	}
}

// handleCorridorGet: GET /v1/corridors/{id} → Feature.
func (s *server) handleCorridorGet() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := s.Corridors.GetCorridor(r.Context(), chi.URLParam(r, "id"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeGeoJSON(w, http.StatusOK, corridorFeature(c))
	}
}

// handleCorridorReplace: PUT /v1/corridors/{id} (Feature) → 200 Feature.
func (s *server) handleCorridorReplace() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := readCorridor(w, r)
		if err != nil {
			s.writeBodyError(w, r, err)
			return
		}
		c.ID = chi.URLParam(r, "id")
		c, err = s.Corridors.ReplaceCorridor(r.Context(), c)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeGeoJSON(w, http.StatusOK, corridorFeature(c))
	}
}

// handleCorridorDelete: DELETE /v1/corridors/{id} → 204; 409 while a current or future trip uses it.
func (s *server) handleCorridorDelete() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.Corridors.DeleteCorridor(r.Context(), chi.URLParam(r, "id")); err != nil {
			s.writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}
