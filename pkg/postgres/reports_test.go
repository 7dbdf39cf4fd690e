package postgres_test

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/internal/pgtest"
	"github.com/corridor-dev/corridor/pkg/postgres"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// reportRig is a database with a hand-checkable day D (three days ago, Asia/Shanghai) for
// carrier acme, noise around it (carrier beta, the days before and after), and a movable clock.
type reportRig struct {
	t   *testing.T
	db  *postgres.DB
	rep *postgres.Reports
	loc *time.Location
	day time.Time // D as midnight UTC of the date

	mu     sync.Mutex
	offset time.Duration // added to the real clock
}

func (r *reportRig) now() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return time.Now().Add(r.offset)
}

func (r *reportRig) advance(d time.Duration) { r.mu.Lock(); r.offset += d; r.mu.Unlock() }

// at is hh:mm:ss local time on D (plus days).
func (r *reportRig) at(days int, hms string) time.Time {
	t, err := time.ParseInLocation("15:04:05", hms, r.loc)
	if err != nil {
		r.t.Fatal(err)
	}
	return time.Date(r.day.Year(), r.day.Month(), r.day.Day()+days, t.Hour(), t.Minute(), t.Second(), 0, r.loc)
}

func (r *reportRig) exec(sql string, args ...any) {
	r.t.Helper()
	if _, err := r.db.Pool.Exec(context.Background(), sql, args...); err != nil {
		r.t.Fatalf("%s: %v", sql, err)
	}
}

func (r *reportRig) trip(vehicle, carrier string, from, to time.Time, cancelled bool) {
	r.t.Helper()
	var c *time.Time
	if cancelled {
		c = &from
	}
	r.exec(`insert into trips (vehicle_id, carrier_id, corridor_id, starts_at, ends_at, cancelled_at)
		values ($1, $2, (select id from corridors limit 1), $3, $4, $5)`, vehicle, carrier, from, to, c)
}

func (r *reportRig) fix(vehicle, carrier string, ts time.Time, flags ...string) {
	r.t.Helper()
	if flags == nil {
		flags = []string{}
	}
	r.exec(`select positions_partition($1)`, ts)
	r.exec(`insert into positions (vehicle_id, carrier_id, ts, lat, lon, flags) values ($1, $2, $3, 29.8, 107.0, $4)`,
		vehicle, carrier, ts, flags)
}

// alarm stores an alarm raised and stored at created, acknowledged, resolved and escalated at
// the given times (nil: not).
func (r *reportRig) alarm(kind, vehicle, carrier string, created time.Time, ack, res, esc *time.Time) string {
	r.t.Helper()
	state := "open"
	if ack != nil {
		state = "acknowledged"
	}
	if res != nil {
		state = "resolved"
	}
	var id string
	err := r.db.Pool.QueryRow(context.Background(), `insert into alarms (kind, severity, state, active, vehicle_id, carrier_id,
		device_alarm, started_at, raised_at, cleared_at, created_at, acknowledged_at, resolved_at, escalated_at, disposal)
		values ($1, $2, $3, false, $4, $5, case when $1 = 'device_alarm' then 'emergency' end, $6, $6, $6, $6, $7, $8, $9,
		        case when $8::timestamptz is not null then 'handled' end) returning id::text`,
		kind, tracking.Severity(kind), state, vehicle, carrier, created, ack, res, esc).Scan(&id)
	if err != nil {
		r.t.Fatal(err)
	}
	return id
}

