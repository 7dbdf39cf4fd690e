package httpapi

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// bbox is a lon/lat box; MinLon > MaxLon crosses the antimeridian.
type bbox struct{ MinLon, MinLat, MaxLon, MaxLat float64 }

// parseBBox parses "minLon,minLat,maxLon,maxLat"; "" is no box.
func parseBBox(s string) (*bbox, error) {
	if s == "" {
		return nil, nil
	}
	bad := tracking.Invalid(tracking.FieldError{Field: "bbox", Message: "must be minLon,minLat,maxLon,maxLat in degrees"})
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return nil, bad
	}
	var v [4]float64
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, bad
		}
		v[i] = f
	}
	b := &bbox{v[0], v[1], v[2], v[3]}
	if b.MinLon < -180 || b.MaxLon > 180 || b.MinLon > 180 || b.MaxLon < -180 ||
		b.MinLat < -90 || b.MaxLat > 90 || b.MinLat > b.MaxLat {
		return nil, bad
	}
	return b, nil
}

// contains reports whether the box holds the point (edges included).
func (b *bbox) contains(lon, lat float64) bool {
	if b == nil {
		return true
	}
	if lat < b.MinLat || lat > b.MaxLat {
		return false
	}
	if b.MinLon <= b.MaxLon {
		return lon >= b.MinLon && lon <= b.MaxLon
	}
	return lon >= b.MinLon || lon <= b.MaxLon
}

// stateFilter selects live states: bbox, carrier and statuses; empty fields do not filter.
type stateFilter struct {
	box      *bbox
	carrier  string
	statuses []string
}

func (f *stateFilter) match(s *tracking.VehicleState) bool {
	if f.carrier != "" && s.CarrierID != f.carrier {
		return false
	}
	if len(f.statuses) > 0 && !contains(f.statuses, s.Status) {
		return false
	}
	return f.box.contains(s.Lon, s.Lat)
}

// carrierFilter combines the carrier_id query parameter with the caller's scope. ok is false when
// a carrier token asks for another carrier: nothing can match.
func carrierFilter(p tracking.Principal, requested string) (carrier string, ok bool) {
	own := scope(p)
	switch {
	case own == "":
		return requested, true
	case requested == "" || requested == own:
		return own, true
	}
	return "", false
}

func stateFeature(s tracking.VehicleState) Feature {
	return Feature{Type: "Feature", ID: s.VehicleID, Geometry: pointGeometry(s.Lon, s.Lat), Properties: s}
}

// handleLivePositions: GET /v1/positions/live?bbox=&carrier_id=&status= → FeatureCollection of
// Points, one per vehicle seen, properties = VehicleState. status may list several, comma-separated.
func (s *server) handleLivePositions() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		box, err := parseBBox(q.Get("bbox"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		f := stateFilter{box: box}
		if st := q.Get("status"); st != "" {
			for _, v := range strings.Split(st, ",") {
				switch v {
				case tracking.StatusOnRoute, tracking.StatusOffRoute, tracking.StatusNoTrip, tracking.StatusOffline:
					f.statuses = append(f.statuses, v)
				default:
					s.writeError(w, r, tracking.Invalid(tracking.FieldError{Field: "status", Message: "must be on_route, off_route, no_trip or offline"}))
					return
				}
			}
		}
		carrier, ok := carrierFilter(principal(r), q.Get("carrier_id"))
		f.carrier = carrier
		features := []Feature{}
		if ok {
			for _, st := range s.Live.States() {
				if f.match(&st) {
					features = append(features, stateFeature(st))
				}
			}
		}
		writeGeoJSON(w, http.StatusOK, collection(features))
	}
}

// handleTrack: GET /v1/vehicles/{id}/track?from=&to=&limit=&cursor= → FeatureCollection of the
// stored fixes in [from, to), Points in ts order, properties = the stored position. Default
// window: the 24 h before to (to defaults to now); limit 1..10000, default 1000. Never cut
// silently: while more fixes remain in the window, next_cursor (and a Link rel="next") names the
// next page; null on the last. Pass the same from and to with the cursor.
func (s *server) handleTrack() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := s.Vehicles.GetVehicle(r.Context(), chi.URLParam(r, "id"), scope(principal(r)))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		q := r.URL.Query()
		var fields []tracking.FieldError
		from, to := q.Get("from"), q.Get("to")
		f := tracking.TrackFilter{Limit: 1000, Cursor: q.Get("cursor")}
		f.From = parseTime("from", &from, false, &fields)
		f.To = parseTime("to", &to, false, &fields)
		if l := q.Get("limit"); l != "" {
			n, err := strconv.Atoi(l)
			if err != nil || n < 1 || n > 10000 {
				fields = append(fields, tracking.FieldError{Field: "limit", Message: "must be an integer in [1, 10000]"})
			}
			f.Limit = n
		}
		if len(fields) > 0 {
			s.writeError(w, r, tracking.Invalid(fields...))
			return
		}
		switch {
		case f.To.IsZero() && f.From.IsZero():
			f.To = s.Now()
			f.From = f.To.Add(-24 * time.Hour)
		case f.From.IsZero():
			f.From = f.To.Add(-24 * time.Hour)
		case f.To.IsZero():
			f.To = s.Now()
		}
		if !f.From.Before(f.To) {
			s.writeError(w, r, tracking.Invalid(tracking.FieldError{Field: "from", Message: "must be before to"}))
			return
		}
		ps, next, err := s.Track.TrackPage(r.Context(), v.ID, f)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		features := make([]Feature, len(ps))
		for i, p := range ps {
			features[i] = Feature{Type: "Feature", Geometry: pointGeometry(p.Lon, p.Lat), Properties: p}
		}
		setNext(w, r, next)
		writeGeoJSON(w, http.StatusOK, pagedFeatures(features, next))
	}
}
