package postgres

import (
	"context"
	"encoding/json"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// ReportConfig configures the daily compliance reports.
type ReportConfig struct {
	// Location is the time zone of the days (CORRIDOR_TIMEZONE); nil is UTC.
	Location *time.Location
	// Interval is the expected report interval (CORRIDOR_REPORT_INTERVAL); 0 is 30 s.
	Interval time.Duration
	// Refresh is how old the current day's stored report may be before it is recomputed
	// (CORRIDOR_REPORT_REFRESH); 0 recomputes it on every request.
	Refresh time.Duration
	// SweepMargin is how far behind the clock the search for late data restarts each time, to
	// catch rows of transactions that were open while it ran; 0 is 5 minutes.
	SweepMargin time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Reports computes and stores daily compliance figures per carrier (table daily_reports).
//
// A closed day is computed once and stored; it is computed again only when data for it changed
// afterwards: each request first sweeps for rows received or updated since the last sweep
// (positions by received_at through a BRIN index, alarms and trips by updated_at) whose day is a
// closed one, and marks those days' stored reports dirty. The current day is recomputed when its
// stored figures are older than Refresh. So a request costs the sweep (proportional to what
// arrived since the previous one) plus the days it has to compute, each of which reads only
// that carrier's rows of that day (by index); never a scan of all history.
type Reports struct {
	db  *DB
	cfg ReportConfig
}

// Reports returns the compliance reports over db.
func (db *DB) Reports(cfg ReportConfig) *Reports {
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 30 * time.Second
	}
	if cfg.SweepMargin <= 0 {
		cfg.SweepMargin = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Reports{db: db, cfg: cfg}
}

// Today returns the current local date (as midnight UTC of that date).
func (r *Reports) Today() time.Time { return civil(r.cfg.Now().In(r.cfg.Location)) }

func civil(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// dayStart returns local midnight of the date day.
func (r *Reports) dayStart(day time.Time) time.Time {
	return time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, r.cfg.Location)
}

// storedReport is what the decision to recompute needs of a stored report.
type storedReport struct {
	Timezone   string
	IntervalS  float64
	Complete   bool
	Dirty      bool
	ComputedAt time.Time
}

// needsCompute decides whether the report of a day must be (re)computed at now: never stored,
// stored under another time zone or interval, dirty (late data), or not complete (the current
// day, or a day computed before it ended) and older than refresh, or computed before the day
// ended although it has ended since.
func needsCompute(s *storedReport, dayEnd, now time.Time, tz string, intervalS float64, refresh time.Duration) bool {
	switch {
	case s == nil, s.Timezone != tz, s.IntervalS != intervalS, s.Dirty:
		return true
	case s.Complete:
		return false
	case !now.Before(dayEnd):
		return true // computed while the day ran; it has ended since
	}
	return now.Sub(s.ComputedAt) >= refresh
}

// DailyReports returns carrierID's reports for every day from..to (local dates, given as midnight
// UTC of the date; to at most today), computing and storing those that need it.
func (r *Reports) DailyReports(ctx context.Context, carrierID string, from, to time.Time) ([]tracking.DailyReport, error) {
	now := r.cfg.Now()
	if err := r.sweep(ctx); err != nil {
		return nil, err
	}
	rows, err := r.db.Pool.Query(ctx, `select day, timezone, interval_s, complete, dirty, figures, computed_at
		from daily_reports where carrier_id = $1 and day between $2 and $3`, carrierID, from, to)
	if err != nil {
		return nil, err
	}
	type row struct {
		s       storedReport
		figures []byte
	}
	stored := map[string]row{}
	for rows.Next() {
		var day time.Time
		var x row
		if err := rows.Scan(&day, &x.s.Timezone, &x.s.IntervalS, &x.s.Complete, &x.s.Dirty, &x.figures, &x.s.ComputedAt); err != nil {
			rows.Close()
			return nil, err
		}
		stored[day.Format(time.DateOnly)] = x
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	tz := r.cfg.Location.String()
	iv := r.cfg.Interval.Seconds()
	var out []tracking.DailyReport
	for day := from; !day.After(to); day = day.AddDate(0, 0, 1) {
		key := day.Format(time.DateOnly)
		x, ok := stored[key]
		var s *storedReport
		if ok {
			s = &x.s
		}
		if needsCompute(s, r.dayStart(day.AddDate(0, 0, 1)), now, tz, iv, r.cfg.Refresh) {
			rep, err := r.compute(ctx, carrierID, day, now)
			if err != nil {
				return nil, err
			}
			out = append(out, rep)
			continue
		}
		var rep tracking.DailyReport
		if err := json.Unmarshal(x.figures, &rep); err != nil {
			return nil, err
		}
		rep.CarrierID, rep.Day, rep.Timezone, rep.Complete = carrierID, key, x.s.Timezone, x.s.Complete
		rep.ComputedAt = x.s.ComputedAt.UTC()
		out = append(out, rep)
	}
	return out, nil
}

// reportLock is the advisory lock key that makes sweeps and computations exclude each other.
const reportLock = 0x636f7272_7270 // "corr" "rp"

// sweep marks dirty the stored complete reports of days that received data since the last sweep.
// A sweep holds the advisory lock reportLock exclusively, computations share it: so a day computed
// while late data arrived is marked by the next sweep, never silently left out of date.
func (r *Reports) sweep(ctx context.Context) error {
	today := r.dayStart(r.Today())
	return pgx.BeginFunc(ctx, r.db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `select pg_advisory_xact_lock($1)`, int64(reportLock)); err != nil {
			return err
		}
		var wm time.Time
		if err := tx.QueryRow(ctx, `select swept_to from daily_report_sweep`).Scan(&wm); err != nil {
			return err
		}
		// Fixes are accepted up to 7 days old: a fix received after wm has ts after wm - 7 days.
		_, err := tx.Exec(ctx, `update daily_reports d set dirty = true from (
				select distinct carrier_id, (ts at time zone $3)::date as day from positions
				 where received_at > $1 and ts >= $1 - interval '8 days' and ts < $2
				union
				select distinct carrier_id, (raised_at at time zone $3)::date from alarms
				 where updated_at > $1 and raised_at < $2
				union
				select distinct t.carrier_id, g.day::date from trips t,
				       generate_series((t.starts_at at time zone $3)::date, (least(t.ends_at, $2) at time zone $3)::date, interval '1 day') g(day)
				 where t.updated_at > $1 and t.starts_at < $2
			) c where d.carrier_id = c.carrier_id and d.day = c.day and d.complete and not d.dirty`,
			wm, today, r.cfg.Location.String())
		if err != nil {
			return err
		}
		if err := sweepUplink(ctx, tx, wm, today, r.cfg.Location.String()); err != nil {
			return err
		}
		// The database's clock, as updated_at (received_at is the engine's: the margin covers skew).
		_, err = tx.Exec(ctx, `update daily_report_sweep set swept_to = greatest(swept_to, now() - $1::interval)`, r.cfg.SweepMargin)
		return err
	})
}

// compute computes one carrier's figures for one day (up to now for the current day) and stores
// them. It runs read committed after taking the shared lock (a repeatable-read snapshot taken
// before waiting for a sweep would fail to serialize with it); data committed between its
// statements is picked up by the next sweep, as any late data is.
func (r *Reports) compute(ctx context.Context, carrierID string, day, now time.Time) (tracking.DailyReport, error) {
	start, end := r.dayStart(day), r.dayStart(day.AddDate(0, 0, 1))
	cut := end
	if now.Before(end) {
		cut = now
	}
	rep := tracking.DailyReport{CarrierID: carrierID, Day: day.Format(time.DateOnly), Timezone: r.cfg.Location.String(),
		Complete: !now.Before(end), ComputedAt: now.UTC().Truncate(time.Microsecond), ReportIntervalS: r.cfg.Interval.Seconds(),
		AlarmsByKind: map[string]int64{}}
	for _, k := range tracking.AlarmKinds {
		rep.AlarmsByKind[k] = 0
	}
	err := pgx.BeginFunc(ctx, r.db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `select pg_advisory_xact_lock_shared($1)`, int64(reportLock)); err != nil {
			return err
		}
		if cut.After(start) {
			if err := r.trackFigures(ctx, tx, &rep, carrierID, start, cut); err != nil {
				return err
			}
		}
		if err := alarmFigures(ctx, tx, &rep, carrierID, start, end); err != nil {
			return err
		}
		if err := uplinkFigures(ctx, tx, &rep, carrierID, start, end); err != nil {
			return err
		}
		figures, err := json.Marshal(&rep)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `insert into daily_reports (carrier_id, day, timezone, interval_s, complete, dirty, figures, computed_at)
			values ($1, $2, $3, $4, $5, false, $6, $7)
			on conflict (carrier_id, day) do update set timezone = excluded.timezone, interval_s = excluded.interval_s,
				complete = excluded.complete, dirty = false, figures = excluded.figures, computed_at = excluded.computed_at`,
			carrierID, day, rep.Timezone, rep.ReportIntervalS, rep.Complete, figures, rep.ComputedAt)
		return err
	})
	return rep, err
}

