// Package rules is Corridor's alarm logic (CONTRACT §4): a pure state machine per vehicle that maps
// (state, fix) and (state, clock) to (state, alarm changes). It has no clock, logger, context, SQL
// or network; the engine passes the time in, stores the State with each committed batch and
// reloads it at start, so replaying the same fixes gives the same changes.
//
// Evaluate is called for every fix of a vehicle in ts order, Tick from a ticker. Where the
// contract is silent the package decides as follows.
//
//   - Order: only a fix whose ts is after the last processed fix's drives the rules. An older or
//     duplicate fix changes nothing at all, not even signal_lost (CONTRACT §4: "changes no
//     state", "a duplicate changes nothing"). A fix flagged Implausible, or with a zero ts or a
//     non-finite position, changes nothing either.
//   - Clearing: every "consecutive compliant fixes" clear uses Config.ClearFixes, except
//     unauthorized_stop, which CONTRACT §4 clears with exactly 2 consecutive moving fixes
//     (StopClearFixes) whatever CORRIDOR_CLEAR_FIXES says.
//   - A fix without speed, or with a non-finite one, counts neither way for overspeed,
//     unauthorized_stop and fatigue_driving: it neither extends nor breaks an episode.
//   - route_deviation belongs to the trip active at its raising fix. It clears when a fix comes
//     with another trip or none, or when Tick sees that trip no longer active; cleared_at is then
//     the trip's EndsAt when that is earlier than the fix or tick time (a cancelled trip: the
//     observation time). Once a trip has been seen ended, late fixes still carrying it do not
//     count towards route_deviation. A non-finite DistanceM counts neither way.
//   - restricted_zone applies per ZoneHit with Applies (active hours in Config.Location, window
//     [from, to), from > to spans midnight, from == to all day). A fix inside a zone that does not
//     apply at that time counts as outside: a window closing while the vehicle is inside clears
//     the alarm after ClearFixes fixes; a window opening while it is inside raises at the first
//     fix after opening. A zone that disappears from the index counts as outside.
//   - overspeed reports on its raise the highest speed of the episode up to the confirming fix;
//     the alarm is raised once and not updated afterwards. The limit is the trip's MaxSpeedKmh
//     when set (> 0), else DefaultMaxSpeedKmh, and is taken per fix.
//   - signal_lost is raised by Tick when a trip is active at `now` and no fix was processed for
//     OfflineAfter (>=), counted from the ReceivedAt of the last processed fix or from the trip's
//     start, whichever is later. It is cleared by the next processed fix at its ReceivedAt, and
//     only by a fix: a trip ending does not clear it (the vehicle is still silent).
//   - unauthorized_stop needs an active trip on every stopped fix; the stop restarts when the trip
//     changes or a fix falls in a parking/terminal zone that applies (zone hours count for these
//     kinds too). An active alarm clears only by moving, not by the trip ending or parking.
//   - fatigue_driving needs no trip. Driving time runs from the first moving fix after the last
//     full rest, short stops included, and raises on a moving fix more than FatigueDrive later.
//     A rest is FatigueRest between the first and a later stopped fix, or a gap of at least
//     FatigueRest between two processed fixes (a parked truck often stops reporting); a rest
//     clears an active alarm at the fix that completes it.
//   - device_alarm: one alarm per distinct non-empty name; a fix without the name clears it at
//     once (no ClearFixes), including a fix with no device_alarms at all.
//   - Within one call changes come in this order: signal_lost, route_deviation, restricted_zone
//     (clears before raises), overspeed, unauthorized_stop, fatigue_driving, device_alarm.
//
// At most one alarm per (kind, key) is active by construction: a raise happens only when none is.
package rules