func newReportRig(t *testing.T) *reportRig {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Skip("no tz database:", err)
	}
	r := &reportRig{t: t, db: pgtest.New(t), loc: loc}
	today := time.Now().In(loc)
	r.day = time.Date(today.Year(), today.Month(), today.Day()-3, 0, 0, 0, 0, time.UTC)
	// The tiny sweep margin lets the test tell "computed once" from "computed again"; production
	// keeps 5 minutes for transactions still open during a sweep.
	r.rep = r.db.Reports(postgres.ReportConfig{Location: loc, Interval: time.Minute, Refresh: time.Hour,
		SweepMargin: time.Microsecond, Now: r.now})
	r.exec(`insert into carriers (id, name) values ('acme', 'Acme'), ('beta', 'Beta')`)
	r.exec(`insert into vehicles (id, carrier_id, plate) values ('v1', 'acme', 'A1'), ('v2', 'acme', 'A2'),
		('v3', 'acme', 'A3'), ('b1', 'beta', 'B1')`)
	r.exec(`insert into corridors (name, geom, buffer_m) values ('G50', 'LINESTRING(107 29.8, 107.1 29.85)', 200)`)

	// Trips touching D: v1 08:00-08:10 (10 one-minute intervals), v2 23:55-00:05 next day (5 on D),
	// v3 09:00-09:03 (3; never reports). Not counted: v1's cancelled trip, v2's trip the day
	// before, beta's trip.
	r.trip("v1", "acme", r.at(0, "08:00:00"), r.at(0, "08:10:00"), false)
	r.trip("v2", "acme", r.at(0, "23:55:00"), r.at(1, "00:05:00"), false)
	r.trip("v3", "acme", r.at(0, "09:00:00"), r.at(0, "09:03:00"), false)
	r.trip("v1", "acme", r.at(0, "12:00:00"), r.at(0, "13:00:00"), true)
	r.trip("v2", "acme", r.at(-1, "10:00:00"), r.at(-1, "11:00:00"), false)
	r.trip("b1", "beta", r.at(0, "08:00:00"), r.at(0, "09:00:00"), false)

	// v1 on its trip: intervals 0 (twice), 1, 3, 5 (implausible: not a track point) and 9 → 4 covered.
	for _, hms := range []string{"08:00:00", "08:00:30", "08:01:10", "08:03:59", "08:09:59"} {
		r.fix("v1", "acme", r.at(0, hms))
	}
	r.fix("v1", "acme", r.at(0, "08:05:00"), tracking.FlagImplausibleJump)
	r.fix("v1", "acme", r.at(0, "10:00:00")) // off trip: counts for drift only
	// v2: intervals 0 and 4 of its trip on D; an implausible fix at noon; fixes the days around.
	r.fix("v2", "acme", r.at(0, "23:55:00"))
	r.fix("v2", "acme", r.at(0, "23:59:30"))
	r.fix("v2", "acme", r.at(0, "12:00:00"), tracking.FlagImplausibleJump)
	r.fix("v2", "acme", r.at(1, "00:01:00"))
	r.fix("v2", "acme", r.at(-1, "23:59:00"))
	// beta's fixes do not count for acme.
	r.fix("b1", "beta", r.at(0, "08:10:00"))
	r.fix("b1", "beta", r.at(0, "08:20:00"), tracking.FlagImplausibleJump)

	ptr := func(s string) *time.Time { t := r.at(0, s); return &t }
	// Alarms raised on D: ack after 60, 120 and (resolved, not acked) 300 s; resolved after 600,
	// 3600 and 300 s; the fourth neither, escalated.
	r.alarm("route_deviation", "v1", "acme", r.at(0, "08:05:00"), ptr("08:06:00"), ptr("08:15:00"), nil)
	r.alarm("overspeed", "v2", "acme", r.at(0, "09:00:00"), ptr("09:02:00"), ptr("10:00:00"), nil)
	r.alarm("signal_lost", "v3", "acme", r.at(0, "10:00:00"), nil, ptr("10:05:00"), nil)
	r.alarm("device_alarm", "v1", "acme", r.at(0, "11:00:00"), nil, nil, ptr("11:05:00"))
	// Not counted: raised the day before, and beta's.
	r.alarm("route_deviation", "v1", "acme", r.at(-1, "23:00:00"), nil, nil, nil)
	r.alarm("overspeed", "b1", "beta", r.at(0, "09:00:00"), ptr("09:00:10"), nil, nil)
	return r
}

func (r *reportRig) get(from, to time.Time) []tracking.DailyReport {
	r.t.Helper()
	reps, err := r.rep.DailyReports(context.Background(), "acme", from, to)
	if err != nil {
		r.t.Fatal(err)
	}
	if want := int(to.Sub(from).Hours()/24) + 1; len(reps) != want {
		r.t.Fatalf("%d reports, want %d", len(reps), want)
	}
	return reps
}

func near(got *float64, want float64) bool { return got != nil && math.Abs(*got-want) < 1e-9 }

