package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// parseTime parses an RFC 3339 time (with offset) for the named field, collecting errors in fields.
func parseTime(field string, s *string, required bool, fields *[]tracking.FieldError) time.Time {
	if s == nil || *s == "" {
		if required {
			*fields = append(*fields, tracking.FieldError{Field: field, Message: "required"})
		}
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		*fields = append(*fields, tracking.FieldError{Field: field, Message: "must be an RFC 3339 time with offset, e.g. 2026-05-01T08:00:00+08:00"})
		return time.Time{}
	}
	return t
}

// handleTripCreate: POST /v1/trips → 201 Trip; the carrier comes from the vehicle; a carrier
// token may only create trips for its own vehicles (another carrier's is an unknown vehicle);
// an overlapping trip of the same vehicle is 409.
func (s *server) handleTripCreate() http.HandlerFunc {
	type request struct {
		VehicleID  *string         `json:"vehicle_id"`
		CorridorID *string         `json:"corridor_id"`
		StartsAt   *string         `json:"starts_at"`
		EndsAt     *string         `json:"ends_at"`
		Cargo      *tracking.Cargo `json:"cargo"`
	}
	return func(w http.ResponseWriter, r *http.Request) {
		var req request
		if err := decodeJSON(w, r, &req); err != nil {
			s.writeBodyError(w, r, err)
			return
		}
		var fields []tracking.FieldError
		t := tracking.Trip{Cargo: req.Cargo}
		if req.VehicleID == nil {
			fields = append(fields, tracking.FieldError{Field: "vehicle_id", Message: "required"})
		} else {
			t.VehicleID = *req.VehicleID
		}
		if req.CorridorID == nil {
			fields = append(fields, tracking.FieldError{Field: "corridor_id", Message: "required"})
		} else {
			t.CorridorID = *req.CorridorID
		}
		t.StartsAt = parseTime("starts_at", req.StartsAt, true, &fields)
		t.EndsAt = parseTime("ends_at", req.EndsAt, true, &fields)
		if len(fields) > 0 {
			s.writeError(w, r, tracking.Invalid(fields...))
			return
		}
		t, err := s.Trips.CreateTrip(r.Context(), t, scope(principal(r)))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		w.Header().Set("Location", "/v1/trips/"+t.ID)
		writeJSON(w, http.StatusCreated, t)
	}
}

// handleTripList: GET /v1/trips?vehicle_id=&active= → [Trip] ordered by starts_at.
func (s *server) handleTripList() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var active *bool
		if v := q.Get("active"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				s.writeError(w, r, tracking.Invalid(tracking.FieldError{Field: "active", Message: "must be true or false"}))
				return
			}
			active = &b
		}
		pg, err := parsePage(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		ts, next, err := s.Trips.ListTripsPage(r.Context(), scope(principal(r)), q.Get("vehicle_id"), active, pg)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		setNext(w, r, next)
		writeJSON(w, http.StatusOK, nonNil(ts))
	}
}

// handleTripGet: GET /v1/trips/{id} → Trip.
func (s *server) handleTripGet() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t, err := s.Trips.GetTrip(r.Context(), chi.URLParam(r, "id"), scope(principal(r)))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, t)
	}
}

// handleTripCancel: POST /v1/trips/{id}/cancel → 200 Trip with cancelled_at (idempotent);
// 409 for a trip that has ended.
func (s *server) handleTripCancel() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t, err := s.Trips.CancelTrip(r.Context(), chi.URLParam(r, "id"), scope(principal(r)))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, t)
	}
}
