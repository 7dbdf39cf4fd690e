package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// writeAlarmChanges stores a batch's alarm changes set-wise and returns the alarms whose change
// was written, in change order, each as of that change (a raise active, a clear inactive):
//
//  1. one UPDATE clears the active alarms raised before this batch;
//  2. one INSERT adds this batch's raises (ON CONFLICT DO NOTHING: the alarm exists, a replay; or
//     another alarm of its key is active), those also cleared in this batch inserted cleared;
//  3. one INSERT adds the outbox events of what 1 and 2 wrote (at most one raised and one
//     cleared event per alarm: a replay writes none twice).
func writeAlarmChanges(ctx context.Context, tx pgx.Tx, changes []AlarmChange) ([]tracking.Alarm, error) {
	if len(changes) == 0 {
		return nil, nil
	}

	type ident struct {
		vehicle, kind, key string
		started            int64
	}
	raised := map[ident]*tracking.Alarm{} // raises of this batch, by identity
	clearedHere := map[ident]time.Time{}  // of those, the ones cleared in this batch too
	lastRaise := map[[3]string]ident{}    // the latest raise of this batch per key, not cleared yet
	inBatch := make([]*ident, len(changes))
	var cv, ck, ckey []string // clears of earlier alarms
	var cs, cat []time.Time
	var canyStart []bool
	var cids []string // of those, the ones whose identity is known
	var cidAt []time.Time
	for i, c := range changes {
		if c.Raise != nil {
			a := c.Raise
			id := ident{a.VehicleID, a.Kind, AlarmKey(a), a.StartedAt.UnixMicro()}
			raised[id] = a
			lastRaise[[3]string{id.vehicle, id.kind, id.key}] = id
			continue
		}
		cl := c.Clear
		k := [3]string{cl.VehicleID, cl.Kind, cl.Key}
		id := ident{cl.VehicleID, cl.Kind, cl.Key, cl.StartedAt.UnixMicro()}
		if cl.StartedAt.IsZero() {
			id = lastRaise[k]
		}
		if _, ok := raised[id]; ok {
			if _, done := clearedHere[id]; !done {
				clearedHere[id] = cl.At
				inBatch[i] = &id
				delete(lastRaise, k)
				continue
			}
		}
		if cl.ID != "" {
			cids, cidAt = append(cids, cl.ID), append(cidAt, cl.At)
		}
		cv, ck, ckey = append(cv, cl.VehicleID), append(ck, cl.Kind), append(ckey, cl.Key)
		cs, cat, canyStart = append(cs, cl.StartedAt), append(cat, cl.At), append(canyStart, cl.StartedAt.IsZero())
	}
	clearedRows := map[ident]tracking.Alarm{}
	collect := func(rows pgx.Rows, err error) error {
		if err != nil {
			return err
		}
		as, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tracking.Alarm, error) { return scanAlarm(r) })
		if err != nil {
			return err
		}
		for _, a := range as {
			clearedRows[ident{a.VehicleID, a.Kind, AlarmKey(&a), a.StartedAt.UnixMicro()}] = a
		}
		return nil
	}
	if len(cids) > 0 {
		// By identity: a primary-key lookup each.
		if err := collect(tx.Query(ctx, `update alarms a set active = false, cleared_at = u.at, updated_at = now()
			from unnest($1::uuid[], $2::timestamptz[]) as u(id, at) where a.id = u.id and a.active
			returning `+prefixed("a.", alarmCols), cids, cidAt)); err != nil {
			return nil, err
		}
		// The rest (alarms from before identities, or nothing active: a replay) by their key.
		var rv, rk, rkey []string
		var rs, rat []time.Time
		var rany []bool
		for i := range cv {
			if _, done := clearedRows[ident{cv[i], ck[i], ckey[i], cs[i].UnixMicro()}]; !done {
				rv, rk, rkey = append(rv, cv[i]), append(rk, ck[i]), append(rkey, ckey[i])
				rs, rat, rany = append(rs, cs[i]), append(rat, cat[i]), append(rany, canyStart[i])
			}
		}
		cv, ck, ckey, cs, cat, canyStart = rv, rk, rkey, rs, rat, rany
	}
	if len(cv) > 0 {
		if err := collect(tx.Query(ctx, `update alarms a set active = false, cleared_at = u.at, updated_at = now()
			from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::bool[]) as u(v, k, key, s, at, any_start)
			where a.vehicle_id = u.v and a.kind = u.k and coalesce(a.zone_id::text, a.device_alarm, '') = u.key
				and a.active and (u.any_start or a.started_at = u.s)
			returning `+prefixed("a.", alarmCols), cv, ck, ckey, cs, cat, canyStart)); err != nil {
			return nil, err
		}
	}
	inserted := map[string]bool{}
	if len(raised) > 0 {
		n := len(raised)
		ids, kinds, sev, vs, cs2 := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		trips, cors, zones, devs := make([]*string, 0, n), make([]*string, 0, n), make([]*string, 0, n), make([]*string, 0, n)
		started, raisedAt := make([]time.Time, 0, n), make([]time.Time, 0, n)
		clearedAt := make([]*time.Time, 0, n)
		lats, lons, dists, speeds := make([]*float64, 0, n), make([]*float64, 0, n), make([]*float64, 0, n), make([]*float64, 0, n)
		for _, c := range changes {
			if c.Raise == nil {
				continue
			}
			a := c.Raise
			ids, kinds, sev = append(ids, a.ID), append(kinds, a.Kind), append(sev, tracking.AlarmSeverity(a.Kind, deref(a.DeviceAlarm)))
			vs, cs2 = append(vs, a.VehicleID), append(cs2, a.CarrierID)
			trips, cors, zones, devs = append(trips, a.TripID), append(cors, a.CorridorID), append(zones, a.ZoneID), append(devs, a.DeviceAlarm)
			started, raisedAt = append(started, a.StartedAt), append(raisedAt, a.RaisedAt)
			if at, ok := clearedHere[ident{a.VehicleID, a.Kind, AlarmKey(a), a.StartedAt.UnixMicro()}]; ok {
				clearedAt = append(clearedAt, &at)
			} else {
				clearedAt = append(clearedAt, nil)
			}
			var lat, lon *float64
			if a.Position != nil {
				lat, lon = &a.Position.Lat, &a.Position.Lon
			}
			lats, lons, dists, speeds = append(lats, lat), append(lons, lon), append(dists, a.DistanceM), append(speeds, a.SpeedKmh)
		}
		rows, err := tx.Query(ctx, `insert into alarms (id, kind, severity, vehicle_id, carrier_id, trip_id, corridor_id,
				zone_id, device_alarm, started_at, raised_at, active, cleared_at, lat, lon, distance_m, speed_kmh)
			select id::uuid, kind, sev, v, c, trip::uuid, cor::uuid, zone::uuid, dev, s, r, cl is null, cl, lat, lon, dist, speed
			from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
				$10::timestamptz[], $11::timestamptz[], $12::timestamptz[], $13::float8[], $14::float8[], $15::float8[], $16::float8[])
				as u(id, kind, sev, v, c, trip, cor, zone, dev, s, r, cl, lat, lon, dist, speed)
			on conflict do nothing
			returning id::text`, ids, kinds, sev, vs, cs2, trips, cors, zones, devs, started, raisedAt, clearedAt, lats, lons, dists, speeds)
		if err != nil {
			return nil, err
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, err
		}
		for _, id := range got {
			inserted[id] = true
		}
	}
	// A raise that was not inserted because its alarm exists (a replay) and that this batch also
	// clears: the clear goes to the existing alarm, by identity.
	var lateIDs []string
	var lateAt []time.Time
	for id, at := range clearedHere {
		if r := raised[id]; !inserted[r.ID] {
			lateIDs, lateAt = append(lateIDs, r.ID), append(lateAt, at)
		}
	}
	if len(lateIDs) > 0 {
		if err := collect(tx.Query(ctx, `update alarms a set active = false, cleared_at = u.at, updated_at = now()
			from unnest($1::uuid[], $2::timestamptz[]) as u(id, at) where a.id = u.id and a.active
			returning `+prefixed("a.", alarmCols), lateIDs, lateAt)); err != nil {
			return nil, err
		}
	}
	// The events, in change order.
	var out []tracking.Alarm
	var evID, evName, evPayload []string
	add := func(event string, a tracking.Alarm) error {
		p, err := json.Marshal(tracking.AlarmEvent{Event: event, Alarm: a})
		if err != nil {
			return err
		}
		evID, evName, evPayload = append(evID, a.ID), append(evName, event), append(evPayload, string(p))
		out = append(out, a)
		return nil
	}
	for i, c := range changes {
		if c.Raise != nil {
			if !inserted[c.Raise.ID] {
				continue
			}
			a := *c.Raise
			a.Severity, a.State, a.Active = tracking.AlarmSeverity(a.Kind, deref(a.DeviceAlarm)), tracking.StateOpen, true
			storedAlarm(&a)
			if err := add(tracking.EventRaised, a); err != nil {
				return nil, err
			}
			continue
		}
		cl := c.Clear
		id := ident{cl.VehicleID, cl.Kind, cl.Key, cl.StartedAt.UnixMicro()}
		if inBatch[i] != nil {
			r := raised[*inBatch[i]]
			if !inserted[r.ID] {
				if a, ok := clearedRows[*inBatch[i]]; ok {
					delete(clearedRows, *inBatch[i])
					if err := add(tracking.EventCleared, a); err != nil {
						return nil, err
					}
				}
				continue
			}
			a := *r
			at := cl.At
			a.Severity, a.State, a.Active, a.ClearedAt = tracking.AlarmSeverity(a.Kind, deref(a.DeviceAlarm)), tracking.StateOpen, false, &at
			storedAlarm(&a)
			if err := add(tracking.EventCleared, a); err != nil {
				return nil, err
			}
			continue
		}
		if cl.StartedAt.IsZero() {
			for k, a := range clearedRows { // an alarm from before deterministic identities
				if k.vehicle == cl.VehicleID && k.kind == cl.Kind && k.key == cl.Key {
					delete(clearedRows, k)
					if err := add(tracking.EventCleared, a); err != nil {
						return nil, err
					}
					break
				}
			}
			continue
		}
		if a, ok := clearedRows[id]; ok {
			delete(clearedRows, id)
			if err := add(tracking.EventCleared, a); err != nil {
				return nil, err
			}
		}
	}
	if len(evID) > 0 {
		if _, err := tx.Exec(ctx, `insert into alarm_events (alarm_id, event, payload)
			select id::uuid, ev, p::jsonb from unnest($1::text[], $2::text[], $3::text[]) with ordinality as u(id, ev, p, n)
			order by n on conflict do nothing`, evID, evName, evPayload); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// prefixed qualifies every column of a column list with p.
func prefixed(p, cols string) string {
	out := make([]byte, 0, len(cols)*2)
	start := true
	for i := 0; i < len(cols); i++ {
		ch := cols[i]
		if start && ch != ' ' && ch != '\n' && ch != '\t' {
			out = append(out, p...)
			start = false
		}
		if ch == ',' {
			start = true
		}
		out = append(out, ch)
	}
	return string(out)
}

// storedAlarm makes an alarm built in memory read as it does from the database: UTC, and times
// to the microsecond.
func storedAlarm(a *tracking.Alarm) {
	a.StartedAt = a.StartedAt.Truncate(time.Microsecond)
	a.RaisedAt = a.RaisedAt.Truncate(time.Microsecond)
	if a.ClearedAt != nil {
		t := a.ClearedAt.Truncate(time.Microsecond)
		a.ClearedAt = &t
	}
	utcAlarm(a)
}
