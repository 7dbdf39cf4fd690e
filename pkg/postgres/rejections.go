package postgres

import (
	"context"
	"time"
)

// rejectionsColumn is the vehicle's refused-fix summary as JSON ({"counts": {reason: n},
// "last": {"reason", "detail", "at"}}), null when there is none; it reads the row as `vehicles`.
const rejectionsColumn = `(select json_build_object(
		'counts', json_object_agg(r.reason, r.count),
		'last', (select json_build_object('reason', l.reason, 'detail', l.last_detail,
				'at', to_char(l.last_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
			from vehicle_rejections l where l.vehicle_id = vehicles.id order by l.last_at desc, l.reason limit 1))
	from vehicle_rejections r where r.vehicle_id = vehicles.id having count(*) > 0)`

// Rejection is one refused fix of a vehicle (a dead letter whose subject names the vehicle).
type Rejection struct {
	VehicleID string
	CarrierID string // the carrier the input claimed (the subject's)
	Reason    string
	Detail    string
	At        time.Time // when it was refused
}

// RecordRejections adds refused fixes to their vehicles' counts by reason and keeps the latest
// detail and time, in one statement. A rejection is recorded only when its vehicle exists and
// belongs to CarrierID, so that nobody can write into another carrier's vehicle's record
// (carrier_mismatch and unknown_vehicle dead letters are therefore never recorded).
func (db *DB) RecordRejections(ctx context.Context, rs []Rejection) error {
	if len(rs) == 0 {
		return nil
	}
	vehicles := make([]string, len(rs))
	carriers := make([]string, len(rs))
	reasons := make([]string, len(rs))
	details := make([]string, len(rs))
	ats := make([]time.Time, len(rs))
	for i, r := range rs {
		vehicles[i], carriers[i], reasons[i], details[i], ats[i] = r.VehicleID, r.CarrierID, r.Reason, r.Detail, r.At
	}
	_, err := db.Pool.Exec(ctx, `insert into vehicle_rejections (vehicle_id, reason, count, last_detail, last_at)
		select u.vehicle_id, u.reason, count(*),
			(array_agg(u.detail order by u.at desc))[1], max(u.at)
		from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) as u(vehicle_id, carrier_id, reason, detail, at)
		join vehicles v on v.id = u.vehicle_id and v.carrier_id = u.carrier_id
		group by u.vehicle_id, u.reason
		on conflict (vehicle_id, reason) do update set count = vehicle_rejections.count + excluded.count,
			last_detail = case when excluded.last_at >= vehicle_rejections.last_at then excluded.last_detail else vehicle_rejections.last_detail end,
			last_at = greatest(vehicle_rejections.last_at, excluded.last_at)`,
		vehicles, carriers, reasons, details, ats)
	return mapError(err, "rejection")
}