// TestDailyReportHandComputedDay checks every figure of day D against the values worked out by
// hand in newReportRig, then that D is computed once, and again only when late data arrives.
func TestDailyReportHandComputedDay(t *testing.T) {
	r := newReportRig(t)
	d := r.get(r.day, r.day)[0]
	if d.Day != r.day.Format(time.DateOnly) || d.Timezone != "Asia/Shanghai" || !d.Complete || d.ReportIntervalS != 60 {
		t.Fatalf("report %+v", d)
	}
	if d.VehiclesExpected != 3 || d.VehiclesReported != 2 || !near(d.OnlineRate, 2.0/3) {
		t.Errorf("online: %d/%d %v, want 2/3", d.VehiclesReported, d.VehiclesExpected, d.OnlineRate)
	}
	if d.IntervalsExpected != 18 || d.IntervalsWithFix != 6 || !near(d.TrackCompleteness, 1.0/3) {
		t.Errorf("completeness: %d/%d, want 6/18", d.IntervalsWithFix, d.IntervalsExpected)
	}
	if d.Fixes != 10 || d.ImplausibleFixes != 2 || !near(d.DriftRate, 0.2) {
		t.Errorf("drift: %d/%d, want 2/10", d.ImplausibleFixes, d.Fixes)
	}
	wantKinds := map[string]int64{"route_deviation": 1, "overspeed": 1, "signal_lost": 1, "device_alarm": 1,
		"restricted_zone": 0, "unauthorized_stop": 0, "fatigue_driving": 0}
	for k, n := range wantKinds {
		if d.AlarmsByKind[k] != n {
			t.Errorf("alarms of kind %s: %d, want %d", k, d.AlarmsByKind[k], n)
		}
	}
	if d.Alarms != 4 || d.AlarmsAcknowledged != 3 || d.AlarmsResolved != 3 || d.AlarmsEscalated != 1 || len(d.AlarmsByKind) != 7 {
		t.Errorf("alarms %d, acknowledged %d, resolved %d, escalated %d, kinds %v", d.Alarms, d.AlarmsAcknowledged,
			d.AlarmsResolved, d.AlarmsEscalated, d.AlarmsByKind)
	}
	// ack times 60, 120, 300: median 120, p90 = 120 + 0.8 × 180; resolve 300, 600, 3600.
	if !near(d.AckMedianS, 120) || !near(d.AckP90S, 264) || !near(d.ResolveMedianS, 600) || !near(d.ResolveP90S, 3000) {
		t.Errorf("times: ack %v %v, resolve %v %v", *d.AckMedianS, *d.AckP90S, *d.ResolveMedianS, *d.ResolveP90S)
	}
	if d.SupervisionResponseMedianS != nil || d.DutyCheckResponseMedianS != nil {
		t.Errorf("supervision figures without their tables: %+v", d)
	}

	// Computed once: asking again answers the stored figures.
	r.advance(2 * time.Hour)
	if again := r.get(r.day, r.day)[0]; !again.ComputedAt.Equal(d.ComputedAt) {
		t.Fatalf("closed day recomputed without new data: %v then %v", d.ComputedAt, again.ComputedAt)
	}
	// A late fix from v3 (on its trip) arrives: D is computed again with it.
	r.fix("v3", "acme", r.at(0, "09:01:00"))
	late := r.get(r.day, r.day)[0]
	if late.ComputedAt.Equal(d.ComputedAt) || late.VehiclesReported != 3 || late.IntervalsWithFix != 7 || late.Fixes != 11 {
		t.Fatalf("after a late fix: %+v", late)
	}
	// An acknowledgement after the fact changes D's response times.
	r.exec(`update alarms set state = 'acknowledged', acknowledged_at = $1, updated_at = now() where kind = 'device_alarm'`, r.at(0, "11:10:00"))
	acked := r.get(r.day, r.day)[0]
	if acked.AlarmsAcknowledged != 4 || !near(acked.AckMedianS, 210) {
		t.Fatalf("after a late ack: %d acknowledged, median %v", acked.AlarmsAcknowledged, acked.AckMedianS)
	}
	// Data of another day or carrier leaves D alone.
	r.fix("b1", "beta", r.at(0, "08:30:00"))
	r.fix("v1", "acme", r.at(-2, "08:30:00"))
	if same := r.get(r.day, r.day)[0]; !same.ComputedAt.Equal(acked.ComputedAt) {
		t.Fatalf("D recomputed for another carrier's or day's data")
	}
}

