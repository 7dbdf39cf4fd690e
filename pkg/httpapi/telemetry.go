package httpapi

import (
	"bytes"
	"context"
	"net/http"
	"strconv"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// MaxTelemetryBatch is the most positions one POST /v1/telemetry may carry.
const MaxTelemetryBatch = 1000

// handleTelemetry: POST /v1/telemetry with one Position or an array of at most 1000 →
// 202 {"accepted": n} once JetStream stored every one. Every item is validated first and any bad
// item rejects the whole body (400 naming each by index and field); to a carrier token another
// carrier's vehicle is an unknown vehicle (400, the same answer as for an id that does not exist);
// a vehicle with a terminal_id reports through its JT/T 808 terminal and is refused (409), so that
// HTTP cannot move the terminal's timeline forward; bodies over 1 MiB (compressed or not), or a
// position too large for one NATS message, are 413; NATS not storing within PublishTimeout is 503.
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
		var terminal []string
		for i := range ps {
			pos := &ps[i]
			var idx *int
			if isArray {
				n := i
				idx = &n
			}
			v, seen := vehicles[pos.VehicleID]
			if !seen {
				got, err := s.vehicle(r.Context(), pos.VehicleID)
				switch {
				case err == nil:
					v = &got
				case tracking.ErrorCode(err) != tracking.ENOTFOUND:
					s.writeError(w, r, err)
					return
				}
				// Another carrier's vehicle is, to a carrier token, a vehicle that does not exist.
				if v != nil && p.Role == tracking.RoleCarrier && v.CarrierID != p.CarrierID {
					v = nil
				}
				vehicles[pos.VehicleID] = v
			}
			if v == nil {
				fields = append(fields, tracking.FieldError{Field: "vehicle_id", Message: "unknown vehicle " + strconv.Quote(pos.VehicleID), Index: idx, Reason: tracking.ReasonUnknownVehicle})
				continue
			}
			if v.TerminalID != nil && *v.TerminalID != "" {
				terminal = append(terminal, pos.VehicleID)
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
		if len(fields) > 0 {
			s.writeError(w, r, tracking.Invalid(fields...))
			return
		}
		if len(terminal) > 0 {
			s.writeError(w, r, tracking.Errorf(tracking.ECONFLICT,
				"vehicle %s reports through its JT/T 808 terminal; its positions are not accepted over HTTP (clear terminal_id to push them here)",
				strconv.Quote(terminal[0])))
			return
		}
		pctx, cancel := context.WithTimeout(r.Context(), s.PublishTimeout)
		defer cancel()
		if err := s.Telemetry.PublishPositions(pctx, ps); err != nil {
			if code := tracking.ErrorCode(err); code != tracking.EINTERNAL && code != tracking.EUNAVAILABLE {
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
