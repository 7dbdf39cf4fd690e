package tracking

import (
	"strconv"
	"time"
)

// DailyReport is one carrier's compliance figures for one local day (GET /v1/reports/daily).
// Rates and times are null when there is nothing to measure them on.
type DailyReport struct {
	CarrierID string `json:"carrier_id"`
	// Day is the local date (CORRIDOR_TIMEZONE), YYYY-MM-DD; it runs from local midnight to midnight.
	Day      string `json:"day"`
	Timezone string `json:"timezone"`
	// Complete: the day had ended when the figures were computed (today's figures are partial).
	Complete   bool      `json:"complete"`
	ComputedAt time.Time `json:"computed_at"`

	// Online rate: vehicles with a trip (not cancelled) during the day that sent at least one fix
	// during their trip, over the vehicles with such a trip.
	VehiclesExpected int      `json:"vehicles_expected"`
	VehiclesReported int      `json:"vehicles_reported"`
	OnlineRate       *float64 `json:"online_rate"`
	// Track completeness: each trip's part of the day (up to now for today) is cut into report
	// intervals of ReportIntervalS seconds from its start (the last one may be shorter); the share
	// of those intervals holding at least one fix that was not flagged implausible_jump.
	ReportIntervalS   float64  `json:"report_interval_s"`
	IntervalsExpected int64    `json:"intervals_expected"`
	IntervalsWithFix  int64    `json:"intervals_with_fix"`
	TrackCompleteness *float64 `json:"track_completeness"`
	// Drift rate: fixes flagged implausible_jump over all fixes of the carrier's vehicles that day.
	Fixes            int64    `json:"fixes"`
	ImplausibleFixes int64    `json:"implausible_fixes"`
	DriftRate        *float64 `json:"drift_rate"`
	// Alarms raised that day (by raised_at), by kind (every kind present, 0 when none).
	Alarms       int64            `json:"alarms"`
	AlarmsByKind map[string]int64 `json:"alarms_by_kind"`
	// Of those: responded to (acknowledged, or resolved without an acknowledgement), resolved,
	// escalated. Response times are measured from when Corridor stored the alarm to the first
	// acknowledgement or resolution (ack) and to the resolution (resolve), in seconds, over the
	// alarms that have one; median and 90th percentile (interpolated, as percentile_cont).
	AlarmsAcknowledged int64    `json:"alarms_acknowledged"`
	AlarmsResolved     int64    `json:"alarms_resolved"`
	AlarmsEscalated    int64    `json:"alarms_escalated"`
	AckMedianS         *float64 `json:"ack_median_s"`
	AckP90S            *float64 `json:"ack_p90_s"`
	ResolveMedianS     *float64 `json:"resolve_median_s"`
	ResolveP90S        *float64 `json:"resolve_p90_s"`
	// Median seconds from the regulator's JT/T 809 supervision requests about the carrier's alarms
	// (made that day) to their answers, and from the duty checks asked that day to their answers
	// (duty checks address the platform: the same figure for every carrier). Null without the
	// uplink's tables (alarm_supervisions, duty_checks) or without an answered one.
	SupervisionResponseMedianS *float64 `json:"supervision_response_median_s"`
	DutyCheckResponseMedianS   *float64 `json:"duty_check_response_median_s"`
}

// DailyReportCSVHeader is the header row of the CSV form; DailyReport.CSVRecord gives a row.
func DailyReportCSVHeader() []string {
	h := []string{"carrier_id", "day", "timezone", "complete", "computed_at", "vehicles_expected", "vehicles_reported",
		"online_rate", "report_interval_s", "intervals_expected", "intervals_with_fix", "track_completeness", "fixes",
		"implausible_fixes", "drift_rate", "alarms"}
	for _, k := range AlarmKinds {
		h = append(h, "alarms_"+k)
	}
	return append(h, "alarms_acknowledged", "alarms_resolved", "alarms_escalated", "ack_median_s", "ack_p90_s",
		"resolve_median_s", "resolve_p90_s", "supervision_response_median_s", "duty_check_response_median_s")
}

// CSVRecord returns the report as a CSV row in the order of DailyReportCSVHeader; null is empty.
func (r *DailyReport) CSVRecord() []string {
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	nf := func(v *float64) string {
		if v == nil {
			return ""
		}
		return f(*v)
	}
	rec := []string{r.CarrierID, r.Day, r.Timezone, strconv.FormatBool(r.Complete), r.ComputedAt.UTC().Format(time.RFC3339),
		i(int64(r.VehiclesExpected)), i(int64(r.VehiclesReported)), nf(r.OnlineRate), f(r.ReportIntervalS),
		i(r.IntervalsExpected), i(r.IntervalsWithFix), nf(r.TrackCompleteness), i(r.Fixes), i(r.ImplausibleFixes),
		nf(r.DriftRate), i(r.Alarms)}
	for _, k := range AlarmKinds {
		rec = append(rec, i(r.AlarmsByKind[k]))
	}
	return append(rec, i(r.AlarmsAcknowledged), i(r.AlarmsResolved), i(r.AlarmsEscalated), nf(r.AckMedianS), nf(r.AckP90S),
		nf(r.ResolveMedianS), nf(r.ResolveP90S), nf(r.SupervisionResponseMedianS), nf(r.DutyCheckResponseMedianS))
}

// Ratio returns num/den, or nil when den is 0.
func Ratio(num, den int64) *float64 {
	if den == 0 {
		return nil
	}
	v := float64(num) / float64(den)
	return &v
}
