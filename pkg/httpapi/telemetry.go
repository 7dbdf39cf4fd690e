package httpapi

import (
	"bytes"
	"net/http"
	"strconv"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// MaxTelemetryBatch is the most positions one POST /v1/telemetry may carry.
const MaxTelemetryBatch = 1000

// handleTelemetry: POST /v1/telemetry with one Position or an array of at most 1000 →
// 202 {"accepted": n} once JetStream stored every one. Every item is validated first and any bad
// item rejects the whole body (400 naming each by index and field); a carrier token pushing
// another carrier's vehicle is 403; bodies over 1 MiB (compressed or not) are 413.
func (s *server) handleTelemetry() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		data, err := readBody(w, r)
		if err != nil {
			s.writeBodyError(w, r, err)
			return
		}
		ps, err := tracking.DecodePositions(data, s.Now(), MaxTelemetryBatch)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		isArray := bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("["))
		p := principal(r)
		vehicles := make(map[string]*tracking.Vehicle)
		var fields []tracking.FieldError
		foreign := false
		for i := range ps {
			pos := &ps[i]
			var idx *int
			if isArray {
				n := i
				idx = &n
			}
			v, seen := vehicles[pos.VehicleID]
			if !seen {
				got, err := s.Vehicles.GetVehicle(r.Context(), pos.VehicleID, "")
				switch {
				case err == nil:
					v = &got
				case tracking.ErrorCode(err) != tracking.ENOTFOUND:
					s.writeError(w, r, err)
					return
				}
				vehicles[pos.VehicleID] = v
			}
			if v == nil {
				fields = append(fields, tracking.FieldError{Field: "vehicle_id", Message: "unknown vehicle " + strconv.Quote(pos.VehicleID), Index: idx, Reason: tracking.ReasonUnknownVehicle})
				continue
			}
			if p.Role == tracking.RoleCarrier && v.CarrierID != p.CarrierID {
				foreign = true
				continue
			}
			switch pos.CarrierID {
			case "":
				pos.CarrierID = v.CarrierID
			case v.CarrierID:
			default:
				fields = append(fields, tracking.FieldError{Field: "carrier_id", Message: "does not match the vehicle's carrier", Index: idx, Reason: tracking.ReasonCarrierMismatch})
			}
		}
		if foreign {
			s.writeError(w, r, tracking.Errorf(tracking.EFORBIDDEN, "a carrier token may push positions only for its own vehicles"))
			return
		}
		if len(fields) > 0 {
			s.writeError(w, r, tracking.Invalid(fields...))
			return
		}
		if err := s.Telemetry.PublishPositions(r.Context(), ps); err != nil {
			if code := tracking.ErrorCode(err); code != tracking.EINTERNAL {
				s.writeError(w, r, err)
				return
			}
			s.Log.ErrorContext(r.Context(), "telemetry not stored", "positions", len(ps), "err", err)
			w.Header().Set("Retry-After", "1")
			problem(w, http.StatusServiceUnavailable, problemUnavailable, "the positions could not be stored in the stream; none is accepted, retry")
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]int{"accepted": len(ps)})
	}
}
