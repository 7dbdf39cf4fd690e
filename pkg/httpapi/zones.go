package httpapi

import (
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// zoneProps are a zone Feature's properties.
type zoneProps struct {
	Name        string                `json:"name"`
	Kind        string                `json:"kind"`
	ActiveHours *tracking.ActiveHours `json:"active_hours"`
	CreatedAt   *time.Time            `json:"created_at,omitempty"`
	UpdatedAt   *time.Time            `json:"updated_at,omitempty"`
}

// zoneFeature is a zone as GeoJSON.
func zoneFeature(z tracking.Zone) Feature {
	return Feature{Type: "Feature", ID: z.ID, Geometry: geometryOf(z.Area), Properties: zoneProps{
		Name: z.Name, Kind: z.Kind, ActiveHours: z.ActiveHours, CreatedAt: &z.CreatedAt, UpdatedAt: &z.UpdatedAt}}
}

var hhmm = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)

// readZone decodes and validates a zone Feature (Polygon or MultiPolygon; name; kind;
// active_hours {"from", "to"} as "HH:MM", from ≠ to, from > to spanning midnight).
func readZone(w http.ResponseWriter, r *http.Request) (tracking.Zone, error) {
	data, err := readBody(w, r)
	if err != nil {
		return tracking.Zone{}, err
	}
	var p struct {
		Name        *string               `json:"name"`
		Kind        *string               `json:"kind"`
		ActiveHours *tracking.ActiveHours `json:"active_hours"`
	}
	g, err := decodeFeature(data, &p, "Polygon", "MultiPolygon")
	var fields []tracking.FieldError
	if e, ok := err.(*tracking.Error); ok {
		if len(e.Fields) == 1 && e.Fields[0].Field == "body" {
			return tracking.Zone{}, err
		}
		fields = e.Fields
	} else if err != nil {
		return tracking.Zone{}, err
	}
	bad := func(f, m string) { fields = append(fields, tracking.FieldError{Field: f, Message: m}) }
	z := tracking.Zone{Area: g}
	switch {
	case p.Name == nil || strings.TrimSpace(*p.Name) == "":
		if !hasField(fields, "properties", "properties.name") {
			bad("properties.name", "required")
		}
	case len(*p.Name) > 200:
		bad("properties.name", "at most 200 bytes")
	default:
		z.Name = strings.TrimSpace(*p.Name)
	}
	switch {
	case p.Kind == nil:
		if !hasField(fields, "properties", "properties.kind") {
			bad("properties.kind", "required")
		}
	case *p.Kind != tracking.ZoneRestricted && *p.Kind != tracking.ZoneParking && *p.Kind != tracking.ZoneTerminal:
		bad("properties.kind", "must be restricted, parking or terminal")
	default:
		z.Kind = *p.Kind
	}
	if h := p.ActiveHours; h != nil {
		okFrom, okTo := hhmm.MatchString(h.From), hhmm.MatchString(h.To)
		if !okFrom {
			bad("properties.active_hours.from", `must be local time "HH:MM" (00:00 to 23:59)`)
		}
		if !okTo {
			bad("properties.active_hours.to", `must be local time "HH:MM" (00:00 to 23:59)`)
		}
		if okFrom && okTo && h.From == h.To {
			bad("properties.active_hours", "from and to must differ (omit active_hours for a zone that always applies)")
		}
		z.ActiveHours = h
	}
	if len(fields) > 0 {
		return tracking.Zone{}, tracking.Invalid(fields...)
	}
	return z, nil
}

// handleZoneCreate: POST /v1/zones (Feature) → 201 Feature with id.
func (s *server) handleZoneCreate() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		z, err := readZone(w, r)
		if err != nil {
			s.writeBodyError(w, r, err)
			return
		}
		z, err = s.Zones.CreateZone(r.Context(), z)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		w.Header().Set("Location", "/v1/zones/"+z.ID)
		writeGeoJSON(w, http.StatusCreated, zoneFeature(z))
	}
}

// handleZoneList: GET /v1/zones → FeatureCollection.
func (s *server) handleZoneList() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pg, err := parsePage(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		zs, next, err := s.Zones.ListZonesPage(r.Context(), pg)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		fs := make([]Feature, len(zs))
		for i, z := range zs {
			fs[i] = zoneFeature(z)
		}
		writeGeoJSON(w, http.StatusOK, pagedFeatures(fs, next))
	}
}

// handleZoneGet: GET /v1/zones/{id} → Feature.
func (s *server) handleZoneGet() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		z, err := s.Zones.GetZone(r.Context(), chi.URLParam(r, "id"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeGeoJSON(w, http.StatusOK, zoneFeature(z))
	}
}

// handleZoneReplace: PUT /v1/zones/{id} (Feature) → 200 Feature.
func (s *server) handleZoneReplace() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		z, err := readZone(w, r)
		if err != nil {
			s.writeBodyError(w, r, err)
			return
		}
		z.ID = chi.URLParam(r, "id")
		z, err = s.Zones.ReplaceZone(r.Context(), z)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeGeoJSON(w, http.StatusOK, zoneFeature(z))
	}
}

// handleZoneDelete: DELETE /v1/zones/{id} → 204.
func (s *server) handleZoneDelete() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.Zones.DeleteZone(r.Context(), chi.URLParam(r, "id")); err != nil {
			s.writeError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}