// trackFigures fills in the online rate, track completeness and drift rate over [start, cut),
// reading the carrier's fixes of the day once (one bitmap scan of the day's partitions by the
// (vehicle_id, ts) key for all its vehicles: each heap page is read once, not once per vehicle).
func (r *Reports) trackFigures(ctx context.Context, tx pgx.Tx, rep *tracking.DailyReport, carrierID string, start, cut time.Time) error {
	err := tx.QueryRow(ctx, `with w as (
			select vehicle_id, greatest(starts_at, $2) as ws, least(ends_at, $3) as we
			  from trips where carrier_id = $1 and cancelled_at is null and starts_at < $3 and ends_at > $2
			   and least(ends_at, $3) > greatest(starts_at, $2)
		), p as materialized (
			select vehicle_id, ts, coalesce('implausible_jump' = any(flags), false) as bad from positions
			 where vehicle_id = any(array(select id from vehicles where carrier_id = $1)) and carrier_id = $1
			   and ts >= $2 and ts < $3
		), cov as (
			select w.vehicle_id, count(distinct floor(extract(epoch from p.ts - w.ws) / $4)) filter (where not p.bad) as covered
			  from w join p on p.vehicle_id = w.vehicle_id and p.ts >= w.ws and p.ts < w.we
			 group by w.vehicle_id, w.ws
		)
		select (select count(distinct vehicle_id) from w), (select count(distinct vehicle_id) from cov),
		       (select coalesce(sum(ceil(extract(epoch from we - ws) / $4)), 0)::bigint from w),
		       (select coalesce(sum(covered), 0)::bigint from cov),
		       (select count(*) from p), (select count(*) filter (where bad) from p)`,
		carrierID, start, cut, r.cfg.Interval.Seconds()).Scan(&rep.VehiclesExpected, &rep.VehiclesReported,
		&rep.IntervalsExpected, &rep.IntervalsWithFix, &rep.Fixes, &rep.ImplausibleFixes)
	if err != nil {
		return err
	}
	rep.OnlineRate = tracking.Ratio(int64(rep.VehiclesReported), int64(rep.VehiclesExpected))
	rep.TrackCompleteness = tracking.Ratio(rep.IntervalsWithFix, rep.IntervalsExpected)
	rep.DriftRate = tracking.Ratio(rep.ImplausibleFixes, rep.Fixes)
	return nil
}

