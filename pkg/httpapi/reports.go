package httpapi

import (
	"context"
	"encoding/csv"
	"net/http"
	"strings"
	"time"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// ReportStore computes and keeps the daily compliance reports (*postgres.Reports).
type ReportStore interface {
	// Today is the current date in the reports' time zone, as midnight UTC of that date.
	Today() time.Time
	// DailyReports returns one report per day from..to (dates as midnight UTC; to at most Today),
	// computing those missing or out of date.
	DailyReports(ctx context.Context, carrierID string, from, to time.Time) ([]tracking.DailyReport, error)
}

// maxReportDays is the longest range of one request.
const maxReportDays = 92

// reportPage is the JSON answer of GET /v1/reports/daily.
type reportPage struct {
	Reports []tracking.DailyReport `json:"reports"`
}

// handleDailyReports: GET /v1/reports/daily?carrier_id=&from=&to=&format= → the carrier's
// compliance figures per local day, from..to inclusive (default: the last 7 days up to today),
// as JSON or, with Accept: text/csv or format=csv, as CSV. A carrier token reads only its own
// carrier (carrier_id optional); other roles must name one. Unknown carriers are 404.
func (s *server) handleDailyReports() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var fields []tracking.FieldError
		bad := func(f, m string) { fields = append(fields, tracking.FieldError{Field: f, Message: m}) }
		today := s.Reports.Today()
		date := func(name string, def time.Time) time.Time {
			v := q.Get(name)
			if v == "" {
				return def
			}
			d, err := time.Parse(time.DateOnly, v)
			if err != nil {
				bad(name, "must be a date YYYY-MM-DD (a local day in CORRIDOR_TIMEZONE)")
				return def
			}
			return d
		}
		to := date("to", today)
		from := date("from", to.AddDate(0, 0, -6))
		switch {
		case to.After(today):
			bad("to", "must not be after today ("+today.Format(time.DateOnly)+")")
		case from.After(to):
			bad("from", "must not be after to")
		case to.Sub(from) >= maxReportDays*24*time.Hour:
			bad("from", "at most 92 days from..to")
		}
		csvOut := false
		switch f := q.Get("format"); f {
		case "csv":
			csvOut = true
		case "json":
		case "":
			csvOut = acceptsCSV(r.Header.Get("Accept"))
		default:
			bad("format", "must be json or csv")
		}
		carrier, ok := carrierFilter(principal(r), q.Get("carrier_id"))
		if !ok {
			s.writeError(w, r, tracking.Errorf(tracking.ENOTFOUND, "carrier not found"))
			return
		}
		if carrier == "" {
			bad("carrier_id", "required")
		}
		if len(fields) > 0 {
			s.writeError(w, r, tracking.Invalid(fields...))
			return
		}
		if _, err := s.Carriers.GetCarrier(r.Context(), carrier, scope(principal(r))); err != nil {
			s.writeError(w, r, err)
			return
		}
		reports, err := s.Reports.DailyReports(r.Context(), carrier, from, to)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if !csvOut {
			writeJSON(w, http.StatusOK, reportPage{Reports: nonNil(reports)})
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Disposition", `attachment; filename="corridor-`+carrier+`-`+from.Format(time.DateOnly)+`-`+to.Format(time.DateOnly)+`.csv"`)
		w.WriteHeader(http.StatusOK)
		cw := csv.NewWriter(w)
		_ = cw.Write(tracking.DailyReportCSVHeader())
		for i := range reports {
			_ = cw.Write(reports[i].CSVRecord())
		}
		cw.Flush()
	}
}

// acceptsCSV reports whether an Accept header prefers CSV: text/csv listed before any JSON type.
func acceptsCSV(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		switch strings.ToLower(strings.TrimSpace(mt)) {
		case "text/csv":
			return true
		case "application/json", "application/*":
			return false
		}
	}
	return false
}
