// Package core is the engine's pure core: the per-vehicle state and an immutable world
// (vehicles, corridors, zones, trips and the geofence index), with Apply(fix) and Tick(now)
// returning outcomes — the position to store with its flags, the alarm changes and the new live
// state. It does no I/O: no context, database, NATS, logger or clock. The engine's shell
// (package engine) fetches, commits, acknowledges and publishes.
package core

import (
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/corridor-dev/corridor/pkg/geofence"
	"github.com/corridor-dev/corridor/pkg/rules"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// Vehicle is what the core keeps of a vehicle.
type Vehicle struct{ ID, CarrierID, Plate string }

// Corridor is a corridor's rule parameters (its geometry is in the index).
type Corridor struct {
	ID          string
	BufferM     float64
	MaxSpeedKmh *float64
}

// Zone is a zone's rule parameters (its geometry is in the index).
type Zone struct {
	ID, Kind    string
	ActiveHours *tracking.ActiveHours
}

// World is an immutable snapshot of what fixes are checked against. It is never modified once
// handed to the core: a change builds a new World (sharing what did not change).
type World struct {
	Index     *geofence.Index
	Corridors map[string]*Corridor
	Zones     map[string]*Zone
	Vehicles  map[string]Vehicle
	Trips     map[string][]tracking.Trip // by vehicle, ordered by start, none cancelled
}

// ActiveTrip returns the vehicle's trip active at ts (starts_at <= ts < ends_at, not cancelled).
func (w *World) ActiveTrip(vehicleID string, ts time.Time) *tracking.Trip {
	ts2 := w.Trips[vehicleID]
	// trips of one vehicle never overlap: the last one starting at or before ts is the candidate
	i := sort.Search(len(ts2), func(i int) bool { return ts2[i].StartsAt.After(ts) }) - 1
	if i >= 0 && ts2[i].ActiveAt(ts) {
		return &ts2[i]
	}
	return nil
}

// RuleTrip is the one place a trip becomes what the rules see: nil without a trip or when its
// corridor is not loaded.
func (w *World) RuleTrip(t *tracking.Trip) *rules.Trip {
	if t == nil {
		return nil
	}
	rt := new(rules.Trip)
	if !w.ruleTrip(t, rt) {
		return nil
	}
	return rt
}

// ruleTrip is RuleTrip into rt, without allocating; false when the corridor is not loaded.
func (w *World) ruleTrip(t *tracking.Trip, rt *rules.Trip) bool {
	c := w.Corridors[t.CorridorID]
	if c == nil {
		return false
	}
	*rt = rules.Trip{ID: t.ID, CorridorID: t.CorridorID, BufferM: c.BufferM, StartsAt: t.StartsAt, EndsAt: t.EndsAt}
	if c.MaxSpeedKmh != nil {
		rt.MaxSpeedKmh = *c.MaxSpeedKmh
	}
	return true
}

// LiveStatus is the one place the live status is decided (CONTRACT §3).
func LiveStatus(offline bool, trip *rules.Trip, within bool) string {
	switch {
	case offline:
		return tracking.StatusOffline
	case trip == nil:
		return tracking.StatusNoTrip
	case within:
		return tracking.StatusOnRoute
	}
	return tracking.StatusOffRoute
}

var alarmNS = uuid.MustParse("6f1c1f7e-4a53-5a43-9d2b-636f72726964")

// AlarmID is an alarm's identity: the same vehicle, kind, key (zone id or device alarm name) and
// start give the same id, so that a replay of the stream inserts no alarm twice.
func AlarmID(vehicleID, kind, key string, startedAt time.Time) string {
	b := make([]byte, 0, len(vehicleID)+len(kind)+len(key)+24)
	b = append(b, vehicleID...)
	b = append(b, 0)
	b = append(b, kind...)
	b = append(b, 0)
	b = append(b, key...)
	b = append(b, 0)
	b = startedAt.UTC().Truncate(time.Microsecond).AppendFormat(b, time.RFC3339Nano)
	return uuid.NewSHA1(alarmNS, b).String()
}