// TestDailyReportToday: today's figures are partial (complete false), kept for the refresh
// period, then recomputed.
func TestDailyReportToday(t *testing.T) {
	r := newReportRig(t)
	today := r.rep.Today()
	reps := r.get(r.day, today)
	if len(reps) != 4 || reps[3].Complete || !reps[0].Complete || reps[3].Day != today.Format(time.DateOnly) {
		t.Fatalf("reports %+v", reps)
	}
	first := reps[3]
	r.advance(30 * time.Minute)
	if again := r.get(today, today)[0]; !again.ComputedAt.Equal(first.ComputedAt) {
		t.Fatalf("today recomputed within the refresh period")
	}
	r.advance(31 * time.Minute)
	if again := r.get(today, today)[0]; again.ComputedAt.Equal(first.ComputedAt) {
		t.Fatalf("today not recomputed after the refresh period")
	}
	// An empty day has zero counts and null rates.
	empty := reps[2]
	if empty.VehiclesExpected != 0 || empty.OnlineRate != nil || empty.TrackCompleteness != nil || empty.DriftRate != nil ||
		empty.AckMedianS != nil || empty.Alarms != 0 {
		t.Fatalf("empty day %+v", empty)
	}
}

// TestDailyReportConcurrent: requests racing each other (and late data) all succeed and agree.
func TestDailyReportConcurrent(t *testing.T) {
	r := newReportRig(t)
	today := r.rep.Today()
	var wg sync.WaitGroup
	results := make([][]tracking.DailyReport, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%3 == 0 {
				r.fix("v1", "acme", r.at(0, "08:07:0"+string(rune('0'+i))))
			}
			reps, err := r.rep.DailyReports(context.Background(), "acme", r.day, today)
			if err != nil {
				t.Error(err)
				return
			}
			results[i] = reps
		}()
	}
	wg.Wait()
	final := r.get(r.day, r.day)[0]
	if final.Fixes != 13 || final.IntervalsWithFix != 7 {
		t.Fatalf("after the racing late fixes: %d fixes, %d intervals with a fix; want 13 and 7", final.Fixes, final.IntervalsWithFix)
	}
}

// TestDailyReportUplinkFigures: with the JT/T 809 uplink's tables (created here as migration
// 00005 of wip/jt809 defines them, when they do not exist yet), the supervision and duty-check
// response times are the medians of request to answer; a late answer corrects its day.
func TestDailyReportUplinkFigures(t *testing.T) {
	r := newReportRig(t)
	r.exec(`create table if not exists alarm_supervisions (id uuid primary key default gen_random_uuid(),
		alarm_id uuid references alarms (id), supervision_id bigint not null, level smallint not null,
		requested_at timestamptz not null default now(), deadline timestamptz not null, answered_at timestamptz)`)
	r.exec(`create table if not exists duty_checks (id uuid primary key default gen_random_uuid(), info_id bigint not null,
		msg_sn bigint not null, question text not null, asked_at timestamptz not null default now(), answered_at timestamptz)`)
	alarm := r.alarm("route_deviation", "v2", "acme", r.at(0, "15:00:00"), nil, nil, nil)
	other := r.alarm("route_deviation", "b1", "beta", r.at(0, "15:00:00"), nil, nil, nil)
	sup := func(id string, n int, asked string, answered *string) {
		var ans *time.Time
		if answered != nil {
			a := r.at(0, *answered)
			ans = &a
		}
		r.exec(`insert into alarm_supervisions (alarm_id, supervision_id, level, requested_at, deadline, answered_at)
			values ($1, $2, 1, $3, $3::timestamptz + interval '30 minutes', $4)`, id, n, r.at(0, asked), ans)
	}
	str := func(s string) *string { return &s }
	sup(alarm, 1, "15:01:00", str("15:02:00")) // 60 s
	sup(alarm, 2, "15:10:00", str("15:13:00")) // 180 s
	sup(alarm, 3, "15:20:00", nil)             // unanswered
	sup(other, 4, "15:01:00", str("15:30:00")) // beta's
	r.exec(`insert into duty_checks (info_id, msg_sn, question, asked_at, answered_at) values
		(1, 1, '1+1?', $1, $2), (2, 2, '2+2?', $3, null)`, r.at(0, "09:00:00"), r.at(0, "09:00:45"), r.at(0, "10:00:00"))
	d := r.get(r.day, r.day)[0]
	if !near(d.SupervisionResponseMedianS, 120) || !near(d.DutyCheckResponseMedianS, 45) {
		t.Fatalf("supervision %v, duty check %v; want 120 and 45", d.SupervisionResponseMedianS, d.DutyCheckResponseMedianS)
	}
	// The third supervision is answered now, days later: D is computed again with it.
	r.exec(`update alarm_supervisions set answered_at = now() where supervision_id = 3`)
	if d := r.get(r.day, r.day)[0]; !near(d.SupervisionResponseMedianS, 180) {
		t.Fatalf("after a late answer: supervision median %v, want 180", d.SupervisionResponseMedianS)
	}
}