// alarmFigures fills in the alarms raised in [start, end) and the response times to them.
func alarmFigures(ctx context.Context, tx pgx.Tx, rep *tracking.DailyReport, carrierID string, start, end time.Time) error {
	rows, err := tx.Query(ctx, `select kind, count(*) from alarms where carrier_id = $1 and raised_at >= $2 and raised_at < $3
		group by kind`, carrierID, start, end)
	if err != nil {
		return err
	}
	for rows.Next() {
		var kind string
		var n int64
		if err := rows.Scan(&kind, &n); err != nil {
			rows.Close()
			return err
		}
		rep.AlarmsByKind[kind] = n
		rep.Alarms += n
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var ack, res []*float64
	err = tx.QueryRow(ctx, `select
			count(*) filter (where coalesce(acknowledged_at, resolved_at) is not null),
			count(*) filter (where resolved_at is not null),
			count(*) filter (where escalated_at is not null),
			percentile_cont(array[0.5, 0.9]) within group (order by extract(epoch from coalesce(acknowledged_at, resolved_at) - created_at))
				filter (where coalesce(acknowledged_at, resolved_at) is not null),
			percentile_cont(array[0.5, 0.9]) within group (order by extract(epoch from resolved_at - created_at))
				filter (where resolved_at is not null)
		from alarms where carrier_id = $1 and raised_at >= $2 and raised_at < $3`, carrierID, start, end).
		Scan(&rep.AlarmsAcknowledged, &rep.AlarmsResolved, &rep.AlarmsEscalated, &ack, &res)
	if err != nil {
		return err
	}
	rep.AckMedianS, rep.AckP90S = pick(ack, 0), pick(ack, 1)
	rep.ResolveMedianS, rep.ResolveP90S = pick(res, 0), pick(res, 1)
	return nil
}

// pick returns the i-th value rounded to the millisecond, nil when absent.
func pick(vs []*float64, i int) *float64 {
	if i >= len(vs) || vs[i] == nil {
		return nil
	}
	v := math.Round(*vs[i]*1000) / 1000
	return &v
}
