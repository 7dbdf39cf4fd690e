package httpapi_test

import (
	"encoding/csv"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// shanghai is the reports' time zone in these tests (CORRIDOR_TIMEZONE's default).
var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return time.FixedZone("UTC+8", 8*3600)
	}
	return loc
}()

func TestDailyReportsAPI(t *testing.T) {
	e := newEnv(t)
	today := time.Now().In(shanghai).Format(time.DateOnly)
	yesterday := time.Now().In(shanghai).AddDate(0, 0, -1).Format(time.DateOnly)

	// Default range: the last 7 days, oldest first; the fixtures' alarm of today counts.
	var page struct {
		Reports []tracking.DailyReport `json:"reports"`
	}
	r := e.do("GET", "/v1/reports/daily?carrier_id=acme", roleSafety, nil)
	wantStatus(t, r, http.StatusOK)
	r.decode(t, &page)
	if len(page.Reports) != 7 || page.Reports[6].Day != today || page.Reports[6].Complete || !page.Reports[5].Complete {
		t.Fatalf("reports %+v", page.Reports)
	}
	if got := page.Reports[6]; got.CarrierID != "acme" || got.VehiclesExpected != 1 || got.AlarmsByKind["route_deviation"] < 1 {
		t.Fatalf("today %+v", got)
	}

	// A carrier token reads its own carrier without naming it; another carrier's is 404.
	r = e.do("GET", "/v1/reports/daily?from="+yesterday+"&to="+today, roleCarrier, nil)
	wantStatus(t, r, http.StatusOK)
	r.decode(t, &page)
	if len(page.Reports) != 2 || page.Reports[0].CarrierID != "acme" {
		t.Fatalf("carrier's own %+v", page.Reports)
	}
	wantStatus(t, e.do("GET", "/v1/reports/daily?carrier_id=beta", roleCarrier, nil), http.StatusNotFound)
	wantStatus(t, e.do("GET", "/v1/reports/daily?carrier_id=nobody", roleAdmin, nil), http.StatusNotFound)
	wantStatus(t, e.do("GET", "/v1/reports/daily?carrier_id=acme", roleNone, nil), http.StatusUnauthorized)

	// CSV by Accept or by format=csv: a header and one row per day.
	for _, c := range []struct{ query, accept string }{{"", "text/csv"}, {"&format=csv", "application/json"}} {
		r = e.do("GET", "/v1/reports/daily?carrier_id=acme&from="+yesterday+c.query, roleAdmin, nil, "Accept", c.accept)
		wantStatus(t, r, http.StatusOK)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
			t.Fatalf("Content-Type %q", ct)
		}
		recs, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
		if err != nil || len(recs) != 3 || len(recs[0]) != len(tracking.DailyReportCSVHeader()) || recs[0][0] != "carrier_id" ||
			recs[2][0] != "acme" || recs[2][1] != today {
			t.Fatalf("CSV %v %q", err, r.body)
		}
	}

	// Bad requests name the field.
	for query, field := range map[string]string{
		"":                               "carrier_id",
		"carrier_id=acme&from=yesterday": "from",
		"carrier_id=acme&to=2999-01-01":  "to",
		"carrier_id=acme&from=2026-02-01&to=2026-01-01": "from",
		"carrier_id=acme&from=2025-01-01&to=2025-12-31": "from",
		"carrier_id=acme&format=xml":                    "format",
	} {
		p := e.do("GET", "/v1/reports/daily?"+query, roleAdmin, nil).problem(t)
		if p.Status != http.StatusBadRequest || !problemHas(p.Errors, field) {
			t.Errorf("%s: %+v, want 400 naming %s", query, p, field)
		}
	}
}
