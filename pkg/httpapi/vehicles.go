package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// handleVehicleCreate: POST /v1/vehicles → 201 Vehicle; 409 for a taken id or terminal_id.
func (s *server) handleVehicleCreate() http.HandlerFunc {
	type request struct {
		ID          string  `json:"id"`
		CarrierID   string  `json:"carrier_id"`
		Plate       string  `json:"plate"`
		TerminalID  *string `json:"terminal_id"`
		HazardClass *string `json:"hazard_class"`
		UNNumber    *string `json:"un_number"`
		TimeOffset  *string `json:"jt808_time_offset"`
		PlateColor  *int    `json:"plate_color"`
	}
	return func(w http.ResponseWriter, r *http.Request) {
		var req request
		if err := decodeJSON(w, r, &req); err != nil {
			s.writeBodyError(w, r, err)
			return
		}
		nv := tracking.Vehicle{ID: req.ID, CarrierID: req.CarrierID, Plate: req.Plate,
			TerminalID: req.TerminalID, HazardClass: req.HazardClass, UNNumber: req.UNNumber, JT808TimeOffset: req.TimeOffset}
		if req.PlateColor != nil {
			if nv.PlateColor = *req.PlateColor; nv.PlateColor == 0 {
				nv.PlateColor = -1 // explicit 0 is invalid, not the default
			}
		}
		v, err := s.Vehicles.CreateVehicle(r.Context(), nv)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		w.Header().Set("Location", "/v1/vehicles/"+v.ID)
		writeJSON(w, http.StatusCreated, v)
	}
}

// handleVehicleList: GET /v1/vehicles?limit=&cursor= → [Vehicle] (a carrier token sees only its
// own), next page in the Link header.
func (s *server) handleVehicleList() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pg, err := parsePage(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		vs, next, err := s.Vehicles.ListVehiclesPage(r.Context(), scope(principal(r)), pg)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		setNext(w, r, next)
		writeJSON(w, http.StatusOK, nonNil(vs))
	}
}

// handleVehicleGet: GET /v1/vehicles/{id} → Vehicle.
func (s *server) handleVehicleGet() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := s.Vehicles.GetVehicle(r.Context(), chi.URLParam(r, "id"), scope(principal(r)))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

// handleVehiclePatch: PATCH /v1/vehicles/{id} with a JSON merge patch (RFC 7396) of plate,
// terminal_id, hazard_class, un_number, jt808_time_offset and plate_color; null clears an optional field. id and carrier_id
// cannot change (400 when sent with another value).
func (s *server) handleVehiclePatch() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var patch map[string]json.RawMessage
		if err := decodeJSON(w, r, &patch); err != nil {
			s.writeBodyError(w, r, err)
			return
		}
		v, err := s.Vehicles.UpdateVehicle(r.Context(), chi.URLParam(r, "id"), scope(principal(r)), func(v *tracking.Vehicle) error {
			return applyVehiclePatch(v, patch)
		})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.forgetVehicle(v.ID)
		writeJSON(w, http.StatusOK, v)
	}
}

// applyVehiclePatch applies a merge patch to v; unknown and read-only keys are ignored.
func applyVehiclePatch(v *tracking.Vehicle, patch map[string]json.RawMessage) error {
	var fields []tracking.FieldError
	str := func(key string, required bool) (*string, bool) {
		raw, ok := patch[key]
		if !ok {
			return nil, false
		}
		if string(raw) == "null" {
			if required {
				fields = append(fields, tracking.FieldError{Field: key, Message: "cannot be null"})
			}
			return nil, true
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			fields = append(fields, tracking.FieldError{Field: key, Message: "must be a string"})
			return nil, false
		}
		return &s, true
	}
	if p, ok := str("id", true); ok && p != nil && *p != v.ID {
		fields = append(fields, tracking.FieldError{Field: "id", Message: "cannot be changed"})
	}
	if p, ok := str("carrier_id", true); ok && p != nil && *p != v.CarrierID {
		fields = append(fields, tracking.FieldError{Field: "carrier_id", Message: "cannot be changed"})
	}
	if p, ok := str("plate", true); ok && p != nil {
		v.Plate = *p
	}
	if p, ok := str("terminal_id", false); ok {
		v.TerminalID = p
	}
	if p, ok := str("hazard_class", false); ok {
		v.HazardClass = p
	}
	if p, ok := str("un_number", false); ok {
		v.UNNumber = p
	}
	if p, ok := str("jt808_time_offset", false); ok {
		v.JT808TimeOffset = p
	}
	if raw, ok := patch["plate_color"]; ok {
		var c int
		if err := json.Unmarshal(raw, &c); err != nil || c == 0 {
			fields = append(fields, tracking.FieldError{Field: "plate_color", Message: "must be a JT/T 415 plate colour code in [1, 255]"})
		} else {
			v.PlateColor = c
		}
	}
	if len(fields) > 0 {
		return tracking.Invalid(fields...)
	}
	return nil
}

// handleVehicleDelete: DELETE /v1/vehicles/{id} → 204; the vehicle is soft-deleted and leaves
// the live view.
func (s *server) handleVehicleDelete() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := chi.URLParam(r, "id")
		if err := s.Vehicles.DeleteVehicle(r.Context(), id, scope(principal(r))); err != nil {
			s.writeError(w, r, err)
			return
		}
		s.Live.Remove(id)
		s.forgetVehicle(id)
		w.WriteHeader(http.StatusNoContent)
	}
}
