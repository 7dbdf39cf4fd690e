package httpapi

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// alarmPage is the answer of GET /v1/alarms.
type alarmPage struct {
	Alarms     []tracking.Alarm `json:"alarms"`
	NextCursor *string          `json:"next_cursor"`
}

// handleAlarmList: GET /v1/alarms?state=&kind=&vehicle_id=&carrier_id=&active=&since=&limit=&cursor=
// → {"alarms": [...], "next_cursor": string|null}, newest first. A carrier token sees only its own.
func (s *server) handleAlarmList() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var fields []tracking.FieldError
		bad := func(f, m string) { fields = append(fields, tracking.FieldError{Field: f, Message: m}) }
		f := tracking.AlarmFilter{Limit: 100, Cursor: q.Get("cursor")}
		if v := q.Get("state"); v != "" {
			if v != tracking.StateOpen && v != tracking.StateAcknowledged && v != tracking.StateResolved {
				bad("state", "must be open, acknowledged or resolved")
			}
			f.State = &v
		}
		if v := q.Get("kind"); v != "" {
			if !slices.Contains(tracking.AlarmKinds, v) {
				bad("kind", "must be one of "+strings.Join(tracking.AlarmKinds, ", "))
			}
			f.Kind = &v
		}
		if v := q.Get("vehicle_id"); v != "" {
			f.VehicleID = &v
		}
		if v := q.Get("active"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				bad("active", "must be true or false")
			}
			f.Active = &b
		}
		if v := q.Get("since"); v != "" {
			t := parseTime("since", &v, false, &fields)
			f.Since = &t
		}
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 1000 {
				bad("limit", "must be an integer in [1, 1000]")
			}
			f.Limit = n
		}
		if len(fields) > 0 {
			s.writeError(w, r, tracking.Invalid(fields...))
			return
		}
		carrier, ok := carrierFilter(principal(r), q.Get("carrier_id"))
		if !ok {
			writeJSON(w, http.StatusOK, alarmPage{Alarms: []tracking.Alarm{}})
			return
		}
		if carrier != "" {
			f.CarrierID = &carrier
		}
		alarms, next, err := s.Alarms.ListAlarms(r.Context(), f)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		page := alarmPage{Alarms: nonNil(alarms)}
		if next != "" {
			page.NextCursor = &next
		}
		writeJSON(w, http.StatusOK, page)
	}
}

// alarmFor returns the alarm {id} if the caller may see it (another carrier's is ENOTFOUND).
func (s *server) alarmFor(r *http.Request) (tracking.Alarm, error) {
	a, err := s.Alarms.GetAlarm(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		return a, err
	}
	if own := scope(principal(r)); own != "" && a.CarrierID != own {
		return tracking.Alarm{}, tracking.Errorf(tracking.ENOTFOUND, "alarm not found")
	}
	return a, nil
}

// handleAlarmGet: GET /v1/alarms/{id} → Alarm.
func (s *server) handleAlarmGet() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, err := s.alarmFor(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, a)
	}
}

// handleAlarmAck: POST /v1/alarms/{id}/ack {"note"?} (the body may be empty) → 200 Alarm with
// state acknowledged; 409 for a resolved alarm.
func (s *server) handleAlarmAck() http.HandlerFunc {
	return s.alarmStateChange(false, func(ctx context.Context, id string, by tracking.Actor, req alarmChange) (tracking.Alarm, error) {
		return s.Alarms.AckAlarm(ctx, id, by, req.Note)
	})
}

// handleAlarmResolve: POST /v1/alarms/{id}/resolve {"note", "disposal"} (both required; the note
// not blank, the disposal one of tracking.Disposals) → 200 Alarm with state resolved.
func (s *server) handleAlarmResolve() http.HandlerFunc {
	return s.alarmStateChange(true, func(ctx context.Context, id string, by tracking.Actor, req alarmChange) (tracking.Alarm, error) {
		return s.Alarms.ResolveAlarm(ctx, id, by, *req.Note, *req.Disposal)
	})
}

// alarmChange is the body of an ack or resolve.
type alarmChange struct {
	Note     *string `json:"note"`
	Disposal *string `json:"disposal"`
}

// alarmStateChange is the handler of a change made by a person: it reads the optional note (ack)
// or the required note and disposal (resolve), checks the alarm is visible to the caller, and
// applies the change as them.
func (s *server) alarmStateChange(resolve bool, apply func(ctx context.Context, id string, by tracking.Actor, req alarmChange) (tracking.Alarm, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		data, err := readBody(w, r)
		if err != nil {
			s.writeBodyError(w, r, err)
			return
		}
		var req alarmChange
		if strings.TrimSpace(string(data)) != "" {
			if err := unmarshal(data, &req); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		if req.Note != nil {
			note := strings.TrimSpace(*req.Note)
			req.Note = &note
			if note == "" && !resolve {
				req.Note = nil // an empty note on ack keeps the alarm's note
			}
		}
		var fields []tracking.FieldError
		switch {
		case resolve && (req.Note == nil || *req.Note == ""):
			fields = append(fields, tracking.FieldError{Field: "note", Message: "required: say how the alarm was handled"})
		case req.Note != nil && len(*req.Note) > 2000:
			fields = append(fields, tracking.FieldError{Field: "note", Message: "at most 2000 bytes"})
		}
		if resolve {
			switch {
			case req.Disposal == nil || *req.Disposal == "":
				fields = append(fields, tracking.FieldError{Field: "disposal",
					Message: "required: one of " + strings.Join(tracking.Disposals, ", ")})
			case !tracking.ValidDisposal(*req.Disposal):
				fields = append(fields, tracking.FieldError{Field: "disposal",
					Message: "must be one of " + strings.Join(tracking.Disposals, ", ")})
			}
		}
		if len(fields) > 0 {
			s.writeError(w, r, tracking.Invalid(fields...))
			return
		}
		if _, err := s.alarmFor(r); err != nil {
			s.writeError(w, r, err)
			return
		}
		p := principal(r)
		a, err := apply(r.Context(), chi.URLParam(r, "id"), tracking.Actor{KeyID: p.KeyID, Name: who(p)}, req)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, a)
	}
}