import (
	"math"
	"time"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// MovingKmh is the speed from which a vehicle counts as moving (unauthorized_stop, fatigue_driving).
const MovingKmh = 5

// evaluator applies one call's rules. The State it holds shares its Alarms slice with the
// caller's until the first change to it (copy on write), so the caller's State is never modified
// and the no-change path does not allocate.
type evaluator struct {
	cfg     Config
	st      State
	owned   bool // st.Alarms is our own copy
	changes []Change
}

func (e *evaluator) own() { e.ownRoom(0) }

// ownRoom is own with room for n more alarms. The copy is no larger than that: a vehicle's
// state is kept for every vehicle of the fleet.
func (e *evaluator) ownRoom(n int) {
	if !e.owned {
		a := make([]ActiveAlarm, len(e.st.Alarms), len(e.st.Alarms)+n)
		copy(a, e.st.Alarms)
		e.st.Alarms = a
		e.owned = true
	}
}

// done returns the state and changes of the call; a state without alarms keeps no room for them.
func (e *evaluator) done() (State, []Change) {
	if len(e.st.Alarms) == 0 {
		e.st.Alarms = nil
	}
	return e.st, e.changes
}

func (e *evaluator) setCompliant(i, n int) {
	if e.st.Alarms[i].Compliant != n {
		e.own()
		e.st.Alarms[i].Compliant = n
	}
}

// comply counts one compliant fix for alarm i and clears it once ClearFixes are reached
// (StopClearFixes for unauthorized_stop, whose clearing the contract fixes at two moving fixes).
func (e *evaluator) comply(i int, at time.Time, lat, lon float64) {
	n := e.st.Alarms[i].Compliant + 1
	need := e.cfg.ClearFixes
	if e.st.Alarms[i].Kind == tracking.AlarmUnauthorizedStop {
		need = StopClearFixes
	}
	if n >= need {
		e.clear(i, at, lat, lon)
		return
	}
	e.setCompliant(i, n)
}

func (e *evaluator) raise(a ActiveAlarm, c Change) {
	e.ownRoom(1)
	e.st.Alarms = append(e.st.Alarms, a)
	c.Kind = a.Kind
	c.Event = tracking.EventRaised
	c.TripID, c.CorridorID = a.TripID, a.CorridorID
	c.StartedAt, c.At = a.StartedAt, a.RaisedAt
	setKey(&c, a.Key)
	e.changes = append(e.changes, c)
}

func (e *evaluator) clear(i int, at time.Time, lat, lon float64) {
	a := e.st.Alarms[i]
	e.own()
	e.st.Alarms = append(e.st.Alarms[:i], e.st.Alarms[i+1:]...)
	e.clearChange(a, at, lat, lon)
}

// clearChange records the clearing of alarm a (already removed from the state by the caller).
func (e *evaluator) clearChange(a ActiveAlarm, at time.Time, lat, lon float64) {
	if at.Before(a.RaisedAt) {
		at = a.RaisedAt
	}
	c := Change{Kind: a.Kind, Event: tracking.EventCleared, TripID: a.TripID, CorridorID: a.CorridorID,
		StartedAt: a.StartedAt, At: at, Lat: lat, Lon: lon}
	setKey(&c, a.Key)
	e.changes = append(e.changes, c)
}

func setKey(c *Change, key string) {
	switch c.Kind {
	case tracking.AlarmRestrictedZone:
		c.ZoneID = key
	case tracking.AlarmDevice:
		c.DeviceAlarm = key
	}
}

// copyFloat returns a pointer to a copy of *p (nil for nil), so that a Change never aliases the
// caller's input.
func copyFloat(p *float64) *float64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func tripIDs(t *Trip) (string, string) {
	if t == nil {
		return "", ""
	}
	return t.ID, t.CorridorID
}

// Evaluate applies one fix of the vehicle to its state and returns the new state and the alarm
// changes it causes (nil when none). st is not modified. A fix that is not newer than the last
// processed one, or is Implausible, returns st unchanged and no changes.
func Evaluate(cfg Config, st State, in Input) (State, []Change) {
	in.Fix.TS, in.ReceivedAt = in.Fix.TS.Round(0), in.ReceivedAt.Round(0) // wall clock only, as after a reload
	f := &in.Fix
	if f.Implausible || f.TS.IsZero() || !finite(f.Lat) || !finite(f.Lon) {
		return st, nil
	}
	if st.HasPos && !f.TS.After(st.LastFixTS) {
		return st, nil
	}
	e := evaluator{cfg: cfg, st: st}
	received := in.ReceivedAt
	if received.IsZero() {
		received = f.TS
	}
	speed, hasSpeed := 0.0, false
	if f.SpeedKmh != nil && finite(*f.SpeedKmh) {
		speed, hasSpeed = *f.SpeedKmh, true
	}

	if i := e.st.find(tracking.AlarmSignalLost, ""); i >= 0 {
		e.clear(i, received, f.Lat, f.Lon)
	}
	e.deviation(&in)
	e.zones(&in)
	if hasSpeed {
		e.overspeed(&in, speed)
		e.stop(&in, speed)
	}
	e.fatigue(&in, speed, hasSpeed)
	e.device(&in)

	e.st.LastFixTS = f.TS
	if received.After(e.st.LastSeen) {
		e.st.LastSeen = received
	}
	e.st.Lat, e.st.Lon, e.st.HasPos = f.Lat, f.Lon, true
	return e.done()
}

// endTrip clears an active route_deviation whose trip is no longer active, observed at `at`.
func (e *evaluator) endTrip(i int, at time.Time, lat, lon float64) {
	a := e.st.Alarms[i]
	if !a.TripEndsAt.IsZero() && a.TripEndsAt.Before(at) {
		at = a.TripEndsAt
	}
	e.st.EndedTrip = a.TripID
	e.clear(i, at, lat, lon)
}

func (e *evaluator) deviation(in *Input) {
	f := &in.Fix
	trip := in.Trip
	if trip != nil && trip.ID == e.st.EndedTrip {
		trip = nil
	}
	i := e.st.find(tracking.AlarmRouteDeviation, "")
	if i >= 0 && (trip == nil || trip.ID != e.st.Alarms[i].TripID) {
		e.endTrip(i, f.TS, f.Lat, f.Lon)
		i = -1
	}
	if trip == nil {
		e.st.Deviation = Episode{}
		return
	}
	if e.st.Deviation.TripID != trip.ID {
		e.st.Deviation = Episode{TripID: trip.ID, TripStart: trip.StartsAt}
	}
	if !finite(in.DistanceM) {
		return
	}
	off := in.DistanceM > trip.BufferM
	if i >= 0 {
		if off {
			e.setCompliant(i, 0)
		} else {
			e.comply(i, f.TS, f.Lat, f.Lon)
		}
		return
	}
	if !off {
		e.st.Deviation.Count, e.st.Deviation.Since = 0, time.Time{}
		return
	}
	if e.st.Deviation.Count == 0 {
		e.st.Deviation.Since = f.TS
	}
	e.st.Deviation.Count++
	if e.st.Deviation.Count < e.cfg.DeviationConfirmFixes {
		return
	}
	d := in.DistanceM
	e.raise(ActiveAlarm{Kind: tracking.AlarmRouteDeviation, TripID: trip.ID, CorridorID: trip.CorridorID,
		TripStartsAt: trip.StartsAt, TripEndsAt: trip.EndsAt, StartedAt: e.st.Deviation.Since, RaisedAt: f.TS},
		Change{Lat: f.Lat, Lon: f.Lon, DistanceM: &d, SpeedKmh: copyFloat(f.SpeedKmh)})
	e.st.Deviation = Episode{TripID: trip.ID, TripStart: trip.StartsAt}
}

// insideRestricted reports whether the fix is in restricted zone id while the zone applies.
func (e *evaluator) insideRestricted(in *Input, id string) bool {
	for j := range in.Zones {
		z := &in.Zones[j]
		if z.ID == id && z.Kind == tracking.ZoneRestricted && Applies(z.ActiveHours, in.Fix.TS, e.cfg.Location) {
			return true
		}
	}
	return false
}

func (e *evaluator) zones(in *Input) {
	f := &in.Fix
	for i := 0; i < len(e.st.Alarms); i++ {
		a := &e.st.Alarms[i]
		if a.Kind != tracking.AlarmRestrictedZone {
			continue
		}
		if e.insideRestricted(in, a.Key) {
			e.setCompliant(i, 0)
			continue
		}
		n := len(e.st.Alarms)
		e.comply(i, f.TS, f.Lat, f.Lon)
		if len(e.st.Alarms) < n {
			i--
		}
	}
	for j := range in.Zones {
		z := &in.Zones[j]
		if z.Kind != tracking.ZoneRestricted || e.st.find(tracking.AlarmRestrictedZone, z.ID) >= 0 ||
			!Applies(z.ActiveHours, f.TS, e.cfg.Location) {
			continue
		}
		tid, cid := tripIDs(in.Trip)
		e.raise(ActiveAlarm{Kind: tracking.AlarmRestrictedZone, Key: z.ID, TripID: tid, CorridorID: cid,
			StartedAt: f.TS, RaisedAt: f.TS},
			Change{Lat: f.Lat, Lon: f.Lon, SpeedKmh: copyFloat(f.SpeedKmh)})
	}
}

func (e *evaluator) overspeed(in *Input, speed float64) {
	f := &in.Fix
	limit := e.cfg.DefaultMaxSpeedKmh
	if in.Trip != nil && in.Trip.MaxSpeedKmh > 0 {
		limit = in.Trip.MaxSpeedKmh
	}
	over := speed > limit
	if i := e.st.find(tracking.AlarmOverspeed, ""); i >= 0 {
		if over {
			e.setCompliant(i, 0)
		} else {
			e.comply(i, f.TS, f.Lat, f.Lon)
		}
		return
	}
	ep := &e.st.Overspeed
	if !over {
		if ep.Count != 0 {
			*ep = Episode{}
		}
		return
	}
	if ep.Count == 0 {
		ep.Since, ep.MaxKmh = f.TS, speed
	}
	ep.Count++
	ep.MaxKmh = max(ep.MaxKmh, speed)
	if ep.Count < e.cfg.OverspeedConfirmFixes {
		return
	}
	top := ep.MaxKmh
	tid, cid := tripIDs(in.Trip)
	e.raise(ActiveAlarm{Kind: tracking.AlarmOverspeed, TripID: tid, CorridorID: cid, StartedAt: ep.Since, RaisedAt: f.TS},
		Change{Lat: f.Lat, Lon: f.Lon, SpeedKmh: &top})
	*ep = Episode{}
}

// inRestArea reports whether the fix is in a parking or terminal zone that applies.
func (e *evaluator) inRestArea(in *Input) bool {
	for j := range in.Zones {
		z := &in.Zones[j]
		if (z.Kind == tracking.ZoneParking || z.Kind == tracking.ZoneTerminal) && Applies(z.ActiveHours, in.Fix.TS, e.cfg.Location) {
			return true
		}
	}
	return false
}

func (e *evaluator) stop(in *Input, speed float64) {
	f := &in.Fix
	if i := e.st.find(tracking.AlarmUnauthorizedStop, ""); i >= 0 {
		if speed >= MovingKmh {
			e.comply(i, f.TS, f.Lat, f.Lon)
		} else {
			e.setCompliant(i, 0)
		}
		if e.st.Stop != (Episode{}) {
			e.st.Stop = Episode{}
		}
		return
	}
	if in.Trip == nil || speed >= MovingKmh || e.inRestArea(in) {
		if e.st.Stop != (Episode{}) {
			e.st.Stop = Episode{}
		}
		return
	}
	ep := &e.st.Stop
	if ep.Since.IsZero() || ep.TripID != in.Trip.ID {
		*ep = Episode{TripID: in.Trip.ID, Since: f.TS}
	}
	if f.TS.Sub(ep.Since) < e.cfg.StopAfter {
		return
	}
	e.raise(ActiveAlarm{Kind: tracking.AlarmUnauthorizedStop, TripID: in.Trip.ID, CorridorID: in.Trip.CorridorID,
		StartedAt: ep.Since, RaisedAt: f.TS},
		Change{Lat: f.Lat, Lon: f.Lon, SpeedKmh: copyFloat(f.SpeedKmh)})
	*ep = Episode{}
}

// rested ends the driving time at fix f and clears fatigue_driving.
func (e *evaluator) rested(f *Fix) {
	e.st.Fatigue.DriveSince = time.Time{}
	if i := e.st.find(tracking.AlarmFatigueDriving, ""); i >= 0 {
		e.clear(i, f.TS, f.Lat, f.Lon)
	}
}

func (e *evaluator) fatigue(in *Input, speed float64, hasSpeed bool) {
	f := &in.Fix
	fs := &e.st.Fatigue
	if e.st.HasPos && f.TS.Sub(e.st.LastFixTS) >= e.cfg.FatigueRest {
		fs.RestSince = time.Time{}
		e.rested(f)
	}
	if !hasSpeed {
		return
	}
	if speed < MovingKmh {
		if fs.RestSince.IsZero() {
			fs.RestSince = f.TS
		}
		if !fs.DriveSince.IsZero() && f.TS.Sub(fs.RestSince) >= e.cfg.FatigueRest {
			e.rested(f)
		}
		return
	}
	fs.RestSince = time.Time{}
	if fs.DriveSince.IsZero() {
		fs.DriveSince = f.TS
	}
	if f.TS.Sub(fs.DriveSince) <= e.cfg.FatigueDrive || e.st.find(tracking.AlarmFatigueDriving, "") >= 0 {
		return
	}
	tid, cid := tripIDs(in.Trip)
	e.raise(ActiveAlarm{Kind: tracking.AlarmFatigueDriving, TripID: tid, CorridorID: cid, StartedAt: fs.DriveSince, RaisedAt: f.TS},
		Change{Lat: f.Lat, Lon: f.Lon, SpeedKmh: copyFloat(f.SpeedKmh)})
}

// device raises and clears device alarms in time linear in the number of names and active
// alarms: with more than a few names, membership goes through sets instead of scans.
func (e *evaluator) device(in *Input) {
	f := &in.Fix
	var names map[string]struct{} // the fix's names, when there are many
	if len(f.DeviceAlarms) > smallSet {
		names = make(map[string]struct{}, len(f.DeviceAlarms))
		for _, n := range f.DeviceAlarms {
			names[n] = struct{}{}
		}
	}
	carries := func(key string) bool {
		if names != nil {
			_, ok := names[key]
			return ok
		}
		return contains(f.DeviceAlarms, key)
	}
	// Clears, in raise order, in one pass over the active alarms.
	nDevice, nClear := 0, 0
	for i := range e.st.Alarms {
		if a := &e.st.Alarms[i]; a.Kind == tracking.AlarmDevice {
			nDevice++
			if !carries(a.Key) {
				nClear++
			}
		}
	}
	if nClear > 0 {
		e.own()
		kept := e.st.Alarms[:0]
		for _, a := range e.st.Alarms {
			if a.Kind == tracking.AlarmDevice && !carries(a.Key) {
				e.clearChange(a, f.TS, f.Lat, f.Lon)
				continue
			}
			kept = append(kept, a)
		}
		clear(e.st.Alarms[len(kept):])
		e.st.Alarms = kept
		nDevice -= nClear
	}
	if len(f.DeviceAlarms) == 0 {
		return
	}
	// Raises, in the fix's order, once per distinct name.
	var active map[string]struct{} // names with an active alarm, when there are many
	if len(f.DeviceAlarms) > smallSet || nDevice > smallSet {
		active = make(map[string]struct{}, nDevice+len(f.DeviceAlarms))
		for i := range e.st.Alarms {
			if a := &e.st.Alarms[i]; a.Kind == tracking.AlarmDevice {
				active[a.Key] = struct{}{}
			}
		}
	}
	tid, cid := tripIDs(in.Trip)
	for _, name := range f.DeviceAlarms {
		if name == "" {
			continue
		}
		if active != nil {
			if _, ok := active[name]; ok {
				continue
			}
			active[name] = struct{}{}
		} else if e.st.find(tracking.AlarmDevice, name) >= 0 {
			continue
		}
		e.raise(ActiveAlarm{Kind: tracking.AlarmDevice, Key: name, TripID: tid, CorridorID: cid, StartedAt: f.TS, RaisedAt: f.TS},
			Change{Lat: f.Lat, Lon: f.Lon, SpeedKmh: copyFloat(f.SpeedKmh)})
	}
}

// smallSet is the size up to which scanning a slice beats building a map.
const smallSet = 8

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TickChanges reports whether Tick(cfg, st, now, trip) returns changes, without making them.
// For a fixed trip it is false before a threshold and true from it on: the route_deviation
// alarm's TripStartsAt (when trip is not the alarm's) and OfflineDue. The engine keeps its
// vehicles ordered by the first instant at which this becomes true instead of ticking them all.
// Keep it in step with Tick.
func (st State) TickChanges(cfg Config, now time.Time, trip *Trip) bool {
	now = now.Round(0)
	if i := st.find(tracking.AlarmRouteDeviation, ""); i >= 0 {
		a := &st.Alarms[i]
		if (trip == nil || trip.ID != a.TripID) && !now.Before(a.TripStartsAt) {
			return true
		}
	}
	due, ok := st.OfflineDue(cfg, trip)
	return ok && !now.Before(due)
}

// Tick applies the passage of server time `now` to the vehicle's state. trip is the vehicle's
// trip active at now (nil if none). It raises signal_lost when the trip is active and no fix was
// processed for Config.OfflineAfter (counted from the trip's start when none came since), and
// clears route_deviation when the trip it belongs to is no longer active. st is not modified.
//
// A trip counts as no longer active only when `now` is at or after its start: a device clock
// running ahead of the server's can put fixes on a trip that has not started by server time.
func Tick(cfg Config, st State, now time.Time, trip *Trip) (State, []Change) {
	now = now.Round(0) // wall clock only, as after a reload
	e := evaluator{cfg: cfg, st: st}
	gone := func(id string, start time.Time) bool {
		return (trip == nil || trip.ID != id) && !now.Before(start)
	}
	if i := e.st.find(tracking.AlarmRouteDeviation, ""); i >= 0 && gone(e.st.Alarms[i].TripID, e.st.Alarms[i].TripStartsAt) {
		e.endTrip(i, now, e.st.Lat, e.st.Lon)
	}
	if d := e.st.Deviation; d.TripID != "" && gone(d.TripID, d.TripStart) {
		e.st.EndedTrip = d.TripID
		e.st.Deviation = Episode{}
	}
	if trip == nil || e.st.find(tracking.AlarmSignalLost, "") >= 0 {
		return e.done()
	}
	since := e.st.LastSeen
	if since.Before(trip.StartsAt) {
		since = trip.StartsAt
	}
	if now.Sub(since) < cfg.OfflineAfter {
		return e.done()
	}
	e.raise(ActiveAlarm{Kind: tracking.AlarmSignalLost, TripID: trip.ID, CorridorID: trip.CorridorID, StartedAt: since, RaisedAt: now},
		Change{Lat: e.st.Lat, Lon: e.st.Lon, NoPosition: !e.st.HasPos})
	return e.done()
}
