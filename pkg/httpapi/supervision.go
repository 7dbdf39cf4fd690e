package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// SupervisionStore keeps the regulator's JT/T 809 requests: supervisions of alarms (0x9401) and
// duty checks (0x9301). *postgres.DB implements it; when Deps.Supervision is nil the AlarmStore
// is used if it implements it too.
type SupervisionStore interface {
	// AlarmSupervisions lists an alarm's supervision requests, oldest first.
	AlarmSupervisions(ctx context.Context, alarmID string) ([]tracking.Supervision, error)
	// ListDutyChecks lists duty checks newest first and the next page's cursor ("" = none);
	// EINVALID for a bad cursor.
	ListDutyChecks(ctx context.Context, answered *bool, limit int, cursor string) ([]tracking.DutyCheck, string, error)
	// AnswerDutyCheck records an answer; ENOTFOUND for an unknown id, ECONFLICT when answered.
	AnswerDutyCheck(ctx context.Context, id, answer, by string) (tracking.DutyCheck, error)
}

// Who may see and answer the regulator's duty checks: the platform's own staff, not carriers.
var (
	dutyReaders  = []string{tracking.RoleAdmin, tracking.RoleDispatcher, tracking.RoleSafety}
	dutyAnswerer = []string{tracking.RoleAdmin, tracking.RoleSafety}
)

// routesJT809 declares the routes of the JT/T 809 supervision records.
func (s *server) routesJT809(r chi.Router) {
	r.With(s.allow(anyRole...)).Get("/alarms/{id}/supervisions", s.handleAlarmSupervisions())
	r.With(s.allow(dutyReaders...)).Get("/duty-checks", s.handleDutyCheckList())
	r.With(s.allow(dutyAnswerer...)).Post("/duty-checks/{id}/answer", s.handleDutyCheckAnswer())
}

func (s *server) supervisions() SupervisionStore {
	if s.Supervision != nil {
		return s.Supervision
	}
	if st, ok := s.Alarms.(SupervisionStore); ok {
		return st
	}
	return nil
}

// handleAlarmSupervisions: GET /v1/alarms/{id}/supervisions → {"supervisions": [Supervision]}.
func (s *server) handleAlarmSupervisions() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, err := s.alarmFor(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		st := s.supervisions()
		if st == nil {
			writeJSON(w, http.StatusOK, map[string]any{"supervisions": []tracking.Supervision{}})
			return
		}
		out, err := st.AlarmSupervisions(r.Context(), a.ID)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"supervisions": nonNil(out)})
	}
}

type dutyCheckPage struct {
	DutyChecks []tracking.DutyCheck `json:"duty_checks"`
	NextCursor *string              `json:"next_cursor"`
}

// handleDutyCheckList: GET /v1/duty-checks?answered=&limit=&cursor= → {"duty_checks", "next_cursor"}.
func (s *server) handleDutyCheckList() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var fields []tracking.FieldError
		var answered *bool
		if v := q.Get("answered"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				fields = append(fields, tracking.FieldError{Field: "answered", Message: "must be true or false"})
			}
			answered = &b
		}
		limit := 100
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 1000 {
				fields = append(fields, tracking.FieldError{Field: "limit", Message: "must be an integer in [1, 1000]"})
			}
			limit = n
		}
		if len(fields) > 0 {
			s.writeError(w, r, tracking.Invalid(fields...))
			return
		}
		page := dutyCheckPage{DutyChecks: []tracking.DutyCheck{}}
		if st := s.supervisions(); st != nil {
			out, next, err := st.ListDutyChecks(r.Context(), answered, limit, q.Get("cursor"))
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			page.DutyChecks = nonNil(out)
			if next != "" {
				page.NextCursor = &next
			}
		}
		writeJSON(w, http.StatusOK, page)
	}
}

// handleDutyCheckAnswer: POST /v1/duty-checks/{id}/answer {"answer"} → 200 DutyCheck; the uplink
// sends it to the regulator (0x1301). 409 when already answered.
func (s *server) handleDutyCheckAnswer() http.HandlerFunc {
	type request struct {
		Answer *string `json:"answer"`
	}
	return func(w http.ResponseWriter, r *http.Request) {
		var req request
		if err := decodeJSON(w, r, &req); err != nil {
			s.writeBodyError(w, r, err)
			return
		}
		answer := ""
		if req.Answer != nil {
			answer = strings.TrimSpace(*req.Answer)
		}
		if answer == "" || len(answer) > 1000 {
			s.writeError(w, r, tracking.Invalid(tracking.FieldError{Field: "answer", Message: "required, at most 1000 bytes"}))
			return
		}
		st := s.supervisions()
		if st == nil {
			s.writeError(w, r, tracking.Errorf(tracking.ENOTFOUND, "duty check not found"))
			return
		}
		d, err := st.AnswerDutyCheck(r.Context(), chi.URLParam(r, "id"), answer, who(principal(r)))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, d)
	}
}
